"""iDCF and iDCF-W: a latent stage (iVAE / VAE) then the latent-adjusted MF recommender."""

from __future__ import annotations

import numpy as np

from ividr.hyperparams import IDCFParams, LatentHeadParams, RecommenderParams
from ividr.models.base import BaseRecommender
from ividr.models.ivae.estimator import fit_ivae
from ividr.training.stages import fit_latent_head


class IDCF(BaseRecommender):
    """iDCF (Zhang et al., KDD 2023): iVAE latents C, then ``MF(u, i) + C . c_i``."""

    Params = IDCFParams

    has_latents = True
    learned_prior = True

    def _fit(self, dataset, val, progress, callback) -> None:
        rng = np.random.default_rng(self.seed)
        fit_ivae(self, dataset, rng, progress, callback)
        fit_latent_head(
            self,
            self.stage_params(LatentHeadParams),
            self.stage_params(RecommenderParams),
            dataset,
            val,
            rng,
            progress,
        )

    def _score(self, users, items):
        return self.nets_["recommender"](users, items)


class IDCFW(IDCF):
    """iDCF-W: iDCF with a plain VAE (no proxy W, prior N(0, I)) in the latent stage."""

    learned_prior = False
