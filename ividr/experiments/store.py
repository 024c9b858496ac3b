"""The results store of a sweep: one directory, written atomically (docs/design.md §6, §7).

::

    DIR/sweep.json            the SweepConfig (a resumed sweep must match it exactly)
    DIR/data/<knob>=<v>_seed=<s>/   the cached simgen dataset of each (value, seed)
    DIR/runs/<run_id>/        one finished run, in the run layout (:mod:`ividr.experiments.layout`)
                              that ``ividr fit --out`` writes, plus result.json (its results row)
    DIR/results.csv, DIR/results.json   one row per finished run
    DIR/summary.csv, DIR/summary.md     mean and std over seeds, models x knob values
                                        (the shape of the paper's Table 5); a model with a
                                        variant reads ``model[variant]`` (variants.model_label)
    DIR/summary_tests.csv/.md           paired t-tests between models over seeds
    DIR/failures/<run_id>.txt           why a run failed (redone by the next invocation)

Atomicity and resume. A run counts as finished exactly when ``DIR/runs/<run_id>/`` exists: its
files are written into a hidden temporary sibling which is then renamed onto that name in one
``os.rename``, so a sweep killed at any moment (SIGKILL included) leaves either the whole run or
nothing under that name. The result tables are rebuilt from ``DIR/runs/`` after every run and
written through a temporary file and ``os.replace``: they are never half-written, never hold a
row twice, and a restarted sweep rebuilds them first, then does only the runs that are missing.
Only the driver process writes results; workers return them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.layout import ARRAY_FILES, write_run
from ividr.experiments.reports import (
    paired_tests_csv,
    paired_tests_markdown,
    results_csv,
    summary_csv,
    summary_markdown,
)
from ividr.experiments.summaries import paired_tests, summarize, summarize_references
from simulator.files import atomic_write_text, dumps_json

#: Columns every results row starts with (then the remaining metrics, sorted).
ROW_COLUMNS: tuple[str, ...] = (
    "run_id",
    "knob",
    "value",
    "model",
    "seed",
    "data_seed",
    "model_seed",
    "mcc",
    "mcc_weak",
    "ndcg@5",
    "recall@5",
    "fit_seconds",
    "run_seconds",
)
#: The column of a run's variant (sweeps with variants only; ``""`` is the base).
VARIANT_COLUMN = "variant"
#: Provenance columns, last.
TAIL_COLUMNS: tuple[str, ...] = (
    "preset",
    "n_users",
    "n_items",
    "n_train",
    "threads",
    "host",
    "version",
)


def runs_dir(out_dir: Path) -> Path:
    """The folder of a sweep's finished runs."""
    return Path(out_dir) / "runs"


def finished_runs(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Results rows of the finished runs of a sweep directory, by run id."""
    rows: dict[str, dict[str, Any]] = {}
    runs = runs_dir(Path(out_dir))
    if not runs.is_dir():
        return rows
    for sub in sorted(runs.iterdir()):
        if sub.name.startswith(".") or not sub.is_dir():
            continue
        try:
            row = json.loads((sub / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not a finished run (cannot happen with the atomic rename, but be safe)
        rows[row.get("run_id", sub.name)] = row
    return rows


def save_run(out_dir: Path, outcome: dict[str, Any]) -> None:
    """Write one finished run as ``runs/<run_id>/`` in the run layout, atomically."""
    row = outcome["row"]
    runs = runs_dir(out_dir)
    runs.mkdir(parents=True, exist_ok=True)
    config = dict(outcome.get("fit_config") or {})
    config.setdefault("data", outcome.get("data"))
    write_run(
        runs / row["run_id"],
        metrics=outcome["metrics"],
        config=config,
        history=outcome.get("history"),
        row=row,
        exist_ok=True,  # a run finished twice (cannot happen under the sweep lock)
        **{name: outcome.get(name) for name in ARRAY_FILES},
    )


def sorted_rows(rows: dict[str, dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    order = {spec.run_id: i for i, spec in enumerate(config.runs())}
    return sorted(rows.values(), key=lambda r: (order.get(r["run_id"], len(order)), r["run_id"]))


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """:data:`ROW_COLUMNS` (with ``variant`` after ``model`` when a row has one), the other
    columns sorted, then :data:`TAIL_COLUMNS`."""
    head = list(ROW_COLUMNS)
    if any(VARIANT_COLUMN in r for r in rows):
        head.insert(head.index("model") + 1, VARIANT_COLUMN)
    extra = sorted({k for r in rows for k in r} - set(head) - set(TAIL_COLUMNS))
    return head + extra + list(TAIL_COLUMNS)


def write_tables(out_dir: str | Path, config: SweepConfig) -> list[dict[str, Any]]:
    """Rebuild results.csv/json and summary.csv/md from ``runs/``; return the rows.

    Every file is replaced atomically, so a reader (or a kill) never sees a half-written table.
    """
    out_dir = Path(out_dir)
    rows = sorted_rows(finished_runs(out_dir), config)
    columns = columns_of(rows)
    atomic_write_text(out_dir / "results.csv", results_csv(rows, columns))
    atomic_write_text(
        out_dir / "results.json", dumps_json({"sweep": config.to_dict(), "runs": rows})
    )
    summary = summarize(rows, config)
    refs = summarize_references(rows, config)
    atomic_write_text(out_dir / "summary.csv", summary_csv(summary, refs, config))
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary, config, references=refs))
    tests = paired_tests(rows, config)
    atomic_write_text(out_dir / "summary_tests.csv", paired_tests_csv(tests, config))
    atomic_write_text(out_dir / "summary_tests.md", paired_tests_markdown(tests, config))
    return rows


def load_results(sweep_dir: str | Path) -> tuple[SweepConfig, list[dict[str, Any]]]:
    """The config and the results rows of a sweep directory (read from runs/).

    Raises
    ------
    SweepError
        When the directory holds no sweep.json or it is malformed.
    """
    sweep_dir = Path(sweep_dir)
    config = read_config(sweep_dir)
    if config is None:
        raise SweepError(f"{sweep_dir / 'sweep.json'}: missing (not a sweep directory)")
    return config, sorted_rows(finished_runs(sweep_dir), config)


def read_config(out_dir: str | Path) -> SweepConfig | None:
    """The SweepConfig of ``out_dir/sweep.json``, or None when there is none."""
    path = Path(out_dir) / "sweep.json"
    if not path.is_file():
        return None
    try:
        return SweepConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise SweepError(f"{path}: malformed ({exc})") from exc


def check_resumable(out_dir: str | Path, config: SweepConfig) -> None:
    """Raise SweepError when ``out_dir`` holds a sweep with a different configuration."""
    existing = read_config(out_dir)
    if existing is not None and existing != config:
        there, now = existing.to_dict(), config.to_dict()
        fields = ", ".join(
            f"{k}: {there.get(k)!r} there vs {now.get(k)!r} now" for k in existing.diff(config)
        )
        raise SweepError(
            f"{out_dir} holds a different sweep ({fields}); use another --out or the same options"
        )
    if existing is None and Path(out_dir).is_dir():
        stray = [p.name for p in Path(out_dir).iterdir() if not p.name.startswith(".")]
        if stray:
            raise SweepError(f"{out_dir} is not empty and holds no sweep.json; use another --out")


def clean_stale(out_dir: Path) -> None:
    """Remove temporaries left by a killed sweep (never a finished run)."""
    for parent in (out_dir, runs_dir(out_dir), out_dir / "data"):
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.name.startswith(".") and (".tmp-" in child.name or ".old-" in child.name):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
