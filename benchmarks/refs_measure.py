"""Reference lines vs models (issue 6): proxy oracle, chance, exposure R^2, and the MCC of iDCF and
IViDR (posterior mean, prior mean alone, and with W shuffled across users).

    .venv/bin/python benchmarks/refs_measure.py --presets idcf --gammas 0,20 --seeds 1
    .venv/bin/python benchmarks/refs_measure.py --presets ividr --users 2000 --items 300

The fits run through :func:`ividr.experiments.runner.run_sweep`: one resumable sweep per preset
(and size), with the knob ``gamma`` over ``--gammas`` and run seed ``s`` both the simulator's and
the model's seed, in ``--out``/``<preset>-<hash of the sweep's config>`` (run the same command
again to finish an interrupted run; its datasets are cached there too). The W-shuffled fits
(``idcf+shuffle``, ``ividr+shuffle``) are the sweep's variant ``shuffle`` (``shuffle_aux``),
limited to the models that had it. The dataset references are read back from each run folder's
metrics.json. Prints a markdown table at the end (also with --report, which fits nothing).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from benchmarks._gamma_folders import config_dir, run_file, run_plan_or_fail
from benchmarks._options import backend_option, sweep_dirs_option
from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.variants import legacy_skip_base, legacy_variants

MODELS = ("idcf", "idcf+shuffle", "ividr", "ividr+shuffle")


def sweep_config(
    preset: str,
    gammas: list[float],
    seeds: int,
    users: int | None,
    items: int | None,
    models: list[str],
    latent_epochs: int | None,
) -> SweepConfig:
    """One preset's sweep: the knob ``gamma`` over ``gammas``, seeds ``0 .. seeds-1`` (each both
    the simulator's and the model's), the plain models and the variant ``shuffle`` limited to
    the models named with ``+shuffle``."""
    plain, variants, limits = legacy_variants(models)
    return SweepConfig(
        preset=preset,
        knob="gamma",
        values=tuple(gammas),
        models=plain,
        seeds=seeds,
        n_users=users,
        n_items=items,
        fit_overrides={} if latent_epochs is None else {"latent_epochs": latent_epochs},
        variants=variants,
        variant_models=limits,
        skip_base=legacy_skip_base(models),
    )


def fit_row(preset: str, sweep_dir: Path, res: dict) -> dict:
    """One fit of a sweep, from its results row and its run folder's metrics.json."""
    model = res["model"] + ("+shuffle" if res.get("variant") == "shuffle" else "")
    metrics = run_file(sweep_dir, res, "metrics.json")
    return {
        "key": f"{preset}|{res['n_users']}x{res['n_items']}|{format_value(res['value'])}"
        f"|{res['seed']}|{model}",
        "preset": preset,
        "size": f"{res['n_users']}x{res['n_items']}",
        "gamma": float(res["value"]),
        "seed": int(res["seed"]),
        "model": model,
        "mcc": res.get("mcc"),
        "mcc_weak": res.get("mcc_weak"),
        "mcc_prior_only": res.get("mcc_prior_only"),
        "ndcg@5": res["ndcg@5"],
        "seconds": res["fit_seconds"],
        "references": metrics["references"],
    }


def report(rows: list[dict]) -> str:
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
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True)
@backend_option()
@sweep_dirs_option("sweep-out/refs-measure")
@click.option("--report", "only_report", is_flag=True, help="Only print the table (fits nothing).")
def main(
    presets: str,
    gammas: str,
    seeds: int,
    users: int | None,
    items: int | None,
    models: str,
    latent_epochs: int | None,
    jobs: int,
    backend: str,
    out: Path,
    only_report: bool,
) -> None:
    try:
        gamma_values = [float(g) for g in gammas.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"must be comma-separated numbers. Got {gammas!r}.", param_hint="--gammas"
        ) from None
    names = models.split(",")
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise click.BadParameter(
            f"must be among {list(MODELS)}. Got {unknown}.", param_hint="--models"
        )
    plan = []
    for preset in presets.split(","):
        config = sweep_config(preset, gamma_values, seeds, users, items, names, latent_epochs)
        plan.append((preset, config_dir(out, config, preset), config))

    if only_report:
        from ividr.experiments.store import finished_runs

        found = {key: list(finished_runs(sweep_dir).values()) for key, sweep_dir, _ in plan}
    else:
        found = run_plan_or_fail(plan, jobs=jobs, backend=backend, name="refs")
    rows = []
    for preset, sweep_dir, _ in plan:
        for res in found.get(preset, []):
            row = fit_row(preset, sweep_dir, res)
            if row["model"] not in names:  # a sweep from before skip_base ran such bases
                continue
            rows.append(row)
            if not only_report:
                prior = row["mcc_prior_only"]
                print(
                    f"  {row['key']}: MCC {row['mcc']:.3f} prior-only "
                    f"{np.nan if prior is None else prior:.3f} ({row['seconds']:.0f} s)",
                    flush=True,
                )
    print(report(rows))


if __name__ == "__main__":
    main()
