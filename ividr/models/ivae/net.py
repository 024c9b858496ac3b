"""Torch module of the (identifiable) VAE over a user's exposure row (App. D.1, Eqs. 40-44)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ividr.models.base import mlp

#: Below this share of non-zero entries an exposure batch enters the encoder as a sparse sum
#: of weight columns (an embedding bag) instead of a dense matrix product.
SPARSE_INPUT_DENSITY = 0.25


def rows_times_columns(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` for a batch of mostly-zero rows ``x`` (B, n) and ``weight`` (h, n).

    Exposure rows are 90-95% zeros on the simulated data: summing the weight columns of each
    row's non-zero entries (``F.embedding_bag``) does a few percent of the dense product's work,
    in the forward and the backward pass. The same value as the dense product up to float
    rounding; dense rows take the dense product.
    """
    if SPARSE_INPUT_DENSITY <= 0 or int(torch.count_nonzero(x)) > SPARSE_INPUT_DENSITY * x.numel():
        return x @ weight.t()
    rows, cols = x.nonzero(as_tuple=True)
    counts = torch.bincount(rows, minlength=x.shape[0])
    offsets = torch.cumsum(counts, 0) - counts
    return F.embedding_bag(cols, weight.t(), offsets, mode="sum", per_sample_weights=x[rows, cols])


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
        without forming that dense (B, n_items) matrix: the first layer's W_x (x + P t) is
        computed as W_x x + (W_x P) t.
        """
        return self._encoder(self.enc_mean, x, w, shift), self._encoder(
            self.enc_log_var, x, w, shift
        )

    def _encoder(self, net: nn.Sequential, x, w, shift) -> torch.Tensor:
        """``net(cat(x, w))`` with the first layer split into its x and w columns (no cat)."""
        first = net[0]
        w_x = first.weight[:, : self.n_items]
        h = rows_times_columns(x, w_x) + first.bias
        if w is not None and self.aux_dim:
            h = h + w @ first.weight[:, self.n_items :].t()
        if shift is not None:
            t, proj = shift
            h = h + t @ (w_x @ proj).t()
        return net[1:](h)

    def prior(self, w: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior mean and log-variance given W, each (B, latent_dim)."""
        if not self.learned_prior:
            zeros = torch.zeros(batch, self.latent_dim)
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

    def loss(
        self,
        x: torch.Tensor,
        w: torch.Tensor | None,
        t: torch.Tensor | None,
        anneal: float,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Negative ELBO with the KL weighted by ``anneal``.

        Returns
        -------
        loss, reconstruction, kl : scalar tensors (means over the batch)
        """
        mean, log_var = self.posterior(x, w, t)
        eps = torch.randn(mean.shape, generator=generator)
        z = mean + (0.5 * log_var).exp() * eps
        recon = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1)
        prior_mean, prior_log_var = self.prior(w, x.shape[0])
        kl = gaussian_kl(mean, log_var, prior_mean, prior_log_var)
        recon, kl = recon.mean(), kl.mean()
        return recon + anneal * kl, recon, kl
