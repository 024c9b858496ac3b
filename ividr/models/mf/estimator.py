"""MF and MF-WF estimators, and the recommender-stage helper every model shares."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ividr.hyperparams import MFParams
from ividr.models.base import BaseRecommender, torch_generator
from ividr.models.mf.net import MFNet, MFWFNet
from ividr.torch_utils import device_generator
from ividr.training import LR_GRID, WD_GRID, RecommenderData, search_recommender, train_recommender


def fit_recommender_stage(
    est: BaseRecommender,
    build,
    data: RecommenderData,
    rng: np.random.Generator,
    progress,
    stage: str = "recommender",
) -> torch.nn.Module:
    """Train one recommender net (or the lr x weight-decay grid when ``est.grid``).

    ``build(generator)`` returns a freshly initialised net, on the CPU (initialised from the
    CPU generator); it is moved to ``data``'s device and trained there, with batches and samples
    drawn from :func:`~ividr.torch_utils.device_generator` (the CPU generator itself on the
    CPU). The history rows are appended to ``est.history_`` and the chosen hyperparameters
    stored in ``est.chosen_[stage]``.
    """
    common = dict(
        epochs=est.epochs,
        patience=est.patience,
        batch_size=est.batch_size,
        stage=stage,
        progress=progress,
        loss=est.loss,
    )
    if est.grid:
        net, chosen, rows = search_recommender(
            build, data, rng=rng, lrs=LR_GRID, wds=WD_GRID, **common
        )
    else:
        gen = torch_generator(rng)
        net = build(gen).to(data.device)
        rows, best = train_recommender(
            net,
            data,
            lr=est.lr,
            weight_decay=est.weight_decay,
            generator=device_generator(gen, data.device),
            **common,
        )
        for row in rows:
            row["selected"] = True
        chosen = {"lr": est.lr, "weight_decay": est.weight_decay, "val_ndcg@5": best}
    est.history_.extend(rows)
    est.chosen_[stage] = chosen
    return net


class MF(BaseRecommender):
    """Matrix factorisation (Eq. 23) trained with BCE on positive = rating >= 4."""

    Params = MFParams

    def _spec(self, dataset) -> dict[str, Any]:
        return {"n_users": self.n_users_, "n_items": self.n_items_, "dim": self.embedding_dim}

    def _make(self, spec: dict[str, Any], dataset) -> torch.nn.Module:
        return MFNet(**spec)

    def _fit(self, dataset, val, progress, callback) -> None:
        rng = np.random.default_rng(self.seed)
        data = RecommenderData.from_dataset(dataset, val, self.device_)
        spec = self._spec(dataset)

        def build(gen):
            net = self._make(spec, dataset)
            net.reset(gen)
            return net

        net = fit_recommender_stage(self, build, data, rng, progress)
        self._add_net("recommender", net, spec)

    def _score(self, users, items):
        return self.nets_["recommender"](users, items)


class MFWF(MF):
    """MF with user-feature embeddings (iDCF's MF-WF) over the instrument fields Z."""

    def _spec(self, dataset) -> dict[str, Any]:
        spec = super()._spec(dataset)
        spec["field_levels"] = [int(v) for v in dataset.instrument_levels]
        return spec

    def _make(self, spec, dataset):
        net = MFWFNet(**spec)
        if dataset is not None:
            offsets = np.concatenate([[0], np.cumsum(spec["field_levels"])[:-1]])
            codes = np.asarray(dataset.instrument, dtype=np.int64) + offsets[None, :]
            net.user_codes.copy_(torch.from_numpy(codes.astype(np.int64)))
        return net
