"""MF and MF-WF estimators, and the recommender-stage helper every model shares."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ividr.models.base import DEVICE_DOC, BaseRecommender, torch_generator
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


class _RecommenderParams:
    """Docstring fragment shared by the MF-family estimators."""

    doc = (
        """
    seed : int, default 0
        Seeds initialisation, batch order, sampling and the validation split.
    epochs : int, default 100
        Maximum epochs of the recommender stage.
    lr : float, default 1e-3
        Adam learning rate (ignored when ``grid``).
    weight_decay : float, default 1e-5
        Adam weight decay (ignored when ``grid``).
    embedding_dim : int, default 64
    batch_size : int or None, default None
        Pairs per step; None picks 512 (iDCF) or more so that an epoch has at most ~100 steps.
    patience : int, default 5
        Epochs without a better validation NDCG@5 before stopping.
    grid : bool, default False
        Search lr in {1e-3, 5e-4, 1e-4, 5e-5, 1e-5} x weight decay in {1e-5, 1e-6} on
        validation NDCG@5.
    loss : {"bce", "mse"}, default "bce"
        Binary cross-entropy on the logit (Eq. 25) or, as iDCF's released code does, squared
        error between the raw score and the 0/1 label.
    """
        + DEVICE_DOC
    )


class MF(BaseRecommender):
    __doc__ = (
        """Matrix factorisation (Eq. 23) trained with BCE on positive = rating >= 4.

    Parameters
    ----------"""
        + _RecommenderParams.doc
    )

    def __init__(
        self,
        *,
        seed: int = 0,
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        embedding_dim: int = 64,
        batch_size: int | None = None,
        patience: int = 5,
        grid: bool = False,
        loss: str = "bce",
        device: str = "auto",
    ):
        self.seed = seed
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.embedding_dim = embedding_dim
        self.batch_size = batch_size
        self.patience = patience
        self.grid = grid
        self.loss = loss
        self.device = device

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
    __doc__ = (
        """MF with user-feature embeddings (iDCF's MF-WF) over the instrument fields Z.

    Parameters
    ----------"""
        + _RecommenderParams.doc
    )

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
