"""MF and MF-WF estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ividr.hyperparams import MFParams, RecommenderParams
from ividr.models.base import BaseRecommender
from ividr.models.mf.net import MFNet, MFWFNet
from ividr.training.loops import RecommenderData
from ividr.training.stages import fit_recommender_stage


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

        net = fit_recommender_stage(
            self, self.stage_params(RecommenderParams), build, data, rng, progress
        )
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
