"""The grid of a sweep: what runs, and under which names (docs/design.md §6).

:class:`SweepConfig` is a sweep's operative config (saved as ``sweep.json``; a resumed sweep must
match it exactly); :class:`RunSpec` is one run of its grid (a knob value, a model, a model seed
and, in a crossed sweep, a data seed).

Seeds. By default (``seeds``) run seed ``s`` generates its dataset with simulator seed ``s`` and
fits with model seed ``s``. With ``data_seeds`` / ``model_seeds`` the two are crossed: every data
seed (the simulator's draw) is fitted with every model seed (initialisation and split), run ids
``...__data=<d>__seed=<t>``, and the summaries split the spread into between-draw and
within-draw parts (:func:`metrics.variance_split`). The seeds are the same on every backend, so
the local and the Ray backends give the same results (given the same torch threads per run).

Variants. ``variants`` names fit variants: ``{name: FitConfig overrides}`` (``{"shuffle":
{"shuffle_aux": True}, "ndcg": {"stop_on": "ndcg"}}``). Every model runs its base (the unnamed
variant: the sweep's own fit settings; not for a model of ``skip_base``, which runs its variants
only), then each named variant that applies to it (every field
it overrides is one the model uses, :func:`ividr.api.model_fields`; a variant that applies to no
model of the sweep is refused). A run's variant is part of its identity: its run id
(``...__<model>__variant=<name>...``; the base's is unchanged), its results row (the ``variant``
column, only in sweeps with variants), the resume key and the summaries, whose tables name a
(model, variant) by its *label* (:func:`~ividr.experiments.variants.model_label`): ``model`` for
the base and ``model[variant]`` otherwise (``idcf``, ``idcf[shuffle]``). Without variants a sweep
writes what it wrote before variants existed. The labels, the old suffixes and the command-line
text of variants live in :mod:`ividr.experiments.variants`.

Limiting a variant to some models. ``variant_models`` (``{name: models}``, on the command line
``--variant-models NAME:MODEL[,MODEL...]``) runs variant ``name`` on those models only, each a
model of the sweep that uses every field the variant sets (``{"shuffle": ("idcf", "ividr")}``
fits no ``ividr-released[shuffle]`` beside them). It is a separate field, not a reserved key of a
variant's overrides, so that ``variants`` stays ``{name: FitConfig overrides}`` everywhere. A
limit is kept in the sweep's model order, and one that names every model the variant applies to
anyway is dropped: two configs that run the same fits are the same sweep (and resume each other).

The old model-name suffixes (``idcf+shuffle``, ``idcf@ndcg``) are still understood in a stored
sweep.json (:meth:`SweepConfig.fit_config`); new sweeps spell them as variants limited to the
models that carried the suffix (:func:`~ividr.experiments.variants.legacy_variants`):
``mf,idcf,ividr,idcf+shuffle`` runs mf, idcf, ividr and idcf[shuffle], and ``mf,idcf+shuffle``
runs mf and idcf[shuffle] only (idcf in ``skip_base``,
:func:`~ividr.experiments.variants.legacy_skip_base`), as they did before variants existed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ividr.experiments.errors import SweepError
from ividr.experiments.variants import model_label, split_model, split_stop
from ividr.registry import LATENT_ONLY, MODEL_NAMES
from metrics.checks import check_choice, check_int

#: Default grid of the paper's Table 5.
DEFAULT_KNOB = "gamma"
DEFAULT_VALUES: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
DEFAULT_MODELS: tuple[str, ...] = ("idcf", "ividr")
#: Knobs that a sweep may not vary: the seed is the sweep's own axis.
FORBIDDEN_KNOBS = frozenset({"seed", "preset", "process", "chunk_users"})
#: The single column of a sweep over one existing dataset (``--data DIR``).
DATA_VALUE_LABEL = "data"
#: FitConfig fields a variant may not override: the model and the seed are the sweep's own axes,
#: and the device is where a run runs, not what it is (docs/design.md §4.3).
FORBIDDEN_VARIANT_FIELDS = frozenset({"model", "seed", "device"})


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
    """Names of the simulator presets (docs/design.md §2)."""
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
        Simulator preset every dataset starts from (docs/design.md §2).
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
    variants : dict of str to dict, default {}
        Named fit variants, ``{name: FitConfig overrides}`` applied over ``fit_overrides``
        (module docstring): every model runs its base, then each variant that applies to it. A
        name is an identifier; the overrides are FitConfig fields (not ``model``, ``seed`` or
        ``device``) that pass FitConfig's own validation. ``{}``: one unnamed base variant
        (and sweep.json, results and tables are as before variants existed).
    variant_models : dict of str to tuple of str, default {}
        Limits a variant to some of the models it applies to, ``{name: models}`` (module
        docstring): each model is one of ``models`` and uses every field the variant sets. A
        variant without an entry runs on every model it applies to. Kept in the order of
        ``models``; an entry that names every model the variant applies to is dropped (not
        saved when empty).
    skip_base : tuple of str, default ()
        Models that run their variants only, not their base (the sweep's own fit settings):
        each one of ``models`` that runs at least one variant. Kept in the order of ``models``;
        not saved when empty.
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
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    variant_models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skip_base: tuple[str, ...] = ()

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
        object.__setattr__(self, "variants", _check_variants(self))
        applies, limits = _applicable_variants(self)
        object.__setattr__(self, "variant_models", limits)
        # Not a field: which variants each model runs (derived, so not compared or saved).
        object.__setattr__(self, "_applies", applies)
        object.__setattr__(self, "skip_base", _check_skip_base(self, applies))

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["values"] = list(self.values)
        out["models"] = list(self.models)
        out["variant_models"] = {k: list(v) for k, v in self.variant_models.items()}
        out["skip_base"] = list(self.skip_base)
        for key in ("variants", "variant_models", "skip_base"):
            if not out[key]:  # a sweep without them is saved as it was before they existed
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise SweepError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SweepError(f"unknown SweepConfig fields {unknown}")
        data = dict(data)
        for key in ("values", "models", "skip_base"):
            if key in data:
                data[key] = tuple(data[key])
        if isinstance(data.get("variant_models"), dict):
            data["variant_models"] = {k: tuple(v) for k, v in data["variant_models"].items()}
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

    def model_variants(self, model: str) -> tuple[str, ...]:
        """The variants ``model`` runs: ``""`` (its base, unless in ``skip_base``), then each
        named one that applies."""
        named = self._applies.get(model, ())
        return named if model in self.skip_base else ("", *named)

    def labels(self) -> list[str]:
        """The (model, variant) labels of the tables' rows (:func:`model_label`), in order:
        each model, its base then its variants."""
        return [model_label(m, v) for m in self.models for v in self.model_variants(m)]

    def runs(self) -> list[RunSpec]:
        """Every run of the sweep, in a fixed order: value, then seeds, then model, then
        variant."""
        return [
            RunSpec(knob=self.knob, value=v, model=m, seed=t, data_seed=d, variant=var)
            for v in self.values
            for d, t in self.seed_pairs()
            for m in self.models
            for var in self.model_variants(m)
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

    def fit_config(self, model: str, seed: int, variant: str = ""):
        """The :class:`~ividr.api.FitConfig` of one run: ``fit_overrides``, ``epochs``, then the
        variant's overrides. ``model`` may still carry an old suffix (a stored sweep.json)."""
        from ividr.api import FitConfig

        extra = self.variants[variant] if variant else {}
        kwargs = {**self.fit_overrides, **extra}
        name, stop_on = split_stop(model)
        base, shuffled = split_model(name)
        # A latent-only model's epochs are its latent stage's (FitConfig.epochs): an explicit
        # latent_epochs says that, and --epochs (every recommender stage) must not override it.
        if (
            self.epochs is not None
            and "epochs" not in extra
            and not (base in LATENT_ONLY and "latent_epochs" in kwargs)
        ):
            kwargs["epochs"] = self.epochs
        if shuffled:
            kwargs["shuffle_aux"] = True
        if stop_on is not None:
            kwargs["stop_on"] = stop_on
        return FitConfig(model=base, seed=seed, **kwargs)

    def diff(self, other: SweepConfig) -> list[str]:
        """Names of the fields that differ from ``other`` (one that only one of them saves
        too)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in {**mine, **theirs} if mine.get(k) != theirs.get(k)]


def _check_variants(config: SweepConfig) -> dict[str, dict[str, Any]]:
    """``config.variants`` checked (names, fields) and with each one's overrides sorted."""
    from ividr.config import FitConfig

    if not isinstance(config.variants, dict):
        raise SweepError(
            f"The 'variants' parameter of SweepConfig must be a dict. Got {config.variants!r}."
        )
    allowed = {f.name for f in dataclasses.fields(FitConfig)} - FORBIDDEN_VARIANT_FIELDS
    out: dict[str, dict[str, Any]] = {}
    for name, overrides in config.variants.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise SweepError(
                f"The variant name {name!r} of SweepConfig must be an identifier (letters, digits "
                "and _, not starting with a digit)."
            )
        if not isinstance(overrides, dict) or not overrides:
            raise SweepError(
                f"The variant {name!r} of SweepConfig must override at least one FitConfig "
                f"field. Got {overrides!r}."
            )
        unknown = sorted(k for k in overrides if k not in allowed)
        if unknown:
            why = (
                "the sweep's own axis or setting"
                if unknown[0] in FORBIDDEN_VARIANT_FIELDS
                else "not a FitConfig field (ividr.config.FitConfig)"
            )
            raise SweepError(
                f"The variant {name!r} of SweepConfig cannot override {unknown[0]!r}: {why}."
            )
        out[name] = dict(sorted(overrides.items()))
    return out


def _applicable_variants(
    config: SweepConfig,
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Model -> the variants of ``config`` it runs, each checked by FitConfig's own validation,
    and ``config.variant_models`` checked and in canonical form (module docstring). A variant
    that applies to no model is a SweepError."""
    if not config.variants and not config.variant_models:
        return {}, {}
    from ividr.api import model_fields

    uses: dict[str, tuple[str, ...]] = {}
    for name, overrides in config.variants.items():
        uses[name] = tuple(
            m
            for m in config.models
            if set(overrides) <= model_fields(split_model(split_stop(m)[0])[0])
        )
        if not uses[name]:
            raise SweepError(
                f"The variant {name!r} of SweepConfig applies to none of the models "
                f"{list(config.models)}: they do not use {sorted(overrides)}."
            )
    limits = _check_variant_models(config, uses)
    applies: dict[str, list[str]] = {}
    for name, models in uses.items():
        for model in limits.get(name, models):
            try:
                config.fit_config(model, 0, name).validate()
            except (ValueError, TypeError) as exc:
                raise SweepError(f"variant {name!r}: {exc}") from None
            applies.setdefault(model, []).append(name)
    return {m: tuple(v) for m, v in applies.items()}, limits


def _check_skip_base(config: SweepConfig, applies: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """``config.skip_base`` checked (each a model of the sweep that runs a variant, none twice)
    and in the sweep's model order."""
    skip = config.skip_base
    if isinstance(skip, str) or len(set(skip)) != len(tuple(skip)):
        raise SweepError(
            f"The 'skip_base' parameter of SweepConfig must be a list of distinct models. Got "
            f"{skip!r}."
        )
    for model in skip:
        if model not in config.models:
            raise SweepError(
                f"The 'skip_base' of SweepConfig must be among the sweep's models "
                f"{list(config.models)}. Got {model!r}."
            )
        if not applies.get(model):
            raise SweepError(
                f"The 'skip_base' of SweepConfig names {model!r}, which runs no variant: it "
                "would run nothing."
            )
    return tuple(m for m in config.models if m in skip)


def _check_variant_models(
    config: SweepConfig, uses: dict[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    """``config.variant_models`` checked against the variants and the models that use each
    one's fields (``uses``), in the sweep's model order, without the limits that limit
    nothing."""
    if not isinstance(config.variant_models, dict):
        raise SweepError(
            "The 'variant_models' parameter of SweepConfig must be a dict. "
            f"Got {config.variant_models!r}."
        )
    out: dict[str, tuple[str, ...]] = {}
    for name, models in config.variant_models.items():
        where = f"The models of the variant {name!r} of SweepConfig"
        if name not in config.variants:
            raise SweepError(
                f"The 'variant_models' of SweepConfig name {name!r}, which is not a variant "
                f"(the variants: {list(config.variants)})."
            )
        if isinstance(models, str) or not models or len(set(models)) != len(models):
            raise SweepError(
                f"{where} must be a non-empty list of distinct models. Got {models!r}."
            )
        for model in models:
            if model not in config.models:
                what = "a model of the sweep" if model in MODEL_NAMES else "a known model"
                raise SweepError(
                    f"{where} must be among the sweep's models {list(config.models)}: "
                    f"{model!r} is not {what}."
                )
            if model not in uses[name]:
                raise SweepError(
                    f"{where} must use every field the variant sets: {model!r} does not use "
                    f"{sorted(config.variants[name])}."
                )
        if set(models) != set(uses[name]):
            out[name] = tuple(m for m in config.models if m in models)
    return out


@dataclass(frozen=True)
class RunSpec:
    """One run: a knob value, a model, a model seed, (crossed sweeps) a data seed, and a variant.

    ``seed`` seeds the model (initialisation and split); ``data_seed`` the simulator, None
    meaning the same as ``seed`` (a paired sweep); ``variant`` names one of
    :attr:`SweepConfig.variants`, ``""`` being the base.
    """

    knob: str
    value: Any
    model: str
    seed: int
    data_seed: int | None = None
    variant: str = ""

    @property
    def sim_seed(self) -> int:
        """The simulator seed of the run's dataset."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def label(self) -> str:
        """The run's (model, variant) as tables name it (:func:`model_label`)."""
        return model_label(self.model, self.variant)

    @property
    def run_id(self) -> str:
        data = "" if self.data_seed is None else f"__data={self.data_seed}"
        variant = f"__variant={self.variant}" if self.variant else ""
        value = format_value(self.value)
        return f"{self.knob}={value}__{self.model}{variant}{data}__seed={self.seed}"

    @property
    def data_key(self) -> str:
        return f"{self.knob}={format_value(self.value)}_seed={self.sim_seed}"
