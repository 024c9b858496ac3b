"""The sweep's driver: :func:`run_sweep` runs (or resumes) a grid into its results store
(docs/design.md §6).

The driver holds the directory's lock, runs every unfinished :class:`RunSpec` on a backend
(:mod:`ividr.experiments.backends`: in this process, local processes, or Ray tasks), and
writes each outcome into the store as it arrives. To add a backend, add a function to
:mod:`ividr.experiments.backends` and a branch here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ividr.defaults import DEFAULT_THREADS
from ividr.experiments.backends import BACKENDS, import_ray, run_pool, run_ray
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.run import FitFn, execute_run
from ividr.experiments.store import (
    check_resumable,
    clean_stale,
    finished_runs,
    read_config,
    save_run,
    write_tables,
)
from metrics.checks import check_choice, check_int
from simulator.files import atomic_write_text, dumps_json, file_lock


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    rows : list of dict
        Every finished run's results row (including runs finished by earlier invocations).
    ran : list of str
        Run ids done by this invocation.
    skipped : list of str
        Run ids already finished before it.
    failures : dict of str to str
        Run id -> error message of the runs that failed (they are not recorded and are redone by
        the next invocation; details in ``DIR/failures/<run_id>.txt``).
    seconds : float
        Wall time of this invocation.
    """

    rows: list[dict[str, Any]]
    ran: list[str]
    skipped: list[str]
    failures: dict[str, str]
    seconds: float


ProgressFn = Callable[[int, int, str], None]


def run_sweep(
    config: SweepConfig,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    backend: str = "local",
    address: str | None = None,
    threads: int | None = None,
    progress: ProgressFn | None = None,
    fit_fn: FitFn | str | None = None,
    device: str = "auto",
) -> SweepOutcome:
    """Run (or resume) a sweep into ``out_dir``.

    Parameters
    ----------
    config : SweepConfig
    out_dir : str or Path
        The sweep directory; created if missing. If it holds a sweep.json, that must equal
        ``config`` (else SweepError) and only the unfinished runs are done.
    jobs : int, default 1
        Concurrent runs on the local backend (processes, spawn context); 1 runs in this process.
    backend : {"local", "ray"}, default "local"
        ``"ray"`` runs each run as a Ray task (``ray`` must be installed).
    address : str or None, default None
        Ray cluster address (``ray.init(address=...)``); None starts or joins a local Ray unless
        Ray is already initialised in this process.
    threads : int or None, default None
        torch threads per run (None: :data:`ividr.defaults.DEFAULT_THREADS`, 1; 0: torch's
        default), on every backend; the
        caller's own setting is restored after in-process runs.
    progress : callable or None
        Called as ``progress(done, total, run_id)`` after each run of this invocation.
    fit_fn : callable, "module:function" or None
        Replaces :func:`default_fit` (tests inject a fast fake here). Must be picklable for
        ``jobs > 1`` and the Ray backend.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default "auto"
        Where the runs run (docs/design.md §4.3). Local backend: worker ``k`` of ``jobs`` (the
        driver itself when ``jobs`` is 1) runs on :func:`ividr.training.devices.worker_devices`'s
        ``k``-th device: "auto" is every GPU of this machine round-robin (or the CPU without one),
        "cuda:N"
        puts every run on GPU N. Ray: on CUDA each task asks for ``1 / jobs`` of a GPU
        (:func:`ividr.experiments.backends.ray_device`). Not part of ``config``: a sweep may be
        resumed on another device; each run's row and config.json say where it ran.

    Returns
    -------
    SweepOutcome
    """
    start = time.perf_counter()
    check_choice(backend, "backend", "run_sweep", list(BACKENDS), error=SweepError)
    check_int(jobs, "jobs", "run_sweep", low=1, error=SweepError)
    devices = _local_devices(device, backend, jobs)
    if backend == "ray":
        ray = import_ray()
    out_dir = _sweep_dir(out_dir, config)
    with file_lock(out_dir / ".lock", blocking=False) as acquired:
        if not acquired:
            raise SweepError(f"{out_dir}: another sweep is running in this directory")
        check_resumable(out_dir, config)  # again, now that we hold the lock
        if read_config(out_dir) is None:
            atomic_write_text(out_dir / "sweep.json", dumps_json(config.to_dict()))
        clean_stale(out_dir)
        done = finished_runs(out_dir)
        write_tables(out_dir, config)
        todo = [s for s in config.runs() if s.run_id not in done]
        skipped = [s.run_id for s in config.runs() if s.run_id in done]
        failures: dict[str, str] = {}
        ran: list[str] = []

        def record(outcome: dict[str, Any]) -> None:
            run_id = _store_outcome(out_dir, config, outcome, ran, failures)
            if progress is not None:
                progress(len(ran) + len(failures), len(todo), run_id)

        tasks = [
            {"out_dir": str(out_dir), "config": config.to_dict(), "spec": dataclasses.asdict(s)}
            for s in todo
        ]
        threads = DEFAULT_THREADS if threads is None else int(threads)
        if backend == "ray":
            run_ray(
                ray,
                tasks,
                record,
                address=address,
                threads=threads,
                fit_fn=fit_fn,
                device=device,
                jobs=jobs,
            )
        elif jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                record(execute_run(task, fit_fn, threads, devices[0]))
        else:
            run_pool(tasks, record, jobs=jobs, threads=threads, fit=fit_fn, devices=devices)
        rows = write_tables(out_dir, config)
    return SweepOutcome(rows, ran, skipped, failures, time.perf_counter() - start)


def _local_devices(device: str, backend: str, jobs: int) -> list[str] | None:
    """The device of each local worker (None on Ray); a bad ``device`` is a SweepError."""
    from ividr.training.devices import DeviceError, check_device, gpu_count, worker_devices

    devices = None
    try:
        check_device(device, name="device", owner="run_sweep")
        if backend == "local":
            devices = worker_devices(device, jobs=jobs, n_gpus=gpu_count())
    except DeviceError as exc:
        raise SweepError(str(exc)) from None
    return devices


def _sweep_dir(out_dir: str | Path, config: SweepConfig) -> Path:
    """``out_dir`` resolved and created, once it is known to hold no other sweep."""
    out_dir = Path(out_dir).resolve()
    check_resumable(out_dir, config)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"{out_dir}: cannot be created ({exc.strerror or exc})") from None
    return out_dir


def _store_outcome(
    out_dir: Path,
    config: SweepConfig,
    outcome: dict[str, Any],
    ran: list[str],
    failures: dict[str, str],
) -> str:
    """Write a run's outcome (results or failure file) into ``out_dir``; note, return its run id."""
    if outcome["ok"]:
        save_run(out_dir, outcome)
        write_tables(out_dir, config)
        run_id = outcome["row"]["run_id"]
        ran.append(run_id)
        with contextlib.suppress(FileNotFoundError):
            (out_dir / "failures" / f"{run_id}.txt").unlink()
    else:
        run_id = outcome["run_id"]
        failures[run_id] = outcome["error"]
        (out_dir / "failures").mkdir(exist_ok=True)
        atomic_write_text(
            out_dir / "failures" / f"{run_id}.txt",
            outcome["error"] + "\n\n" + outcome.get("traceback", ""),
        )
    return run_id
