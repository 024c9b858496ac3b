"""``--protocol released`` changes exactly the settings it names and is saved; the latent lr x L2
grid keeps the point with the lowest held-out negative ELBO, never the truth (docs/design.md §4,
§4.3)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ividr.training.stages as stages
from ividr.api import MODEL_NAMES, FitConfig, build_estimator, fit_model
from ividr.cli import main
from ividr.experiments.grid import RunSpec, SweepConfig
from ividr.experiments.run import default_fit
from ividr.training.protocols import (
    LATENT_FIELDS,
    RECOMMENDER_FIELDS,
    protocol_fields,
    protocol_settings,
)
from simulator import SimConfig, generate
from simulator.writer import write_dataset

#: Short settings that still train the latent stage (4 steps an epoch at a high rate).
FAST = dict(
    latent_epochs=20,
    kl_anneal_epochs=4,
    latent_patience=5,
    latent_batch_size=64,
    n_boot=0,
    trace_every=0,
)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def sim():
    return generate(SimConfig.from_preset("idcf", n_users=300, n_items=60, seed=2))


@pytest.fixture(scope="module")
def small(sim):
    return sim.to_dataset()


# -- protocol --------------------------------------------------------------------------------
# The released codes' settings, written out here from the released scripts themselves (not from
# ividr.training.protocols, whose values they check):
# - iDCF, github.com/BgmLover/iDCF: ivae_exposure.py's non-tuning ``sample_config``: epochs 2000,
#   lr 5e-4; the feedback scripts (MF.py, MF-WF.py, iDCF-W.py, iDCF.py): epochs 100, nn.MSELoss.
# - IViDR, github.com/djf9706/DIVERS: IVERS_exposure.py's non-tuning ``sample_config``: epochs
#   1000, lr 1e-3, patience 100; IVERS.py / DIVERS.py: epochs 1000, patience 20, nn.MSELoss.
# - Both: batch 1024 on the simulations (argparser.py, ``simulation_params``); the KL weight grows
#   over ``int(0.2 * total_batches)`` steps, 20% of the maximum: 400 of 2000 epochs, 200 of 1000;
#   the patience counter runs from epoch 0 on the loss at the full KL weight; the recommender's
#   patience is ``--patience 20`` in both READMEs' command lines.
# IV4R-MF is absent from the released code and takes IViDR's recommender stage; the latent-only
# models have no recommender stage, MF and IV4R-MF no latent stage, the SVD baselines neither.
_IDCF_LATENT = {
    "latent_epochs": 2000,
    "latent_lr": 5e-4,
    "kl_anneal_epochs": 400,
    "latent_patience": 100,
    "patience_from_start": True,
    "latent_batch_size": 1024,
}
_IVIDR_LATENT = {
    "latent_epochs": 1000,
    "latent_lr": 1e-3,
    "kl_anneal_epochs": 200,
    "latent_patience": 100,
    "patience_from_start": True,
    "latent_batch_size": 1024,
}
_IDCF_RECOMMENDER = {"loss": "mse", "patience": 20, "epochs": 100}
_IVIDR_RECOMMENDER = {"loss": "mse", "patience": 20, "epochs": 1000}
RELEASED_BY_MODEL: dict[str, dict] = {
    "mf": _IDCF_RECOMMENDER,
    "mf-wf": _IDCF_RECOMMENDER,
    "vae": _IDCF_LATENT,
    "ivae": _IDCF_LATENT,
    "idcf-w": {**_IDCF_LATENT, **_IDCF_RECOMMENDER},
    "idcf": {**_IDCF_LATENT, **_IDCF_RECOMMENDER},
    "iv4r-mf": _IVIDR_RECOMMENDER,
    **{
        m: {**_IVIDR_LATENT, **_IVIDR_RECOMMENDER}
        for m in ("ividr", "ividr-t", "ividr-f", "ividr-r", "ividr-released")
    },
    "svd": {},
    "svd-w": {},
}


def test_every_model_has_its_released_settings_written_here():
    assert set(RELEASED_BY_MODEL) == set(MODEL_NAMES)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_released_changes_exactly_the_named_settings(model):
    ours = build_estimator(FitConfig(model=model)).get_params()
    released = build_estimator(FitConfig(model=model, protocol="released")).get_params()
    changed = {k for k in ours if ours[k] != released[k]}
    expected = RELEASED_BY_MODEL[model]
    assert protocol_settings("released", model) == expected
    assert set(protocol_fields(model)) == set(expected)
    assert set(expected) <= set(LATENT_FIELDS) | set(RECOMMENDER_FIELDS)
    assert changed <= set(expected)
    for key, value in expected.items():
        assert released[key] == value, key
    if "loss" in expected:
        # Ours: BCE (Eq. 25), patience 5, 100 epochs; lr, weight decay and grid stay as given.
        assert {"loss", "patience"} <= changed
        assert not {"lr", "weight_decay", "grid"} & changed
        assert ("epochs" in changed) == (expected["epochs"] != ours["epochs"])
    if "latent_lr" in expected:
        assert {"latent_patience", "patience_from_start"} <= changed


def test_released_recommender_stage_in_the_fit_config_and_explicit_epochs_kept():
    # The FitConfig is not rewritten; the estimator gets the values; every other field is equal.
    base, released = FitConfig(model="mf"), FitConfig(model="mf", protocol="released")
    diff = {k for k, v in base.to_dict().items() if released.to_dict()[k] != v}
    assert diff == {"protocol"}
    est = build_estimator(released)
    assert (est.loss, est.patience, est.epochs, est.grid) == ("mse", 20, 100, False)
    assert (est.lr, est.weight_decay, est.embedding_dim) == (1e-3, 1e-5, 64)
    # The released test-seed mode on Coat: lr and weight decay given, the protocol keeps them.
    config = FitConfig(model="iv4r-mf", protocol="released", epochs=7, lr=5e-4, weight_decay=1e-6)
    est = build_estimator(config)
    assert (est.loss, est.patience, est.epochs, est.grid) == ("mse", 20, 7, False)
    assert (est.lr, est.weight_decay) == (5e-4, 1e-6)
    assert build_estimator(FitConfig(model="mf", protocol="released", grid=True)).grid is True
    # A latent-only model's epochs are its latent epochs, not a recommender's.
    assert protocol_settings("released", "vae", latent_epochs=30) == {
        **{k: v for k, v in protocol_settings("released", "vae").items() if k != "latent_epochs"},
        "latent_epochs": 30,
        "kl_anneal_epochs": 6,
    }


def test_released_values_per_code_and_explicit_latent_epochs_kept():
    idcf = build_estimator(FitConfig(model="idcf", protocol="released"))
    assert (idcf.latent_epochs, idcf.latent_lr, idcf.kl_anneal_epochs) == (2000, 5e-4, 400)
    ividr = build_estimator(FitConfig(model="ividr", protocol="released"))
    assert (ividr.latent_epochs, ividr.latent_lr, ividr.kl_anneal_epochs) == (1000, 1e-3, 200)
    # An explicit maximum is kept and the annealing follows it (20% of it).
    est = build_estimator(FitConfig(model="ividr", protocol="released", latent_epochs=50))
    assert (est.latent_epochs, est.kl_anneal_epochs, est.latent_patience) == (50, 10, 100)
    est = build_estimator(FitConfig(model="ivae", protocol="released", epochs=30))
    assert (est.latent_epochs, est.kl_anneal_epochs) == (30, 6)
    # The config itself is not rewritten: it records the protocol, the estimator the values.
    config = FitConfig(model="idcf", protocol="released")
    build_estimator(config)
    assert config.latent_patience == 50 and config.to_dict()["protocol"] == "released"


def test_protocol_validated():
    with pytest.raises(ValueError, match="'protocol' parameter of FitConfig"):
        FitConfig(model="idcf", protocol="paper").validate()
    with pytest.raises(ValueError, match="'latent_grid' parameter of FitConfig"):
        FitConfig(model="idcf", latent_grid=1).validate()


def test_fit_cli_saves_the_protocol_in_config_json(sim, tmp_path):
    data = tmp_path / "data"
    write_dataset(sim, data)
    out = tmp_path / "run"
    args = ["fit", "--data", str(data), "--model", "idcf", "--out", str(out), "--quiet"]
    args += ["--protocol", "released", "--latent-epochs", "5", "--epochs", "1", "--n-boot", "0"]
    args += ["--no-references", "--threads", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["protocol"] == "released"
    assert config["protocol_settings"] == {
        "latent_epochs": 5,
        "latent_lr": 5e-4,
        "kl_anneal_epochs": 1,
        "latent_patience": 100,
        "patience_from_start": True,
        "latent_batch_size": 1024,
        "loss": "mse",
        "patience": 20,
        "epochs": 1,
    }
    params = config["estimator_params"]
    for key, value in config["protocol_settings"].items():
        assert params[key] == value
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "released"
    assert metrics["protocol_settings"] == config["protocol_settings"]
    # "ours" is the default and sets nothing.
    plain = tmp_path / "plain"
    res = CliRunner().invoke(main, [*args[:6], str(plain), "--quiet", "--latent-epochs", "5"])
    assert res.exit_code == 0, res.output
    config = json.loads((plain / "config.json").read_text())
    assert config["protocol"] == "ours" and config["protocol_settings"] == {}
    assert config["estimator_params"]["latent_patience"] == 50
    assert config["estimator_params"]["loss"] == "bce"
    assert config["estimator_params"]["patience"] == 5
    # A bad value is a one-line usage error.
    bad = CliRunner().invoke(main, [*args[:6], str(tmp_path / "bad"), "--protocol", "paper"])
    assert bad.exit_code == 2 and not (tmp_path / "bad").exists()


def test_sweep_passes_protocol_and_grid_to_every_fit(small):
    config = SweepConfig(
        fit_overrides={"protocol": "released", "latent_grid": True},
        variants={"shuffle": {"shuffle_aux": True}},
    )
    fit = config.fit_config("ividr", 3, "shuffle")
    assert (fit.protocol, fit.latent_grid, fit.shuffle_aux, fit.seed) == ("released", True, True, 3)
    # A sweep run's saved config carries the protocol and what it set.
    config = SweepConfig(fit_overrides={"protocol": "released", "latent_epochs": 3}, epochs=1)
    outcome = default_fit(small, config, RunSpec("gamma", 0, "idcf", 0))
    assert outcome["config"]["protocol"] == "released"
    assert outcome["config"]["protocol_settings"]["latent_patience"] == 100
    assert outcome["metrics"]["protocol_settings"]["kl_anneal_epochs"] == 1


# -- latent lr x L2 grid ---------------------------------------------------------------------
@pytest.mark.parametrize("with_truth", [True, False])
@pytest.mark.parametrize("order", [1, -1])
def test_grid_keeps_the_lowest_heldout_elbo(small, monkeypatch, with_truth, order):
    # A grid with a point that barely trains (lr 1e-7): its held-out ELBO is worse, in either
    # order; the kept point is the one with the lowest held-out negative ELBO.
    points = [(1e-7, 0.0), (1e-2, 0.01)][::order]
    monkeypatch.setattr(stages, "latent_grid_points", lambda: list(points))
    data = small if with_truth else dataclasses.replace(small, truth=None)
    res = fit_model(data, FitConfig(model="ivae", seed=0, latent_grid=True, **FAST))
    grid = res.metrics["latent_grid"]
    assert [(p["latent_lr"], p["l2_penalty"]) for p in grid] == points
    losses = [p["val_loss"] for p in grid]
    kept = int(np.argmin(losses))
    assert [p["kept"] for p in grid] == [i == kept for i in range(len(points))]
    assert grid[kept]["latent_lr"] == 1e-2  # the trained point
    assert res.metrics["latent_grid_lr"] == 1e-2 and res.metrics["latent_grid_l2"] == 0.01
    assert res.metrics["chosen"]["latent"]["val_loss"] == pytest.approx(losses[kept])
    assert all(("mcc" in p) == with_truth for p in grid)
    assert ("latent_grid_choice_best_mcc" in res.metrics) == with_truth
    # The estimator's own settings are left as given.
    assert res.estimator.latent_lr == FitConfig(model="ivae").latent_lr
    # History: the kept point's rows are the latent stage, the others marked as grid rows.
    latent = [r for r in res.history if r["stage"] == "latent"]
    assert latent and all(r["grid_point"] == kept and r["selected"] for r in latent)
    others = [r for r in res.history if r["stage"] == "latent-grid"]
    assert others and all(not r["selected"] and r["grid_point"] != kept for r in others)
    assert res.metrics["epochs_run"] == len(latent)


def test_every_grid_point_is_a_plain_fit_with_its_settings(small):
    # Every point sees the same split, initialisation and batches: the kept one reproduces a
    # plain fit with its lr and L2 exactly, recommender stage included.
    config = FitConfig(model="idcf", seed=1, epochs=2, latent_grid=True, **FAST)
    res = fit_model(small, config)
    kept = next(p for p in res.metrics["latent_grid"] if p["kept"])
    plain = fit_model(
        small,
        dataclasses.replace(
            config, latent_grid=False, latent_lr=kept["latent_lr"], l2_penalty=kept["l2_penalty"]
        ),
    )
    np.testing.assert_array_equal(res.latents, plain.latents)
    assert res.metrics["ndcg@5"] == plain.metrics["ndcg@5"]
    for point, z in zip(
        res.metrics["latent_grid"], res.estimator.latent_grid_latents_, strict=True
    ):
        single = fit_model(
            small,
            dataclasses.replace(
                config,
                latent_grid=False,
                latent_lr=point["latent_lr"],
                l2_penalty=point["l2_penalty"],
            ),
        )
        np.testing.assert_array_equal(z, single.latents)
