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
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click
import numpy as np

from benchmarks._gamma_folders import (
    command_line,
    first_ref,
    footer,
    gamma_folder_options,
    mean_std,
    merge_walls,
    num,
    pick_values,
    raise_failures,
    run_plan,
    subsample_users,
    values_of,
    write_runs_csv,
)
from ividr.experiments.data_folders import data_sweep_values
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.variants import model_label, row_label
from ividr.paper import table5_mcc
from ividr.registry import DISPLAY_NAMES, MODEL_NAMES, SHUFFLE_SUFFIX
from simulator.locations import default_dataset_path, display_path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = default_dataset_path("ividr-sim")
DEFAULT_MODELS = "idcf,ividr,ividr-released"
#: The models also fitted with W shuffled across users (not the audit model, as before).
DEFAULT_SHUFFLE_MODELS = "idcf,ividr"
#: The sweep's variant of those fits: its runs are ``<model>[shuffle]``.
SHUFFLE = "shuffle"
SHUFFLE_OVERRIDES = {"shuffle_aux": True}
DEFAULT_FACTOR_VALUES = "0,10,20"
DEFAULT_FACTOR_MODELS = "idcf,ividr"
#: How the reports name the models: the registry's names, the audit model marked as such.
MODEL_LABELS = DISPLAY_NAMES | {"ividr-released": "ividr-released (audit)"}
#: The folder whose draw the paper's figures are about.
PAPER_DATA_NAME = "ividr-sim"

#: Factors of item 4 (one at a time from our defaults): name -> (label, FitConfig overrides).
FACTORS: dict[str, tuple[str, dict]] = {
    "released": (
        "protocol released (released max epochs and lr, anneal 20%, patience 100 from 0, "
        "batch 1024)",
        {"protocol": "released"},
    ),
    "grid": ("lr x L2 grid kept by held-out ELBO", {"latent_grid": True}),
    "restarts4": ("4 restarts kept by held-out ELBO", {"restarts": 4}),
}
#: The factor read from the main sweep's ``ividr-released`` runs (IViDR's column only).
FORWARD_LABEL = "released forward pass (model ividr-released)"

RUN_COLUMNS = (
    "gamma",
    "model",
    "seed",
    "mcc",
    "mcc_weak",
    "mcc_prior_only",
    "mcc_unshrunk",
    "ndcg@5",
    "recall@5",
    "epochs_run",
    "fit_seconds",
    "latent_grid_lr",
    "latent_grid_l2",
    "ref_oracle",
    "ref_chance",
    "ref_chance_p95",
    "ref_supervised_exposure_w",
    "ref_supervised_exposure",
)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# Figures from results rows
# --------------------------------------------------------------------------------------------
def paper_figure(model: str, value, show: bool) -> float | None:
    """The paper's Table 5 MCC of ``model`` at gamma ``value`` (None where it has none)."""
    return table5_mcc(model, value) if show else None


def labelled(rows: list[dict]) -> list[dict]:
    """A sweep's rows with ``model`` its (model, variant) label (``idcf[shuffle]``), so that the
    tables and the runs CSV tell the W-shuffled fits apart; in each (gamma, seed) the bases come
    first, then the variants (the order of the former ``+shuffle`` models)."""
    groups: dict[tuple, int] = {}
    keyed = []
    for r in rows:
        key = (format_value(r["value"]), r.get("data_seed"), r["seed"])
        group = groups.setdefault(key, len(groups))
        keyed.append(((group, bool(r.get("variant"))), dict(r, model=row_label(r))))
    return [r for _, r in sorted(keyed, key=lambda item: item[0])]


def main_table(rows: list[dict], models: Sequence[str], values: Sequence, paper: bool) -> list[str]:
    """One row per (model, gamma): MCC and every level to read it against."""
    header = (
        "| model | γ | MCC (ours) | paper | prior-only MCC | posterior mean unshrunk | "
        "W-shuffled MCC | proxy oracle | chance (mean / p95) | ceiling: exposures + W | "
        "ceiling: exposures |"
    )
    lines = [header, "|---|---|" + "---|" * 9]
    for model in models:
        for v in values:
            chance, p95 = first_ref(rows, v, "ref_chance"), first_ref(rows, v, "ref_chance_p95")
            cells = [
                MODEL_LABELS.get(model, model),
                format_value(v),
                mean_std(values_of(rows, model, v, "mcc"), spread=True),
                num(paper_figure(model, v, paper)),
                mean_std(values_of(rows, model, v, "mcc_prior_only")),
                mean_std(values_of(rows, model, v, "mcc_unshrunk")),
                mean_std(values_of(rows, model_label(model, SHUFFLE), v, "mcc")),
                num(first_ref(rows, v, "ref_oracle")),
                "–" if chance is None else f"{chance:.4f} / {num(p95)}",
                num(first_ref(rows, v, "ref_supervised_exposure_w")),
                num(first_ref(rows, v, "ref_supervised_exposure")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def wide_table(rows: list[dict], models: Sequence[str], values: Sequence, paper: bool) -> list[str]:
    """Models x gammas: our mean MCC beside the paper's (the shape of Table 5)."""
    lines = [
        "| model | " + " | ".join(f"γ={format_value(v)}" for v in values) + " |",
        "|---|" + "---|" * len(values),
    ]
    for model in models:
        cells = []
        for v in values:
            vals = values_of(rows, model, v, "mcc")
            ours = f"{np.mean(vals):.4f}" if vals else "–"
            ref = paper_figure(model, v, paper)
            cells.append(ours if ref is None else f"{ours} (paper {ref:.4f})")
        lines.append(f"| {MODEL_LABELS.get(model, model)} | " + " | ".join(cells) + " |")
    return lines


def factor_rows(
    main_rows: list[dict], factor_rows_by: dict[str, list[dict]]
) -> list[tuple[str, str, list[dict]]]:
    """(key, label, rows) of every factor, the baseline first, the forward pass last."""
    out = [("ours", "ours (defaults)", [r for r in main_rows if r["model"] in ("idcf", "ividr")])]
    for key, (label, _overrides) in FACTORS.items():
        if key in factor_rows_by:
            out.append((key, label, factor_rows_by[key]))
    forward = [dict(r, model="ividr") for r in main_rows if r["model"] == "ividr-released"]
    out.append(("forward", FORWARD_LABEL, forward))
    return out


def factors_table(
    factors: list[tuple[str, str, list[dict]]],
    models: Sequence[str],
    values: Sequence,
    paper: bool,
    column: str = "mcc",
) -> list[str]:
    """Factors x (model, gamma): mean ± std and the change from ours in the mean."""
    heads = [f"{MODEL_LABELS.get(m, m)} γ={format_value(v)}" for m in models for v in values]
    lines = ["| factor | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    base = {
        (m, format_value(v)): values_of(factors[0][2], m, v, column) for m in models for v in values
    }
    for key, label, rows in factors:
        cells = []
        for m in models:
            for v in values:
                vals = values_of(rows, m, v, column)
                cell = mean_std(vals)
                ref = base[(m, format_value(v))]
                if key != "ours" and vals and ref:
                    cell += f" (Δ {np.mean(vals) - np.mean(ref):+.4f})"
                cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if paper and column == "mcc":
        cells = [num(paper_figure(m, v, True)) for m in models for v in values]
        lines.append("| paper (Table 5, single runs) | " + " | ".join(cells) + " |")
    return lines


def grid_choice_line(rows: list[dict], models: Sequence[str]) -> list[str]:
    """How often each grid point was kept, per model."""
    parts = []
    for m in models:
        picks = [
            (r.get("latent_grid_lr"), r.get("latent_grid_l2"))
            for r in rows
            if r["model"] == m and r.get("latent_grid_lr") is not None
        ]
        if picks:
            counts: dict[tuple, int] = {}
            for p in picks:
                counts[p] = counts.get(p, 0) + 1
            text = ", ".join(
                f"lr {lr:g} / L2 {l2:g} in {n} fit(s)" for (lr, l2), n in sorted(counts.items())
            )
            parts.append(f"{MODEL_LABELS.get(m, m)}: {text}")
    if not parts:
        return []
    return ["Grid point kept by the held-out ELBO: " + "; ".join(parts) + ".", ""]


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------
READING = (
    "How to read it: chance is what latents unrelated to C score. The proxy oracle E[C | W] is "
    "what a model that only embedded W reaches, so an MCC above it needs information from the "
    "exposures beyond W. The supervised ceiling (a regressor of C trained on the truth, "
    "cross-fitted) is what any encoder of (exposures, W) can reach, and from the exposures alone "
    "what they carry on their own. Prior-only is the MCC of the learned prior mean mu_w(W) alone "
    "(what the model made of W); posterior mean unshrunk is IViDR's posterior mean before its "
    "split-half shrinkage toward that prior (latent_shrinkage; the paper's estimate); the "
    "W-shuffled MCC is the same model fitted with W permuted across users, i.e. what it learns "
    "from the exposures alone."
)


def _header(title: str, source: Path, config: SweepConfig, n_users: int | None) -> list[str]:
    seeds = config.model_seeds or 1
    shown = display_path(source)
    lines = [
        f"# {title}",
        "",
        f"Data: `{shown}` (`gamma_<γ>` folders"
        + (f", subsampled to its first {n_users} users" if n_users else "")
        + f"); one draw, model seeds 0..{seeds - 1} (each seeds the initialisation and the 30/70 "
        "validation/test split of the random set). Settings: `ividr.api.FitConfig` defaults"
        + (f" except {config.fit_overrides}" if config.fit_overrides else "")
        + (f", recommender epochs={config.epochs}" if config.epochs is not None else "")
        + ". Nothing is chosen by the truth (checkpoints, restarts and grid points by held-out "
        "negative ELBO; the recommender by validation NDCG@5); C only scores the kept estimate "
        "(strong MCC, Pearson).",
        "",
    ]
    if source.name == PAPER_DATA_NAME:
        lines += [
            "The paper's figures are single runs of the released code on this very draw (its "
            "README). Its instrument is W itself (the released layout), so Z is not independent "
            "of W here (docs/design.md §2).",
            "",
        ]
    return lines


def write_main_report(
    rows: list[dict],
    config: SweepConfig,
    *,
    source: Path,
    n_users: int | None,
    results_dir: Path,
    name: str,
    command: str,
    wall: dict,
    invocation: str,
) -> Path:
    """``<name>.md`` and ``<name>_runs.csv``."""
    paper = source.name == PAPER_DATA_NAME
    lines = _header("Table 5 on its own data: MCC against γ", source, config, n_users)
    lines += [
        "## MCC and the levels to read it against",
        "",
        "Mean ± std over model seeds [min, max] (n = fits); `–`: not run or not defined "
        "(the paper gives iDCF and IViDR only; W-shuffled only where `<model>[shuffle]` ran).",
        "",
        *main_table(rows, config.models, config.values, paper),
        "",
        READING,
        "",
        "## Ours against the paper (mean MCC)",
        "",
        *wide_table(rows, config.models, config.values, paper),
        "",
        "`ividr-released` is not IViDR: it is the released code's latent forward pass (a fresh "
        "random untrained layer on every call, two samples fused, KL on one branch, that "
        "branch's mean scored), kept to show what that code computes.",
        "",
        *footer(command, wall, invocation, f"{name}_runs.csv"),
    ]
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / f"{name}.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    write_runs_csv(results_dir / f"{name}_runs.csv", rows, RUN_COLUMNS)
    return target


def write_factors_report(
    main_rows: list[dict],
    factor_rows_by: dict[str, list[dict]],
    config: SweepConfig,
    *,
    models: Sequence[str],
    values: Sequence,
    source: Path,
    n_users: int | None,
    results_dir: Path,
    name: str,
    command: str,
    wall: dict,
    invocation: str,
) -> Path:
    """``<name>_factors.md`` and ``<name>_factors_runs.csv``."""
    paper = source.name == PAPER_DATA_NAME
    at = {format_value(v) for v in values}
    main_sub = [r for r in main_rows if format_value(r["value"]) in at]
    factors = factor_rows(main_sub, factor_rows_by)
    lines = _header(
        "Where the gap to the paper comes from: one factor at a time", source, config, n_users
    )
    lines += [
        "Each row changes one thing from ours (the first row, the main table's own runs at these "
        "γ): the released training protocol (`--protocol released`: the max epochs and lr of "
        "the model's released code, KL annealing over 20% of the max epochs, patience 100 "
        "counted from epoch 0, batch 1024; `ividr.training.protocols`), the latent lr x L2 grid "
        "kept by "
        "held-out ELBO (`--latent-grid`: lr 1e-3, 5e-4 x L2 0, 0.01, as the released tuning mode "
        "does on a larger grid), 4 restarts kept by held-out ELBO (`--restarts 4`), and, for "
        "IViDR, the released forward pass (the audit model `ividr-released`, from the main "
        "table). Δ: change of the mean from ours.",
        "",
        "## MCC (strong)",
        "",
        *factors_table(factors, models, values, paper),
        "",
        *grid_choice_line(factor_rows_by.get("grid", []), models),
        "## Prior-only MCC (the learned prior mean mu_w(W) alone)",
        "",
        *factors_table(factors, models, values, False, column="mcc_prior_only"),
        "",
        *footer(command, wall, invocation, f"{name}_factors_runs.csv"),
    ]
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / f"{name}_factors.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    flat, keys = [], {}
    for key, _label, rows in factors:
        for r in rows:
            keys[len(flat)] = key
            flat.append(r)
    write_runs_csv(results_dir / f"{name}_factors_runs.csv", flat, RUN_COLUMNS, keys)
    return target


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
