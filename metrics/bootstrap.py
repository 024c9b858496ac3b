"""Uncertainty of a metric: bootstrap over users and the paired t-test (docs/design.md §5, §6)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse, stats

from metrics import checks
from metrics._validation import (
    MetricInputError,
    check_int,
    check_random_state,
    check_same_rows,
)

__all__ = ["bootstrap_ci", "paired_t_test"]


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap confidence interval of a statistic, resampling users.

    Each replicate draws ``n_users`` row indices with replacement (one draw shared by all
    arrays, so rows stay paired) and evaluates ``statistic`` on the resampled arrays. The
    interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the replicates
    (percentile method, no bias correction).

    Parameters
    ----------
    statistic : callable
        ``statistic(*arrays) -> float``, e.g. ``lambda c, z: mcc(c, z)``.
    *arrays : array-like or scipy sparse matrix, each of shape (n_users, ...)
        At least one; rows are users. Arrays are indexed by rows, not copied otherwise.
    n_boot : int, default 1000
        Number of replicates, at least 2.
    level : float, default 0.95
        Confidence level, in (0, 1).
    random_state : int, Generator or None, default 0

    Returns
    -------
    low, high : float
        Interval bounds.
    estimate : float
        ``statistic`` on the original arrays.

    Raises
    ------
    MetricInputError
        On bad parameters, arrays with different numbers of rows, fewer than 2 users, or a
        statistic that returns a non-finite value (on the data or on any replicate; the message
        counts them).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=200)
    >>> low, high, est = bootstrap_ci(np.mean, x, n_boot=500)
    >>> bool(low < est < high), round(high - low, 1)
    (True, 0.3)
    """
    func = "bootstrap_ci"
    if not callable(statistic):
        raise MetricInputError(
            f"The 'statistic' parameter of {func} must be callable. Got {statistic!r} instead."
        )
    if not arrays:
        raise MetricInputError(f"{func}: pass at least one array after the statistic.")
    n_boot = check_int(n_boot, "n_boot", func, 2)
    open_unit = dict(low=0.0, high=1.0, low_open=True, high_open=True)
    checks.check_float(level, "level", func, **open_unit, error=MetricInputError)
    data = [a if sparse.issparse(a) else np.asarray(a) for a in arrays]
    for i, a in enumerate(data):
        if a.ndim == 0:
            raise MetricInputError(f"{func}: array {i} is a scalar; arrays need one row per user.")
    n = check_same_rows(func, **{f"array {i}": a for i, a in enumerate(data)})
    if n < 2:
        raise MetricInputError(f"{func}: needs at least 2 users (rows); got {n}.")
    if any(sparse.issparse(a) for a in data):
        data = [sparse.csr_matrix(a) if sparse.issparse(a) else a for a in data]
    rng = check_random_state(random_state, func)

    estimate = float(statistic(*data))
    if not np.isfinite(estimate):
        raise MetricInputError(f"{func}: the statistic is not finite on the data ({estimate}).")
    reps = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        reps[b] = statistic(*(a[idx] for a in data))
    bad = ~np.isfinite(reps)
    if bad.any():
        raise MetricInputError(
            f"{func}: the statistic was not finite on {int(bad.sum())} of {n_boot} bootstrap "
            "replicates (e.g. a resample with a constant column)."
        )
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(low), float(high), estimate


def paired_t_test(a, b) -> dict[str, float | int]:
    """Paired t-test of ``a`` against ``b`` (e.g. two models' MCC over the same seeds).

    Parameters
    ----------
    a, b : array-like of shape (n,)
        Paired measurements (n >= 2), no NaN.

    Returns
    -------
    dict
        ``t`` and ``p`` (two-sided, :func:`scipy.stats.ttest_rel`), ``mean_diff``
        (``mean(a - b)``), ``std_diff`` (sample std of ``a - b``), ``n``. When every difference
        is the same, the t statistic is undefined in scipy (NaN); here it is then ``t = 0,
        p = 1`` if the differences are all zero and ``t = +/-inf, p = 0`` otherwise.

    Examples
    --------
    >>> r = paired_t_test([0.84, 0.78, 0.77, 0.69, 0.63], [0.82, 0.70, 0.65, 0.54, 0.43])
    >>> round(r["mean_diff"], 3), r["p"] < 0.05
    (0.114, True)
    """
    func = "paired_t_test"
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise MetricInputError(
            f"{func}: 'a' and 'b' must be 1-d arrays of the same length; got shapes "
            f"{a.shape} and {b.shape}."
        )
    if len(a) < 2:
        raise MetricInputError(f"{func}: needs at least 2 pairs; got {len(a)}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise MetricInputError(f"{func}: 'a' and 'b' must not contain NaN or infinite values.")
    diff = a - b
    mean_diff = float(diff.mean())
    std_diff = float(diff.std(ddof=1))
    if np.ptp(diff) == 0:
        if mean_diff == 0:
            t, p = 0.0, 1.0
        else:
            t, p = float(np.copysign(np.inf, mean_diff)), 0.0
    else:
        res = stats.ttest_rel(a, b)
        t, p = float(res.statistic), float(res.pvalue)
    return {"t": t, "p": p, "mean_diff": mean_diff, "std_diff": std_diff, "n": int(len(a))}
