"""Issue 20's check on constructed data: exposures that say nothing about C, a proxy W that nearly
determines it. The data part must hold; the model part states the goal that IViDR's posterior
does not fall below its own prior, which the latent stage does not meet today (strict xfail: it
fails the suite as soon as a change makes it pass, so that the marker goes with the defect).
docs/results/ividr_factors.md says what was measured and where the gap comes from."""

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


@pytest.mark.xfail(
    strict=True,
    reason="issue 20: the latent stage's posterior mean follows the exposure rows' noise and "
    "falls below its own prior mean where the exposures carry nothing on C",
)
def test_ividr_posterior_does_not_fall_below_its_prior(uninformative, ividr_fit):
    data, _ = uninformative
    posterior = mcc(data.confounder, ividr_fit.user_latents_)
    prior_only = mcc(data.confounder, ividr_fit.prior_mean_)
    assert posterior >= prior_only - TOLERANCE
