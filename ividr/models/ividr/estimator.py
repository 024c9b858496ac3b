"""IViDR (§4.1 -> §4.2 -> Eq. 24) and its ablations IViDR-T, -F, -R.

Staged reading of the paper (ours; docs/design.md §4):

1. IV4R-MF is trained with BCE (its reconstruction in the variant's mode: "full" a1 T^ + a2 T~,
   "t" MLP0(T_j), "f" a1 T^, "r" a2 T~).
2. The fused iVAE is trained on A, W and t_u = mean of the (detached) T^re_j over the user's
   interacted items, with the learned map P inside it (Eq. 10).
3. The recommender ``phi * C . c_i + lam * MF(u, i)`` (Eq. 24) is trained with C drawn from the
   fused posterior (its mean at inference).
"""

from __future__ import annotations

import numpy as np
import torch

from ividr.hyperparams import IViDRParams, LatentHeadParams, LatentParams, RecommenderParams
from ividr.models.base import BaseRecommender
from ividr.models.iv4r.estimator import fit_iv4r_stage
from ividr.models.ividr.net import FusedIVAENet
from ividr.training.shrinkage import shrink_toward_prior
from ividr.training.stages import (
    fit_latent_head,
    fit_latent_search,
    latent_inputs,
    resolve_latent_dim,
)
from ividr.training.treatments import rows_mean_treatment, treatment_input, user_mean_treatment


class IViDR(BaseRecommender):
    """IViDR: IV treatment reconstruction, fused iVAE, latent-adjusted MF (Eq. 24)."""

    Params = IViDRParams
    has_latents = True

    def _fit(self, dataset, val, progress, callback) -> None:
        rng = np.random.default_rng(self.seed)
        self._fit_treatments(dataset, val, rng, progress)
        self._fit_latent(dataset, rng, progress, callback)
        self._fit_head(dataset, val, rng, progress)

    def _fit_treatments(self, dataset, val, rng, progress) -> None:
        """Stage 1: IV4R-MF; sets ``item_treatment_`` (T^re_j of every item) and
        ``user_treatment_`` (t_u of every user)."""
        stage1 = fit_iv4r_stage(self, dataset, val, rng, progress, self.variant, "iv4r")
        with torch.no_grad():
            self.item_treatment_ = stage1.recon().double().cpu().numpy()
        self.user_treatment_ = user_mean_treatment(dataset, self.item_treatment_)

    def _fit_latent(self, dataset, rng, progress, callback) -> None:
        """Stage 2: the fused iVAE on A, W and ``user_treatment_`` (in ``user_treatment``'s
        form); sets the latents (:func:`~ividr.training.stages.export_latents`)."""
        x, w = latent_inputs(dataset, self.device_)
        t_in = treatment_input(self.user_treatment_, self.user_treatment, rng)
        t = torch.from_numpy(t_in).float().to(self.device_)
        spec = {
            "n_items": self.n_items_,
            "aux_dim": int(w.shape[1]),
            "latent_dim": resolve_latent_dim(self.latent_dim, dataset),
            "hidden_dim": self.hidden_dim,
            "n_layers": self.n_layers,
            "iv_dim": int(t_in.shape[1]),
            "rho": float(self.rho),
            "tau": float(self.tau),
        }
        net = self._latent_net(spec, rng)
        net = fit_latent_search(
            self, self.stage_params(LatentParams), self.seed, net, x, w, t, rng, progress, callback
        )
        self._add_net("latent", net, spec)
        if self.latent_shrinkage == "split_half":
            shrink_toward_prior(
                self, net, x, w, t, seed=self.seed, half_treatment=self._half_treatment
            )

    def _half_treatment(self, rows: torch.Tensor) -> torch.Tensor:
        """t_u of half rows in ``user_treatment``'s form (the split-half shrinkage)."""
        mean = rows_mean_treatment(rows.cpu().numpy(), self.item_treatment_)
        t_in = treatment_input(mean, self.user_treatment, np.random.default_rng(self.seed))
        return torch.from_numpy(t_in).float().to(rows.device)

    def _fit_head(self, dataset, val, rng, progress) -> None:
        """Stage 3: Eq. 24 with C from the latent stage's estimate."""
        fit_latent_head(
            self,
            self.stage_params(LatentHeadParams),
            self.stage_params(RecommenderParams),
            dataset,
            val,
            rng,
            progress,
            phi=self.phi,
            lam=self.lam,
        )

    def _latent_net(self, spec: dict, rng: np.random.Generator) -> FusedIVAENet:
        """Stage 2's net built from ``spec`` (a hook: the audit variant ``ividr-released``
        builds its own net here and adds its keys to ``spec``, which the model file saves)."""
        # Settings at their paper value stay out of the spec, so older model files still load.
        if self.estimand != "fused":
            spec["estimand"] = self.estimand
        return FusedIVAENet(**spec)

    def _score(self, users, items):
        return self.nets_["recommender"](users, items)
