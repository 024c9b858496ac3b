"""Torch module of the (identifiable) VAE over a user's exposure row (App. D.1, Eqs. 40-44)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ividr.models.base import mlp


def gaussian_kl(
    mean: torch.Tensor, log_var: torch.Tensor, prior_mean: torch.Tensor, prior_log_var: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean, e^log_var) || N(prior_mean, e^prior_log_var)) summed over dims, shape (B,)."""
    return 0.5 * (
        prior_log_var
        - log_var
        + (log_var.exp() + (mean - prior_mean).pow(2)) / prior_log_var.exp()
        - 1.0
    ).sum(-1)


class IVAENet(nn.Module):
    """iVAE: encoder q(C | A, W), learned prior p(C | W), Bernoulli decoder p(A | C).

    With ``learned_prior=False`` (and ``aux_dim=0``) it is the plain VAE: prior N(0, I), encoder
    q(C | A).

    Parameters
    ----------
    n_items : int
        Length of the exposure row A.
    aux_dim : int
        Width of the one-hot proxy W (0 for the VAE).
    latent_dim, hidden_dim, n_layers : int
        Every map (encoder mean, encoder log-variance, prior mean, prior log-variance, decoder)
        is an MLP with ``n_layers`` linear layers of width ``hidden_dim`` and LeakyReLU(0.2).
    learned_prior : bool
        Learn the prior's mean and log-variance from W (iVAE) or use N(0, I) (VAE).
    """

    def __init__(
        self,
        n_items: int,
        aux_dim: int,
        latent_dim: int,
        hidden_dim: int,
        n_layers: int,
        learned_prior: bool = True,
    ):
        super().__init__()
        self.n_items = n_items
        self.aux_dim = aux_dim
        self.latent_dim = latent_dim
        self.learned_prior = learned_prior
        self.enc_mean = mlp(n_items + aux_dim, hidden_dim, latent_dim, n_layers)
        self.enc_log_var = mlp(n_items + aux_dim, hidden_dim, latent_dim, n_layers)
        if learned_prior:
            self.prior_mean_net = mlp(aux_dim, hidden_dim, latent_dim, n_layers)
            self.prior_log_var_net = mlp(aux_dim, hidden_dim, latent_dim, n_layers)
        self.decoder = mlp(latent_dim, hidden_dim, n_items, n_layers)

    def encode(
        self,
        x: torch.Tensor,
        w: torch.Tensor | None,
        shift: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of q(C | x, w), each (B, latent_dim).

        ``shift = (t, P)`` encodes ``x + t @ P.T`` instead of ``x`` (IViDR's X^re, Eq. 10)
        without forming that dense (B, n_items) shift: the first layer's W_x (x + P t) is
        computed as W_x x + (W_x P) t.
        """
        if shift is None:
            xw = x if (w is None or self.aux_dim == 0) else torch.cat((x, w), dim=1)
            return self.enc_mean(xw), self.enc_log_var(xw)
        return self._shifted(self.enc_mean, x, w, shift), self._shifted(
            self.enc_log_var, x, w, shift
        )

    def _shifted(self, net: nn.Sequential, x, w, shift) -> torch.Tensor:
        """``net(cat(x + t @ P.T, w))`` with the first layer split into its x and w columns."""
        t, proj = shift
        first = net[0]
        w_x = first.weight[:, : self.n_items]
        h = x @ w_x.t() + t @ (w_x @ proj).t() + first.bias
        if w is not None and self.aux_dim:
            h = h + w @ first.weight[:, self.n_items :].t()
        return net[1:](h)

    def prior(self, w: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior mean and log-variance given W, each (B, latent_dim)."""
        if not self.learned_prior:
            zeros = torch.zeros(batch, self.latent_dim, device=self.decoder[0].weight.device)
            return zeros, zeros
        return self.prior_mean_net(w), self.prior_log_var_net(w)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Exposure logits, (B, n_items)."""
        return self.decoder(z)

    def posterior(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of C (the fused model overrides this)."""
        return self.encode(x, w)

    def readout(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior that is the confounder estimate: here the posterior itself (IViDR's
        fused net reads out the one its ``estimand`` names)."""
        return self.posterior(x, w, t)

    def loss(
        self,
        x: torch.Tensor,
        w: torch.Tensor | None,
        t: torch.Tensor | None,
        anneal: float,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Negative ELBO with the KL weighted by ``anneal``; ``generator`` is on ``x``'s device.

        Returns
        -------
        loss, reconstruction, kl : scalar tensors (means over the batch)
        """
        mean, log_var = self.posterior(x, w, t)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        z = mean + (0.5 * log_var).exp() * eps
        recon = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1)
        prior_mean, prior_log_var = self.prior(w, x.shape[0])
        kl = gaussian_kl(mean, log_var, prior_mean, prior_log_var)
        recon, kl = recon.mean(), kl.mean()
        return recon + anneal * kl, recon, kl
