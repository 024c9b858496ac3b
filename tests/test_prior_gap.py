"""Issue 20's check on constructed data: exposures that say nothing about C, a proxy W that nearly
determines it. The data part must hold; the model part states the goal that IViDR's posterior
does not fall below its own prior. The posterior mean itself falls far below it here (it codes the
noise of each exposure row); IViDR's default split-half shrinkage (latent_shrinkage,
ividr.training.shrinkage) is what holds the estimate at the prior. docs/results/ividr_factors.md
says what was measured and where the gap comes from."""

from __future__ import annotations

import pytest

from metrics.mcc import mcc
from simulator import SimConfig, generate
from simulator.references import dataset_references

#: Tolerance of the goal "posterior MCC >= prior-only MCC - TOLERANCE".
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def uninformative():
    """2,000 x 200, exposure noise gamma 10: the exposures carry no information on C."""
    data = generate(SimConfig(n_users=2000, n_items=200, gamma=10.0, seed=0)).to_dataset()
    return data, dataset_references(data)


@pytest.fixture(scope="module")
def ividr_fit(uninformative):
    from ividr.models import IViDR

    data, _ = uninformative
    return IViDR(seed=1, restarts=1, epochs=3, latent_epochs=100, kl_anneal_epochs=20).fit(data)


def test_the_constructed_data_hide_c_from_the_exposures_and_show_it_in_w(uninformative):
    _, refs = uninformative
    chance_p95 = refs["mcc_chance"]["p95"]
    # What any regressor of C trained on the truth gets from the exposures: chance.
    assert refs["mcc_supervised"]["exposure"] < 2 * chance_p95
    assert refs["r2_exposure"]["exposure"] < 0.02
    # ...and from W: nearly all of C.
    assert refs["mcc_proxy_oracle"]["strong"] > 0.9
    # A function of a 5-level W scores far above the chance of free latents by chance alone.
    assert refs["mcc_proxy_chance"]["mean"] > 5 * chance_p95


def test_ividr_posterior_does_not_fall_below_its_prior(uninformative, ividr_fit):
    data, _ = uninformative
    posterior = mcc(data.confounder, ividr_fit.user_latents_)
    prior_only = mcc(data.confounder, ividr_fit.prior_mean_)
    assert posterior >= prior_only - TOLERANCE


def test_the_split_half_shrinkage_is_what_holds_it_at_the_prior(uninformative, ividr_fit):
    # The posterior mean itself (latent_shrinkage="none", the paper) follows the rows' noise:
    # its departure from the prior does not replicate across the two halves of the items.
    data, _ = uninformative
    unshrunk = mcc(data.confounder, ividr_fit.unshrunk_latents_)
    assert unshrunk < mcc(data.confounder, ividr_fit.prior_mean_) - TOLERANCE
    assert max(ividr_fit.latent_reliability_["reliability"]) < 0.2
