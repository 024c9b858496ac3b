"""The grid of a sweep: what runs, and under which names (DESIGN.md §6).

:class:`SweepConfig` is a sweep's operative config (saved as ``sweep.json``; a resumed sweep must
match it exactly); :class:`RunSpec` is one run of its grid (a knob value, a model, a model seed
and, in a crossed sweep, a data seed).

Seeds. By default (``seeds``) run seed ``s`` generates its dataset with simulator seed ``s`` and
fits with model seed ``s``. With ``data_seeds`` / ``model_seeds`` the two are crossed: every data
seed (the simulator's draw) is fitted with every model seed (initialisation and split), run ids
``...__data=<d>__seed=<t>``, and the summaries split the spread into between-draw and
within-draw parts (:func:`metrics.variance_split`). The seeds are the same on every backend, so
the local and the Ray backends give the same results (given the same torch threads per run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ividr.registry import LATENT_ONLY, split_model, split_stop
from metrics.checks import ParameterError, check_choice, check_int

#: Default grid of the paper's Table 5.
DEFAULT_KNOB = "gamma"
DEFAULT_VALUES: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
DEFAULT_MODELS: tuple[str, ...] = ("idcf", "ividr")
#: Knobs that a sweep may not vary: the seed is the sweep's own axis.
FORBIDDEN_KNOBS = frozenset({"seed", "preset", "process", "chunk_users"})
#: The single column of a sweep over one existing dataset (``--data DIR``).
DATA_VALUE_LABEL = "data"


class SweepError(ParameterError):
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
    """Names of the simulator presets (DESIGN.md §2)."""
    from simulator.config import PRESETS

    return tuple(PRESETS)


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
    check_choice(knob, "knob", "SweepConfig", allowed, error=SweepError)
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
            check_int(value, name, "SweepConfig", low=low, error=SweepError)
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
        name, stop_on = split_stop(model)
        base, shuffled = split_model(name)
        # A latent-only model's epochs are its latent stage's (FitConfig.epochs): an explicit
        # latent_epochs says that, and --epochs (every recommender stage) must not override it.
        if self.epochs is not None and not (base in LATENT_ONLY and "latent_epochs" in kwargs):
            kwargs["epochs"] = self.epochs
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
