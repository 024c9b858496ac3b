"""Tests of metrics/bootstrap.py: percentile bootstrap over users and the paired t-test."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from scipy import sparse, stats

from metrics import MetricInputError, bootstrap_ci, mcc, paired_t_test


def test_docstring_examples():
    assert doctest.testmod(importlib.import_module("metrics.bootstrap")).failed == 0


def test_coverage_of_the_true_mcc_near_nominal():
    # learned_j = c_j + noise_j: the population MCC is 1 / sqrt(1 + sigma^2) for each pair.
    sigma = 1.0
    true_mcc = 1.0 / np.sqrt(1.0 + sigma**2)
    rng = np.random.default_rng(0)
    n_rep, n = 100, 150
    covered = 0
    for rep in range(n_rep):
        c = rng.normal(size=(n, 2))
        learned = c[:, ::-1] + sigma * rng.normal(size=(n, 2))
        low, high, est = bootstrap_ci(
            lambda a, b: mcc(a, b), c, learned, n_boot=200, random_state=rep
        )
        assert low <= est <= high
        covered += low <= true_mcc <= high
    assert 0.85 <= covered / n_rep <= 0.99


def test_interval_of_the_mean_matches_normal_theory():
    rng = np.random.default_rng(1)
    x = rng.normal(loc=2.0, scale=3.0, size=400)
    low, high, est = bootstrap_ci(np.mean, x, n_boot=2000, random_state=0)
    assert est == pytest.approx(x.mean())
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert (est - low) == pytest.approx(half, rel=0.15)
    # A lower level gives a narrower interval; the same seed gives the same interval.
    low90, high90, _ = bootstrap_ci(np.mean, x, n_boot=2000, level=0.9, random_state=0)
    assert high90 - low90 < high - low
    assert bootstrap_ci(np.mean, x, n_boot=2000, random_state=0) == (low, high, est)


def test_rows_stay_paired_and_sparse_arrays_are_resampled_by_row():
    rng = np.random.default_rng(2)
    x = rng.normal(size=100)

    def diff_is_zero(a, b):
        return float(np.abs(a - b).max())

    low, high, est = bootstrap_ci(diff_is_zero, x, x.copy(), n_boot=50)
    assert low == high == est == 0.0

    dense = (rng.random((80, 5)) < 0.3).astype(float)

    def sums_match(s, d):
        return float(abs(s.sum() - d.sum()))

    assert bootstrap_ci(sums_match, sparse.csr_matrix(dense), dense, n_boot=20)[1] == 0.0


def test_non_finite_statistic_is_an_error():
    x = np.r_[np.zeros(5), 1.0]

    def ratio(a):
        return 1.0 / a.sum()  # inf on every resample that misses the single 1

    with (
        np.errstate(divide="ignore"),
        pytest.raises(MetricInputError, match="not finite on .* bootstrap replicates"),
    ):
        bootstrap_ci(ratio, x, n_boot=200)


def test_paired_t_test_matches_scipy():
    a = np.array([0.84, 0.78, 0.77, 0.69, 0.63])
    b = np.array([0.82, 0.70, 0.65, 0.54, 0.43])
    r = paired_t_test(a, b)
    ref = stats.ttest_rel(a, b)
    assert r["t"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)
    assert r["mean_diff"] == pytest.approx(np.mean(a - b)) and r["n"] == 5
    # By formula: t = mean(d) / (sd(d) / sqrt(n)).
    d = a - b
    assert r["t"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(5)))


def test_paired_t_test_constant_differences():
    assert paired_t_test([1.0, 2.0], [1.0, 2.0]) == {
        "t": 0.0,
        "p": 1.0,
        "mean_diff": 0.0,
        "std_diff": 0.0,
        "n": 2,
    }
    r = paired_t_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert r["t"] == np.inf and r["p"] == 0.0 and r["mean_diff"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bootstrap_ci(np.mean, np.zeros(5), n_boot=1), "'n_boot' parameter"),
        (lambda: bootstrap_ci(np.mean, np.zeros(5), level=1.0), "'level' parameter"),
        (lambda: bootstrap_ci(np.mean), "at least one array"),
        (lambda: bootstrap_ci(np.mean, np.zeros(5), np.zeros(4)), "one row per user"),
        (lambda: bootstrap_ci(np.mean, np.zeros(1)), "at least 2 users"),
        (lambda: bootstrap_ci("mean", np.zeros(5)), "callable"),
        (lambda: bootstrap_ci(np.mean, np.full(5, np.nan)), "not finite on the data"),
        (lambda: bootstrap_ci(np.mean, np.zeros(5), random_state="x"), "'random_state'"),
        (lambda: paired_t_test([1.0, 2.0], [1.0]), "same length"),
        (lambda: paired_t_test([1.0], [1.0]), "at least 2"),
        (lambda: paired_t_test([1.0, np.nan], [1.0, 2.0]), "NaN"),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()
