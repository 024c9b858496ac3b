"""Torch module of IViDR's fused iVAE (§4.2, Eqs. 10, 15, 16)."""

from __future__ import annotations

import torch
from torch import nn

from ividr.models.ivae.net import IVAENet


class FusedIVAENet(IVAENet):
    """One encoder read twice, one decoder, one prior.

    ``X^re_u = A_u + P t_u`` (Eq. 10) with ``t_u`` the mean reconstructed treatment of the items
    the user interacted with (a fixed input, computed from stage 1) and ``P`` a learned linear
    map R^{iv_dim} -> R^{n_items}. The shared encoder gives q(C1 | X^re, W) = N(mu1, s1^2) and
    q(C2 | A, W) = N(mu2, s2^2); the fused C = rho C1 + tau C2 has the posterior
    N(rho mu1 + tau mu2, rho^2 s1^2 + tau^2 s2^2), whose draw is decoded into A and whose KL is
    taken against the prior p(C | W). With rho = 0 and tau = 1 it is the iVAE.

    Parameters
    ----------
    n_items, aux_dim, latent_dim, hidden_dim, n_layers : int
        As :class:`IVAENet`.
    iv_dim : int
        Dimension of t_u.
    rho, tau : float
        Fusion weights (Eq. 15).
    estimand : {"fused", "shifted", "plain"}
        The posterior :meth:`readout` returns (the confounder estimate): the fused one, C1's or
        C2's. Training always uses the fused posterior.
    """

    def __init__(
        self,
        n_items: int,
        aux_dim: int,
        latent_dim: int,
        hidden_dim: int,
        n_layers: int,
        iv_dim: int,
        rho: float = 0.9,
        tau: float = 0.9,
        estimand: str = "fused",
    ):
        super().__init__(n_items, aux_dim, latent_dim, hidden_dim, n_layers, learned_prior=True)
        self.rho = rho
        self.tau = tau
        self.estimand = estimand
        self.proj = nn.Linear(iv_dim, n_items, bias=False)

    def reset_projection(self) -> None:
        """Start P at zero, so that X^re = X until the ELBO finds a use for the treatments."""
        nn.init.zeros_(self.proj.weight)

    def branches(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Mean and log-variance of q(C1 | X^re, W) ("shifted") and q(C2 | A, W) ("plain")."""
        return {
            "shifted": self.encode(x, w, shift=(t, self.proj.weight)),  # X^re = X + P t
            "plain": self.encode(x, w),
        }

    def posterior(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused posterior mean and log-variance, each (B, latent_dim)."""
        if self.rho == 0.0:
            # C1 has weight 0: the fused posterior is q(C2 | A, W) itself (exactly the iVAE).
            mean2, log_var2 = self.encode(x, w)
            return self.tau * mean2, log_var2 + 2.0 * torch.log(torch.tensor(abs(self.tau)))
        parts = self.branches(x, w, t)
        return self.fuse(parts["shifted"], parts["plain"])

    def fuse(
        self, first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """N(rho mu1 + tau mu2, rho^2 s1^2 + tau^2 s2^2) from the two branches (Eq. 15)."""
        (mean1, log_var1), (mean2, log_var2) = first, second
        mean = self.rho * mean1 + self.tau * mean2
        var = self.rho**2 * log_var1.exp() + self.tau**2 * log_var2.exp()
        return mean, var.log()

    def readout(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior named by ``estimand``: the confounder estimate, (B, latent_dim) each."""
        if self.estimand == "fused":
            return self.posterior(x, w, t)
        return self.branches(x, w, t)[self.estimand]

    def estimates(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Every candidate estimand's posterior mean, by name (for diagnostics)."""
        parts = self.branches(x, w, t)
        fused = self.fuse(parts["shifted"], parts["plain"])[0]
        return {"fused": fused, **{name: mean for name, (mean, _) in parts.items()}}
