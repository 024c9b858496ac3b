"""Tests of metrics/identifiability.py: auxiliary-variable and prior-parameter checks (issue 5)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from metrics import (
    MetricInputError,
    aux_preconditions,
    gaussian_natural_parameters,
    prior_parameter_matrix_check,
)


def test_docstring_examples():
    assert doctest.testmod(importlib.import_module("metrics.identifiability")).failed == 0


def test_flags_too_few_distinct_w_values():
    rng = np.random.default_rng(0)
    w = rng.integers(0, 3, size=500)  # 3 distinct values; latent_dim 2 needs 2 * 2 + 1 = 5
    r = aux_preconditions(w, 2)
    assert r["n_distinct"] == 3 and r["n_required"] == 5 and r["ok"] is False
    assert aux_preconditions(w, 1)["ok"] is True  # 1 * 2 + 1 = 3
    assert aux_preconditions(w, 1, k=3)["ok"] is False  # 1 * 3 + 1 = 4


def test_joint_codes_of_several_fields_count_as_distinct_values():
    rng = np.random.default_rng(1)
    w = np.c_[rng.integers(0, 2, 400), rng.integers(0, 3, 400)]  # 6 joint values
    r = aux_preconditions(w, 2)
    assert r["n_distinct"] == 6 and r["ok"] is True
    assert r["min_count"] == np.unique(w, axis=0, return_counts=True)[1].min()
    # Each field alone has too few values.
    assert aux_preconditions(w[:, 1], 2)["ok"] is False


def test_natural_parameters():
    mean = np.array([[1.0, -2.0], [0.5, 0.0]])
    var = np.array([[2.0, 4.0], [0.5, 1.0]])
    lam = gaussian_natural_parameters(mean, var)
    assert np.allclose(lam, [[0.5, -0.5, -0.25, -0.125], [1.0, 0.0, -1.0, -0.5]])


def _prior_from_natural(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert lambda = (mu / var, -1 / (2 var)) row by row."""
    d = lam.shape[1] // 2
    var = -0.5 / lam[:, d:]
    return lam[:, :d] * var, var


def _constructed_lambda(rng, d: int, n_levels: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Natural parameters whose difference matrix L (2d x n_levels-1) has exactly this rank."""
    lam0 = np.r_[np.zeros(d), -np.ones(d)]  # mean 0, variance 1/2
    diffs = 0.2 * rng.normal(size=(2 * d, rank)) @ rng.normal(size=(rank, n_levels - 1))
    lam = np.vstack([lam0, lam0 + diffs.T])
    assert (lam[:, d:] < 0).all()  # valid Gaussians
    return lam, diffs


@pytest.mark.parametrize(
    ("d", "n_levels", "rank"),
    [(2, 5, 4), (2, 5, 3), (2, 5, 1), (1, 3, 2), (1, 3, 1), (3, 7, 6), (2, 9, 4), (2, 9, 2)],
)
def test_rank_on_constructed_cases(d, n_levels, rank):
    rng = np.random.default_rng(100 * d + 10 * n_levels + rank)
    lam, diffs = _constructed_lambda(rng, d, n_levels, rank)
    mean, var = _prior_from_natural(lam)
    r = prior_parameter_matrix_check(mean, var)
    assert r["shape"] == (2 * d, n_levels - 1)
    assert r["rank"] == rank
    assert r["n_required"] == 2 * d
    assert r["ok"] is (rank == 2 * d)
    s = np.linalg.svd(diffs, compute_uv=False)
    assert np.allclose(r["singular_values"], s, atol=1e-10)
    if rank == min(2 * d, n_levels - 1):
        assert r["condition_number"] == pytest.approx(np.linalg.cond(diffs), rel=1e-6)
    else:
        assert r["condition_number"] > 1e10  # a numerically zero singular value


def test_equal_variances_are_degenerate():
    # Only the means change with W: the -1/(2 var) block of L is zero, rank d < 2d.
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(5, 2))
    var = np.ones((5, 2))
    r = prior_parameter_matrix_check(mean, var)
    assert r["rank"] == 2 and r["ok"] is False
    assert r["condition_number"] == np.inf or r["condition_number"] > 1e12


def test_identical_levels_rank_zero_and_reference_free():
    mean, var = np.ones((4, 1)), np.full((4, 1), 2.0)
    r = prior_parameter_matrix_check(mean, var)
    assert r["rank"] == 0 and r["condition_number"] == np.inf and r["ok"] is False
    # The rank does not depend on which level is the reference.
    rng = np.random.default_rng(3)
    lam, _ = _constructed_lambda(rng, 2, 6, 3)
    mean, var = _prior_from_natural(lam)
    for perm in ([5, 1, 2, 3, 4, 0], [2, 0, 1, 3, 4, 5]):
        assert prior_parameter_matrix_check(mean[perm], var[perm])["rank"] == 3


def test_too_few_levels_cannot_be_full_rank():
    rng = np.random.default_rng(4)
    mean, var = rng.normal(size=(3, 2)), rng.uniform(0.5, 2, size=(3, 2))
    r = prior_parameter_matrix_check(mean, var)
    assert r["shape"] == (4, 2) and r["rank"] == 2 and r["ok"] is False


def test_explicit_tolerance():
    mean = np.array([[0.0], [1.0], [2.0]])
    var = np.array([[1.0], [1.0], [1.0 + 1e-6]])
    assert prior_parameter_matrix_check(mean, var)["rank"] == 2
    r = prior_parameter_matrix_check(mean, var, tol=1e-3)
    assert r["rank"] == 1 and r["tol"] == 1e-3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: aux_preconditions(np.zeros(5, int), 0), "'latent_dim' parameter"),
        (lambda: aux_preconditions(np.zeros(5, int), 2, k=0), "'k' parameter"),
        (lambda: aux_preconditions(np.zeros((5, 2, 2), int), 2), "shape"),
        (lambda: aux_preconditions(np.array([0.0, np.nan]), 1), "NaN"),
        (lambda: prior_parameter_matrix_check(np.zeros((3, 2)), np.ones((3, 1))), "same shape"),
        (lambda: prior_parameter_matrix_check(np.zeros((3, 2)), np.zeros((3, 2))), "positive"),
        (lambda: prior_parameter_matrix_check(np.zeros((1, 2)), np.ones((1, 2))), "at least 2"),
        (
            lambda: prior_parameter_matrix_check(np.full((3, 2), np.nan), np.ones((3, 2))),
            "NaN",
        ),
        (
            lambda: prior_parameter_matrix_check(np.zeros((3, 1)), np.ones((3, 1)), tol=-1.0),
            "'tol' parameter",
        ),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()
