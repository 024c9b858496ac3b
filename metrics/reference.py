"""Reference lines for an MCC figure: what the proxy alone gives, and what chance gives (§5).

- :func:`proxy_oracle`: MCC between the true confounder C and E[C | W], its W-group means. Any
  function of W alone is a function of the group; the group means are the best such predictor of
  C in mean squared error, so their MCC is what a model that only embedded W could reach.
- :func:`chance_mcc`: the MCC between C and independent Gaussian latents of the same shape, by
  simulation, with an analytic approximation beside it.
- :func:`proxy_chance_mcc`: the MCC that a *random function of W* reaches by chance: the level
  against which to read any latent that depends on W alone (a learned prior mean mu_w(W)). With
  few proxy levels it is far above :func:`chance_mcc` (a function of a 5-level W is 5 points).
- :func:`exposure_r2`: held-out R^2 of a ridge regression of C on the exposure row, on W alone and
  on both: how much the exposures themselves say about C.
- :func:`mcc_supervised`: the supervised ceiling, the strong MCC of a cross-fitted nonlinear
  regressor of C from the exposure row and W (and from the exposure row alone): what an encoder
  q(C | A, W) could reach if it were trained on the truth.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, sparse
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm, rankdata
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from metrics import checks
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

__all__ = [
    "chance_mcc",
    "exposure_r2",
    "group_means",
    "mcc_supervised",
    "proxy_chance_mcc",
    "proxy_oracle",
]

#: Ridge penalties searched (by efficient leave-one-out CV on the training users) in exposure_r2.
RIDGE_ALPHAS = tuple(np.logspace(-2, 4, 13))
#: Components of the truncated SVD of the exposure rows in mcc_supervised (fewer items: raw rows).
SUPERVISED_SVD_COMPONENTS = 64
#: Boosting settings of mcc_supervised's HistGradientBoostingRegressor (one per dimension of C).
SUPERVISED_MAX_ITER = 300
SUPERVISED_PATIENCE = 20
#: Training users from which the boosting stops early on a 10% validation share of them.
SUPERVISED_EARLY_STOPPING_MIN = 200


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


def proxy_chance_mcc(
    true,
    proxy_codes,
    *,
    d_learned: int | None = None,
    n_draws: int = 200,
    method: str = "pearson",
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float | int]:
    """The MCC that a random function of the proxy W reaches (strong MCC), by simulation.

    Each draw gives every W group (the joint code of its row) an independent standard Gaussian
    value per latent dimension, spreads it to the group's users and computes the strong MCC
    against C. A latent that depends on W alone, such as a learned prior mean mu_w(W), can only
    take one value per group, so this, not :func:`chance_mcc`, is the chance level it must be
    read against; :func:`proxy_oracle` (the group means of C) is its ceiling.

    Parameters
    ----------
    true : array-like of shape (n_users, d) or (n_users,)
        The true confounder C.
    proxy_codes : array-like of shape (n_users, n_fields) or (n_users,)
        Categorical proxy W; several fields are grouped by their joint code.
    d_learned : int or None, default None
        Dimension of the random latents; None: C's dimension.
    n_draws : int, default 200
        Number of simulated draws, at least 2.
    method : {"pearson", "spearman"}, default "pearson"
    random_state : int, Generator or None, default 0

    Returns
    -------
    dict
        ``mean``, ``std``, ``p95`` of the simulated MCC; ``n_draws``; ``n_groups``;
        ``d_learned``.

    Notes
    -----
    With two groups and one dimension every random function is the group indicator up to sign
    and scale, so every draw scores the proxy oracle's strong MCC.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.integers(0, 5, 2000)
    >>> c = np.c_[w + rng.normal(size=2000), rng.normal(size=2000)]
    >>> r = proxy_chance_mcc(c, w)
    >>> r["n_groups"], 0.1 < r["mean"] < proxy_oracle(c, w)["mcc_strong"]
    (5, True)
    """
    func = "proxy_chance_mcc"
    check_choice(method, "method", func, METHODS)
    true = check_matrix(true, "true", func, min_rows=3)
    codes = check_codes(proxy_codes, "proxy_codes", func)
    check_same_rows(func, true=true, proxy_codes=codes)
    d = true.shape[1] if d_learned is None else check_int(d_learned, "d_learned", func, 1)
    n_draws = check_int(n_draws, "n_draws", func, 2)
    rng = check_random_state(random_state, func)
    rows = codes.reshape(len(codes), -1)
    _, group = np.unique(rows, axis=0, return_inverse=True)
    group = group.ravel()
    n_groups = int(group.max()) + 1
    # One (n_groups, d) table a draw; a user's latent is its group's row.
    tables = rng.standard_normal((n_draws, n_groups, d))
    scores = np.array([_match(true, table[group], method).score for table in tables])
    return {
        "mean": float(scores.mean()),
        "std": float(scores.std(ddof=1)),
        "p95": float(np.quantile(scores, 0.95)),
        "n_draws": n_draws,
        "n_groups": n_groups,
        "d_learned": int(d),
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
    open_unit = dict(low=0.0, high=1.0, low_open=True, high_open=True)
    checks.check_float(test_size, "test_size", func, **open_unit, error=MetricInputError)
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


def mcc_supervised(
    true,
    exposure,
    proxy_codes=None,
    *,
    method: str = "pearson",
    n_splits: int = 5,
    random_state: int | np.random.Generator | None = 0,
) -> dict[str, float | str]:
    """Supervised ceiling: strong MCC of a cross-fitted regressor of C from the exposures (and W).

    The regressor is trained on the true confounder, which no latent model sees, so its held-out
    MCC bounds what any encoder q(C | A, W) can reach from the same inputs, up to estimation
    error (a model with more capacity or data could do a little better; an encoder that does
    much better has found something the inputs do not hold, i.e. a bug or a leak).

    Cross-fitting: the users are split into ``n_splits`` folds (:class:`sklearn.model_selection.
    KFold`, shuffled with a seed drawn from ``random_state``); for each fold the regressor is
    fitted on the other folds and predicts the held-out fold, so every user gets an
    out-of-fold prediction; the predictions are centred within each fold; the score is
    :func:`metrics.mcc.mcc` (strong) between ``true`` and those predictions. The centring
    removes an artefact of cross-fitting: an uninformative (constant) fit predicts for each
    fold the mean of C over the other folds, which is anti-correlated with the fold's own mean
    and would score about ``sqrt((n_splits - 1) / n_users)`` (0.16 for 150 users) instead of 0;
    what it drops otherwise is the folds' mean differences, of order ``1 / sqrt(n_users)``.

    Estimator: the exposure rows are reduced by :class:`sklearn.decomposition.TruncatedSVD`
    (``SUPERVISED_SVD_COMPONENTS`` = 64 components, fitted on the training folds only; with at
    most 64 items the raw rows are used), one-hot W is appended when given, and one
    :class:`sklearn.ensemble.HistGradientBoostingRegressor` per dimension of C (at most 300
    iterations, early stopping with patience 20 on 10% of the training users when there are at
    least 200 of them) maps the features to C. Why: it fits nonlinear functions and interactions
    of the features with no tuning, and is fast. Measured on the IViDR paper's data (10,000 x
    1,000, gamma 0; 1 thread on a shared 2-core machine), both MCCs in one call: this estimator
    0.945 (exposure + W) and 0.790 (exposure) in 10 s (gamma 20: 0.939 and 0.064 in 7 s);
    ``MLPRegressor`` (64, 64) with early stopping on the raw sparse rows 0.909 and 0.702 in
    11 s. 16, 64 or 128 SVD components gave the same MCC to 0.001 (2 s, 11 s, 21 s).

    Parameters
    ----------
    true : array-like of shape (n_users, d) or (n_users,)
        The true confounder C.
    exposure : array-like or scipy sparse matrix of shape (n_users, n_items)
        The exposure row of each user (e.g. ``RecDataset.exposure_csr()``).
    proxy_codes : array-like of shape (n_users, n_fields) or (n_users,), or None
        Categorical proxy W (raw codes, one-hot encoded here field by field). None: only the
        exposure-alone figure.
    method : {"pearson", "spearman"}, default "pearson"
    n_splits : int, default 5
        Folds of the cross-fitting, in [2, n_users].
    random_state : int, Generator or None, default 0
        Seeds the fold split, the SVD and the boosting.

    Returns
    -------
    dict
        ``exposure_w`` (strong MCC from the exposures and W; only when ``proxy_codes`` is
        given), ``exposure`` (from the exposures alone), floats in [0, 1]; ``estimator``: a
        short description of the regressor.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.integers(0, 3, 600)
    >>> c = np.c_[w, (w - 1) ** 2] + 0.1 * rng.normal(size=(600, 2))
    >>> a = (rng.random((600, 40)) < 0.2).astype(float)
    >>> r = mcc_supervised(c, a, w)
    >>> r["exposure_w"] > 0.95, r["exposure"] < 0.2
    (True, True)
    """
    func = "mcc_supervised"
    check_choice(method, "method", func, METHODS)
    true = check_matrix(true, "true", func, min_rows=2)
    exposure = check_matrix(exposure, "exposure", func, min_rows=2, allow_sparse=True)
    arrays = {"true": true, "exposure": exposure}
    codes = None
    if proxy_codes is not None:
        codes = check_codes(proxy_codes, "proxy_codes", func)
        arrays["proxy_codes"] = codes
    n = check_same_rows(func, **arrays)
    n_splits = check_int(n_splits, "n_splits", func, 2, n)
    rng = check_random_state(random_state, func)
    seed = int(rng.integers(0, 2**31 - 1))

    use_svd = exposure.shape[1] > SUPERVISED_SVD_COMPONENTS
    if not use_svd and sparse.issparse(exposure):
        exposure = exposure.toarray()
    onehot = None if codes is None else _onehot_fields(codes)
    folds = list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(true))
    reduced = []
    for train, test in folds:
        if use_svd:
            svd = TruncatedSVD(SUPERVISED_SVD_COMPONENTS, random_state=seed).fit(exposure[train])
            reduced.append((svd.transform(exposure[train]), svd.transform(exposure[test])))
        else:
            reduced.append((exposure[train], exposure[test]))

    def cross_fit(with_w: bool) -> float:
        pred = np.zeros_like(true)
        for (train, test), (x_train, x_test) in zip(folds, reduced, strict=True):
            if with_w:
                x_train, x_test = np.c_[x_train, onehot[train]], np.c_[x_test, onehot[test]]
            for k in range(true.shape[1]):
                model = HistGradientBoostingRegressor(
                    max_iter=SUPERVISED_MAX_ITER,
                    early_stopping=len(train) >= SUPERVISED_EARLY_STOPPING_MIN,
                    validation_fraction=0.1,
                    n_iter_no_change=SUPERVISED_PATIENCE,
                    random_state=seed,
                )
                pred[test, k] = model.fit(x_train, true[train, k]).predict(x_test)
            # Centred within the fold: a fold-to-fold shift of the predictions (a constant fit
            # on each training part is the mean of the other folds) would otherwise correlate
            # with the folds' own means of C and score about sqrt((n_splits - 1) / n_users).
            # A constant block becomes exact zeros (its mean could differ from it by rounding).
            block = pred[test]
            pred[test] = block - np.where(np.ptp(block, axis=0) == 0, block[0], block.mean(axis=0))
        return float(mcc(true, pred, method=method))

    features = (
        f"TruncatedSVD({SUPERVISED_SVD_COMPONENTS}) of the exposure rows"
        if use_svd
        else "the raw exposure rows"
    )
    out: dict[str, float | str] = {}
    # One OpenMP thread: the boosting's histograms are small, and with several threads on cores
    # that other work shares, OpenMP's spin-waiting made a 120-user call take 86 s instead of
    # 1.5 s (same result; at 10,000 x 1,000 one thread is what the timings above measure).
    with threadpool_limits(limits=1, user_api="openmp"):
        if onehot is not None:
            out["exposure_w"] = cross_fit(True)
        out["exposure"] = cross_fit(False)
    with_w = " (+ one-hot W)" if onehot is not None else ""
    out["estimator"] = (
        f"HistGradientBoostingRegressor per dimension on {features}{with_w}, "
        f"{n_splits}-fold cross-fitted"
    )
    return out


def _onehot_fields(codes: np.ndarray) -> np.ndarray:
    """One-hot encoding of every field of ``codes`` (n_users, n_fields), concatenated."""
    blocks = []
    for f in range(codes.shape[1]):
        _, inverse = np.unique(codes[:, f], return_inverse=True)
        inverse = inverse.reshape(-1)
        block = np.zeros((len(inverse), int(inverse.max()) + 1))
        block[np.arange(len(inverse)), inverse] = 1.0
        blocks.append(block)
    return np.hstack(blocks)
