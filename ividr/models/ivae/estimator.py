"""VAE and iVAE estimators, and the latent-stage helper shared by iDCF and IViDR."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ividr.models.base import BaseRecommender, reset_parameters, torch_generator
from ividr.models.ivae.net import IVAENet
from ividr.training import train_latent

LATENT_DOC = """
    latent_dim : int or None, default None
        Dimension of C; None takes the true confounder's dimension when the dataset carries
        one (simulated data) and 16 otherwise.
    hidden_dim : int, default 64
        Width of every MLP (encoder, prior, decoder).
    n_layers : int, default 3
        Linear layers per MLP.
    latent_epochs : int, default 1000
        Maximum epochs of the latent stage.
    latent_lr : float, default 1e-3
    latent_weight_decay : float, default 1e-6
    latent_batch_size : int, default 1024
        Users per step.
    latent_patience : int, default 50
        Epochs without a better held-out negative ELBO (counted after the annealing).
    kl_anneal_epochs : int, default 100
        Epochs over which the KL weight grows linearly from 0 to ``beta_max``.
    beta_max : float, default 1.0
    l2_penalty : float, default 0.0
        Weight of the sum of parameter norms added to the loss (iDCF's ``l2_penalty``).
    val_fraction : float, default 0.2
        Share of users held out of the latent fit for its early stopping (iDCF: 0.2).
    """

LATENT_DEFAULTS: dict[str, Any] = {
    "latent_dim": None,
    "hidden_dim": 64,
    "n_layers": 3,
    "latent_epochs": 1000,
    "latent_lr": 1e-3,
    "latent_weight_decay": 1e-6,
    "latent_batch_size": 1024,
    "latent_patience": 50,
    "kl_anneal_epochs": 100,
    "beta_max": 1.0,
    "l2_penalty": 0.0,
    "val_fraction": 0.2,
}


def resolve_latent_dim(latent_dim: int | None, dataset) -> int:
    """The latent dimension to use (see ``latent_dim`` above)."""
    if latent_dim is not None:
        return int(latent_dim)
    truth = getattr(dataset, "confounder", None)
    return int(truth.shape[1]) if truth is not None else 16


def latent_inputs(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Exposure rows A (n_users, n_items) and one-hot proxy W, as float32 tensors."""
    return torch.from_numpy(dataset.exposure()), torch.from_numpy(dataset.proxy_onehot())


def fit_latent_stage(
    est: BaseRecommender,
    net: IVAENet,
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    rng: np.random.Generator,
    progress,
    callback,
    stage: str = "latent",
) -> None:
    """Initialise and train ``net`` with the estimator's latent hyperparameters; export latents.

    Sets ``est.user_latents_`` (posterior mean), ``est.latent_std_`` and, for a learned prior,
    ``est.prior_mean_``; appends the epochs to ``est.history_``. The checkpoint rule is
    ``est.stop_on`` when set (``fit_model`` sets it from ``FitConfig.stop_on``), else "elbo".
    """
    reset_parameters(net, torch_generator(rng))
    if hasattr(net, "reset_projection"):
        net.reset_projection()

    def on_epoch(epoch: int):
        if callback is None:
            return None
        export_latents(est, net, x, w, t)
        return callback(epoch, est)

    rows = train_latent(
        net,
        x,
        w,
        t,
        epochs=est.latent_epochs,
        lr=est.latent_lr,
        weight_decay=est.latent_weight_decay,
        batch_size=est.latent_batch_size,
        patience=est.latent_patience,
        kl_anneal_epochs=est.kl_anneal_epochs,
        beta_max=est.beta_max,
        l2_penalty=est.l2_penalty,
        val_fraction=est.val_fraction,
        rng=rng,
        stage=stage,
        progress=progress,
        on_epoch=on_epoch,
        stop_on=getattr(est, "stop_on", "elbo"),
    )
    for row in rows:
        row["selected"] = True
    est.history_.extend(rows)
    export_latents(est, net, x, w, t)


def export_latents(est, net: IVAENet, x, w, t) -> None:
    """Posterior mean/std of every user, and the prior mean mu_w(W), as numpy on ``est``."""
    net.eval()
    with torch.no_grad():
        mean, log_var = net.posterior(x, w, t)
        est.user_latents_ = mean.double().numpy()
        est.latent_std_ = (0.5 * log_var).exp().double().numpy()
        if net.learned_prior:
            est.prior_mean_ = net.prior(w, x.shape[0])[0].double().numpy()
        else:
            est.prior_mean_ = None


def fit_ivae(est: BaseRecommender, dataset, rng: np.random.Generator, progress, callback) -> None:
    """Build and train the (i)VAE of ``est`` on the dataset's exposure rows; keep it as "latent".

    A learned prior p(C | W) when ``est.learned_prior``, else N(0, I) and no W (the VAE).
    """
    x, w = latent_inputs(dataset)
    spec = {
        "n_items": est.n_items_,
        "aux_dim": int(w.shape[1]) if est.learned_prior else 0,
        "latent_dim": resolve_latent_dim(est.latent_dim, dataset),
        "hidden_dim": est.hidden_dim,
        "n_layers": est.n_layers,
        "learned_prior": est.learned_prior,
    }
    net = IVAENet(**spec)
    fit_latent_stage(est, net, x, w if est.learned_prior else None, None, rng, progress, callback)
    est._add_net("latent", net, spec)


class _LatentModel(BaseRecommender):
    has_latents = True
    learned_prior = True

    def __init__(
        self,
        *,
        seed: int = 0,
        latent_dim: int | None = None,
        hidden_dim: int = 64,
        n_layers: int = 3,
        latent_epochs: int = 1000,
        latent_lr: float = 1e-3,
        latent_weight_decay: float = 1e-6,
        latent_batch_size: int = 1024,
        latent_patience: int = 50,
        kl_anneal_epochs: int = 100,
        beta_max: float = 1.0,
        l2_penalty: float = 0.0,
        val_fraction: float = 0.2,
    ):
        self.seed = seed
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.latent_epochs = latent_epochs
        self.latent_lr = latent_lr
        self.latent_weight_decay = latent_weight_decay
        self.latent_batch_size = latent_batch_size
        self.latent_patience = latent_patience
        self.kl_anneal_epochs = kl_anneal_epochs
        self.beta_max = beta_max
        self.l2_penalty = l2_penalty
        self.val_fraction = val_fraction

    def _fit(self, dataset, val, progress, callback) -> None:
        fit_ivae(self, dataset, np.random.default_rng(self.seed), progress, callback)

    def _score(self, users, items):
        """Exposure logit of the decoder at the user's posterior mean (a latent-only model)."""
        net = self.nets_["latent"]
        uniq, inv = torch.unique(users, return_inverse=True)
        mean = torch.from_numpy(self.user_latents_).float()[uniq]
        logits = net.decode(mean)
        return logits[inv, items]


class IVAE(_LatentModel):
    __doc__ = (
        """iVAE over the exposure rows: q(C | A, W), learned prior p(C | W), p(A | C) Bernoulli.

    Its ``score`` ranks by the decoder's exposure probability at the posterior mean: a
    latent-only model, reported for its latents (MCC) rather than as a recommender.

    Parameters
    ----------
    seed : int, default 0"""
        + LATENT_DOC
    )


class VAE(_LatentModel):
    __doc__ = (
        """VAE over the exposure rows: q(C | A), prior N(0, I), p(A | C) Bernoulli (no W).

    Parameters
    ----------
    seed : int, default 0"""
        + LATENT_DOC
    )
    learned_prior = False
