"""A resumable runs table for benchmarks that fit one model per task (a setting and a seed).

Every finished fit is appended to the CSV at once, so an interrupted benchmark resumes by being run
again: only the tasks whose key is not in the CSV yet are run. Used by ``ividr_factors.py``
only; the other benchmarks resume through their sweep directories instead.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


def read_runs(path: Path) -> list[dict[str, str]]:
    """The rows of a runs CSV as strings ([] when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_missing(
    path: Path,
    fields: Sequence[str],
    fit: Callable[..., dict],
    tasks: Sequence[tuple],
    *,
    done_keys: set[Hashable],
    key: Callable[[tuple], Hashable] = tuple,
    jobs: int = 1,
    announce: Callable[[dict], None] | None = None,
) -> list[dict[str, str]]:
    """Run ``fit(*task)`` for every task whose ``key(task)`` is not in ``done_keys``.

    Tasks run in ``jobs`` processes (``fit`` must be a module-level function); each returned row
    (a dict over ``fields``) is appended to ``path`` as soon as it finishes, with the header when
    the file is new, and passed to ``announce``. Returns the new rows, values as strings, like
    :func:`read_runs`'s.
    """
    path = Path(path)
    todo = [task for task in tasks if key(task) not in done_keys]
    new_rows: list[dict[str, str]] = []
    if not todo:
        return new_rows
    new_file = not path.is_file()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        if new_file:
            writer.writeheader()
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(fit, *task) for task in todo]
            for future in as_completed(futures):
                row = future.result()
                writer.writerow(row)
                fh.flush()
                new_rows.append({k: str(v) for k, v in row.items()})
                if announce is not None:
                    announce(row)
    return new_rows
