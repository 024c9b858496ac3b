"""Tests of metrics/iv.py: first-stage strength of an instrument (issue 5)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from scipy import sparse, stats

from metrics import MetricInputError, first_stage_strength


def test_docstring_examples():
    assert doctest.testmod(importlib.import_module("metrics.iv")).failed == 0


def _hand_f(t: np.ndarray, restricted: np.ndarray, full: np.ndarray) -> tuple[float, float]:
    """F and partial R^2 from the residual sums of squares of two explicit OLS fits."""
    n = len(t)
    beta_r = np.linalg.solve(restricted.T @ restricted, restricted.T @ t)
    beta_u = np.linalg.solve(full.T @ full, full.T @ t)
    rss_r = np.sum((t - restricted @ beta_r) ** 2)
    rss_u = np.sum((t - full @ beta_u) ** 2)
    q = full.shape[1] - restricted.shape[1]
    f = ((rss_r - rss_u) / q) / (rss_u / (n - full.shape[1]))
    return f, (rss_r - rss_u) / rss_r


def test_matches_hand_computation_one_instrument():
    t = np.array([1.0, 2.0, 2.5, 4.0, 3.5, 6.0, 6.5, 7.0])
    z = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0, 5.0])
    ones = np.ones((8, 1))
    f, pr2 = _hand_f(t, ones, np.c_[ones, z])
    r = first_stage_strength(t, z)
    assert r["f_stat"] == pytest.approx(f, rel=1e-10)
    assert r["partial_r2"] == pytest.approx(pr2, rel=1e-10)
    assert r["df_num"] == 1 and r["df_den"] == 6
    # With one instrument and no covariates, F = t^2 of the slope = r^2 (n-2) / (1 - r^2).
    rho = np.corrcoef(t, z)[0, 1]
    assert r["f_stat"] == pytest.approx(rho**2 * 6 / (1 - rho**2), rel=1e-10)
    assert r["partial_r2"] == pytest.approx(rho**2)
    assert r["p_value"] == pytest.approx(stats.f.sf(f, 1, 6))


def test_matches_hand_computation_with_covariates_and_one_hot_instrument():
    rng = np.random.default_rng(0)
    n = 40
    levels = rng.integers(0, 3, size=n)
    onehot = np.eye(3)[levels]  # full one-hot: collinear with the intercept
    x = rng.normal(size=(n, 2))
    t = np.c_[
        0.8 * levels + x[:, 0] + rng.normal(size=n),
        0.1 * (levels == 2) - x[:, 1] + rng.normal(size=n),
    ]
    ones = np.ones((n, 1))
    restricted = np.c_[ones, x]
    full = np.c_[ones, x, onehot[:, 1:]]  # drop one level for the hand fit
    r = first_stage_strength(t, onehot, covariates=x)
    assert r["df_num"] == 2 and r["df_den"] == n - 5
    for j in range(2):
        f, pr2 = _hand_f(t[:, j], restricted, full)
        assert r["f_per_column"][j] == pytest.approx(f, rel=1e-8)
        assert r["partial_r2_per_column"][j] == pytest.approx(pr2, rel=1e-8)
    assert r["f_stat"] == pytest.approx(r["f_per_column"].min())
    assert r["partial_r2"] == pytest.approx(r["partial_r2_per_column"].min())
    assert r["f_median"] == pytest.approx(np.median(r["f_per_column"]))


def test_strong_and_irrelevant_instruments():
    rng = np.random.default_rng(1)
    n = 2000
    z = rng.normal(size=(n, 2))
    strong = z @ np.array([1.0, -0.5]) + rng.normal(size=n)
    irrelevant = rng.normal(size=n)
    r_strong = first_stage_strength(strong, z)
    r_weak = first_stage_strength(irrelevant, z)
    assert r_strong["f_stat"] > 100 and r_strong["weak_instrument"] is False
    assert r_weak["f_stat"] < 10 and r_weak["weak_instrument"] is True
    both = first_stage_strength(np.c_[strong, irrelevant], z)
    assert both["weak_instrument"] is True and both["n_weak_columns"] == 1
    assert both["f_stat"] == pytest.approx(r_weak["f_stat"])
    assert first_stage_strength(irrelevant, z, threshold=1e-9)["weak_instrument"] is False


def test_sparse_treatment_equals_dense():
    rng = np.random.default_rng(2)
    n = 300
    z = np.eye(4)[rng.integers(0, 4, n)]
    t = (rng.random((n, 20)) < 0.1 + 0.2 * z[:, :1]).astype(float)
    dense = first_stage_strength(t, z)
    sp = first_stage_strength(sparse.csr_matrix(t), z)
    assert np.allclose(dense["f_per_column"], sp["f_per_column"])


def test_constant_treatment_column_skipped_and_counted():
    rng = np.random.default_rng(3)
    n = 100
    z = rng.normal(size=n)
    t = np.c_[z + rng.normal(size=n), np.full(n, 3.0), np.zeros(n)]
    r = first_stage_strength(t, z)
    assert r["n_skipped_columns"] == 2
    assert np.isnan(r["f_per_column"][1:]).all()
    assert np.isfinite(r["f_stat"]) and r["f_stat"] == r["f_per_column"][0]
    # A perfectly predicted column: F is infinite, not NaN.
    assert first_stage_strength(2 * z + 1, z)["f_stat"] == np.inf


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: first_stage_strength(np.zeros(5), np.zeros(4)), "one row per user"),
        (lambda: first_stage_strength(np.full(5, np.nan), np.arange(5.0)), "NaN"),
        (lambda: first_stage_strength(np.arange(5.0), np.ones(5)), "adds nothing"),
        (
            lambda: first_stage_strength(
                np.arange(6.0), np.arange(6.0), covariates=np.arange(6.0) * 2
            ),
            "adds nothing",
        ),
        (lambda: first_stage_strength(np.arange(3.0), np.eye(3)[[0, 1, 2]]), "too few"),
        (lambda: first_stage_strength(np.ones((6, 2)), np.arange(6.0)), "every treatment"),
        (lambda: first_stage_strength(np.arange(6.0), np.arange(6.0) ** 2, threshold=0), "thres"),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()
