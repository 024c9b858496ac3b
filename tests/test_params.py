"""Every constructor parameter round-trips through get_params, cloning and saving, stop_on and
restarts included, for every model of the registry (Cornac's convention, STYLE.md)."""

from __future__ import annotations

import inspect

import pytest

from ividr import models, registry
from ividr.api import FitConfig, build_estimator, fit_model, load_model, save_model

#: A non-default value per parameter type, to see that it survives.
_CHANGED = {"stop_on": "epochs", "restarts": 3, "seed": 7, "latent_dim": 2}


def _changed_params(cls) -> dict:
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.name == "variant":
            continue
        if p.name in _CHANGED:
            out[p.name] = _CHANGED[p.name]
        elif isinstance(p.default, bool):
            out[p.name] = not p.default
        elif isinstance(p.default, int):
            out[p.name] = p.default + 1
        elif isinstance(p.default, float):
            out[p.name] = p.default * 0.5 + 0.125
    return out


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_get_params_round_trips_every_constructor_parameter(name):
    entry = registry.entry(name)
    cls = getattr(models, entry.estimator)
    params = {**_changed_params(cls), **entry.kwargs}
    est = cls(**params)
    got = est.get_params()
    assert set(got) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    for key, value in params.items():
        assert got[key] == value, key
    clone = cls(**got)
    assert clone.get_params() == got
    if name in registry.LATENT_MODELS:  # a trained latent stage (not the closed-form SVDs)
        assert "stop_on" in got and "restarts" in got


@pytest.mark.parametrize("name", registry.LATENT_MODELS)
def test_build_estimator_passes_stop_on_and_restarts(name):
    est = build_estimator(FitConfig(model=name, stop_on="ndcg", restarts=2))
    assert est.get_params()["stop_on"] == "ndcg" and est.get_params()["restarts"] == 2


def test_a_saved_model_reloads_with_stop_on_and_restarts(tmp_path):
    from simulator import SimConfig, generate

    data = generate(SimConfig.from_preset("idcf", n_users=60, n_items=30, seed=0)).to_dataset()
    config = FitConfig(model="ivae", epochs=2, stop_on="epochs", restarts=2, n_boot=0)
    result = fit_model(data, config)
    save_model(result.estimator, tmp_path / "model.pt")
    again = load_model(tmp_path / "model.pt")
    assert again.get_params() == result.estimator.get_params()
    assert again.stop_on == "epochs" and again.restarts == 2
