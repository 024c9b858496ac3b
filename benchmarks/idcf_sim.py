"""Peer benchmark: our models on iDCF's own published synthetic data (issue 7).

    .venv/bin/python benchmarks/idcf_sim.py   # the full benchmark: 4 models x 5 gammas x 10 seeds
    .venv/bin/python benchmarks/idcf_sim.py --seeds 1 --values 0 --models idcf \\
        --latent-epochs 30 --epochs 2 --out /tmp/idcf-sim --results-dir /tmp/idcf-sim  # a smoke run

It fits iDCF-W, iDCF, IV4R-MF and IViDR (``idcf-w,idcf,iv4r-mf,ividr``) on every ``gamma_<v>``
folder of the external dataset ``idcf-sim`` (docs/data.md; 2000 users x 300 items, the iDCF paper's
Appendix B data) with seeds 0..9 through :func:`ividr.experiments.runner.run_sweep` into ``OUT``
(default ``sweep-out/idcf-sim``, gitignored; resumable: run the same command again after an
interruption, finished runs are kept). Then it writes ``RESULTS_DIR/idcf_sim.md`` (MCC strong and
weak, NDCG@5 / Recall@5, fit seconds, the reference figures of the data's README, the proxy-oracle
and chance levels, the goals check, the command and the wall time) and
``RESULTS_DIR/idcf_sim_runs.csv`` (one row per run), and prints the goals check.

Nothing here looks at the truth while fitting: every model early-stops on its own criteria
(held-out users' ELBO for the latent stage, validation NDCG@5 for the recommender); the true
confounder is only used to score the final posterior mean.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from benchmarks._gamma_folders import (
    command_line,
    footer,
    gamma_folder_options,
    load_text,
    pick_values,
    raise_failures,
    run_plan,
    write_runs_csv,
)
from benchmarks._idcf_sim_goals import (
    REF_GAMMAS,
    REF_OWN_CODE,
    REF_PUBLISHED_IVAE,
    REF_PUBLISHED_VAE,
    REF_TABLE4_IDCF,
    REF_TABLE4_IDCFW,
    goals,
    lookup,
)
from ividr.experiments.data_folders import data_sweep_values
from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.reports import format_cell
from ividr.experiments.summaries import summarize
from ividr.registry import DISPLAY_NAMES
from simulator.locations import default_dataset_path, display_path

DEFAULT_DATA = default_dataset_path("idcf-sim")
DEFAULT_MODELS = "idcf-w,idcf,iv4r-mf,ividr"
#: How the reports name the models (the registry's names).
MODEL_LABELS = DISPLAY_NAMES

RUN_COLUMNS = (
    "gamma",
    "model",
    "seed",
    "mcc",
    "mcc_weak",
    "ndcg@5",
    "recall@5",
    "fit_seconds",
    "epochs_run",
    "val_ndcg@5",
    "run_seconds",
)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def _ref_cells(values, ref: tuple[float, ...]) -> list[str]:
    at = {g: i for i, g in enumerate(REF_GAMMAS)}
    return [f"{ref[at[float(v)]]:.4f}" if float(v) in at else "–" for v in values]


def metric_table(summary, config: SweepConfig, metric: str, *, references: bool) -> list[str]:
    values = config.values
    lines = [
        "| model | " + " | ".join(f"γ={format_value(v)}" for v in values) + " |",
        "|---|" + "---|" * len(values),
    ]
    for model in config.models:
        cells = [
            format_cell(e["mean"], e["std"], n=e["n"], runs=config.seeds)
            for e in (lookup(summary, metric, model, v) for v in values)
        ]
        lines.append(f"| ours: {MODEL_LABELS.get(model, model)} | " + " | ".join(cells) + " |")
    if references:
        own = [
            format_cell(*REF_OWN_CODE[float(v)][:2], digits=3, low=REF_OWN_CODE[float(v)][2])
            if float(v) in REF_OWN_CODE
            else "–"
            for v in values
        ]
        lines += [
            "| ref: iDCF's own code, run here (10 seeds; mean ± std (min)) | "
            + " | ".join(own)
            + " |",
            "| ref: iDCF's published posterior means (iVAE) | "
            + " | ".join(_ref_cells(values, REF_PUBLISHED_IVAE))
            + " |",
            "| ref: iDCF's published posterior means (VAE) | "
            + " | ".join(_ref_cells(values, REF_PUBLISHED_VAE))
            + " |",
            "| ref: iDCF paper Table 4, iDCF | "
            + " | ".join(_ref_cells(values, REF_TABLE4_IDCF))
            + " |",
            "| ref: iDCF paper Table 4, iDCF-W | "
            + " | ".join(_ref_cells(values, REF_TABLE4_IDCFW))
            + " |",
        ]
    return lines


def spread_table(rows: list[dict], config: SweepConfig, metric: str = "mcc") -> list[str]:
    """Median [min, max] over seeds: the mean hides seeds that land in a poor solution."""
    lines = [
        "| model | " + " | ".join(f"γ={format_value(v)}" for v in config.values) + " |",
        "|---|" + "---|" * len(config.values),
    ]
    for model in config.models:
        cells = []
        for v in config.values:
            vals = [
                float(r[metric])
                for r in rows
                if r["model"] == model
                and format_value(r["value"]) == format_value(v)
                and r.get(metric) is not None
            ]
            cells.append(
                f"{np.median(vals):.3f} [{min(vals):.3f}, {max(vals):.3f}]" if vals else "–"
            )
        if any(c != "–" for c in cells):
            lines.append(f"| {MODEL_LABELS.get(model, model)} | " + " | ".join(cells) + " |")
    return lines


def seconds_table(rows: list[dict], config: SweepConfig) -> list[str]:
    lines = [
        "| model | "
        + " | ".join(f"γ={format_value(v)}" for v in config.values)
        + " | all (mean) | all (max) |",
        "|---|" + "---|" * (len(config.values) + 2),
    ]
    for model in config.models:
        cells = []
        for v in config.values:
            secs = [
                float(r["fit_seconds"])
                for r in rows
                if r["model"] == model and format_value(r["value"]) == format_value(v)
            ]
            cells.append(f"{np.mean(secs):.1f}" if secs else "–")
        every = [float(r["fit_seconds"]) for r in rows if r["model"] == model]
        tail = [f"{np.mean(every):.1f}", f"{np.max(every):.1f}"] if every else ["–", "–"]
        lines.append(f"| {MODEL_LABELS.get(model, model)} | " + " | ".join(cells + tail) + " |")
    own = ["~25" if float(v) == 0 else "–" for v in config.values]
    lines.append("| ref: iDCF's own code (iVAE stage only) | " + " | ".join(own) + " | | |")
    return lines


# --------------------------------------------------------------------------------------------
# Reference levels of this data
# --------------------------------------------------------------------------------------------
def reference_levels(config: SweepConfig, latent_dim: int = 2) -> dict:
    """Proxy-oracle MCC (group means of C by W) and the chance level, on the first gamma folder."""
    from ividr.experiments.grid import RunSpec
    from ividr.experiments.run import dataset_path
    from metrics import chance_mcc, proxy_oracle
    from simulator.loaders import load_dataset

    spec = RunSpec(config.knob, config.values[0], config.models[0], 0)
    data = load_dataset(dataset_path(Path(config.data), config, spec))
    truth = data.confounder
    oracle = proxy_oracle(truth, data.proxy)
    chance = chance_mcc(data.n_users, truth.shape[1], latent_dim)
    return {"oracle": oracle, "chance": chance, "n_users": data.n_users, "d": truth.shape[1]}


def mixing_lines(rows: list[dict], config: SweepConfig, gap: float = 0.05) -> list[str]:
    """How many fits have a strong MCC well below their weak MCC (latents linearly mixed)."""
    parts = []
    for model in config.models:
        both = [
            (float(r["mcc"]), float(r["mcc_weak"]))
            for r in rows
            if r["model"] == model and r.get("mcc") is not None and r.get("mcc_weak") is not None
        ]
        if not both:
            continue
        mixed = sum(w - s > gap for s, w in both)
        mean_gap = float(np.mean([w - s for s, w in both]))
        parts.append(
            f"{MODEL_LABELS.get(model, model)} {mixed}/{len(both)} fits "
            f"(mean weak − strong {mean_gap:+.4f})"
        )
    if not parts:
        return []
    return [
        f"Fits whose strong MCC is more than {gap} below their weak MCC (the latents carry C but "
        "as a linear mixture of its coordinates, which the strong, permutation-matched MCC "
        "penalises and the weak one does not): " + "; ".join(parts) + ".",
        "",
    ]


def time_fits(
    config: SweepConfig, n_fits: int, threads: int, value=0
) -> dict[str, float | int | list[float]]:
    """Fit iDCF ``n_fits`` times one after another in this process (seeds 0..), timed.

    Wall seconds (``perf_counter``) and CPU seconds of this process (``process_time``) of
    ``fit_model``'s fit, plus the 1-minute load average before and after: the sweep's fit
    seconds are wall time with ``jobs`` fits side by side and whatever else the machine runs.
    """
    import torch

    from ividr.api import FitConfig, fit_model
    from ividr.experiments.grid import RunSpec
    from ividr.experiments.run import dataset_path
    from simulator.loaders import load_dataset

    spec = RunSpec(config.knob, value, "idcf", 0)
    data = load_dataset(dataset_path(Path(config.data), config, spec))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    walls, cpus, mccs = [], [], []
    load_before = os.getloadavg()[0]
    try:
        for seed in range(n_fits):
            kwargs = dict(config.fit_overrides)
            if config.epochs is not None:
                kwargs["epochs"] = config.epochs
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                result = fit_model(data, FitConfig(model="idcf", seed=seed, **kwargs))
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            mccs.append(float(result.metrics.get("mcc", float("nan"))))
    finally:
        torch.set_num_threads(previous)
    return {
        "n": n_fits,
        "value": value,
        "wall": walls,
        "cpu": cpus,
        "mcc": mccs,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "threads": threads,
    }


def timing_lines(timing: dict | None) -> list[str]:
    if not timing:
        return []
    walls, cpus = timing["wall"], timing["cpu"]
    return [
        f"Timing pass (after the sweep, `--timing-fits {timing['n']}`): iDCF fitted "
        f"{timing['n']} times one after another on γ={format_value(timing['value'])}, "
        f"{timing['threads']} torch thread, nothing else of this benchmark running: wall "
        f"{np.mean(walls):.1f} s mean / {np.max(walls):.1f} s max, CPU "
        f"{np.mean(cpus):.1f} s mean / {np.max(cpus):.1f} s max "
        f"(per fit: {', '.join(f'{w:.1f}' for w in walls)} s wall); 1-minute load average "
        f"{timing['load_before']:.1f} before, {timing['load_after']:.1f} after (2 cores: above "
        "~2 the fits share the CPU with other work and wall time overstates the cost).",
        "",
    ]


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def write_report(
    config: SweepConfig,
    rows: list[dict],
    *,
    results_dir: Path,
    command: str,
    wall: dict,
    invocation: str,
    jobs: int,
    threads: int,
    timing: dict | None = None,
) -> tuple[Path, list[tuple[str, bool, str]]]:
    summary = summarize(rows, config)
    levels = reference_levels(config)
    oracle, chance = levels["oracle"], levels["chance"]
    checks = goals(rows, summary, config, timing)
    n_fits = len(rows)
    total = len(config.runs())
    lines = [
        "# Peer benchmark: iDCF's synthetic data (idcf-sim)",
        "",
        f"Data: `{display_path(config.data)}/gamma_<γ>` (iDCF paper, Appendix B: "
        f"{levels['n_users']} users x 300 items, 5 proxy levels, 2-dim true confounder C). "
        f"Models: {', '.join(MODEL_LABELS.get(m, m) for m in config.models)}; "
        f"seeds 0..{config.seeds - 1} "
        f"(the seed seeds the model and the 30/70 validation/test split of the random set). "
        f"{n_fits}/{total} fits finished.",
        "",
        "Defaults of `ividr.api.FitConfig` throughout"
        + (f" except {config.fit_overrides}" if config.fit_overrides else "")
        + (f", epochs={config.epochs}" if config.epochs is not None else "")
        + ". No checkpoint is selected by the truth: the latent stage early-stops on the"
        " held-out users' ELBO, the recommender on validation NDCG@5; C only scores the final"
        " posterior mean.",
        "",
        "Mean ± std over seeds (sample std, ddof=1); `(n=k)` marks a cell with fewer runs "
        "than seeds.",
        "",
        "## MCC (strong, Pearson, posterior mean vs true C)",
        "",
        *metric_table(summary, config, "mcc", references=True),
        "",
        f"Reference levels of this data: **proxy oracle {oracle['mcc_strong']:.4f}** "
        f"(weak {oracle['mcc_weak']:.4f}; W explains R² = {oracle['r2']:.3f} of C, "
        f"{oracle['n_groups']} groups of >= {oracle['min_group_size']} users; the same C and W at "
        f"every γ) and **chance {chance['mean']:.4f}** (95th percentile {chance['p95']:.4f}; "
        f"{chance['n_draws']} draws of independent 2-d latents for {levels['n_users']} users). "
        "The proxy oracle is the MCC of the best function of W alone (each user's group mean of C "
        "over its W level): a model that only learned W, with no information from the exposures, "
        "scores about that much, so MCC above it would show the exposures adding information "
        "about C beyond W, and MCC well below it means the model has not yet recovered what W "
        "already tells. Chance is what latents unrelated to C score: MCC near it means nothing "
        "was recovered.",
        "",
        "IV4R-MF learns no confounder, so it has no MCC (–). iDCF-W is iDCF with a plain VAE "
        "(no W in the latent stage): compare it with the published VAE posterior means and "
        "Table 4's iDCF-W. The published posterior means are single runs; iDCF's own code "
        "was run here for 10 seeds at γ=0, 5, 10 and 20.",
        "",
        "MCC median [min, max] over seeds:",
        "",
        *spread_table(rows, config),
        "",
        "## MCC (weak: linear map fitted on half the users, scored on the rest)",
        "",
        *metric_table(summary, config, "mcc_weak", references=False),
        "",
        *mixing_lines(rows, config),
        "## NDCG@5 (unbiased test set: 70% of each seed's random.csv users)",
        "",
        *metric_table(summary, config, "ndcg@5", references=False),
        "",
        "## Recall@5 (unbiased test set)",
        "",
        *metric_table(summary, config, "recall@5", references=False),
        "",
        f"## Fit seconds (mean per fit; {threads} torch thread per fit, {jobs} fits side by side)",
        "",
        *seconds_table(rows, config),
        "",
        "Wall-clock seconds of each fit inside the sweep, " + load_text(wall) + ".",
        "",
        *timing_lines(timing),
        "## Goals (issue 7)",
        "",
        "| goal | result | figures |",
        "|---|---|---|",
        *[f"| {g} | {'PASS' if ok else 'FAIL'} | {f} |" for g, ok, f in checks],
        "",
        *footer(command, wall, invocation, "idcf_sim_runs.csv"),
    ]
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / "idcf_sim.md"
    target.write_text("\n".join(lines), encoding="utf-8")
    write_runs_csv(results_dir / "idcf_sim_runs.csv", rows, RUN_COLUMNS)
    return target, checks


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@gamma_folder_options(
    data=DEFAULT_DATA,
    models=DEFAULT_MODELS,
    out="sweep-out/idcf-sim",
    results_help="Where idcf_sim.md and idcf_sim_runs.csv go.",
)
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--restarts",
    type=click.IntRange(min=1),
    default=None,
    help="Latent restarts per fit. Default: the model's.",
)
@click.option(
    "--trace-every",
    type=click.IntRange(min=0),
    default=None,
    help="MCC trace every K latent epochs (0 = off: faster, no stopping-regret figures). "
    "Default: the fit's (every epoch).",
)
@click.option(
    "--timing-fits",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="After the sweep, time this many iDCF fits one at a time on the first gamma (0: skip).",
)
def main(
    data: Path,
    values: str | None,
    models: str,
    seeds: int,
    epochs: int | None,
    latent_epochs: int | None,
    restarts: int | None,
    trace_every: int | None,
    jobs: int,
    threads: int,
    out: Path,
    results_dir: Path,
    timing_fits: int,
    quiet: bool,
) -> None:
    """Run the idcf-sim benchmark, write its Markdown report and print the goals check."""
    command = command_line("idcf_sim.py")
    try:
        knob, found = data_sweep_values(data)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--data'") from None
    chosen = pick_values(found, values, "--values")
    config = SweepConfig(
        preset="data",
        knob=knob,
        values=chosen,
        models=tuple(m.strip() for m in models.split(",")),
        seeds=seeds,
        epochs=epochs,
        fit_overrides={
            k: v
            for k, v in (
                ("latent_epochs", latent_epochs),
                ("restarts", restarts),
                ("trace_every", trace_every),
            )
            if v is not None
        },
        data=str(data.resolve()),
    )

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    done = run_plan([("main", out, config)], jobs=jobs, threads=threads, say=say, name="idcf-sim")
    wall, rows = done.walls["main"], done.rows["main"]
    invocation = done.invocation(jobs, threads)
    timing = None
    if timing_fits and "idcf" in config.models and not done.failures:
        print(f"timing pass: {timing_fits} iDCF fits one at a time", file=sys.stderr, flush=True)
        timing = time_fits(config, timing_fits, threads, value=config.values[0])
    target, checks = write_report(
        config,
        rows,
        results_dir=results_dir,
        command=command,
        wall=wall,
        invocation=invocation,
        jobs=jobs,
        threads=threads,
        timing=timing,
    )
    print(f"wall time: {wall['seconds']:.0f} s total; {invocation} -> {target}")
    print("goals:")
    for goal, ok, figs in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {goal}: {figs}")
    raise_failures(done.failures, say)


if __name__ == "__main__":
    main()
