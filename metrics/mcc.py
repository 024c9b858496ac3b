"""Mean correlation coefficient (MCC) between true and learned latents (docs/design.md §5).

The MCC of Khemakhem et al. (2020): the absolute correlation matrix between the true latents
(columns of ``true``) and the learned ones (columns of ``learned``), the one-to-one matching of
columns that maximises the total absolute correlation (Hungarian algorithm,
:func:`scipy.optimize.linear_sum_assignment`), and the mean absolute correlation of the matched
pairs. Rows are users everywhere.

Choices (documented here once, used by every function of the module):

- **Strong MCC** is the above on the latents as given. It is invariant to permutation, sign flip,
  rescaling and shifting of the learned columns (and, for ``method="spearman"``, to any strictly
  monotone map of each column).
- **Weak MCC** first maps the learned latents linearly onto the true ones: an ordinary
  least-squares regression *with intercept* of every true column on all learned columns (not CCA),
  fitted on a random half of the users (``floor(n/2)`` users drawn with ``random_state``) and
  applied to the other half, where the strong MCC between the true latents and the predictions is
  computed. It is invariant to any invertible affine map of the learned latents. The split needs
  more training users than regression coefficients: ``floor(n/2) >= d_learned + 2``.
- **Different dimensions**: ``min(d_true, d_learned)`` pairs are matched and averaged; the surplus
  columns of the larger side are ignored. (Weak MCC matches ``d_true`` pairs, since the linear map
  yields one prediction per true column.)
- **Constant columns** (all values equal up to ``1e-12`` relative to the column's magnitude) have
  correlation 0 with every other column, so they lower the MCC instead of producing NaN. Which
  columns were constant is reported by :func:`mcc_matching`.
- **Spearman** correlation is the Pearson correlation of the column ranks (average ranks for ties).

References
----------
Khemakhem, Kingma, Monti, Hyvärinen (2020). Variational autoencoders and nonlinear ICA: a unifying
framework. AISTATS. (Section 6 and appendix: strong and weak MCC.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from metrics import checks
from metrics._validation import (
    MetricInputError,
    check_choice,
    check_matrix,
    check_random_state,
    check_same_rows,
)

METHODS = ("pearson", "spearman")
#: Relative tolerance under which a column counts as constant.
CONSTANT_RTOL = 1e-12

__all__ = ["MCCMatch", "align_latents", "correlation_matrix", "mcc", "mcc_all", "mcc_matching"]


@dataclass(frozen=True)
class MCCMatch:
    """The matching behind a strong MCC.

    Attributes
    ----------
    score : float
        The MCC: mean of ``matched``.
    method : str
        ``"pearson"`` or ``"spearman"``.
    correlation : ndarray of shape (d_true, d_learned)
        Signed correlation of every (true, learned) column pair (0 where a column is constant).
    row_ind, col_ind : ndarray of shape (n_pairs,)
        Matched pairs: true column ``row_ind[j]`` with learned column ``col_ind[j]``;
        ``n_pairs = min(d_true, d_learned)`` and ``row_ind`` is increasing (it is
        ``arange(d_true)`` when ``d_learned >= d_true``).
    matched : ndarray of shape (n_pairs,)
        Absolute correlation of each matched pair.
    signs : ndarray of shape (n_pairs,)
        Sign of each matched correlation (+1 or -1; +1 where the correlation is 0): multiply the
        learned column by it to orient it like the true one.
    constant_true : ndarray of shape (d_true,), bool
    constant_learned : ndarray of shape (d_learned,), bool
        Columns found constant (their correlations are 0 by convention).
    """

    score: float
    method: str
    correlation: np.ndarray
    row_ind: np.ndarray
    col_ind: np.ndarray
    matched: np.ndarray
    signs: np.ndarray
    constant_true: np.ndarray
    constant_learned: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.row_ind)


def _constant_columns(x: np.ndarray) -> np.ndarray:
    ptp = np.ptp(x, axis=0)
    scale = np.abs(x).max(axis=0)
    return ptp <= CONSTANT_RTOL * scale


def _unit_columns(x: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Centred columns of unit norm (zero for constant columns), and the constant mask."""
    constant = _constant_columns(x)
    if method == "spearman":
        x = rankdata(x, axis=0)
    z = x - x.mean(axis=0)
    norm = np.sqrt((z * z).sum(axis=0))
    ok = ~constant & (norm > 0)
    z[:, ~ok] = 0.0
    z[:, ok] /= norm[ok]
    return z, ~ok


def _correlation(true: np.ndarray, learned: np.ndarray, method: str):
    zt, const_t = _unit_columns(true, method)
    zl, const_l = _unit_columns(learned, method)
    return np.clip(zt.T @ zl, -1.0, 1.0), const_t, const_l


def _match(true: np.ndarray, learned: np.ndarray, method: str) -> MCCMatch:
    corr, const_t, const_l = _correlation(true, learned, method)
    row, col = linear_sum_assignment(np.abs(corr), maximize=True)
    matched_signed = corr[row, col]
    matched = np.abs(matched_signed)
    return MCCMatch(
        score=float(matched.mean()),
        method=method,
        correlation=corr,
        row_ind=row,
        col_ind=col,
        matched=matched,
        signs=np.where(matched_signed < 0, -1.0, 1.0),
        constant_true=const_t,
        constant_learned=const_l,
    )


def _check_pair(true, learned, func: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    check_choice(method, "method", func, METHODS)
    true = check_matrix(true, "true", func, min_rows=2)
    learned = check_matrix(learned, "learned", func, min_rows=2)
    check_same_rows(func, true=true, learned=learned)
    return true, learned


def correlation_matrix(true, learned, *, method: str = "pearson") -> np.ndarray:
    """Signed correlation between every true and every learned column.

    Parameters
    ----------
    true : array-like of shape (n_users, d_true) or (n_users,)
    learned : array-like of shape (n_users, d_learned) or (n_users,)
    method : {"pearson", "spearman"}, default "pearson"

    Returns
    -------
    ndarray of shape (d_true, d_learned)
        Correlations in [-1, 1]; 0 for any pair involving a constant column.
    """
    true, learned = _check_pair(true, learned, "correlation_matrix", method)
    return _correlation(true, learned, method)[0]


def mcc_matching(true, learned, *, method: str = "pearson") -> MCCMatch:
    """Strong MCC together with its matching (for plots: permute, sign-flip, rescale).

    Parameters
    ----------
    true : array-like of shape (n_users, d_true) or (n_users,)
        The true latents.
    learned : array-like of shape (n_users, d_learned) or (n_users,)
        The learned latents (e.g. the posterior mean).
    method : {"pearson", "spearman"}, default "pearson"

    Returns
    -------
    MCCMatch

    Raises
    ------
    MetricInputError
        On a bad ``method``, arrays that are not 1-d/2-d, NaN or infinite values, fewer than two
        users, or a different number of rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = rng.normal(size=(500, 2))
    >>> m = mcc_matching(c, np.c_[-3 * c[:, 1], c[:, 0] + 1])
    >>> round(m.score, 6), m.col_ind.tolist(), m.signs.tolist()
    (1.0, [1, 0], [1.0, -1.0])
    """
    true, learned = _check_pair(true, learned, "mcc_matching", method)
    return _match(true, learned, method)


def _weak_split(true, learned, rng, func: str):
    n, d_learned = learned.shape
    n_train = n // 2
    if n_train < d_learned + 2 or n - n_train < 2:
        raise MetricInputError(
            f"{func}: weak MCC fits a linear map with {d_learned + 1} coefficients on half of the "
            f"users and needs at least {2 * (d_learned + 2)} users; got {n}."
        )
    perm = rng.permutation(n)
    train, test = perm[:n_train], perm[n_train:]
    x_train = np.c_[np.ones(n_train), learned[train]]
    coef, *_ = np.linalg.lstsq(x_train, true[train], rcond=None)
    pred = np.c_[np.ones(len(test)), learned[test]] @ coef
    return true[test], pred


def mcc(
    true,
    learned,
    *,
    method: str = "pearson",
    weak: bool = False,
    random_state: int | np.random.Generator | None = 0,
) -> float:
    """Strong or weak MCC between true and learned latents.

    Parameters
    ----------
    true : array-like of shape (n_users, d_true) or (n_users,)
        The true latents.
    learned : array-like of shape (n_users, d_learned) or (n_users,)
        The learned latents.
    method : {"pearson", "spearman"}, default "pearson"
        Correlation used in the matching.
    weak : bool, default False
        False: strong MCC (Hungarian matching of the latents as given). True: weak MCC (least
        squares map with intercept from ``learned`` to ``true`` fitted on a random half of the
        users, strong MCC of its predictions on the other half); see the module docstring.
    random_state : int, Generator or None, default 0
        Draws the half split of the weak MCC; unused when ``weak=False``.

    Returns
    -------
    float
        In [0, 1]. ``min(d_true, d_learned)`` pairs are averaged (``d_true`` for weak MCC).

    Raises
    ------
    MetricInputError
        See :func:`mcc_matching`; also when the weak split has too few users.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = rng.normal(size=(1000, 2))
    >>> mixed = c @ np.array([[1.0, 0.8], [-0.5, 1.0]]) + 2.0
    >>> round(mcc(c, mixed), 2), round(mcc(c, mixed, weak=True), 2)
    (0.83, 1.0)
    """
    func = "mcc"
    true, learned = _check_pair(true, learned, func, method)
    checks.check_bool(weak, "weak", func, error=MetricInputError)
    if not weak:
        return _match(true, learned, method).score
    rng = check_random_state(random_state, func)
    t, pred = _weak_split(true, learned, rng, func)
    return _match(t, pred, method).score


def mcc_all(
    true, learned, *, random_state: int | np.random.Generator | None = 0
) -> dict[str, float]:
    """Strong and weak MCC, Pearson and Spearman, in one dict.

    The two weak scores share one half split (drawn once from ``random_state``).

    Parameters
    ----------
    true : array-like of shape (n_users, d_true) or (n_users,)
    learned : array-like of shape (n_users, d_learned) or (n_users,)
    random_state : int, Generator or None, default 0

    Returns
    -------
    dict
        ``{"mcc_strong_pearson", "mcc_strong_spearman", "mcc_weak_pearson",
        "mcc_weak_spearman"}``, floats in [0, 1].

    Raises
    ------
    MetricInputError
        See :func:`mcc`; the weak split needs ``floor(n_users / 2) >= d_learned + 2``.
    """
    func = "mcc_all"
    true, learned = _check_pair(true, learned, func, "pearson")
    rng = check_random_state(random_state, func)
    t, pred = _weak_split(true, learned, rng, func)
    return {
        "mcc_strong_pearson": _match(true, learned, "pearson").score,
        "mcc_strong_spearman": _match(true, learned, "spearman").score,
        "mcc_weak_pearson": _match(t, pred, "pearson").score,
        "mcc_weak_spearman": _match(t, pred, "spearman").score,
    }


def align_latents(
    true, learned, *, method: str = "pearson", scale: str = "lstsq", return_match: bool = False
) -> np.ndarray | tuple[np.ndarray, MCCMatch]:
    """Learned latents permuted, sign-flipped and rescaled onto the true ones (for plots).

    Each matched learned column is mapped by its own least-squares scale and offset onto its
    true column (``a * learned[:, col] + b``, fitted on all users; the sign is in ``a``). A
    constant learned column becomes the mean of its true column.

    Parameters
    ----------
    true : array-like of shape (n_users, d_true) or (n_users,)
    learned : array-like of shape (n_users, d_learned) or (n_users,)
    method : {"pearson", "spearman"}, default "pearson"
        Correlation used for the matching.
    scale : {"lstsq", "std"}, default "lstsq"
        ``"lstsq"``: each column's least-squares scale (which shrinks it by the correlation).
        ``"std"``: the matched column, sign-flipped by the sign of its correlation, is rescaled
        to the true column's mean and standard deviation, so a scatter plot keeps the learned
        cloud's shape (what ``ividr plot latent`` draws).
    return_match : bool, default False
        Also return the :class:`MCCMatch`.

    Returns
    -------
    aligned : ndarray of shape (n_users, n_pairs)
        Column ``j`` is aligned onto ``true[:, match.row_ind[j]]``; when
        ``d_learned >= d_true`` that is ``true[:, j]``, so ``aligned`` has the shape of ``true``.
    match : MCCMatch
        Only with ``return_match=True``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = rng.normal(size=(200, 2))
    >>> np.allclose(align_latents(c, np.c_[5 * c[:, 1] - 1, -0.1 * c[:, 0]]), c)
    True
    """
    true, learned = _check_pair(true, learned, "align_latents", method)
    checks.check_choice(scale, "scale", "align_latents", ("lstsq", "std"), error=MetricInputError)
    match = _match(true, learned, method)
    t = true[:, match.row_ind]
    if scale == "std":
        x = learned[:, match.col_ind] * match.signs
        sd_x = x.std(axis=0)
        sd_t = t.std(axis=0)
        ratio = np.divide(sd_t, sd_x, out=np.zeros_like(sd_t), where=sd_x > 0)
        aligned = t.mean(axis=0) + (x - x.mean(axis=0)) * ratio
        return (aligned, match) if return_match else aligned
    x = learned[:, match.col_ind]
    xc = x - x.mean(axis=0)
    tc = t - t.mean(axis=0)
    var = (xc * xc).sum(axis=0)
    safe = var > 0
    scale = np.zeros(x.shape[1])
    scale[safe] = (xc[:, safe] * tc[:, safe]).sum(axis=0) / var[safe]
    scale[match.constant_learned[match.col_ind]] = 0.0
    aligned = t.mean(axis=0) + scale * xc
    return (aligned, match) if return_match else aligned
