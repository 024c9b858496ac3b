"""iDCF and iDCF-W: a latent stage (iVAE / VAE) then the latent-adjusted MF recommender."""

from __future__ import annotations

import numpy as np
import torch

from ividr.hyperparams import IDCFParams
from ividr.models.base import BaseRecommender
from ividr.models.idcf.net import LatentMFNet
from ividr.models.ivae.estimator import fit_ivae
from ividr.models.mf.estimator import fit_recommender_stage
from ividr.training import RecommenderData


def fit_latent_head(est, dataset, val, rng, progress, phi: float = 1.0, lam: float = 1.0):
    """Stage 3 / iDCF's second stage: LatentMFNet on ``est.user_latents_`` and ``latent_std_``."""
    data = RecommenderData.from_dataset(dataset, val, est.device_)
    spec = {
        "n_users": est.n_users_,
        "n_items": est.n_items_,
        "dim": est.embedding_dim,
        "latent_dim": int(est.user_latents_.shape[1]),
        "n_samples": est.n_samples,
        "phi": float(phi),
        "lam": float(lam),
    }
    center = np.zeros(est.user_latents_.shape[1])
    scale = np.ones(est.user_latents_.shape[1])
    if est.standardize_latents:
        # C . c_i with C standardised per dimension spans the same functions (c_i absorbs the
        # scale, the item bias the shift) but puts the latent term on the MF term's scale.
        center = est.user_latents_.mean(axis=0)
        scale = est.user_latents_.std(axis=0) + 1e-8
    mean = torch.from_numpy((est.user_latents_ - center) / scale).float()
    std = torch.from_numpy(est.latent_std_ / scale).float()

    def build(gen):
        net = LatentMFNet(**spec)
        net.reset(gen)
        net.latent_mean.copy_(mean)
        net.latent_std.copy_(std)
        return net

    net = fit_recommender_stage(est, build, data, rng, progress)
    est._add_net("recommender", net, spec)


class IDCF(BaseRecommender):
    """iDCF (Zhang et al., KDD 2023): iVAE latents C, then ``MF(u, i) + C . c_i``."""

    Params = IDCFParams

    has_latents = True
    learned_prior = True

    def _fit(self, dataset, val, progress, callback) -> None:
        rng = np.random.default_rng(self.seed)
        fit_ivae(self, dataset, rng, progress, callback)
        fit_latent_head(self, dataset, val, rng, progress)

    def _score(self, users, items):
        return self.nets_["recommender"](users, items)


class IDCFW(IDCF):
    """iDCF-W: iDCF with a plain VAE (no proxy W, prior N(0, I)) in the latent stage."""

    learned_prior = False
