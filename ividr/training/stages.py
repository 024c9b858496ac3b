"""The training stages the models share (docs/design.md §4): each trains one part of a model through
the loops of :mod:`ividr.training.loops` and stores what it learned on the estimator.

- :func:`fit_recommender_stage`: one recommender net, or the lr x weight-decay grid on validation
  NDCG@5 (MF, MF-WF, IV4R-MF, and the heads below);
- :func:`fit_latent_search` / :func:`fit_latent_stage`: the latent (iVAE) stage with its restarts,
  successive halving and latent lr x L2 grid, all chosen by held-out negative ELBO (VAE, iVAE,
  iDCF, iDCF-W, IViDR; §4.3);
- :func:`fit_latent_head`: the latent-adjusted recommender on the learned C (iDCF's second
  stage, IViDR's third, Eq. 24).

Each model's estimator (``ividr/models/<family>/estimator.py``) builds its nets and calls these.
The nets are imported inside the functions that build them, since the models import this module.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ividr.training.loops import (
    LR_GRID,
    WD_GRID,
    LatentSplit,
    LatentTrainer,
    RecommenderData,
    search_recommender,
    train_recommender,
)
from ividr.training.progress import stage_ended, stage_started
from ividr.training.torch_utils import device_generator, reset_parameters, torch_generator

if TYPE_CHECKING:
    from ividr.hyperparams import LatentHeadParams, LatentParams, RecommenderParams
    from ividr.models.base import BaseRecommender
    from ividr.models.ivae.net import IVAENet


# --------------------------------------------------------------------------------------------
# The recommender stage
# --------------------------------------------------------------------------------------------
def fit_recommender_stage(
    est: BaseRecommender,
    params: RecommenderParams,
    build,
    data: RecommenderData,
    rng: np.random.Generator,
    progress,
    stage: str = "recommender",
) -> torch.nn.Module:
    """Train one recommender net (or the lr x weight-decay grid when ``params.grid``).

    ``build(generator)`` returns a freshly initialised net, on the CPU (initialised from the
    CPU generator); it is moved to ``data``'s device and trained there, with batches and samples
    drawn from :func:`~ividr.training.torch_utils.device_generator` (the CPU generator itself on the
    CPU). The history rows are appended to ``est.history_`` and the chosen hyperparameters
    stored in ``est.chosen_[stage]``.
    """
    common = dict(
        epochs=params.epochs,
        patience=params.patience,
        batch_size=params.batch_size,
        stage=stage,
        progress=progress,
        loss=params.loss,
    )
    runs = len(LR_GRID) * len(WD_GRID) if params.grid else 1
    stage_started(progress, stage, runs, params.epochs, "grid point")
    if params.grid:
        net, chosen, rows = search_recommender(
            build, data, rng=rng, lrs=LR_GRID, wds=WD_GRID, **common
        )
    else:
        gen = torch_generator(rng)
        net = build(gen).to(data.device)
        rows, best = train_recommender(
            net,
            data,
            lr=params.lr,
            weight_decay=params.weight_decay,
            generator=device_generator(gen, data.device),
            **common,
        )
        for row in rows:
            row["selected"] = True
        chosen = {"lr": params.lr, "weight_decay": params.weight_decay, "val_ndcg@5": best}
    stage_ended(progress, stage)
    est.history_.extend(rows)
    est.chosen_[stage] = chosen
    return net


# --------------------------------------------------------------------------------------------
# The latent stage
# --------------------------------------------------------------------------------------------
def resolve_latent_dim(latent_dim: int | None, dataset) -> int:
    """The latent dimension to use (``LatentParams.latent_dim``: None = the truth's, or 16)."""
    if latent_dim is not None:
        return int(latent_dim)
    truth = getattr(dataset, "confounder", None)
    return int(truth.shape[1]) if truth is not None else 16


def latent_inputs(dataset, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exposure rows A (n_users, n_items) and one-hot proxy W, float32 tensors on ``device``."""
    device = torch.device("cpu") if device is None else device
    return (
        torch.from_numpy(dataset.exposure()).to(device),
        torch.from_numpy(dataset.proxy_onehot()).to(device),
    )


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
    params: LatentParams,
    seed: int,
    net: IVAENet,
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    rng: np.random.Generator,
    progress,
    callback,
    stage: str = "latent",
) -> IVAENet:
    """Train ``params.restarts`` initialisations of ``net``; keep the lowest held-out neg. ELBO.

    Restart 0 is initialised and batched from ``rng`` exactly as a plain fit (so one restart is
    a plain fit); restart r >= 1 from :func:`restart_rng`. All share one held-out split
    (:class:`~ividr.training.loops.LatentSplit`, drawn from ``rng``). With
    ``params.restart_screen_epochs`` > 0 the restarts are pruned by successive halving on the
    held-out negative ELBO (:func:`halving_schedule`); the survivor is kept. Otherwise every restart
    trains to its end and the one whose kept checkpoint has the lowest held-out negative ELBO is
    kept. The truth is never read.

    Devices: ``net`` is built on the CPU; each restart is initialised there from its CPU
    generator and then moved to the device of ``x`` (where ``w``, ``t`` already are); its batches
    and samples come from a generator on that device (:mod:`ividr.training.devices`).

    Sets ``est.user_latents_`` (posterior mean), ``est.latent_std_``, ``est.prior_mean_`` (a
    learned prior), ``est.restarts_`` (one dict per restart: restart, seed, epochs,
    kept_epoch, val_loss at the kept epoch, pruned_at, kept) and ``est.restart_latents_`` (each
    restart's posterior mean at its kept epoch); appends the kept restart's epochs to
    ``est.history_`` as ``stage`` rows and the others' as ``"<stage>-restart"`` rows
    (``selected: False``). Returns the kept net. The checkpoint rule is the ``stop_on`` parameter.
    """
    restarts = int(params.restarts)
    device = x.device
    nets = [net] + [copy.deepcopy(net) for _ in range(restarts - 1)]
    streams = [rng] + [restart_rng(seed, r) for r in range(1, restarts)]
    init_gens = [torch_generator(stream) for stream in streams]
    batch_gens = [torch_generator(rng, device)]
    split = LatentSplit.draw(x.shape[0], params.val_fraction, rng)
    batch_gens += [torch_generator(stream, device) for stream in streams[1:]]
    trainers = [
        _restart_trainer(
            est,
            params,
            member,
            x,
            w,
            t,
            restart=r,
            init_gen=init_gen,
            batch_gen=batch_gen,
            split=split,
            stage=stage,
            progress=progress,
            callback=callback,
        )
        for r, (member, init_gen, batch_gen) in enumerate(
            zip(nets, init_gens, batch_gens, strict=True)
        )
    ]
    stage_started(progress, stage, restarts, params.latent_epochs, "restart")
    alive, pruned_at = _train_restarts(trainers, params.restart_screen_epochs)
    stage_ended(progress, stage)
    kept_loss = {r: trainers[r].history[trainers[r].kept_epoch()]["val_loss"] for r in alive}
    kept = min(alive, key=lambda r: (kept_loss[r], r))
    _record_restarts(est, seed, trainers, kept, pruned_at, x, w, t, stage)
    export_latents(est, nets[kept], x, w, t)
    return nets[kept]


def _restart_trainer(
    est: BaseRecommender,
    params: LatentParams,
    member: IVAENet,
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    *,
    restart: int,
    init_gen: torch.Generator,
    batch_gen: torch.Generator,
    split: LatentSplit,
    stage: str,
    progress,
    callback,
) -> LatentTrainer:
    """A trainer of ``member``, first initialised from ``init_gen`` and moved to ``x``'s device."""
    reset_parameters(member, init_gen)
    if hasattr(member, "reset_projection"):
        member.reset_projection()
    member.to(x.device)

    def on_epoch(epoch: int):
        if callback is None:
            return None
        export_latents(est, member, x, w, t)
        return callback(epoch, est)

    return LatentTrainer(
        member,
        x,
        w,
        t,
        split=split,
        generator=batch_gen,
        epochs=params.latent_epochs,
        lr=params.latent_lr,
        weight_decay=params.latent_weight_decay,
        batch_size=params.latent_batch_size,
        patience=params.latent_patience,
        kl_anneal_epochs=params.kl_anneal_epochs,
        beta_max=params.beta_max,
        l2_penalty=params.l2_penalty,
        stage=stage,
        progress=progress,
        on_epoch=on_epoch,
        stop_on=params.stop_on,
        patience_from_start=params.patience_from_start,
        recon_ndcg=callback is not None or params.stop_on != "elbo",
        restart=restart if int(params.restarts) > 1 else None,
    )


def _train_restarts(
    trainers: list[LatentTrainer], screen_epochs: int
) -> tuple[list[int], dict[int, int]]:
    """Train the restarts, halving them at each rung; the survivors and restart -> pruned epoch."""
    alive = list(range(len(trainers)))
    pruned_at: dict[int, int] = {}
    for epoch, keep in halving_schedule(len(trainers), screen_epochs):
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
    return alive, pruned_at


def _record_restarts(
    est: BaseRecommender,
    seed: int,
    trainers: list[LatentTrainer],
    kept: int,
    pruned_at: dict[int, int],
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    stage: str,
) -> None:
    """Set ``est.restarts_``, ``est.restart_latents_``; append the histories, the kept one last."""
    restarts = len(trainers)
    est.restarts_, est.restart_latents_ = [], []
    for r, trainer in enumerate(trainers):
        kept_epoch = trainer.kept_epoch()
        est.restarts_.append(
            {
                "restart": r,
                "seed": [int(seed)] if r == 0 else [int(seed), RESTART_STREAM, r],
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


#: The latent learning rates and L2 penalties of ``latent_grid``: a 2 x 2 cut of the released
#: codes' tuning mode (lr x hidden width x weight decay x L2, 48 trials, kept by held-out loss).
LATENT_GRID_LRS: tuple[float, ...] = (1e-3, 5e-4)
LATENT_GRID_L2: tuple[float, ...] = (0.0, 0.01)


def latent_grid_points() -> list[tuple[float, float]]:
    """(latent_lr, l2_penalty) of every point of the ``latent_grid`` search, in fitting order."""
    return [(lr, l2) for lr in LATENT_GRID_LRS for l2 in LATENT_GRID_L2]


def fit_latent_search(
    est: BaseRecommender,
    params: LatentParams,
    seed: int,
    net: IVAENet,
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    rng: np.random.Generator,
    progress,
    callback,
    stage: str = "latent",
) -> IVAENet:
    """:func:`fit_latent_stage`; with ``params.latent_grid``, once per (lr, L2) grid point.

    Every point (:func:`latent_grid_points`) fits a deep copy of the freshly built ``net`` with
    ``params.latent_lr`` / ``params.l2_penalty`` replaced by it and ``rng`` rewound to the same
    state, so every point sees the same held-out users, initialisation and batches (and
    ``params.restarts``
    restarts each). The point whose kept restart has the lowest held-out negative ELBO (ties: the
    earlier point) is kept; the truth is never read. The held-out negative ELBO carries no L2
    term, so points with different penalties compare like with like.

    Sets ``est.latent_grid_``
    (one dict per point: point, latent_lr, l2_penalty, val_loss, epochs, kept_epoch, kept),
    ``est.latent_grid_latents_`` (each point's posterior mean), ``est.chosen_[stage]`` (the
    kept point's lr, L2 and held-out loss), and what :func:`fit_latent_stage` sets, from the
    kept point. History: the kept point's rows as :func:`fit_latent_stage` leaves them; the
    other points' rows as ``"<stage>-grid"`` with ``selected: False``; every row has
    ``grid_point``. ``rng`` ends where the kept point's fit left it.
    """
    if not params.latent_grid:
        return fit_latent_stage(est, params, seed, net, x, w, t, rng, progress, callback, stage)
    start = copy.deepcopy(rng.bit_generator.state)
    n_before = len(est.history_)
    trials: list[dict[str, Any]] = []
    for point, (lr, l2) in enumerate(latent_grid_points()):
        rng.bit_generator.state = copy.deepcopy(start)
        point_params = dataclasses.replace(params, latent_lr=lr, l2_penalty=l2)
        if progress is not None:
            progress(f"[{stage}] grid point {point}: latent lr {lr:g}, L2 penalty {l2:g}")
        kept_net = fit_latent_stage(
            est, point_params, seed, copy.deepcopy(net), x, w, t, rng, progress, callback, stage
        )
        rows = est.history_[n_before:]
        del est.history_[n_before:]
        kept = next(r for r in est.restarts_ if r["kept"])
        trials.append(
            {
                "net": kept_net,
                "rows": rows,
                "restarts": est.restarts_,
                "restart_latents": est.restart_latents_,
                "latents": est.user_latents_,
                "state": copy.deepcopy(rng.bit_generator.state),
                "report": {
                    "point": point,
                    "latent_lr": lr,
                    "l2_penalty": l2,
                    "val_loss": float(kept["val_loss"]),
                    "epochs": int(kept["epochs"]),
                    "kept_epoch": int(kept["kept_epoch"]),
                },
            }
        )
    best = min(range(len(trials)), key=lambda i: (trials[i]["report"]["val_loss"], i))
    est.latent_grid_, est.latent_grid_latents_ = [], []
    for i, trial in enumerate(trials):
        est.latent_grid_.append({**trial["report"], "kept": i == best})
        est.latent_grid_latents_.append(trial["latents"])
        for row in trial["rows"]:
            row["grid_point"] = i
            if i != best:
                row["stage"] = f"{stage}-grid"
                row["selected"] = False
                est.history_.append(row)
    chosen = trials[best]
    est.history_.extend(chosen["rows"])
    est.restarts_, est.restart_latents_ = chosen["restarts"], chosen["restart_latents"]
    rng.bit_generator.state = chosen["state"]
    if not hasattr(est, "chosen_"):
        est.chosen_ = {}
    est.chosen_[stage] = {
        "latent_lr": chosen["report"]["latent_lr"],
        "l2_penalty": chosen["report"]["l2_penalty"],
        "val_loss": chosen["report"]["val_loss"],
    }
    export_latents(est, chosen["net"], x, w, t)
    return chosen["net"]


def export_latents(est, net: IVAENet, x, w, t) -> None:
    """Posterior mean/std of every user, and the prior mean mu_w(W), as CPU numpy on ``est``;
    for IViDR also ``est.estimate_latents_``, every estimand's posterior mean by name."""
    net.eval()
    with torch.no_grad():
        # The confounder estimate: the posterior named by IViDR's ``estimand``, else the one.
        mean, log_var = net.readout(x, w, t)
        est.user_latents_ = mean.double().cpu().numpy()
        if hasattr(net, "estimates"):
            est.estimate_latents_ = {
                name: value.double().cpu().numpy() for name, value in net.estimates(x, w, t).items()
            }
        est.latent_std_ = (0.5 * log_var).exp().double().cpu().numpy()
        if net.learned_prior:
            est.prior_mean_ = net.prior(w, x.shape[0])[0].double().cpu().numpy()
        else:
            est.prior_mean_ = None


# --------------------------------------------------------------------------------------------
# The latent-adjusted head
# --------------------------------------------------------------------------------------------
def fit_latent_head(
    est: BaseRecommender,
    head: LatentHeadParams,
    recommender: RecommenderParams,
    dataset,
    val,
    rng: np.random.Generator,
    progress,
    phi: float = 1.0,
    lam: float = 1.0,
) -> None:
    """Stage 3 / iDCF's second stage: LatentMFNet on ``est.user_latents_`` and ``latent_std_``,
    trained by :func:`fit_recommender_stage` with ``recommender``'s settings."""
    from ividr.models.idcf.net import LatentMFNet  # here: the models import this module

    data = RecommenderData.from_dataset(dataset, val, est.device_)
    spec = {
        "n_users": est.n_users_,
        "n_items": est.n_items_,
        "dim": recommender.embedding_dim,
        "latent_dim": int(est.user_latents_.shape[1]),
        "n_samples": head.n_samples,
        "phi": float(phi),
        "lam": float(lam),
    }
    center = np.zeros(est.user_latents_.shape[1])
    scale = np.ones(est.user_latents_.shape[1])
    if head.standardize_latents:
        # C . c_i with C standardised per dimension spans the same functions (c_i absorbs the
        # scale, the item bias the shift) but puts the latent term on the MF term's scale.
        center = est.user_latents_.mean(axis=0)
        scale = est.user_latents_.std(axis=0) + 1e-8
    mean = torch.from_numpy((est.user_latents_ - center) / scale).float()
    std = torch.from_numpy(est.latent_std_ / scale).float()

    def build(gen):
        net = LatentMFNet(**spec)
        net.reset(gen)
        net.latent_mean.copy_(mean)
        net.latent_std.copy_(std)
        return net

    net = fit_recommender_stage(est, recommender, build, data, rng, progress)
    est._add_net("recommender", net, spec)
