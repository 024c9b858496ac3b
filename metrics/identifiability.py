"""Identifiability preconditions of iVAE-type models (docs/design.md §4, §5).

The identifiability theorem of Khemakhem et al. (2020, Theorem 1) for a conditionally factorial
exponential-family prior ``p(z | u)`` with sufficient statistics of dimension ``k`` per latent
needs (iv) ``n * k + 1`` distinct values ``u_0, ..., u_{nk}`` of the auxiliary variable such that
the ``nk x nk`` matrix ``L = (lambda(u_1) - lambda(u_0), ..., lambda(u_nk) - lambda(u_0))`` of
natural-parameter differences is invertible. Here the auxiliary variable is the proxy W, the
latent dimension is ``n`` and the prior is Gaussian (``k = 2``: statistics ``z`` and ``z**2``).
Theorem 2 (iv) of the IViDR paper restates the condition.
"""

from __future__ import annotations

import numpy as np

from metrics import checks
from metrics._validation import (
    MetricInputError,
    check_codes,
    check_int,
    check_matrix,
)

__all__ = ["aux_preconditions", "gaussian_natural_parameters", "prior_parameter_matrix_check"]


def aux_preconditions(proxy_codes, latent_dim: int, *, k: int = 2) -> dict[str, int | bool]:
    """Whether W takes at least ``latent_dim * k + 1`` distinct values.

    Parameters
    ----------
    proxy_codes : array-like of shape (n_users, n_fields) or (n_users,)
        Categorical proxy W; with several fields a distinct value is a distinct joint code (row).
    latent_dim : int
        Dimension n of the latent confounder, at least 1.
    k : int, default 2
        Number of sufficient statistics per latent (2 for a Gaussian prior).

    Returns
    -------
    dict
        ``n_distinct`` (distinct W values observed), ``n_required`` (``latent_dim * k + 1``),
        ``ok`` (``n_distinct >= n_required``), ``min_count`` (users of the rarest W value),
        ``latent_dim``, ``k``.

    Examples
    --------
    >>> aux_preconditions([[0, 1], [1, 1], [0, 1], [2, 0]], latent_dim=1)
    {'n_distinct': 3, 'n_required': 3, 'ok': True, 'min_count': 1, 'latent_dim': 1, 'k': 2}
    """
    func = "aux_preconditions"
    codes = check_codes(proxy_codes, "proxy_codes", func)
    latent_dim = check_int(latent_dim, "latent_dim", func, 1)
    k = check_int(k, "k", func, 1)
    _, counts = np.unique(codes, axis=0, return_counts=True)
    required = latent_dim * k + 1
    return {
        "n_distinct": int(len(counts)),
        "n_required": int(required),
        "ok": bool(len(counts) >= required),
        "min_count": int(counts.min()),
        "latent_dim": latent_dim,
        "k": k,
    }


def gaussian_natural_parameters(prior_mean, prior_var) -> np.ndarray:
    """Natural parameters ``(mu / var, -1 / (2 var))`` of a factorised Gaussian, per row.

    Parameters
    ----------
    prior_mean, prior_var : array-like of shape (n_levels, d)
        Mean and (strictly positive) variance of the prior per level of W.

    Returns
    -------
    ndarray of shape (n_levels, 2 * d)
        Columns ``0..d-1`` are ``mu / var``, columns ``d..2d-1`` are ``-1 / (2 var)``.
    """
    func = "gaussian_natural_parameters"
    mean, var = _check_prior(prior_mean, prior_var, func)
    return np.c_[mean / var, -0.5 / var]


def _check_prior(prior_mean, prior_var, func: str) -> tuple[np.ndarray, np.ndarray]:
    mean = check_matrix(prior_mean, "prior_mean", func)
    var = check_matrix(prior_var, "prior_var", func)
    if mean.shape != var.shape:
        raise MetricInputError(
            f"{func}: 'prior_mean' and 'prior_var' must have the same shape (n_levels, d); got "
            f"{mean.shape} and {var.shape}."
        )
    if (var <= 0).any():
        raise MetricInputError(f"{func}: 'prior_var' must be strictly positive everywhere.")
    return mean, var


def prior_parameter_matrix_check(
    prior_mean, prior_var, *, tol: float | None = None
) -> dict[str, object]:
    """Rank and condition number of the matrix L of the learned prior's natural parameters.

    ``lambda(W_l) = (mu_l / var_l, -1 / (2 var_l))`` for each distinct level ``l`` of W (row
    ``l`` of the inputs; row 0 is the reference ``W_0``), and
    ``L = (lambda(W_1) - lambda(W_0), ..., lambda(W_{m-1}) - lambda(W_0))`` of shape
    ``(2d, m - 1)`` for ``m`` levels. The theorem needs ``rank(L) = 2d`` (with exactly
    ``2d + 1`` levels: L invertible); with more levels all differences are used and the rank of
    the ``2d x (m-1)`` matrix is reported. The rank does not depend on which level is the
    reference.

    Parameters
    ----------
    prior_mean, prior_var : array-like of shape (n_levels, d)
        The learned prior mean and variance at each distinct W value (n_levels >= 2).
    tol : float or None, default None
        Singular values at or below ``tol`` count as zero. None: numpy's default of
        :func:`numpy.linalg.matrix_rank`, ``s_max * max(2d, m-1) * eps``.

    Returns
    -------
    dict
        ``rank``, ``n_required`` (``2d``), ``ok`` (``rank == 2d``), ``condition_number``
        (``s_max / s_min`` over the ``min(2d, m-1)`` singular values; ``inf`` when the smallest
        is 0), ``singular_values`` (ndarray, decreasing), ``shape`` (of L), ``n_levels``,
        ``tol`` (the tolerance used).

    Examples
    --------
    >>> mean = np.array([[0.0], [1.0], [0.0]])
    >>> var = np.array([[1.0], [1.0], [2.0]])
    >>> r = prior_parameter_matrix_check(mean, var)
    >>> r["rank"], r["ok"], r["shape"]
    (2, True, (2, 2))
    """
    func = "prior_parameter_matrix_check"
    mean, var = _check_prior(prior_mean, prior_var, func)
    n_levels, d = mean.shape
    if n_levels < 2:
        raise MetricInputError(f"{func}: needs at least 2 levels of W (rows); got {n_levels}.")
    checks.check_float(tol, "tol", func, low=0.0, optional=True, error=MetricInputError)
    lam = np.c_[mean / var, -0.5 / var]
    big_l = (lam[1:] - lam[0]).T  # (2d, n_levels - 1)
    s = np.linalg.svd(big_l, compute_uv=False)
    if tol is None:
        tol = float(s.max(initial=0.0) * max(big_l.shape) * np.finfo(np.float64).eps)
    rank = int((s > tol).sum())
    cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    return {
        "rank": rank,
        "n_required": 2 * d,
        "ok": bool(rank == 2 * d),
        "condition_number": cond,
        "singular_values": s,
        "shape": big_l.shape,
        "n_levels": n_levels,
        "tol": float(tol),
    }
