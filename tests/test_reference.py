"""Tests of metrics/reference.py: proxy oracle, chance level, exposure R^2 (issue 6)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from scipy import sparse
from scipy.special import gammaln

from metrics import (
    MetricInputError,
    chance_mcc,
    exposure_r2,
    group_means,
    mcc,
    proxy_chance_mcc,
    proxy_oracle,
)


def test_docstring_examples():
    assert doctest.testmod(importlib.import_module("metrics.reference")).failed == 0


def test_group_means_by_joint_code():
    codes = np.array([[0, 1], [0, 1], [1, 1], [0, 0], [1, 1]])
    values = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 0.0], [7.0, 1.0], [9.0, 2.0]])
    means, counts = group_means(values, codes)
    expected = np.array([[2.0, 15.0], [2.0, 15.0], [7.0, 1.0], [7.0, 1.0], [7.0, 1.0]])
    assert np.allclose(means, expected)
    assert sorted(counts.tolist()) == [1, 2, 2]


def test_oracle_is_one_when_c_is_a_function_of_w():
    rng = np.random.default_rng(0)
    w = np.c_[rng.integers(0, 3, 1500), rng.integers(0, 4, 1500)]
    c = np.c_[np.sin(w[:, 0] + 2.0 * w[:, 1]), (w[:, 0] - 1.0) * w[:, 1]]
    r = proxy_oracle(c, w)
    assert r["mcc_strong"] == pytest.approx(1.0)
    assert r["mcc_weak"] == pytest.approx(1.0)
    assert r["r2"] == pytest.approx(1.0)
    assert r["n_groups"] == 12
    # One field only: C is not a function of it, so the oracle drops.
    assert proxy_oracle(c, w[:, 0])["mcc_strong"] < 0.9


def test_oracle_near_chance_when_c_independent_of_w():
    rng = np.random.default_rng(1)
    n, d = 2000, 2
    w = rng.integers(0, 4, size=n)
    c = rng.normal(size=(n, d))
    r = proxy_oracle(c, w)
    chance = chance_mcc(n, d, d, n_draws=100, random_state=2)
    # With G groups the oracle is ~ sqrt((G - 1) / n) per column, chance ~ max of |N(0, 1/n)|.
    assert r["mcc_strong"] < chance["p95"] + 2 * np.sqrt(3 / n)
    assert abs(r["mcc_strong"] - chance["mean"]) < 3 / np.sqrt(n)
    assert r["r2"] < 0.01


def test_oracle_partial_dependence_matches_population_value():
    # C = a * W-level + noise: corr(C, E[C|W])^2 = between / total variance.
    rng = np.random.default_rng(3)
    n = 20000
    w = rng.integers(0, 2, size=n)
    c = 2.0 * w + rng.normal(size=n)  # between var 1, total var 2
    r = proxy_oracle(c, w)
    assert r["mcc_strong"] == pytest.approx(np.sqrt(0.5), abs=0.02)
    assert r["r2"] == pytest.approx(0.5, abs=0.02)


def _direct_chance(n, d_t, d_l, draws, seed):
    rng = np.random.default_rng(seed)
    return np.array(
        [mcc(rng.normal(size=(n, d_t)), rng.normal(size=(n, d_l))) for _ in range(draws)]
    )


@pytest.mark.parametrize("dims", [(1, 1), (2, 2), (2, 3)])
def test_chance_matches_direct_simulation(dims):
    n = 50
    direct = _direct_chance(n, *dims, draws=1500, seed=10)
    r = chance_mcc(n, *dims, n_draws=1500, random_state=11)
    se = direct.std() / np.sqrt(1500)
    assert abs(r["mean"] - direct.mean()) < 5 * se
    assert abs(r["p95"] - np.quantile(direct, 0.95)) < 0.03
    assert r["std"] == pytest.approx(direct.std(), rel=0.15)


def test_chance_analytic_in_one_dimension():
    n = 200
    r = chance_mcc(n, 1, 1, n_draws=3000, random_state=0)
    exact = np.exp(gammaln((n - 1) / 2) - gammaln(n / 2)) / np.sqrt(np.pi)  # E|r| under the null
    assert r["analytic"] == pytest.approx(np.sqrt(2 / (np.pi * (n - 1))))
    assert r["analytic"] == pytest.approx(exact, rel=0.01)
    assert r["analytic_upper"] == r["analytic"]
    assert r["mean"] == pytest.approx(exact, rel=0.05)


def test_chance_analytic_brackets_simulation():
    r = chance_mcc(400, 3, 3, n_draws=400, random_state=0)
    se = r["std"] / np.sqrt(400)
    assert r["analytic"] < r["analytic_upper"]
    assert r["analytic"] - 3 * se <= r["mean"] <= r["analytic_upper"] + 3 * se


def test_chance_falls_as_n_grows():
    means = [chance_mcc(n, 2, 2, n_draws=100)["mean"] for n in (50, 200, 800)]
    p95 = [chance_mcc(n, 2, 2, n_draws=100)["p95"] for n in (50, 200, 800)]
    assert means[0] > means[1] > means[2]
    assert p95[0] > p95[1] > p95[2]
    # ~ 1 / sqrt(n): quadrupling n about halves it.
    assert means[0] / means[2] == pytest.approx(4.0, rel=0.25)


def test_chance_spearman_and_reproducible():
    a = chance_mcc(100, 2, 2, n_draws=50, method="spearman", random_state=5)
    b = chance_mcc(100, 2, 2, n_draws=50, method="spearman", random_state=5)
    assert a == b
    assert 0 < a["mean"] < a["p95"] < 0.5


def _exposure_case(n=600, n_items=80, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 3, size=n)
    proxy_onehot = np.eye(3)[w]
    c = np.c_[w + rng.normal(size=n), rng.normal(size=n)]
    # Exposure probability depends on C (through a random item loading), not on W directly.
    logits = c @ rng.normal(size=(2, n_items)) - 1.0
    exposure = (rng.random((n, n_items)) < 1 / (1 + np.exp(-logits))).astype(float)
    return exposure, c, proxy_onehot


def test_proxy_chance_with_two_groups_in_one_dimension_is_the_oracle():
    # Every function of a 2-level W is the group indicator up to sign and scale.
    rng = np.random.default_rng(4)
    w = rng.integers(0, 2, 400)
    c = w + rng.normal(size=400)
    r = proxy_chance_mcc(c, w, n_draws=20)
    assert r["std"] < 1e-12 and r["n_groups"] == 2
    assert r["mean"] == pytest.approx(proxy_oracle(c, w)["mcc_strong"], abs=1e-12)


def test_proxy_chance_matches_a_direct_simulation_and_sits_between_chance_and_oracle():
    rng = np.random.default_rng(5)
    w = rng.integers(0, 5, size=(3000, 1))
    c = np.c_[w[:, 0] + rng.normal(size=3000), (w[:, 0] - 2.0) ** 2 + rng.normal(size=3000)]
    r = proxy_chance_mcc(c, w, n_draws=300, random_state=1)
    # Written independently: a random value per level, looked up by the user's level.
    draw = np.random.default_rng(2)
    direct = [mcc(c, draw.normal(size=(5, 2))[w[:, 0]]) for _ in range(300)]
    assert abs(r["mean"] - np.mean(direct)) < 0.04
    assert chance_mcc(3000, 2, 2)["p95"] < r["mean"] < proxy_oracle(c, w)["mcc_strong"]
    assert r["p95"] > r["mean"] and r["d_learned"] == 2


def test_proxy_chance_groups_joint_codes_and_takes_the_learned_dimension():
    rng = np.random.default_rng(6)
    w = rng.integers(0, 3, size=(500, 2))
    c = rng.normal(size=(500, 2))
    r = proxy_chance_mcc(c, w, d_learned=4, n_draws=10)
    assert r["n_groups"] == len(np.unique(w, axis=0)) and r["d_learned"] == 4


def test_exposure_r2_dense_and_sparse_agree_and_make_sense():
    exposure, c, proxy_onehot = _exposure_case()
    dense = exposure_r2(exposure, c, proxy_onehot, random_state=1)
    sp = exposure_r2(sparse.csr_matrix(exposure), c, proxy_onehot, random_state=1)
    for key in ("r2_exposure", "r2_proxy", "r2_exposure_and_proxy"):
        assert sp[key] == pytest.approx(dense[key], abs=1e-6)
    assert dense["n_test"] == 180 and dense["n_train"] == 420
    # The exposure carries information on both columns of C; W only on the first.
    assert dense["r2_exposure"] > 0.5
    assert 0.1 < dense["r2_proxy"] < 0.5
    assert dense["r2_exposure_and_proxy"] >= dense["r2_exposure"] - 0.02


def test_exposure_r2_uninformative_exposure_near_zero():
    rng = np.random.default_rng(2)
    n = 500
    c = rng.normal(size=(n, 2))
    exposure = (rng.random((n, 40)) < 0.2).astype(float)
    r = exposure_r2(exposure, c, np.eye(2)[rng.integers(0, 2, n)], random_state=0)
    assert r["r2_exposure"] < 0.05
    assert r["r2_proxy"] < 0.05


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: proxy_oracle(np.zeros((5, 2)), np.zeros(4, int)), "one row per user"),
        (lambda: proxy_oracle(np.full((5, 2), np.nan), np.zeros(5, int)), "NaN"),
        (lambda: proxy_oracle(np.ones((5, 1)), np.array(list("abcde"))), "integer codes"),
        (lambda: proxy_oracle(np.ones((5, 1)), np.zeros(5, int), method="x"), "'method'"),
        (lambda: chance_mcc(2, 1, 1), "'n_users' parameter of chance_mcc"),
        (lambda: chance_mcc(10, 0, 1), "'d_true'"),
        (lambda: chance_mcc(10, 1, 1, n_draws=1), "'n_draws'"),
        (lambda: chance_mcc(10, 1, 1, random_state="a"), "'random_state'"),
        (lambda: proxy_chance_mcc(np.ones((5, 1)), np.zeros(4, int)), "one row per user"),
        (lambda: proxy_chance_mcc(np.ones((5, 1)), np.zeros(5, int), n_draws=1), "'n_draws'"),
        (lambda: proxy_chance_mcc(np.ones((5, 1)), np.zeros(5, int), d_learned=0), "'d_learned'"),
        (lambda: exposure_r2(np.zeros((9, 3)), np.ones((9, 1)), np.zeros((9, 2))), "constant"),
        (lambda: exposure_r2(np.zeros((9, 3)), np.zeros((8, 1)), np.zeros((9, 2))), "row per"),
        (
            lambda: exposure_r2(np.zeros((9, 3)), np.arange(9.0), np.ones((9, 2)), test_size=1),
            "'test_size'",
        ),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()


def test_constant_true_column_gives_zero_not_nan():
    w = np.repeat([0, 1], 50)
    c = np.c_[w.astype(float), np.ones(100)]
    r = proxy_oracle(c, w)
    assert np.isfinite(r["mcc_strong"]) and r["mcc_strong"] == pytest.approx(0.5)
    assert r["r2"] == pytest.approx(1.0)


def test_reference_lines_on_idcf_sim(external_dataset):
    from simulator.loaders import load_dataset

    ds = load_dataset(external_dataset("idcf-sim") / "gamma_0")
    c = ds.confounder
    oracle = proxy_oracle(c, ds.proxy)
    chance = chance_mcc(ds.n_users, c.shape[1], c.shape[1], n_draws=50)
    # Issue 6's planning figure: W explains ~90% of C and E[C|W] has MCC 0.90-0.95.
    assert 0.9 < oracle["mcc_strong"] < 0.97 and 0.85 < oracle["r2"] < 0.95
    assert chance["p95"] < 0.1
    r2 = exposure_r2(ds.exposure_csr(), c, ds.proxy_onehot())
    assert r2["r2_proxy"] > r2["r2_exposure"] > 0.2
