"""The rating function f_n of docs/design.md §2: scores y to ratings 1-5 through the 5% and 95%
quantiles.

r = clip(ceil(5 (y - q05) / (q95 - q05)), 1, 5), computed in slices over whole matrices so that
no full-size temporary is made; :func:`quantiles` gives numpy's linear quantiles by order
statistics. Used by :mod:`simulator.generate`.
"""

from __future__ import annotations

import numpy as np

#: Elements per slice in whole-matrix passes (quantiles, ratings), to avoid big temporaries.
_SLICE = 1 << 20


def ratings_from_scores(y: np.ndarray, q05: float, q95: float) -> np.ndarray:
    """f_n of Appendix F: clip(ceil(5 (y - q05) / (q95 - q05)), 1, 5), as int8.

    y is taken in float64; when q95 <= q05 (a degenerate, noiseless process) the scale is 1.

    Parameters
    ----------
    y : ndarray of any shape
    q05, q95 : float

    Returns
    -------
    ndarray of the shape of y, int8 in 1..5
    """
    scale = float(q95) - float(q05)
    if not scale > 0:
        scale = 1.0
    r = np.ceil(5.0 * (np.asarray(y, dtype=np.float64) - float(q05)) / scale)
    return np.clip(r, 1, 5).astype(np.int8)


def rating_thresholds(q05: float, q95: float) -> np.ndarray:
    """Float32 cut points t_1..t_4 with f_n(y) = 1 + #{k : y >= t_k} for every float32 y.

    Each t_k is the smallest float32 whose f_n (computed in float64 by
    :func:`ratings_from_scores`) exceeds k, found by stepping through neighbouring float32
    values, so counting cut points reproduces f_n exactly while touching each cell only with
    cheap float32 comparisons.
    """

    def f(v: np.float32) -> int:
        return int(ratings_from_scores(np.array([v], dtype=np.float32), q05, q95)[0])

    scale = float(q95) - float(q05)
    if not scale > 0:
        scale = 1.0
    cuts = []
    for k in range(1, 5):
        v = np.float32(float(q05) + k * scale / 5.0)
        while f(v) > k and np.isfinite(v):
            v = np.nextafter(v, np.float32(-np.inf))
        while f(v) <= k and np.isfinite(v):
            v = np.nextafter(v, np.float32(np.inf))
        cuts.append(v)
    return np.array(cuts, dtype=np.float32)


def _ratings32(y: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """f_n of float32 scores by counting the cut points of :func:`rating_thresholds`."""
    flat = np.ascontiguousarray(y).ravel()
    r = np.ones(flat.shape, dtype=np.int8)
    hit = np.empty(min(flat.size, _SLICE), dtype=bool)
    for i0 in range(0, flat.size, _SLICE):  # in slices: no full-size temporaries
        ys, rs = flat[i0 : i0 + _SLICE], r[i0 : i0 + _SLICE]
        h = hit[: ys.size]
        for t in cuts:
            np.greater_equal(ys, t, out=h)
            np.add(rs, h, out=rs, casting="unsafe")
    return r.reshape(np.shape(y))


def quantiles(values: np.ndarray, qs: tuple[float, ...] = (0.05, 0.95)) -> tuple[float, ...]:
    """Linear-interpolation quantiles (numpy's default method) of a 1-d array, in float64.

    Exact, but without sorting or partitioning the whole array: the order statistics needed are
    first bracketed from a strided subsample, then selected among the few values inside the
    bracket (a full partition is the fallback when a bracket misses, which keeps it exact).

    Parameters
    ----------
    values : ndarray of shape (N,)
    qs : tuple of float in [0, 1]

    Returns
    -------
    tuple of float
    """
    x = np.asarray(values).ravel()
    n = x.size
    out = []
    for q in qs:
        h = (n - 1) * q
        k = int(np.floor(h))
        k1 = min(k + 1, n - 1)
        lo_v, hi_v = _order_stat_pair(x, k, k1)
        t = h - k
        a, b = float(lo_v), float(hi_v)
        out.append(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)
    return tuple(out)


def _order_stat_pair(x: np.ndarray, k: int, k1: int) -> tuple[float, float]:
    """The k-th and k1-th smallest values of x (k <= k1 <= k + 1)."""
    n = x.size
    s = 200_000
    if n > 4 * s:
        # A well-spread subsample (multiplicative hashing; a plain stride could align with the
        # rows of the matrix and see only a few items).
        sample = np.sort(x[(np.arange(s, dtype=np.int64) * 2_654_435_761) % n])
        i = int(k / n * s)
        margin = int(10 * np.sqrt(s * 0.25)) + 16
        lo = sample[i - margin] if i - margin >= 0 else -np.inf
        hi = sample[i + margin] if i + margin < s else np.inf
        below, pieces = 0, []
        for i0 in range(0, n, _SLICE):  # in slices: no full-size temporaries
            xs = x[i0 : i0 + _SLICE]
            below += int(np.count_nonzero(xs < lo))
            pieces.append(xs[(xs >= lo) & (xs <= hi)])
        band = np.concatenate(pieces)
        if below <= k and k1 < below + band.size:
            part = np.partition(band, [k - below, k1 - below])
            return part[k - below], part[k1 - below]
    part = np.partition(x, [k, k1])
    return part[k], part[k1]
