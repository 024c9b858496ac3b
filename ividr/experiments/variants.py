"""The variant axis of a sweep: the names of its (model, variant) rows and its command-line text.

What a variant is, which models run it and how it enters a run's identity: the docstring of
:mod:`ividr.experiments.grid`. Here: how tables name a (model, variant) (:func:`model_label`,
:func:`row_label`), the old model-name suffixes (``+shuffle``, ``@<rule>``; :func:`legacy_names`)
read as variants (:func:`legacy_variants`, :func:`legacy_skip_base`), and the text of
``--variant`` and ``--variant-models`` read as a variant's overrides and models
(:func:`parse_variant`, :func:`parse_variant_models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ividr.experiments.errors import SweepError
from ividr.registry import LATENT_MODELS, MODEL_NAMES, SHUFFLE_MODELS

#: The stopping rule of a fit that names none (FitConfig.stop_on's default): an old ``@elbo``
#: suffix is the base (:func:`legacy_variants`).
DEFAULT_STOP_RULE = "elbo"
#: The old suffix of a W-shuffled fit (``idcf+shuffle``), the variant ``{"shuffle_aux": True}``
#: now: the proxy W permuted across users before training (the reference levels of §5).
SHUFFLE_SUFFIX = "+shuffle"
#: The old separator of a stopping rule (``idcf@ndcg``, ``idcf+shuffle@epochs``), the variant
#: ``{"stop_on": rule}`` now (§4.3).
STOP_SEPARATOR = "@"


def split_stop(name: str) -> tuple[str, str | None]:
    """``"idcf@ndcg"`` -> ``("idcf", "ndcg")``; ``"idcf"`` -> ``("idcf", None)``."""
    base, sep, rule = name.partition(STOP_SEPARATOR)
    return (base, rule) if sep else (name, None)


def split_model(name: str) -> tuple[str, bool]:
    """``"idcf+shuffle"`` -> ``("idcf", True)``; ``"idcf"`` -> ``("idcf", False)``."""
    if name.endswith(SHUFFLE_SUFFIX):
        return name[: -len(SHUFFLE_SUFFIX)], True
    return name, False


def legacy_names(stop_rules: Sequence[str] | None = None) -> tuple[str, ...]:
    """The model names ``--models`` and a stored sweep.json may hold: :data:`MODEL_NAMES`, then
    the old W-shuffled names ``<model>+shuffle`` of the models with a learned prior, then every
    latent model with an old stopping-rule suffix ``<model>@<rule>`` (rules:
    ``ividr.defaults.STOP_RULES`` unless given); :func:`legacy_variants` reads them."""
    if stop_rules is None:
        from ividr.defaults import STOP_RULES as stop_rules
    plain = MODEL_NAMES + tuple(m + SHUFFLE_SUFFIX for m in MODEL_NAMES if m in SHUFFLE_MODELS)
    stopped = tuple(
        f"{m}{STOP_SEPARATOR}{r}"
        for m in plain
        if split_model(m)[0] in LATENT_MODELS
        for r in stop_rules
    )
    return plain + stopped


def model_label(model: str, variant: str = "") -> str:
    """How tables name a (model, variant): ``model`` for the base (``""``), else
    ``model[variant]`` (``idcf[shuffle]``)."""
    return f"{model}[{variant}]" if variant else model


def row_label(row: dict[str, Any]) -> str:
    """The :func:`model_label` of a results row (rows without a ``variant`` are the base's)."""
    return model_label(row["model"], row.get("variant") or "")


def legacy_variants(
    models: Sequence[str],
) -> tuple[tuple[str, ...], dict[str, dict[str, Any]], dict[str, tuple[str, ...]]]:
    """Old model names with suffixes, as plain models, variants and the models each variant is
    limited to (:attr:`~ividr.experiments.grid.SweepConfig.variant_models`): the models that
    carried its suffix.

    ``<model>+shuffle`` becomes the variant ``shuffle`` = ``{"shuffle_aux": True}``,
    ``<model>@<rule>`` the variant ``<rule>`` = ``{"stop_on": rule}``, and both
    (``idcf+shuffle@ndcg``) the variant ``shuffle_ndcg``; the default rule ``elbo`` is the base's
    (``idcf@elbo`` is ``idcf``). The models keep the order in which they first appear.

    >>> legacy_variants(["mf", "idcf", "ividr", "idcf+shuffle@ndcg"])
    (('mf', 'idcf', 'ividr'), {'shuffle_ndcg': {'shuffle_aux': True, 'stop_on': 'ndcg'}}, \
{'shuffle_ndcg': ('idcf',)})
    """
    plain: dict[str, None] = {}
    variants: dict[str, dict[str, Any]] = {}
    limits: dict[str, dict[str, None]] = {}
    for name in models:
        stem, rule = split_stop(name)
        base, shuffled = split_model(stem)
        plain[base] = None
        overrides: dict[str, Any] = {"shuffle_aux": True} if shuffled else {}
        if rule is not None and rule != DEFAULT_STOP_RULE:
            overrides["stop_on"] = rule
        if overrides:
            key = "_".join(["shuffle"] * shuffled + [overrides.get("stop_on", "")]).strip("_")
            variants[key] = overrides
            limits.setdefault(key, {})[base] = None
    return tuple(plain), variants, {key: tuple(names) for key, names in limits.items()}


def legacy_skip_base(models: Sequence[str]) -> tuple[str, ...]:
    """The models that :func:`legacy_variants` makes plain but that were named only with a
    suffix: they run their variants, not their base
    (:attr:`~ividr.experiments.grid.SweepConfig.skip_base`), so that the old names fit what they
    fitted before variants existed.

    >>> legacy_skip_base(["mf", "idcf+shuffle", "ividr@elbo", "ividr@ndcg"])
    ('idcf',)
    """
    plain: dict[str, bool] = {}
    for name in models:
        stem, rule = split_stop(name)
        base, shuffled = split_model(stem)
        is_base = not shuffled and rule in (None, DEFAULT_STOP_RULE)
        plain[base] = plain.get(base, False) or is_base
    return tuple(model for model, named in plain.items() if not named)


def _parse_field(key: str, text: str) -> Any:
    """The text of a FitConfig field's value as that field's type (``none`` is None)."""
    from ividr.config import FitConfig
    from ividr.hyperparams import spec_of

    try:
        _, spec = spec_of(FitConfig, key)
    except KeyError:
        return text  # not a hyperparameter: SweepConfig's own checks name it
    if text.lower() in ("none", "null") and spec.optional:
        return None
    if text in spec.also or spec.kind in ("choice", "device"):
        return text
    if spec.kind == "bool":
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in truth:
            raise SweepError(f"{key}: expected true or false, got {text!r}")
        return truth[text.lower()]
    try:
        number = float(text)
        if spec.kind == "int":
            if not number.is_integer():
                raise ValueError
            return int(number)
        return number
    except ValueError:
        raise SweepError(
            f"{key}: expected {'an int' if spec.kind == 'int' else 'a number'}, got {text!r}"
        ) from None


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"NAME:key=value[,key=value...]"`` -> ``(NAME, {field: value})``, each value read as its
    FitConfig field's type (``true``/``false``, numbers, ``none``); ``-`` in a key reads as
    ``_``. The name and the fields are checked by :class:`~ividr.experiments.grid.SweepConfig`.

    >>> parse_variant("slow:latent-lr=1e-4,shuffle_aux=true")
    ('slow', {'latent_lr': 0.0001, 'shuffle_aux': True})

    Raises
    ------
    SweepError
        Without a ``:``, a ``key=value`` pair, or for a value not of its field's type.
    """
    name, sep, body = text.partition(":")
    name = name.strip()
    if not sep or not name or not body.strip():
        raise SweepError(f"expected NAME:KEY=VALUE[,KEY=VALUE...], got {text!r}")
    overrides: dict[str, Any] = {}
    for item in body.split(","):
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not key or not value.strip():
            raise SweepError(f"expected NAME:KEY=VALUE[,KEY=VALUE...], got {text!r}")
        if key in overrides:
            raise SweepError(f"variant {name!r} sets {key} twice")
        overrides[key] = _parse_field(key, value.strip())
    return name, overrides


def parse_variant_models(text: str) -> tuple[str, tuple[str, ...]]:
    """``"NAME:MODEL[,MODEL...]"`` -> ``(NAME, (MODEL, ...))``, the models a variant is limited to
    (:attr:`~ividr.experiments.grid.SweepConfig.variant_models`, which checks them against the
    sweep).

    >>> parse_variant_models("shuffle:idcf,ividr")
    ('shuffle', ('idcf', 'ividr'))

    Raises
    ------
    SweepError
        Without a ``:``, for an empty model name, or for a model named twice.
    """
    name, sep, body = text.partition(":")
    name = name.strip()
    models = tuple(m.strip() for m in body.split(","))
    if not sep or not name or not all(models):
        raise SweepError(f"expected NAME:MODEL[,MODEL...], got {text!r}")
    if len(set(models)) != len(models):
        raise SweepError(f"variant {name!r} names a model twice: {text!r}")
    return name, models
