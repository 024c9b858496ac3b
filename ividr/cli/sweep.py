"""``ividr sweep``: a knob x models x seeds grid, fitted, scored, summarised, resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ividr.cli.common import (
    OneLineCommand,
    check_cpus,
    check_device_here,
    check_fit_options,
    check_out,
    config_list_option,
    config_option,
    device_option,
    given,
    out_option,
    quiet_option,
    threads_option,
)
from ividr.cli.sweep_variants import check_variants, variants_from_options
from ividr.experiments.data_folders import data_sweep_values
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import (
    DEFAULT_KNOB,
    DEFAULT_MODELS,
    SweepConfig,
    format_value,
    knob_kind,
    parse_values,
)
from ividr.experiments.runner import SweepOutcome, run_sweep
from ividr.experiments.store import check_resumable, finished_runs
from ividr.experiments.variants import DEFAULT_STOP_RULE, legacy_names
from ividr.training.progress import show_bar
from simulator.cli import preset_default
from simulator.command import spec_option
from simulator.config import SimConfig
from simulator.files import Input

_DEFAULT_VALUES = "0,5,10,15,20"
#: How messages name this command.
COMMAND = "ividr sweep"
#: The options of this command that set a FitConfig field of every fit.
_FIT_FIELDS = ("restarts", "protocol", "latent_grid", "epochs", "latent_epochs", "trace_every")


def _is_sweep_dir(path: Path) -> bool:
    """A sweep's marker: its sweep.json (what :func:`ividr.experiments.store.read_config` reads)."""
    return (path / "sweep.json").is_file()


def _check_fit_options(
    ctx: click.Context, models: str, fit_overrides: dict, epochs, variants: dict
) -> None:
    """Options of every fit that apply to none of the models, or conflict (exit 2)."""
    from ividr.api import FitConfig

    bases = [m.strip() for m in models.split(",")]
    config = FitConfig(model=bases[0], epochs=epochs, **fit_overrides)
    fields = [f for f in _FIT_FIELDS if given(ctx, f)]
    check_fit_options(config, fields, bases, f"--models {models}")
    rules = {v["stop_on"] for v in variants.values() if "stop_on" in v} - {DEFAULT_STOP_RULE}
    if config.latent_grid and rules:
        raise click.BadParameter(
            f"{sorted(rules)[0]} cannot be combined with --latent-grid (the grid keeps the point "
            "with the lowest held-out negative ELBO).",
            param_hint="'--variant'" if given(ctx, "variant_options") else "'--stop-on'",
        )


def _parse_set(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"expected KNOB=VALUE, got {item!r}", param_hint="'--set'")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _check_models(models: str) -> list[str]:
    """The model names of ``--models``; a usage error unless distinct and known."""
    try:
        names = legacy_names()
    except Exception as exc:
        raise click.ClickException(f"the models cannot be imported: {exc}") from exc
    model_list = [m.strip() for m in models.split(",")]
    bad = [m for m in model_list if m not in names]
    if not model_list or bad or len(set(model_list)) != len(model_list):
        raise click.BadParameter(
            f"must be a comma-separated list of distinct models among {list(names)}. "
            f"Got {models!r} instead.",
            param_hint="'--models'",
        )
    return model_list


def _check_no_generate_options(ctx: click.Context) -> None:
    """The options that describe generated data, refused with ``--data`` (exit 2)."""
    flags = {"preset": "--preset", "n_users": "--users", "n_items": "--items", "sets": "--set"}
    for name, flag in flags.items():
        if given(ctx, name):
            raise click.BadParameter(
                "cannot be combined with --data (the dataset is given)", param_hint=f"'{flag}'"
            )


def _data_knob_values(ctx: click.Context, data: Path, knob: str, values: str) -> tuple[str, tuple]:
    """The knob of the datasets in ``data`` and the values of it to sweep (exit 2 if bad)."""
    try:
        found_knob, found_values = data_sweep_values(data, knob if given(ctx, "knob") else None)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    if given(ctx, "knob") and knob != found_knob:
        raise click.BadParameter(
            f"{data} holds datasets for knob {found_knob!r}, not {knob!r}",
            param_hint="'--knob'",
        )
    if not given(ctx, "values"):
        return found_knob, found_values
    try:
        wanted = parse_values(values, float)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'--values'") from None
    available = {format_value(v): v for v in found_values}
    missing = [format_value(v) for v in wanted if format_value(v) not in available]
    if missing:
        raise click.BadParameter(
            f"must be among the values found in {data}: "
            f"{[format_value(v) for v in found_values]}. Got {missing} instead.",
            param_hint="'--values'",
        )
    return found_knob, tuple(available[format_value(v)] for v in wanted)


def _check_datasets_load(data: Path, config: SweepConfig) -> None:
    """Read every dataset of ``config`` in ``data``; a malformed one is a usage error (exit 2)."""
    from ividr.experiments.grid import RunSpec
    from ividr.experiments.run import dataset_path
    from simulator.dataset import DatasetError
    from simulator.loaders import load_dataset

    for value in config.values:
        path = dataset_path(data, config, RunSpec(config.knob, value, config.models[0], 0))
        try:
            load_dataset(path)
        except DatasetError as exc:
            raise click.BadParameter(str(exc), param_hint="'--data'") from None


def _sim_overrides(sets: tuple[str, ...], knob: str) -> dict:
    """The simulator knobs ``--set`` fixes, parsed by kind (exit 2 if bad, or the swept knob)."""
    overrides = {}
    for key, text in _parse_set(sets).items():
        if key == knob:
            raise click.BadParameter(f"{key} is the swept knob", param_hint="'--set'")
        try:
            overrides[key] = parse_values(text, knob_kind(key))[0]
        except SweepError as exc:
            raise click.BadParameter(f"{key}: {exc}", param_hint="'--set'") from None
    return overrides


def _check_sim_configs(config: SweepConfig, knob: str, preset: str) -> None:
    """Every dataset's simulator config, checked; a bad knob names the option that set it."""
    from simulator.config import ConfigError

    for value in config.values:
        try:
            config.sim_config(value, 0)
        except ConfigError as exc:
            param = getattr(exc, "param", "")
            hint = {
                knob: "'--values'",
                "n_users": "'--users'",
                "n_items": "'--items'",
            }.get(param, "'--set'")
            allowed = getattr(exc, "allowed", "")
            raise click.BadParameter(
                f"{param} must be in {allowed} for preset {preset}. "
                f"Got {getattr(exc, 'got', value)!r} instead.",
                param_hint=hint,
            ) from None
        except (TypeError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="'--values'") from None


def _variant_axis(
    ctx: click.Context, models: str, options: tuple, fit_overrides: dict, epochs: int | None
) -> tuple[str, dict, dict, tuple[str, ...]]:
    """The plain models, variants, limits and models without a base run from ``--models`` and
    ``options`` (``--variant``, ``--variant-models``, ``--stop-on``, ``--skip-base``), checked
    against the fit options (usage errors, exit 2)."""
    models, variants, limits, skip = variants_from_options(_check_models(models), *options)
    _check_fit_options(ctx, models, fit_overrides, epochs, variants)
    check_variants(models, variants, limits, skip, fit_overrides, epochs)
    return models, variants, limits, skip


def build_config(
    ctx: click.Context,
    *,
    data: Path | None,
    preset: str,
    users: int | None,
    items: int | None,
    knob: str,
    values: str,
    models: str,
    seeds: int,
    epochs: int | None,
    sets: tuple[str, ...],
    data_seeds: int | None = None,
    model_seeds: int | None = None,
    fit_overrides: dict | None = None,
    variants: dict | None = None,
    variant_models: dict | None = None,
    skip_base: tuple[str, ...] = (),
) -> SweepConfig:
    """Validate the options into a SweepConfig; every problem is a click.BadParameter (exit 2)."""
    # What a sweep over existing data and one that generates its data share.
    common = dict(
        models=tuple(_check_models(models)),
        seeds=seeds,
        data_seeds=data_seeds,
        model_seeds=model_seeds,
        epochs=epochs,
        fit_overrides=fit_overrides or {},
        variants=variants or {},
        variant_models=variant_models or {},
        skip_base=skip_base,
    )
    if data is not None:
        _check_no_generate_options(ctx)
        found_knob, chosen = _data_knob_values(ctx, data, knob, values)
        config = SweepConfig(
            preset="data", knob=found_knob, values=chosen, data=str(data.resolve()), **common
        )
        # Read every dataset now: a malformed file is bad input (exit 2), not a failed run.
        _check_datasets_load(data, config)
        return config

    try:
        kind = knob_kind(knob)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'--knob'") from None
    try:
        parsed = parse_values(values, kind)
    except SweepError as exc:
        raise click.BadParameter(f"{exc} (knob {knob})", param_hint="'--values'") from None
    overrides = _sim_overrides(sets, knob)
    config = SweepConfig(
        preset=preset,
        knob=knob,
        values=parsed,
        n_users=users,
        n_items=items,
        sim_overrides=overrides,
        **common,
    )
    # Validate every dataset's knobs now, so that nothing is written for a bad value.
    _check_sim_configs(config, knob, preset)
    return config


def _check_backend(
    ctx: click.Context, jobs: int, device: str, backend: str, address: str | None
) -> None:
    """``--jobs``, ``--device`` and ``--address`` against the backend (exit 2 if they clash)."""
    if address is not None and backend != "ray":
        raise click.BadParameter("only applies with --backend ray", param_hint="'--address'")
    if backend == "ray" and given(ctx, "jobs") and device == "cpu":
        raise click.BadParameter(
            "applies to the local backend, or to runs on CUDA with Ray (runs per GPU); Ray "
            "schedules CPU runs by its CPUs",
            param_hint="'--jobs'",
        )
    if backend == "local":
        check_cpus(jobs, "--jobs")
    if backend == "local" or address is None:
        # A remote Ray cluster's GPUs are its own: checked there (run_sweep), not here.
        check_device_here(device)


def _check_ray_installed() -> None:
    """A usage error on ``--backend`` (exit 2) unless the optional dependency ray imports."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise click.BadParameter(
            "needs the optional dependency 'ray' (pip install 'ividr-toolkit[ray]')",
            param_hint="'--backend'",
        ) from None


def _sweep_fit_overrides(
    restarts: int,
    protocol: str,
    latent_grid: bool,
    latent_epochs: int | None,
    trace_every: int | None,
) -> dict:
    """The FitConfig fields every fit of the sweep sets (its ``fit_overrides``)."""
    fit_overrides: dict = {} if latent_epochs is None else {"latent_epochs": latent_epochs}
    # Recorded in sweep.json even at its default, so that a sweep begun under another default
    # refuses to resume rather than mixing settings.
    fit_overrides["restarts"] = restarts
    if protocol != "ours":
        fit_overrides["protocol"] = protocol
    if latent_grid:
        fit_overrides["latent_grid"] = True
    if trace_every is not None:
        fit_overrides["trace_every"] = trace_every
    return fit_overrides


def _run_with_progress(
    config: SweepConfig, out: Path, total: int, quiet: bool, how: dict
) -> SweepOutcome:
    """Run the sweep, with a bar over its runs on stderr when it is a terminal (not --quiet)."""
    remaining = total - len(set(finished_runs(out)) & {s.run_id for s in config.runs()})
    bar = None

    def progress(done: int, todo: int, run_id: str) -> None:
        if bar is not None:
            bar.update(1, run_id)

    try:
        if not show_bar(quiet):  # the bar over runs only on a terminal
            return run_sweep(config, out, **how)
        with click.progressbar(
            length=remaining,
            label=f"sweep {config.knob} ({remaining} of {total} runs to do)",
            file=sys.stderr,
            item_show_func=lambda run_id: run_id or "",
            show_pos=True,
        ) as bar:
            return run_sweep(config, out, progress=progress, **how)
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None


def _report(outcome: SweepOutcome, out: Path, total: int, quiet: bool) -> None:
    """The counts and the summary table (unless --quiet); failed runs exit 1, naming the first."""
    failed = sorted(outcome.failures)
    if not quiet:
        click.echo(
            f"{len(outcome.ran)} run(s) done, {len(outcome.skipped)} already finished, "
            f"{len(failed)} failed, in {outcome.seconds:.1f} s: {out}",
            err=True,
        )
        click.echo((out / "summary.md").read_text(encoding="utf-8"), nl=False)
    if failed:
        first = outcome.failures[failed[0]]
        raise click.ClickException(
            f"{len(failed)} of {total} runs failed (first: {failed[0]}: {first}); "
            f"details in {out / 'failures'}; run the same command again to retry them"
        )


@click.command("sweep", cls=OneLineCommand)
@out_option(
    "Sweep directory (created; an existing one with the same options is resumed).", required=True
)
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Use existing data instead of generating: a dataset folder, or a folder of "
    "<knob>_<value> dataset folders (e.g. $IVIDR_DATA/idcf-sim, docs/data.md). Default: generate.",
)
@spec_option(SimConfig, "preset")
@spec_option(
    SimConfig, "n_users", flag="--users", default=None, default_text=preset_default("n_users")
)
@spec_option(
    SimConfig, "n_items", flag="--items", default=None, default_text=preset_default("n_items")
)
@click.option(
    "--knob",
    default=DEFAULT_KNOB,
    show_default=True,
    help="The simulator knob to sweep (any SimConfig field but the seed).",
)
@click.option(
    "--values",
    default=_DEFAULT_VALUES,
    show_default=True,
    help="Comma-separated values of the knob.",
)
@click.option(
    "--models",
    default=",".join(DEFAULT_MODELS),
    show_default=True,
    help="Comma-separated models to fit on every dataset. The old suffixes are read as variants "
    "(--variant): MODEL+shuffle as the variant shuffle (shuffle_aux=true), MODEL@RULE as the "
    "variant RULE (stop_on=RULE; @elbo is the base), each limited to the models that carry it "
    "(--variant-models), so mf,idcf,ividr,idcf+shuffle runs mf, idcf, ividr and idcf[shuffle].",
)
@click.option(
    "--variant",
    "variant_options",
    multiple=True,
    metavar="NAME:KEY=VALUE[,KEY=VALUE...]",
    help="A named fit variant (repeatable): every model that uses the FitConfig fields it sets "
    "(ividr fit's options, with - or _) is also fitted with them, beside its base run; tables "
    "name it MODEL[NAME]. E.g. --variant shuffle:shuffle_aux=true --variant slow:latent_lr=1e-4.",
)
@click.option(
    "--variant-models",
    "variant_model_options",
    multiple=True,
    metavar="NAME:MODEL[,MODEL...]",
    help="Fit the --variant NAME on these models only (repeatable); each must be in --models "
    "and use every field the variant sets. Default: every model it applies to. E.g. "
    "--variant shuffle:shuffle_aux=true --variant-models shuffle:idcf,ividr fits no "
    "ividr-released[shuffle]. With --stop-on, NAME_RULE keeps NAME's models.",
)
@click.option(
    "--skip-base",
    metavar="MODEL[,MODEL...]",
    default=None,
    help="Fit these models' variants only, not their base run (the sweep's own fit settings); "
    "each must be in --models and run a variant. A model named in --models only with old "
    "suffixes skips its base anyway, as it did before variants existed. E.g. --variant "
    "slow:latent_lr=1e-4 --skip-base idcf fits idcf[slow] and no plain idcf.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Seeds 0..N-1; seed s is both the simulator seed and the model seed.",
)
@click.option(
    "--data-seeds",
    type=click.IntRange(min=1),
    default=None,
    help="Cross the seeds: simulator seeds 0..N-1 (the dataset draws), each fitted with every "
    "model seed of --model-seeds; replaces --seeds. The summary splits the spread into "
    "between-draw and within-draw parts. --data-seeds 1 --model-seeds 5: one draw, 5 fits.",
)
@click.option(
    "--model-seeds",
    type=click.IntRange(min=1),
    default=None,
    help="Cross the seeds: model seeds 0..M-1 (initialisation and split) on every data seed.",
)
@config_option("restarts")
@config_option("protocol")
@config_option("latent_grid")
@config_option("epochs")
@config_option("latent_epochs")
@config_list_option(
    "stop_on",
    f"Comma-separated stopping rules of the latent stage: each rule but {DEFAULT_STOP_RULE} (the "
    "base's) is a variant RULE (stop_on=RULE), crossed with the --variant ones (NAME_RULE), so "
    f"every latent model runs once per rule (e.g. --stop-on {DEFAULT_STOP_RULE},ndcg runs idcf "
    f"and idcf[ndcg]; --stop-on ndcg runs idcf[ndcg] only: a latent model's base runs when "
    f"{DEFAULT_STOP_RULE} is listed). Default: each model's own ({DEFAULT_STOP_RULE}).",
    metavar="RULES",
)
@config_option("trace_every")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KNOB=VALUE",
    help="Fix another simulator knob for every dataset (repeatable), e.g. --set alpha=0.2.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Runs in parallel on local processes (local backend); up to the number of cores. On "
    "GPUs: worker k runs on GPU k mod (number of GPUs), so one GPU holds all --jobs runs at "
    "once. With --backend ray and runs on CUDA: runs per GPU (each asks Ray for 1/jobs GPU).",
)
@threads_option("per run (use --jobs for parallelism)")
@device_option("every run")
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where runs run: local processes, or Ray tasks.",
)
@click.option(
    "--address",
    default=None,
    help="Ray cluster address (with --backend ray). Default: start a local Ray.",
)
@quiet_option("No progress bar (drawn only when stderr is a terminal) or summary.")
@click.pass_context
def sweep(
    ctx: click.Context,
    out: Path,
    data: Path | None,
    preset: str,
    n_users: int | None,
    n_items: int | None,
    knob: str,
    values: str,
    models: str,
    variant_options: tuple[str, ...],
    variant_model_options: tuple[str, ...],
    skip_base: str | None,
    seeds: int,
    data_seeds: int | None,
    model_seeds: int | None,
    restarts: int,
    protocol: str,
    latent_grid: bool,
    epochs: int | None,
    latent_epochs: int | None,
    stop_on: str | None,
    trace_every: int | None,
    sets: tuple[str, ...],
    jobs: int,
    threads: int,
    device: str,
    backend: str,
    address: str | None,
    quiet: bool,
) -> None:
    """Sweep a simulator knob (gamma by default) x models x seeds: generate, fit, score.

    Writes OUT/results.csv and results.json (one row per run: MCC strong and weak, NDCG@5,
    Recall@5), OUT/summary.csv and summary.md (mean ± std over seeds, models x knob values, the
    shape of the paper's Table 5), and OUT/runs/<run_id>/ (metrics, config, latents: plottable with
    `ividr plot latent`); with --variant, a model's variants are rows MODEL[NAME] beside it.
    Killed at any point and run again with the same options, it redoes only the unfinished runs.
    """
    _check_backend(ctx, jobs, device, backend, address)
    check_out(
        out,
        overwrite=False,  # a sweep of the same options is resumed, never replaced
        written_by=_is_sweep_dir,
        command=COMMAND,
        inputs=[] if data is None else [Input(data, "--data", no_inside=True)],
        resumable=_is_sweep_dir,
    )
    if (data_seeds is not None or model_seeds is not None) and given(ctx, "seeds"):
        raise click.BadParameter(
            "cannot be combined with --data-seeds/--model-seeds", param_hint="'--seeds'"
        )
    fit_overrides = _sweep_fit_overrides(
        restarts, protocol, latent_grid, latent_epochs, trace_every
    )
    options = (variant_options, variant_model_options, stop_on, skip_base)
    models, variants, limits, skip = _variant_axis(ctx, models, options, fit_overrides, epochs)
    config = build_config(
        ctx,
        data=data,
        preset=preset,
        users=n_users,
        items=n_items,
        knob=knob,
        values=values,
        models=models,
        seeds=seeds,
        data_seeds=data_seeds,
        model_seeds=model_seeds,
        epochs=epochs,
        sets=sets,
        fit_overrides=fit_overrides,
        variants=variants,
        variant_models=limits,
        skip_base=skip,
    )
    try:
        check_resumable(out, config)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'--out'") from None
    if backend == "ray":
        _check_ray_installed()
    total = len(config.runs())
    how = dict(jobs=jobs, backend=backend, address=address, threads=threads, device=device)
    outcome = _run_with_progress(config, out, total, quiet, how)
    _report(outcome, out, total, quiet)
