"""Every model trains, beats a random scorer, is reproducible; iVAE vs VAE MCC; save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ividr import registry
from ividr.api import (
    MODEL_NAMES,
    FitConfig,
    ModelFileError,
    build_estimator,
    fit_model,
    load_model,
    save_model,
)
from ividr.models.base import TrainingDivergedError
from ividr.training.loops import RecommenderData, train_recommender
from metrics.ranking import ndcg_recall_at_k
from simulator import SimConfig, generate
from simulator.loaders import load_dataset

LATENT_ONLY = ("vae", "ivae")
#: Models with a recommender head (not vae, ivae, nor the SVD baselines: tests/test_score.py).
RECOMMENDERS = tuple(m for m in MODEL_NAMES if m not in registry.LATENT_ONLY)
#: Short settings so that every model trains in about a second (one latent restart: restarts
#: are tested in test_restarts.py).
FAST = dict(
    epochs=20, latent_epochs=60, kl_anneal_epochs=10, latent_patience=10, lr=5e-3, restarts=1
)


@pytest.fixture(scope="module")
def small():
    """A small simulated dataset (both confounder kinds, a relevant instrument, clear ratings)."""
    cfg = SimConfig.from_preset("dual", n_users=400, n_items=80, rating_noise=2.0, seed=1)
    return generate(cfg).to_dataset()


@pytest.fixture(scope="module")
def coat(external_dataset):
    return load_dataset(external_dataset("coat"))


def random_val_ndcg(dataset, seed: int = 0, draws: int = 200) -> float:
    """Expected validation NDCG@5 of a random scorer (mean over random draws)."""
    val, _ = dataset.split_unbiased(0.3, random_state=seed)
    rng = np.random.default_rng(123)
    return float(
        np.mean(
            [
                ndcg_recall_at_k(val.user, rng.random(len(val)), val.positive)["ndcg@5"]
                for _ in range(draws)
            ]
        )
    )


@pytest.mark.parametrize("model", RECOMMENDERS)
def test_recommenders_beat_random_on_small_simulated_data(small, model):
    result = fit_model(small, FitConfig(model=model, seed=0, **FAST))
    baseline = random_val_ndcg(small)
    assert result.metrics["val_ndcg@5"] > baseline + 0.1
    assert np.isfinite(result.metrics["ndcg@5"]) and 0 <= result.metrics["recall@5"] <= 1
    assert result.metrics["epochs_run"] >= 1
    if result.estimator.has_latents:
        assert result.latents.shape == (small.n_users, 2)
        assert result.latents_std.shape == result.latents.shape
        assert np.all(result.latents_std > 0)
        assert 0 <= result.metrics["mcc"] <= 1 and 0 <= result.metrics["mcc_weak"] <= 1
    else:
        assert result.latents is None and "mcc" not in result.metrics


@pytest.mark.parametrize("model", RECOMMENDERS)
def test_recommenders_beat_random_on_coat(coat, model):
    result = fit_model(coat, FitConfig(model=model, seed=0, **FAST))
    assert result.metrics["val_ndcg@5"] > random_val_ndcg(coat) + 0.03
    assert "mcc" not in result.metrics  # Coat has no true confounder


@pytest.mark.parametrize("model", LATENT_ONLY)
def test_latent_models_elbo_improves(small, model):
    result = fit_model(small, FitConfig(model=model, seed=0, **FAST))
    rows = [r for r in result.history if r["stage"] == "latent"]
    assert len(rows) >= 10
    # The held-out negative ELBO (full KL weight) and the train ELBO both improve.
    assert min(r["val_loss"] for r in rows) < rows[0]["val_loss"] - 1.0
    assert rows[-1]["elbo"] > rows[0]["elbo"]
    assert result.latents.shape == (small.n_users, 2)
    if model == "ivae":
        assert result.prior_mean.shape == result.latents.shape
    else:
        assert result.prior_mean is None
    scores = result.estimator.score(np.array([0, 1]), np.array([3, 4]))
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


@pytest.mark.slow
def test_idcf_latents_beat_vae_on_idcf_data(external_dataset):
    """iDCF's identifiable latents match the true C far better than iDCF-W's VAE latents.

    With the former defaults (lr 1e-3, one restart) seeds 0-2 gave iDCF strong MCC 0.832-0.842
    and the VAE 0.38-0.50; with the current lr 5e-4, seed 0 gives 0.838 and 0.216 with one
    restart (here: a quarter of the default's cost), 0.838 and 0.620 with the default 4 (the
    iDCF paper's Table 4: 0.839 and 0.605, so a gap of 0.23).
    """
    data = load_dataset(external_dataset("idcf-sim") / "gamma_0")
    idcf = fit_model(data, FitConfig(model="idcf", seed=0, epochs=3, restarts=1))
    vae = fit_model(data, FitConfig(model="vae", seed=0, epochs=3, restarts=1))
    assert idcf.metrics["mcc"] > 0.75
    assert idcf.metrics["mcc"] > vae.metrics["mcc"] + 0.15


def test_fit_is_reproducible(small):
    config = FitConfig(model="ividr", seed=3, **FAST)
    first = fit_model(small, config)
    second = fit_model(small, config)
    np.testing.assert_array_equal(first.latents, second.latents)
    assert first.metrics["ndcg@5"] == second.metrics["ndcg@5"]
    users, items = small.unbiased.user[:50], small.unbiased.item[:50]
    np.testing.assert_array_equal(
        first.estimator.score(users, items), second.estimator.score(users, items)
    )
    other = fit_model(small, FitConfig(model="ividr", seed=4, **FAST))
    assert not np.array_equal(first.latents, other.latents)


@pytest.mark.parametrize("model", ["mf", "idcf"])
def test_mse_loss_and_standardised_latents(small, model):
    config = FitConfig(model=model, seed=0, loss="mse", standardize_latents=True, **FAST)
    result = fit_model(small, config)
    assert result.estimator.loss == "mse"
    assert result.metrics["val_ndcg@5"] > random_val_ndcg(small) + 0.1
    bce = fit_model(small, FitConfig(model=model, seed=0, **FAST))
    assert result.history[-1]["loss"] != bce.history[-1]["loss"]
    if model == "idcf":
        head = result.estimator.nets_["recommender"]
        np.testing.assert_allclose(head.latent_mean.numpy().std(axis=0), 1.0, rtol=1e-3)


def test_grid_search_selects_on_validation(small):
    result = fit_model(small, FitConfig(model="mf", seed=0, epochs=3, grid=True))
    runs = {(r["lr"], r["weight_decay"]) for r in result.history}
    assert len(runs) == 10
    chosen = result.metrics["chosen"]["recommender"]
    best = max(r["val_ndcg@5"] for r in result.history)
    assert chosen["val_ndcg@5"] == pytest.approx(best)
    assert all(
        r["selected"] == ((r["lr"], r["weight_decay"]) == (chosen["lr"], chosen["weight_decay"]))
        for r in result.history
    )


def test_callback_rows_merge_into_history(small):
    seen = []

    def callback(epoch, est):
        seen.append(epoch)
        return {"latent_mean_norm": float(np.linalg.norm(est.user_latents_))}

    result = fit_model(small, FitConfig(model="idcf", seed=0, **FAST), callback=callback)
    rows = [r for r in result.history if r["stage"] == "latent"]
    assert seen == [r["epoch"] for r in rows]
    assert all("latent_mean_norm" in r for r in rows)


def test_nan_loss_raises_training_diverged(small):
    class NanNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, users, items, generator=None):
            return self.w * float("nan") + users.float()

    val, _ = small.split_unbiased(0.3, random_state=0)
    data = RecommenderData.from_dataset(small, val)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        train_recommender(
            NanNet(),
            data,
            lr=1e-3,
            weight_decay=0.0,
            epochs=2,
            patience=1,
            batch_size=None,
            generator=torch.Generator(),
        )
    assert issubclass(TrainingDivergedError, ValueError)


def test_config_round_trip_and_validation():
    config = FitConfig(model="ividr-f", seed=2, lr=5e-4, grid=True)
    assert FitConfig.from_dict(config.to_dict()) == config
    est = build_estimator(config)
    assert est.variant == "f" and est.lr == 5e-4 and est.grid
    with pytest.raises(ValueError, match="'model' parameter .* Got 'no-such-model'"):
        FitConfig(model="no-such-model").validate()
    with pytest.raises(ValueError, match=r"'epochs' parameter .* range \[1, inf\)"):
        FitConfig(model="mf", epochs=0).validate()
    with pytest.raises(ValueError, match=r"'lr' parameter .* \(0, inf\)"):
        FitConfig(model="mf", lr=-1.0).validate()
    with pytest.raises(ValueError, match=r"'rho' parameter .* \[0, 1\]"):
        FitConfig(model="ividr", rho=2.0).validate()
    with pytest.raises(ValueError, match="'loss' parameter .* Got 'hinge'"):
        FitConfig(model="mf", loss="hinge").validate()
    with pytest.raises(ValueError, match="'standardize_latents' parameter .* bool"):
        FitConfig(model="idcf", standardize_latents=1).validate()
    with pytest.raises(ValueError, match="unknown keys"):
        FitConfig.from_dict({"model": "mf", "depth": 3})


@pytest.mark.parametrize("model", ["mf-wf", "ivae", "ividr-r"])
def test_save_load_round_trip(small, tmp_path, model):
    result = fit_model(small, FitConfig(model=model, seed=0, **FAST))
    path = tmp_path / "model.pt"
    save_model(result.estimator, path)
    # The file loads with weights_only=True, i.e. without unpickling arbitrary objects.
    torch.load(path, weights_only=True)
    loaded = load_model(path)
    assert type(loaded) is type(result.estimator)
    assert loaded.get_params() == result.estimator.get_params()
    users, items = small.unbiased.user, small.unbiased.item
    np.testing.assert_allclose(
        loaded.score(users, items), result.estimator.score(users, items), rtol=1e-6
    )
    if result.latents is not None:
        np.testing.assert_array_equal(loaded.user_latents_, result.latents)


def test_load_rejects_corrupt_and_foreign_files(small, tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(ModelFileError, match="corrupt.pt"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelFileError, match="foreign.pt: not an ividr model"):
        load_model(foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "ividr-model", "obj": FitConfig(model="mf")}, pickled)
    with pytest.raises(ModelFileError, match="pickled.pt"):
        load_model(pickled)
    with pytest.raises(ModelFileError, match="missing"):
        load_model(tmp_path / "absent.pt")
    assert issubclass(ModelFileError, ValueError)
