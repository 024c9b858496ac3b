"""Reference lines vs models (issue 6): proxy oracle, chance, exposure R^2, and the MCC of iDCF and
IViDR (posterior mean, prior mean alone, and with W shuffled across users).

Resumable: every finished fit is appended to ``--out`` (JSON lines) and skipped on a rerun;
datasets are cached under ``--cache``. Prints a markdown table at the end (also with --report).

    .venv/bin/python benchmarks/refs_measure.py --presets idcf --gammas 0,20 --seeds 1
    .venv/bin/python benchmarks/refs_measure.py --presets ividr --users 2000 --items 300
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from simulator.files import dumps_json

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


@click.command(help=__doc__.splitlines()[0])
@click.option("--presets", default="idcf,ividr-code,ividr", show_default=True)
@click.option("--gammas", default="0,20", show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--users", type=click.IntRange(min=10), default=None, help="Default: the preset's.")
@click.option("--items", type=click.IntRange(min=10), default=None, help="Default: the preset's.")
@click.option("--models", default=",".join(MODELS), show_default=True)
@click.option(
    "--latent-epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Max latent epochs (smoke runs). Default: the model's.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("benchmarks/results/refs_runs.jsonl"),
    show_default=True,
    help="Finished fits, one JSON line each (resumable).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/tmp/ividr-refs-cache"),
    show_default=True,
    help="Generated datasets.",
)
@click.option("--report", "only_report", is_flag=True, help="Only print the table.")
def main(
    presets: str,
    gammas: str,
    seeds: int,
    users: int | None,
    items: int | None,
    models: str,
    latent_epochs: int | None,
    out: Path,
    cache: Path,
    only_report: bool,
) -> None:
    if only_report:
        print(report(out))
        return
    try:
        gamma_values = [float(g) for g in gammas.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"must be comma-separated numbers. Got {gammas!r}.", param_hint="--gammas"
        ) from None
    unknown = sorted(set(models.split(",")) - set(MODELS))
    if unknown:
        raise click.BadParameter(
            f"must be among {list(MODELS)}. Got {unknown}.", param_hint="--models"
        )

    import torch

    from ividr.api import FitConfig, fit_model
    from simulator.loaders import load_dataset
    from simulator.references import references_for

    torch.set_num_threads(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    extra = {} if latent_epochs is None else {"latent_epochs": latent_epochs}
    for preset in presets.split(","):
        for gamma in gamma_values:
            for seed in range(seeds):
                path = _dataset_dir(cache, preset, gamma, seed, users, items)
                data = load_dataset(path)
                size = f"{data.n_users}x{data.n_items}"
                t0 = time.perf_counter()
                refs = references_for(path, data)
                print(f"{path.name}: references {time.perf_counter() - t0:.1f} s", flush=True)
                for model in models.split(","):
                    key = f"{preset}|{size}|{gamma:g}|{seed}|{model}"
                    if key in done:
                        continue
                    base, _, suffix = model.partition("+")
                    shuffle = suffix == "shuffle"
                    config = FitConfig(model=base, seed=seed, shuffle_aux=shuffle, **extra)
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
                    with out.open("a") as fh:
                        fh.write(dumps_json(row, indent=None))
                    print(
                        f"  {model}: MCC {row['mcc']:.3f} prior-only "
                        f"{np.nan if row['mcc_prior_only'] is None else row['mcc_prior_only']:.3f}"
                        f" ({m['seconds']:.0f} s)",
                        flush=True,
                    )
    print(report(out))


if __name__ == "__main__":
    main()
