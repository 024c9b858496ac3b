"""A value set is checked once, at the first public entry it reaches (issue 23): the CLI, then
``fit_model``, ``build_estimator`` and the estimator's ``fit`` find the stamp and skip; any change
is checked again."""

from __future__ import annotations

import dataclasses

import pytest

import metrics.spec as spec
from ividr.api import FitConfig, build_estimator, fit_model
from metrics.checks import ParameterError
from simulator import SimConfig, generate

TINY = dict(restarts=1, epochs=2, latent_epochs=3, kl_anneal_epochs=1, n_boot=0)


@pytest.fixture
def count_checks(monkeypatch):
    """How many times check_fields runs, by owner."""
    calls: list[str] = []
    real = spec.check_fields

    def counting(obj, spec_cls, owner, **kwargs):
        calls.append(owner)
        return real(obj, spec_cls, owner, **kwargs)

    import ividr.config
    import ividr.models.base

    monkeypatch.setattr(ividr.config, "check_fields", counting)
    monkeypatch.setattr(ividr.models.base, "check_fields", counting)
    return calls


def test_a_fit_checks_its_config_once_along_the_whole_path(count_checks):
    data = generate(SimConfig(n_users=60, n_items=30, seed=1)).to_dataset()
    config = FitConfig(model="idcf", seed=0, **TINY)
    config.validate()  # what `ividr fit` does before anything is written
    fit_model(data, config)
    assert count_checks == ["FitConfig"]


def test_a_changed_config_is_checked_again_and_refused():
    config = FitConfig(model="idcf", **TINY).validate()
    config.restarts = 0
    with pytest.raises(ParameterError, match="'restarts'"):
        config.validate()
    # True equals 1 in Python, but a bool is not an int here: the stamp keeps the type.
    config.restarts = True
    with pytest.raises(ParameterError, match="'restarts'"):
        config.validate()
    fresh = dataclasses.replace(FitConfig(model="idcf", **TINY), latent_lr=-1.0)
    with pytest.raises(ParameterError, match="'latent_lr'"):
        fresh.validate()


def test_an_estimator_changed_after_it_was_built_is_checked_in_fit(count_checks):
    data = generate(SimConfig(n_users=60, n_items=30, seed=1)).to_dataset()
    est = build_estimator(FitConfig(model="mf", seed=0, **TINY))
    est.set_params(epochs=0)
    with pytest.raises(ParameterError, match="'epochs'"):
        est.fit(data)
    assert count_checks == ["FitConfig", "MF"]


def test_an_estimator_made_by_hand_is_checked_in_fit_once(count_checks):
    from ividr.models import MF

    data = generate(SimConfig(n_users=60, n_items=30, seed=1)).to_dataset()
    est = MF(seed=0, epochs=2)
    est.fit(data)
    est.fit(data)  # the same values: not checked again
    assert count_checks == ["MF"]
