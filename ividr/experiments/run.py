"""One run of a sweep: its dataset (generated once, cached), its fit, its scores
(docs/design.md §6).

:func:`execute_run` runs in a worker (a local process, a Ray task, or the driver itself) and
returns the run's outcome; it writes nothing but the cached dataset. The driver
(:mod:`ividr.experiments.runner`) writes the outcome into the results store.

Devices (docs/design.md §4.3): the driver gives each run a device
(:func:`ividr.training.devices.worker_devices` for local workers, ``cuda`` or ``cpu`` on Ray);
:func:`execute_run` hands it to the fit function as ``fit_overrides["device"]`` of the run's
:class:`SweepConfig` (only the copy the fit sees: ``sweep.json`` never holds a device, so a sweep
can be resumed on another machine), and the results row says where the run ran (``device``).

Datasets are generated under a per-dataset file lock and written by
:func:`simulator.writer.write_dataset` (itself atomic), so parallel runs that share a dataset
generate it once and never read it half-written.
"""

from __future__ import annotations

import importlib
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ividr import __version__
from ividr.experiments.data_folders import data_folder
from ividr.experiments.grid import DATA_VALUE_LABEL, RunSpec, SweepConfig
from ividr.experiments.layout import ARRAY_FILES
from simulator.files import file_lock

# --------------------------------------------------------------------------------------------
FitFn = Callable[..., dict[str, Any]]
#: The device of this worker process's slot (set by the local backend's initializer), used by
#: :func:`execute_run` when the driver names none.
_WORKER_DEVICE: str | None = None


def set_worker_device(device: str | None) -> None:
    """Pin every run of this process to ``device`` (the local backend's worker slots)."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = device


def default_fit(dataset, config: SweepConfig, spec: RunSpec, *, progress=None) -> dict[str, Any]:
    """Fit ``spec.model`` (its variant ``spec.variant``) with seed ``spec.seed`` and score it.

    ``progress`` is handed to :func:`ividr.api.fit_model` (a line per epoch, or an
    :class:`ividr.training.progress.ProgressHook`; the demo sends its events to the process that
    draws).

    Returns
    -------
    dict
        ``metrics`` (dict of float: mcc, mcc_weak, ndcg@5, recall@5, seconds, ...),
        ``config`` (config.json of the run layout: the FitConfig, what its protocol set, the
        estimator and its parameters), ``history`` and the arrays of the run layout
        (:func:`ividr.experiments.layout.run_parts`: ``latents``, the posterior mean of shape
        (n_users, d) or None, ...).
    """
    from ividr.api import fit_model
    from ividr.experiments.layout import run_config, run_parts

    fit = config.fit_config(spec.model, spec.seed, spec.variant)
    result = fit_model(dataset, fit, progress=progress)
    parts = run_parts(result)
    metrics = parts["metrics"]
    latents = None if result.latents is None else np.asarray(result.latents)
    truth = dataset.confounder
    if latents is not None and truth is not None:
        from metrics.mcc import mcc

        if "mcc" not in metrics:
            metrics["mcc"] = mcc(truth, latents)
        if "mcc_weak" not in metrics:
            metrics["mcc_weak"] = mcc(truth, latents, weak=True)
    return {**parts, "config": run_config(result, dataset=dataset)}


def flat_diagnostics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalar results-row columns from the nested diagnostics of a fit's metrics (§5):
    ``mcc_ci_low/high``, ``ndcg@5_ci_low/high``, ``iv_f_stat``, ``iv_f_median``,
    ``iv_partial_r2``, ``iv_weak``, ``aux_ok``, ``prior_rank``, ``prior_rank_ok``,
    ``prior_condition``, and ``stop_<rule>_<field>`` from a fit's replayed stopping rules
    (``mcc_at_checkpoint``, ``stopping_regret``, ``regret_full``, ``checkpoint_epoch``); only
    those present."""
    out: dict[str, Any] = {}
    for name in ("mcc_ci", "ndcg@5_ci"):
        ci = metrics.get(name)
        if isinstance(ci, list | tuple) and len(ci) == 2:
            out[f"{name}_low"], out[f"{name}_high"] = ci
    for rule, replay in (metrics.get("stop_rules") or {}).items():
        for src in ("mcc_at_checkpoint", "stopping_regret", "regret_full", "checkpoint_epoch"):
            out[f"stop_{rule}_{src}"] = replay.get(src)
    iv = metrics.get("instrument")
    if isinstance(iv, dict):
        for src, dst in (
            ("f_stat", "iv_f_stat"),
            ("f_median", "iv_f_median"),
            ("partial_r2", "iv_partial_r2"),
            ("weak_instrument", "iv_weak"),
        ):
            out[dst] = iv.get(src)
    ident = metrics.get("identifiability")
    if isinstance(ident, dict):
        if isinstance(ident.get("aux"), dict):
            out["aux_ok"] = ident["aux"].get("ok")
        pm = ident.get("prior_matrix")
        if isinstance(pm, dict):
            out["prior_rank"] = pm.get("rank")
            out["prior_rank_ok"] = pm.get("ok")
            out["prior_condition"] = pm.get("condition_number")
    return out


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float | str | bool | np.generic) or value is None


def _resolve_fit(fit_fn: FitFn | str | None) -> FitFn:
    if fit_fn is None:
        return default_fit
    if isinstance(fit_fn, str):
        module, _, attr = fit_fn.partition(":")
        return getattr(importlib.import_module(module), attr)
    return fit_fn


def dataset_path(out_dir: Path, config: SweepConfig, spec: RunSpec) -> Path:
    """Where the dataset of a run lies (or will be cached)."""
    if config.data is not None:
        if spec.value == DATA_VALUE_LABEL:
            return Path(config.data)
        return data_folder(config.data, spec.knob, spec.value)
    return out_dir / "data" / spec.data_key


def _cache_root(out_dir: Path) -> Path:
    """The data cache of a sweep; a worker that cannot see DIR (a remote Ray node) uses /tmp."""
    if out_dir.is_dir() and os.access(out_dir, os.W_OK):
        return out_dir
    return Path(tempfile.gettempdir()) / "ividr-sweep-cache" / out_dir.name


def get_dataset(out_dir: Path, config: SweepConfig, spec: RunSpec):
    """Load the dataset of a run, generating and caching it first when needed.

    Generation happens under an exclusive lock on ``data/<key>.lock`` so that two runs of the
    same (value, seed) generate it once; :func:`simulator.writer.write_dataset` writes it
    atomically. The returned dataset is always read back from disk, so every run of a
    (value, seed) sees byte-identical data whoever generated it.
    """
    from simulator.loaders import load_dataset

    if config.data is not None:
        return load_dataset(dataset_path(out_dir, config, spec))
    root = _cache_root(out_dir)
    path = dataset_path(root, config, spec)
    if not (path / "meta.json").is_file():
        with file_lock(root / "data" / f".{spec.data_key}.lock"):
            if not (path / "meta.json").is_file():
                from simulator.generate import generate
                from simulator.writer import write_dataset

                data = generate(config.sim_config(spec.value, spec.sim_seed))
                write_dataset(data, path, overwrite=path.exists())
    return load_dataset(path)


def run_references(out_dir: Path, config: SweepConfig, spec: RunSpec, dataset):
    """The reference figures of a run's dataset (None without truth), cached per dataset.

    Generated datasets (and any simgen ``--data`` folder) cache them in their
    ``references.json`` (:func:`simulator.references.references_for`); other layouts are
    recomputed once per process.
    """
    if dataset.confounder is None:
        return None
    from simulator.references import references_for

    path = dataset_path(out_dir, config, spec)
    if config.data is None:
        path = dataset_path(_cache_root(out_dir), config, spec)
    try:
        return references_for(path, dataset)
    except ValueError:  # degenerate data (e.g. a constant C): no reference, but the run goes on
        return None


def execute_run(
    task: dict[str, Any],
    fit_fn: FitFn | str | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Run one task (dataset, fit, scores) and return its outcome; never raises.

    Parameters
    ----------
    task : dict
        ``{"out_dir": str, "config": SweepConfig dict, "spec": RunSpec fields}``.
    fit_fn : callable, "module:function" or None
        ``fit_fn(dataset, config, spec) -> {"metrics", "latents", "config"}``;
        None is :func:`default_fit`.
    threads : int or None
        torch threads for this run (restored afterwards); None or 0 leaves them.
    device : str or None
        The run's device (``fit_overrides["device"]`` of the config the fit function sees);
        None: this worker's slot device (:func:`set_worker_device`), else the sweep's own
        ``fit_overrides`` (the FitConfig default, "auto", when it names none).

    Returns
    -------
    dict
        ``{"ok": True, "row": ..., "metrics": ..., "latents": ..., "fit_config": ...}`` or
        ``{"ok": False, "run_id": ..., "error": "..."}``.
    """
    start = time.perf_counter()
    config = SweepConfig.from_dict(task["config"])
    device = device if device is not None else _WORKER_DEVICE
    if device is not None:
        config = SweepConfig.from_dict(
            {**task["config"], "fit_overrides": {**config.fit_overrides, "device": device}}
        )
    spec = RunSpec(**task["spec"])
    out_dir = Path(task["out_dir"])
    previous = limiter = None
    try:
        if threads:
            import torch
            from threadpoolctl import threadpool_limits

            previous = torch.get_num_threads()
            torch.set_num_threads(int(threads))
            # The OpenMP and BLAS pools too (the supervised ceiling's boosting, numpy), so that
            # runs side by side (Ray tasks, local workers) do not oversubscribe the cores.
            limiter = threadpool_limits(limits=int(threads))
        dataset = get_dataset(out_dir, config, spec)
        refs = run_references(out_dir, config, spec, dataset)
        outcome = _resolve_fit(fit_fn)(dataset, config, spec)
        full_metrics = dict(outcome.get("metrics", {}))
        if refs is not None:
            full_metrics.setdefault("references", refs)
        row = _results_row(
            spec, config, dataset, full_metrics, refs, threads=threads, device=device, start=start
        )
        return {
            "ok": True,
            "row": row,
            "metrics": full_metrics,
            "fit_config": outcome.get("config"),
            "history": outcome.get("history"),
            **{name: outcome.get(name) for name in ARRAY_FILES},
            "data": str(dataset_path(out_dir, config, spec)),
        }
    except Exception as exc:  # one failed run must not stop the sweep; it is reported
        import traceback

        return {
            "ok": False,
            "run_id": spec.run_id,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        if previous is not None:
            import torch

            torch.set_num_threads(previous)


def _results_row(
    spec: RunSpec,
    config: SweepConfig,
    dataset,
    full_metrics: dict[str, Any],
    refs: dict[str, Any] | None,
    *,
    threads: int | None,
    device: str | None,
    start: float,
) -> dict[str, Any]:
    """A run's results row: its ids, scores, scalar metrics, diagnostics, references, context.

    A sweep with variants adds the run's ``variant`` after ``model`` (``""``: the base).
    """
    metrics = dict(full_metrics)
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "knob": spec.knob,
        "value": spec.value,
        "model": spec.model,
        **({"variant": spec.variant} if config.variants else {}),
        "seed": spec.seed,
        "data_seed": None if config.data is not None else spec.sim_seed,
        "model_seed": spec.seed,
        "mcc": metrics.pop("mcc", None),
        "mcc_weak": metrics.pop("mcc_weak", None),
        "ndcg@5": metrics.pop("ndcg@5", None),
        "recall@5": metrics.pop("recall@5", None),
        "fit_seconds": metrics.pop("seconds", None),
        "run_seconds": time.perf_counter() - start,
    }
    row.update({k: v for k, v in sorted(metrics.items()) if k not in row and _is_scalar(v)})
    row.update(flat_diagnostics(metrics))
    from simulator.references import flat_references

    row.update(flat_references(refs))
    row.update(
        {
            "preset": config.preset if config.data is None else None,
            "n_users": int(dataset.n_users),
            "n_items": int(dataset.n_items),
            "n_train": len(dataset.train),
            "threads": threads,
            "device": full_metrics.get("device", device),
            "host": socket.gethostname(),
            "version": __version__,
        }
    )
    return row
