"""The split-half shrinkage of a latent stage's confounder estimate toward its prior (issue 20).

Where the exposures carry little on C, the encoder's posterior mean moves away from the learned
prior mean mu_w(W) by the noise of each user's exposure row, and scores below the prior it
started from (docs/results/ividr_factors.md). :func:`shrink_toward_prior` measures how much of
that departure is a trait of the user: the same trained encoder reads each user's row twice,
once with only the first half of the items and once with only the second (one split of the
items for all users, drawn from the fit's seed); the correlation over users of the two halves'
departures, stepped up to the full row, is the departure's reliability per latent dimension,
and the estimate becomes ``mu_w + reliability * (posterior mean - mu_w)``
(:mod:`metrics.reliability`). Nothing is read from the truth, and the training is untouched.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from metrics.reliability import kelley_shrink, split_half_reliability

__all__ = ["SPLIT_STREAM", "item_halves", "shrink_toward_prior"]

#: Mixed into the fit's seed: the item split has a stream of its own, so shrinking draws nothing
#: from the fit's random stream and every later stage stays as it was.
SPLIT_STREAM = 0x5B1175


def item_halves(n_items: int, seed: int) -> np.ndarray:
    """Boolean mask of the first half of the items (n_items // 2 of them), drawn from ``seed``."""
    rng = np.random.default_rng([int(seed), SPLIT_STREAM])
    first = np.zeros(n_items, dtype=bool)
    first[rng.permutation(n_items)[: n_items // 2]] = True
    return first


def shrink_toward_prior(
    est,
    net,
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    *,
    seed: int,
    half_treatment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Replace ``est.user_latents_`` by its split-half shrinkage toward ``est.prior_mean_``.

    Parameters
    ----------
    est : BaseRecommender
        A fitted latent stage's estimator: ``user_latents_`` (the posterior mean that is the
        estimate) and ``prior_mean_`` (None: the prior N(0, I), whose mean is 0).
    net : IVAENet
        The kept net; its ``readout`` gives the estimate from rows.
    x, w, t : tensors
        The rows, proxy and (IViDR) user treatment the net was trained on.
    seed : int
        Draws the item split (:func:`item_halves`).
    half_treatment : callable, optional
        ``t`` of a half row matrix (IViDR's t_u depends on the row: recomputed from the half so
        that no noise of the full row is shared by the halves); None: ``t`` as it is.

    Sets ``est.unshrunk_latents_`` (the posterior mean before), ``est.user_latents_`` (after) and
    ``est.latent_reliability_`` ({"rule", "half_correlation", "reliability"}, per dimension).
    """
    first = torch.from_numpy(item_halves(x.shape[1], seed)).to(x.device)
    halves = []
    net.eval()
    with torch.no_grad():
        for keep in (first, ~first):
            rows = x * keep.to(x.dtype)
            treatment = t if half_treatment is None else half_treatment(rows)
            halves.append(net.readout(rows, w, treatment)[0].double().cpu().numpy())
    posterior = est.user_latents_
    center = est.prior_mean_ if est.prior_mean_ is not None else np.zeros_like(posterior)
    report = split_half_reliability(halves[0], halves[1], center)
    est.unshrunk_latents_ = posterior
    est.user_latents_ = kelley_shrink(center, posterior, report["reliability"])
    est.latent_reliability_ = {"rule": "split_half", **report}
