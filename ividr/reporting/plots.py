"""Figures: the paper's Figure 3 (true vs learned latent confounders) and MCC-vs-knob curves.

Every function returns the matplotlib :class:`~matplotlib.figure.Figure` (so that tests and
notebooks can inspect or restyle it); :func:`save_figure` writes it as PNG and PDF. The figures
are drawn with the object-oriented API on a fresh ``Figure`` (no pyplot state), so they work
with any backend, headless included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ividr.experiments.layout import RUN_FILES  # noqa: F401 (the files a run folder holds)
from ividr.registry import DISPLAY_NAMES, display_name  # noqa: F401 (re-exported)
from metrics.checks import ParameterError, check_choice

PLOT_METRICS = ("mcc", "mcc_weak", "ndcg@5", "recall@5")
FIGURE_SUFFIXES = (".png", ".pdf")
METRIC_LABELS = {"mcc": "MCC", "mcc_weak": "weak MCC", "ndcg@5": "NDCG@5", "recall@5": "Recall@5"}


class PlotError(ParameterError):
    """Bad input to a plot: the message names the file or parameter and what is wrong."""


#: Legend labels of the reference artists of :func:`plot_sweep` (tests look them up).
ORACLE_LABEL = "proxy oracle E[C|W]"
ORACLE_BAND_LABEL = "proxy oracle ± std"
CHANCE_LABEL = "chance (mean to p95)"
SUPERVISED_LABEL = "supervised ceiling (A, W)"
SUPERVISED_A_LABEL = "supervised ceiling (A only)"
PRIOR_ONLY_SUFFIX = " prior only"


@dataclass
class RunLatents:
    """What a run directory holds for plotting.

    Attributes
    ----------
    path : Path
    model : str
        The model name from config.json (the directory name when absent).
    latents : ndarray of shape (n_users, d)
        The learned latent confounder (posterior mean).
    metrics : dict
        metrics.json (empty when absent).
    config : dict
        config.json (empty when absent).
    """

    path: Path
    model: str
    latents: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlotError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise PlotError(f"{path}: expected a JSON object")
    return data


def load_run(run_dir: str | Path) -> RunLatents:
    """Read a run directory: latents.npy (required), metrics.json and config.json (optional).

    Raises
    ------
    PlotError
        When the directory or latents.npy is missing, or latents.npy is not a finite 2-D (or
        1-D) numeric array.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise PlotError(f"{path}: not a directory")
    latents_path = path / "latents.npy"
    if not latents_path.is_file():
        raise PlotError(f"{latents_path}: missing (not a run directory of `ividr fit --out`)")
    try:
        latents = np.load(latents_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PlotError(f"{latents_path}: unreadable ({exc})") from exc
    if latents.ndim == 1:
        latents = latents[:, None]
    if latents.ndim != 2 or latents.shape[0] < 2 or latents.shape[1] < 1:
        raise PlotError(f"{latents_path}: expected shape (n_users, d), found {latents.shape}")
    if not np.issubdtype(latents.dtype, np.number) or not np.all(np.isfinite(latents)):
        raise PlotError(f"{latents_path}: expected finite numbers")
    metrics = _read_json(path / "metrics.json")
    config = _read_json(path / "config.json")
    model = str(config.get("model") or metrics.get("model") or path.name)
    return RunLatents(path, model, latents.astype(np.float64), metrics, config)


def embed_2d(x: np.ndarray, *, random_state: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """Points in 2-D for a scatter plot: ``x`` itself when d <= 2, else its UMAP embedding.

    Parameters
    ----------
    x : ndarray of shape (n, d)
    random_state : int, default 0
        Seeds UMAP (which then runs single-threaded, reproducibly).
    n_neighbors : int, default 15

    Returns
    -------
    ndarray of shape (n, 2), or (n, 1) when d == 1
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] <= 2:
        return x
    import umap  # umap-learn; imported here because numba compiles it on first use

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, max(2, x.shape[0] - 1)),
        random_state=random_state,
        n_jobs=1,
    )
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def _aligned(true: np.ndarray, learned: np.ndarray) -> tuple[np.ndarray, float]:
    """``learned`` matched to ``true`` by the MCC assignment, rescaled to the truth's mean and
    std (:func:`metrics.align_latents` with ``scale="std"``), and the strong Pearson MCC."""
    from metrics.mcc import align_latents

    aligned, match = align_latents(true, learned, scale="std", return_match=True)
    return aligned, float(match.score)


def _scatter(ax, points: np.ndarray, colour: np.ndarray, levels: np.ndarray, *, size: float):
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10"]
    if points.shape[1] == 1:
        jitter = np.random.default_rng(0).uniform(-0.5, 0.5, len(points))
        points = np.c_[points[:, 0], colour + jitter]
        ax.set_ylabel("W (jittered)")
    handles = []
    for k, level in enumerate(levels):
        sel = colour == level
        handles.append(
            ax.scatter(
                points[sel, 0],
                points[sel, 1],
                s=size,
                color=cmap(k % 10),
                alpha=0.6,
                linewidths=0,
                rasterized=True,
                label=f"W={level}",
            )
        )
    return handles


def plot_latent(
    runs: Sequence[str | Path | RunLatents],
    true: np.ndarray,
    proxy: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    max_points: int | None = 5000,
    random_state: int = 0,
    point_size: float = 3.0,
) -> Figure:
    """The paper's Figure 3: the true confounder beside each run's learned one, coloured by W.

    Panel 1 shows the true C; then one panel per run with its learned latents matched to the
    truth by the MCC assignment, sign-flipped and rescaled (:func:`metrics.align_latents` with
    ``scale="std"``), with the strong MCC in the title. Latents of more than 2 dimensions are
    embedded by UMAP (the truth and each aligned run separately; each UMAP embedding is then
    aligned onto the truth's).

    Parameters
    ----------
    runs : sequence of run directories or RunLatents
        Each holds latents of shape (n_users, d).
    true : array-like of shape (n_users, d_true)
        The true confounder C.
    proxy : array-like of shape (n_users,) or (n_users, n_fields)
        The proxy W (its first field colours the points).
    labels : sequence of str, optional
        Panel titles (default: the model names).
    max_points : int or None, default 5000
        Users drawn (a fixed random subset, the same in every panel); None draws all.
    random_state : int, default 0
        Seeds the subset and UMAP.
    point_size : float, default 3.0

    Returns
    -------
    Figure
        ``1 + len(runs)`` axes in one row.
    """
    true = np.asarray(true, dtype=np.float64)
    if true.ndim == 1:
        true = true[:, None]
    if true.ndim != 2 or not np.all(np.isfinite(true)):
        raise PlotError(f"true must be a finite array of shape (n_users, d); got {true.shape}")
    w = np.asarray(proxy)
    w = w[:, 0] if w.ndim == 2 else w
    if w.shape != (true.shape[0],):
        raise PlotError(f"proxy must have {true.shape[0]} rows; got shape {np.shape(proxy)}")
    if not runs:
        raise PlotError("at least one run is needed")
    loaded = [r if isinstance(r, RunLatents) else load_run(r) for r in runs]
    for run in loaded:
        if run.latents.shape[0] != true.shape[0]:
            raise PlotError(
                f"{run.path / 'latents.npy'}: {run.latents.shape[0]} rows, but the dataset has "
                f"{true.shape[0]} users (was the run fitted on this dataset?)"
            )
    if labels is not None and len(labels) != len(loaded):
        raise PlotError(f"labels: expected {len(loaded)} labels, got {len(labels)}")

    n = true.shape[0]
    rng = np.random.default_rng(random_state)
    keep = None
    if max_points and n > max_points:
        keep = np.sort(rng.choice(n, max_points, replace=False))
    levels = np.unique(w)

    true_2d = embed_2d(true, random_state=random_state)
    panels = [("(a) True C", true_2d, true.shape[1] > 2)]
    letters = "bcdefghijklmnopqrstuvwxyz"
    for j, run in enumerate(loaded):
        aligned, score = _aligned(true, run.latents)
        points = embed_2d(aligned, random_state=random_state)
        if aligned.shape[1] > 2:  # orient the UMAP of the run like the UMAP of the truth
            points, _ = _aligned(true_2d, points)
        name = labels[j] if labels is not None else display_name(run.model)
        title = f"({letters[j % len(letters)]}) {name}: MCC {score:.3f}"
        panels.append((title, points, aligned.shape[1] > 2))

    width = 4.0 * len(panels)
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colour = w if keep is None else w[keep]
    for ax, (title, points, umap_used) in zip(axes, panels, strict=True):
        pts = points if keep is None else points[keep]
        handles = _scatter(ax, pts, colour, levels, size=point_size)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("UMAP 1" if umap_used else "C dim 1")
        if points.shape[1] > 1:
            ax.set_ylabel("UMAP 2" if umap_used else "C dim 2")
    if len(levels) <= 12:
        axes[0].legend(handles=handles, fontsize=7, markerscale=3, loc="best", title="proxy")
    return fig


def plot_latent_from_dirs(
    run_dirs: Sequence[str | Path], data_dir: str | Path, **kwargs: Any
) -> Figure:
    """:func:`plot_latent` for run directories and a dataset directory with a true C.

    Raises
    ------
    PlotError
        When the dataset cannot be loaded or holds no true confounder.
    """
    from simulator.dataset import DatasetError
    from simulator.loaders import load_dataset

    try:
        dataset = load_dataset(data_dir)
    except DatasetError as exc:
        raise PlotError(str(exc)) from exc
    if dataset.confounder is None:
        raise PlotError(f"{data_dir}: the dataset holds no true confounder C (truth.npz)")
    return plot_latent(run_dirs, dataset.confounder, dataset.proxy, **kwargs)


def plot_sweep(
    sweep_dir: str | Path,
    *,
    metric: str = "mcc",
    reference: dict[str, Sequence[float]] | None = None,
    show_references: bool = True,
) -> Figure:
    """:func:`plot_summary` of the sweep directory ``sweep_dir`` (written by ``ividr sweep``):
    its results rows read from the store and summarised.

    Raises
    ------
    PlotError
        For an unknown metric, a directory that is not a sweep, or one without finished runs.
    """
    from ividr.experiments.errors import SweepError
    from ividr.experiments.store import load_results
    from ividr.experiments.summaries import summarize, summarize_references

    _check_metric(metric)
    try:
        config, rows = load_results(sweep_dir)
    except SweepError as exc:
        raise PlotError(str(exc)) from exc
    if not rows:
        raise PlotError(f"{sweep_dir}: no finished run yet")
    return plot_summary(
        summarize(rows, config),
        config,
        metric=metric,
        references=summarize_references(rows, config) if show_references else None,
        reference=reference,
    )


def _check_metric(metric: str) -> None:
    check_choice(metric, "metric", "plot_sweep", list(PLOT_METRICS), error=PlotError)


def plot_summary(
    summary: list[dict[str, Any]],
    config,
    *,
    metric: str = "mcc",
    references: list[dict[str, Any]] | None = None,
    reference: dict[str, Sequence[float]] | None = None,
) -> Figure:
    """``metric`` against the swept knob, one line per model, error bars = std over seeds.

    With ``references`` (and data with the true confounder), an MCC plot also draws the
    dataset's reference levels (§5): the proxy oracle E[C|W] (dash-dot black line, mean over
    seeds, with a ± std band; its weak MCC on a weak-MCC plot), and for the strong MCC the
    chance band (grey, from the mean to the 95th percentile of independent latents), the
    supervised ceilings, and each model's prior-only MCC (the learned prior mean mu_w(W) alone:
    dotted, in the model's colour, labelled ``"<model> prior only"``).

    Parameters
    ----------
    summary : list of dict
        :func:`ividr.experiments.summaries.summarize` of the sweep's rows.
    config : SweepConfig
        The sweep's grid (knob, values, models, preset or data).
    metric : {"mcc", "mcc_weak", "ndcg@5", "recall@5"}, default "mcc"
    references : list of dict, optional
        :func:`ividr.experiments.summaries.summarize_references` of the rows; None draws none.
    reference : dict of str to sequence of float, optional
        Figures to draw as dashed lines (e.g. the paper's Table 5), one value per knob value,
        keyed by a legend label.

    Returns
    -------
    Figure
        One axes.
    """
    from ividr.experiments.grid import format_value

    _check_metric(metric)
    show_references = references is not None
    numeric = all(isinstance(v, int | float) for v in config.values)
    xs = np.array(config.values, dtype=float) if numeric else np.arange(len(config.values))

    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    colours = _draw_models(ax, xs, [e for e in summary if e["metric"] == metric], config)
    if show_references and metric in ("mcc", "mcc_weak"):
        _draw_references(ax, xs, config, references, metric, colours, format_value)
        if metric == "mcc":
            _draw_prior_only(ax, xs, summary, config, colours)
    _draw_given_figures(ax, xs, reference, colours)
    if not numeric:
        ax.set_xticks(xs, [format_value(v) for v in config.values])
    ax.set_xlabel(config.knob)
    label = METRIC_LABELS[metric]
    ax.set_ylabel(label)
    source = f"preset {config.preset}" if config.data is None else Path(config.data).name
    ax.set_title(f"{label} vs {config.knob} ({source}; mean ± std over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    _add_legends(fig, ax)
    return fig


def _draw_models(ax, xs: np.ndarray, entries: list[dict[str, Any]], config) -> dict[str, Any]:
    """One errorbar line per model of ``config``; returns each model's colour by display name."""
    colours: dict[str, Any] = {}
    for model in config.labels():
        mine = [e for e in entries if e["model"] == model]
        mean = np.array([np.nan if e["mean"] is None else e["mean"] for e in mine])
        std = np.array([np.nan if e["std"] is None else e["std"] for e in mine])
        n = max((e["n"] for e in mine), default=0)
        bars = ax.errorbar(
            xs,
            mean,
            yerr=std,
            marker="o",
            capsize=3,
            label=f"{display_name(model)} (n={n})",
        )
        colours[display_name(model)] = bars.lines[0].get_color()
    return colours


def _draw_prior_only(
    ax, xs: np.ndarray, summary: list[dict[str, Any]], config, colours: dict[str, Any]
) -> None:
    """Each model's prior-only MCC, dotted in the model's colour (models without it: none)."""
    from ividr.experiments.grid import format_value
    from ividr.experiments.summaries import PRIOR_ONLY_METRIC

    for model in config.labels():
        mine = {
            format_value(e["value"]): e["mean"]
            for e in summary
            if e["metric"] == PRIOR_ONLY_METRIC and e["model"] == model
        }
        if not mine:
            continue
        ys = np.array(
            [
                np.nan if mine.get(format_value(v)) is None else mine[format_value(v)]
                for v in config.values
            ],
            dtype=float,
        )
        ax.plot(
            xs,
            ys,
            linestyle=":",
            marker=".",
            color=colours.get(display_name(model)),
            label=display_name(model) + PRIOR_ONLY_SUFFIX,
        )


def _draw_given_figures(
    ax,
    xs: np.ndarray,
    reference: dict[str, Sequence[float]] | None,
    colours: dict[str, Any],
) -> None:
    """The caller's figures (e.g. the paper's Table 5) as dashed lines, one per label."""
    for label, values in (reference or {}).items():
        # A reference labelled like a model ("IViDR (paper)") takes that model's colour.
        colour = next((c for name, c in colours.items() if label.startswith(name + " ")), None)
        ax.plot(
            xs,
            np.asarray(values, dtype=float),
            linestyle="--",
            marker="x",
            color=colour,
            label=label,
        )


def _add_legends(fig: Figure, ax) -> None:
    """The models' legend, and the reference levels' own legend right of the axes if any."""
    # Models (and the paper's figures) in the main legend; the reference levels in a second one.
    handles, labels = ax.get_legend_handles_labels()
    is_ref = [
        lab in (ORACLE_LABEL, ORACLE_BAND_LABEL, CHANCE_LABEL, SUPERVISED_LABEL, SUPERVISED_A_LABEL)
        or lab.endswith(PRIOR_ONLY_SUFFIX)
        for lab in labels
    ]
    if any(is_ref):
        ref_legend = ax.legend(
            [h for h, r in zip(handles, is_ref, strict=True) if r],
            [lab for lab, r in zip(labels, is_ref, strict=True) if r],
            fontsize=7,
            loc="lower left",
            bbox_to_anchor=(1.02, 0.0),
            title="references",
            title_fontsize=7,
        )
        ax.add_artist(ref_legend)
        fig.set_size_inches(8.0, 4.0)  # room for the legends right of the axes
    outside = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)} if any(is_ref) else {}
    ax.legend(
        [h for h, r in zip(handles, is_ref, strict=True) if not r],
        [lab for lab, r in zip(labels, is_ref, strict=True) if not r],
        fontsize=8,
        **outside,
    )


def reference_legend(fig: Figure):
    """The "references" legend :func:`plot_sweep` adds (None when it drew no reference)."""
    from matplotlib.legend import Legend

    for ax in fig.axes:
        for child in ax.get_children():
            if isinstance(child, Legend) and child.get_title().get_text() == "references":
                return child
    return None


def _draw_references(ax, xs, config, refs, metric, colours, format_value):
    """The proxy-oracle line and band, and (strong MCC) the chance band, on ``ax``."""

    def series(name: str) -> tuple[np.ndarray, np.ndarray]:
        at = {format_value(e["value"]): e for e in refs if e["reference"] == name}
        mean = [
            at[format_value(v)]["mean"] if format_value(v) in at else np.nan for v in config.values
        ]
        std = [
            at[format_value(v)]["std"] if format_value(v) in at else np.nan for v in config.values
        ]
        return np.array(mean, dtype=float), np.array(std, dtype=float)

    oracle, oracle_std = series("ref_oracle_weak" if metric == "mcc_weak" else "ref_oracle")
    if np.isfinite(oracle).any():
        ax.plot(xs, oracle, color="black", linestyle="-.", label=ORACLE_LABEL)
        ax.fill_between(
            xs,
            oracle - oracle_std,
            oracle + oracle_std,
            color="black",
            alpha=0.12,
            linewidth=0,
            label=ORACLE_BAND_LABEL,
        )
    if metric == "mcc":
        low, _ = series("ref_chance")
        high, _ = series("ref_chance_p95")
        if np.isfinite(low).any():
            ax.fill_between(
                xs, low, high, color="grey", alpha=0.35, linewidth=0, label=CHANCE_LABEL
            )
        for name, colour, label in (
            ("ref_supervised_exposure_w", "black", SUPERVISED_LABEL),
            ("ref_supervised_exposure", "grey", SUPERVISED_A_LABEL),
        ):
            ceiling, _ = series(name)
            if np.isfinite(ceiling).any():
                ax.plot(xs, ceiling, color=colour, linestyle="--", linewidth=1.0, label=label)


def figure_paths(out: str | Path) -> list[Path]:
    """The PNG and PDF paths of ``out`` (its suffix, if .png or .pdf, is replaced).

    Raises
    ------
    PlotError
        For any other suffix.
    """
    out = Path(out)
    if out.suffix.lower() in FIGURE_SUFFIXES:
        out = out.with_suffix("")
    elif out.suffix:
        raise PlotError(f"{out}: the output must end in .png, .pdf or have no suffix")
    return [out.with_name(out.name + s) for s in FIGURE_SUFFIXES]


#: The Creator that :func:`save_figure` writes into every figure's metadata: the marker that
#: lets ``ividr plot --overwrite`` replace a figure it wrote, and no other file (docs/design.md §7).
FIGURE_CREATOR = "ividr plot"


def written_by_ividr_plot(path: str | Path) -> bool:
    """Whether the PNG or PDF at ``path`` carries :data:`FIGURE_CREATOR` in its metadata."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    creator = FIGURE_CREATOR.encode()
    # PNG: a tEXt chunk "Creator\0<text>"; PDF: the Info dictionary's "/Creator (<text>)".
    return b"Creator\x00" + creator in data or b"/Creator (" + creator in data


def save_figure(fig: Figure, out: str | Path, *, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as PNG and PDF beside each other, each atomically; return the two paths.

    Each file carries :data:`FIGURE_CREATOR` as its Creator (:func:`written_by_ividr_plot`).
    """
    from simulator.files import temporary_sibling

    paths = figure_paths(out)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        tmp = temporary_sibling(path)
        try:
            fig.savefig(tmp, dpi=dpi, format=path.suffix[1:], metadata={"Creator": FIGURE_CREATOR})
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return paths
