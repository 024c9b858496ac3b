"""Where a figure's spread comes from: the dataset draw or the model's own seed (docs/design.md §6).

A sweep with data seeds s (the simulator's draw) crossed with model seeds t (initialisation and
split) gives one value x[s, t] per run. The one-way random-effects decomposition splits its
spread into a between-draw part (how much the draw moves the figure) and a within-draw part
(how much refitting the same draw moves it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from metrics._validation import MetricInputError

__all__ = ["variance_split"]


def variance_split(groups: Mapping[object, Sequence[float]]) -> dict[str, float | int | None]:
    """Between-draw and within-draw spread of a figure, from its values grouped by draw.

    Parameters
    ----------
    groups : mapping of draw -> sequence of float
        The values of the runs on each draw (one per model seed). Draws may hold different
        numbers of runs; NaNs are not allowed.

    Returns
    -------
    dict
        - ``n_draws``, ``n_runs``;
        - ``sd_within``: pooled standard deviation across model seeds within a draw, the square
          root of the mean of the draws' sample variances (ddof=1) over the draws with >= 2
          runs; None when no draw has two;
        - ``sd_between``: standard deviation (ddof=1) of the draw means; None with one draw;
        - ``share_between``: the between-draw share of the variance of one run,
          ``v_b / (v_b + v_w)`` with ``v_b = max(0, var(draw means) - v_w / m)`` (the method of
          moments estimate, m the mean number of runs per draw) and ``v_w = sd_within^2``; None
          unless both parts are defined, 0.0 when both are zero.

    Raises
    ------
    MetricInputError
        An empty mapping, an empty group or a non-finite value.
    """
    if not groups:
        raise MetricInputError("The 'groups' parameter must hold at least one draw. Got none.")
    arrays = []
    for draw, values in groups.items():
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size == 0:
            raise MetricInputError(f"The 'groups' entry of draw {draw!r} holds no value.")
        if not np.all(np.isfinite(arr)):
            raise MetricInputError(f"The 'groups' entry of draw {draw!r} holds a non-finite value.")
        arrays.append(arr)
    within = [a.var(ddof=1) for a in arrays if a.size >= 2]
    v_w = float(np.mean(within)) if within else None
    means = np.array([a.mean() for a in arrays])
    v_means = float(means.var(ddof=1)) if len(means) >= 2 else None
    share = None
    if v_w is not None and v_means is not None:
        m = float(np.mean([a.size for a in arrays]))
        v_b = max(0.0, v_means - v_w / m)
        share = v_b / (v_b + v_w) if v_b + v_w > 0 else 0.0
    return {
        "n_draws": len(arrays),
        "n_runs": int(sum(a.size for a in arrays)),
        "sd_within": None if v_w is None else float(np.sqrt(v_w)),
        "sd_between": None if v_means is None else float(np.sqrt(v_means)),
        "share_between": share,
    }
