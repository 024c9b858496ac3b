"""How a fit chose among its candidates, for metrics.json (docs/design.md §4.3): the latent
stage's restarts and the ``latent_grid`` points, each chosen by its held-out negative ELBO,
never by the truth; with the truth, each candidate's strong MCC and whether the choice also had
the best one (did the ELBO track the MCC on this fit?).

Called by :func:`ividr.api.fit_model`; public so that a notebook can run them again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["latent_grid_report", "restart_report"]


def restart_report(
    restarts: list[dict[str, Any]], latents: list[np.ndarray], truth: np.ndarray | None
) -> dict[str, Any]:
    """metrics.json's view of a latent stage's restarts (chosen without the truth).

    Returns ``{"restarts": [...]}``: each restart's seed, epochs, kept epoch, held-out negative
    ELBO at it, the epoch it was pruned at (None: trained to its end) and whether it was kept;
    with the truth also its strong ``mcc``, and ``restart_choice_best_mcc``: whether the kept
    restart (lowest held-out negative ELBO) also has the highest MCC, i.e. whether the ELBO
    tracked the MCC on this fit.
    """
    rows = [dict(r) for r in restarts]
    out: dict[str, Any] = {"restarts": rows}
    if truth is not None:
        out["restart_choice_best_mcc"] = _score_candidates(rows, latents, truth)
    return out


def latent_grid_report(
    points: list[dict[str, Any]], latents: list[np.ndarray], truth: np.ndarray | None
) -> dict[str, Any]:
    """metrics.json's view of the ``latent_grid`` search (chosen without the truth).

    Returns ``latent_grid`` (each point's latent_lr, l2_penalty, held-out negative ELBO at its
    kept checkpoint ``val_loss``, epochs, kept epoch, ``kept``; with the truth also its strong
    ``mcc``), the kept point's ``latent_grid_lr`` and ``latent_grid_l2`` (flat, for the sweep's
    results table) and, with the truth, ``latent_grid_choice_best_mcc``: whether the kept point
    also has the highest MCC.
    """
    rows = [dict(p) for p in points]
    kept = next(r for r in rows if r["kept"])
    out: dict[str, Any] = {
        "latent_grid": rows,
        "latent_grid_lr": kept["latent_lr"],
        "latent_grid_l2": kept["l2_penalty"],
    }
    if truth is not None:
        out["latent_grid_choice_best_mcc"] = _score_candidates(rows, latents, truth)
    return out


def _score_candidates(rows: list[dict[str, Any]], latents: list[np.ndarray], truth) -> bool:
    """Give each candidate row its strong ``mcc`` (of its latents); whether the kept one has
    the highest."""
    from metrics.mcc import mcc

    for row, z in zip(rows, latents, strict=True):
        row["mcc"] = float(mcc(truth, z))
    kept = next(r for r in rows if r["kept"])
    return bool(kept["mcc"] >= max(r["mcc"] for r in rows))
