"""Summaries of a sweep's results rows, as data (docs/design.md §6): mean and std over seeds per
(model, knob value), the spread split into between-draw and within-draw parts, the datasets'
reference levels (§5), and paired t-tests between models over seeds.

Every function takes results rows (dicts, one per finished run) and the
:class:`~ividr.experiments.grid.SweepConfig`, and returns plain dicts; rendering them is
:mod:`ividr.experiments.reports`' job, plotting them :mod:`ividr.reporting.plots`'. A "model" of
a summary is a (model, variant) label (:func:`ividr.experiments.variants.model_label`: ``idcf``,
``idcf[shuffle]``), in the order of :meth:`SweepConfig.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.variants import row_label
from metrics.spread import variance_split

#: Metrics summarised (one table each), in this order.
SUMMARY_METRICS: tuple[str, ...] = ("mcc", "mcc_weak", "ndcg@5", "recall@5")
#: MCC of the learned prior mean mu_w(W) alone, summarised for the models that report it.
PRIOR_ONLY_METRIC = "mcc_prior_only"
#: Best traced MCC minus the kept checkpoint's, summarised for the models that report it.
REGRET_METRIC = "stopping_regret"
#: Metrics compared between models by paired t-tests over seeds (summary_tests.csv/md).
TEST_METRICS: tuple[str, ...] = ("mcc", "ndcg@5")
#: Fields of a summary entry that split its spread by draw (:func:`metrics.variance_split`).
SPREAD_FIELDS = ("sd_between", "sd_within", "share_between")
#: Reference levels summarised beside the models (§5): results-row column -> label.
REFERENCE_COLUMNS = {
    "ref_oracle": "proxy oracle E[C|W] (strong MCC)",
    "ref_oracle_weak": "proxy oracle E[C|W] (weak MCC)",
    "ref_chance": "chance (mean)",
    "ref_chance_p95": "chance (95th percentile)",
    "ref_proxy_chance": "chance of a random function of W (mean)",
    "ref_proxy_chance_p95": "chance of a random function of W (95th percentile)",
    "ref_r2_exposure": "ridge R^2 of C on the exposures",
    "ref_r2_proxy": "ridge R^2 of C on W",
    "ref_supervised_exposure_w": "supervised ceiling: MCC from the exposures and W",
    "ref_supervised_exposure": "supervised ceiling: MCC from the exposures alone",
}


def draw_of(row: dict[str, Any]) -> Any:
    """The dataset draw of a results row: its data seed (rows written before data seeds
    existed: their seed; runs on existing data: None, one draw)."""
    return row.get("data_seed", row["seed"])


def _run_key(row: dict[str, Any]) -> tuple[Any, int]:
    return (draw_of(row), int(row["seed"]))


def _by_seed(
    rows: list[dict[str, Any]], model: str, key: str, metric: str
) -> dict[tuple[Any, int], float]:
    return {
        _run_key(r): float(r[metric])
        for r in rows
        if row_label(r) == model and format_value(r["value"]) == key and r.get(metric) is not None
    }


def paired_comparison(a: Mapping[Any, float], b: Mapping[Any, float]) -> dict[str, Any]:
    """Pair the runs of two models by seed and compare them: ``a - b`` over the shared seeds.

    ``a`` and ``b`` map a run's seed (any sortable key: a seed, or (data seed, model seed)) to
    its figure; the seeds both have are paired, in sorted order, and
    :func:`metrics.paired_t_test` is applied (two-sided). The one place the reports and the
    benchmarks pair runs for a paired test (:func:`paired_tests`, ``benchmarks/coat_table.py``).

    Returns
    -------
    dict
        ``{"n", "mean_a", "mean_b", "mean_diff", "std_diff", "t", "p", "wins"}``: the number of
        pairs, the means over them, the mean and sample std of ``a - b``, the t statistic and
        p-value, and the pairs where ``a`` is above ``b``. Means None without pairs;
        ``std_diff``, ``t`` and ``p`` None with fewer than 2 pairs.
    """
    from metrics.bootstrap import paired_t_test

    seeds = sorted(set(a) & set(b))
    xa = np.array([a[s] for s in seeds], dtype=np.float64)
    xb = np.array([b[s] for s in seeds], dtype=np.float64)
    out: dict[str, Any] = {
        "n": len(seeds),
        "mean_a": float(xa.mean()) if seeds else None,
        "mean_b": float(xb.mean()) if seeds else None,
        "mean_diff": float((xa - xb).mean()) if seeds else None,
        "std_diff": None,
        "t": None,
        "p": None,
        "wins": int((xa > xb).sum()),
    }
    if len(seeds) >= 2:
        res = paired_t_test(xa, xb)
        out.update(std_diff=res["std_diff"], t=float(res["t"]), p=float(res["p"]))
    return out


def paired_tests(rows: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """Paired t-tests between every two models over seeds, per metric and knob value.

    For each metric of :data:`TEST_METRICS`, each pair ``(a, b)`` of ``config.labels()`` (in that
    order) and each knob value, the runs of ``a`` and ``b`` with the same (data seed, model
    seed) are paired and compared by :func:`paired_comparison` (``a - b``, two-sided).

    Returns
    -------
    list of dict
        ``{"metric", "model_a", "model_b", "value"}`` and the fields of
        :func:`paired_comparison` (``n``, ``mean_diff``, ``t``, ``p``, ...); ``t``/``p`` None
        with fewer than 2 pairs.
    """
    out = []
    models = config.labels()
    for metric in TEST_METRICS:
        for i, a in enumerate(models):
            for b in models[i + 1 :]:
                for value in config.values:
                    key = format_value(value)
                    comparison = paired_comparison(
                        _by_seed(rows, a, key, metric), _by_seed(rows, b, key, metric)
                    )
                    out.append(
                        {"metric": metric, "model_a": a, "model_b": b, "value": value} | comparison
                    )
    return out


def _mean_std(vals: np.ndarray) -> tuple[float | None, float | None]:
    n = len(vals)
    return (
        float(vals.mean()) if n else None,
        float(vals.std(ddof=1)) if n > 1 else (0.0 if n else None),
    )


def summarize_references(rows: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """Mean and std over seeds (datasets) of each reference level, per knob value.

    Each (value, data seed) dataset counts once, whatever the number of runs on it.

    Returns
    -------
    list of dict
        ``{"reference", "value", "mean", "std", "n"}`` for every column of
        :data:`REFERENCE_COLUMNS` and knob value that some run carries; empty without truth.
    """
    out = []
    for ref in REFERENCE_COLUMNS:
        for value in config.values:
            key = format_value(value)
            per_seed: dict[Any, float] = {}
            for r in rows:
                if format_value(r["value"]) == key and r.get(ref) is not None:
                    per_seed.setdefault(draw_of(r), float(r[ref]))
            if not per_seed:
                continue
            mean, std = _mean_std(np.array(list(per_seed.values()), dtype=float))
            out.append(
                {"reference": ref, "value": value, "mean": mean, "std": std, "n": len(per_seed)}
            )
    return out


def summarize(rows: list[dict[str, Any]], config: SweepConfig) -> list[dict[str, Any]]:
    """Mean and std over seeds of each metric, per (model label, knob value).

    The std is the sample standard deviation (ddof=1) when there are two runs or more, else 0.
    Each entry also splits the spread by draw (:func:`metrics.variance_split`): ``sd_between``
    (std of the draw means), ``sd_within`` (pooled std across model seeds on one draw) and
    ``share_between``; None where a part is not defined (a paired sweep has one run per draw).

    Returns
    -------
    list of dict
        ``{"metric", "model", "value", "mean", "std", "n"}`` for every metric of
        :data:`SUMMARY_METRICS`, model and value (``mean``/``std`` None when no run finished),
        then ``"mcc_prior_only"`` (the learned prior mean's MCC) and ``"stopping_regret"``
        (best traced MCC minus the checkpoint's, §4.3) for the models whose runs report them.
    """
    out = []
    labels = config.labels()
    with_prior = [
        m
        for m in labels
        if any(row_label(r) == m and r.get(PRIOR_ONLY_METRIC) is not None for r in rows)
    ]
    with_regret = [
        m
        for m in labels
        if any(row_label(r) == m and r.get(REGRET_METRIC) is not None for r in rows)
    ]
    extra = {PRIOR_ONLY_METRIC: with_prior, REGRET_METRIC: with_regret}
    for metric in (*SUMMARY_METRICS, PRIOR_ONLY_METRIC, REGRET_METRIC):
        for model in extra.get(metric, labels):
            for value in config.values:
                key = format_value(value)
                cell = [
                    r
                    for r in rows
                    if row_label(r) == model
                    and format_value(r["value"]) == key
                    and r.get(metric) is not None
                ]
                vals = np.array([float(r[metric]) for r in cell], dtype=float)
                n = len(vals)
                entry = {
                    "metric": metric,
                    "model": model,
                    "value": value,
                    "mean": float(vals.mean()) if n else None,
                    "std": float(vals.std(ddof=1)) if n > 1 else (0.0 if n else None),
                    "n": n,
                    "sd_between": None,
                    "sd_within": None,
                    "share_between": None,
                }
                if n and np.all(np.isfinite(vals)):
                    groups: dict[Any, list[float]] = {}
                    for r, v in zip(cell, vals, strict=True):
                        groups.setdefault(draw_of(r), []).append(float(v))
                    split = variance_split(groups)
                    entry.update({k: split[k] for k in SPREAD_FIELDS})
                out.append(entry)
    return out
