"""Reference lines for an MCC figure: what the proxy alone gives, and what chance gives (issue 6).

- :func:`proxy_oracle`: MCC between the true confounder C and E[C | W], its W-group means. Any
  function of W alone is a function of the group; the group means are the best such predictor of
  C in mean squared error, so their MCC is what a model that only embedded W could reach.
- :func:`chance_mcc`: the MCC between C and independent Gaussian latents of the same shape, by
  simulation, with an analytic approximation beside it.
- :func:`exposure_r2`: held-out R^2 of a ridge regression of C on the exposure row, on W alone and
  on both: how much the exposures themselves say about C.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, sparse
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm, rankdata
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from metrics._validation import (
    MetricInputError,
    check_choice,
    check_codes,
    check_int,
    check_matrix,
    check_random_state,
    check_same_rows,
)
from metrics.mcc import METHODS, _match, mcc

__all__ = ["chance_mcc", "exposure_r2", "group_means", "proxy_oracle"]

#: Ridge penalties searched (by efficient leave-one-out CV on the training users) in exposure_r2.
RIDGE_ALPHAS = tuple(np.logspace(-2, 4, 13))


def group_means(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` within each group of identical code rows, broadcast back to the rows.

    Parameters
    ----------
    values : ndarray of shape (n_users, d)
    codes : ndarray of shape (n_users, n_fields)
        Categorical codes; users with the same row (the joint code of all fields) form a group.

    Returns
    -------
    means : ndarray of shape (n_users, d)
        Row ``i`` holds the mean of ``values`` over the group of user ``i``.
    counts : ndarray of shape (n_groups,)
        Group sizes.
    """
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    indicator = sparse.csr_matrix(
        (np.ones(len(inverse)), (inverse, np.arange(len(inverse)))),
        shape=(len(counts), len(inverse)),
    )
    sums = indicator @ values
    return (sums / counts[:, None])[inverse], counts


def proxy_oracle(
    true,
    proxy_codes,
    *,
    method: str = "pearson",
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float | int]:
    """Strong and weak MCC between C and E[C | W], the W-group means of the true C.

    Parameters
    ----------
    true : array-like of shape (n_users, d) or (n_users,)
        The true confounder C.
    proxy_codes : array-like of shape (n_users, n_fields) or (n_users,)
        Categorical proxy W; several fields are grouped by their joint code (the row).
    method : {"pearson", "spearman"}, default "pearson"
    random_state : int, Generator or None, default 0
        The half split of the weak MCC (see :func:`metrics.mcc.mcc`).

    Returns
    -------
    dict
        ``mcc_strong``, ``mcc_weak`` (floats in [0, 1]); ``r2``: the share of the variance of C
        explained by W (between-group over total sum of squares, averaged over the non-constant
        columns of C; equal to the mean squared per-column correlation between C and E[C | W]);
        ``n_groups``; ``min_group_size``.

    Notes
    -----
    The group means are in-sample (each user's own C is in its group's mean). When C does not
    depend on W this still gives a positive score, of order ``sqrt((n_groups - 1) / n_users)``
    per column (the expected R^2 is ``(n_groups - 1) / (n_users - 1)``), comparable to the chance
    level of :func:`chance_mcc` when groups are large; with many small groups the oracle is
    inflated (a group of one reproduces its C exactly), so read it together with ``n_groups``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.integers(0, 4, size=(1000, 2))
    >>> c = np.c_[w[:, 0] + 0.5 * w[:, 1], w[:, 1] ** 2].astype(float)
    >>> r = proxy_oracle(c, w)
    >>> round(r["mcc_strong"], 6), r["n_groups"]
    (1.0, 16)
    """
    func = "proxy_oracle"
    check_choice(method, "method", func, METHODS)
    true = check_matrix(true, "true", func, min_rows=2)
    codes = check_codes(proxy_codes, "proxy_codes", func)
    check_same_rows(func, true=true, proxy_codes=codes)
    rng = check_random_state(random_state, func)
    means, counts = group_means(true, codes)
    total = ((true - true.mean(axis=0)) ** 2).sum(axis=0)
    between = ((means - true.mean(axis=0)) ** 2).sum(axis=0)
    varying = total > 0
    r2 = float((between[varying] / total[varying]).mean()) if varying.any() else 0.0
    return {
        "mcc_strong": _match(true, means, method).score,
        "mcc_weak": mcc(true, means, method=method, weak=True, random_state=rng),
        "r2": r2,
        "n_groups": int(len(counts)),
        "min_group_size": int(counts.min()),
    }


def _expected_max_abs_normal(k: int) -> float:
    """E[max of k iid |N(0, 1)|] = integral over [0, inf) of 1 - (2 Phi(x) - 1)^k."""
    value, _ = integrate.quad(lambda x: 1.0 - (2.0 * norm.cdf(x) - 1.0) ** k, 0.0, np.inf)
    return value


def chance_mcc(
    n_users: int,
    d_true: int,
    d_learned: int,
    *,
    n_draws: int = 200,
    method: str = "pearson",
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float | int]:
    """The MCC that independent latents reach by chance (strong MCC), by simulation.

    Each draw takes C of shape (n_users, d_true) and Z of shape (n_users, d_learned), independent
    standard Gaussians, and computes the strong MCC. For Pearson correlation the null distribution
    of the correlations does not depend on the distribution of C as long as Z is Gaussian, so the
    result holds for any non-degenerate true C.

    Parameters
    ----------
    n_users : int
        Number of users (rows), at least 3.
    d_true, d_learned : int
        Dimensions of the true and the learned latents, at least 1.
    n_draws : int, default 200
        Number of simulated draws, at least 2.
    method : {"pearson", "spearman"}, default "pearson"
    random_state : int, Generator or None, default 0

    Returns
    -------
    dict
        ``mean``, ``std`` and ``p95`` (95th percentile) of the simulated MCC; ``n_draws``;
        ``analytic`` and ``analytic_upper``: two closed-form approximations of the mean, with
        each |r| taken as an independent ``|N(0, 1/(n_users - 1))|`` (the null variance of a
        Pearson r is exactly ``1/(n_users-1)``). With ``D = max(d_true, d_learned)`` and
        ``m = min(d_true, d_learned)`` and ``M(k) = E[max of k iid |N(0,1)|]``:
        ``analytic = mean_{i<m} M(D - i) / sqrt(n_users - 1)`` (the expected score of a greedy
        matching, a lower bound on the Hungarian one; in 1-d it is
        ``sqrt(2 / (pi (n_users - 1)))``, within 1% of the exact ``E|r|`` for n >= 20) and
        ``analytic_upper = M(D) / sqrt(n_users - 1)`` (every matched |r| is at most the largest
        |r| of its row).

    Examples
    --------
    >>> r = chance_mcc(1000, 1, 1, n_draws=2000)
    >>> round(r["analytic"], 4), abs(r["mean"] - r["analytic"]) < 0.002
    (0.0252, True)
    """
    func = "chance_mcc"
    n_users = check_int(n_users, "n_users", func, 3)
    d_true = check_int(d_true, "d_true", func, 1)
    d_learned = check_int(d_learned, "d_learned", func, 1)
    n_draws = check_int(n_draws, "n_draws", func, 2)
    check_choice(method, "method", func, METHODS)
    rng = check_random_state(random_state, func)

    d = d_true + d_learned
    chunk = max(1, int(4e6 // (n_users * d)))  # about 32 MB of float64 per chunk
    scores = np.empty(n_draws)
    for start in range(0, n_draws, chunk):
        b = min(chunk, n_draws - start)
        x = rng.standard_normal((b, n_users, d))
        if method == "spearman":
            x = rankdata(x, axis=1)
        x -= x.mean(axis=1, keepdims=True)
        x /= np.sqrt((x * x).sum(axis=1, keepdims=True))
        corr = np.abs(np.einsum("bni,bnj->bij", x[:, :, :d_true], x[:, :, d_true:]))
        for i in range(b):
            scores[start + i] = _hungarian_mean(corr[i])

    big, small = max(d_true, d_learned), min(d_true, d_learned)
    scale = 1.0 / np.sqrt(n_users - 1)
    greedy = np.mean([_expected_max_abs_normal(big - i) for i in range(small)])
    return {
        "mean": float(scores.mean()),
        "std": float(scores.std(ddof=1)),
        "p95": float(np.quantile(scores, 0.95)),
        "n_draws": n_draws,
        "analytic": float(greedy * scale),
        "analytic_upper": float(_expected_max_abs_normal(big) * scale),
    }


def _hungarian_mean(abs_corr: np.ndarray) -> float:
    row, col = linear_sum_assignment(abs_corr, maximize=True)
    return float(abs_corr[row, col].mean())


def exposure_r2(
    exposure,
    true,
    proxy_onehot,
    *,
    test_size: float = 0.3,
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float | int]:
    """Held-out R^2 of ridge regressions of C on the exposure row, on W alone, and on both.

    One random split of the users (``test_size`` held out, drawn from ``random_state``) serves
    all three regressions. Each is a :class:`sklearn.linear_model.RidgeCV` with intercept whose
    penalty is chosen among ``RIDGE_ALPHAS`` (1e-2 .. 1e4) by efficient leave-one-out CV on the
    training users only; the held-out R^2 is :func:`sklearn.metrics.r2_score` averaged uniformly
    over the columns of C (it can be negative).

    Parameters
    ----------
    exposure : array-like or scipy sparse matrix of shape (n_users, n_items)
        The exposure row of each user (e.g. ``RecDataset.exposure_csr()``).
    true : array-like of shape (n_users, d) or (n_users,)
        The true confounder C; no column may be constant.
    proxy_onehot : array-like of shape (n_users, n_proxy_columns)
        One-hot W (e.g. ``RecDataset.proxy_onehot()``), not raw codes.
    test_size : float, default 0.3
        Held-out share of users, in (0, 1).
    random_state : int, Generator or None, default 0

    Returns
    -------
    dict
        ``r2_exposure``, ``r2_proxy``, ``r2_exposure_and_proxy`` (held-out R^2),
        ``alpha_exposure``, ``alpha_proxy``, ``alpha_exposure_and_proxy`` (chosen penalties),
        ``n_train``, ``n_test``.
    """
    func = "exposure_r2"
    exposure = check_matrix(exposure, "exposure", func, min_rows=4, allow_sparse=True)
    true = check_matrix(true, "true", func, min_rows=4)
    proxy = check_matrix(proxy_onehot, "proxy_onehot", func, min_rows=4)
    n = check_same_rows(func, exposure=exposure, true=true, proxy_onehot=proxy)
    if not (isinstance(test_size, float | int) and 0 < test_size < 1):
        raise MetricInputError(
            f"The 'test_size' parameter of {func} must be a float in the range (0, 1). "
            f"Got {test_size!r} instead."
        )
    if (np.ptp(true, axis=0) == 0).any():
        raise MetricInputError(f"{func}: 'true' has a constant column; its R^2 is undefined.")
    rng = check_random_state(random_state, func)
    n_test = min(max(2, round(test_size * n)), n - 2)
    perm = rng.permutation(n)
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    both = (
        sparse.hstack([exposure, sparse.csr_matrix(proxy)], format="csr")
        if sparse.issparse(exposure)
        else np.c_[exposure, proxy]
    )
    out: dict[str, float | int] = {}
    for name, x in (("exposure", exposure), ("proxy", proxy), ("exposure_and_proxy", both)):
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(x[train], true[train])
        out[f"r2_{name}"] = float(r2_score(true[test], model.predict(x[test])))
        out[f"alpha_{name}"] = float(model.alpha_)
    out["n_train"], out["n_test"] = int(len(train)), int(len(test))
    return out
