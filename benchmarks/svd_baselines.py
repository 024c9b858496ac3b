"""The linear baselines on the IViDR paper's draw (issue 24): does a deep model beat a truncated
SVD of the exposures?

For each gamma folder of ``--data`` (default: the external dataset ``ividr-sim``, docs/data.md),
fits the registry's models ``svd`` (truncated SVD of the exposure matrix) and ``svd-w`` (of
[exposures, one-hot W]), both with the true confounder's dimension, and scores their user factors
with :func:`ividr.reporting.scoring.score_latents`, what ``ividr score`` runs: strong and weak MCC
with a bootstrap CI, beside the proxy oracle, the supervised ceiling and chance. No training: a few
seconds per gamma, most of it the supervised ceiling.

    .venv/bin/python benchmarks/svd_baselines.py                      # gamma 0, 10, 20
    .venv/bin/python benchmarks/svd_baselines.py --values 0 --results-dir /tmp/r

The fits run through :func:`ividr.experiments.runner.run_sweep`, one sweep over the gamma folders
of ``--data`` (run seed 0, the bootstrap's too) in ``--out``/``svd-<hash of its config>``
(resumable, ``--jobs``, ``--backend``); the scores are the runs' own metrics.json (the same
:func:`ividr.reporting.scoring.latent_metrics` that ``score_latents`` runs) and the references
their dataset's (:func:`simulator.references.references_for`). Writes ``svd_baselines.md`` (the
table) and ``svd_baselines_runs.csv`` (one row per gamma and model) into ``--results-dir``.
"""

from __future__ import annotations

from pathlib import Path

import click

from benchmarks._gamma_folders import (
    RESULTS_DIR,
    command_line,
    config_dir,
    num,
    pick_values,
    run_file,
    run_plan_or_fail,
    write_runs_csv,
)
from benchmarks._options import backend_option, sweep_dirs_option
from ividr.experiments.data_folders import data_sweep_values
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig, format_value
from simulator.locations import default_dataset_path, display_path

DEFAULT_DATA = default_dataset_path("ividr-sim")
MODELS = ("svd", "svd-w")
#: The CSV's columns, in order.
COLUMNS = (
    "gamma",
    "model",
    "mcc",
    "mcc_ci_low",
    "mcc_ci_high",
    "mcc_weak",
    "ndcg@5",
    "explained_variance",
    "ref_oracle",
    "ref_oracle_weak",
    "ref_supervised_exposure_w",
    "ref_supervised_exposure",
    "ref_chance",
    "ref_chance_p95",
    "seconds",
)


def sweep_config(data: Path, values: tuple, n_boot: int) -> SweepConfig:
    """The sweep of :data:`MODELS` over the chosen gamma folders of ``data``, run seed 0."""
    return SweepConfig(
        data=str(data),
        knob="gamma",
        values=tuple(values),
        models=MODELS,
        seeds=1,
        fit_overrides={"n_boot": n_boot},
    )


def measure_row(sweep_dir: Path, res: dict) -> dict:
    """One row of :data:`COLUMNS` (but ``gamma``) from a finished run: its results row, its
    metrics.json (the MCC's interval) and history.json (the SVD's explained variance)."""
    from simulator.references import flat_references

    metrics = run_file(sweep_dir, res, "metrics.json")
    low, high = metrics.get("mcc_ci") or (None, None)
    return {
        "model": res["model"],
        "mcc": metrics["mcc"],
        "mcc_ci_low": low,
        "mcc_ci_high": high,
        "mcc_weak": metrics["mcc_weak"],
        "ndcg@5": metrics["ndcg@5"],
        "explained_variance": run_file(sweep_dir, res, "history.json")[0]["explained_variance"],
        **flat_references(metrics.get("references")),
        "seconds": float(res["run_seconds"]),
    }


def markdown(rows: list[dict], *, command: str, data: str, seconds: float) -> str:
    """The report: one table row per gamma and model, the references beside them."""
    lines = [
        "# Linear baselines on the paper's draw: truncated SVD of the exposures",
        "",
        f"Data: `{data}`. Models `svd` (SVD of the exposure matrix A) and `svd-w` (of [A, "
        "one-hot W]), 2 components (the dimension of C), scored by "
        "`ividr.reporting.scoring.score_latents` "
        "(what `ividr score` runs). CI: 95% bootstrap over users of the strong MCC. NDCG@5 "
        "ranks the unbiased test items by the SVD's reconstruction of the exposure.",
        "",
        "| gamma | model | MCC [95% CI] | weak MCC | NDCG@5 | proxy oracle (strong / weak) "
        "| supervised ceiling A+W / A | chance mean / p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = "" if r["mcc_ci_low"] is None else f" [{r['mcc_ci_low']:.3f}, {r['mcc_ci_high']:.3f}]"
        lines.append(
            f"| {r['gamma']} | {r['model']} | {r['mcc']:.3f}{ci} | {r['mcc_weak']:.3f} | "
            f"{r['ndcg@5']:.3f} | {num(r['ref_oracle'], 3)} / {num(r['ref_oracle_weak'], 3)} | "
            f"{num(r['ref_supervised_exposure_w'], 3)} / {num(r['ref_supervised_exposure'], 3)} "
            f"| {num(r['ref_chance'], 3)} / {num(r['ref_chance_p95'], 3)} |"
        )
    lines += ["", f"Command: `{command}`; {seconds:.0f} s in all.", ""]
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Folder of gamma_<v> dataset folders carrying the true confounder (ividr-sim...).",
)
@click.option("--values", default="0,10,20", show_default=True, help="Gammas to score.")
@click.option(
    "--n-boot",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Bootstrap replicates of the MCC's CI (0 = none).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Fits side by side (each takes seconds; most of a run is the supervised ceiling).",
)
@backend_option()
@sweep_dirs_option("sweep-out/svd")
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=RESULTS_DIR,
    show_default=True,
    help="Where svd_baselines.md and svd_baselines_runs.csv go.",
)
def main(
    data: Path, values: str, n_boot: int, jobs: int, backend: str, out: Path, results_dir: Path
) -> None:
    """Score the SVD baselines on every chosen gamma folder of --data and write the table."""
    if n_boot == 1:
        raise click.BadParameter("must be 0 or >= 2.", param_hint="'--n-boot'")
    try:
        knob, found = data_sweep_values(data)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    if knob != "gamma":
        raise click.BadParameter(f"{data}: expected gamma_<v> folders", param_hint="'--data'")
    config = sweep_config(data, pick_values(found, values, "--values"), n_boot)
    sweep_dir = config_dir(out, config, "svd")
    done = run_plan_or_fail([("main", sweep_dir, config)], jobs=jobs, backend=backend, name="svd")
    order = {format_value(v): i for i, v in enumerate(config.values)}
    runs = sorted(
        done["main"], key=lambda r: (order[format_value(r["value"])], MODELS.index(r["model"]))
    )
    rows = [
        {"value": r["value"], "gamma": format_value(r["value"]), **measure_row(sweep_dir, r)}
        for r in runs
    ]
    seconds = sum(r["seconds"] for r in rows)
    write_outputs(rows, results_dir, data=data, seconds=seconds)


def write_outputs(rows: list[dict], results_dir: Path, *, data: Path, seconds: float) -> None:
    """svd_baselines.md (printed too) and svd_baselines_runs.csv into ``results_dir``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(
        rows, command=command_line("svd_baselines.py"), data=display_path(data), seconds=seconds
    )
    (results_dir / "svd_baselines.md").write_text(text, encoding="utf-8")
    write_runs_csv(results_dir / "svd_baselines_runs.csv", rows, COLUMNS)
    click.echo(text)


if __name__ == "__main__":
    main()
