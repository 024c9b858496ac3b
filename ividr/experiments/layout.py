"""The run layout: the one folder format of a fitted run, written by one writer (docs/design.md §6).

``ividr fit --out DIR`` and every run of a sweep (``SWEEP/runs/<run_id>/``) write the same files,
so every reader (``ividr plot latent``, ``ividr plot history``, the sweep's results store) reads
either::

    metrics.json        every metric of the fit (and the dataset's reference levels, §5)
    config.json         the FitConfig, the data folder, the estimator and its parameters
    history.json/.csv   one row per training epoch (the MCC trace when recorded)
    latents.npy         the learned confounder, posterior mean, rows are users (latent models)
    latents_std.npy     its posterior standard deviation            (when the model has one)
    prior_mean.npy      the learned prior mean mu_w(W) of each user   (learned-prior models)
    aux_permutation.npy the permutation of W of a ``--shuffle-aux`` fit
    result.json         the run's results row                                 (sweep runs)
    model.pt, scores.csv  the weights and the val/test scores              (``ividr fit``)

The folder is written into a temporary sibling and renamed into place
(:func:`simulator.files.atomic_directory`), so a run folder is whole or absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from simulator.files import atomic_directory, dumps_json

#: Every file a run folder may hold -> what it is.
RUN_FILES: dict[str, str] = {
    "metrics.json": "every metric of the fit",
    "config.json": "the fit's configuration",
    "history.json": "one row per training epoch",
    "history.csv": "the same, as CSV",
    "latents.npy": "posterior mean of the learned confounder (n_users, d)",
    "latents_std.npy": "posterior standard deviation (n_users, d)",
    "prior_mean.npy": "learned prior mean mu_w(W) per user (n_users, d)",
    "aux_permutation.npy": "the permutation of W of a shuffled-W fit",
    "result.json": "the sweep's results row of the run",
    "model.pt": "the fitted estimator (state dicts)",
    "scores.csv": "scores of the unbiased val/test pairs",
}
#: The arrays of a run, in the order they are written.
ARRAY_FILES = ("latents", "latents_std", "prior_mean", "aux_permutation")
#: The key of config.json naming the command that wrote the folder (its marker, docs/design.md §7).
WRITTEN_BY = "written_by"


def written_by(folder: str | Path, command: str) -> bool:
    """Whether ``folder`` is a run folder that ``command`` wrote (its config.json says so)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get(WRITTEN_BY) == command


def run_config(
    result,
    *,
    data_path: str | Path | None = None,
    dataset=None,
    written_by: str | None = None,
) -> dict[str, Any]:
    """config.json of a fit: the settings it used (:func:`ividr.api.used_config`), what its
    protocol set, the data and the estimator.

    Parameters
    ----------
    result : ividr.api.FitResult
    data_path : path, optional
        The dataset folder.
    dataset : RecDataset, optional
        Names the dataset.
    written_by : str, optional
        The command that writes the folder, recorded under :data:`WRITTEN_BY`: the marker that
        lets that command's ``--overwrite`` replace it (:func:`written_by`).
    """
    from ividr import __version__
    from ividr.api import protocol_overrides, used_config

    config: dict[str, Any] = used_config(result.config, result.estimator)
    if written_by is not None:
        config[WRITTEN_BY] = written_by
    if data_path is not None:
        config["data"] = str(data_path)
    if dataset is not None:
        config["dataset"] = dataset.name
    config.update(
        {
            "version": __version__,
            "estimator": type(result.estimator).__name__,
            "estimator_params": result.estimator.get_params(),
            "protocol_settings": protocol_overrides(result.config),
        }
    )
    return config


def run_parts(result) -> dict[str, Any]:
    """The parts of a run folder a :class:`~ividr.api.FitResult` holds (numpy, picklable):
    ``metrics``, ``history`` and the arrays of :data:`ARRAY_FILES` (None when absent)."""
    return {
        "metrics": dict(result.metrics),
        "history": list(result.history),
        "latents": result.latents,
        "latents_std": result.latents_std if result.latents is not None else None,
        "prior_mean": result.prior_mean if result.latents is not None else None,
        "aux_permutation": result.aux_permutation,
    }


def write_run(
    out: str | Path,
    *,
    metrics: dict[str, Any],
    config: dict[str, Any],
    history: list[dict[str, Any]] | None = None,
    row: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
    overwrite: bool = False,
    exist_ok: bool = False,
    **arrays: Any,
) -> Path:
    """Write one run folder at ``out``, atomically; return ``out``.

    Parameters
    ----------
    out : path
    metrics, config : dict
        metrics.json and config.json.
    history : list of dict, optional
        history.json and history.csv.
    row : dict, optional
        result.json (a sweep run's results row).
    extra : callable, optional
        ``extra(folder)`` writes further files (``ividr fit``: model.pt, scores.csv) into the
        temporary folder before it is renamed.
    overwrite : bool, default False
        Replace an existing ``out`` (swapped, never deleted before the new one is in place).
    exist_ok : bool, default False
        Keep an existing ``out`` and drop this one (a sweep run finished twice).
    **arrays : ndarray or None
        Any of :data:`ARRAY_FILES`; None is skipped.

    Raises
    ------
    FileExistsError
        When ``out`` exists and neither ``overwrite`` nor ``exist_ok`` is given.
    """
    from ividr.reporting.trace import write_history_csv

    unknown = sorted(set(arrays) - set(ARRAY_FILES))
    if unknown:
        raise TypeError(f"write_run got unknown arrays {unknown}; known: {list(ARRAY_FILES)}")
    out = Path(out)
    with atomic_directory(out, overwrite=overwrite, exist_ok=exist_ok) as tmp:
        if row is not None:
            (tmp / "result.json").write_text(dumps_json(row), encoding="utf-8")
        (tmp / "metrics.json").write_text(dumps_json(metrics), encoding="utf-8")
        (tmp / "config.json").write_text(dumps_json(config), encoding="utf-8")
        if history is not None:
            (tmp / "history.json").write_text(dumps_json(history, indent=None), encoding="utf-8")
            write_history_csv(history, tmp / "history.csv")
        for name in ARRAY_FILES:
            if arrays.get(name) is not None:
                np.save(tmp / f"{name}.npy", np.asarray(arrays[name]), allow_pickle=False)
        if extra is not None:
            extra(tmp)
    return out
