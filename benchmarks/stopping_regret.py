"""Which stopping rule tracks the MCC? Stopping regret per preset, gamma and rule (issue 5).

    .venv/bin/python benchmarks/stopping_regret.py              # docs/results/stopping_regret.md
    .venv/bin/python benchmarks/stopping_regret.py --presets idcf --values 0 --seeds 1 \\
        --users 300 --items 60 --latent-epochs 30 --out-root /tmp/sr --results-dir /tmp/sr

For each preset it runs ``ividr sweep``'s grid with every latent model trained over its whole
latent-epoch budget (``MODEL@epochs``) and the MCC traced every epoch, into
``OUT_ROOT/<preset>/`` (resumable). The training trajectory does not depend on the stopping
rule, so each run's trace gives what every rule (held-out ELBO, held-out exposure NDCG@5, all
epochs) would have kept (:func:`ividr.reporting.trace.replay_stop_rules`, checked against real
runs by the tests): one run per (preset, gamma, model, seed) instead of one per rule.

Writes ``RESULTS_DIR/stopping_regret.md`` (per model: regret, and MCC at the kept checkpoint,
per preset x rule x gamma, mean ± std over seeds) and ``stopping_regret_runs.csv`` (one row per
run and rule), and prints the wall time.
"""

from __future__ import annotations

import csv
import os
import shlex
import sys
import time
from pathlib import Path

import click

from benchmarks._options import sweep_output_options
from ividr.experiments.grid import SweepConfig, format_value, parse_values
from ividr.experiments.reports import format_values
from ividr.experiments.runner import run_sweep
from ividr.experiments.store import finished_runs
from ividr.training.loops import STOP_RULES

FIELDS = ("stopping_regret", "regret_full", "mcc_at_checkpoint", "checkpoint_epoch")
RULE_TITLES = {
    "elbo": "elbo (held-out neg. ELBO, patience)",
    "ndcg": "ndcg (held-out exposure NDCG@5, patience)",
    "epochs": "epochs (all epochs, last state)",
}


def rule_rows(rows: list[dict], preset: str) -> list[dict]:
    """One row per (run, rule) from the sweep's result rows (their ``stop_<rule>_*`` columns)."""
    out = []
    for r in rows:
        for rule in STOP_RULES:
            if r.get(f"stop_{rule}_stopping_regret") is None:
                continue
            out.append(
                {
                    "preset": preset,
                    "gamma": r["value"],
                    "model": r["model"],
                    "seed": r["seed"],
                    "rule": rule,
                    **{f: r.get(f"stop_{rule}_{f}") for f in FIELDS},
                    "n_users": r.get("n_users"),
                    "n_items": r.get("n_items"),
                }
            )
    return out


def cell(values: list[float], seeds: int) -> str:
    """mean ± std over seeds, `` (n=k)`` with fewer than ``seeds``; ``–`` for none."""
    return format_values(values, digits=3, runs=seeds)


def tables(
    rows: list[dict], presets: list[str], gammas: list[float], field: str, seeds: int
) -> list[str]:
    """Markdown lines: per model, rows = preset x rule, columns = gamma."""
    lines: list[str] = []
    header = "| preset | rule | " + " | ".join(f"gamma={format_value(g)}" for g in gammas)
    for model in dict.fromkeys(r["model"] for r in rows):
        lines += ["", f"### {model}", "", header + " |", "|---|---|" + "---|" * len(gammas)]
        for preset in presets:
            for rule in STOP_RULES:
                cells = [
                    cell(
                        [
                            float(r[field])
                            for r in rows
                            if r["model"] == model
                            and r["preset"] == preset
                            and r["rule"] == rule
                            and format_value(r["gamma"]) == format_value(g)
                        ],
                        seeds,
                    )
                    for g in gammas
                ]
                lines.append(f"| {preset} | {rule} | " + " | ".join(cells) + " |")
    return lines


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--presets", default="idcf,ividr-code,dual", show_default=True)
@click.option("--values", default="0,5,10,15,20", show_default=True, help="Gamma values.")
@click.option("--models", default="idcf,ividr", show_default=True, help="Latent models.")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--users", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--items", type=click.IntRange(min=1), default=300, show_default=True)
@click.option(
    "--latent-epochs", type=click.IntRange(min=1), default=None, help="Default: the model's."
)
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True)
@sweep_output_options("sweep-out/stopping_regret", "Where stopping_regret.md and _runs.csv go.")
@click.option(
    "--report-only",
    is_flag=True,
    help="Write the tables from the runs finished so far, for the gammas of --values (a cell "
    "with fewer runs than --seeds says n=k); run nothing.",
)
@click.option("--quiet", is_flag=True)
def main(
    presets: str,
    values: str,
    models: str,
    seeds: int,
    users: int,
    items: int,
    latent_epochs: int | None,
    jobs: int,
    out_root: Path,
    results_dir: Path,
    report_only: bool,
    quiet: bool,
) -> None:
    """Run the stopping-rule sweeps and write the regret tables."""
    command = "benchmarks/stopping_regret.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    preset_list = [p.strip() for p in presets.split(",")]
    gammas = parse_values(values, float)
    # Every epoch kept (stop_on "epochs"): the fit replays each rule on its trace (stop_<rule>_*).
    fit_overrides = {"trace_every": 1, "stop_on": "epochs"}
    if latent_epochs is not None:
        fit_overrides["latent_epochs"] = latent_epochs
    all_rows: list[dict] = []
    start = time.perf_counter()
    ran = 0
    for preset in preset_list:
        config = SweepConfig(
            preset=preset,
            knob="gamma",
            values=gammas,
            models=tuple(m.strip() for m in models.split(",")),
            seeds=seeds,
            n_users=users,
            n_items=items,
            fit_overrides=fit_overrides,
        )

        def progress(done: int, todo: int, run_id: str, preset=preset) -> None:
            if not quiet:
                print(f"  [{preset} {done}/{todo}] {run_id}", file=sys.stderr, flush=True)

        if report_only:
            all_rows += rule_rows(list(finished_runs(out_root / preset).values()), preset)
            continue
        outcome = run_sweep(config, out_root / preset, jobs=jobs, progress=progress)
        ran += len(outcome.ran)
        all_rows += rule_rows(outcome.rows, preset)
    seconds = time.perf_counter() - start
    ordered = sorted(float(g) for g in gammas)
    all_rows = [r for r in all_rows if float(r["gamma"]) in ordered]
    results_dir.mkdir(parents=True, exist_ok=True)
    with open(results_dir / "stopping_regret_runs.csv", "w", newline="") as fh:
        cols = ["preset", "gamma", "model", "seed", "rule", *FIELDS, "n_users", "n_items"]
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows(all_rows)
    md = [
        "# Stopping regret: which rule keeps the epoch with the best MCC?",
        "",
        f"{users} users x {items} items, {seeds} seeds, each latent model trained over its whole "
        "latent-epoch budget with the strong MCC traced every epoch; each rule's checkpoint is "
        "replayed on that trace (the trajectory does not depend on the rule). Rules: "
        + "; ".join(RULE_TITLES[r] for r in STOP_RULES)
        + ". Mean ± std over seeds.",
        "",
        "## Stopping regret (best MCC over the epochs the rule trained, minus the MCC it kept)",
        *tables(all_rows, preset_list, ordered, "stopping_regret", seeds),
        "",
        "## MCC at the kept checkpoint",
        *tables(all_rows, preset_list, ordered, "mcc_at_checkpoint", seeds),
        "",
        "## Regret against the best MCC of the whole budget (one yardstick for all rules)",
        *tables(all_rows, preset_list, ordered, "regret_full", seeds),
        "",
        f"Command: `{command}`",
        "",
        f"Wall time: {ran} runs in {seconds:.0f} s this invocation, jobs={jobs}.",
        "",
    ]
    (results_dir / "stopping_regret.md").write_text("\n".join(md), encoding="utf-8")
    print(f"{ran} runs in {seconds:.0f} s -> {results_dir / 'stopping_regret.md'}")


if __name__ == "__main__":
    main()
