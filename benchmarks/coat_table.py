"""Reproduce the Coat rows of the IViDR paper's Tables 3 and 4 (NDCG@5 / Recall@5, 10 seeds).

Every model of ``MODEL_NAMES`` except the latent-only "vae" and "ivae" is fitted on Coat for
seeds 0..9 with the papers' grid search (lr x weight decay, selected on validation NDCG@5 of the
30% validation users; the test users are never looked at before the table). Writes
``benchmarks/results/coat_runs.csv`` (one row per run, appended as runs finish, so a killed run
resumes) and ``benchmarks/results/coat_table.md`` (mean +/- std beside the paper's figures).

Usage: ``python benchmarks/coat_table.py [--seeds 10] [--jobs 2] [--no-grid] [--loss mse]
[--standardize]``. Each variant (grid, loss, standardised latents) is one section of the table;
runs of other variants already in the CSV are kept.
"""

from __future__ import annotations

import argparse
import csv
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
COAT = HERE.parent.parent / "shared" / "datasets" / "coat"
MODELS = ("mf", "mf-wf", "iv4r-mf", "idcf-w", "idcf", "ividr-t", "ividr-f", "ividr-r", "ividr")
LABELS = {
    "mf": "MF",
    "mf-wf": "MF-WF",
    "iv4r-mf": "IV4R-MF",
    "idcf-w": "iDCF-W",
    "idcf": "iDCF",
    "ividr-t": "IViDR-T",
    "ividr-f": "IViDR-F",
    "ividr-r": "IViDR-R",
    "ividr": "IViDR",
}
#: The IViDR paper's Coat figures (Tables 3 and 4): NDCG@5, Recall@5.
PAPER = {
    "mf": (0.5590, 0.5418),
    "mf-wf": (0.5577, 0.5336),
    "iv4r-mf": (0.5617, 0.5433),
    "idcf": (0.5638, 0.5493),
    "ividr-t": (0.5669, 0.5513),
    "ividr-f": (0.5846, 0.5710),
    "ividr-r": (0.5875, 0.5728),
    "ividr": (0.5903, 0.5783),
}
FIELDS = [
    "model",
    "seed",
    "grid",
    "loss",
    "standardize",
    "ndcg@5",
    "recall@5",
    "val_ndcg@5",
    "val_recall@5",
    "lr",
    "weight_decay",
    "epochs_run",
    "seconds",
]


def run_one(model: str, seed: int, variant: tuple, data_path: str) -> dict:
    import torch

    torch.set_num_threads(1)
    from ividr.api import FitConfig, fit_model
    from simulator.loaders import load_dataset

    grid, loss, standardize = variant
    config = FitConfig(
        model=model, seed=seed, grid=grid, loss=loss, standardize_latents=standardize
    )
    result = fit_model(load_dataset(data_path), config)
    m = result.metrics
    chosen = m.get("chosen", {}).get("recommender", {})
    return {
        "model": model,
        "seed": seed,
        "grid": grid,
        "loss": loss,
        "standardize": standardize,
        "ndcg@5": m["ndcg@5"],
        "recall@5": m["recall@5"],
        "val_ndcg@5": m["val_ndcg@5"],
        "val_recall@5": m["val_recall@5"],
        "lr": chosen.get("lr"),
        "weight_decay": chosen.get("weight_decay"),
        "epochs_run": m["epochs_run"],
        "seconds": round(m["seconds"], 2),
    }


def variant_of(row: dict) -> tuple[bool, str, bool]:
    return (str(row["grid"]) == "True", row["loss"], str(row["standardize"]) == "True")


def describe(variant: tuple[bool, str, bool]) -> str:
    grid, loss, standardize = variant
    return (
        f"loss {loss.upper()}"
        + (", standardised latents" if standardize else ", raw latents (iDCF)")
        + (", lr x weight decay grid on validation NDCG@5" if grid else ", default lr / wd")
    )


def table_section(rows: list[dict], variant: tuple[bool, str, bool]) -> list[str]:
    lines = [
        f"## {describe(variant)}",
        "",
        "| model | NDCG@5 (ours) | Recall@5 (ours) | NDCG@5 (paper) | Recall@5 (paper) | runs |",
        "|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        sel = [r for r in rows if r["model"] == model and variant_of(r) == variant]
        if not sel:
            continue
        nd = np.array([float(r["ndcg@5"]) for r in sel])
        rc = np.array([float(r["recall@5"]) for r in sel])
        sd_n = nd.std(ddof=1) if len(nd) > 1 else 0.0
        sd_r = rc.std(ddof=1) if len(rc) > 1 else 0.0
        paper = PAPER.get(model)
        pn, pr = (f"{paper[0]:.4f}", f"{paper[1]:.4f}") if paper else ("–", "–")
        lines.append(
            f"| {LABELS[model]} | {nd.mean():.4f} ± {sd_n:.4f} | {rc.mean():.4f} ± {sd_r:.4f} "
            f"| {pn} | {pr} | {len(sel)} |"
        )
    return lines + [""]


def write_table(rows: list[dict], path: Path, n_seeds: int) -> str:
    lines = [
        "# Coat: NDCG@5 / Recall@5 on the 70% test users (mean ± std over seeds)",
        "",
        f"Seeds 0..{n_seeds - 1}; each seed also draws the 30/70 validation/test split of the",
        "unbiased users. Written by `benchmarks/coat_table.py`; every run is in coat_runs.csv.",
        "",
    ]
    variants = sorted({variant_of(r) for r in rows}, key=lambda v: (v[1], v[2], v[0]))
    for variant in variants:
        lines += table_section(rows, variant)
    text = "\n".join(lines)
    path.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--no-grid", action="store_true")
    parser.add_argument("--loss", choices=("bce", "mse"), default="bce")
    parser.add_argument("--standardize", action="store_true", help="standardised latents")
    parser.add_argument("--data", default=str(COAT))
    args = parser.parse_args()
    variant = (not args.no_grid, args.loss, args.standardize)
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs_csv = RESULTS / "coat_runs.csv"
    done: list[dict] = []
    if runs_csv.is_file():
        with open(runs_csv) as fh:
            done = list(csv.DictReader(fh))
    have = {(r["model"], int(r["seed"])) for r in done if variant_of(r) == variant}
    todo = [(m, s) for m in MODELS for s in range(args.seeds) if (m, s) not in have]
    new_file = not runs_csv.is_file()
    with open(runs_csv, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(run_one, m, s, variant, args.data): (m, s) for m, s in todo}
            for fut in as_completed(futures):
                row = fut.result()
                writer.writerow(row)
                fh.flush()
                done.append({k: str(v) for k, v in row.items()})
                print(
                    f"{row['model']:>8} seed {row['seed']}: NDCG@5 {row['ndcg@5']:.4f} "
                    f"Recall@5 {row['recall@5']:.4f} ({row['seconds']} s)",
                    flush=True,
                )
    rows = [r for r in done if int(r["seed"]) < args.seeds]
    print(write_table(rows, RESULTS / "coat_table.md", args.seeds))


if __name__ == "__main__":
    main()
