"""Torch module of the latent-adjusted recommender (iDCF, iDCF-W, IViDR's Eq. 24)."""

from __future__ import annotations

import torch
from torch import nn

from ividr.models.base import init_embedding
from ividr.models.mf.net import MFNet


class LatentMFNet(nn.Module):
    """``f(u, i, C) = phi * C . c_i + lam * MF(u, i)`` (a logit).

    While training (a ``generator`` is passed) C is drawn ``n_samples`` times from the user's
    posterior N(mean, std^2) and the latent term averaged over the draws (iDCF); at inference C is
    the posterior mean.

    Parameters
    ----------
    n_users, n_items, dim : int
        MF sizes.
    latent_dim : int
    n_samples : int
    phi, lam : float
        Weights of the latent term and of MF (Eq. 24).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        latent_dim: int,
        n_samples: int = 10,
        phi: float = 1.0,
        lam: float = 1.0,
    ):
        super().__init__()
        self.mf = MFNet(n_users, n_items, dim)
        self.item_latent = nn.Embedding(n_items, latent_dim)
        self.n_samples = n_samples
        self.phi = phi
        self.lam = lam
        self.register_buffer("latent_mean", torch.zeros(n_users, latent_dim))
        self.register_buffer("latent_std", torch.zeros(n_users, latent_dim))

    def reset(self, generator: torch.Generator) -> None:
        self.mf.reset(generator)
        init_embedding(self.item_latent, generator)

    def forward(self, users: torch.Tensor, items: torch.Tensor, generator=None) -> torch.Tensor:
        c_i = self.item_latent(items)
        mean = self.latent_mean[users]
        if generator is None:
            c = mean
        else:
            std = self.latent_std[users]
            eps = torch.randn(
                (self.n_samples, *mean.shape), generator=generator, device=mean.device
            )
            c = (mean + std * eps).mean(0)  # the dot product is linear in C
        return self.phi * (c * c_i).sum(-1) + self.lam * self.mf(users, items)
