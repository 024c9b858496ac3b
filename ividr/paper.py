"""Published figures the project compares itself with, in one place (no torch, no numpy).

- :data:`TABLE5_GAMMAS`, :data:`TABLE5_MCC`: the IViDR paper's Table 5, strong MCC of the learned
  confounder of iDCF and IViDR at gamma = 0, 5, 10, 15, 20 (single runs of the released code on
  the paper's own draw, the external dataset ``ividr-sim``; its README lists the same figures).
- :data:`COAT_RANKING`: the IViDR paper's Coat rows of Tables 3 and 4, NDCG@5 and Recall@5.

The iDCF paper's figures on its own synthetic data (``idcf-sim``) are kept with that benchmark's
goals, in ``benchmarks/_idcf_sim_goals.py``.
"""

from __future__ import annotations

__all__ = ["COAT_RANKING", "TABLE5_GAMMAS", "TABLE5_MCC", "table5_mcc"]

#: The gammas of the IViDR paper's Table 5.
TABLE5_GAMMAS: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
#: The IViDR paper's Table 5: strong MCC by model, one figure per gamma of :data:`TABLE5_GAMMAS`.
TABLE5_MCC: dict[str, tuple[float, ...]] = {
    "idcf": (0.8162, 0.7034, 0.6475, 0.5449, 0.4264),
    "ividr": (0.8405, 0.7826, 0.7659, 0.6879, 0.6262),
}
#: The IViDR paper's Coat figures (Tables 3 and 4): model -> (NDCG@5, Recall@5).
COAT_RANKING: dict[str, tuple[float, float]] = {
    "mf": (0.5590, 0.5418),
    "mf-wf": (0.5577, 0.5336),
    "iv4r-mf": (0.5617, 0.5433),
    "idcf": (0.5638, 0.5493),
    "ividr-t": (0.5669, 0.5513),
    "ividr-f": (0.5846, 0.5710),
    "ividr-r": (0.5875, 0.5728),
    "ividr": (0.5903, 0.5783),
}


def table5_mcc(model: str, gamma: float) -> float | None:
    """The paper's Table-5 MCC of ``model`` at ``gamma`` (None where the table has none)."""
    figures = TABLE5_MCC.get(model)
    gamma = float(gamma)
    if figures is None or gamma not in TABLE5_GAMMAS:
        return None
    return figures[TABLE5_GAMMAS.index(gamma)]
