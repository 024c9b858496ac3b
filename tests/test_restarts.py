"""Latent-stage restarts (docs/design.md §4.3): chosen by held-out ELBO, never the truth;
reproducible; one restart is a plain fit; successive halving prunes by the held-out ELBO."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import ividr.training.stages as stages
from ividr.api import FitConfig, build_estimator, fit_model, load_model, save_model
from ividr.training.loops import LatentTrainer
from ividr.training.stages import halving_schedule
from simulator import SimConfig, generate

#: Short settings that still train the latent stage (4 steps an epoch at a high rate).
FAST = dict(
    latent_epochs=30,
    kl_anneal_epochs=5,
    latent_patience=5,
    latent_lr=1e-2,
    latent_batch_size=64,
    n_boot=0,
    trace_every=0,
)


@pytest.fixture(scope="module")
def small():
    return generate(SimConfig.from_preset("idcf", n_users=300, n_items=60, seed=2)).to_dataset()


def crippled_trainer(bad: int):
    """A LatentTrainer whose restart ``bad`` stops after one epoch (known to be worse)."""

    class Crippled(LatentTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.restart == bad:
                self.max_epochs = 1

    return Crippled


@pytest.mark.parametrize("bad", [0, 1])
@pytest.mark.parametrize("with_truth", [True, False])
def test_kept_restart_has_the_lower_heldout_elbo(small, monkeypatch, bad, with_truth):
    monkeypatch.setattr(stages, "LatentTrainer", crippled_trainer(bad))
    data = small if with_truth else dataclasses.replace(small, truth=None)
    res = fit_model(data, FitConfig(model="ivae", seed=0, restarts=2, **FAST))
    report = res.metrics["restarts"]
    assert [r["restart"] for r in report] == [0, 1]
    assert report[bad]["epochs"] == 1 and report[1 - bad]["epochs"] > 1
    assert report[bad]["val_loss"] > report[1 - bad]["val_loss"]
    assert [r["kept"] for r in report] == [r == 1 - bad for r in (0, 1)]
    # The kept restart's epochs are the fit's latent history; the other's are marked as such.
    kept_rows = [r for r in res.history if r["stage"] == "latent"]
    assert len(kept_rows) == report[1 - bad]["epochs"]
    assert sum(r["stage"] == "latent-restart" for r in res.history) == 1
    assert ("restart_choice_best_mcc" in res.metrics) == with_truth
    assert all(("mcc" in r) == with_truth for r in report)


def test_one_restart_is_a_plain_fit_and_restart_zero_is_too(small):
    plain = fit_model(small, FitConfig(model="idcf", seed=4, epochs=2, restarts=1, **FAST))
    assert "restart" not in plain.history[0]  # one restart: the plain fit's history, unmarked
    assert [r["kept"] for r in plain.metrics["restarts"]] == [True]
    est = build_estimator(FitConfig(model="idcf", seed=4, epochs=2, restarts=3, **FAST))
    est.fit(small)
    # Restart 0 trains exactly as the plain fit: same initialisation, batches and split.
    np.testing.assert_array_equal(est.restart_latents_[0], plain.latents)
    assert est.restarts_[0]["val_loss"] == pytest.approx(
        next(r["val_loss"] for r in plain.history if r.get("checkpoint"))
    )
    zero = [r for r in est.history_ if r.get("restart") == 0]
    assert [r["val_loss"] for r in zero] == [
        r["val_loss"] for r in plain.history if r["stage"] == "latent"
    ]
    assert len({round(r["val_loss"], 6) for r in est.restarts_}) == 3  # distinct restarts


def test_default_is_four_restarts():
    assert FitConfig(model="idcf").restarts == 4
    assert build_estimator(FitConfig(model="ividr")).get_params()["restarts"] == 4


def test_restarts_are_reproducible_and_saved(small, tmp_path):
    config = FitConfig(model="ividr", seed=1, epochs=2, restarts=3, restart_screen_epochs=4, **FAST)
    a, b = fit_model(small, config), fit_model(small, config)
    np.testing.assert_array_equal(a.latents, b.latents)
    assert a.metrics["restarts"] == b.metrics["restarts"]
    assert a.estimator.get_params()["restarts"] == 3
    save_model(a.estimator, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.get_params() == a.estimator.get_params()
    np.testing.assert_array_equal(loaded.user_latents_, a.latents)


def test_successive_halving_prunes_by_heldout_elbo(small):
    config = FitConfig(model="ivae", seed=2, restarts=4, restart_screen_epochs=3, **FAST)
    report = fit_model(small, config).metrics["restarts"]
    pruned = {r["restart"]: r for r in report if r["pruned_at"] is not None}
    alive = [r for r in report if r["pruned_at"] is None]
    assert len(alive) == 1 and alive[0]["kept"]
    assert sorted(r["pruned_at"] for r in pruned.values()) == [3, 3, 6]
    assert all(r["epochs"] == r["pruned_at"] for r in pruned.values())
    assert alive[0]["epochs"] > 6


@pytest.mark.parametrize(
    ("restarts", "screen", "expected"),
    [
        (1, 50, []),
        (4, 0, []),
        (4, 50, [(50, 2), (100, 1)]),
        (3, 10, [(10, 2), (20, 1)]),
        (8, 5, [(5, 4), (10, 2), (20, 1)]),
    ],
)
def test_halving_schedule(restarts, screen, expected):
    assert halving_schedule(restarts, screen) == expected


def test_restarts_validated():
    with pytest.raises(ValueError, match="'restarts' parameter of FitConfig"):
        FitConfig(model="idcf", restarts=0).validate()


def test_restart_choice_replay_matches_the_rules():
    """benchmarks/restart_choice.py replays R' < R restarts and successive halving exactly."""
    from benchmarks.restart_choice import choose

    def restart(r, trajectory, mcc):
        kept = int(np.argmin(trajectory))
        return {"restart": r, "trajectory": trajectory, "val_loss": trajectory[kept], "mcc": mcc}

    pool = [
        restart(0, [9.0, 8.0, 7.0, 6.0, 5.0, 5.5], 0.8),  # slow start, best in the end
        restart(1, [8.0, 6.0, 6.0, 6.0], 0.3),  # fast start, stalls
        restart(2, [8.5, 7.5, 6.5, 6.4, 6.3], 0.5),
    ]
    kept, epochs = choose(pool, 1)
    assert kept["restart"] == 0 and epochs == 6
    kept, epochs = choose(pool, 3)  # all to the end: the lowest held-out ELBO wins
    assert kept["restart"] == 0 and epochs == 6 + 4 + 5
    # Halving from epoch 2 keeps restarts 1 and 2 (best so far 6.0, 7.5 < 8.0), then at epoch 4
    # restart 1 (6.0 < 6.4): the early leader, not the best in the end.
    kept, epochs = choose(pool, 3, screen=2)
    assert kept["restart"] == 1 and epochs == 2 + 4 + 4
