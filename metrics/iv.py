"""Instrument diagnostics: first-stage strength (docs/design.md §4.1).

In IV4R-MF and IViDR the treatment (a user's exposure, or a representation of it) is regressed on
the instrument Z in a first stage. An instrument that explains little of the treatment is weak and
the second stage is then biased towards the confounded estimate; the usual rule of thumb (Staiger
and Stock, 1997) flags a first-stage F statistic below 10.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse, stats

from metrics import checks
from metrics._validation import MetricInputError, check_matrix, check_same_rows

__all__ = ["WEAK_INSTRUMENT_F", "first_stage_strength"]

#: Rule-of-thumb threshold of the first-stage F statistic below which an instrument is weak.
WEAK_INSTRUMENT_F = 10.0


def _column_basis(x: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of x, of shape (n, rank(x))."""
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    tol = s.max(initial=0.0) * max(x.shape) * np.finfo(np.float64).eps
    return u[:, s > tol]


def _rss(q: np.ndarray, y: np.ndarray) -> np.ndarray:
    resid = y - q @ (q.T @ y)
    return (resid * resid).sum(axis=0)


def first_stage_strength(
    treatment, instrument, *, covariates=None, threshold: float = WEAK_INSTRUMENT_F
) -> dict[str, object]:
    """Partial R^2 and F statistic of the first-stage regression of treatment on instrument.

    For each treatment column ``t_j``, two least-squares fits with intercept are compared:
    restricted ``t_j ~ 1 + covariates`` and unrestricted ``t_j ~ 1 + covariates + instrument``.
    With residual sums of squares ``RSS_r`` and ``RSS_u``,
    ``F_j = ((RSS_r - RSS_u) / q) / (RSS_u / (n - p))`` where ``q`` is the number of instrument
    columns that add to the rank of the design and ``p`` the rank of the unrestricted design
    (intercept included), and the partial R^2 is ``(RSS_r - RSS_u) / RSS_r``. A full one-hot
    instrument (collinear with the intercept) is therefore handled: ``q`` is the number of levels
    minus one.

    A multi-column treatment is summarised by its *weakest* column: ``f_stat`` and
    ``partial_r2`` are the minima over the columns (the per-column values are returned too).
    This is a per-column screen, not the joint Sanderson-Windmeijer F.

    Parameters
    ----------
    treatment : array-like or scipy sparse matrix of shape (n_users, n_treatments) or (n_users,)
        The treatment (densified internally).
    instrument : array-like of shape (n_users, n_instrument_columns) or (n_users,)
        Numeric instrument columns, or a one-hot encoding of a categorical instrument
        (e.g. ``RecDataset.instrument_onehot()``); do not pass raw category codes.
    covariates : array-like of shape (n_users, n_covariates), optional
        Exogenous controls included in both fits.
    threshold : float, default 10.0
        F below this flags a weak instrument.

    Returns
    -------
    dict
        ``f_stat`` (min F over the usable columns), ``partial_r2`` (min partial R^2),
        ``p_value`` (of the F test for the column with the smallest F), ``f_median``,
        ``weak_instrument`` (``f_stat < threshold``), ``n_weak_columns``, ``threshold``,
        ``df_num`` (q), ``df_den`` (n - p), ``n_users``, ``f_per_column`` and
        ``partial_r2_per_column`` (ndarrays of shape (n_treatments,)), ``n_skipped_columns``.
        A treatment column with ``RSS_r = 0`` (constant, or exactly explained by the
        covariates) has no defined F: it is skipped, counted in ``n_skipped_columns`` and holds
        NaN in the per-column arrays. ``RSS_u <= 1e-12 RSS_r`` (the instrument explains the
        column exactly, up to rounding) gives ``F = inf``.

    Raises
    ------
    MetricInputError
        On mismatched rows, NaN, an instrument that adds nothing to the covariates' column
        space (q = 0), too few users (n - p < 1), or no usable treatment column.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=500)
    >>> t = 0.5 * z + rng.normal(size=500)
    >>> r = first_stage_strength(t, z)
    >>> r["df_num"], r["df_den"], r["f_stat"] > 10, r["weak_instrument"]
    (1, 498, True, False)
    """
    func = "first_stage_strength"
    if sparse.issparse(treatment):
        treatment = check_matrix(treatment, "treatment", func, allow_sparse=True).toarray()
    y = check_matrix(treatment, "treatment", func)
    z = check_matrix(instrument, "instrument", func)
    arrays = {"treatment": y, "instrument": z}
    n = y.shape[0]
    if covariates is not None:
        w = check_matrix(covariates, "covariates", func)
        arrays["covariates"] = w
    else:
        w = np.zeros((n, 0))
    n = check_same_rows(func, **arrays)
    checks.check_float(threshold, "threshold", func, low=0.0, low_open=True, error=MetricInputError)

    q_r = _column_basis(np.c_[np.ones(n), w])
    q_u = _column_basis(np.c_[np.ones(n), w, z])
    df_num = q_u.shape[1] - q_r.shape[1]
    df_den = n - q_u.shape[1]
    if df_num < 1:
        raise MetricInputError(
            f"{func}: the instrument adds nothing to the span of the intercept and covariates "
            "(it is constant or collinear with them)."
        )
    if df_den < 1:
        raise MetricInputError(
            f"{func}: {n} users are too few for {q_u.shape[1]} first-stage coefficients."
        )

    rss_r = _rss(q_r, y)
    rss_u = np.minimum(_rss(q_u, y), rss_r)
    scale = (y * y).sum(axis=0)
    usable = rss_r > 1e-12 * np.maximum(scale, 1e-300)
    if not usable.any():
        raise MetricInputError(
            f"{func}: every treatment column is constant (or exactly explained by the "
            "covariates); the F statistic is undefined."
        )
    f = np.full(y.shape[1], np.nan)
    pr2 = np.full(y.shape[1], np.nan)
    gain = rss_r[usable] - rss_u[usable]
    exact = rss_u[usable] <= 1e-12 * rss_r[usable]  # explained up to rounding: F = inf
    with np.errstate(divide="ignore", invalid="ignore"):
        f[usable] = np.where(exact, np.inf, (gain / df_num) / (rss_u[usable] / df_den))
    pr2[usable] = gain / rss_r[usable]
    j = int(np.nanargmin(f))
    f_min = float(f[j])
    return {
        "f_stat": f_min,
        "partial_r2": float(np.nanmin(pr2)),
        "p_value": float(stats.f.sf(f_min, df_num, df_den)),
        "f_median": float(np.nanmedian(f)),
        "weak_instrument": bool(f_min < threshold),
        "n_weak_columns": int((f[usable] < threshold).sum()),
        "threshold": float(threshold),
        "df_num": int(df_num),
        "df_den": int(df_den),
        "n_users": int(n),
        "f_per_column": f,
        "partial_r2_per_column": pr2,
        "n_skipped_columns": int((~usable).sum()),
    }
