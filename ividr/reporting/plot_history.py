"""Figure: MCC and losses over the latent epochs of one or more runs (`ividr plot history`).

Reads a run folder's history.json and metrics.json (the layout of
:mod:`ividr.experiments.layout`, written by ``ividr fit`` and by every sweep run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ividr.registry import display_name
from ividr.reporting.plots import PlotError, _read_json


def load_history(run_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The latent-stage rows of a run's history (history.json) and its metrics.json.

    Raises
    ------
    PlotError
        When history.json is missing or unreadable, or holds no latent-stage epoch.
    """
    run_dir = Path(run_dir)
    path = run_dir / "history.json"
    if not path.is_file():
        raise PlotError(f"{path}: missing (was the run written by `ividr fit`?)")
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlotError(f"{path}: not readable JSON ({exc})") from exc
    latent = [r for r in rows if isinstance(r, dict) and r.get("stage") == "latent"]
    if not latent:
        raise PlotError(f"{path}: no latent-stage epoch (a model without latents?)")
    metrics_path = run_dir / "metrics.json"
    metrics = _read_json(metrics_path) if metrics_path.is_file() else {}
    return latent, metrics


def plot_history(run_dirs: Sequence[str | Path], *, labels: Sequence[str] | None = None) -> Figure:
    """MCC (strong solid, weak dashed), training loss and held-out negative ELBO over the
    latent epochs, one colour per run; a dotted vertical line marks each run's kept checkpoint.

    Parameters
    ----------
    run_dirs : sequence of path
        ``ividr fit --out`` folders (history.json, metrics.json).
    labels : sequence of str, optional
        One per run; default: the model name (and the run folder's name).

    Returns
    -------
    Figure
        Three panels side by side; the MCC panel is empty (with a note) when no run traced MCC.
    """
    if not run_dirs:
        raise PlotError("plot_history needs at least one run directory")
    if labels is not None and len(labels) != len(run_dirs):
        raise PlotError(f"got {len(labels)} labels for {len(run_dirs)} runs")
    fig = Figure(figsize=(13.5, 3.8), layout="constrained")
    ax_mcc, ax_loss, ax_val = fig.subplots(1, 3)
    colours = [f"C{i % 10}" for i in range(len(run_dirs))]
    any_mcc = False
    tails: dict[str, list[float]] = {"loss": [], "val_loss": []}
    for i, run_dir in enumerate(run_dirs):
        rows, metrics = load_history(run_dir)
        name = (
            labels[i]
            if labels is not None
            else (f"{display_name(str(metrics.get('model', '?')))} ({Path(run_dir).name})")
        )
        col = colours[i]
        epochs = np.array([r["epoch"] for r in rows], dtype=float)
        traced = [r for r in rows if r.get("mcc") is not None]
        if traced:
            any_mcc = True
            te = [r["epoch"] for r in traced]
            ax_mcc.plot(te, [r["mcc"] for r in traced], color=col, label=f"{name}: strong")
            if any(r.get("mcc_weak") is not None for r in traced):
                ax_mcc.plot(
                    te,
                    [r.get("mcc_weak", np.nan) for r in traced],
                    color=col,
                    linestyle="--",
                    label=f"{name}: weak",
                )
        ax_loss.plot(epochs, [r["loss"] for r in rows], color=col, label=name)
        ax_val.plot(epochs, [r["val_loss"] for r in rows], color=col, label=name)
        after_warmup = epochs >= max(1.0, 0.05 * epochs.max(initial=0.0))
        for key in tails:
            tails[key] += [
                float(r[key]) for r, keep in zip(rows, after_warmup, strict=True) if keep
            ]
        ckpt = [r["epoch"] for r in rows if r.get("checkpoint")]
        for ax in (ax_mcc, ax_loss, ax_val):
            for e in ckpt:
                ax.axvline(e, color=col, linestyle=":", linewidth=1)
    ax_mcc.set(title="MCC of the posterior mean", xlabel="latent epoch", ylabel="MCC")
    if any_mcc:
        ax_mcc.legend(fontsize="small")
    else:
        ax_mcc.text(0.5, 0.5, "no MCC traced", ha="center", va="center", transform=ax_mcc.transAxes)
    # The first epochs drop by orders of magnitude; zoom on the rest, where the runs differ.
    for ax, key in ((ax_loss, "loss"), (ax_val, "val_loss")):
        values = np.array(tails[key])
        values = values[np.isfinite(values)]
        if len(values) and values.max() > values.min():
            pad = 0.05 * (values.max() - values.min())
            ax.set_ylim(values.min() - pad, values.max() + pad)
    ax_loss.set(title="training loss (annealed neg. ELBO)", xlabel="latent epoch")
    ax_val.set(title="held-out users' neg. ELBO", xlabel="latent epoch")
    ax_val.legend(fontsize="small")
    return fig
