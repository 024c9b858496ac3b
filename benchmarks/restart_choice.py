"""Does the held-out ELBO pick good restarts, and how many restarts pay? (docs/design.md §4.3)

    .venv/bin/python benchmarks/restart_choice.py            # idcf-sim, 5 gammas x 10 seeds
    .venv/bin/python benchmarks/restart_choice.py --gammas 0 --seeds 2 --restarts 2  # a smoke run

For every gamma and seed it fits iDCF's latent stage (model ``ivae``: iDCF's latents are exactly
these, seed for seed) with ``--restarts`` R restarts, each trained to its own end, with the
current defaults. Restart r's initialisation and batches do not depend on R and all share the
held-out split, so the first R' restarts of that fit are exactly a fit with R' restarts; and every
restart's held-out ELBO is recorded each epoch, so successive halving from any first rung is
replayed exactly from the same fit (the survivors' trajectories are the ones a halving run
trains). The choice reads the held-out ELBO only; the truth scores the choice afterwards. The
"best by truth" column is a yardstick that no fit can use.

Writes ``RESULTS_DIR/restart_choice.md`` (per gamma: MCC mean ± std (min) with 1, 2, ..., R
restarts, with halving from each first rung of ``--rungs`` and its cost in epochs relative to
one fit, how often the ELBO's choice is the best MCC) and ``restart_choice_runs.json`` (every
restart's held-out ELBO trajectory, kept epoch and MCC).

The fits run as one resumable sweep (:func:`ividr.experiments.runner.run_sweep`) over the data's
``gamma_<G>`` folders (model ``ivae``, the seeds as model seeds) in ``--out``/``restarts-<hash of
the sweep's config>``: run the same command again to finish an interrupted run. Each fit's
restarts and trajectories are read back from its run folder (metrics.json, history.json).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from benchmarks._gamma_folders import config_dir, run_file, run_plan_or_fail
from benchmarks._options import backend_option, sweep_dirs_option
from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.reports import format_values
from ividr.training.stages import halving_schedule
from simulator.files import dumps_json
from simulator.locations import default_dataset_path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = default_dataset_path("idcf-sim")
#: A fit below this strong MCC counts as collapsed (the reference's worst at gamma 5 is 0.740).
COLLAPSE = 0.6


def sweep_config(data: Path, gammas: list[float], seeds: int, restarts: int) -> SweepConfig:
    """The sweep: iDCF's latent stage (``ivae``) with ``restarts`` restarts, every gamma x seed."""
    return SweepConfig(
        preset="data",
        knob="gamma",
        values=tuple(gammas),
        models=("ivae",),
        seeds=seeds,
        fit_overrides={"restarts": restarts, "trace_every": 0, "n_boot": 0},
        data=str(Path(data).resolve()),
    )


def fit_record(sweep_dir: Path, row: dict) -> dict:
    """One fit of the sweep: its gamma, seed, seconds and restarts, each with its held-out ELBO
    trajectory (from the run folder's metrics.json and history.json)."""
    trajectories: dict[int, list[float]] = {}
    for h in run_file(sweep_dir, row, "history.json"):
        if h["stage"] in ("latent", "latent-restart"):
            trajectories.setdefault(int(h.get("restart", 0)), []).append(h["val_loss"])
    metrics = run_file(sweep_dir, row, "metrics.json")
    return {
        "gamma": float(row["value"]),
        "seed": int(row["seed"]),
        "seconds": row["fit_seconds"],
        "restarts": [{**r, "trajectory": trajectories[r["restart"]]} for r in metrics["restarts"]],
    }


def choose(restarts: list[dict], n: int, screen: int = 0) -> tuple[dict, int]:
    """The restart a fit with the first ``n`` restarts keeps, and the epochs it trains in all.

    ``screen`` > 0 replays successive halving (:func:`halving_schedule`) on the recorded
    held-out ELBO trajectories; the survivor is kept. Otherwise the lowest held-out ELBO at the
    kept checkpoints wins.
    """
    pool = restarts[:n]
    alive = list(range(n))
    trained = {r: 0 for r in alive}
    for epoch, keep in halving_schedule(n, screen):
        for r in alive:
            trained[r] = min(epoch, len(pool[r]["trajectory"]))
        best = {r: min(pool[r]["trajectory"][: trained[r]]) for r in alive}
        alive = sorted(sorted(alive, key=lambda r: (best[r], r))[:keep])
    for r in alive:
        trained[r] = len(pool[r]["trajectory"])
    kept = min(alive, key=lambda r: (pool[r]["val_loss"], r))
    return pool[kept], sum(trained.values())


def _cell(values: list[float]) -> str:
    """MCC over fits: mean ± std (min)."""
    return format_values(values, digits=3, low=True)


def report(fits: list[dict], restarts: int, rungs: tuple[int, ...], command: str) -> str:
    gammas = sorted({f["gamma"] for f in fits})
    counts = list(range(1, restarts + 1))
    lines = [
        "# Restarts chosen by held-out ELBO: iDCF's latent stage on idcf-sim",
        "",
        f"Command: `{command}`. Strong MCC of the kept posterior mean over seeds, "
        "mean ± std (min); `collapsed`: fits below "
        f"{COLLAPSE}. `R=k`: the first k restarts, the lowest held-out negative ELBO kept. "
        "`halving S`: successive halving on the held-out ELBO from epoch S (then 2S, ...), "
        "replayed on the recorded trajectories; `cost`: epochs trained in all / epochs of "
        "the plain fit. `ELBO = best MCC`: share of fits whose ELBO choice among all R restarts "
        "is also the best MCC; `best by truth`: the best restart's MCC, a yardstick no fit can "
        "use.",
        "",
        "| gamma | "
        + " | ".join(f"R={k}" for k in counts)
        + " | "
        + " | ".join(f"R={restarts}, halving {s} (cost)" for s in rungs)
        + f" | collapsed R=1 / R={restarts} | ELBO = best MCC | best by truth |",
        "|---|" + "---|" * (len(counts) + len(rungs) + 3),
    ]
    for g in gammas:
        sub = [f for f in fits if f["gamma"] == g]
        cells = [_cell([choose(f["restarts"], k)[0]["mcc"] for f in sub]) for k in counts]
        for s in rungs:
            picks = [choose(f["restarts"], restarts, s) for f in sub]
            cost = np.mean(
                [
                    e / len(f["restarts"][0]["trajectory"])
                    for f, (_, e) in zip(sub, picks, strict=True)
                ]
            )
            cells.append(f"{_cell([p['mcc'] for p, _ in picks])} ({cost:.2f}x)")
        low1 = sum(choose(f["restarts"], 1)[0]["mcc"] < COLLAPSE for f in sub)
        lowr = sum(choose(f["restarts"], restarts)[0]["mcc"] < COLLAPSE for f in sub)
        hits = np.mean(
            [
                choose(f["restarts"], restarts)[0]["mcc"] >= max(r["mcc"] for r in f["restarts"])
                for f in sub
            ]
        )
        best = _cell([max(r["mcc"] for r in f["restarts"]) for f in sub])
        cells += [f"{low1} / {lowr} of {len(sub)}", f"{hits:.0%}", best]
        lines.append(f"| {g:g} | " + " | ".join(cells) + " |")
    secs = np.mean([f["seconds"] for f in fits])
    lines += ["", f"Mean wall time of one fit with {restarts} restarts to the end: {secs:.1f} s."]
    return "\n".join(lines) + "\n"


@click.command(help=__doc__.splitlines()[0])
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=str(DEFAULT_DATA))
@click.option("--gammas", default="0,5,10,15,20", show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--restarts", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--rungs", default="25,50,100", show_default=True, help="First halving rungs.")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True)
@backend_option()
@sweep_dirs_option("sweep-out/restart-choice")
@click.option(
    "--results-dir", type=click.Path(file_okay=False), default=str(ROOT / "benchmarks/results")
)
def main(data, gammas, seeds, restarts, rungs, jobs, backend, out, results_dir) -> None:
    values = [float(g) for g in gammas.split(",")]
    rung_list = tuple(int(r) for r in rungs.split(",") if r)
    config = sweep_config(Path(data), values, seeds, restarts)
    sweep_dir = config_dir(out, config, "restarts")

    found = run_plan_or_fail(
        [("main", sweep_dir, config)], jobs=jobs, backend=backend, name="restart choice"
    )
    by_key = {(format_value(float(r["value"])), int(r["seed"])): r for r in found["main"]}
    fits = [
        fit_record(sweep_dir, by_key[(format_value(g), s)]) for g in values for s in range(seeds)
    ]
    for fit in fits:
        mccs = " ".join(f"{r['mcc']:.3f}{'*' if r['kept'] else ''}" for r in fit["restarts"])
        print(f"gamma {fit['gamma']:g} seed {fit['seed']}: {mccs} ({fit['seconds']:.1f} s)")
    results = Path(results_dir)
    results.mkdir(parents=True, exist_ok=True)
    for fit in fits:  # three decimals of a held-out loss of ~60 nats: enough, and a small file
        for r in fit["restarts"]:
            r["trajectory"] = [round(v, 3) for v in r["trajectory"]]
    (results / "restart_choice_runs.json").write_text(dumps_json(fits, indent=None))
    command = "benchmarks/restart_choice.py " + " ".join(sys.argv[1:])
    text = report(fits, restarts, rung_list, command.strip())
    (results / "restart_choice.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
