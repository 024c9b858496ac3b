"""How ``ividr sweep``'s command line becomes a sweep's fit variants (docs/design.md §6).

``--variant NAME:key=value,...``, ``--variant-models NAME:MODEL,...``, ``--skip-base
MODEL,...``, ``--stop-on`` and the old model-name suffixes of ``--models`` (``idcf+shuffle``,
``idcf@ndcg``) all end as :attr:`SweepConfig.variants`, :attr:`SweepConfig.variant_models` and
:attr:`SweepConfig.skip_base` (a model named only with suffixes runs no base, as before variants
existed, and so does a latent model under ``--stop-on`` rules without elbo, the base's rule);
anything malformed is a usage error (exit 2) naming its option.
"""

from __future__ import annotations

import click

from ividr.cli.common import config_choices
from ividr.experiments.errors import SweepError
from ividr.experiments.grid import SweepConfig
from ividr.experiments.variants import (
    DEFAULT_STOP_RULE,
    legacy_skip_base,
    legacy_variants,
    parse_variant,
    parse_variant_models,
)
from ividr.registry import LATENT_MODELS

__all__ = ["check_variants", "variants_from_options"]


def _stop_rule_variants(variants: dict, limits: dict, stop_on: str) -> tuple[dict, dict]:
    """``variants`` crossed with the rules of ``--stop-on`` (exit 2 if bad): the base and each
    variant once per rule, named ``<rule>`` / ``<variant>_<rule>``; the default rule (elbo) is
    the base's (and each variant's own). A variant's limit to some models (``limits``) holds
    for each of its rules."""
    choices = config_choices("stop_on")
    rules = [r.strip() for r in stop_on.split(",")]
    if not rules or any(r not in choices for r in rules) or len(set(rules)) != len(rules):
        raise click.BadParameter(
            f"must be a comma-separated list of distinct rules among {list(choices)}. "
            f"Got {stop_on!r} instead.",
            param_hint="'--stop-on'",
        )
    out: dict = {}
    out_limits: dict = {}
    for name, overrides in [("", {}), *variants.items()]:
        for rule in rules:
            key = name if rule == DEFAULT_STOP_RULE else "_".join(filter(None, (name, rule)))
            if key:
                out[key] = overrides if key == name else {**overrides, "stop_on": rule}
                if name in limits:
                    out_limits[key] = limits[name]
    return out, out_limits


def _variant_limits(options: tuple[str, ...], variants: dict, legacy: dict) -> dict:
    """The models each ``--variant`` is limited to (``--variant-models``), beside the limits of
    the old suffixes (``legacy``); a malformed or repeated one, or a NAME that is not a
    ``--variant``, is a usage error (exit 2). The models are checked by SweepConfig."""
    limits = dict(legacy)
    for text in options:
        try:
            name, models = parse_variant_models(text)
        except SweepError as exc:
            raise click.BadParameter(str(exc), param_hint="'--variant-models'") from None
        if name in legacy:
            why = "comes from a suffix of --models, which limits it to the models that carry it"
        elif name in limits:
            why = "is limited twice"
        elif name not in variants:
            why = f"is not the NAME of a --variant (they are {list(variants)})"
        else:
            limits[name] = models
            continue
        raise click.BadParameter(f"{name!r} {why}", param_hint="'--variant-models'")
    return limits


def variants_from_options(
    models: list[str],
    options: tuple[str, ...],
    limit_options: tuple[str, ...],
    stop_on: str | None,
    skip_base: str | None = None,
):
    """The plain models (comma-separated), the variants, the models each is limited to and the
    models that run no base, from ``--models`` (old suffixes), ``--variant``,
    ``--variant-models``, ``--stop-on`` and ``--skip-base``; a bad or repeated variant is a
    usage error (exit 2)."""
    plain, variants, legacy = legacy_variants(models)
    for text in options:
        try:
            name, overrides = parse_variant(text)
        except SweepError as exc:
            raise click.BadParameter(str(exc), param_hint="'--variant'") from None
        if name in variants:
            raise click.BadParameter(
                f"{name!r} names two variants (the old suffixes of --models are variants too)",
                param_hint="'--variant'",
            )
        variants[name] = overrides
    limits = _variant_limits(limit_options, variants, legacy)
    skip = list(legacy_skip_base(models))
    if stop_on is not None:
        variants, limits = _stop_rule_variants(variants, limits, stop_on)
        if DEFAULT_STOP_RULE not in (r.strip() for r in stop_on.split(",")):
            # the rules asked for only: a latent model's base (elbo) is not one of them
            skip += [m for m in plain if m in LATENT_MODELS]
    skip += [m.strip() for m in (skip_base or "").split(",") if m.strip()]
    return ",".join(plain), variants, limits, tuple(dict.fromkeys(skip))


def check_variants(
    models: str, variants: dict, limits: dict, skip: tuple, fit_overrides: dict, epochs
) -> None:
    """The variants, their limits and the models that skip their base against the models and
    the fit options (exit 2, naming the problem and the option)."""
    steps = (("'--variant'", {}, ()), ("'--variant-models'", limits, ()))
    for hint, variant_models, skip_base in (*steps, ("'--skip-base'", limits, skip)):
        try:
            SweepConfig(
                models=tuple(models.split(",")),
                epochs=epochs,
                fit_overrides=fit_overrides,
                variants=variants,
                variant_models=variant_models,
                skip_base=skip_base,
            )
        except SweepError as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from None
