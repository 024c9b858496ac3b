"""iDCF and iDCF-W: a latent stage (iVAE / VAE) then the latent-adjusted MF recommender."""

from __future__ import annotations

import numpy as np
import torch

from ividr.defaults import DEFAULT_RESTART_SCREEN_EPOCHS, DEFAULT_RESTARTS
from ividr.models.base import BaseRecommender
from ividr.models.idcf.net import LatentMFNet
from ividr.models.ivae.estimator import LATENT_DOC, fit_ivae
from ividr.models.mf.estimator import _RecommenderParams, fit_recommender_stage
from ividr.training import RecommenderData

HEAD_DOC = """
    n_samples : int, default 10
        Draws of C per training pair (iDCF: 10); the posterior mean at inference.
    standardize_latents : bool, default False
        Feed the recommender the latents standardised per dimension (z-scores over users, the
        posterior std divided alike) instead of iDCF's raw posterior.
    """


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
    __doc__ = (
        """iDCF (Zhang et al., KDD 2023): iVAE latents C, then ``MF(u, i) + C . c_i``.

    Parameters
    ----------"""
        + _RecommenderParams.doc
        + LATENT_DOC
        + HEAD_DOC
    )

    has_latents = True
    learned_prior = True

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
        latent_dim: int | None = None,
        hidden_dim: int = 64,
        n_layers: int = 3,
        latent_epochs: int = 1000,
        latent_lr: float = 5e-4,
        latent_weight_decay: float = 1e-6,
        latent_batch_size: int = 1024,
        latent_patience: int = 50,
        kl_anneal_epochs: int = 100,
        patience_from_start: bool = False,
        restarts: int = DEFAULT_RESTARTS,
        restart_screen_epochs: int = DEFAULT_RESTART_SCREEN_EPOCHS,
        stop_on: str = "elbo",
        beta_max: float = 1.0,
        l2_penalty: float = 0.0,
        val_fraction: float = 0.2,
        latent_grid: bool = False,
        n_samples: int = 10,
        standardize_latents: bool = False,
        device: str = "auto",
    ):
        for name, value in list(locals().items()):
            if name != "self":
                setattr(self, name, value)

    def _fit(self, dataset, val, progress, callback) -> None:
        rng = np.random.default_rng(self.seed)
        fit_ivae(self, dataset, rng, progress, callback)
        fit_latent_head(self, dataset, val, rng, progress)

    def _score(self, users, items):
        return self.nets_["recommender"](users, items)


class IDCFW(IDCF):
    __doc__ = (
        """iDCF-W: iDCF with a plain VAE (no proxy W, prior N(0, I)) in the latent stage.

    Parameters
    ----------"""
        + _RecommenderParams.doc
        + LATENT_DOC
        + HEAD_DOC
    )
    learned_prior = False
