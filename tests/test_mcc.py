"""Tests of metrics/mcc.py: strong/weak MCC, the matching and the alignment helper."""

from __future__ import annotations

import doctest
import importlib
import itertools

import numpy as np
import pytest
from scipy import stats

from metrics import MetricInputError, align_latents, mcc, mcc_all, mcc_matching
from metrics.mcc import correlation_matrix


def _brute_force_mcc(true: np.ndarray, learned: np.ndarray, method: str) -> float:
    """Best mean |corr| over every injective assignment, computed without the module."""
    d_t, d_l = true.shape[1], learned.shape[1]
    corr_fn = (lambda a, b: stats.pearsonr(a, b)[0]) if method == "pearson" else None
    if method == "spearman":
        corr_fn = lambda a, b: stats.spearmanr(a, b)[0]  # noqa: E731
    c = np.array(
        [[abs(corr_fn(true[:, i], learned[:, j])) for j in range(d_l)] for i in range(d_t)]
    )
    if d_t <= d_l:
        return max(
            np.mean([c[i, p[i]] for i in range(d_t)])
            for p in itertools.permutations(range(d_l), d_t)
        )
    return max(
        np.mean([c[p[j], j] for j in range(d_l)]) for p in itertools.permutations(range(d_t), d_l)
    )


def test_docstring_examples():
    # `metrics.mcc` the attribute is the function; the module is reached through importlib.
    module = importlib.import_module("metrics.mcc")
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("weak", [False, True])
def test_permuted_rescaled_sign_flipped_copy_scores_one(method, weak):
    rng = np.random.default_rng(1)
    c = rng.normal(size=(400, 4))
    learned = c[:, [2, 0, 3, 1]] * np.array([-2.0, 0.5, 10.0, -0.01]) + np.array([1, -3, 0, 7])
    assert mcc(c, learned, method=method, weak=weak) == pytest.approx(1.0, abs=1e-9)


def test_spearman_invariant_to_monotone_maps():
    rng = np.random.default_rng(2)
    c = rng.normal(size=(300, 2))
    learned = np.c_[np.exp(c[:, 1]), -(c[:, 0] ** 3)]
    assert mcc(c, learned, method="spearman") == pytest.approx(1.0)
    assert mcc(c, learned, method="pearson") < 0.95


@pytest.mark.parametrize("n", [500, 5000])
def test_independent_latents_near_zero(n):
    rng = np.random.default_rng(3)
    c, z = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    # Each matched |r| is at most the max of 9 |N(0, 1/n)|: below 4/sqrt(n) with high probability.
    bound = 4.0 / np.sqrt(n)
    for method in ("pearson", "spearman"):
        assert 0.0 <= mcc(c, z, method=method) < bound
        assert 0.0 <= mcc(c, z, method=method, weak=True) < bound * np.sqrt(2)


def test_strong_mcc_smaller_for_larger_n_on_independent_latents():
    rng = np.random.default_rng(4)
    small = np.mean([mcc(rng.normal(size=(100, 2)), rng.normal(size=(100, 2))) for _ in range(20)])
    large = np.mean(
        [mcc(rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))) for _ in range(20)]
    )
    assert large < small / 2


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("dims", [(3, 3), (4, 4), (2, 4), (4, 2), (1, 3)])
def test_equals_brute_force_over_permutations(method, dims):
    rng = np.random.default_rng(sum(dims))
    d_t, d_l = dims
    n = 60
    true = rng.normal(size=(n, d_t))
    # A partly dependent learned representation, so the best matching is not trivial.
    learned = rng.normal(size=(n, d_l)) + 0.7 * true @ rng.normal(size=(d_t, d_l))
    expected = _brute_force_mcc(true, learned, method)
    assert mcc(true, learned, method=method) == pytest.approx(expected, abs=1e-12)
    m = mcc_matching(true, learned, method=method)
    assert m.n_pairs == min(d_t, d_l)
    assert m.score == pytest.approx(expected, abs=1e-12)
    assert np.allclose(m.matched, np.abs(m.correlation[m.row_ind, m.col_ind]))


def test_correlation_matrix_matches_numpy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    expected = np.corrcoef(a.T, b.T)[:3, 3:]
    assert np.allclose(correlation_matrix(a, b), expected)


def test_weak_at_least_strong_on_affine_mix():
    rng = np.random.default_rng(6)
    c = rng.normal(size=(2000, 3))
    a = np.array([[1.0, 0.9, 0.3], [-0.6, 1.0, 0.8], [0.4, -0.7, 1.0]])
    mixed = c @ a + rng.normal(size=3)
    strong, weak = mcc(c, mixed), mcc(c, mixed, weak=True)
    assert strong < 0.9
    assert weak >= strong
    assert weak == pytest.approx(1.0, abs=1e-9)


def test_weak_mcc_depends_on_split_seed_only_through_random_state():
    rng = np.random.default_rng(7)
    c = rng.normal(size=(300, 2))
    noisy = c + rng.normal(size=c.shape)
    a = mcc(c, noisy, weak=True, random_state=1)
    assert a == mcc(c, noisy, weak=True, random_state=1)
    assert a == mcc(c, noisy, weak=True, random_state=np.random.default_rng(1))
    assert a != mcc(c, noisy, weak=True, random_state=2)


def test_different_dimensions():
    rng = np.random.default_rng(8)
    c = rng.normal(size=(500, 2))
    extra = np.c_[rng.normal(size=500), -c[:, 1], rng.normal(size=500), 3 * c[:, 0]]
    assert mcc(c, extra) == pytest.approx(1.0)
    m = mcc_matching(c, extra)
    assert m.col_ind.tolist() == [3, 1] and m.signs.tolist() == [1.0, -1.0]
    # Fewer learned than true columns: min(d_true, d_learned) = 1 pair, the best one.
    assert mcc(c, c[:, 1]) == pytest.approx(1.0)
    assert mcc_matching(c, c[:, 1]).row_ind.tolist() == [1]
    # Weak MCC with fewer learned columns: one true column is unexplained.
    assert mcc(c, c[:, 1], weak=True) < 0.6


def test_constant_column_has_correlation_zero():
    rng = np.random.default_rng(9)
    c = rng.normal(size=(200, 2))
    learned = np.c_[c[:, 0], np.full(200, 0.1)]
    m = mcc_matching(c, learned)
    assert m.constant_learned.tolist() == [False, True]
    assert np.all(m.correlation[:, 1] == 0.0)
    assert m.score == pytest.approx(0.5)
    assert np.isfinite(mcc(c, learned, method="spearman"))
    assert mcc(c, learned, method="spearman") == pytest.approx(0.5)
    all_scores = mcc_all(c, learned)
    assert all(np.isfinite(v) for v in all_scores.values())
    # Entirely constant learned latents: every correlation 0, no NaN.
    assert mcc(c, np.ones((200, 2))) == 0.0
    assert mcc(c, np.ones((200, 2)), weak=True) == 0.0
    assert mcc_matching(np.ones((200, 2)), c).constant_true.all()


def test_mcc_all_keys_and_consistency():
    rng = np.random.default_rng(10)
    c = rng.normal(size=(300, 2))
    noisy = c @ np.array([[1.0, 0.5], [0.2, 1.0]]) + 0.3 * rng.normal(size=c.shape)
    d = mcc_all(c, noisy, random_state=3)
    assert set(d) == {
        "mcc_strong_pearson",
        "mcc_strong_spearman",
        "mcc_weak_pearson",
        "mcc_weak_spearman",
    }
    assert d["mcc_strong_pearson"] == mcc(c, noisy)
    assert d["mcc_strong_spearman"] == mcc(c, noisy, method="spearman")
    assert d["mcc_weak_pearson"] == mcc(c, noisy, weak=True, random_state=3)
    assert d["mcc_weak_spearman"] == mcc(c, noisy, method="spearman", weak=True, random_state=3)


def test_align_latents_recovers_truth():
    rng = np.random.default_rng(11)
    c = rng.normal(size=(300, 3)) * np.array([1.0, 2.0, 0.5]) + 1.0
    learned = np.c_[-4 * c[:, 2] + 2, c[:, 0] / 3, -c[:, 1]]
    aligned, m = align_latents(c, learned, return_match=True)
    assert aligned.shape == c.shape
    assert np.allclose(aligned, c)
    assert m.col_ind.tolist() == [1, 2, 0]
    # Noisy: the alignment is the least-squares fit per pair, so residuals are orthogonal.
    noisy = learned + rng.normal(size=learned.shape)
    al = align_latents(c, noisy)
    resid = c - al
    assert np.allclose(resid.mean(axis=0), 0.0, atol=1e-10)
    assert np.allclose((resid * (al - al.mean(axis=0))).sum(axis=0), 0.0, atol=1e-8)
    # Constant learned column -> the mean of its true column.
    al = align_latents(c[:, :1], np.full(300, 2.0))
    assert np.allclose(al, c[:, 0].mean())


def test_does_not_modify_inputs():
    rng = np.random.default_rng(12)
    c, z = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    c0, z0 = c.copy(), z.copy()
    mcc_all(c, z)
    align_latents(c, z)
    mcc(c, z, method="spearman")
    assert np.array_equal(c, c0) and np.array_equal(z, z0)


@pytest.mark.parametrize(
    ("true", "learned", "kwargs", "match"),
    [
        (np.zeros((10, 2)), np.zeros((9, 2)), {}, "one row per user"),
        (np.zeros((10, 2, 1)), np.zeros((10, 2)), {}, "shape"),
        (np.c_[np.arange(10.0), [np.nan] * 10], np.zeros((10, 2)), {}, "NaN"),
        (np.zeros((10, 2)), np.full((10, 2), np.inf), {}, "infinite"),
        (np.zeros((1, 2)), np.zeros((1, 2)), {}, "at least 2 rows"),
        (np.zeros((10, 0)), np.zeros((10, 2)), {}, "no columns"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"method": "kendall"}, "'method' parameter"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"weak": 1}, "'weak' parameter"),
        (np.zeros((10, 2)), np.zeros((10, 5)), {"weak": True}, "needs at least 14 users"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"weak": True, "random_state": -1}, "random_st"),
        (np.zeros((10, 2)), np.zeros((10, 2)), {"weak": True, "random_state": 1.5}, "random_st"),
        (np.array([["a", "b"]] * 3), np.zeros((3, 2)), {}, "numeric"),
    ],
)
def test_validation_errors(true, learned, kwargs, match):
    with pytest.raises(MetricInputError, match=match):
        mcc(true, learned, **kwargs)
    assert issubclass(MetricInputError, ValueError)


def test_validation_errors_of_siblings():
    with pytest.raises(ValueError, match="one row per user"):
        mcc_matching(np.zeros((5, 2)), np.zeros((6, 2)))
    with pytest.raises(ValueError, match="'method' parameter of align_latents"):
        align_latents(np.zeros((5, 2)), np.zeros((5, 2)), method="x")
    with pytest.raises(ValueError, match="needs at least"):
        mcc_all(np.zeros((5, 2)), np.zeros((5, 2)))
