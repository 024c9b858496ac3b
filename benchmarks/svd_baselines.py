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

Writes ``svd_baselines.md`` (the table) and ``svd_baselines_runs.csv`` (one row per gamma and
model) into ``--results-dir``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from benchmarks._gamma_folders import RESULTS_DIR, command_line, num, pick_values
from ividr.experiments.data_folders import data_sweep_values
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import format_value
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


def measure(path: Path, *, n_boot: int, seed: int) -> list[dict]:
    """One row per model of :data:`MODELS` on the dataset at ``path`` (see :data:`COLUMNS`)."""
    from ividr.api import FitConfig, fit_model
    from ividr.reporting.scoring import score_latents
    from simulator.loaders import load_dataset
    from simulator.references import flat_references, references_for

    dataset = load_dataset(path)
    refs = references_for(path, dataset, write=False)
    rows = []
    for model in MODELS:
        start = time.perf_counter()
        fit = fit_model(dataset, FitConfig(model=model, seed=seed, n_boot=0))
        score = score_latents(dataset, fit.latents, n_boot=n_boot, seed=seed, references=refs)
        low, high = score.get("mcc_ci") or (None, None)
        rows.append(
            {
                "model": model,
                "mcc": score["mcc"],
                "mcc_ci_low": low,
                "mcc_ci_high": high,
                "mcc_weak": score["mcc_weak"],
                "ndcg@5": fit.metrics["ndcg@5"],
                "explained_variance": fit.history[0]["explained_variance"],
                **flat_references(refs),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


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
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=RESULTS_DIR,
    show_default=True,
    help="Where svd_baselines.md and svd_baselines_runs.csv go.",
)
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
def main(data: Path, values: str, n_boot: int, seed: int, results_dir: Path, quiet: bool) -> None:
    """Score the SVD baselines on every chosen gamma folder of --data and write the table."""
    import csv

    if n_boot == 1:
        raise click.BadParameter("must be 0 or >= 2.", param_hint="'--n-boot'")
    try:
        knob, found = data_sweep_values(data)
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    if knob != "gamma":
        raise click.BadParameter(f"{data}: expected gamma_<v> folders", param_hint="'--data'")
    chosen = pick_values(found, values, "--values")
    start = time.perf_counter()
    rows = []
    for value in chosen:
        if not quiet:
            click.echo(f"gamma {format_value(value)} ...", err=True)
        for row in measure(data / f"gamma_{format_value(value)}", n_boot=n_boot, seed=seed):
            rows.append({"gamma": format_value(value), **row})
    seconds = time.perf_counter() - start
    results_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(
        rows, command=command_line("svd_baselines.py"), data=display_path(data), seconds=seconds
    )
    (results_dir / "svd_baselines.md").write_text(text, encoding="utf-8")
    with open(results_dir / "svd_baselines_runs.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {k: f"{r[k]:.6g}" if isinstance(r[k], float) else r[k] for k in COLUMNS}
            )
    click.echo(text)


if __name__ == "__main__":
    main()
