"""The main job end to end: ``python -m ividr.demo`` (what ``make demo`` runs).

1. Generate the default dataset (preset ``ividr``: 10,000 users x 1,000 items, the paper's
   Appendix F) into ``OUT/data`` (reused when it is already there with the same knobs).
2. Fit iDCF and IViDR on it (each model's default settings), side by side, one torch thread
   each; each run is written to ``OUT/fits/runs/<run_id>/`` in the layout of ``ividr fit --out``
   (metrics.json, config.json, latents.npy).
3. Print each model's MCC beside the levels to read it against (:func:`format_results`): its
   learned prior mean's MCC (prior-only), the proxy oracle E[C | W], the supervised ceiling
   (from the exposures and W, and from the exposures alone) and chance; then the weak MCC and
   NDCG@5 / Recall@5 on the unbiased test set, and one sentence on how to read the levels.
4. Write the paper's Figure 3 (true C beside the learned latents) as ``OUT/figure3.png`` and
   ``OUT/figure3.pdf``.

Results go to stdout; progress to stderr (off with ``--quiet``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import click

from ividr.cli_common import quiet_option, seed_option

DEMO_MODELS = ("idcf", "ividr")

#: (header, results-row column, width, decimals) of the printed table; MCC stays the second
#: column. The model column is left-aligned, the figures right-aligned.
COLUMNS = (
    ("model", "model", 8, None),
    ("MCC", "mcc", 7, 4),
    ("prior-only", "mcc_prior_only", 10, 4),
    ("oracle", "ref_oracle", 7, 4),
    ("ceil A+W", "ref_supervised_exposure_w", 8, 4),
    ("ceil A", "ref_supervised_exposure", 7, 4),
    ("chance", "ref_chance", 7, 4),
    ("MCC weak", "mcc_weak", 9, 4),
    ("NDCG@5", "ndcg@5", 7, 4),
    ("Recall@5", "recall@5", 8, 4),
    ("fit s", "fit_seconds", 6, 0),
)
READING = (
    "How to read it: oracle is the proxy oracle E[C | W], so a model's MCC above it would need "
    "information beyond W; ceil A+W is the supervised ceiling, what any encoder of (exposures "
    "A, W) can reach (ceil A: from the exposures alone); prior-only is what the learned W-prior "
    "mu_w(W) alone gives; chance is what latents unrelated to C score."
)


def format_results(
    results: dict[str, dict], *, columns: tuple = COLUMNS, reading: str = READING
) -> list[str]:
    """The demo's table: one line per model (a results row of the sweep), then how to read it.

    Each model's MCC sits beside its prior-only MCC and the data's reference levels (proxy
    oracle, supervised ceiling from exposures + W and from exposures alone, chance), then its
    weak MCC, NDCG@5, Recall@5 and fit seconds; a missing figure prints as ``-``. ``columns``
    ((header, key, width, decimals); decimals None for the row's name) and ``reading`` make
    other tables of the same shape (``ividr score``'s).
    """
    lines = [
        " ".join(
            f"{title:<{width}}" if digits is None else f"{title:>{width}}"
            for title, _key, width, digits in columns
        )
    ]
    for model, row in results.items():
        cells = []
        for _title, key, width, digits in columns:
            value = row.get(key)
            if digits is None:
                cells.append(f"{model:<{width}}")
            elif value is None:
                cells.append(f"{'-':>{width}}")
            else:
                cells.append(f"{float(value):>{width}.{digits}f}")
        lines.append(" ".join(cells))
    lines.append(reading)
    return lines


def _same_knobs(path: Path, knobs: dict) -> bool:
    """Whether ``path`` holds a simgen dataset made with these knobs (its meta.json's config)."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stored = meta.get("config") or {}
    return bool(stored) and all(stored.get(k) == v for k, v in knobs.items())


def run_demo(
    out: str | Path = "demo-out",
    *,
    preset: str = "ividr",
    n_users: int | None = None,
    n_items: int | None = None,
    seed: int = 0,
    epochs: int | None = None,
    models: tuple[str, ...] = DEMO_MODELS,
    jobs: int | None = None,
    log=None,
) -> dict[str, dict]:
    """Generate, fit, score and plot; return ``{model: results row}``.

    The fits run side by side (one process and one torch thread each, through
    :func:`ividr.experiments.runner.run_sweep`), into ``OUT/fits/runs/<run_id>/``.

    Parameters
    ----------
    out : str or Path, default "demo-out"
    preset : str, default "ividr"
    n_users, n_items : int or None
        Dataset size; None keeps the preset's (10,000 x 1,000).
    seed : int, default 0
        Simulator seed (the models use seed 0).
    epochs : int or None
        Recommender-stage epochs; None keeps each model's default.
    models : tuple of str, default ("idcf", "ividr")
    jobs : int or None
        Fits in parallel; None = min(len(models), cores).
    log : callable(str) or None
        Progress lines.

    Raises
    ------
    RuntimeError
        When a fit fails (its message and the failure file are named).
    """
    from ividr.experiments.grid import SweepConfig
    from ividr.experiments.runner import run_sweep
    from ividr.plots import plot_latent_from_dirs, save_figure
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.writer import write_dataset

    say = log or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = {"seed": seed}
    if n_users is not None:
        overrides["n_users"] = n_users
    if n_items is not None:
        overrides["n_items"] = n_items
    sim = SimConfig.from_preset(preset, **overrides)
    data_dir = out / "data"
    start = time.perf_counter()
    if _same_knobs(data_dir, sim.to_dict(runtime=False)):
        say(f"reusing {data_dir}")
    else:
        say(f"generating preset {preset}: {sim.n_users} users x {sim.n_items} items ...")
        write_dataset(generate(sim), data_dir, overwrite=data_dir.exists())
        say(f"  written to {data_dir} in {time.perf_counter() - start:.1f} s")

    config = SweepConfig(
        preset="data",
        knob="data",
        values=("data",),
        models=tuple(models),
        seeds=1,
        epochs=epochs,
        data=str(data_dir.resolve()),
    )
    fits = out / "fits"
    if fits.exists():  # the demo's own folder: always fit afresh
        shutil.rmtree(fits)
    jobs = jobs or max(1, min(len(models), os.cpu_count() or 1))
    say(f"fitting {', '.join(models)} ({jobs} in parallel, 1 torch thread each) ...")

    def progress(done: int, total: int, run_id: str) -> None:
        say(f"  [{done}/{total}] {run_id} done after {time.perf_counter() - start:.0f} s")

    outcome = run_sweep(config, fits, jobs=jobs, threads=1, progress=progress)
    if outcome.failures:
        run_id, error = next(iter(outcome.failures.items()))
        raise RuntimeError(f"fit {run_id} failed: {error} (see {fits / 'failures'})")
    rows = {row["model"]: row for row in outcome.rows}
    run_dirs = [fits / "runs" / rows[m]["run_id"] for m in models]
    fig = plot_latent_from_dirs(run_dirs, data_dir)
    paths = save_figure(fig, out / "figure3")
    say(f"figure: {paths[0]} and {paths[1]}")
    return rows


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Output folder (data/, idcf/, ividr/, figure3.png, figure3.pdf).",
)
@click.option(
    "--users",
    type=click.IntRange(min=10),
    default=None,
    help="Users. Default: the preset's (10000).",
)
@click.option(
    "--items",
    type=click.IntRange(min=10),
    default=None,
    help="Items. Default: the preset's (1000).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Training epochs. Default: each model's default.",
)
@seed_option("Simulator seed (the models use seed 0).")
@quiet_option()
def main(
    out: Path, users: int | None, items: int | None, epochs: int | None, seed: int, quiet: bool
) -> None:
    """Generate the default dataset, fit iDCF and IViDR, print their MCC, plot Figure 3."""
    start = time.perf_counter()

    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    try:
        results = run_demo(out, n_users=users, n_items=items, seed=seed, epochs=epochs, log=log)
    except (ValueError, RuntimeError) as exc:  # bad knobs, a failed fit: one line
        raise click.ClickException(str(exc)) from None
    for line in format_results(results):
        click.echo(line)
    click.echo(
        f"figure: {out / 'figure3.png'} (and .pdf); wall time {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
