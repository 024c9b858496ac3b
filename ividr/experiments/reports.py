"""Renderers of a sweep's summaries: CSV and Markdown tables (docs/design.md §6).

Each function takes the data of :mod:`ividr.experiments.summaries` (and the
:class:`~ividr.experiments.grid.SweepConfig`) and returns text; the results store writes it.
To change how a summary looks, change it here.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ividr.experiments.grid import SweepConfig, format_value
from ividr.experiments.summaries import (
    PRIOR_ONLY_METRIC,
    REFERENCE_COLUMNS,
    REGRET_METRIC,
    SPREAD_FIELDS,
    SUMMARY_METRICS,
    TEST_METRICS,
)

#: Titles of the summary tables, by metric.
METRIC_TITLES = {
    "mcc": "MCC (strong, Pearson)",
    "mcc_weak": "MCC (weak: linear map fitted on half the users)",
    "ndcg@5": "NDCG@5 (unbiased test set)",
    "recall@5": "Recall@5 (unbiased test set)",
    REGRET_METRIC: "Stopping regret: best traced MCC minus the MCC of the kept checkpoint",
    PRIOR_ONLY_METRIC: "MCC of the learned prior mean mu_w(W) alone (no encoder)",
}
#: Extra columns of summary.csv: the reference levels at the row's knob value (mean over seeds)
#: for the MCC rows (weak oracle on mcc_weak rows; chance only for strong MCC); blank elsewhere.
SUMMARY_REFERENCE_COLUMNS = (
    "proxy_oracle",
    "chance_mean",
    "chance_p95",
    "supervised_exposure_w",
    "supervised_exposure",
)


#: What a table cell shows where there is no figure.
MISSING = "–"


def format_cell(
    mean: float | None,
    std: float | None = None,
    *,
    digits: int = 4,
    n: int | None = None,
    runs: int | None = None,
    bounds: tuple[float, float] | None = None,
    bounds_digits: int | None = None,
    low: float | None = None,
) -> str:
    """The one "mean ± std" table cell of the reports and benchmarks.

    ``mean ± std`` with ``digits`` decimals (``mean`` alone when ``std`` is None); then
    `` [min, max]`` for ``bounds`` (``bounds_digits`` decimals, default ``digits``), `` (low)``
    for ``low`` (the worst run), and `` (n=k)`` for ``n`` runs when ``runs`` is None or
    ``n < runs`` (fewer runs than planned). :data:`MISSING` ("–") when ``mean`` is None.

    >>> format_cell(0.84051, 0.0071, n=4, runs=5)
    '0.8405 ± 0.0071 (n=4)'
    >>> format_cell(0.8, 0.01, digits=3, low=0.78)
    '0.800 ± 0.010 (0.780)'
    """
    if mean is None:
        return MISSING
    text = f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"
    if bounds is not None:
        bd = digits if bounds_digits is None else bounds_digits
        text += f" [{bounds[0]:.{bd}f}, {bounds[1]:.{bd}f}]"
    if low is not None:
        text += f" ({low:.{digits}f})"
    if n is not None and (runs is None or n < runs):
        text += f" (n={n})"
    return text


def format_values(
    values: Sequence[float],
    *,
    digits: int = 4,
    runs: int | None = None,
    count: bool = False,
    lone: bool = False,
    bounds: bool = False,
    bounds_digits: int | None = None,
    low: bool = False,
) -> str:
    """:func:`format_cell` of the mean and sample std (ddof=1) of ``values``.

    The std of a single value is 0, or with ``lone`` the value is shown alone as ``x (n=1)``.
    `` (n=k)`` follows when there are fewer than ``runs`` values, or always with ``count``;
    ``bounds`` adds ``[min, max]`` and ``low`` the minimum in parentheses. :data:`MISSING` for
    no values.
    """
    if len(values) == 0:
        return MISSING
    arr = np.asarray(values, dtype=np.float64)
    if lone and len(arr) == 1:
        return format_cell(float(arr[0]), digits=digits, n=1)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return format_cell(
        float(arr.mean()),
        std,
        digits=digits,
        n=len(arr) if count or runs is not None else None,
        runs=None if count else runs,
        bounds=(float(arr.min()), float(arr.max())) if bounds else None,
        bounds_digits=bounds_digits,
        low=float(arr.min()) if low else None,
    )


def csv_cell(value: Any) -> Any:
    """A CSV cell: blank for None, the exact repr of a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def results_csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """results.csv: one line per results row, ``columns`` in order."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = {k: csv_cell(row.get(k)) for k in columns}
        cells["value"] = format_value(row["value"])
        writer.writerow(cells)
    return buf.getvalue()


def summary_csv(
    summary: list[dict[str, Any]], references: list[dict[str, Any]], config: SweepConfig
) -> str:
    """summary.csv: one line per summary entry, with the reference levels of its knob value."""
    ref_at = {(e["reference"], format_value(e["value"])): e["mean"] for e in references}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["metric", "model", config.knob, "mean", "std", "n"]
        + list(SUMMARY_REFERENCE_COLUMNS)
        + list(SPREAD_FIELDS)
    )
    for entry in summary:
        key = format_value(entry["value"])
        oracle = "ref_oracle_weak" if entry["metric"] == "mcc_weak" else "ref_oracle"
        chance = entry["metric"] in ("mcc", "mcc_prior_only")
        is_mcc = entry["metric"] in ("mcc", "mcc_weak", "mcc_prior_only")
        writer.writerow(
            [
                entry["metric"],
                entry["model"],
                key,
                csv_cell(entry["mean"]),
                csv_cell(entry["std"]),
                entry["n"],
                csv_cell(ref_at.get((oracle, key)) if is_mcc else None),
                csv_cell(ref_at.get(("ref_chance", key)) if chance else None),
                csv_cell(ref_at.get(("ref_chance_p95", key)) if chance else None),
                csv_cell(ref_at.get(("ref_supervised_exposure_w", key)) if chance else None),
                csv_cell(ref_at.get(("ref_supervised_exposure", key)) if chance else None),
                *(csv_cell(entry[k]) for k in SPREAD_FIELDS),
            ]
        )
    return buf.getvalue()


def format_p(p: float | None) -> str:
    """A p-value as Table 3 of the paper reports them: two significant digits (``3.1e-04``)."""
    if p is None or not math.isfinite(p):
        return "–"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def paired_tests_csv(tests: list[dict[str, Any]], config: SweepConfig) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric", "model_a", "model_b", config.knob, "mean_diff", "t", "p", "n"])
    for e in tests:
        writer.writerow(
            [
                e["metric"],
                e["model_a"],
                e["model_b"],
                format_value(e["value"]),
                csv_cell(e["mean_diff"]),
                csv_cell(e["t"]),
                csv_cell(e["p"]),
                e["n"],
            ]
        )
    return buf.getvalue()


#: The statistics columns of a long paired-test table (:func:`paired_tests_table`): header ->
#: the cell of a comparison (:func:`ividr.experiments.summaries.paired_comparison`).
PAIRED_STAT_COLUMNS: dict[str, Callable[[dict[str, Any]], str]] = {
    "n": lambda t: str(t["n"]),
    "mean a": lambda t: _figure(t["mean_a"], ".4f"),
    "mean b": lambda t: _figure(t["mean_b"], ".4f"),
    "mean diff": lambda t: _figure(t["mean_diff"], "+.4f"),
    "std diff": lambda t: _figure(t["std_diff"], ".4f"),
    "t": lambda t: _figure(t["t"], ".2f"),
    "p": lambda t: _figure(t["p"], ".3g"),
    "a wins": lambda t: f"{t['wins']}/{t['n']}",
}


def _figure(value: float | None, spec: str) -> str:
    return MISSING if value is None else format(value, spec)


def paired_cell(test: dict[str, Any] | None) -> str:
    """One comparison in one cell: ``mean difference (p = ..., n=k)``; "–" without pairs."""
    if test is None or test["mean_diff"] is None:
        return MISSING
    return f"{test['mean_diff']:+.4f} (p = {format_p(test['p'])}, n={test['n']})"


def paired_tests_table(
    tests: Sequence[dict[str, Any]],
    labels: Mapping[str, Callable[[dict[str, Any]], str]],
    columns: Mapping[str, Callable[[dict[str, Any]], bool]] | None = None,
) -> list[str]:
    """The one Markdown table of paired comparisons (runs paired by seed), as lines.

    ``tests`` are comparisons of :func:`ividr.experiments.summaries.paired_comparison` with the
    fields that name them. ``labels`` are the leading columns that name a row: header -> its
    text for a comparison. ``columns`` chooses the shape:

    - None (long): one row per comparison, the labels then :data:`PAIRED_STAT_COLUMNS` (n,
      means, mean and std of the difference, t, p, wins) -- ``benchmarks/coat_table.py``;
    - header -> predicate (wide): one row per distinct label text, in order of first
      appearance, and one column per header whose cell is the row's comparison that the
      predicate selects, as :func:`paired_cell` -- the sweep's summary_tests.md, a column per
      knob value.
    """
    if columns is None:
        header = [*labels, *PAIRED_STAT_COLUMNS]
        body = [
            [f(t) for f in labels.values()] + [f(t) for f in PAIRED_STAT_COLUMNS.values()]
            for t in tests
        ]
    else:
        header = [*labels, *columns]
        names = {tuple(f(t) for f in labels.values()): None for t in tests}
        body = []
        for name in names:
            mine = [t for t in tests if tuple(f(t) for f in labels.values()) == name]
            cells = [
                paired_cell(next((t for t in mine if pick(t)), None)) for pick in columns.values()
            ]
            body.append([*name, *cells])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def _at_value(value: Any) -> Callable[[dict[str, Any]], bool]:
    """Whether a comparison is at knob value ``value`` (compared as formatted)."""
    key = format_value(value)
    return lambda e: format_value(e["value"]) == key


def paired_tests_markdown(tests: list[dict[str, Any]], config: SweepConfig) -> str:
    """Markdown: per metric, one row per model pair, ``mean difference (p = ...)`` per value."""
    lines = [
        f"# Paired t-tests between models over seeds ({config.knob})",
        "",
        "Each cell: mean over seeds of (model A - model B) and the two-sided paired t-test "
        "p-value (runs paired by seed; `n` pairs); `–` with fewer than 2 pairs.",
    ]
    columns = {f"{config.knob}={format_value(v)}": _at_value(v) for v in config.values}
    for metric in TEST_METRICS:
        entries = [e for e in tests if e["metric"] == metric]
        if not entries:
            continue
        lines += ["", f"## {METRIC_TITLES.get(metric, metric)}", ""]
        lines += paired_tests_table(
            entries, {"A vs B": lambda e: f"{e['model_a']} vs {e['model_b']}"}, columns
        )
    return "\n".join(lines) + "\n"


def summary_markdown(
    summary: list[dict[str, Any]],
    config: SweepConfig,
    *,
    references: list[dict[str, Any]] | None = None,
) -> str:
    """Markdown: one table per metric, models as rows and knob values as columns.

    A row is a (model, variant) label: ``model`` for the base, ``model[variant]`` otherwise
    (:func:`ividr.experiments.variants.model_label`).

    With ``references`` (:func:`summarize_references`), the MCC tables get the proxy-oracle and
    chance rows under the models, and a last table lists every reference level.
    """
    lines = _summary_preamble(config)
    header = "| model | " + " | ".join(f"{config.knob}={format_value(v)}" for v in config.values)
    rule = "|---|" + "---|" * len(config.values)
    references = references or []
    metrics = [
        m
        for m in (*SUMMARY_METRICS, PRIOR_ONLY_METRIC, REGRET_METRIC)
        if any(e["metric"] == m for e in summary)
    ]
    for metric in metrics:
        lines += ["", f"## {METRIC_TITLES.get(metric, metric)}", "", header + " |", rule]
        lines += _model_rows(summary, config, metric)
        lines += _metric_reference_rows(references, config, metric)
    if config.crossed:
        lines += spread_markdown(summary, config, header, rule)
    if references:
        lines += _reference_table(references, config, header, rule)
    return "\n".join(lines) + "\n"


def _summary_preamble(config: SweepConfig) -> list[str]:
    """The title of summary.md and the notes on its data and fixed settings."""
    size = ""
    if config.data is not None:
        source = f"data {config.data}"
    else:
        users = config.n_users if config.n_users is not None else "preset"
        items = config.n_items if config.n_items is not None else "preset"
        source = f"preset `{config.preset}`"
        size = f", {users} users x {items} items"
    lines = [
        f"# Sweep over {config.knob}: {source}{size}, {seeds_label(config)}",
        "",
        "Mean ± std over runs (sample std, ddof=1); `(n=k)` marks a cell with fewer runs than "
        "planned.",
    ]
    if config.preset == "ividr-code" and config.data is None:
        lines += [
            "",
            "Preset `ividr-code`: its instrument Z is the proxy W itself, so Z is not "
            "independent of W here (docs/design.md §2).",
        ]
    if config.sim_overrides:
        lines += ["", f"Simulator knobs fixed: {config.sim_overrides}"]
    if config.epochs is not None or config.fit_overrides:
        lines += ["", f"Fit settings: epochs={config.epochs}, {config.fit_overrides}"]
    if config.variants:
        named = "; ".join(f"`{name}` = {over}" for name, over in config.variants.items())
        lines += [
            "",
            f"Variants (`model[variant]`: the model fitted with these settings over the "
            f"above; `model` alone is its base): {named}",
        ]
    return lines


def _model_rows(summary: list[dict[str, Any]], config: SweepConfig, metric: str) -> list[str]:
    """One table row per model with ``metric`` in ``summary``: mean ± std at each knob value."""
    rows = []
    for model in config.labels():
        if not any(e["metric"] == metric and e["model"] == model for e in summary):
            continue
        cells = []
        for value in config.values:
            entry = next(
                e
                for e in summary
                if e["metric"] == metric
                and e["model"] == model
                and format_value(e["value"]) == format_value(value)
            )
            cells.append(
                format_cell(entry["mean"], entry["std"], n=entry["n"], runs=config.runs_per_cell)
            )
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    return rows


def _reference_cell(references: list[dict[str, Any]], ref: str, value: Any) -> str:
    """The level of reference ``ref`` at knob value ``value``: mean ± std, or "–" if absent."""
    entry = next(
        (
            e
            for e in references
            if e["reference"] == ref and format_value(e["value"]) == format_value(value)
        ),
        None,
    )
    if entry is None:
        return MISSING
    if ref.startswith("ref_chance"):  # a function of (n_users, d) only: no spread to show
        return format_cell(entry["mean"])
    return format_cell(entry["mean"], entry["std"])


def _reference_line(
    references: list[dict[str, Any]], config: SweepConfig, label: str, refs: Sequence[str]
) -> str:
    """A table row in italics: the levels of ``refs`` at each knob value, joined by " / "."""
    cells = [" / ".join(_reference_cell(references, r, v) for r in refs) for v in config.values]
    return f"| _{label}_ | " + " | ".join(cells) + " |"


def _metric_reference_rows(
    references: list[dict[str, Any]], config: SweepConfig, metric: str
) -> list[str]:
    """The reference rows under the models of an MCC table (none for other metrics)."""
    if not references:
        return []
    if metric == "mcc_weak":
        return [
            _reference_line(
                references, config, "reference: proxy oracle E[C|W]", ["ref_oracle_weak"]
            )
        ]
    if metric not in ("mcc", PRIOR_ONLY_METRIC):
        return []
    rows = [
        _reference_line(references, config, "reference: proxy oracle E[C|W]", ["ref_oracle"]),
        _reference_line(
            references,
            config,
            "reference: chance, mean / p95",
            ["ref_chance", "ref_chance_p95"],
        ),
    ]
    if metric == PRIOR_ONLY_METRIC:  # a function of W: its own chance level
        rows.append(
            _reference_line(
                references,
                config,
                "reference: chance of a function of W, mean / p95",
                ["ref_proxy_chance", "ref_proxy_chance_p95"],
            )
        )
    rows.append(
        _reference_line(
            references,
            config,
            "reference: supervised ceiling, exposures + W / exposures",
            ["ref_supervised_exposure_w", "ref_supervised_exposure"],
        )
    )
    return rows


def _reference_table(
    references: list[dict[str, Any]], config: SweepConfig, header: str, rule: str
) -> list[str]:
    """The last table of summary.md: every reference level of the datasets, explained."""
    lines = [
        "",
        "## Reference levels of the datasets (mean ± std over seeds)",
        "",
        "Proxy oracle: MCC between the true C and its W-group means E[C|W], the best any "
        "function of W alone reaches. Chance: strong MCC between C and independent Gaussian "
        "latents of the same shape (mean and 95th percentile of 200 draws). R^2: held-out "
        "ridge regression of C on the exposure row, and on one-hot W. A model's MCC above "
        "the proxy oracle needs information beyond W; the prior-only row shows what its "
        "learned prior mu_w(W) alone reaches. Supervised ceiling: strong MCC of a 5-fold "
        "cross-fitted regressor of C trained on the truth (gradient boosting on the "
        "exposure row's SVD, with and without one-hot W); no encoder q(C | A, W) beats it "
        "by more than estimation error.",
        "",
        header.replace("| model |", "| reference |") + " |",
        rule,
    ]
    for ref, label in REFERENCE_COLUMNS.items():
        if any(e["reference"] == ref for e in references):
            cells = " | ".join(_reference_cell(references, ref, v) for v in config.values)
            lines.append(f"| {label} | " + cells + " |")
    return lines


def seeds_label(config: SweepConfig) -> str:
    """How a sweep seeds its runs, in words."""
    if not config.crossed:
        return f"{config.seeds} seed(s)"
    return (
        f"{config.data_seeds or 1} data seed(s) x {config.model_seeds or 1} model seed(s) per value"
    )


def spread_markdown(
    summary: list[dict[str, Any]], config: SweepConfig, header: str, rule: str
) -> list[str]:
    """Lines of the 'where the spread comes from' table of a crossed sweep (strong MCC, and the
    test NDCG@5)."""
    lines: list[str] = []
    for metric in ("mcc", "ndcg@5"):
        entries = [e for e in summary if e["metric"] == metric and e["n"]]
        if not entries:
            continue
        lines += [
            "",
            f"## Spread of {METRIC_TITLES.get(metric, metric)}: between draws / within a draw",
            "",
            "Std of the draw means (data seeds) / pooled std across model seeds on one draw, "
            "and the between-draw share of one run's variance (random-effects estimate; "
            "`metrics.variance_split`).",
            "",
            header + " |",
            rule,
        ]
        for model in config.labels():
            cells = []
            for value in config.values:
                e = next(
                    (
                        x
                        for x in entries
                        if x["model"] == model and format_value(x["value"]) == format_value(value)
                    ),
                    None,
                )
                if e is None:
                    cells.append("–")
                    continue
                parts = [
                    "–" if e[k] is None else f"{e[k]:.4f}" for k in ("sd_between", "sd_within")
                ]
                share = e["share_between"]
                cells.append(" / ".join(parts) + ("" if share is None else f" ({share:.0%})"))
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def print_summary(out_dir: str | Path, *, file=None) -> None:
    """Print summary.md of a sweep directory (stdout by default)."""
    text = (Path(out_dir) / "summary.md").read_text(encoding="utf-8")
    print(text, end="", file=file or sys.stdout)
