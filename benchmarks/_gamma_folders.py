"""What the benchmarks over a folder of ``gamma_<G>`` datasets share (idcf_sim.py, ividr_sim.py).

Such a folder (the external datasets ``idcf-sim`` and ``ividr-sim``, docs/data.md, or a folder
written by :func:`ividr_sim.subsample_users`) holds one dataset per gamma. A benchmark over it picks
some of those gammas, runs one or more resumable sweeps (:func:`run_plan`), keeps the wall time of
every invocation beside each sweep (:func:`add_wall`, summed across resumed runs), and ends its
report with the same "How this was run" block (:func:`footer`) and a runs CSV
(:func:`write_runs_csv`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from ividr.experiments.grid import SweepConfig, format_value, parse_values
from ividr.experiments.reports import format_cell, format_values
from ividr.experiments.runner import run_sweep
from simulator.files import dumps_json
from simulator.loaders import load_dataset

#: Where the reports go by default.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Wall time of every invocation, kept in each sweep directory.
WALL_FILE = ".benchmark-wall.json"


def gamma_folder_options(
    *, data: Path, models: str, out: str, results_help: str
) -> Callable[[Callable], Callable]:
    """The click options every gamma-folder benchmark takes, with its own defaults: ``--data``,
    ``--values``, ``--models``, ``--epochs``, ``--latent-epochs``, ``--jobs``, ``--threads``,
    ``--out``, ``--results-dir`` and ``--quiet``."""
    options = [
        click.option(
            "--data",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=data,
            show_default=True,
            help="Folder of gamma_<v> dataset folders (ividr-sim, idcf-sim, or any such folder).",
        ),
        click.option("--values", default=None, help="Gammas to run. Default: every folder."),
        click.option("--models", default=models, show_default=True, help="Comma-separated."),
        click.option(
            "--epochs", type=click.IntRange(min=1), default=None, help="Recommender epochs."
        ),
        click.option(
            "--latent-epochs",
            type=click.IntRange(min=1),
            default=None,
            help="Max latent epochs. Default: the model's.",
        ),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=2,
            show_default=True,
            help="Fits in parallel (local processes).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="torch threads per fit.",
        ),
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(out),
            show_default=True,
            help="Sweep directories (resumable: run again to finish).",
        ),
        click.option(
            "--results-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=RESULTS_DIR,
            show_default=True,
            help=results_help,
        ),
        click.option("--quiet", is_flag=True, help="No per-run progress on stderr."),
    ]

    def wrap(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return wrap


def command_line(script: str) -> str:
    """How this invocation was typed, for the report (``.venv/bin/python benchmarks/<script>``)."""
    return " ".join([".venv/bin/python", f"benchmarks/{script}", *map(shlex.quote, sys.argv[1:])])


def pick_values(found: Sequence, text: str | None, option: str) -> tuple:
    """The gammas named by ``text`` (comma-separated) among ``found``; None = all of them.

    Raises click.BadParameter, naming ``option``, for a malformed list or a gamma with no folder.
    """
    if text is None:
        return tuple(found)
    try:
        wanted = parse_values(text, float)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
    known = {format_value(v): v for v in found}
    missing = [format_value(v) for v in wanted if format_value(v) not in known]
    if missing:
        raise click.BadParameter(
            f"must be among {list(known)}. Got {missing} instead.", param_hint=f"'{option}'"
        )
    return tuple(known[format_value(v)] for v in wanted)


# --------------------------------------------------------------------------------------------
# Wall time across resumed invocations
# --------------------------------------------------------------------------------------------
def read_wall(out: Path) -> dict:
    """The wall-time record of the sweep directory ``out`` (empty when there is none)."""
    try:
        return json.loads((Path(out) / WALL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"seconds": 0.0, "invocations": []}


def add_wall(out: Path, seconds: float, ran: int, jobs: int, loads: list[float]) -> dict:
    """Add one invocation (its seconds, fits run, jobs and sampled load) to ``out``'s record."""
    out = Path(out)
    wall = read_wall(out)
    wall["seconds"] = float(wall.get("seconds", 0.0)) + seconds
    entry = {
        "seconds": round(seconds, 1),
        "runs": ran,
        "jobs": jobs,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if loads:
        entry["load_mean"] = round(float(np.mean(loads)), 2)
        entry["load_max"] = round(float(np.max(loads)), 2)
    wall.setdefault("invocations", []).append(entry)
    if out.is_dir():
        tmp = out / f".{WALL_FILE}.tmp-{os.getpid()}"
        tmp.write_text(dumps_json(wall), encoding="utf-8")
        os.replace(tmp, out / WALL_FILE)
    return wall


def merge_walls(walls: Sequence[dict]) -> dict:
    """One record for several sweeps: their seconds summed, their invocations listed."""
    return {
        "seconds": sum(w["seconds"] for w in walls),
        "invocations": [i for w in walls for i in w.get("invocations", [])],
    }


def load_text(wall: dict) -> str:
    """The 1-minute load average seen while the fits ran (sampled after each run)."""
    sampled = [i for i in wall.get("invocations", []) if "load_mean" in i and i.get("runs")]
    if not sampled:
        return "machine load not sampled"
    parts = [f"{i['load_mean']:.1f} mean / {i['load_max']:.1f} max" for i in sampled]
    return (
        f"{os.cpu_count()} cores, 1-minute load average while the fits ran "
        + "; ".join(parts)
        + " (a load above the core count means the fits shared the CPU with other work)"
    )


# --------------------------------------------------------------------------------------------
# Running a plan of sweeps
# --------------------------------------------------------------------------------------------
@dataclass
class PlanOutcome:
    """What :func:`run_plan` ran: rows and wall record per sweep key, and the totals."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    walls: dict[str, dict] = field(default_factory=dict)
    ran: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def invocation(self, jobs: int, threads: int) -> str:
        """One sentence on this invocation, for the report."""
        return (
            f"this invocation {self.seconds:.0f} s for {self.ran} fits ({self.skipped} already "
            f"done, {len(self.failures)} failed), jobs={jobs}, {threads} torch thread(s) per fit"
        )


def run_plan(
    plan: Sequence[tuple[str, Path, SweepConfig]],
    *,
    jobs: int,
    threads: int,
    say: Callable[[str], None],
    name: str,
    backend: str = "local",
    fit_fn=None,
) -> PlanOutcome:
    """Run every ``(key, sweep_dir, config)`` of ``plan`` in turn (each resumable).

    Progress goes to ``say``; the load average is sampled after each run, and each sweep's wall
    record is updated even when the sweep is interrupted. ``backend`` and ``fit_fn`` are
    run_sweep's (``"local"`` or ``"ray"``; None fits with its ``default_fit``). Failed runs are
    collected in
    ``failures`` (``"<key>: <run id>"`` -> error), not raised.
    """
    outcome = PlanOutcome()
    start = time.perf_counter()
    for key, sweep_dir, config in plan:
        say(f"{name} [{key}]: {len(config.runs())} runs into {sweep_dir}")
        loads: list[float] = []
        t0 = time.perf_counter()

        def progress(done: int, todo: int, run_id: str, key=key, t0=t0, loads=loads) -> None:
            loads.append(os.getloadavg()[0])
            say(f"  [{key} {done}/{todo} {time.perf_counter() - t0:.0f} s] {run_id}")

        n_ran = 0
        try:
            swept = run_sweep(
                config,
                sweep_dir,
                jobs=jobs,
                threads=threads,
                progress=progress,
                backend=backend,
                fit_fn=fit_fn,
            )
            n_ran = len(swept.ran)
        finally:
            outcome.walls[key] = add_wall(sweep_dir, time.perf_counter() - t0, n_ran, jobs, loads)
        outcome.rows[key] = swept.rows
        outcome.ran += n_ran
        outcome.skipped += len(swept.skipped)
        outcome.failures.update({f"{key}: {k}": v for k, v in swept.failures.items()})
    outcome.seconds = time.perf_counter() - start
    return outcome


def config_dir(out: Path, config: SweepConfig, prefix: str) -> Path:
    """``out/<prefix>-<hash of config>``: one sweep directory per operative config, so that the
    same command resumes its own sweep and a different one (other seeds, variants, caps) starts
    its own instead of clashing with it."""
    digest = hashlib.sha1(dumps_json(config.to_dict()).encode("utf-8")).hexdigest()[:10]
    return Path(out) / f"{prefix}-{digest}"


def run_file(sweep_dir: Path, row: dict, name: str):
    """A finished run's JSON file (``history.json``, ``metrics.json``) in its run folder."""
    from ividr.experiments.store import runs_dir

    return json.loads((runs_dir(sweep_dir) / row["run_id"] / name).read_text(encoding="utf-8"))


def raise_failures(failures: dict[str, str], say: Callable[[str], None]) -> None:
    """List failed runs, then exit with a click error (after the reports are written)."""
    if failures:
        for run_id, error in failures.items():
            say(f"  failed: {run_id}: {error}")
        raise click.ClickException(f"{len(failures)} run(s) failed; run again to retry")


def run_plan_or_fail(
    plan: Sequence[tuple[str, Path, SweepConfig]],
    *,
    jobs: int,
    backend: str,
    name: str,
    fit_fn=None,
) -> dict[str, list[dict]]:
    """:func:`run_plan` with one torch thread a fit and progress on stderr; the finished rows by
    key, or a click error listing the failed runs (:func:`raise_failures`)."""

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    done = run_plan(plan, jobs=jobs, threads=1, say=say, name=name, backend=backend, fit_fn=fit_fn)
    raise_failures(done.failures, say)
    return done.rows


# --------------------------------------------------------------------------------------------
# Report pieces
# --------------------------------------------------------------------------------------------
def footer(command: str, wall: dict, invocation: str, runs_csv: str) -> list[str]:
    """The "How this was run" block: command, wall time, load, machine, where the rows are."""
    return [
        "## How this was run",
        "",
        f"Command: `{command}`",
        "",
        f"Wall time: {wall['seconds']:.0f} s ({wall['seconds'] / 60:.1f} min) summed over "
        f"{len(wall.get('invocations', []))} invocation(s); {invocation}. "
        f"{load_text(wall)}. Machine: {os.cpu_count()} cores, {platform.node()}, "
        f"{platform.processor() or platform.machine()}.",
        "",
        f"Per-run rows: `{runs_csv}`; sweep directories (gitignored): under the command's `--out`.",
        "",
    ]


def write_runs_csv(
    path: Path,
    rows: list[dict],
    columns: Sequence[str],
    factor: dict[int, str] | None = None,
) -> None:
    """One line per run (column ``gamma`` is the row's swept value); with ``factor`` (row index
    -> factor key) a leading ``factor`` column."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow((("factor",) if factor is not None else ()) + tuple(columns))
        for i, r in enumerate(rows):
            cells = [factor[i]] if factor is not None else []
            for col in columns:
                value = format_value(r.get("value")) if col == "gamma" else r.get(col)
                if isinstance(value, float):
                    value = f"{value:.6g}"
                cells.append("" if value is None else value)
            writer.writerow(cells)


def read_runs_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a benchmark's runs CSV as strings ([] when it does not exist yet)."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def merge_runs_csv(
    path: Path, new_rows: list[dict], fields: Sequence[str], key: Callable[[dict], tuple]
) -> list[dict[str, str]]:
    """Rewrite the runs CSV at ``path`` (atomically) with ``new_rows`` in place of the rows
    with the same ``key``; every other row is kept as it was, first. ``key`` sees the rows as
    the CSV holds them (strings). Returns all rows, as strings."""
    new = [{k: str(v) for k, v in r.items()} for r in new_rows]
    replaced = {key(r) for r in new}
    rows = [r for r in read_runs_csv(path) if key(r) not in replaced] + new
    tmp = Path(path).with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return rows


# --------------------------------------------------------------------------------------------
# Figures from results rows
# --------------------------------------------------------------------------------------------
def values_of(rows: list[dict], model: str, value, column: str) -> list[float]:
    """The finite values of ``column`` in ``model``'s runs at gamma ``value``."""
    key = format_value(value)
    return [
        float(r[column])
        for r in rows
        if r["model"] == model
        and format_value(r["value"]) == key
        and r.get(column) is not None
        and np.isfinite(float(r[column]))
    ]


def first_ref(rows: list[dict], value, column: str) -> float | None:
    """A per-dataset reference level (the same in every run at gamma ``value``), or None."""
    key = format_value(value)
    found = [
        r[column] for r in rows if format_value(r["value"]) == key and r.get(column) is not None
    ]
    return float(found[0]) if found else None


def num(value: float | None, digits: int = 4) -> str:
    """A figure, or ``–`` for none."""
    return format_cell(value, digits=digits)


def mean_std(vals: list[float], *, spread: bool = False) -> str:
    """``mean ± std (n=k)`` of a gamma benchmark's runs; with ``spread`` also ``[min, max]`` (one
    decimal less); ``–`` for no value; one value alone as ``x (n=1)`` (it has no spread)."""
    return format_values(vals, count=True, lone=True, bounds=spread, bounds_digits=3)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def subsample_users(src: Path, dest: Path, n_users: int, values: Sequence) -> Path:
    """The first ``n_users`` users of every ``gamma_<v>`` folder of ``src``, written to ``dest``.

    Same layout (``gamma_<v>/train.csv``, ``random.csv``; ``user_feat_label.csv`` and
    ``z_true.npy`` at the top), for smoke runs; each folder is written once (into a temporary
    sibling, then renamed) and reused afterwards.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for value in values:
        target = dest / f"gamma_{format_value(value)}"
        if (target / "random.csv").is_file() and (dest / "z_true.npy").is_file():
            continue
        data = load_dataset(src / f"gamma_{format_value(value)}")
        if n_users > data.n_users:
            raise click.BadParameter(
                f"must be at most {data.n_users} (the data's users). Got {n_users} instead.",
                param_hint="'--users'",
            )
        if not (dest / "z_true.npy").is_file():
            labels = data.proxy[:n_users, :1]
            np.savetxt(dest / "user_feat_label.csv", labels, fmt="%d", header="0", comments="")
            np.save(dest / "z_true.npy", data.confounder[:n_users].astype(np.float32))
        if (target / "random.csv").is_file():
            continue
        tmp = dest / f".{target.name}.tmp-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for name, part in (("train.csv", data.train), ("random.csv", data.unbiased)):
            keep = part.user < n_users
            rows = np.column_stack([part.user[keep], part.item[keep], part.rating[keep]])
            np.savetxt(
                tmp / name,
                rows.astype(np.int64),
                fmt="%d",
                delimiter=",",
                header="user_id,item_id,rating",
                comments="",
            )
        os.replace(tmp, target)
    return dest
