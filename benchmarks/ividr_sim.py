"""Table 5 on the paper's own draw: iDCF, IViDR and ``ividr-released`` on ividr-sim (issue 12).

    .venv/bin/python benchmarks/ividr_sim.py             # 5 fits x gamma 0..20 x 5 model seeds
    .venv/bin/python benchmarks/ividr_sim.py --factors   # and where the gap to the paper comes from
    .venv/bin/python benchmarks/ividr_sim.py --users 300 --values 0 --factor-values 0 \\
        --model-seeds 1 --latent-epochs 5 --epochs 2 --factors \\
        --out /tmp/ividr-sim --results-dir /tmp/ividr-sim   # a smoke run on 300 users

Data: any folder of ``gamma_<G>`` dataset folders (``--data``; default the external dataset
``ividr-sim`` under ``$IVIDR_DATA`` (docs/data.md), the draw behind the IViDR paper's Table 5,
10,000 users x 1,000 items, read in place and never copied into the repository; ``idcf-sim``
works too, with ``--name`` to name its report). One draw, several fits: ``--data-seeds 1
--model-seeds M`` of :class:`ividr.experiments.grid.SweepConfig` (the seed seeds the model's
initialisation and the validation/test split only).

The main table (``RESULTS_DIR/<name>.md``, one row per run in ``<name>_runs.csv``): iDCF, IViDR
and the audit variant ``ividr-released`` (the released forward pass, docs/design.md §4.3) at
every gamma; the models of ``--shuffle-models`` (default iDCF and IViDR, not the audit model) are
also fitted with W permuted across users (the sweep's variant ``shuffle``, ``shuffle_aux``,
limited to those models by :attr:`SweepConfig.variant_models`; ``idcf[shuffle]`` ... in the runs
CSV). Beside each model's MCC (mean ± std over the model seeds): its learned prior mean's MCC
(prior-only), the W-shuffled MCC, the proxy oracle E[C | W], chance, the supervised ceiling (from
the exposures and W, and from the exposures alone) and the paper's figure.

``--factors`` (issue 12 item 4) also fits iDCF and IViDR at ``--factor-values`` (0, 10, 20) with
one factor changed at a time from our defaults: ``--protocol released`` (the released training
schedule), the latent lr x L2 grid kept by held-out ELBO (``latent_grid``), 4 restarts kept by
held-out ELBO; the baseline ("ours") and the released forward pass (``ividr-released``) are the
main table's own runs, which ``--factors`` therefore runs too. Written to
``RESULTS_DIR/<name>_factors.md`` and ``<name>_factors_runs.csv``.

Every sweep is resumable (run the same command again after an interruption; finished runs are
kept) and lives under ``--out`` (default ``sweep-out/ividr-sim``, gitignored): ``main/`` and
``factors/<factor>/``; with ``--users N`` under ``users-N/``, beside the subsampled data (the
first N users of every gamma folder, written there in the same layout). Nothing is chosen by the
truth: latent stages keep their checkpoint, restart and grid point by held-out negative ELBO;
C only scores the final posterior mean.

The tables are built in ``benchmarks/_ividr_sim_report.py``; this script runs the sweeps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from benchmarks._gamma_folders import (
    command_line,
    gamma_folder_options,
    merge_walls,
    pick_values,
    raise_failures,
    run_plan,
    subsample_users,
)
from benchmarks._ividr_sim_report import (
    FACTORS,
    SHUFFLE,
    labelled,
    write_factors_report,
    write_main_report,
)
from ividr.experiments.data_folders import data_sweep_values
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.variants import SHUFFLE_SUFFIX
from ividr.registry import MODEL_NAMES
from simulator.locations import default_dataset_path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = default_dataset_path("ividr-sim")
DEFAULT_MODELS = "idcf,ividr,ividr-released"
#: The models also fitted with W shuffled across users (not the audit model, as before).
DEFAULT_SHUFFLE_MODELS = "idcf,ividr"
#: The overrides of the W-shuffled variant (``SHUFFLE``): its runs are ``<model>[shuffle]``.
SHUFFLE_OVERRIDES = {"shuffle_aux": True}
DEFAULT_FACTOR_VALUES = "0,10,20"
DEFAULT_FACTOR_MODELS = "idcf,ividr"


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
def check_models(models: str, shuffle_models: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The models of ``--models`` and those of ``--shuffle-models`` (``none``: no W-shuffled
    fits); a usage error (exit 2) for an unknown model, the old ``<model>+shuffle`` spelling, or
    a W-shuffled model that is not in ``--models``."""
    model_list = tuple(m.strip() for m in models.split(","))
    for m in model_list:
        if m.endswith(SHUFFLE_SUFFIX):
            base = m[: -len(SHUFFLE_SUFFIX)]
            raise click.BadParameter(
                f"{m!r}: the W-shuffled fits are --shuffle-models now "
                f"(--models {base} --shuffle-models {base})",
                param_hint="'--models'",
            )
    bad = [m for m in model_list if m not in MODEL_NAMES]
    if bad or len(set(model_list)) != len(model_list):
        raise click.BadParameter(
            f"must be distinct models among {list(MODEL_NAMES)}. Got {models!r} instead.",
            param_hint="'--models'",
        )
    if shuffle_models.strip().lower() in ("", "none"):
        return model_list, ()
    shuffled = tuple(m.strip() for m in shuffle_models.split(","))
    if any(m not in model_list for m in shuffled) or len(set(shuffled)) != len(shuffled):
        raise click.BadParameter(
            f"must be distinct models among --models {list(model_list)}, or none. "
            f"Got {shuffle_models!r} instead.",
            param_hint="'--shuffle-models'",
        )
    return model_list, shuffled


def run_benchmark(
    data: Path = DEFAULT_DATA,
    *,
    values: str | None = None,
    models: str = DEFAULT_MODELS,
    shuffle_models: str = DEFAULT_SHUFFLE_MODELS,
    model_seeds: int = 5,
    epochs: int | None = None,
    latent_epochs: int | None = None,
    users: int | None = None,
    trace_every: int | None = None,
    factors: bool = False,
    factor_values: str = DEFAULT_FACTOR_VALUES,
    factor_models: str = DEFAULT_FACTOR_MODELS,
    jobs: int = 2,
    threads: int = 1,
    out: Path = Path("sweep-out/ividr-sim"),
    results_dir: Path = ROOT / "benchmarks" / "results",
    name: str = "ividr_sim",
    command: str = "",
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the main sweep (and with ``factors`` the factor sweeps); write the reports.

    Returns ``{"main": path, "factors": path}`` (``factors`` only with ``factors``). Raises
    click.ClickException when runs failed (after writing what finished).
    """
    say = log or (lambda _msg: None)
    source = Path(data).resolve()
    try:
        knob, found = data_sweep_values(source)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    chosen = pick_values(found, values, "--values")
    model_list, shuffled = check_models(models, shuffle_models)
    fmodels = tuple(m.strip() for m in factor_models.split(","))
    fvalues: tuple = ()
    if factors:
        fvalues = pick_values(found, factor_values, "--factor-values")
        missing = [format_value(v) for v in fvalues if v not in chosen]
        if missing:
            raise click.BadParameter(
                f"must be among --values (the baseline is the main table's runs). Got {missing}.",
                param_hint="'--factor-values'",
            )
        absent = [m for m in (*fmodels, "ividr-released") if m not in model_list]
        if absent:
            raise click.BadParameter(
                f"must hold {absent} (the factors' baseline and forward pass are its runs).",
                param_hint="'--models'",
            )
    out = Path(out)
    root = out if users is None else out / f"users-{users}"
    path = source if users is None else subsample_users(source, root / "data", users, chosen)
    base_overrides = {} if latent_epochs is None else {"latent_epochs": latent_epochs}
    if trace_every is not None:
        # The per-epoch MCC trace costs about a quarter of a fit and changes no result.
        base_overrides["trace_every"] = trace_every

    def sweep_config(vals, mods, extra, shuffle: tuple[str, ...] = ()) -> SweepConfig:
        try:
            return SweepConfig(
                preset="data",
                knob=knob,
                values=tuple(vals),
                models=tuple(mods),
                data_seeds=1,
                model_seeds=model_seeds,
                epochs=epochs,
                fit_overrides={**base_overrides, **extra},
                data=str(path.resolve()),
                variants={SHUFFLE: SHUFFLE_OVERRIDES} if shuffle else {},
                variant_models={SHUFFLE: shuffle} if shuffle else {},
            )
        except SweepError as exc:
            raise click.BadParameter(str(exc), param_hint="'--shuffle-models'") from None

    plan = [("main", root / "main", sweep_config(chosen, model_list, {}, shuffled))]
    if factors:
        plan += [
            (key, root / "factors" / key, sweep_config(fvalues, fmodels, overrides))
            for key, (_label, overrides) in FACTORS.items()
        ]
    try:
        done = run_plan(plan, jobs=jobs, threads=threads, say=say, name=name)
    except SweepError as exc:  # a sweep directory of other options (one before variants, say)
        raise click.ClickException(str(exc)) from None
    rows_by, walls = {k: labelled(v) for k, v in done.rows.items()}, done.walls
    invocation = done.invocation(jobs, threads)
    main_config = plan[0][2]
    paths = {
        "main": write_main_report(
            rows_by["main"],
            main_config,
            source=source,
            n_users=users,
            results_dir=results_dir,
            name=name,
            command=command,
            wall=walls["main"],
            invocation=invocation,
        )
    }
    if factors:
        total_wall = merge_walls(list(walls.values()))
        paths["factors"] = write_factors_report(
            rows_by["main"],
            {k: v for k, v in rows_by.items() if k != "main"},
            main_config,
            models=fmodels,
            values=fvalues,
            source=source,
            n_users=users,
            results_dir=results_dir,
            name=name,
            command=command,
            wall=total_wall,
            invocation=invocation,
        )
    say(f"wall time: {done.seconds:.0f} s; {invocation}")
    raise_failures(done.failures, say)
    return paths


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@gamma_folder_options(
    data=DEFAULT_DATA,
    models=DEFAULT_MODELS,
    out="sweep-out/ividr-sim",
    results_help="Where NAME.md, NAME_runs.csv and the factor reports go.",
)
@click.option(
    "--shuffle-models",
    default=DEFAULT_SHUFFLE_MODELS,
    show_default=True,
    help="Models of --models also fitted with W shuffled across users (the sweep variant "
    "shuffle, limited to these models; runs MODEL[shuffle]): the W-shuffled MCC column. "
    "'none': no such fits.",
)
@click.option(
    "--model-seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Model seeds 0..M-1 on the one draw (--data-seeds 1 --model-seeds M of ividr sweep).",
)
@click.option(
    "--users",
    type=click.IntRange(min=10),
    default=None,
    help="Subsample: the first N users of every gamma folder (smoke runs). Default: all.",
)
@click.option(
    "--trace-every",
    type=click.IntRange(min=0),
    default=None,
    help="Trace the MCC every K latent epochs (0 = off). Default: every epoch.",
)
@click.option("--factors", is_flag=True, help="Also run the one-factor-at-a-time sweeps.")
@click.option("--factor-values", default=DEFAULT_FACTOR_VALUES, show_default=True)
@click.option("--factor-models", default=DEFAULT_FACTOR_MODELS, show_default=True)
@click.option(
    "--name",
    default="ividr_sim",
    show_default=True,
    help="Report names: NAME.md, NAME_runs.csv, NAME_factors.md, NAME_factors_runs.csv.",
)
def main(
    data: Path,
    values: str | None,
    models: str,
    shuffle_models: str,
    model_seeds: int,
    epochs: int | None,
    latent_epochs: int | None,
    users: int | None,
    trace_every: int | None,
    factors: bool,
    factor_values: str,
    factor_models: str,
    jobs: int,
    threads: int,
    out: Path,
    results_dir: Path,
    name: str,
    quiet: bool,
) -> None:
    """Run the ividr-sim benchmark (and its factors) and write the Markdown reports."""
    command = command_line("ividr_sim.py")

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    paths = run_benchmark(
        data,
        values=values,
        models=models,
        shuffle_models=shuffle_models,
        model_seeds=model_seeds,
        epochs=epochs,
        latent_epochs=latent_epochs,
        users=users,
        trace_every=trace_every,
        factors=factors,
        factor_values=factor_values,
        factor_models=factor_models,
        jobs=jobs,
        threads=threads,
        out=out,
        results_dir=results_dir,
        name=name,
        command=command,
        log=log,
    )
    for path in paths.values():
        print(path)


if __name__ == "__main__":
    main()
