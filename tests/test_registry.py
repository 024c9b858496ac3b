"""The model registry (ividr.registry) is the one table the API, CLIs, sweep and plots read."""

from __future__ import annotations

from ividr import models, registry
from ividr.api import _ESTIMATORS, MODEL_NAMES, FitConfig, build_estimator
from ividr.cli import main
from ividr.experiments.variants import legacy_names


def test_registry_agrees_with_the_estimator_classes():
    assert MODEL_NAMES == registry.MODEL_NAMES
    for entry in registry.MODELS:
        cls = getattr(models, entry.estimator)
        assert _ESTIMATORS[entry.name] == (cls, entry.kwargs)
        assert cls.has_latents == entry.latent, entry.name
        if hasattr(cls, "learned_prior"):  # IViDR's fused iVAE always has one (its net says so)
            assert cls.learned_prior == entry.learned_prior, entry.name
        assert isinstance(build_estimator(FitConfig(model=entry.name)), cls)


def test_every_reader_offers_the_registry_names():
    fit_model = next(p for p in main.commands["fit"].params if p.name == "model")
    assert tuple(fit_model.type.choices) == registry.MODEL_NAMES
    names = legacy_names(("elbo",))
    assert "idcf+shuffle@elbo" in names and "mf+shuffle" not in names and "mf@elbo" not in names
    assert registry.display_name("idcf+shuffle") == "iDCF (W shuffled)"
    assert registry.display_name("unknown") == "unknown"
