"""Why does a latent fit collapse? One setting at a time toward the reference (docs/design.md §4.3).

    .venv/bin/python benchmarks/collapse_ablation.py                  # idcf-sim gamma 5, seeds 0-9
    .venv/bin/python benchmarks/collapse_ablation.py --gamma 10 --variants base,reference
    .venv/bin/python benchmarks/collapse_ablation.py --seeds 2 --variants base,l2 --latent-epochs 3

Fits the iVAE latent stage (what iDCF's MCC is made of: ``ivae`` and ``idcf`` share it, seed for
seed) on ``idcf-sim/gamma_G`` (external dataset, docs/data.md) with each variant's settings and
seeds 0..9.
A variant changes one setting of our former defaults toward the iDCF authors' own training code
(``ivae_exposure.py``; its settings are in the data's README); ``reference`` changes them all.
The truth only scores the kept posterior mean; nothing is chosen by it. Writes
``RESULTS_DIR/collapse_ablation_g<G>.md`` (mean ± std, min, collapsed seeds, the correlation
between a seed's held-out loss and its MCC) and ``..._runs.csv`` (one row per fit).

The fits run as one resumable sweep (:func:`ividr.experiments.runner.run_sweep`) over the gamma's
folder: model ``ivae``, the model seeds, and the variants as the sweep's fit variants (``base`` is
the sweep's base, which always runs; a variant's sweep name is its name with ``-`` and ``+`` spelt
``_``). The sweep directory is ``--out``/``g<G>-<hash of the sweep's config>``: run the same
command again to finish an interrupted run.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import click
import numpy as np

from benchmarks._gamma_folders import config_dir, run_file, run_plan_or_fail
from benchmarks._options import backend_option, sweep_dirs_option
from ividr.experiments.grid import SweepConfig
from ividr.experiments.reports import format_values
from simulator.locations import default_dataset_path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_DATA = default_dataset_path("idcf-sim")
#: Our former defaults (before this benchmark), one restart (restarts came after it).
BASE = dict(
    restarts=1,
    latent_lr=1e-3,
    kl_anneal_epochs=100,
    latent_patience=50,
    patience_from_start=False,
    l2_penalty=0.0,
    latent_batch_size=1024,
    latent_epochs=1000,
)
#: The reference code's settings on this data (its README): 625 annealing steps of batch 1024
#: over 1,600 users = 312 epochs, patience 100 from epoch 0, lr 5e-4, L2 0.01, 2,000 epochs.
VARIANTS: dict[str, dict] = {
    "base": {},
    "anneal312": dict(kl_anneal_epochs=312),
    "patience100": dict(latent_patience=100),
    "from_start": dict(patience_from_start=True),
    "l2": dict(l2_penalty=0.01),
    "lr5e-4": dict(latent_lr=5e-4),
    "batch256": dict(latent_batch_size=256),
    "lr5e-4+l2": dict(latent_lr=5e-4, l2_penalty=0.01),
    "reference": dict(
        kl_anneal_epochs=312,
        latent_patience=100,
        patience_from_start=True,
        l2_penalty=0.01,
        latent_lr=5e-4,
        latent_epochs=2000,
    ),
}
#: A fit is "collapsed" below this strong MCC (the reference's minimum at gamma 5 is 0.740).
COLLAPSE = 0.6


def sweep_name(name: str) -> str:
    """A variant's name in the sweep (an identifier): ``lr5e-4+l2`` -> ``lr5e_4_l2``."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def sweep_config(
    data: Path, gamma: float, seeds: int, names: list[str], latent_epochs: int | None
) -> SweepConfig:
    """The sweep of ``names`` (``base`` is its base) at ``gamma``, seeds 0..seeds-1;
    ``latent_epochs`` caps every variant's max latent epochs (smoke runs)."""
    base = dict(BASE, trace_every=0, n_boot=0)
    variants = {sweep_name(n): dict(VARIANTS[n]) for n in names if n != "base"}
    if latent_epochs is not None:
        base["latent_epochs"] = latent_epochs
        for overrides in variants.values():
            if "latent_epochs" in overrides:
                overrides["latent_epochs"] = latent_epochs
    return SweepConfig(
        preset="data",
        knob="gamma",
        values=(float(gamma),),
        models=("ivae",),
        seeds=seeds,
        fit_overrides=base,
        data=str(Path(data).resolve()),
        variants=variants,
    )


def fit_rows(sweep_dir: Path, results: list[dict], names: list[str], seeds: int) -> list[dict]:
    """One row per (variant, seed), in the order of ``names`` then seeds, from the sweep's
    results rows and each run's history (the kept epoch of the latent stage)."""
    by_key = {(r.get("variant") or "", int(r["seed"])): r for r in results}
    rows = []
    for name in names:
        for seed in range(seeds):
            res = by_key[("" if name == "base" else sweep_name(name), seed)]
            history = [
                h for h in run_file(sweep_dir, res, "history.json") if h["stage"] == "latent"
            ]
            kept = next(h for h in history if h.get("checkpoint"))
            rows.append(
                {
                    "variant": name,
                    "seed": seed,
                    "mcc": res["mcc"],
                    "mcc_prior_only": res["mcc_prior_only"],
                    "val_loss": kept["val_loss"],
                    "kept_epoch": kept["epoch"],
                    "epochs": len(history),
                    "seconds": res["fit_seconds"],
                }
            )
    return rows


def report(rows: list[dict], gamma: float) -> str:
    lines = [
        f"# Collapse ablation: iVAE latent stage on idcf-sim gamma {gamma:g}",
        "",
        "One setting at a time from our former defaults (lr 1e-3, KL annealed over 100 epochs, "
        "patience 50 counted after the annealing, no L2 penalty, batch 1024) toward the iDCF "
        "authors' code. Strong MCC of the kept posterior mean; `corr(loss, MCC)`: correlation "
        "over seeds of the held-out negative ELBO at the kept epoch with the MCC.",
        "",
        f"| variant | MCC mean ± std | min | seeds < {COLLAPSE} | prior-only MCC | "
        "corr(loss, MCC) | epochs | s / fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["variant"] for r in rows):
        sub = [r for r in rows if r["variant"] == name]
        m = np.array([r["mcc"] for r in sub])
        loss = np.array([r["val_loss"] for r in sub])
        corr = float(np.corrcoef(loss, m)[0, 1]) if len(sub) > 2 and m.std() > 0 else float("nan")
        low = [str(r["seed"]) for r in sub if r["mcc"] < COLLAPSE]
        lines.append(
            f"| {name} | {format_values(m, digits=3)} | "
            f"{m.min():.3f} | {len(low)} ({', '.join(low) or '–'}) | "
            f"{np.mean([r['mcc_prior_only'] for r in sub]):.3f} | {corr:+.2f} | "
            f"{np.mean([r['epochs'] for r in sub]):.0f} | "
            f"{np.mean([r['seconds'] for r in sub]):.1f} |"
        )
    return "\n".join(lines) + "\n"


@click.command(help=__doc__.splitlines()[0])
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=str(DEFAULT_DATA))
@click.option("--gamma", type=click.FloatRange(min=0), default=5.0, show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--variants", default=",".join(VARIANTS), show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True)
@backend_option()
@click.option(
    "--latent-epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Cap every variant's max latent epochs (smoke runs). Default: each variant's own.",
)
@sweep_dirs_option("sweep-out/collapse-ablation")
@click.option(
    "--results-dir", type=click.Path(file_okay=False), default=str(ROOT / "benchmarks/results")
)
def main(data, gamma, seeds, variants, jobs, backend, latent_epochs, out, results_dir) -> None:
    names = [v.strip() for v in variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise click.BadParameter(
            f"unknown {unknown}; choose from {list(VARIANTS)}", param_hint="--variants"
        )
    config = sweep_config(Path(data), gamma, seeds, names, latent_epochs)
    sweep_dir = config_dir(out, config, f"g{gamma:g}")

    found = run_plan_or_fail(
        [("main", sweep_dir, config)], jobs=jobs, backend=backend, name="collapse ablation"
    )
    rows = fit_rows(sweep_dir, found["main"], names, seeds)
    for row in rows:
        print(
            f"{row['variant']:<12} seed {row['seed']}: MCC {row['mcc']:.3f} "
            f"loss {row['val_loss']:.2f} epochs {row['epochs']} {row['seconds']:.1f}s",
            flush=True,
        )
    results = Path(results_dir)
    results.mkdir(parents=True, exist_ok=True)
    stem = f"collapse_ablation_g{gamma:g}"
    with open(results / f"{stem}_runs.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = report(rows, gamma)
    (results / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
