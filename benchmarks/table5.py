"""Reproduce the paper's Table 5 (MCC vs gamma, iDCF vs IViDR) and time it.

    .venv/bin/python benchmarks/table5.py                 # the full reproduction
    .venv/bin/python benchmarks/table5.py --device cuda --jobs 8   # on a GPU (8 runs at once)
    .venv/bin/python benchmarks/table5.py --users 300 --items 60 --epochs 2 --seeds 1 \\
        --values 0,20 --presets ividr-code --out-root /tmp/t5 --results-dir /tmp/t5  # a smoke run

For each preset (default: ividr-code, the process behind the paper's figures; ividr, the paper's
Appendix F text; dual, both confounder kinds) it runs ``ividr sweep``'s grid, gamma in
0, 5, 10, 15, 20 x {idcf, ividr} x 5 seeds, into ``OUT_ROOT/<preset>/`` (resumable: run the same
command again after an interruption), writes ``RESULTS_DIR/table5_<preset>.md`` (the summary
tables, the paper's figures beside ours, the command, wall time and runs per hour), and prints
the wall time and runs per hour of each preset and of the whole reproduction.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path

import click

from benchmarks._options import sweep_output_options
from ividr.cli.common import OneLineCommand, check_device_here, device_option
from ividr.experiments.grid import SweepConfig, format_value, parse_values
from ividr.experiments.reports import summary_markdown
from ividr.experiments.runner import run_sweep
from ividr.experiments.summaries import summarize, summarize_references
from ividr.paper import TABLE5_GAMMAS, TABLE5_MCC


def paper_table(config: SweepConfig, rows: list[dict]) -> str:
    """Ours vs the paper's MCC, one line per model, at the gammas of the grid the paper has."""
    paper_at = {g: i for i, g in enumerate(TABLE5_GAMMAS)}
    shared = [v for v in config.values if config.knob == "gamma" and float(v) in paper_at]
    if not shared:
        return ""
    summary = [e for e in summarize(rows, config) if e["metric"] == "mcc"]
    header = "| model | " + " | ".join(f"gamma={format_value(v)}" for v in shared) + " |"
    lines = ["## MCC: ours vs the paper's Table 5", "", header, "|---|" + "---|" * len(shared)]
    for model in config.models:
        if model not in TABLE5_MCC:
            continue
        cells = []
        for value in shared:
            entry = next(
                e
                for e in summary
                if e["model"] == model and format_value(e["value"]) == format_value(value)
            )
            mine = "–" if entry["mean"] is None else f"{entry['mean']:.4f}"
            cells.append(f"{mine} (paper {TABLE5_MCC[model][paper_at[float(value)]]:.4f})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def device_label(device: str) -> str:
    """The device a sweep ran on, with the GPU's name (``cuda:0 (NVIDIA ...)``)."""
    import torch

    from ividr.training.devices import resolve_device

    resolved = resolve_device(device)
    if resolved.type != "cuda":
        return str(resolved)
    return f"{resolved} ({torch.cuda.get_device_name(resolved)}, {torch.cuda.device_count()} GPU)"


def collapse_line(rows: list[dict]) -> str:
    """How many fits collapsed: posterior MCC below half of the fit's own prior-only MCC."""
    fits = [r for r in rows if r.get("mcc") is not None and r.get("mcc_prior_only") is not None]
    low = [r["run_id"] for r in fits if r["mcc"] < 0.5 * r["mcc_prior_only"]]
    shown = ", ".join(low[:10]) + (", ..." if len(low) > 10 else "")
    return (
        f"Collapsed fits (posterior MCC below half of the fit's own prior-only MCC): "
        f"{len(low)} of {len(fits)}" + (f" ({shown})" if low else "") + "\n"
    )


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--presets", default="ividr-code,ividr,dual", show_default=True)
@click.option("--values", default="0,5,10,15,20", show_default=True, help="Gamma values.")
@click.option("--models", default="idcf,ividr", show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--data-seeds",
    type=click.IntRange(min=1),
    default=None,
    help="Cross the seeds (replaces --seeds): simulator seeds 0..N-1 x --model-seeds; the "
    "tables then split the spread into between-draw and within-draw parts.",
)
@click.option("--model-seeds", type=click.IntRange(min=1), default=None)
@click.option(
    "--restarts",
    type=click.IntRange(min=1),
    default=None,
    help="Latent restarts per fit. Default: the model's.",
)
@click.option("--users", type=click.IntRange(min=1), default=None, help="Default: the preset's.")
@click.option("--items", type=click.IntRange(min=1), default=None, help="Default: the preset's.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default: the model's.")
@click.option(
    "--latent-epochs", type=click.IntRange(min=1), default=None, help="Default: the model's."
)
@click.option(
    "--trace-every",
    type=click.IntRange(min=0),
    default=None,
    help="MCC trace every K latent epochs (0 = off, saves ~25% of a fit). Default: the fit's "
    "(every epoch on simulated data).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Runs in parallel (local processes, one torch thread each by default).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch threads per run.")
@device_option("every run (ividr sweep --device: on one GPU all --jobs runs share it)")
@sweep_output_options("sweep-out/table5", "Where table5_<preset>.md go.")
@click.option("--quiet", is_flag=True)
def main(
    presets: str,
    values: str,
    models: str,
    seeds: int,
    data_seeds: int | None,
    model_seeds: int | None,
    restarts: int | None,
    users: int | None,
    items: int | None,
    epochs: int | None,
    latent_epochs: int | None,
    trace_every: int | None,
    jobs: int,
    threads: int | None,
    device: str,
    out_root: Path,
    results_dir: Path,
    quiet: bool,
) -> None:
    """Run the Table-5 sweeps and print wall time and runs per hour."""
    check_device_here(device)  # before anything is written
    command = "benchmarks/table5.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results_dir.mkdir(parents=True, exist_ok=True)
    fit_overrides: dict = {}
    if latent_epochs is not None:
        fit_overrides["latent_epochs"] = latent_epochs
    if trace_every is not None:
        fit_overrides["trace_every"] = trace_every
    if restarts is not None:
        fit_overrides["restarts"] = restarts
    grand_start = time.perf_counter()
    grand_runs = 0
    for preset in [p.strip() for p in presets.split(",")]:
        config = SweepConfig(
            preset=preset,
            knob="gamma",
            values=parse_values(values, float),
            models=tuple(m.strip() for m in models.split(",")),
            seeds=seeds,
            data_seeds=data_seeds,
            model_seeds=model_seeds,
            n_users=users,
            n_items=items,
            epochs=epochs,
            fit_overrides=fit_overrides,
        )
        total = len(config.runs())

        def progress(done: int, todo: int, run_id: str, preset=preset) -> None:
            if not quiet:
                print(f"  [{preset} {done}/{todo}] {run_id}", file=sys.stderr, flush=True)

        print(f"{preset}: {total} runs into {out_root / preset}", file=sys.stderr, flush=True)
        outcome = run_sweep(
            config,
            out_root / preset,
            jobs=jobs,
            threads=threads,
            progress=progress,
            device=device,
        )
        ran = len(outcome.ran)
        grand_runs += ran
        per_hour = ran / outcome.seconds * 3600 if ran else float("nan")
        fit_total = sum(float(r.get("fit_seconds") or 0.0) for r in outcome.rows)
        timing = (
            f"{ran} runs in {outcome.seconds:.0f} s this invocation "
            f"({per_hour:.0f} runs/hour; {len(outcome.skipped)} already done, "
            f"{len(outcome.failures)} failed), jobs={jobs}, {os.cpu_count()} cores, "
            f"device {device_label(device)}, {platform.node()}; the {len(outcome.rows)} "
            f"finished fits took {fit_total / 60:.0f} min of fit wall time in all"
        )
        md = summary_markdown(
            summarize(outcome.rows, config),
            config,
            references=summarize_references(outcome.rows, config),
        )
        md += "\n" + paper_table(config, outcome.rows)
        md += "\n" + collapse_line(outcome.rows)
        md += f"\nCommand: `{command}`\n\nWall time: {timing}\n"
        target = results_dir / f"table5_{preset}.md"
        target.write_text(md, encoding="utf-8")
        print(f"{preset}: {timing} -> {target}", flush=True)
    grand = time.perf_counter() - grand_start
    rate = grand_runs / grand * 3600 if grand_runs else float("nan")
    print(
        f"total: {grand_runs} runs in {grand:.0f} s ({grand / 60:.1f} min), {rate:.0f} runs/hour, "
        f"device {device_label(device)}, jobs={jobs}"
    )


if __name__ == "__main__":
    main()
