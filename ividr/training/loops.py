"""Training loops shared by the models: the BCE recommender stage and the (i)VAE latent stage.

- Recommenders: binary cross-entropy on positive = rating >= 4 over the biased train pairs
  (Eq. 25), Adam with ``lr`` and ``weight_decay``, mini-batches shuffled by a seeded
  ``torch.Generator``, validation NDCG@5 after every epoch, early stopping with ``patience`` and
  the best-validation state kept. :func:`search_recommender` runs the papers' grid
  (lr in {1e-3, 5e-4, 1e-4, 5e-5, 1e-5} x weight decay in {1e-5, 1e-6}) and keeps the run with
  the best validation NDCG@5.
- Latent models: negative ELBO over users' exposure rows in mini-batches of users, the KL weight
  annealed linearly from 0 to ``beta_max`` over the first ``kl_anneal_epochs`` epochs, early
  stopping on the negative ELBO of held-out users (``val_fraction`` of them, iDCF's protocol),
  counted only once the annealing is over; the best state is kept.

Progress: every loop hands a line per epoch to ``progress`` and, when it is a
:class:`~ividr.training.progress.ProgressHook`, the end of every epoch of every run (a bar's steps).

A non-finite loss raises :class:`~ividr.models.base.TrainingDivergedError`. Nothing here touches
global random state. Every loop runs where its tensors are (:mod:`ividr.training.devices`): the
data, the net and the batch/sampling generator on one device; metrics come back as CPU numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ividr.defaults import LOSSES, STOP_RULES
from ividr.training.progress import ProgressFn, epoch_ended, stage_ended, stage_started
from ividr.training.torch_utils import check_finite, device_generator, torch_generator
from metrics.checks import check_choice
from metrics.ranking import ndcg_recall_at_k
from simulator.dataset import Interactions

LR_GRID = (1e-3, 5e-4, 1e-4, 5e-5, 1e-5)
WD_GRID = (1e-5, 1e-6)
TOP_K = 5


class CheckpointRule:
    """Which latent epoch to keep, and when to stop: the one place that decides both.

    :func:`train_latent` feeds it every epoch, and
    :func:`ividr.reporting.trace.replay_stop_rules` feeds it a recorded history, so a replayed
    rule picks exactly the epoch a real run would.

    Parameters
    ----------
    rule : {"elbo", "ndcg", "epochs"}
        "elbo": the lowest held-out negative ELBO; "ndcg": the highest held-out
        exposure-reconstruction NDCG@5; both counted only once the KL annealing is over, and
        both stop after ``patience`` epochs without improvement. "epochs": never stops, keeps
        the last epoch.
    patience : int
    kl_anneal_epochs : int
    from_start : bool, default False
        Count every epoch from epoch 0, annealing included (the released codes' protocol: the
        held-out loss is taken with the full KL weight, so it is comparable across epochs);
        by default only the epochs after the annealing count.
    """

    def __init__(
        self, rule: str, *, patience: int, kl_anneal_epochs: int, from_start: bool = False
    ):
        check_choice(rule, "stop_on", "StopRule", STOP_RULES)
        self.rule = rule
        self.patience = int(patience)
        self.kl_anneal_epochs = int(kl_anneal_epochs)
        self.from_start = bool(from_start)
        self.best = math.inf
        self.best_epoch = -1  # -1: no epoch after the annealing has been seen yet
        self.since_best = 0

    def update(self, epoch: int, *, val_loss: float, recon_ndcg: float) -> bool:
        """Record one finished epoch; True when it is the new best (the state to keep)."""
        if self.rule == "epochs" or (not self.from_start and epoch + 1 < self.kl_anneal_epochs):
            return False
        crit = val_loss if self.rule == "elbo" else -recon_ndcg
        if crit < self.best:
            self.best, self.best_epoch, self.since_best = crit, epoch, 0
            return True
        self.since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.rule != "epochs" and self.since_best >= self.patience


@dataclass
class RecommenderData:
    """Train pairs as tensors (on the fit's device) and the validation ratings."""

    users: torch.Tensor
    items: torch.Tensor
    labels: torch.Tensor
    val: Interactions

    @classmethod
    def from_dataset(
        cls, dataset, val: Interactions, device: torch.device | None = None
    ) -> RecommenderData:
        train = dataset.train
        device = torch.device("cpu") if device is None else device
        return cls(
            users=torch.from_numpy(np.asarray(train.user, dtype=np.int64)).to(device),
            items=torch.from_numpy(np.asarray(train.item, dtype=np.int64)).to(device),
            labels=torch.from_numpy(train.positive.astype(np.float32)).to(device),
            val=val,
        )

    @property
    def device(self) -> torch.device:
        return self.labels.device


def auto_batch_size(n_pairs: int, batch_size: int | None) -> int:
    """``batch_size`` or, when None, 512 (iDCF's Coat setting) up to ~100 steps per epoch."""
    if batch_size is not None:
        return int(batch_size)
    return max(512, math.ceil(n_pairs / 100))


def ranking_metrics(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inter: Interactions,
    device: torch.device | None = None,
) -> dict[str, float]:
    """NDCG@5 and Recall@5 of a scorer on a set of ratings (users with a positive).

    ``score_fn`` receives the user and item ids on ``device`` (default: the CPU).
    """
    if len(inter) == 0:
        return {"ndcg@5": float("nan"), "recall@5": float("nan")}
    device = torch.device("cpu") if device is None else device
    with torch.no_grad():
        scores = score_fn(
            torch.from_numpy(np.asarray(inter.user, dtype=np.int64)).to(device),
            torch.from_numpy(np.asarray(inter.item, dtype=np.int64)).to(device),
        )
    res = ndcg_recall_at_k(inter.user, scores.double().cpu().numpy(), inter.positive, TOP_K)
    return {"ndcg@5": res["ndcg@5"], "recall@5": res["recall@5"]}


def _clone_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def train_recommender(
    net: nn.Module,
    data: RecommenderData,
    *,
    lr: float,
    weight_decay: float,
    epochs: int,
    patience: int,
    batch_size: int | None,
    generator: torch.Generator,
    stage: str = "recommender",
    progress: ProgressFn = None,
    loss: str = "bce",
    run: int = 0,
) -> tuple[list[dict[str, Any]], float]:
    """Train ``net(users, items, generator) -> score``; keep the best-validation state.

    ``net``, ``data`` and ``generator`` are on one device (:attr:`RecommenderData.device`).
    ``loss`` "bce" treats the score as a logit (binary cross-entropy, Eq. 25); "mse" regresses
    the 0/1 label on the score (iDCF's code). ``run`` numbers this run within its stage (the
    grid point) for ``progress``.

    Returns
    -------
    history : list of dict
        One row per epoch: stage, epoch, lr, weight_decay, loss, val_ndcg@5, val_recall@5.
    best_val : float
        The best validation NDCG@5 (-inf when validation has no user with a positive).
    """
    check_choice(loss, "loss", "train_recommender", LOSSES)
    loss_fn = F.binary_cross_entropy_with_logits if loss == "bce" else F.mse_loss
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(data.labels)
    bs = auto_batch_size(n, batch_size)
    best_val, best_state, since_best = -math.inf, _clone_state(net), 0
    history: list[dict[str, Any]] = []
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=generator, device=generator.device)
        total = torch.zeros((), device=data.device)
        for start in range(0, n, bs):
            idx = perm[start : start + bs]
            scores = net(data.users[idx], data.items[idx], generator)
            batch_loss = loss_fn(scores, data.labels[idx])
            opt.zero_grad()
            batch_loss.backward()
            opt.step()
            total += batch_loss.detach() * len(idx)
        train_loss = float(total) / max(n, 1)
        check_finite(train_loss, f"{stage} training loss at epoch {epoch}")
        net.eval()
        val = ranking_metrics(net, data.val, device=data.device)
        val_ndcg = val["ndcg@5"] if np.isfinite(val["ndcg@5"]) else -math.inf
        row = {
            "stage": stage,
            "epoch": epoch,
            "lr": lr,
            "weight_decay": weight_decay,
            "loss": train_loss,
            "val_ndcg@5": val["ndcg@5"],
            "val_recall@5": val["recall@5"],
        }
        history.append(row)
        if progress is not None:
            progress(
                f"[{stage}] lr={lr:g} wd={weight_decay:g} epoch {epoch}: loss {train_loss:.4f} "
                f"val NDCG@5 {val['ndcg@5']:.4f}"
            )
        if val_ndcg > best_val:
            best_val, best_state, since_best = val_ndcg, _clone_state(net), 0
        else:
            since_best += 1
        epoch_ended(progress, stage, run, epoch, since_best >= patience)
        if since_best >= patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    return history, best_val


def search_recommender(
    build: Callable[[torch.Generator], nn.Module],
    data: RecommenderData,
    *,
    rng: np.random.Generator,
    lrs: tuple[float, ...],
    wds: tuple[float, ...],
    epochs: int,
    patience: int,
    batch_size: int | None,
    stage: str = "recommender",
    progress: ProgressFn = None,
    loss: str = "bce",
) -> tuple[nn.Module, dict[str, Any], list[dict[str, Any]]]:
    """Train one net per (lr, weight decay) and keep the best on validation NDCG@5.

    Every candidate starts from the same initialisation and batch order (one seed drawn from
    ``rng``), so the grid compares hyperparameters only. ``build`` makes the net on the CPU; it
    is moved to ``data``'s device (:func:`ividr.training.torch_utils.device_generator`).

    Returns
    -------
    net : the selected network (best-validation state)
    chosen : dict with "lr", "weight_decay", "val_ndcg@5"
    history : every epoch of every candidate; rows of the selected run have ``selected=True``
    """
    seed = int(rng.integers(0, 2**62))
    best: tuple[float, nn.Module | None, dict[str, Any], list] = (-math.inf, None, {}, [])
    history: list[dict[str, Any]] = []
    grid = [(lr, wd) for lr in lrs for wd in wds]
    for point, (lr, wd) in enumerate(grid):
        gen = torch.Generator()
        gen.manual_seed(seed)
        net = build(gen).to(data.device)
        rows, val = train_recommender(
            net,
            data,
            lr=lr,
            weight_decay=wd,
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            generator=device_generator(gen, data.device),
            stage=stage,
            progress=progress,
            loss=loss,
            run=point,
        )
        for row in rows:
            row["selected"] = False
        history.extend(rows)
        if best[1] is None or val > best[0]:
            best = (val, net, {"lr": lr, "weight_decay": wd, "val_ndcg@5": val}, rows)
    for row in best[3]:
        row["selected"] = True
    assert best[1] is not None
    return best[1], best[2], history


@dataclass
class LatentSplit:
    """Which users a latent stage trains on and which it holds out, and the held-out noise seed.

    Restarts of one latent stage share it, so their held-out losses compare like with like.
    """

    train_idx: torch.Tensor
    val_idx: torch.Tensor
    val_seed: int

    @classmethod
    def draw(cls, n_users: int, val_fraction: float, rng: np.random.Generator) -> LatentSplit:
        """Hold out ``round(val_fraction * n_users)`` users (none when that leaves no one)."""
        val_seed = int(rng.integers(0, 2**62))
        perm = torch.from_numpy(rng.permutation(n_users))
        n_val = int(round(val_fraction * n_users))
        if n_users - n_val < 1:
            n_val = 0
        return cls(train_idx=perm[n_val:], val_idx=perm[:n_val], val_seed=val_seed)


class LatentTrainer:
    """One latent stage, trained epoch by epoch: ``net.loss(x, w, t, anneal, generator)``.

    The state (optimiser, batch generator, checkpoint rule, best state) lives here, so a caller
    can train several restarts side by side and stop the poor ones early
    (:func:`ividr.training.stages.fit_latent_stage`). :func:`train_latent` runs one to
    the end. Parameters as :func:`train_latent`, plus the shared ``split``, this run's torch
    ``generator`` (batch order and sampling, on the device of ``net`` and ``x``) and
    ``recon_ndcg``: whether to compute the held-out
    exposure-reconstruction NDCG@5 every epoch (default: when the rule reads it; NaN otherwise)
    and ``restart``: this run's restart number, shown in the progress lines (None: not shown).
    """

    def __init__(
        self,
        net: nn.Module,
        x: torch.Tensor,
        w: torch.Tensor | None,
        t: torch.Tensor | None,
        *,
        split: LatentSplit,
        generator: torch.Generator,
        epochs: int,
        lr: float,
        weight_decay: float,
        batch_size: int,
        patience: int,
        kl_anneal_epochs: int,
        beta_max: float,
        l2_penalty: float,
        stage: str = "latent",
        progress: ProgressFn = None,
        on_epoch: Callable[[int], dict | None] | None = None,
        stop_on: str = "elbo",
        patience_from_start: bool = False,
        recon_ndcg: bool | None = None,
        restart: int | None = None,
    ):
        self.restart = restart
        self.checkpoint = CheckpointRule(
            stop_on,
            patience=patience,
            kl_anneal_epochs=kl_anneal_epochs,
            from_start=patience_from_start,
        )
        self.net, self.x, self.w, self.t = net, x, w, t
        self.split, self.gen = split, generator
        # The split's user indices where the data are (the same tensors on the CPU).
        self.train_idx = split.train_idx.to(x.device)
        self.val_idx = split.val_idx.to(x.device)
        self.max_epochs, self.beta_max, self.l2_penalty = int(epochs), beta_max, l2_penalty
        self.stage, self.progress, self.on_epoch = stage, progress, on_epoch
        self.n_train = len(split.train_idx)
        self.batch_size = min(int(batch_size), self.n_train)
        steps = math.ceil(self.n_train / self.batch_size)
        self.anneal_steps = max(1, kl_anneal_epochs * steps)
        self.opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.step = 0
        self.stopped = False
        self.val_gen = torch.Generator(device=x.device)
        # The held-out exposure-reconstruction NDCG costs a second decoder pass: only when a
        # rule or a trace reads it.
        self.recon_ndcg = stop_on != "elbo" if recon_ndcg is None else bool(recon_ndcg)

    @property
    def epoch(self) -> int:
        """Epochs trained so far."""
        return len(self.history)

    @property
    def done(self) -> bool:
        """The rule stopped the run or the epoch budget is spent."""
        return self.stopped or self.epoch >= self.max_epochs

    @property
    def best_val_loss(self) -> float:
        """The lowest held-out negative ELBO so far (inf before the first epoch)."""
        return min((r["val_loss"] for r in self.history), default=math.inf)

    def _part(self, tensor: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
        return None if tensor is None else tensor[idx]

    def _train_epoch(self) -> tuple[torch.Tensor, float]:
        net, train_idx = self.net, self.train_idx
        net.train()
        order = train_idx[torch.randperm(self.n_train, generator=self.gen, device=self.gen.device)]
        tot = torch.zeros(3, device=self.x.device)
        anneal = 0.0
        for start in range(0, self.n_train, self.batch_size):
            idx = order[start : start + self.batch_size]
            anneal = min(self.beta_max, self.beta_max * self.step / self.anneal_steps)
            loss, recon, kl = net.loss(
                self.x[idx], self._part(self.w, idx), self._part(self.t, idx), anneal, self.gen
            )
            obj = loss
            if self.l2_penalty > 0:
                obj = obj + self.l2_penalty * sum(p.norm() for p in self.params)
            self.opt.zero_grad()
            obj.backward()
            self.opt.step()
            self.step += 1
            tot += torch.stack((loss.detach(), recon.detach(), kl.detach())) * len(idx)
        return tot / self.n_train, anneal

    def run(self, until: int | None = None) -> LatentTrainer:
        """Train until ``until`` epochs in all (default: the budget) or until the rule stops."""
        limit = self.max_epochs if until is None else min(int(until), self.max_epochs)
        while not self.stopped and self.epoch < limit:
            self._run_epoch()
        return self

    def _run_epoch(self) -> None:
        net, epoch, stage = self.net, self.epoch, self.stage
        tot, anneal = self._train_epoch()
        check_finite(float(tot[0]), f"{stage} loss at epoch {epoch}")
        net.eval()
        split = self.split
        eval_idx = self.val_idx if len(self.val_idx) > 0 else self.train_idx
        x, w, t = self.x[eval_idx], self._part(self.w, eval_idx), self._part(self.t, eval_idx)
        with torch.no_grad():
            self.val_gen.manual_seed(split.val_seed)
            val_loss, _, _ = net.loss(x, w, t, self.beta_max, self.val_gen)
            recon_ndcg = exposure_ndcg(net, x, w, t) if self.recon_ndcg else math.nan
        val_loss = float(val_loss)
        check_finite(val_loss, f"{stage} validation loss at epoch {epoch}")
        row: dict[str, Any] = {
            "stage": stage,
            "epoch": epoch,
            "loss": float(tot[0]),
            "recon": float(tot[1]),
            "kl": float(tot[2]),
            "elbo": -float(tot[1] + self.beta_max * tot[2]),
            "anneal": anneal,
            "val_loss": val_loss,
            "val_recon_ndcg@5": recon_ndcg,
        }
        if self.checkpoint.update(epoch, val_loss=val_loss, recon_ndcg=recon_ndcg):
            self.best_state = _clone_state(net)
        if self.on_epoch is not None:
            extra = self.on_epoch(epoch)
            if extra:
                row.update(extra)
        self.history.append(row)
        if self.progress is not None:
            restart = "" if self.restart is None else f"restart {self.restart}, "
            self.progress(
                f"[{stage}] {restart}epoch {epoch}: loss {row['loss']:.3f} "
                f"(recon {row['recon']:.3f}, kl {row['kl']:.3f}, weight {anneal:.2f}) "
                f"val {val_loss:.3f}"
            )
        self.stopped = self.checkpoint.should_stop
        epoch_ended(self.progress, stage, self.restart or 0, epoch, self.stopped)

    def kept_epoch(self) -> int:
        """The epoch whose state :meth:`finish` keeps (the last one when the rule kept none)."""
        if self.best_state is None:  # rule "epochs", or the annealing never ended
            return len(self.history) - 1
        return self.checkpoint.best_epoch

    def finish(self) -> list[dict[str, Any]]:
        """Load the kept state, mark its history row ``checkpoint: True``; the history."""
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        if self.history:
            self.history[self.kept_epoch()]["checkpoint"] = True
        self.net.eval()
        return self.history


def train_latent(
    net: nn.Module,
    x: torch.Tensor,
    w: torch.Tensor | None,
    t: torch.Tensor | None,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    patience: int,
    kl_anneal_epochs: int,
    beta_max: float,
    l2_penalty: float,
    val_fraction: float,
    rng: np.random.Generator,
    stage: str = "latent",
    progress: ProgressFn = None,
    on_epoch: Callable[[int], dict | None] | None = None,
    stop_on: str = "elbo",
    patience_from_start: bool = False,
    recon_ndcg: bool = True,
) -> list[dict[str, Any]]:
    """Fit a latent model ``net.loss(x, w, t, anneal, generator)`` over users' rows.

    Parameters
    ----------
    x : Tensor of shape (n_users, n_items)
        Exposure rows A.
    w : Tensor of shape (n_users, aux_dim) or None
        One-hot proxy W.
    t : Tensor of shape (n_users, iv_dim) or None
        Per-user mean reconstructed treatment (IViDR's fused model only).
    rng : numpy Generator
        Draws, in this order, the batch/sampling generator (on the device of ``net`` and
        ``x``), then the held-out users (:meth:`LatentSplit.draw`).
    on_epoch : callable(epoch) -> dict or None
        Called after each epoch; a returned dict is merged into the epoch's history row.
    stop_on : {"elbo", "ndcg", "epochs"}, default "elbo"
        Which checkpoint to keep (none of them looks at the truth): "elbo" = early stopping on
        the held-out users' negative ELBO (after the annealing); "ndcg" = early stopping, with
        the same patience, on the held-out users' exposure-reconstruction NDCG@5 (the decoder's
        logits at the posterior mean rank all items, relevance = the user's own exposures);
        "epochs" = run all ``epochs`` and keep the last state.
    patience_from_start : bool, default False
        Count the patience from epoch 0 (see :class:`CheckpointRule`).
    recon_ndcg : bool, default True
        Compute ``val_recon_ndcg@5`` every epoch (NaN otherwise; the "ndcg" rule needs it).

    Returns
    -------
    history : list of dict
        stage, epoch, loss (the annealed objective), recon, kl, anneal, val_loss (held-out
        negative ELBO with the full KL weight), elbo (= -loss at full weight on train users),
        val_recon_ndcg@5 (see ``stop_on``); the kept epoch's row has ``checkpoint: True``.
    """
    gen = torch_generator(rng, x.device)
    split = LatentSplit.draw(x.shape[0], val_fraction, rng)
    trainer = LatentTrainer(
        net,
        x,
        w,
        t,
        split=split,
        generator=gen,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        patience=patience,
        kl_anneal_epochs=kl_anneal_epochs,
        beta_max=beta_max,
        l2_penalty=l2_penalty,
        stage=stage,
        progress=progress,
        on_epoch=on_epoch,
        stop_on=stop_on,
        patience_from_start=patience_from_start,
        recon_ndcg=recon_ndcg or stop_on == "ndcg",
    )
    stage_started(progress, stage, 1, epochs, "restart")
    history = trainer.run().finish()
    stage_ended(progress, stage)
    return history


def exposure_ndcg(net: nn.Module, x: torch.Tensor, w, t, k: int = TOP_K) -> float:
    """Mean NDCG@k of the decoder's logits at the posterior mean against the users' own exposures.

    Binary relevance = the exposure row ``x`` (n_users, n_items); users without an exposure are
    skipped (NaN when there is none). Vectorised over users; no randomness.
    """
    with torch.no_grad():
        mean, _ = net.posterior(x, w, t)
        logits = net.decode(mean)
        k = min(k, x.shape[1])
        top = torch.topk(logits, k, dim=1).indices
        gains = torch.gather(x, 1, top).double()
        disc = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64, device=x.device))
        dcg = (gains * disc).sum(1)
        n_rel = (x > 0).sum(1).clamp(max=k)
        ideal = torch.cumsum(disc, 0)[(n_rel - 1).clamp(min=0)]
        keep = n_rel > 0
        if not bool(keep.any()):
            return float("nan")
        return float((dcg[keep] / ideal[keep]).mean())
