"""Reference lines vs models (issue 6): proxy oracle, chance, exposure R^2, and the MCC of iDCF and
IViDR (posterior mean, prior mean alone, and with W shuffled across users).

Resumable: every finished fit is appended to ``--out`` (JSON lines) and skipped on a rerun;
datasets are cached under ``--cache``. Prints a markdown table at the end (also with --report).

    .venv/bin/python benchmarks/refs_measure.py --presets idcf --gammas 0,20 --seeds 1
    .venv/bin/python benchmarks/refs_measure.py --presets ividr --users 2000 --items 300
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MODELS = ("idcf", "idcf+shuffle", "ividr", "ividr+shuffle")


def _dataset_dir(cache: Path, preset: str, gamma: float, seed: int, users, items) -> Path:
    from simulator.config import SimConfig
    from simulator.generate import generate
    from simulator.writer import write_dataset

    overrides = {"gamma": gamma, "seed": seed}
    if users:
        overrides["n_users"] = users
    if items:
        overrides["n_items"] = items
    config = SimConfig.from_preset(preset, **overrides)
    path = cache / f"{preset}_{config.n_users}x{config.n_items}_gamma={gamma:g}_seed={seed}"
    if not (path / "meta.json").is_file():
        write_dataset(generate(config), path, overwrite=path.exists())
    return path


def _done(out: Path) -> dict[str, dict]:
    if not out.is_file():
        return {}
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {r["key"]: r for r in rows}


def report(out: Path) -> str:
    rows = list(_done(out).values())
    lines = [
        "| preset (users x items) | gamma | seed | proxy oracle (strong/weak) | chance mean/p95 "
        "| R^2 exposure / W | model | MCC | prior-only MCC | MCC, W shuffled "
        "| prior-only, shuffled |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        groups.setdefault((r["preset"], r["size"], r["gamma"], r["seed"]), {})[r["model"]] = r
    for (preset, size, gamma, seed), fits in sorted(groups.items()):
        any_row = next(iter(fits.values()))
        ref = any_row["references"]
        r2 = ref["r2_exposure"] or {}
        for base in ("idcf", "ividr"):
            plain, shuf = fits.get(base), fits.get(base + "+shuffle")
            if plain is None and shuf is None:
                continue

            def cell(row, key):
                return "–" if row is None or row.get(key) is None else f"{row[key]:.3f}"

            lines.append(
                f"| {preset} ({size}) | {gamma:g} | {seed} | "
                f"{ref['mcc_proxy_oracle']['strong']:.3f} / {ref['mcc_proxy_oracle']['weak']:.3f}"
                f" | {ref['mcc_chance']['mean']:.3f} / {ref['mcc_chance']['p95']:.3f} | "
                f"{r2.get('exposure', float('nan')):.3f} / {r2.get('proxy', float('nan')):.3f} | "
                f"{base} | {cell(plain, 'mcc')} | {cell(plain, 'mcc_prior_only')} | "
                f"{cell(shuf, 'mcc')} | {cell(shuf, 'mcc_prior_only')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="idcf,ividr-code,ividr")
    parser.add_argument("--gammas", default="0,20")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/refs_runs.jsonl"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ividr-refs-cache"))
    parser.add_argument("--report", action="store_true", help="Only print the table.")
    args = parser.parse_args()
    if args.report:
        print(report(args.out))
        return

    import torch

    from ividr.api import FitConfig, fit_model
    from simulator.loaders import load_dataset
    from simulator.references import references_for

    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    done = _done(args.out)
    for preset in args.presets.split(","):
        for gamma in (float(g) for g in args.gammas.split(",")):
            for seed in range(args.seeds):
                path = _dataset_dir(args.cache, preset, gamma, seed, args.users, args.items)
                data = load_dataset(path)
                size = f"{data.n_users}x{data.n_items}"
                t0 = time.perf_counter()
                refs = references_for(path, data)
                print(f"{path.name}: references {time.perf_counter() - t0:.1f} s", flush=True)
                for model in args.models.split(","):
                    key = f"{preset}|{size}|{gamma:g}|{seed}|{model}"
                    if key in done:
                        continue
                    base, _, suffix = model.partition("+")
                    config = FitConfig(model=base, seed=seed, shuffle_aux=suffix == "shuffle")
                    with torch.random.fork_rng():
                        torch.manual_seed(seed)
                        result = fit_model(data, config)
                    m = result.metrics
                    row = {
                        "key": key,
                        "preset": preset,
                        "size": size,
                        "gamma": gamma,
                        "seed": seed,
                        "model": model,
                        "mcc": m.get("mcc"),
                        "mcc_weak": m.get("mcc_weak"),
                        "mcc_prior_only": m.get("mcc_prior_only"),
                        "ndcg@5": m["ndcg@5"],
                        "seconds": m["seconds"],
                        "references": refs,
                    }
                    with args.out.open("a") as fh:
                        fh.write(json.dumps(row, default=float) + "\n")
                    print(
                        f"  {model}: MCC {row['mcc']:.3f} prior-only "
                        f"{np.nan if row['mcc_prior_only'] is None else row['mcc_prior_only']:.3f}"
                        f" ({m['seconds']:.0f} s)",
                        flush=True,
                    )
    print(report(args.out))


if __name__ == "__main__":
    main()
