"""The headline use end to end, quickly and aloud: ``python -m ividr.cli.demo`` (``make demo``).

What it runs
------------
The IViDR paper's Table-5 setting at gamma = 10, 10,000 users x 1,000 items, on the paper's own
draw: preset ``ividr-paper`` replays the generator released with the paper draw for draw
(:mod:`simulator.replay_divers`; seed 1234), so these are the data behind Table 5, made here
without a download.

1. Data: the replay, written to ``OUT/data`` in simgen's layout (reused when it is there with the
   same knobs); a few seconds.
2. The data's reference levels (proxy oracle E[C | W], chance, the ridge R^2 of C, the supervised
   ceiling), computed once and cached in ``OUT/data/references.json``.
3. iDCF and IViDR fitted side by side, two processes of one torch thread each, into
   ``OUT/fits/runs/<run_id>/`` (the layout of ``ividr fit --out``). On a terminal one line shows,
   per fit, a bar over the epochs and restarts of its current stage; nothing with ``--quiet`` or
   when stderr is not a terminal.
4. The table, on stdout: each model's MCC beside the paper's Table-5 figure (iDCF 0.6475, IViDR
   0.7659 at gamma 10), its prior-only MCC, the proxy oracle, the supervised ceilings, chance,
   then weak MCC, NDCG@5, Recall@5 and fit seconds, and how to read the levels.
5. Figure 3 (true C beside the learned latents): ``OUT/figure3.png`` and ``OUT/figure3.pdf``.

How it keeps within 5 minutes on a 2-core machine
-------------------------------------------------
Written here and printed with the results (:data:`DEMO_CHOICES`):

- **One latent restart per model** instead of the default four (docs/design.md §4.3). One
  restart can land in a collapsed solution, which four mostly avoid
  (docs/results/restart_choice.md); the full setting is ``ividr fit --restarts 4``. This is
  the one choice that can move a figure.
- The per-epoch MCC trace and the bootstrap intervals are off (``trace_every=0``,
  ``n_boot=0``): diagnostics computed beside the fit, which is the same without them.
- Nothing else: the whole draw (no subsample), every other model default (epoch budgets, early
  stopping), seeds as in a plain ``ividr fit``.

``--users``/``--items``/``--gamma``/``--seed`` run the same on another draw of the released
generator (the paper's figure is then not shown); tests use them to stay small.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from ividr.cli.common import OneLineCommand, quiet_option
from ividr.reporting.scoring import format_table

DEMO_MODELS = ("idcf", "ividr")
DEMO_PRESET = "ividr-paper"
DEMO_GAMMA = 10.0
#: FitConfig fields the demo sets (see the module docstring); everything else is the default.
DEMO_FIT = {"restarts": 1, "trace_every": 0, "n_boot": 0}
DEMO_CHOICES = (
    "Fits: 1 latent restart per model (default 4; `ividr fit --restarts 4` for the full "
    "setting), no per-epoch MCC trace or bootstrap intervals; everything else at its defaults."
)

#: (header, results-row column, width, decimals) of the printed table; MCC stays the second
#: column. The model column is left-aligned, the figures right-aligned.
COLUMNS = (
    ("model", "model", 8, None),
    ("MCC", "mcc", 7, 4),
    ("paper", "paper_mcc", 7, 4),
    ("prior-only", "mcc_prior_only", 10, 4),
    ("W-chance", "ref_proxy_chance", 8, 4),
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
    "How to read it: paper is the IViDR paper's Table 5 (single runs of the released code on "
    "this very draw). oracle is the proxy oracle E[C | W], so a model's MCC above it would need "
    "information beyond W; ceil A+W is the supervised ceiling, what any encoder of (exposures "
    "A, W) can reach (ceil A: from the exposures alone); prior-only is what the learned W-prior "
    "mu_w(W) alone gives, to be read against W-chance, what a random function of W scores; "
    "chance is what latents unrelated to C score."
)


def format_results(
    results: dict[str, dict], *, columns: tuple = COLUMNS, reading: str = READING
) -> list[str]:
    """The demo's table: one line per model (a results row of the sweep), then how to read it.

    Each model's MCC sits beside the paper's figure, its prior-only MCC and the data's
    reference levels (proxy oracle, supervised ceiling from exposures + W and from exposures
    alone, chance), then its weak MCC, NDCG@5, Recall@5 and fit seconds; a missing figure
    prints as ``-``. ``columns`` ((header, key, width, decimals); decimals None for the row's
    name) and ``reading`` make other tables of the same shape (``ividr score``'s).
    """
    return format_table(results, columns=columns, reading=reading)


def paper_mcc(sim, model: str) -> float | None:
    """The paper's Table-5 MCC of ``model`` when ``sim`` is the paper's draw, else None."""
    from ividr.paper import table5_mcc
    from simulator.config import SimConfig

    if sim != SimConfig.from_preset(DEMO_PRESET, gamma=sim.gamma):
        return None
    return table5_mcc(model, sim.gamma)


def describe_data(sim, n_train: int) -> str:
    """One line on what the data are: the paper's draw, or another draw of its generator."""
    size = f"{sim.n_users:,} users x {sim.n_items:,} items, {n_train:,} exposures"
    if paper_mcc(sim, "idcf") is not None:
        return (
            f"Data: the IViDR paper's own draw (its released generator replayed, seed "
            f"{sim.seed}), gamma {sim.gamma:g}: {size}."
        )
    return (
        f"Data: a draw of the IViDR paper's released generator (seed {sim.seed}), gamma "
        f"{sim.gamma:g}: {size}; not the paper's draw, so no paper figure."
    )


def _same_knobs(path: Path, knobs: dict) -> bool:
    """Whether ``path`` holds a simgen dataset made with these knobs (its meta.json's config)."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stored = meta.get("config") or {}
    return bool(stored) and all(stored.get(k) == v for k, v in knobs.items())


def prepare_data(out: Path, sim, say) -> Path:
    """The replay in ``OUT/data`` (written unless it is there with the same knobs)."""
    from simulator.generate import generate
    from simulator.writer import write_dataset

    data_dir = out / "data"
    if _same_knobs(data_dir, sim.to_dict(runtime=False)):
        say(f"reusing {data_dir}")
        return data_dir
    start = time.perf_counter()
    say(f"replaying the released generator: {sim.n_users} users x {sim.n_items} items ...")
    write_dataset(generate(sim), data_dir, overwrite=data_dir.exists())
    say(f"  written to {data_dir} in {time.perf_counter() - start:.1f} s")
    return data_dir


def prepare_references(data_dir: Path, say):
    """The data's reference levels, computed once (cached in references.json) before the fits,
    so that the two fits do not both compute them. Returns the loaded dataset."""
    from simulator.loaders import load_dataset
    from simulator.references import references_for

    start = time.perf_counter()
    dataset = load_dataset(data_dir)
    say("reference levels (proxy oracle, chance, supervised ceiling) ...")
    references_for(data_dir, dataset)
    say(f"  done in {time.perf_counter() - start:.1f} s")
    return dataset


def fit_reporting(dataset, config, spec, *, events=None) -> dict[str, Any]:
    """:func:`ividr.experiments.run.default_fit`, its training progress put on ``events``.

    Runs in a worker process; ``events`` (a manager's queue, or None) receives
    ``(model, event, args)`` for the bar line the demo's own process draws.
    """
    from ividr.experiments.run import default_fit
    from ividr.training.progress import EventHook

    hook = None if events is None else EventHook(lambda *e: events.put(e), spec.model)
    return default_fit(dataset, config, spec, progress=hook)


def _pump(events, bars) -> None:
    """Draw the workers' events on ``bars`` until the None that ends them."""
    while (event := events.get()) is not None:
        bars.update(*event)


def fit_models(
    data_dir: Path,
    fits: Path,
    models: tuple[str, ...],
    *,
    jobs: int,
    epochs: int | None,
    show_bar: bool,
    say,
):
    """Fit ``models`` on ``data_dir`` side by side (a sweep of one column) into ``fits``.

    With ``show_bar`` the workers' progress is drawn on one line of stderr
    (:class:`ividr.training.progress.BarLine`). Returns the :class:`SweepOutcome`.
    """
    from ividr.experiments.grid import SweepConfig
    from ividr.experiments.runner import run_sweep
    from ividr.training.progress import BarLine

    config = SweepConfig(
        preset="data",
        knob="data",
        values=("data",),
        models=tuple(models),
        seeds=1,
        epochs=epochs,
        fit_overrides=dict(DEMO_FIT),
        data=str(data_dir.resolve()),
    )
    start = time.perf_counter()
    bars = BarLine() if show_bar else None
    note = bars.write_above if bars is not None else say

    def progress(done: int, total: int, run_id: str) -> None:
        note(f"  [{done}/{total}] {run_id} done after {time.perf_counter() - start:.0f} s")

    if bars is None:
        return run_sweep(config, fits, jobs=jobs, threads=1, progress=progress)
    import multiprocessing

    with multiprocessing.Manager() as manager:
        events = manager.Queue()
        pump = threading.Thread(target=_pump, args=(events, bars), daemon=True)
        pump.start()
        try:
            fit_fn = functools.partial(fit_reporting, events=events)
            return run_sweep(config, fits, jobs=jobs, threads=1, progress=progress, fit_fn=fit_fn)
        finally:
            events.put(None)
            pump.join(timeout=5)
            bars.close()


def run_demo(
    out: str | Path = "demo-out",
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    gamma: float = DEMO_GAMMA,
    seed: int | None = None,
    epochs: int | None = None,
    models: tuple[str, ...] = DEMO_MODELS,
    jobs: int | None = None,
    show_bar: bool = False,
    log=None,
) -> tuple[dict[str, dict], list[str]]:
    """Replay the paper's draw, fit, score and plot.

    Parameters
    ----------
    out : str or Path, default "demo-out"
    n_users, n_items : int or None
        Size of the draw; None keeps the paper's (10,000 x 1,000).
    gamma : float, default 10
        The exposure-noise knob (the released ``treatment_noise_ratio``).
    seed : int or None
        Seed of the released generator; None keeps the paper's (1234).
    epochs : int or None
        Recommender-stage epochs; None keeps each model's default.
    models : tuple of str, default ("idcf", "ividr")
    jobs : int or None
        Fits in parallel; None = min(len(models), cores).
    show_bar : bool, default False
        Draw the fits' progress on stderr (a terminal).
    log : callable(str) or None
        Progress lines.

    Returns
    -------
    rows : dict
        ``{model: results row}``, with the paper's figure as ``paper_mcc`` (None when the data
        are not the paper's draw).
    notes : list of str
        What the data are and what the demo chose, to print beside the table.

    Raises
    ------
    RuntimeError
        When a fit fails (its message and the failure file are named).
    """
    from ividr.reporting.plots import plot_latent_from_dirs, save_figure
    from simulator.config import SimConfig

    say = log or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {"gamma": float(gamma)}
    for knob, value in (("n_users", n_users), ("n_items", n_items), ("seed", seed)):
        if value is not None:
            overrides[knob] = value
    sim = SimConfig.from_preset(DEMO_PRESET, **overrides)
    data_dir = prepare_data(out, sim, say)
    dataset = prepare_references(data_dir, say)

    fits = out / "fits"
    if fits.exists():  # the demo's own folder: always fit afresh
        shutil.rmtree(fits)
    jobs = jobs or max(1, min(len(models), os.cpu_count() or 1))
    say(f"fitting {', '.join(models)} ({jobs} in parallel, 1 torch thread each) ...")
    outcome = fit_models(
        data_dir, fits, models, jobs=jobs, epochs=epochs, show_bar=show_bar, say=say
    )
    if outcome.failures:
        run_id, error = next(iter(outcome.failures.items()))
        raise RuntimeError(f"fit {run_id} failed: {error} (see {fits / 'failures'})")
    rows = {row["model"]: row | {"paper_mcc": paper_mcc(sim, row["model"])} for row in outcome.rows}
    run_dirs = [fits / "runs" / rows[m]["run_id"] for m in models]
    paths = save_figure(plot_latent_from_dirs(run_dirs, data_dir), out / "figure3")
    say(f"figure: {paths[0]} and {paths[1]}")
    return rows, [describe_data(sim, len(dataset.train)), DEMO_CHOICES]


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Output folder (data/, fits/, figure3.png, figure3.pdf).",
)
@click.option(
    "--users",
    type=click.IntRange(min=10),
    default=None,
    help="Users of the draw. Default: the paper's (10000).",
)
@click.option(
    "--items",
    type=click.IntRange(min=10),
    default=None,
    help="Items of the draw. Default: the paper's (1000).",
)
@click.option(
    "--gamma",
    type=click.FloatRange(min=0.0),
    default=DEMO_GAMMA,
    show_default=True,
    help="Exposure noise (the released treatment_noise_ratio; the paper's Table 5 has 0, 5, "
    "10, 15, 20).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the released generator. Default: the paper's (1234).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Recommender-stage epochs. Default: each model's default.",
)
@quiet_option("No progress on stderr (the bar is drawn only when stderr is a terminal).")
def main(
    out: Path,
    users: int | None,
    items: int | None,
    gamma: float,
    seed: int | None,
    epochs: int | None,
    quiet: bool,
) -> None:
    """Replay the IViDR paper's draw (gamma 10), fit iDCF and IViDR, print their MCC beside the
    paper's and the reference levels, plot Figure 3."""
    from ividr.training.progress import show_bar

    start = time.perf_counter()

    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    try:
        results, notes = run_demo(
            out,
            n_users=users,
            n_items=items,
            gamma=gamma,
            seed=seed,
            epochs=epochs,
            show_bar=show_bar(quiet),
            log=log,
        )
    except (ValueError, RuntimeError) as exc:  # bad knobs, a failed fit: one line
        raise click.ClickException(str(exc)) from None
    for line in [*notes, *format_results(results)]:
        click.echo(line)
    click.echo(
        f"figure: {out / 'figure3.png'} (and .pdf); wall time {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
