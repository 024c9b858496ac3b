"""Sweeps: a grid of simulator knob values x models x seeds, fitted and scored (DESIGN.md §6).

A sweep lives in one directory::

    DIR/sweep.json            the SweepConfig (a resumed sweep must match it exactly)
    DIR/data/<knob>=<v>_seed=<s>/   the cached simgen dataset of each (value, seed)
    DIR/runs/<run_id>/        one finished run, in the layout ``ividr fit --out`` writes:
                              result.json (its results row), metrics.json, config.json,
                              latents.npy (the posterior mean, rows are users)
    DIR/results.csv, DIR/results.json   one row per finished run
    DIR/summary.csv, DIR/summary.md     mean and std over seeds, models x knob values
                                        (the shape of the paper's Table 5)

Atomicity and resume. A run counts as finished exactly when ``DIR/runs/<run_id>/`` exists: its
files are written into a hidden temporary sibling which is then renamed onto that name in one
``os.rename``, so a sweep killed at any moment (SIGKILL included) leaves either the whole run or
nothing under that name. The result tables are rebuilt from ``DIR/runs/`` after every run and
written through a temporary file and ``os.replace``: they are never half-written, never hold a
row twice, and a restarted sweep rebuilds them first, then does only the runs that are missing.
Datasets are generated under a per-dataset file lock and written by
:func:`simulator.writer.write_dataset` (itself atomic), so parallel runs that share a dataset
generate it once and never read it half-written. Only the driver process writes results; workers
return them. One sweep at a time may use a directory (an exclusive lock on ``DIR/.lock``).

Seeds. By default (``seeds``) run seed ``s`` generates its dataset with simulator seed ``s`` and
fits with model seed ``s``. With ``data_seeds`` / ``model_seeds`` the two are crossed: every data
seed (the simulator's draw) is fitted with every model seed (initialisation and split), run ids
``...__data=<d>__seed=<t>``, and the summaries split the spread into between-draw and
within-draw parts (:func:`metrics.variance_split`). The seeds are the same on every backend, so
the local and the Ray backends give the same results (given the same torch threads per run).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import importlib
import io
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ividr import __version__
from metrics.spread import variance_split

#: Default grid of the paper's Table 5.
DEFAULT_KNOB = "gamma"
DEFAULT_VALUES: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
DEFAULT_MODELS: tuple[str, ...] = ("idcf", "ividr")
#: Presets of the simulator (DESIGN.md §2); the simulator's own list wins when it is importable.
FALLBACK_PRESETS: tuple[str, ...] = ("ividr", "idcf", "dual", "ividr-code")
#: Metrics summarised (one table each), in this order.
SUMMARY_METRICS: tuple[str, ...] = ("mcc", "mcc_weak", "ndcg@5", "recall@5")
METRIC_TITLES = {
    "mcc": "MCC (strong, Pearson)",
    "mcc_weak": "MCC (weak: linear map fitted on half the users)",
    "ndcg@5": "NDCG@5 (unbiased test set)",
    "recall@5": "Recall@5 (unbiased test set)",
}
#: Knobs that a sweep may not vary: the seed is the sweep's own axis.
FORBIDDEN_KNOBS = frozenset({"seed", "preset", "process", "chunk_users"})
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
DATA_VALUE_LABEL = "data"
#: A model name ending in this suffix (``idcf+shuffle``) runs that model with ``shuffle_aux``:
#: the proxy W permuted across users before training (issue 6's ablation).
SHUFFLE_SUFFIX = "+shuffle"
#: Models whose latent stage is an iVAE with a learned prior mu_w(W): they take the suffix.
SHUFFLE_MODELS: tuple[str, ...] = (
    "ivae",
    "idcf",
    "ividr",
    "ividr-t",
    "ividr-f",
    "ividr-r",
    "ividr-released",
)
#: Reference levels summarised beside the models (issue 6): results-row column -> label.
REFERENCE_COLUMNS = {
    "ref_oracle": "proxy oracle E[C|W] (strong MCC)",
    "ref_oracle_weak": "proxy oracle E[C|W] (weak MCC)",
    "ref_chance": "chance (mean)",
    "ref_chance_p95": "chance (95th percentile)",
    "ref_r2_exposure": "ridge R^2 of C on the exposures",
    "ref_r2_proxy": "ridge R^2 of C on W",
    "ref_supervised_exposure_w": "supervised ceiling: MCC from the exposures and W",
    "ref_supervised_exposure": "supervised ceiling: MCC from the exposures alone",
}


class SweepError(ValueError):
    """A sweep's configuration or directory is not usable; the message says why."""


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def format_value(value: Any) -> str:
    """Short, exact text of a knob value: ``5`` for 5.0, ``0.25``, ``uniform``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def available_presets() -> tuple[str, ...]:
    """Names of the simulator presets (the simulator's list when it is importable)."""
    try:
        config = importlib.import_module("simulator.config")
    except ModuleNotFoundError:
        return FALLBACK_PRESETS
    for attr in ("PRESETS", "PRESET_NAMES"):
        names = getattr(config, attr, None)
        if names:
            return tuple(names)
    return FALLBACK_PRESETS


def available_models() -> tuple[str, ...]:
    """Names of the models a sweep can run: ``ividr.api.MODEL_NAMES``, then the W-shuffled
    ablations ``<model>+shuffle`` of the iVAE-based ones (:data:`SHUFFLE_MODELS`), then every
    latent model with a stopping rule, ``<model>@<rule>`` (:data:`STOP_SEPARATOR`)."""
    from ividr.api import MODEL_NAMES
    from ividr.training import STOP_RULES

    plain = tuple(MODEL_NAMES) + tuple(
        m + SHUFFLE_SUFFIX for m in MODEL_NAMES if m in SHUFFLE_MODELS
    )
    stopped = tuple(
        f"{m}{STOP_SEPARATOR}{r}"
        for m in plain
        if split_model(m)[0] in LATENT_MODELS
        for r in STOP_RULES
    )
    return plain + stopped


#: A model name ending in ``@<rule>`` (``idcf@ndcg``, ``idcf+shuffle@epochs``) runs that model
#: with ``FitConfig.stop_on = <rule>`` (issue 5): a sweep over stopping rules is a sweep over
#: these names, so every summary table (MCC, stopping regret, paired tests) compares the rules.
STOP_SEPARATOR = "@"
#: Models with a latent stage, which take the ``@<rule>`` suffix.
LATENT_MODELS: tuple[str, ...] = (
    "vae",
    "ivae",
    "idcf-w",
    "idcf",
    "ividr",
    "ividr-t",
    "ividr-f",
    "ividr-r",
    "ividr-released",
)
#: Extra metric summarised for the models whose runs report it (MCC traced over training).
REGRET_METRIC = "stopping_regret"
METRIC_TITLES[REGRET_METRIC] = (
    "Stopping regret: best traced MCC minus the MCC of the kept checkpoint"
)
#: Metrics compared between models by paired t-tests over seeds (summary_tests.csv/md).
TEST_METRICS: tuple[str, ...] = ("mcc", "ndcg@5")


def split_stop(name: str) -> tuple[str, str | None]:
    """``"idcf@ndcg"`` -> ``("idcf", "ndcg")``; ``"idcf"`` -> ``("idcf", None)``."""
    base, sep, rule = name.partition(STOP_SEPARATOR)
    return (base, rule) if sep else (name, None)


def with_stop_rules(models: Sequence[str], rules: Sequence[str]) -> tuple[str, ...]:
    """Every latent model once per stopping rule (``m@rule``); other models once, unchanged."""
    out: list[str] = []
    for m in models:
        base, _ = split_model(split_stop(m)[0])
        if base in LATENT_MODELS and STOP_SEPARATOR not in m:
            out += [f"{m}{STOP_SEPARATOR}{r}" for r in rules]
        else:
            out.append(m)
    return tuple(dict.fromkeys(out))


def split_model(name: str) -> tuple[str, bool]:
    """``"idcf+shuffle"`` -> ``("idcf", True)``; ``"idcf"`` -> ``("idcf", False)``."""
    if name.endswith(SHUFFLE_SUFFIX):
        return name[: -len(SHUFFLE_SUFFIX)], True
    return name, False


def knob_kind(knob: str) -> type:
    """The type (int, float or str) of a simulator knob, or raise SweepError for an unknown one.

    Parameters
    ----------
    knob : str
        A field name of :class:`simulator.config.SimConfig` (not the seed: seeds are the
        sweep's own axis).
    """
    from simulator.config import SimConfig

    kinds = {"int": int, "float": float, "str": str}
    fields = {f.name: kinds.get(str(f.type)) for f in dataclasses.fields(SimConfig)}
    allowed = sorted(n for n, k in fields.items() if k is not None and n not in FORBIDDEN_KNOBS)
    if knob not in allowed:
        raise SweepError(
            f"The 'knob' parameter of the sweep must be one of {allowed}. Got {knob!r} instead."
        )
    return fields[knob]


def parse_values(text: str | Sequence[Any], kind: type = float) -> tuple[Any, ...]:
    """Parse ``"0,5,10"`` (or a sequence) into a tuple of knob values of type ``kind``.

    Raises
    ------
    SweepError
        For an empty list, a value that is not of the knob's type, or a repeated value.
    """
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    if not items or any(isinstance(s, str) and not s for s in items):
        raise SweepError(f"expected a comma-separated list of values, got {text!r}")
    out: list[Any] = []
    for item in items:
        try:
            if kind is int:
                as_float = float(item)
                if not as_float.is_integer():
                    raise ValueError
                value: Any = int(as_float)
            elif kind is float:
                value = float(item)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = str(item)
        except (TypeError, ValueError):
            raise SweepError(
                f"value {item!r} is not {'an int' if kind is int else 'a finite number'}"
            ) from None
        out.append(value)
    if len({format_value(v) for v in out}) != len(out):
        raise SweepError(f"values must be distinct, got {text!r}")
    return tuple(out)


def _canon_value(value: Any) -> Any:
    """JSON-stable form of a knob value (ints stay ints; integral floats stay floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    return value


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs: ``knob`` in ``values`` x ``models`` x seeds ``0 .. seeds-1``.

    Parameters
    ----------
    preset : str, default "ividr"
        Simulator preset every dataset starts from (DESIGN.md §2).
    knob : str, default "gamma"
        The :class:`~simulator.config.SimConfig` field that varies across columns.
    values : tuple, default (0, 5, 10, 15, 20)
        Its values.
    models : tuple of str, default ("idcf", "ividr")
        Models fitted on every dataset (``ividr.api.MODEL_NAMES``).
    seeds : int, default 5
        Number of seeds; run seed ``s`` in ``0 .. seeds-1`` is both the simulator seed and the
        model seed (unless ``data_seeds`` or ``model_seeds`` is given).
    data_seeds, model_seeds : int or None, default None
        Cross the seeds instead: simulator seeds ``0 .. data_seeds-1`` x model seeds
        ``0 .. model_seeds-1`` (one of them None counts as 1; ``seeds`` is then unused).
        ``data_seeds=1, model_seeds=5`` is the paper's protocol: one draw, several fits.
    n_users, n_items : int or None, default None
        Dataset size; None keeps the preset's.
    sim_overrides : dict, default {}
        Further simulator knobs fixed for every run (e.g. ``{"alpha": 0.2}``).
    epochs : int or None, default None
        Training epochs of every fit; None keeps the model's default.
    fit_overrides : dict, default {}
        Further :class:`~ividr.api.FitConfig` fields (e.g. ``{"lr": 1e-3}``).
    data : str or None, default None
        Instead of generating: an existing dataset folder (one column, labelled ``data``), or a
        folder of datasets named ``<knob>_<value>`` (as ``idcf-sim/gamma_0`` ...), one column per
        value. The seed then only seeds the model.
    """

    preset: str = "ividr"
    knob: str = DEFAULT_KNOB
    values: tuple[Any, ...] = DEFAULT_VALUES
    models: tuple[str, ...] = DEFAULT_MODELS
    seeds: int = 5
    n_users: int | None = None
    n_items: int | None = None
    sim_overrides: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    fit_overrides: dict[str, Any] = field(default_factory=dict)
    data: str | None = None
    data_seeds: int | None = None
    model_seeds: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(_canon_value(v) for v in self.values))
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))
        object.__setattr__(self, "sim_overrides", dict(sorted(self.sim_overrides.items())))
        object.__setattr__(self, "fit_overrides", dict(sorted(self.fit_overrides.items())))
        for name, value, low in (
            ("seeds", self.seeds, 1),
            ("n_users", self.n_users, 1),
            ("n_items", self.n_items, 1),
            ("epochs", self.epochs, 1),
            ("data_seeds", self.data_seeds, 1),
            ("model_seeds", self.model_seeds, 1),
        ):
            if value is None and name != "seeds":
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise SweepError(
                    f"The {name!r} parameter of SweepConfig must be an int in the range "
                    f"[{low}, inf). Got {value!r} instead."
                )
        if self.crossed and self.data is not None and (self.data_seeds or 1) > 1:
            raise SweepError(
                "The 'data_seeds' parameter of SweepConfig must be 1 with existing data (one draw "
                f"per folder). Got {self.data_seeds!r} instead."
            )
        if not self.values:
            raise SweepError("The 'values' parameter of SweepConfig must not be empty.")
        if len({format_value(v) for v in self.values}) != len(self.values):
            raise SweepError(f"The 'values' of SweepConfig must be distinct. Got {self.values}.")
        if not self.models:
            raise SweepError("The 'models' parameter of SweepConfig must not be empty.")
        if len(set(self.models)) != len(self.models):
            raise SweepError(f"The 'models' of SweepConfig must be distinct. Got {self.models}.")
        if self.knob in FORBIDDEN_KNOBS:
            raise SweepError(f"The knob {self.knob!r} cannot be swept.")

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["values"] = list(self.values)
        out["models"] = list(self.models)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise SweepError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SweepError(f"unknown SweepConfig fields {unknown}")
        data = dict(data)
        for key in ("values", "models"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    # -- the grid -----------------------------------------------------------------------------
    @property
    def crossed(self) -> bool:
        """Data seeds crossed with model seeds (else paired: seed s is both)."""
        return self.data_seeds is not None or self.model_seeds is not None

    def seed_pairs(self) -> list[tuple[int | None, int]]:
        """(data seed, model seed) of every run of a cell; data seed None means paired."""
        if not self.crossed:
            return [(None, s) for s in range(self.seeds)]
        return [(d, t) for d in range(self.data_seeds or 1) for t in range(self.model_seeds or 1)]

    @property
    def runs_per_cell(self) -> int:
        """Runs per (knob value, model): the n of a complete summary cell."""
        return len(self.seed_pairs())

    def runs(self) -> list[RunSpec]:
        """Every run of the sweep, in a fixed order: value, then seeds, then model."""
        return [
            RunSpec(knob=self.knob, value=v, model=m, seed=t, data_seed=d)
            for v in self.values
            for d, t in self.seed_pairs()
            for m in self.models
        ]

    def sim_config(self, value: Any, seed: int):
        """The :class:`~simulator.config.SimConfig` of the dataset of ``(value, seed)``."""
        from simulator.config import SimConfig

        overrides = dict(self.sim_overrides)
        if self.n_users is not None:
            overrides["n_users"] = self.n_users
        if self.n_items is not None:
            overrides["n_items"] = self.n_items
        overrides[self.knob] = value
        overrides["seed"] = seed
        return SimConfig.from_preset(self.preset, **overrides)

    def fit_config(self, model: str, seed: int):
        """The :class:`~ividr.api.FitConfig` of one run."""
        from ividr.api import FitConfig

        kwargs = dict(self.fit_overrides)
        if self.epochs is not None:
            kwargs["epochs"] = self.epochs
        name, stop_on = split_stop(model)
        base, shuffled = split_model(name)
        if shuffled:
            kwargs["shuffle_aux"] = True
        if stop_on is not None:
            kwargs["stop_on"] = stop_on
        return FitConfig(model=base, seed=seed, **kwargs)

    def diff(self, other: SweepConfig) -> list[str]:
        """Names of the fields that differ from ``other``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if mine[k] != theirs.get(k)]


@dataclass(frozen=True)
class RunSpec:
    """One run: a knob value, a model, a model seed and (crossed sweeps) a data seed.

    ``seed`` seeds the model (initialisation and split); ``data_seed`` the simulator, None
    meaning the same as ``seed`` (a paired sweep).
    """

    knob: str
    value: Any
    model: str
    seed: int
    data_seed: int | None = None

    @property
    def sim_seed(self) -> int:
        """The simulator seed of the run's dataset."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def run_id(self) -> str:
        data = "" if self.data_seed is None else f"__data={self.data_seed}"
        return f"{self.knob}={format_value(self.value)}__{self.model}{data}__seed={self.seed}"

    @property
    def data_key(self) -> str:
        return f"{self.knob}={format_value(self.value)}_seed={self.sim_seed}"


def data_sweep_values(data: str | Path, knob: str | None = None) -> tuple[str, tuple[Any, ...]]:
    """The knob and values of a ``--data`` folder.

    A folder that is itself a dataset gives ``("data", ("data",))``; a folder of sub-folders
    named ``<knob>_<value>`` gives that knob and the sorted numeric values.

    Raises
    ------
    SweepError
        When the folder is neither, or the sub-folders disagree on the knob.
    """
    from simulator.loaders import detect_format

    path = Path(data)
    if not path.is_dir():
        raise SweepError(f"{path}: not a directory")
    with contextlib.suppress(ValueError):
        detect_format(path)
        return DATA_VALUE_LABEL, (DATA_VALUE_LABEL,)
    found: dict[str, list[tuple[float, str]]] = {}
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        name, sep, tail = sub.name.rpartition("_")
        if not sep or not name:
            continue
        try:
            number = float(tail)
            detect_format(sub)
        except ValueError:
            continue
        found.setdefault(name, []).append((number, tail))
    if knob is not None and knob in found:
        found = {knob: found[knob]}
    if len(found) != 1:
        raise SweepError(
            f"{path}: expected a dataset, or sub-folders named <knob>_<value> holding datasets "
            f"(found {sorted(found) or 'none'})"
        )
    name, pairs = next(iter(found.items()))
    pairs.sort()
    values = tuple(int(v) if v.is_integer() else v for v, _ in pairs)
    return name, values


# --------------------------------------------------------------------------------------------
# Files: atomic writes, locks
# --------------------------------------------------------------------------------------------
def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"


@contextlib.contextmanager
def _file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path``; yields False when non-blocking and already held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# One run (executed in a worker: a local process, a Ray task, or the driver itself)
# --------------------------------------------------------------------------------------------
FitFn = Callable[..., dict[str, Any]]


def default_fit(dataset, config: SweepConfig, spec: RunSpec) -> dict[str, Any]:
    """Fit ``spec.model`` with seed ``spec.seed`` and score it.

    Returns
    -------
    dict
        ``metrics`` (dict of float: mcc, mcc_weak, ndcg@5, recall@5, seconds, ...),
        ``latents`` (ndarray of shape (n_users, d) or None: the posterior mean),
        ``config`` (the FitConfig as a dict, plus ``protocol_settings``: what its protocol set,
        :func:`ividr.api.protocol_overrides`).
    """
    from ividr.api import fit_model, protocol_overrides

    fit_config = config.fit_config(spec.model, spec.seed)
    result = fit_model(dataset, fit_config)
    metrics = dict(result.metrics)
    latents = None if result.latents is None else np.asarray(result.latents)
    truth = dataset.confounder
    if latents is not None and truth is not None:
        from metrics.mcc import mcc

        if "mcc" not in metrics:
            metrics["mcc"] = mcc(truth, latents)
        if "mcc_weak" not in metrics:
            metrics["mcc_weak"] = mcc(truth, latents, weak=True)
    saved = {**fit_config.to_dict(), "protocol_settings": protocol_overrides(fit_config)}
    return {"metrics": metrics, "latents": latents, "config": saved}


def flat_diagnostics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalar results-row columns from the nested diagnostics of a fit's metrics (issue 5):
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
        return Path(config.data) / f"{spec.knob}_{format_value(spec.value)}"
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
        with _file_lock(root / "data" / f".{spec.data_key}.lock"):
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
    task: dict[str, Any], fit_fn: FitFn | str | None = None, threads: int | None = None
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
        torch threads for this run (restored afterwards); None leaves them.

    Returns
    -------
    dict
        ``{"ok": True, "row": ..., "metrics": ..., "latents": ..., "fit_config": ...}`` or
        ``{"ok": False, "run_id": ..., "error": "..."}``.
    """
    start = time.perf_counter()
    config = SweepConfig.from_dict(task["config"])
    spec = RunSpec(**task["spec"])
    out_dir = Path(task["out_dir"])
    previous = None
    try:
        if threads is not None:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(int(threads))
        dataset = get_dataset(out_dir, config, spec)
        refs = run_references(out_dir, config, spec, dataset)
        outcome = _resolve_fit(fit_fn)(dataset, config, spec)
        full_metrics = dict(outcome.get("metrics", {}))
        if refs is not None:
            full_metrics.setdefault("references", refs)
        metrics = dict(full_metrics)
        row: dict[str, Any] = {
            "run_id": spec.run_id,
            "knob": spec.knob,
            "value": spec.value,
            "model": spec.model,
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
                "host": socket.gethostname(),
                "version": __version__,
            }
        )
        return {
            "ok": True,
            "row": row,
            "metrics": full_metrics,
            "latents": outcome.get("latents"),
            "fit_config": outcome.get("config"),
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
        if previous is not None:
            import torch

            torch.set_num_threads(previous)


def _worker_init(parent_pid: int, threads: int) -> None:
    """Initializer of local worker processes: torch threads, and exit if the parent dies."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass

    def watch() -> None:  # a SIGKILLed sweep must not leave orphaned workers running
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="ividr-parent-watch").start()


# --------------------------------------------------------------------------------------------
# The sweep directory: finished runs, result tables, summaries
# --------------------------------------------------------------------------------------------
def _runs_dir(out_dir: Path) -> Path:
    return out_dir / "runs"


def finished_runs(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Results rows of the finished runs of a sweep directory, by run id."""
    rows: dict[str, dict[str, Any]] = {}
    runs = _runs_dir(Path(out_dir))
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
    """Write one finished run as ``runs/<run_id>/`` atomically (temporary dir + rename)."""
    row = outcome["row"]
    runs = _runs_dir(out_dir)
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / row["run_id"]
    tmp = runs / f".tmp-{row['run_id']}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / "result.json").write_text(_dumps(row), encoding="utf-8")
        (tmp / "metrics.json").write_text(_dumps(outcome["metrics"]), encoding="utf-8")
        fit_config = dict(outcome.get("fit_config") or {})
        fit_config.setdefault("data", outcome.get("data"))
        (tmp / "config.json").write_text(_dumps(fit_config), encoding="utf-8")
        if outcome.get("latents") is not None:
            np.save(tmp / "latents.npy", np.asarray(outcome["latents"]), allow_pickle=False)
        for child in tmp.iterdir():
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():  # a run finished twice (cannot happen under the sweep lock)
            shutil.rmtree(tmp)
            return
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sorted_rows(rows: dict[str, dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    order = {spec.run_id: i for i, spec in enumerate(config.runs())}
    return sorted(rows.values(), key=lambda r: (order.get(r["run_id"], len(order)), r["run_id"]))


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    extra = sorted({k for r in rows for k in r} - set(ROW_COLUMNS) - set(TAIL_COLUMNS))
    return list(ROW_COLUMNS) + extra + list(TAIL_COLUMNS)


def write_tables(out_dir: str | Path, config: SweepConfig) -> list[dict[str, Any]]:
    """Rebuild results.csv/json and summary.csv/md from ``runs/``; return the rows.

    Every file is replaced atomically, so a reader (or a kill) never sees a half-written table.
    """
    out_dir = Path(out_dir)
    rows = _sorted_rows(finished_runs(out_dir), config)
    columns = _columns(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = {k: _csv_cell(row.get(k)) for k in columns}
        cells["value"] = format_value(row["value"])
        writer.writerow(cells)
    _atomic_write_text(out_dir / "results.csv", buf.getvalue())
    _atomic_write_text(out_dir / "results.json", _dumps({"sweep": config.to_dict(), "runs": rows}))
    summary = summarize(rows, config)
    refs = summarize_references(rows, config)
    ref_at = {(e["reference"], format_value(e["value"])): e["mean"] for e in refs}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["metric", "model", config.knob, "mean", "std", "n"]
        + list(SUMMARY_REFERENCE_COLUMNS)
        + list(SPREAD_FIELDS)
    )
    for entry in summary:
        key = format_value(entry["value"])
        oracle = "ref_oracle_weak" if entry["metric"] == "mcc_weak" else "ref_oracle"
        chance = entry["metric"] in ("mcc", "mcc_prior_only")
        is_mcc = entry["metric"] in ("mcc", "mcc_weak", "mcc_prior_only")
        writer.writerow(
            [
                entry["metric"],
                entry["model"],
                key,
                _csv_cell(entry["mean"]),
                _csv_cell(entry["std"]),
                entry["n"],
                _csv_cell(ref_at.get((oracle, key)) if is_mcc else None),
                _csv_cell(ref_at.get(("ref_chance", key)) if chance else None),
                _csv_cell(ref_at.get(("ref_chance_p95", key)) if chance else None),
                _csv_cell(ref_at.get(("ref_supervised_exposure_w", key)) if chance else None),
                _csv_cell(ref_at.get(("ref_supervised_exposure", key)) if chance else None),
                *(_csv_cell(entry[k]) for k in SPREAD_FIELDS),
            ]
        )
    _atomic_write_text(out_dir / "summary.csv", buf.getvalue())
    _atomic_write_text(out_dir / "summary.md", summary_markdown(summary, config, references=refs))
    tests = paired_tests(rows, config)
    _atomic_write_text(out_dir / "summary_tests.csv", paired_tests_csv(tests, config))
    _atomic_write_text(out_dir / "summary_tests.md", paired_tests_markdown(tests, config))
    return rows


def draw_of(row: dict[str, Any]) -> Any:
    """The dataset draw of a results row: its data seed (rows written before data seeds
    existed: their seed; runs on existing data: None, one draw)."""
    return row.get("data_seed", row["seed"])


def _run_key(row: dict[str, Any]) -> tuple[Any, int]:
    return (draw_of(row), int(row["seed"]))


def _by_seed(
    rows: list[dict[str, Any]], model: str, key: str, metric: str
) -> dict[tuple[Any, int], float]:
    return {
        _run_key(r): float(r[metric])
        for r in rows
        if r["model"] == model and format_value(r["value"]) == key and r.get(metric) is not None
    }


def paired_tests(rows: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """Paired t-tests between every two models over seeds, per metric and knob value.

    For each metric of :data:`TEST_METRICS`, each pair ``(a, b)`` of ``config.models`` (in that
    order) and each knob value, the runs of ``a`` and ``b`` with the same (data seed, model
    seed) are paired and
    :func:`metrics.paired_t_test` is applied to ``a - b`` (two-sided).

    Returns
    -------
    list of dict
        ``{"metric", "model_a", "model_b", "value", "mean_diff", "t", "p", "n"}``; ``t``/``p``
        None with fewer than 2 pairs.
    """
    from metrics.bootstrap import paired_t_test

    out = []
    models = list(config.models)
    for metric in TEST_METRICS:
        for i, a in enumerate(models):
            for b in models[i + 1 :]:
                for value in config.values:
                    key = format_value(value)

                    va = _by_seed(rows, a, key, metric)
                    vb = _by_seed(rows, b, key, metric)
                    seeds = sorted(set(va) & set(vb))
                    entry: dict[str, Any] = {
                        "metric": metric,
                        "model_a": a,
                        "model_b": b,
                        "value": value,
                        "mean_diff": None,
                        "t": None,
                        "p": None,
                        "n": len(seeds),
                    }
                    if seeds:
                        diffs = [va[s] - vb[s] for s in seeds]
                        entry["mean_diff"] = float(np.mean(diffs))
                    if len(seeds) >= 2:
                        res = paired_t_test([va[s] for s in seeds], [vb[s] for s in seeds])
                        entry["t"], entry["p"] = float(res["t"]), float(res["p"])
                    out.append(entry)
    return out


def format_p(p: float | None) -> str:
    """A p-value as Table 3 of the paper reports them: two significant digits (``3.1e-04``)."""
    if p is None or not math.isfinite(p):
        return "–"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def paired_tests_csv(tests: list[dict[str, Any]], config: SweepConfig) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric", "model_a", "model_b", config.knob, "mean_diff", "t", "p", "n"])
    for e in tests:
        writer.writerow(
            [
                e["metric"],
                e["model_a"],
                e["model_b"],
                format_value(e["value"]),
                _csv_cell(e["mean_diff"]),
                _csv_cell(e["t"]),
                _csv_cell(e["p"]),
                e["n"],
            ]
        )
    return buf.getvalue()


def paired_tests_markdown(tests: list[dict[str, Any]], config: SweepConfig) -> str:
    """Markdown: per metric, one row per model pair, ``mean difference (p = ...)`` per value."""
    lines = [
        f"# Paired t-tests between models over seeds ({config.knob})",
        "",
        "Each cell: mean over seeds of (model A - model B) and the two-sided paired t-test "
        "p-value (runs paired by seed; `n` pairs); `–` with fewer than 2 pairs.",
    ]
    header = "| A vs B | " + " | ".join(f"{config.knob}={format_value(v)}" for v in config.values)
    rule = "|---|" + "---|" * len(config.values)
    for metric in TEST_METRICS:
        entries = [e for e in tests if e["metric"] == metric]
        if not entries:
            continue
        lines += ["", f"## {METRIC_TITLES.get(metric, metric)}", "", header + " |", rule]
        pairs = list(dict.fromkeys((e["model_a"], e["model_b"]) for e in entries))
        for a, b in pairs:
            cells = []
            for value in config.values:
                e = next(
                    x
                    for x in entries
                    if (x["model_a"], x["model_b"]) == (a, b)
                    and format_value(x["value"]) == format_value(value)
                )
                if e["mean_diff"] is None:
                    cells.append("–")
                    continue
                cells.append(f"{e['mean_diff']:+.4f} (p = {format_p(e['p'])}, n={e['n']})")
            lines.append(f"| {a} vs {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


#: Extra columns of summary.csv: the reference levels at the row's knob value (mean over seeds)
#: for the MCC rows (weak oracle on mcc_weak rows; chance only for strong MCC); blank elsewhere.
SUMMARY_REFERENCE_COLUMNS = (
    "proxy_oracle",
    "chance_mean",
    "chance_p95",
    "supervised_exposure_w",
    "supervised_exposure",
)
PRIOR_ONLY_METRIC = "mcc_prior_only"
#: Fields of a summary entry that split its spread by draw (:func:`metrics.variance_split`).
SPREAD_FIELDS = ("sd_between", "sd_within", "share_between")
METRIC_TITLES[PRIOR_ONLY_METRIC] = "MCC of the learned prior mean mu_w(W) alone (no encoder)"


def _mean_std(vals: np.ndarray) -> tuple[float | None, float | None]:
    n = len(vals)
    return (
        float(vals.mean()) if n else None,
        float(vals.std(ddof=1)) if n > 1 else (0.0 if n else None),
    )


def summarize_references(rows: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """Mean and std over seeds (datasets) of each reference level, per knob value.

    Each (value, data seed) dataset counts once, whatever the number of runs on it.

    Returns
    -------
    list of dict
        ``{"reference", "value", "mean", "std", "n"}`` for every column of
        :data:`REFERENCE_COLUMNS` and knob value that some run carries; empty without truth.
    """
    out = []
    for ref in REFERENCE_COLUMNS:
        for value in config.values:
            key = format_value(value)
            per_seed: dict[Any, float] = {}
            for r in rows:
                if format_value(r["value"]) == key and r.get(ref) is not None:
                    per_seed.setdefault(draw_of(r), float(r[ref]))
            if not per_seed:
                continue
            mean, std = _mean_std(np.array(list(per_seed.values()), dtype=float))
            out.append(
                {"reference": ref, "value": value, "mean": mean, "std": std, "n": len(per_seed)}
            )
    return out


def summarize(rows: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """Mean and std over seeds of each metric, per (model, knob value).

    The std is the sample standard deviation (ddof=1) when there are two runs or more, else 0.
    Each entry also splits the spread by draw (:func:`metrics.variance_split`): ``sd_between``
    (std of the draw means), ``sd_within`` (pooled std across model seeds on one draw) and
    ``share_between``; None where a part is not defined (a paired sweep has one run per draw).

    Returns
    -------
    list of dict
        ``{"metric", "model", "value", "mean", "std", "n"}`` for every metric of
        :data:`SUMMARY_METRICS`, model and value (``mean``/``std`` None when no run finished),
        then ``"mcc_prior_only"`` (the learned prior mean's MCC) and ``"stopping_regret"``
        (best traced MCC minus the checkpoint's, issue 5) for the models whose runs report them.
    """
    out = []
    with_prior = [
        m
        for m in config.models
        if any(r["model"] == m and r.get(PRIOR_ONLY_METRIC) is not None for r in rows)
    ]
    with_regret = [
        m
        for m in config.models
        if any(r["model"] == m and r.get(REGRET_METRIC) is not None for r in rows)
    ]
    extra = {PRIOR_ONLY_METRIC: with_prior, REGRET_METRIC: with_regret}
    for metric in (*SUMMARY_METRICS, PRIOR_ONLY_METRIC, REGRET_METRIC):
        for model in extra.get(metric, config.models):
            for value in config.values:
                key = format_value(value)
                cell = [
                    r
                    for r in rows
                    if r["model"] == model
                    and format_value(r["value"]) == key
                    and r.get(metric) is not None
                ]
                vals = np.array([float(r[metric]) for r in cell], dtype=float)
                n = len(vals)
                entry = {
                    "metric": metric,
                    "model": model,
                    "value": value,
                    "mean": float(vals.mean()) if n else None,
                    "std": float(vals.std(ddof=1)) if n > 1 else (0.0 if n else None),
                    "n": n,
                    "sd_between": None,
                    "sd_within": None,
                    "share_between": None,
                }
                if n and np.all(np.isfinite(vals)):
                    groups: dict[Any, list[float]] = {}
                    for r, v in zip(cell, vals, strict=True):
                        groups.setdefault(draw_of(r), []).append(float(v))
                    split = variance_split(groups)
                    entry.update({k: split[k] for k in SPREAD_FIELDS})
                out.append(entry)
    return out


def summary_markdown(
    summary: list[dict[str, Any]],
    config: SweepConfig,
    *,
    references: list[dict[str, Any]] | None = None,
) -> str:
    """Markdown: one table per metric, models as rows and knob values as columns.

    With ``references`` (:func:`summarize_references`), the MCC tables get the proxy-oracle and
    chance rows under the models, and a last table lists every reference level.
    """
    size = ""
    if config.data is not None:
        source = f"data {config.data}"
    else:
        users = config.n_users if config.n_users is not None else "preset"
        items = config.n_items if config.n_items is not None else "preset"
        source = f"preset `{config.preset}`"
        size = f", {users} users x {items} items"
    lines = [
        f"# Sweep over {config.knob}: {source}{size}, {seeds_label(config)}",
        "",
        "Mean ± std over runs (sample std, ddof=1); `(n=k)` marks a cell with fewer runs than "
        "planned.",
    ]
    if config.preset == "ividr-code" and config.data is None:
        lines += [
            "",
            "Preset `ividr-code`: its instrument Z is the proxy W itself, so Z is not "
            "independent of W here (DESIGN.md §2).",
        ]
    if config.sim_overrides:
        lines += ["", f"Simulator knobs fixed: {config.sim_overrides}"]
    if config.epochs is not None or config.fit_overrides:
        lines += ["", f"Fit settings: epochs={config.epochs}, {config.fit_overrides}"]
    header = "| model | " + " | ".join(f"{config.knob}={format_value(v)}" for v in config.values)
    rule = "|---|" + "---|" * len(config.values)
    references = references or []

    def ref_cell(ref: str, value: Any) -> str:
        entry = next(
            (
                e
                for e in references
                if e["reference"] == ref and format_value(e["value"]) == format_value(value)
            ),
            None,
        )
        if entry is None or entry["mean"] is None:
            return "–"
        if ref.startswith("ref_chance"):  # a function of (n_users, d) only: no spread to show
            return f"{entry['mean']:.4f}"
        return f"{entry['mean']:.4f} ± {entry['std']:.4f}"

    def ref_line(label: str, refs: Sequence[str]) -> str:
        cells = [" / ".join(ref_cell(r, v) for r in refs) for v in config.values]
        return f"| _{label}_ | " + " | ".join(cells) + " |"

    metrics = [
        m
        for m in (*SUMMARY_METRICS, PRIOR_ONLY_METRIC, REGRET_METRIC)
        if any(e["metric"] == m for e in summary)
    ]
    for metric in metrics:
        lines += ["", f"## {METRIC_TITLES.get(metric, metric)}", "", header + " |", rule]
        for model in config.models:
            if not any(e["metric"] == metric and e["model"] == model for e in summary):
                continue
            cells = []
            for value in config.values:
                entry = next(
                    e
                    for e in summary
                    if e["metric"] == metric
                    and e["model"] == model
                    and format_value(e["value"]) == format_value(value)
                )
                if entry["mean"] is None:
                    cells.append("–")
                    continue
                cell = f"{entry['mean']:.4f} ± {entry['std']:.4f}"
                if entry["n"] < config.runs_per_cell:
                    cell += f" (n={entry['n']})"
                cells.append(cell)
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        if references and metric in ("mcc", PRIOR_ONLY_METRIC):
            lines.append(ref_line("reference: proxy oracle E[C|W]", ["ref_oracle"]))
            lines.append(
                ref_line("reference: chance, mean / p95", ["ref_chance", "ref_chance_p95"])
            )
            lines.append(
                ref_line(
                    "reference: supervised ceiling, exposures + W / exposures",
                    ["ref_supervised_exposure_w", "ref_supervised_exposure"],
                )
            )
        elif references and metric == "mcc_weak":
            lines.append(ref_line("reference: proxy oracle E[C|W]", ["ref_oracle_weak"]))
    if config.crossed:
        lines += spread_markdown(summary, config, header, rule)
    if references:
        lines += [
            "",
            "## Reference levels of the datasets (mean ± std over seeds)",
            "",
            "Proxy oracle: MCC between the true C and its W-group means E[C|W], the best any "
            "function of W alone reaches. Chance: strong MCC between C and independent Gaussian "
            "latents of the same shape (mean and 95th percentile of 200 draws). R^2: held-out "
            "ridge regression of C on the exposure row, and on one-hot W. A model's MCC above "
            "the proxy oracle needs information beyond W; the prior-only row shows what its "
            "learned prior mu_w(W) alone reaches. Supervised ceiling: strong MCC of a 5-fold "
            "cross-fitted regressor of C trained on the truth (gradient boosting on the "
            "exposure row's SVD, with and without one-hot W); no encoder q(C | A, W) beats it "
            "by more than estimation error.",
            "",
            header.replace("| model |", "| reference |") + " |",
            rule,
        ]
        for ref, label in REFERENCE_COLUMNS.items():
            if any(e["reference"] == ref for e in references):
                lines.append(
                    f"| {label} | " + " | ".join(ref_cell(ref, v) for v in config.values) + " |"
                )
    return "\n".join(lines) + "\n"


def seeds_label(config: SweepConfig) -> str:
    """How a sweep seeds its runs, in words."""
    if not config.crossed:
        return f"{config.seeds} seed(s)"
    return (
        f"{config.data_seeds or 1} data seed(s) x {config.model_seeds or 1} model seed(s) per value"
    )


def spread_markdown(
    summary: list[dict[str, Any]], config: SweepConfig, header: str, rule: str
) -> list[str]:
    """Lines of the 'where the spread comes from' table of a crossed sweep (strong MCC, and the
    test NDCG@5)."""
    lines: list[str] = []
    for metric in ("mcc", "ndcg@5"):
        entries = [e for e in summary if e["metric"] == metric and e["n"]]
        if not entries:
            continue
        lines += [
            "",
            f"## Spread of {METRIC_TITLES.get(metric, metric)}: between draws / within a draw",
            "",
            "Std of the draw means (data seeds) / pooled std across model seeds on one draw, "
            "and the between-draw share of one run's variance (random-effects estimate; "
            "`metrics.variance_split`).",
            "",
            header + " |",
            rule,
        ]
        for model in config.models:
            cells = []
            for value in config.values:
                e = next(
                    (
                        x
                        for x in entries
                        if x["model"] == model and format_value(x["value"]) == format_value(value)
                    ),
                    None,
                )
                if e is None:
                    cells.append("–")
                    continue
                parts = [
                    "–" if e[k] is None else f"{e[k]:.4f}" for k in ("sd_between", "sd_within")
                ]
                share = e["share_between"]
                cells.append(" / ".join(parts) + ("" if share is None else f" ({share:.0%})"))
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


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
    return config, _sorted_rows(finished_runs(sweep_dir), config)


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
        fields = ", ".join(
            f"{k}: {existing.to_dict()[k]!r} there vs {config.to_dict()[k]!r} now"
            for k in existing.diff(config)
        )
        raise SweepError(
            f"{out_dir} holds a different sweep ({fields}); use another --out or the same options"
        )
    if existing is None and Path(out_dir).is_dir():
        stray = [p.name for p in Path(out_dir).iterdir() if not p.name.startswith(".")]
        if stray:
            raise SweepError(f"{out_dir} is not empty and holds no sweep.json; use another --out")


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------
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


#: torch threads per run unless told otherwise. One: these models are small, and torch's
#: intra-op threads cost more than they gain (on the 2-core reference machine, an iDCF fit of
#: the default dataset ran 6-10x slower with 2 threads than with 1); parallelism comes from
#: running runs side by side (``jobs``) instead.
DEFAULT_THREADS = 1


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
        torch threads per run (None: :data:`DEFAULT_THREADS`, 1), on every backend; the
        caller's own setting is restored after in-process runs.
    progress : callable or None
        Called as ``progress(done, total, run_id)`` after each run of this invocation.
    fit_fn : callable, "module:function" or None
        Replaces :func:`default_fit` (tests inject a fast fake here). Must be picklable for
        ``jobs > 1`` and the Ray backend.

    Returns
    -------
    SweepOutcome
    """
    start = time.perf_counter()
    if backend not in ("local", "ray"):
        raise SweepError(
            f"The 'backend' parameter of run_sweep must be 'local' or 'ray'. Got {backend!r}."
        )
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SweepError(
            f"The 'jobs' parameter of run_sweep must be an int in the range [1, inf). "
            f"Got {jobs!r} instead."
        )
    if backend == "ray":
        ray = _import_ray()
    out_dir = Path(out_dir).resolve()
    check_resumable(out_dir, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(out_dir / ".lock", blocking=False) as acquired:
        if not acquired:
            raise SweepError(f"{out_dir}: another sweep is running in this directory")
        check_resumable(out_dir, config)  # again, now that we hold the lock
        if read_config(out_dir) is None:
            _atomic_write_text(out_dir / "sweep.json", _dumps(config.to_dict()))
        _clean_stale(out_dir)
        done = finished_runs(out_dir)
        write_tables(out_dir, config)
        todo = [s for s in config.runs() if s.run_id not in done]
        skipped = [s.run_id for s in config.runs() if s.run_id in done]
        failures: dict[str, str] = {}
        ran: list[str] = []

        def record(outcome: dict[str, Any]) -> None:
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
                _atomic_write_text(
                    out_dir / "failures" / f"{run_id}.txt",
                    outcome["error"] + "\n\n" + outcome.get("traceback", ""),
                )
            if progress is not None:
                progress(len(ran) + len(failures), len(todo), run_id)

        tasks = [
            {"out_dir": str(out_dir), "config": config.to_dict(), "spec": dataclasses.asdict(s)}
            for s in todo
        ]
        threads = threads or DEFAULT_THREADS
        if backend == "ray":
            _run_ray(ray, tasks, record, address=address, threads=threads, fit_fn=fit_fn)
        elif jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                record(execute_run(task, fit_fn, threads))
        else:
            _run_pool(tasks, record, jobs=jobs, threads=threads, fit=fit_fn)
        rows = write_tables(out_dir, config)
    return SweepOutcome(rows, ran, skipped, failures, time.perf_counter() - start)


def _clean_stale(out_dir: Path) -> None:
    """Remove temporaries left by a killed sweep (never a finished run)."""
    for parent in (out_dir, _runs_dir(out_dir), out_dir / "data"):
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.name.startswith(".") and (".tmp-" in child.name or ".old-" in child.name):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _run_pool(
    tasks: list[dict[str, Any]],
    record: Callable[[dict[str, Any]], None],
    *,
    jobs: int,
    threads: int,
    fit: FitFn | str | None,
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(os.getpid(), threads),
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


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError(
            "the Ray backend needs the optional dependency 'ray': pip install 'ividr-toolkit[ray]'"
        ) from None
    return ray


def _ray_execute(task: dict[str, Any], fit_fn: FitFn | str | None, threads: int):
    return execute_run(task, fit_fn, threads)


def _run_ray(
    ray,
    tasks: list[dict[str, Any]],
    record: Callable[[dict[str, Any]], None],
    *,
    address: str | None,
    threads: int,
    fit_fn: FitFn | str | None,
) -> None:
    started = False
    if not ray.is_initialized():
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
            raise SweepError(f"could not start or join Ray (address {address!r}): {exc}") from exc
        finally:
            if saved is None:
                os.environ.pop("RAY_worker_niceness", None)
        started = True
    refs: dict[Any, dict[str, Any]] = {}
    try:
        remote = ray.remote(num_cpus=threads, max_retries=0)(_ray_execute)
        refs = {remote.remote(task, fit_fn, threads): task for task in tasks}
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
    finally:
        if started:
            ray.shutdown()


def print_summary(out_dir: str | Path, *, file=None) -> None:
    """Print summary.md of a sweep directory (stdout by default)."""
    text = (Path(out_dir) / "summary.md").read_text(encoding="utf-8")
    print(text, end="", file=file or sys.stdout)
