"""VAE and iVAE estimators, and the latent-stage helper shared by iDCF and IViDR."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from ividr.models.base import BaseRecommender, reset_parameters, torch_generator
from ividr.models.ivae.net import IVAENet
from ividr.training import LatentSplit, LatentTrainer

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
    patience_from_start : bool, default False
        Count the early-stopping patience from epoch 0 (the released codes) instead of from the
        end of the annealing.
    restarts : int, default 1
        Independently initialised latent stages on the same data and held-out split; the one
        with the lowest held-out negative ELBO is kept (never the truth; DESIGN §4.3).
    restart_screen_epochs : int, default 0
        With ``restarts`` > 1: prune the restarts by successive halving on the held-out negative
        ELBO at this epoch, twice it, ... (0: train every restart to its end, then choose).
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


#: Mixed into a restart's seed so that restart r >= 1 has streams of its own (restart 0 uses the
#: estimator's own stream, so that one restart is exactly a plain fit).
RESTART_STREAM = 0x7E57A27


def restart_rng(seed: int, restart: int) -> np.random.Generator:
    """The random stream of restart ``restart`` >= 1 of a latent stage fitted with ``seed``."""
    return np.random.default_rng([int(seed), RESTART_STREAM, int(restart)])


def halving_schedule(restarts: int, screen_epochs: int) -> list[tuple[int, int]]:
    """Successive halving: (epoch, restarts kept after it) until one restart is left.

    Every live restart trains up to the rung's epoch; then the half (rounded up) with the lowest
    held-out negative ELBO so far goes on. Rungs at ``screen_epochs``, twice that, ...;
    ``screen_epochs`` 0 or one restart: no rung (every restart trains to its end).
    """
    rungs, alive, epoch = [], int(restarts), int(screen_epochs)
    while screen_epochs > 0 and alive > 1:
        alive = (alive + 1) // 2
        rungs.append((epoch, alive))
        epoch *= 2
    return rungs


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
) -> IVAENet:
    """Train ``est.restarts`` initialisations of ``net``; keep the lowest held-out neg. ELBO.

    Restart 0 is initialised and batched from ``rng`` exactly as a plain fit (so one restart is
    a plain fit); restart r >= 1 from :func:`restart_rng`. All share one held-out split
    (:class:`~ividr.training.LatentSplit`, drawn from ``rng``). With ``est.restart_screen_epochs``
    > 0 the restarts are pruned by successive halving on the held-out negative ELBO
    (:func:`halving_schedule`); the survivor is kept. Otherwise every restart trains to its
    end and the one whose kept checkpoint has the lowest held-out negative ELBO is kept. The
    truth is never read.

    Sets ``est.user_latents_`` (posterior mean), ``est.latent_std_``, ``est.prior_mean_`` (a
    learned prior), ``est.restarts_`` (one dict per restart: restart, seed, epochs,
    kept_epoch, val_loss at the kept epoch, pruned_at, kept) and ``est.restart_latents_`` (each
    restart's posterior mean at its kept epoch); appends the kept restart's epochs to
    ``est.history_`` as ``stage`` rows and the others' as ``"<stage>-restart"`` rows
    (``selected: False``). Returns the kept net. The checkpoint rule is ``est.stop_on``.
    """
    restarts = int(est.restarts)
    nets = [net] + [copy.deepcopy(net) for _ in range(restarts - 1)]
    streams = [rng] + [restart_rng(est.seed, r) for r in range(1, restarts)]
    init_gens = [torch_generator(stream) for stream in streams]
    batch_gens = [torch_generator(rng)]
    split = LatentSplit.draw(x.shape[0], est.val_fraction, rng)
    batch_gens += [torch_generator(stream) for stream in streams[1:]]
    trainers = []
    for r, (member, init_gen, batch_gen) in enumerate(
        zip(nets, init_gens, batch_gens, strict=True)
    ):
        reset_parameters(member, init_gen)
        if hasattr(member, "reset_projection"):
            member.reset_projection()

        def on_epoch(epoch: int, member=member):
            if callback is None:
                return None
            export_latents(est, member, x, w, t)
            return callback(epoch, est)

        trainers.append(
            LatentTrainer(
                member,
                x,
                w,
                t,
                split=split,
                generator=batch_gen,
                epochs=est.latent_epochs,
                lr=est.latent_lr,
                weight_decay=est.latent_weight_decay,
                batch_size=est.latent_batch_size,
                patience=est.latent_patience,
                kl_anneal_epochs=est.kl_anneal_epochs,
                beta_max=est.beta_max,
                l2_penalty=est.l2_penalty,
                stage=stage if restarts == 1 else f"{stage} {r}",
                progress=progress,
                on_epoch=on_epoch,
                stop_on=getattr(est, "stop_on", "elbo"),
                patience_from_start=est.patience_from_start,
                recon_ndcg=callback is not None or getattr(est, "stop_on", "elbo") != "elbo",
            )
        )
    alive = list(range(restarts))
    pruned_at: dict[int, int] = {}
    for epoch, keep in halving_schedule(restarts, est.restart_screen_epochs):
        for r in alive:
            trainers[r].run(until=epoch)
        ranked = sorted(alive, key=lambda r: (trainers[r].best_val_loss, r))
        for r in ranked[keep:]:
            pruned_at[r] = trainers[r].epoch
        alive = sorted(ranked[:keep])
    for r in alive:
        trainers[r].run()
    for trainer in trainers:
        trainer.finish()
    kept_loss = {r: trainers[r].history[trainers[r].kept_epoch()]["val_loss"] for r in alive}
    kept = min(alive, key=lambda r: (kept_loss[r], r))
    est.restarts_, est.restart_latents_ = [], []
    for r, trainer in enumerate(trainers):
        kept_epoch = trainer.kept_epoch()
        est.restarts_.append(
            {
                "restart": r,
                "seed": [int(est.seed)] if r == 0 else [int(est.seed), RESTART_STREAM, r],
                "epochs": trainer.epoch,
                "kept_epoch": kept_epoch,
                "val_loss": trainer.history[kept_epoch]["val_loss"],
                "pruned_at": pruned_at.get(r),
                "kept": r == kept,
            }
        )
        export_latents(est, trainer.net, x, w, t)
        est.restart_latents_.append(est.user_latents_)
        for row in trainer.history:
            row["stage"] = stage if r == kept else f"{stage}-restart"
            row["selected"] = r == kept
            if restarts > 1:
                row["restart"] = r
        if r != kept:
            est.history_.extend(trainer.history)
    est.history_.extend(trainers[kept].history)
    export_latents(est, nets[kept], x, w, t)
    return nets[kept]


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
    net = fit_latent_stage(
        est, net, x, w if est.learned_prior else None, None, rng, progress, callback
    )
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
        patience_from_start: bool = False,
        restarts: int = 1,
        restart_screen_epochs: int = 0,
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
        self.patience_from_start = patience_from_start
        self.restarts = restarts
        self.restart_screen_epochs = restart_screen_epochs
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
