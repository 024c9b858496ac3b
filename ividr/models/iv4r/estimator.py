"""IV4R-MF: MF whose item vectors are IV-reconstructed treatments (§4.1); IViDR's stage 1."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import sparse

from ividr.hyperparams import IV4RParams, RecommenderParams
from ividr.models.base import BaseRecommender
from ividr.models.iv4r.net import IV4RMFNet
from ividr.training.loops import RecommenderData
from ividr.training.stages import fit_recommender_stage


def item_level_frequencies(dataset) -> np.ndarray:
    """Share of each item's users at each instrument level, shape (n_items, sum(levels)).

    Row j, block of field f: the distribution of field f over the users who interacted with j
    (zeros for an item nobody interacted with). One sparse product: A^T Z_onehot / degree.
    """
    a = dataset.exposure_csr()
    z = sparse.csr_matrix(dataset.instrument_onehot())
    counts = np.asarray((a.T @ z).todense(), dtype=np.float64)
    degree = np.asarray(a.sum(axis=0)).ravel()
    freq = np.divide(counts, degree[:, None], out=np.zeros_like(counts), where=degree[:, None] > 0)
    return freq.astype(np.float32)


#: The shift scales ``iv_shift="auto"`` compares on validation.
AUTO_SHIFTS = (0.0, 1.0)


def _shifts(value) -> tuple[float, ...]:
    if isinstance(value, str):
        if value == "auto":
            return AUTO_SHIFTS
    elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return (float(value),)
    raise ValueError(
        f"The 'iv_shift' parameter must be a float in the range [0, inf) or 'auto'. "
        f"Got {value!r} instead."
    )


def iv4r_spec(est, dataset, mode: str, shift: float = 0.0) -> dict[str, Any]:
    return {
        "n_users": est.n_users_,
        "n_items": est.n_items_,
        "item_dim": est.embedding_dim,
        "iv_dim": est.iv_dim or est.embedding_dim,
        "field_levels": [int(v) for v in dataset.instrument_levels],
        "hidden_dim": est.iv_hidden_dim,
        "mode": mode,
        "ridge": float(est.ridge),
        "mlp0_layers": int(est.mlp0_layers),
        "head": str(est.iv_head),
        "item_init": float(est.iv_item_init),
        "shift": float(shift),
    }


def fit_iv4r_stage(est, dataset, val, rng, progress, mode: str, stage: str) -> IV4RMFNet:
    """Train IV4R-MF (the grid when ``est.grid``; every ``iv_shift`` candidate) as ``stage``.

    Each shift candidate starts from the same random stream, so they differ by the shift only;
    the one with the higher validation NDCG@5 is kept (ties: the first), its history rows stay
    ``selected`` and ``est.chosen_[stage]`` records its settings and ``iv_shift``.
    """
    shifts = _shifts(est.iv_shift)
    data = RecommenderData.from_dataset(dataset, val, est.device_)
    freq = torch.from_numpy(item_level_frequencies(dataset))
    seed = int(rng.integers(0, 2**62))
    best: tuple[float, IV4RMFNet | None, dict, dict, list] = (-np.inf, None, {}, {}, [])
    for shift in shifts:
        spec = iv4r_spec(est, dataset, mode, shift)

        def build(gen, spec=spec):
            net = IV4RMFNet(**spec)
            net.reset(gen)
            net.recon.item_level_freq.copy_(freq)
            return net

        start = len(est.history_)
        net = fit_recommender_stage(
            est,
            est.stage_params(RecommenderParams),
            build,
            data,
            np.random.default_rng(seed),
            progress,
            stage=stage,
        )
        rows = est.history_[start:]
        for row in rows:
            row["iv_shift"] = shift
        chosen = {**est.chosen_[stage], "iv_shift": shift}
        if best[1] is None or chosen["val_ndcg@5"] > best[0]:
            if best[1] is not None:
                for row in best[4]:
                    row["selected"] = False
            best = (chosen["val_ndcg@5"], net, spec, chosen, rows)
        else:
            for row in rows:
                row["selected"] = False
    _, net, spec, chosen, _ = best
    est.chosen_[stage] = chosen
    est._add_net(stage, net, spec)
    return net


class IV4RMF(BaseRecommender):
    """IV4R-MF: the treatment reconstruction of §4.1 inside MF, trained end to end with BCE."""

    Params = IV4RParams

    def _fit(self, dataset, val, progress, callback) -> None:
        rng = np.random.default_rng(self.seed)
        fit_iv4r_stage(self, dataset, val, rng, progress, "full", "recommender")

    def _score(self, users, items):
        return self.nets_["recommender"](users, items)

    def reconstruction(self) -> dict[str, np.ndarray]:
        """Every part of the fitted reconstruction (see ``TreatmentReconstruction.decompose``)."""
        with torch.no_grad():
            parts = self.nets_["recommender"].recon.decompose()
        return {k: v.detach().double().cpu().numpy() for k, v in parts.items()}
