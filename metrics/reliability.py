"""How much of an estimate's departure from its prior is a trait of the user, not noise.

A posterior mean ``z_u`` moves away from the prior mean ``m_u`` by what the user's data say. When
the data carry nothing on the latent, that departure is noise of the row, and scoring ``z``
instead of ``m`` loses what the prior knew (issue 20). The classical test-theory remedy
(Kelley's regressed estimate; Lord & Novick, 1968, §3.7) splits each user's data into two halves,
measures the correlation of the two half estimates' departures across users (their split-half
reliability), steps it up to the full length (Spearman-Brown) and shrinks the full estimate's
departure by it: ``m + r (z - m)``. A departure that replicates across halves is kept (r near 1);
one that does not is removed (r near 0). Everything here is computed from the data the model
saw, never from the true confounder.
"""

from __future__ import annotations

import numpy as np

from metrics._validation import MetricInputError, check_matrix

__all__ = ["kelley_shrink", "spearman_brown", "split_half_reliability"]


def split_half_reliability(
    first: np.ndarray, second: np.ndarray, center: np.ndarray
) -> dict[str, list[float]]:
    """Per-dimension reliability of the departures ``first - center`` and ``second - center``.

    Parameters
    ----------
    first, second : array-like of shape (n_users, d)
        The estimate computed from each half of every user's data (the same split for all).
    center : array-like of shape (n_users, d)
        What the departures are measured from (the prior mean of each user).

    Returns
    -------
    dict
        ``half_correlation``: Pearson correlation over users of the two halves' departures, per
        dimension (0.0 where either departure is constant); ``reliability``: its step-up to the
        full length, :func:`spearman_brown`, clipped to [0, 1].

    Raises
    ------
    MetricInputError
        Arrays of different shapes, fewer than 3 users, or non-finite values.
    """
    func = "split_half_reliability"
    a = check_matrix(first, "first", func, min_rows=3)
    b = check_matrix(second, "second", func, min_rows=3)
    c = check_matrix(center, "center", func, min_rows=3)
    if not a.shape == b.shape == c.shape:
        raise MetricInputError(
            f"{func}: 'first', 'second' and 'center' must have the same shape; got {a.shape}, "
            f"{b.shape} and {c.shape}."
        )
    da, db = a - c, b - c
    da -= da.mean(axis=0)
    db -= db.mean(axis=0)
    norm = np.sqrt((da**2).sum(axis=0) * (db**2).sum(axis=0))
    corr = np.divide((da * db).sum(axis=0), norm, out=np.zeros(a.shape[1]), where=norm > 0)
    corr = np.clip(corr, -1.0, 1.0)
    return {
        "half_correlation": [float(v) for v in corr],
        "reliability": [float(v) for v in spearman_brown(corr)],
    }


def spearman_brown(half_correlation: np.ndarray) -> np.ndarray:
    """The reliability of the full length from the correlation of two halves, in [0, 1].

    ``2 r / (1 + r)`` (Spearman-Brown with a doubled length); a correlation at or below 0 (halves
    that share nothing) gives 0.
    """
    r = np.clip(np.asarray(half_correlation, dtype=float), 0.0, 1.0)
    return 2.0 * r / (1.0 + r)


def kelley_shrink(center: np.ndarray, estimate: np.ndarray, reliability) -> np.ndarray:
    """``center + reliability * (estimate - center)``, per dimension (Kelley's formula).

    Parameters
    ----------
    center, estimate : array-like of shape (n_users, d)
        The prior mean and the posterior mean of every user.
    reliability : array-like of shape (d,)
        Each dimension's reliability in [0, 1] (:func:`split_half_reliability`).
    """
    func = "kelley_shrink"
    c = check_matrix(center, "center", func)
    z = check_matrix(estimate, "estimate", func)
    r = np.asarray(reliability, dtype=float).ravel()
    if c.shape != z.shape or r.shape != (z.shape[1],):
        raise MetricInputError(
            f"{func}: 'center' and 'estimate' must have the same shape (n_users, d) and "
            f"'reliability' d values; got {c.shape}, {z.shape} and {r.shape}."
        )
    if not np.all((r >= 0.0) & (r <= 1.0)):
        raise MetricInputError(f"{func}: 'reliability' must lie in [0, 1]; got {r.tolist()}.")
    return c + r * (z - c)
