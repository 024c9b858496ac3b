"""Model ``ividr-released``: an audit variant, the forward pass of the code released with IViDR.

This is **not IViDR** (docs/design.md §4.3). It documents what the latent stage of the code
published with the IViDR paper does (``models/ivivae.py``, ``iVAE.forward``, trained by
``IVERS_exposure.py`` and read out by ``IVERS_save_ae_params.py`` of the authors' repository), so
that its figures can be reproduced and set beside our reading of the paper (§4.2,
:class:`~ividr.models.ividr.net.FusedIVAENet`). It is our own code, written from reading theirs.

What the released forward pass does, per call (training steps, the validation loss and the
final read-out alike):

1. The "instrument input" of each user (see below) goes through an ``nn.Linear(width, n_items)``
   **created afresh** inside ``forward``: random (PyTorch's default initialisation), never
   trained (its parameters are not in the optimiser) and different on every call, the read-out
   of the saved latents included. Its output is added to the exposure row: ``X^re = A + L(t)``.
2. **One shared encoder** reads ``(X^re, W)`` and ``(A, W)``: posteriors N(mu1, s1^2) (the
   reconstructed branch) and N(mu2, s2^2).
3. **Two samples are fused**: ``z = 0.9 z1 + 0.9 z2`` with ``z1 ~ N(mu1, s1^2)`` and
   ``z2 ~ N(mu2, s2^2)`` drawn independently; ``z`` is decoded into the exposure row A
   (Bernoulli, the loss is the summed BCE with logits).
4. **The KL term covers only the reconstructed branch**: KL(N(mu1, s1^2) || p(C | W)), with the
   learned prior mean and log-variance; the fused variable's own posterior never enters.
5. **The saved latent is that branch's posterior mean** mu1 (and its std s1), from one more
   forward pass, hence one more fresh random layer.

The instrument input, and what we feed in its place. The released code feeds, for user u, row
u of a matrix of item ids cut from ``train.csv`` (its item column in file order, truncated to
``n_users * k`` entries and reshaped to ``(n_users, k)``, ``k = n_interactions // n_users``);
each id j is mapped to an instrument embedding (``query_vec1.npy``, for the simulated data a
fixed random linear map of the one-hot W to R^128, a table with one row per *user*, indexed
here by the *item* id), passed through a trained MLP ``phi`` and split into its projection on
that embedding and the residual, re-weighted by two trained sigmoid MLPs: an IV reconstructed
treatment per item (Eqs. 4-9), concatenated over the k items, so the fresh layer has width
``k * 128``. Our analogue is the per-user reconstructed treatment ``t_u`` that IViDR already
feeds to its learned map P (:func:`~ividr.training.treatments.user_mean_treatment`: the mean
of IV4R-MF's T^re_j over the items user u interacted with), width ``iv_dim`` (the IV4R
treatment dimension, ``embedding_dim`` = 64 by default). We use ``t_u`` rather than the one-hot
instrument Z because the released input is a reconstructed treatment of items, not the user's
own instrument row, and because with ``t_u`` this model differs from our IViDR *only* in the
forward pass under audit (fresh random layer instead of a learned P, KL on one branch, the
branch's mean scored), with the same stage 1 and stage 3.

Randomness: every draw of the fresh layer comes from the net's own ``torch.Generator``
(``projection_generator``), seeded at construction from ``projection_seed`` (part of the saved
net spec; the estimator draws it from the fit's seed) and advanced by every call, so the layer
differs between two calls while a whole fit is reproducible for a seed. Its weights and bias
are drawn as ``nn.Linear`` initialises them: U(-1/sqrt(width), 1/sqrt(width)). The generator is
a CPU one on every device: on a GPU each fresh layer is drawn on the CPU and copied over, so the
sequence of layers is the same whatever ``--device`` (a copy per call, in an audit variant).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from ividr.models.ivae.net import IVAENet, gaussian_kl
from ividr.models.ividr.estimator import IViDR

__all__ = ["IViDRReleased", "ReleasedFusedIVAENet"]


class ReleasedFusedIVAENet(IVAENet):
    """The released forward pass of IViDR's latent stage (an audit variant, not IViDR).

    Shared encoder, learned prior p(C | W), one decoder, as :class:`IVAENet`; the reconstructed
    input ``X^re = A + L(t)`` with ``L`` a linear layer drawn afresh on every call (see the
    module docstring). ``posterior`` returns the reconstructed branch's posterior (what is
    scored and saved); ``loss`` is the released objective.

    Parameters
    ----------
    n_items, aux_dim, latent_dim, hidden_dim, n_layers : int
        As :class:`IVAENet`.
    iv_dim : int
        Width of the instrument input t (the fresh layer is ``iv_dim -> n_items``).
    rho, tau : float, default 0.9, 0.9
        Weights of the two fused samples (0.9 and 0.9 in the released code).
    projection_seed : int, default 0
        Seeds ``projection_generator``, from which every fresh layer is drawn. A deep copy of
        the net (the latent stage's ``restarts``) copies the generator's state with it, so every
        restart sees the same sequence of fresh layers (each from its own initialisation).
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
        projection_seed: int = 0,
    ):
        super().__init__(n_items, aux_dim, latent_dim, hidden_dim, n_layers, learned_prior=True)
        self.iv_dim = int(iv_dim)
        self.rho = float(rho)
        self.tau = float(tau)
        self.projection_seed = int(projection_seed)
        self.projection_generator = torch.Generator()
        self.projection_generator.manual_seed(self.projection_seed)
        #: State of ``projection_generator`` before the latest draw: restoring it
        #: (``projection_generator.set_state``) replays the latest fresh layer.
        self.last_projection_state: torch.Tensor | None = None

    def fresh_projection(self, t: torch.Tensor | None) -> torch.Tensor:
        """``L(t)`` through a linear layer drawn now (never trained), shape (B, n_items)."""
        if t is None:
            raise ValueError("ReleasedFusedIVAENet needs the instrument input t (got None)")
        gen = self.projection_generator
        self.last_projection_state = gen.get_state()
        bound = 1.0 / math.sqrt(self.iv_dim)
        weight = torch.empty(self.n_items, self.iv_dim).uniform_(-bound, bound, generator=gen)
        bias = torch.empty(self.n_items).uniform_(-bound, bound, generator=gen)
        return t @ weight.to(t).T + bias.to(t)

    def posterior(
        self, x: torch.Tensor, w: torch.Tensor | None, t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reconstructed branch q(C1 | A + L(t), W): mean and log-variance, (B, latent_dim).

        Draws a fresh layer ``L``: two calls on the same input differ.
        """
        return self.encode(x + self.fresh_projection(t), w)

    def loss(
        self,
        x: torch.Tensor,
        w: torch.Tensor | None,
        t: torch.Tensor | None,
        anneal: float,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The released objective: BCE of the fused sample's decoding + anneal * KL(branch 1).

        One fresh layer per call; ``z = rho z1 + tau z2`` with ``z1`` drawn from the
        reconstructed branch and ``z2`` from the plain one (in that order, from ``generator``);
        the KL is that of the reconstructed branch alone against the prior p(C | W).

        Returns
        -------
        loss, reconstruction, kl : scalar tensors (means over the batch)
        """
        mean1, log_var1 = self.posterior(x, w, t)
        mean2, log_var2 = self.encode(x, w)
        eps1 = torch.randn(mean1.shape, generator=generator, device=mean1.device)
        eps2 = torch.randn(mean2.shape, generator=generator, device=mean2.device)
        z1 = mean1 + (0.5 * log_var1).exp() * eps1
        z2 = mean2 + (0.5 * log_var2).exp() * eps2
        z = self.rho * z1 + self.tau * z2
        recon = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1)
        prior_mean, prior_log_var = self.prior(w, x.shape[0])
        kl = gaussian_kl(mean1, log_var1, prior_mean, prior_log_var)
        recon, kl = recon.mean(), kl.mean()
        return recon + anneal * kl, recon, kl


class IViDRReleased(IViDR):
    __doc__ = """Audit variant ``ividr-released`` (not IViDR): the released latent forward pass.

    **Not IViDR** (docs/design.md §4.3): it documents what the code released with the IViDR paper
    does in its latent stage (:class:`ReleasedFusedIVAENet`: a fresh random untrained layer on every
    call, two samples fused, KL on one branch, that branch's mean scored). Stage 1 (IV4R-MF) and
    stage 3 (Eq. 24 on the saved latents) are IViDR's; ``variant`` is "full" in the registry. The
    fresh layers are drawn from a generator seeded by ``projection_seed``, an integer drawn from the
    fit's seed just before the latent stage (saved in the net spec).
    """ + IViDR.__doc__.split("\n", 1)[1]

    def _latent_net(self, spec: dict, rng: np.random.Generator) -> ReleasedFusedIVAENet:
        spec["projection_seed"] = int(rng.integers(0, 2**62))
        return ReleasedFusedIVAENet(**spec)
