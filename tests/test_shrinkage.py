"""The split-half shrinkage of IViDR's estimate toward its prior (issue 20): the reliability and
Kelley's formula as pure functions, the torch step on a net whose answer is known, and what the
setting changes in a fit (the estimate) and what it does not (the training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ividr.models import IViDR
from ividr.training.shrinkage import item_halves, shrink_toward_prior
from metrics import MetricInputError, kelley_shrink, spearman_brown, split_half_reliability
from simulator import SimConfig, generate

TINY = dict(restarts=1, epochs=2, latent_epochs=4, kl_anneal_epochs=2)


# --------------------------------------------------------------------------------------------
# metrics.reliability
# --------------------------------------------------------------------------------------------
def test_spearman_brown_steps_a_half_correlation_up_to_the_full_length():
    np.testing.assert_allclose(spearman_brown([0.5, 1.0, 0.0, -0.3]), [2 / 3, 1.0, 0.0, 0.0])


def test_reliability_of_a_trait_plus_independent_noise_is_its_share_of_the_variance():
    # Each half measures trait + noise with var(trait) = 1 and var(noise) = 1/3 per half: the
    # halves correlate at 1 / (1 + 1/3) = 0.75; the full row has half the noise variance, so
    # its reliability is 1 / (1 + 1/6) = 6/7, which Spearman-Brown gives from 0.75.
    rng = np.random.default_rng(0)
    n = 200_000
    center = rng.normal(size=(n, 2))
    trait = rng.normal(size=(n, 2)) * [1.0, 0.0]  # dimension 1: no trait, noise only
    noise = np.sqrt(1 / 3)
    first = center + trait + rng.normal(scale=noise, size=(n, 2))
    second = center + trait + rng.normal(scale=noise, size=(n, 2))
    out = split_half_reliability(first, second, center)
    np.testing.assert_allclose(out["half_correlation"], [0.75, 0.0], atol=0.01)
    np.testing.assert_allclose(out["reliability"], [6 / 7, 0.0], atol=0.01)


def test_a_constant_departure_has_reliability_zero():
    center = np.arange(10.0).reshape(5, 2)
    out = split_half_reliability(center + 1.0, center + 2.0, center)
    assert out == {"half_correlation": [0.0, 0.0], "reliability": [0.0, 0.0]}


def test_kelley_shrink_moves_each_dimension_by_its_reliability():
    center = np.zeros((3, 2))
    estimate = np.array([[1.0, 2.0], [-1.0, 4.0], [3.0, -2.0]])
    np.testing.assert_array_equal(kelley_shrink(center, estimate, [1.0, 0.0])[:, 0], estimate[:, 0])
    np.testing.assert_array_equal(kelley_shrink(center, estimate, [1.0, 0.0])[:, 1], 0.0)
    np.testing.assert_allclose(kelley_shrink(center + 1, estimate, [0.5, 0.5]), (estimate + 1) / 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kelley_shrink(np.zeros((3, 2)), np.zeros((3, 2)), [0.5, 1.5]), "'reliability'"),
        (lambda: kelley_shrink(np.zeros((3, 2)), np.zeros((3, 1)), [0.5]), "same shape"),
        (
            lambda: split_half_reliability(np.zeros((4, 2)), np.zeros((4, 3)), np.zeros((4, 2))),
            "same shape",
        ),
        (
            lambda: split_half_reliability(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))),
            "at least 3",
        ),
    ],
)
def test_bad_inputs_name_the_argument(call, message):
    with pytest.raises(MetricInputError, match=message):
        call()


# --------------------------------------------------------------------------------------------
# ividr.training.shrinkage on a net whose answer is known
# --------------------------------------------------------------------------------------------
class _MeanOfRows(torch.nn.Module):
    """readout(rows) = the mean of the row's items over two fixed item groups (its 'posterior')."""

    def __init__(self, n_items: int):
        super().__init__()
        groups = torch.zeros(n_items, 2)
        groups[: n_items // 2, 0] = 1.0
        groups[n_items // 2 :, 1] = 1.0
        self.load = groups[torch.randperm(n_items, generator=torch.Generator().manual_seed(0))]

    def readout(self, rows, w, t):
        mean = rows @ self.load / self.load.sum(0)
        return mean, torch.zeros_like(mean)


class _Est:
    prior_mean_ = None


def _shrunk(rows: np.ndarray) -> _Est:
    x = torch.from_numpy(rows).float()
    net = _MeanOfRows(rows.shape[1])
    est = _Est()
    est.user_latents_ = net.readout(x, None, None)[0].double().numpy()
    shrink_toward_prior(est, net, x, None, None, seed=0)
    return est


def test_rows_with_a_user_trait_keep_their_posterior():
    rng = np.random.default_rng(1)
    activity = rng.uniform(0.05, 0.95, size=(3000, 1))  # a trait of the user, seen in every item
    est = _shrunk((rng.random((3000, 400)) < activity).astype(np.float32))
    assert min(est.latent_reliability_["reliability"]) > 0.95
    assert est.latent_reliability_["rule"] == "split_half"
    np.testing.assert_allclose(est.user_latents_, est.unshrunk_latents_, atol=0.02)


def test_rows_of_pure_noise_fall_back_to_the_prior():
    rng = np.random.default_rng(2)
    est = _shrunk((rng.random((3000, 400)) < 0.3).astype(np.float32))
    assert max(est.latent_reliability_["reliability"]) < 0.1
    # The prior here is N(0, I): the estimate shrinks toward 0.
    assert np.abs(est.user_latents_).max() < 0.1 * np.abs(est.unshrunk_latents_).max()


def test_the_item_split_is_half_the_items_and_set_by_the_seed():
    first = item_halves(101, seed=3)
    assert first.sum() == 50
    np.testing.assert_array_equal(first, item_halves(101, seed=3))
    assert not np.array_equal(first, item_halves(101, seed=4))


# --------------------------------------------------------------------------------------------
# In a fit
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    return generate(SimConfig(n_users=120, n_items=40, seed=3)).to_dataset()


def test_the_shrinkage_changes_the_estimate_and_not_the_training(tiny):
    shrunk = IViDR(seed=1, **TINY).fit(tiny)
    plain = IViDR(seed=1, **TINY, latent_shrinkage="none").fit(tiny)
    assert shrunk.latent_shrinkage == "split_half"  # the default
    # The same training: the posterior mean before shrinking is the unshrunk fit's, to the byte.
    assert shrunk.unshrunk_latents_.tobytes() == plain.user_latents_.tobytes()
    for name, value in plain.estimate_latents_.items():
        assert shrunk.estimate_latents_[name].tobytes() == value.tobytes()
    assert not hasattr(plain, "unshrunk_latents_")
    # The estimate is Kelley's, with the reliabilities the fit reports.
    expected = kelley_shrink(
        shrunk.prior_mean_,
        shrunk.unshrunk_latents_,
        shrunk.latent_reliability_["reliability"],
    )
    np.testing.assert_array_equal(shrunk.user_latents_, expected)


def test_the_released_audit_variant_keeps_its_posterior_mean():
    from ividr.api import model_fields
    from ividr.models import IViDRReleased

    assert "latent_shrinkage" not in model_fields("ividr-released")
    assert "latent_shrinkage" in model_fields("ividr")
    # Its registry entry fixes the setting: the released code shrinks nothing.
    from ividr.registry import MODELS

    (entry,) = [m for m in MODELS if m.name == "ividr-released"]
    assert entry.kwargs["latent_shrinkage"] == "none"
    assert issubclass(IViDRReleased, IViDR)
