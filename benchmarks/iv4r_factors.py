"""IV4R-MF against MF on Coat, one factor of the treatment reconstruction at a time (§4.1).

The former IV4R-MF (a 2-layer MLP0 on the learned item embedding, unbounded heads a = 1 + MLP,
item embedding initialised U(-0.1, 0.1)) scored below MF on Coat. This benchmark fits MF and
IV4R-MF variants that change one factor at a time, from the former settings and back from the
new ones (the fourth factor, the shared shift, is chosen on validation in the new ones), for
seeds 0..9 under each protocol's recommender settings at a fixed lr 1e-3 and weight decay 1e-5
(no grid, so that only the factor changes): protocol
"ours" = BCE, patience 5, 100 epochs; "released" = MSE on the 0/1 label, patience 20, 1000
epochs. Validation NDCG@5 is what a choice may look at; test NDCG@5 is reported beside it.

Writes ``benchmarks/results/iv4r_factors_runs.csv`` (one row per fit, resumable) and
``iv4r_factors.md`` (mean over seeds, paired difference to MF on validation and test).

Usage: ``python benchmarks/iv4r_factors.py [--seeds 10] [--jobs 2] [--protocol ours,released]``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np

from benchmarks._options import results_dir_option, seeds_jobs_options
from benchmarks._resumable import read_runs, run_missing
from ividr.experiments.reports import MISSING
from ividr.experiments.summaries import paired_comparison
from simulator.locations import default_dataset_path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
COAT = default_dataset_path("coat")
FORMER = {"mlp0_layers": 2, "iv_head": "affine", "iv_item_init": 0.1, "iv_shift": 0.0}
NEW = {"mlp0_layers": 0, "iv_head": "sigmoid", "iv_item_init": 0.01, "iv_shift": "auto"}
#: name -> (model, IV4R-MF parameters); MF first, the former and new IV4R-MF, then one factor.
VARIANTS: dict[str, tuple[str, dict]] = {
    "MF": ("mf", {}),
    "IV4R-MF former (MLP0 2 layers, 1 + MLP heads, init 0.1)": ("iv4r-mf", FORMER),
    "former, MLP0 = identity": ("iv4r-mf", {**FORMER, "mlp0_layers": 0}),
    "former, sigmoid heads": ("iv4r-mf", {**FORMER, "iv_head": "sigmoid"}),
    "former, init 0.01": ("iv4r-mf", {**FORMER, "iv_item_init": 0.01}),
    "IV4R-MF new (identity, sigmoid, init 0.01, shift auto)": ("iv4r-mf", NEW),
    "new, MLP0 2 layers": ("iv4r-mf", {**NEW, "mlp0_layers": 2}),
    "new, 1 + MLP heads": ("iv4r-mf", {**NEW, "iv_head": "affine"}),
    "new, init 0.1": ("iv4r-mf", {**NEW, "iv_item_init": 0.1}),
    "new, no shift": ("iv4r-mf", {**NEW, "iv_shift": 0.0}),
    "new, shift 1 always": ("iv4r-mf", {**NEW, "iv_shift": 1.0}),
}
FIELDS = ["variant", "protocol", "seed", "val_ndcg@5", "ndcg@5", "epochs_run", "seconds"]


def run_one(variant: str, protocol: str, seed: int, data_path: str) -> dict:
    import time

    import torch

    torch.set_num_threads(1)
    from ividr.api import FitConfig, build_estimator
    from ividr.training.loops import ranking_metrics
    from simulator.loaders import load_dataset

    model, params = VARIANTS[variant]
    dataset = load_dataset(data_path)
    est = build_estimator(FitConfig(model=model, seed=seed, protocol=protocol))
    est.set_params(grid=False, lr=1e-3, weight_decay=1e-5, **params)
    val, test = dataset.split_unbiased(0.3, random_state=seed)
    start = time.perf_counter()
    est.fit(dataset, val=val)

    def scorer(users, items):
        return torch.from_numpy(est.score(users.numpy(), items.numpy()))

    return {
        "variant": variant,
        "protocol": protocol,
        "seed": seed,
        "val_ndcg@5": ranking_metrics(scorer, val)["ndcg@5"],
        "ndcg@5": ranking_metrics(scorer, test)["ndcg@5"],
        "epochs_run": est.epochs_run_,
        "seconds": round(time.perf_counter() - start, 2),
    }


def write_report(rows: list[dict], protocols: list[str], results: Path = RESULTS) -> str:
    lines = [
        "# IV4R-MF vs MF on Coat, one factor at a time (mean over seeds, fixed lr 1e-3, wd 1e-5)",
        "",
        "Δ = paired mean difference to MF over the same seeds (splits); wins = seeds above MF.",
        "Written by `benchmarks/iv4r_factors.py`; every fit is in iv4r_factors_runs.csv.",
        "",
    ]
    for protocol in protocols:
        sel = [r for r in rows if r["protocol"] == protocol]
        mf = {int(r["seed"]): r for r in sel if r["variant"] == "MF"}
        lines += [
            f"## protocol {protocol}",
            "",
            "| variant | val NDCG@5 | Δ val vs MF (wins) | test NDCG@5 | Δ test vs MF (wins) "
            "| runs |",
            "|---|---|---|---|---|---|",
        ]
        for variant in VARIANTS:
            runs = {int(r["seed"]): r for r in sel if r["variant"] == variant}
            if not runs:
                continue
            seeds = sorted(set(runs) & set(mf))
            cells = [variant]
            for key in ("val_ndcg@5", "ndcg@5"):
                c = paired_comparison(
                    {s: float(runs[s][key]) for s in seeds}, {s: float(mf[s][key]) for s in seeds}
                )
                mean = np.mean([float(r[key]) for r in runs.values()])
                diff = MISSING if c["mean_diff"] is None else f"{c['mean_diff']:+.4f}"
                cells += [f"{mean:.4f}", f"{diff} ({c['wins']}/{c['n']})"]
            cells.append(str(len(runs)))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    (results / "iv4r_factors.md").write_text(text)
    return text


@click.command(help=__doc__.splitlines()[0])
@seeds_jobs_options()
@click.option("--protocol", default="ours,released", show_default=True, help="Comma-separated.")
@click.option(
    "--variants", default=None, help="Comma-separated subset of the variants. Default: all."
)
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=str(COAT))
@results_dir_option(
    "Where iv4r_factors_runs.csv (resumable) and iv4r_factors.md go.", default=RESULTS
)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    results = Path(args.results_dir)
    variants = list(VARIANTS) if args.variants is None else args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise click.BadParameter(f"unknown {unknown}", param_hint="'--variants'")
    protocols = [p for p in args.protocol.split(",") if p]
    bad = sorted(set(protocols) - {"ours", "released"})
    if bad:
        raise click.BadParameter(
            f"unknown {bad}; allowed: ours, released", param_hint="'--protocol'"
        )
    results.mkdir(parents=True, exist_ok=True)
    runs_csv = results / "iv4r_factors_runs.csv"
    done = read_runs(runs_csv)
    have = {(r["variant"], r["protocol"], int(r["seed"])) for r in done}
    tasks = [(v, p, s) for p in protocols for v in variants for s in range(args.seeds)]
    done += run_missing(
        runs_csv,
        FIELDS,
        run_one,
        [(v, p, s, args.data) for v, p, s in tasks],
        done_keys=have,
        key=lambda task: task[:3],
        jobs=args.jobs,
    )
    rows = [r for r in done if int(r["seed"]) < args.seeds]
    print(write_report(rows, protocols, results))


if __name__ == "__main__":
    main()
