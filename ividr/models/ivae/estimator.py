"""VAE and iVAE estimators, and :func:`fit_ivae`, the (i)VAE latent stage of iDCF too."""

from __future__ import annotations

import numpy as np
import torch

from ividr.hyperparams import LatentModelParams, LatentParams
from ividr.models.base import BaseRecommender
from ividr.models.ivae.net import IVAENet
from ividr.training.stages import fit_latent_search, latent_inputs, resolve_latent_dim


def fit_ivae(est: BaseRecommender, dataset, rng: np.random.Generator, progress, callback) -> None:
    """Build and train the (i)VAE of ``est`` on the dataset's exposure rows; keep it as "latent".

    A learned prior p(C | W) when ``est.learned_prior``, else N(0, I) and no W (the VAE).
    """
    x, w = latent_inputs(dataset, est.device_)
    spec = {
        "n_items": est.n_items_,
        "aux_dim": int(w.shape[1]) if est.learned_prior else 0,
        "latent_dim": resolve_latent_dim(est.latent_dim, dataset),
        "hidden_dim": est.hidden_dim,
        "n_layers": est.n_layers,
        "learned_prior": est.learned_prior,
    }
    net = IVAENet(**spec)
    net = fit_latent_search(
        est,
        est.stage_params(LatentParams),
        est.seed,
        net,
        x,
        w if est.learned_prior else None,
        None,
        rng,
        progress,
        callback,
    )
    est._add_net("latent", net, spec)


class _LatentModel(BaseRecommender):
    Params = LatentModelParams
    has_latents = True
    learned_prior = True

    def _fit(self, dataset, val, progress, callback) -> None:
        fit_ivae(self, dataset, np.random.default_rng(self.seed), progress, callback)

    def _score(self, users, items):
        """Exposure logit of the decoder at the user's posterior mean (a latent-only model)."""
        net = self.nets_["latent"]
        uniq, inv = torch.unique(users, return_inverse=True)
        mean = torch.from_numpy(self.user_latents_).float().to(uniq.device)[uniq]
        logits = net.decode(mean)
        return logits[inv, items]


class IVAE(_LatentModel):
    """iVAE over the exposure rows: q(C | A, W), learned prior p(C | W), p(A | C) Bernoulli.

    Its ``score`` ranks by the decoder's exposure probability at the posterior mean: a
    latent-only model, reported for its latents (MCC) rather than as a recommender."""


class VAE(_LatentModel):
    """VAE over the exposure rows: q(C | A), prior N(0, I), p(A | C) Bernoulli (no W)."""

    learned_prior = False
