"""The supervised ceiling (metrics.reference.mcc_supervised, docs/design.md §5): a cross-fitted
regressor of the true C from the exposures and W, scored by strong MCC."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from metrics import MetricInputError, mcc_supervised
from metrics.reference import chance_mcc, proxy_oracle


def low_rank_exposure(rng, n: int, m: int, rank: int = 3) -> np.ndarray:
    """0/1 exposures driven by a rank-``rank`` user x item logit (a few stable directions)."""
    users, items = rng.normal(size=(n, rank)), rng.normal(size=(m, rank))
    prob = 1.0 / (1.0 + np.exp(-(2.0 * users @ items.T - 1.0)))
    return (rng.random((n, m)) < prob).astype(float)


@pytest.mark.slow
def test_near_one_when_c_is_a_smooth_function_of_the_exposures():
    rng = np.random.default_rng(0)
    a = low_rank_exposure(rng, 600, 70)
    # C = a smooth nonlinear function of three linear projections of the exposure rows.
    _, _, vt = np.linalg.svd(a - a.mean(axis=0), full_matrices=False)
    p = (a - a.mean(axis=0)) @ vt[:3].T
    p /= p.std(axis=0)
    c = np.c_[np.tanh(p[:, 0]) + 0.5 * p[:, 1], np.sin(p[:, 2]) + 0.3 * p[:, 0] ** 2]
    w = rng.integers(0, 4, len(c))  # an uninformative proxy
    dense = mcc_supervised(c, a, w)
    assert dense["exposure"] > 0.9 and dense["exposure_w"] > 0.9
    assert "HistGradientBoostingRegressor" in dense["estimator"]
    assert "TruncatedSVD" in dense["estimator"] and "one-hot W" in dense["estimator"]
    # Sparse input gives the same figure; without a proxy only the exposure figure comes back.
    alone = mcc_supervised(c, sparse.csr_matrix(a))
    assert set(alone) == {"exposure", "estimator"}
    assert alone["exposure"] == pytest.approx(dense["exposure"])
    assert "one-hot W" not in alone["estimator"]


@pytest.mark.slow
def test_matches_the_proxy_oracle_when_only_w_says_anything():
    rng = np.random.default_rng(1)
    n = 1500
    w = rng.integers(0, 5, n)
    means = rng.uniform(-10, 10, size=(5, 2))
    c = means[w] + rng.normal(scale=1.5, size=(n, 2))  # W sets C's group means
    a = (rng.random((n, 100)) < 0.1).astype(float)  # exposures independent of C
    ref = mcc_supervised(c, sparse.csr_matrix(a), w, random_state=3)
    oracle = proxy_oracle(c, w)["mcc_strong"]
    assert abs(ref["exposure_w"] - oracle) < 0.05
    assert ref["exposure_w"] <= oracle + 0.01  # E[C | W] is the best function of W
    chance = chance_mcc(n, 2, 2, n_draws=100)
    assert ref["exposure"] < 3 * chance["p95"]  # the exposures alone: about chance


def test_small_item_count_uses_raw_rows_and_is_reproducible():
    rng = np.random.default_rng(2)
    w = rng.integers(0, 3, (200, 2))  # two proxy fields
    c = np.c_[w[:, 0] - w[:, 1], w[:, 1] ** 2].astype(float) + 0.1 * rng.normal(size=(200, 2))
    a = (rng.random((200, 30)) < 0.3).astype(float)
    first = mcc_supervised(c, a, w, n_splits=3, method="spearman", random_state=5)
    assert "raw exposure rows" in first["estimator"] and "3-fold" in first["estimator"]
    assert first["exposure_w"] > 0.9
    assert mcc_supervised(c, a, w, n_splits=3, method="spearman", random_state=5) == first


def test_an_uninformative_constant_fit_scores_zero_not_the_fold_mean_artefact():
    # Exposures that say nothing: each training part's fit is the constant mean of its C, which
    # differs from fold to fold and is anti-correlated with the held-out fold's own mean. The
    # within-fold centring scores that as 0 (without it: about sqrt(4 / 150) = 0.16 here).
    rng = np.random.default_rng(4)
    c = rng.normal(size=(150, 2))
    assert mcc_supervised(c, np.zeros((150, 5)))["exposure"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"true": np.zeros((10, 2)), "exposure": np.zeros((9, 4))}, "'exposure' has 9"),
        ({"true": np.full((10, 2), np.nan), "exposure": np.zeros((10, 4))}, "'true'"),
        ({"exposure": np.ones((10, 4)) * np.inf}, "'exposure'"),
        ({"proxy_codes": np.array(["a"] * 10)}, "'proxy_codes'"),
        ({"proxy_codes": np.zeros(7, dtype=int)}, "'proxy_codes' has 7"),
        ({"n_splits": 1}, "'n_splits'"),
        ({"n_splits": 11}, "'n_splits'"),
        ({"method": "kendall"}, "'method'"),
        ({"random_state": -1}, "'random_state'"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    rng = np.random.default_rng(3)
    args = {
        "true": rng.normal(size=(10, 2)),
        "exposure": (rng.random((10, 4)) < 0.5).astype(float),
        "proxy_codes": rng.integers(0, 2, 10),
    }
    args.update(kwargs)
    with pytest.raises(MetricInputError, match=name):
        mcc_supervised(**args)
