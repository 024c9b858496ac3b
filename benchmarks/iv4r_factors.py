"""IV4R-MF against MF on Coat, one factor of the treatment reconstruction at a time (§4.1).

The former IV4R-MF (a 2-layer MLP0 on the learned item embedding, unbounded heads a = 1 + MLP,
item embedding initialised U(-0.1, 0.1)) scored below MF on Coat. This benchmark fits MF and
IV4R-MF variants that change one factor at a time, from the former settings and back from the
new ones (the fourth factor, the shared shift, is chosen on validation in the new ones), for
seeds 0..9 under each protocol's recommender settings at a fixed lr 1e-3 and weight decay 1e-5
(no grid, so that only the factor changes): protocol
"ours" = BCE, patience 5, 100 epochs; "released" = MSE on the 0/1 label, patience 20, 1000
epochs. Validation NDCG@5 is what a choice may look at; test NDCG@5 is reported beside it.

The fits run as one resumable sweep over the Coat folder (:func:`ividr.experiments.runner.run_sweep`
through :func:`benchmarks._gamma_folders.run_plan_or_fail`; ``--jobs``, ``--backend local|ray``;
run the same command again to finish): MF and IV4R-MF with the sweep's fit settings, each factor
a sweep variant (its IV4R-MF parameters, plus ``protocol`` for the released protocol's copy),
so MF is the base of ``mf`` and "IV4R-MF new" the base of ``iv4r-mf`` (the new settings are
IV4R-MF's defaults). Writes ``iv4r_factors_runs.csv`` (one row per fit, rebuilt from the
sweep's rows) and ``iv4r_factors.md`` (mean over seeds, paired difference to MF on validation
and test).

Usage: ``python benchmarks/iv4r_factors.py [--seeds 10] [--jobs 2] [--protocol ours,released]
[--out sweep-out/iv4r-factors]``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np

from benchmarks._gamma_folders import config_dir, run_plan_or_fail, write_runs_csv
from benchmarks._options import (
    backend_option,
    results_dir_option,
    seeds_jobs_options,
    sweep_dirs_option,
)
from ividr.experiments.grid import SweepConfig
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
#: The variants' sweep names (identifiers); MF and the new IV4R-MF are the bases of their models.
SWEEP_NAMES: dict[str, str] = {
    "IV4R-MF former (MLP0 2 layers, 1 + MLP heads, init 0.1)": "former",
    "former, MLP0 = identity": "former_mlp0_identity",
    "former, sigmoid heads": "former_sigmoid",
    "former, init 0.01": "former_init001",
    "new, MLP0 2 layers": "new_mlp0_2",
    "new, 1 + MLP heads": "new_affine",
    "new, init 0.1": "new_init01",
    "new, no shift": "new_shift0",
    "new, shift 1 always": "new_shift1",
}
BASES = {"MF": "mf", "IV4R-MF new (identity, sigmoid, init 0.01, shift auto)": "iv4r-mf"}
#: Every fit's settings but the factor: a fixed lr and weight decay, no grid (only the factor
#: changes), no bootstrap.
FIT_SETTINGS = {"grid": False, "lr": 1e-3, "weight_decay": 1e-5, "n_boot": 0}


def sweep_variant(label: str, protocol: str, protocols: list[str]) -> str:
    """The sweep variant that fits ``label`` under ``protocol``: the first protocol is the
    sweep's own setting (a base is the unnamed variant ""), each other one is a variant named
    after it for the bases and ``<factor>_<protocol>`` for the factors."""
    suffix = "" if protocol == protocols[0] else protocol
    return "_".join(filter(None, (SWEEP_NAMES.get(label), suffix)))


def sweep_config(data: Path, variants: list[str], protocols: list[str], seeds: int) -> SweepConfig:
    """The sweep of ``variants`` (labels of :data:`VARIANTS`) under ``protocols``, seeds 0..N-1
    (:func:`sweep_variant` names each fit's variant)."""
    named: dict[str, dict] = {}
    for protocol in protocols:
        extra = {} if protocol == protocols[0] else {"protocol": protocol}
        for label in variants:
            name = sweep_variant(label, protocol, protocols)
            if name:  # a base's variant changes the protocol only
                named[name] = {**({} if label in BASES else VARIANTS[label][1]), **extra}
    models = tuple(m for m in ("mf", "iv4r-mf") if any(VARIANTS[v][0] == m for v in variants))
    bases = tuple(BASES[v] for v in variants if v in BASES)
    limits = {name: bases for name in protocols if name in named and set(bases) != set(models)}
    settings = dict(FIT_SETTINGS)
    if protocols[0] != "ours":
        settings["protocol"] = protocols[0]
    return SweepConfig(
        preset="data",
        knob="data",
        values=("data",),
        models=models,
        seeds=seeds,
        fit_overrides=settings,
        variants=named,
        variant_models=limits,
        data=str(Path(data).resolve()),
    )


def label_rows(rows: list[dict], variants: list[str], protocols: list[str]) -> list[dict]:
    """The sweep's result rows as runs rows (:data:`FIELDS`), in the order of ``protocols``,
    ``variants`` and seeds; a base run of a model that no asked variant names is left out."""
    names = {
        (VARIANTS[label][0], sweep_variant(label, protocol, protocols)): (label, protocol)
        for protocol in protocols
        for label in variants
    }
    order = {key: i for i, key in enumerate(names.values())}
    out = []
    for row in rows:
        key = (row["model"], row.get("variant") or "")
        if key not in names:
            continue
        label, protocol = names[key]
        out.append(
            {
                "variant": label,
                "protocol": protocol,
                "seed": int(row["seed"]),
                "val_ndcg@5": row["val_ndcg@5"],
                "ndcg@5": row["ndcg@5"],
                "epochs_run": row["epochs_run"],
                "seconds": round(float(row["fit_seconds"]), 2),
            }
        )
    return sorted(out, key=lambda r: (order[(r["variant"], r["protocol"])], r["seed"]))


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
    "--variants",
    default=None,
    help="Comma-separated subset of the variants, by sweep name (former, new_shift0, ...; mf "
    "and iv4r-mf for MF and the new IV4R-MF) or by a label without a comma (MF). Default: all.",
)
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=str(COAT))
@backend_option()
@sweep_dirs_option("sweep-out/iv4r-factors")
@results_dir_option("Where iv4r_factors_runs.csv and iv4r_factors.md go.", default=RESULTS)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    results = Path(args.results_dir)
    by_name = {name: label for label, name in SWEEP_NAMES.items()} | {
        model: label for label, model in BASES.items()
    }
    variants = (
        list(VARIANTS)
        if args.variants is None
        else [by_name.get(v, v) for v in args.variants.split(",")]
    )
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise click.BadParameter(f"unknown {unknown}", param_hint="'--variants'")
    protocols = [p for p in args.protocol.split(",") if p]
    bad = sorted(set(protocols) - {"ours", "released"})
    if bad:
        raise click.BadParameter(
            f"unknown {bad}; allowed: ours, released", param_hint="'--protocol'"
        )
    config = sweep_config(Path(args.data), variants, protocols, args.seeds)
    sweep_dir = config_dir(args.out, config, "iv4r-factors")
    found = run_plan_or_fail(
        [("main", sweep_dir, config)], jobs=args.jobs, backend=args.backend, name="iv4r factors"
    )
    rows = label_rows(found["main"], variants, protocols)
    results.mkdir(parents=True, exist_ok=True)
    write_runs_csv(results / "iv4r_factors_runs.csv", rows, FIELDS)
    print(write_report(rows, protocols, results))


if __name__ == "__main__":
    main()
