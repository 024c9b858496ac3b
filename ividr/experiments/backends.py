"""Where a sweep's runs run (docs/design.md §6): local processes, or a Ray cluster.

Each backend takes the task dicts of :func:`ividr.experiments.run.execute_run` and a ``record``
callback, runs every task and hands each outcome to ``record`` in the driver as it arrives.
The driver itself (``jobs=1``) needs no backend. To add one, write ``run_<name>(tasks, record,
...)`` here, name it in :data:`BACKENDS` and dispatch to it in :func:`ividr.experiments.runner.
run_sweep`.

Devices (docs/design.md §4.3, :mod:`ividr.training.devices`). Local processes: each worker process
takes one slot ``k`` in ``0 .. jobs-1`` when it starts and runs every run it is given on the slot's
device (:func:`ividr.training.devices.worker_devices`: round-robin over the GPUs, so one GPU holds
all ``jobs`` runs and G GPUs about ``jobs / G`` each). Ray: on CUDA every task asks Ray for
:func:`ividr.training.devices.ray_gpu_fraction` of a GPU (``1 / jobs``) and runs on ``cuda``, the
GPU Ray gave it; on the CPU it asks for none.

Ray clusters with token authentication (Ray 2.60 turns it on for ``ray start --head`` wherever
a token exists): a client joining one must send the cluster's token. :func:`ray_auth_env` finds
the token where Ray keeps it (``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH``, or
``~/.ray/auth_token``) and turns token mode on for the client; when none is found and joining
fails, the error says in one line what to set.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ividr.experiments.errors import SweepError
from ividr.experiments.grid import RunSpec
from ividr.experiments.run import FitFn, execute_run, set_worker_device

#: The backends of :func:`~ividr.experiments.runner.run_sweep`.
BACKENDS: tuple[str, ...] = ("local", "ray")
RecordFn = Callable[[dict[str, Any]], None]


# -- local processes ---------------------------------------------------------------------------
def worker_init(parent_pid: int, threads: int, slots=None, devices=None) -> None:
    """Initializer of local worker processes: torch threads, the device of the worker's slot
    (one taken from the ``slots`` queue, an index into ``devices``), and exit if the parent
    dies."""
    if slots is not None and devices:
        slot = slots.get(timeout=60)
        set_worker_device(devices[slot % len(devices)])
    elif devices:  # every worker on the same device: no slot to take
        set_worker_device(devices[0])
    # Workers side by side must not each spin up every core. These variables reach the OpenMP
    # and BLAS libraries loaded from now on; execute_run caps the pools of those already loaded.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads) if threads else "1")
    if threads:
        import torch

        torch.set_num_threads(threads)

    def watch() -> None:  # a SIGKILLed sweep must not leave orphaned workers running
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="ividr-parent-watch").start()


def run_pool(
    tasks: list[dict[str, Any]],
    record: RecordFn,
    *,
    jobs: int,
    threads: int,
    fit: FitFn | str | None,
    devices: list[str] | None = None,
) -> None:
    """Run every task in up to ``jobs`` spawned processes (``threads`` torch threads each);
    worker ``k`` runs on ``devices[k]`` (None: each fit's own device). On any exception
    (Ctrl-C included) the workers are terminated."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    workers = min(jobs, len(tasks))
    slots = None
    if devices is not None and len(set(devices[:workers])) > 1:
        # Workers on different devices (several GPUs) take a slot each. With one device (the
        # CPU, or one GPU) no queue is made: a worker holding one spun at exit on the CPU.
        slots = ctx.Queue()
        for slot in range(workers):
            slots.put(slot)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=worker_init,
        initargs=(os.getpid(), threads, slots, devices),
    )
    try:
        pending = {pool.submit(execute_run, task, fit, threads) for task in tasks}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                record(future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                proc.terminate()
        raise
    pool.shutdown(wait=True)


# -- Ray ---------------------------------------------------------------------------------------
#: One line on what to set when a cluster asks for a token this machine does not have.
RAY_TOKEN_HINT = (
    "this machine needs the cluster's token: copy the head's ~/.ray/auth_token here, or set "
    "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) and RAY_AUTH_MODE=token"
)


def ray_token_source() -> str | None:
    """Where this machine holds a Ray authentication token (an env var name or a file), or
    None."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path and Path(path).is_file():
        return path
    default = Path.home() / ".ray" / "auth_token"
    if default.is_file() and default.read_text(encoding="utf-8").strip():
        return str(default)
    return None


@contextlib.contextmanager
def ray_auth_env(address: str | None) -> Iterator[str | None]:
    """Token mode for a client joining the cluster at ``address`` when a token is at hand.

    With ``RAY_AUTH_MODE`` already set, or no address (Ray starts its own cluster and manages
    its token), nothing changes. Otherwise, when :func:`ray_token_source` finds a token,
    ``RAY_AUTH_MODE=token`` is set for the duration (and Ray's cached config refreshed); yields
    the token's source or None.
    """
    if address is None or os.environ.get("RAY_AUTH_MODE") is not None:
        yield None
        return
    source = ray_token_source()
    if source is None:
        yield None
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    _refresh_ray_config()
    try:
        yield source
    finally:
        os.environ.pop("RAY_AUTH_MODE", None)
        _refresh_ray_config()


def _refresh_ray_config() -> None:
    """Make Ray re-read the auth mode and the token (it caches both per process), so that a
    later ``ray.init`` in this process sees the environment as it is then."""
    with contextlib.suppress(Exception):  # a Ray without token auth has nothing to refresh
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


def import_ray():
    """The ``ray`` module, or SweepError naming the optional dependency."""
    try:
        import ray
    except ImportError:
        raise SweepError(
            "the Ray backend needs the optional dependency 'ray': pip install 'ividr-toolkit[ray]'"
        ) from None
    return ray


def _ray_execute(
    task: dict[str, Any], fit_fn: FitFn | str | None, threads: int, device: str | None = None
):
    return execute_run(task, fit_fn, threads, device)


def ray_device(device: str, cluster_gpus: int, jobs: int) -> tuple[str, float]:
    """The device and ``num_gpus`` of every Ray task of a sweep on a cluster with
    ``cluster_gpus`` GPUs: ("cpu", 0) for "cpu" or "auto" without GPUs, else
    ("cuda", :func:`ividr.training.devices.ray_gpu_fraction`); SweepError for CUDA without a GPU."""
    from ividr.training.devices import check_device, ray_gpu_fraction

    check_device(device, name="device", owner="run_sweep")
    if device == "cpu" or (device == "auto" and cluster_gpus == 0):
        return "cpu", 0.0
    if cluster_gpus == 0:
        raise SweepError(f"device {device!r}: the Ray cluster has no GPU (use --device cpu)")
    return "cuda", ray_gpu_fraction(jobs)


def _ray_init(ray, address: str | None) -> None:
    # A Ray started here runs its workers at nice 15 by default, which starves the runs on a
    # busy machine; give them the priority local processes get (RAY_worker_niceness wins).
    saved = os.environ.get("RAY_worker_niceness")
    if address is None and saved is None:
        os.environ["RAY_worker_niceness"] = "0"
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except Exception as exc:
        text = " ".join(str(exc).split())
        if "token" in text.lower() or "authenticat" in text.lower():
            raise SweepError(f"could not join Ray at {address!r}: {RAY_TOKEN_HINT}") from exc
        if address is not None and ray_token_source() is None:
            # A token cluster refuses a client without one with a bare "Failed to connect".
            raise SweepError(
                f"could not join Ray at {address!r} ({text}); if the cluster uses token "
                f"authentication, {RAY_TOKEN_HINT}"
            ) from exc
        raise SweepError(f"could not start or join Ray (address {address!r}): {text}") from exc
    finally:
        if saved is None:
            os.environ.pop("RAY_worker_niceness", None)


def run_ray(
    ray,
    tasks: list[dict[str, Any]],
    record: RecordFn,
    *,
    address: str | None,
    threads: int,
    fit_fn: FitFn | str | None,
    device: str = "cpu",
    jobs: int = 1,
) -> None:
    """Run every task as a Ray task (one CPU per torch thread; on CUDA ``1 / jobs`` of a GPU,
    :func:`ray_device`) on the cluster at ``address`` (None: the Ray this process already
    runs, else a new local one)."""
    with ray_auth_env(None if ray.is_initialized() else address):
        started = False
        if not ray.is_initialized():
            _ray_init(ray, address)
            started = True
        try:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            run_device, num_gpus = ray_device(device, gpus, jobs)
            _ray_loop(
                ray,
                tasks,
                record,
                threads=threads,
                fit_fn=fit_fn,
                device=run_device,
                num_gpus=num_gpus,
            )
        finally:
            if started:
                ray.shutdown()


def _ray_loop(
    ray,
    tasks,
    record: RecordFn,
    *,
    threads: int,
    fit_fn,
    device: str = "cpu",
    num_gpus: float = 0.0,
) -> None:
    refs: dict[Any, dict[str, Any]] = {}
    try:
        options: dict[str, Any] = {"num_cpus": max(threads, 1), "max_retries": 0}
        if num_gpus:
            options["num_gpus"] = num_gpus
        remote = ray.remote(**options)(_ray_execute)
        refs = {remote.remote(task, fit_fn, threads, device): task for task in tasks}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the task's process died (OOM, node lost, ...)
                    spec = RunSpec(**refs[ref]["spec"])
                    outcome = {"ok": False, "run_id": spec.run_id, "error": f"Ray: {exc}"}
                record(outcome)
    except BaseException:
        for ref in list(refs):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
