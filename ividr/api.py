"""The Python API behind ``ividr fit`` and ``ividr sweep``: configure, fit, score, save, load.

>>> from simulator.loaders import load_dataset                        # doctest: +SKIP
>>> result = fit_model(load_dataset("data"), FitConfig(model="idcf"))  # doctest: +SKIP
>>> result.metrics["ndcg@5"], result.metrics["mcc"]                    # doctest: +SKIP

Protocol (iDCF's): the unbiased users are split 30% validation / 70% test by
``dataset.split_unbiased(0.3, random_state=seed)``; early stopping and the optional lr x weight
decay grid look at validation NDCG@5 only; ``metrics`` reports NDCG@5 / Recall@5 on both.
"vae" and "ivae" are latent-only models: their ranking metrics rank by the decoder's exposure
probability at the posterior mean (a sanity figure, not a recommender); what they are for is
their latents (MCC).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ividr import diagnostics, models, registry
from ividr.defaults import DEFAULT_RESTART_SCREEN_EPOCHS, DEFAULT_RESTARTS
from ividr.models.base import BaseRecommender, TrainingDivergedError
from ividr.persistence import ModelFileError, load_model, save_model
from ividr.protocols import PROTOCOLS, protocol_settings
from ividr.registry import LATENT_ONLY, MODEL_NAMES
from ividr.training import LOSSES, STOP_RULES, ranking_metrics

__all__ = [
    "MODEL_NAMES",
    "FitConfig",
    "FitResult",
    "ModelFileError",
    "TrainingDivergedError",
    "aux_permutation",
    "build_estimator",
    "fit_model",
    "load_model",
    "protocol_overrides",
    "save_model",
    "with_shuffled_aux",
]

#: Model name -> (estimator class, fixed keyword arguments), from the registry's table.
_ESTIMATORS: dict[str, tuple[type[BaseRecommender], dict[str, Any]]] = {
    m.name: (getattr(models, m.estimator), dict(m.kwargs)) for m in registry.MODELS
}
_INF = math.inf


@dataclass
class FitConfig:
    """Everything that defines one fit (JSON round trip with to_dict / from_dict).

    Parameters
    ----------
    model : str
        One of MODEL_NAMES.
    seed : int, default 0
        Seeds the model (initialisation, batches, sampling) and the val/test split.
    epochs : int or None, default None
        Maximum epochs of the recommender stage (100); for "vae"/"ivae", of the latent stage.
    lr, weight_decay : float or None, default None
        Adam settings of the recommender stage(s); None = 1e-3 and 1e-5.
    latent_dim : int or None, default None
        Dimension of the learned confounder; None = the true confounder's dimension on
        simulated data, else 16.
    grid : bool, default False
        Grid-search lr x weight decay on validation NDCG@5 (overrides lr, weight_decay).
    loss : {"bce", "mse"}, default "bce"
        Recommender loss: binary cross-entropy on the logit (Eq. 25, DESIGN §4) or squared error
        between the raw score and the 0/1 label (iDCF's released code).
    embedding_dim : int, default 64
    batch_size : int or None, default None
        Train pairs per step; None = 512, or larger so that an epoch takes <= ~100 steps.
    patience : int, default 5
        Recommender early-stopping patience (epochs) on validation NDCG@5.
    hidden_dim : int, default 64
    n_layers : int, default 3
        Width and depth of the (i)VAE's MLPs.
    latent_epochs : int or None, default None
        Maximum epochs of the latent stage (1000).
    latent_lr : float, default 5e-4
        Adam learning rate of the latent stage. 5e-4 (the iDCF authors' own setting) rather than
        1e-3: at 1e-3, 3 of 10 fits on iDCF's data at gamma 5 collapsed (README, "Stable latent
        fits").
    latent_batch_size : int, default 1024
    latent_patience : int, default 50
    kl_anneal_epochs : int, default 100
    patience_from_start : bool, default False
        Count the latent early-stopping patience from epoch 0 (the released codes).
    restarts : int, default 4
        Latent stages fitted from independent initialisations on the same data and held-out
        split; the one with the lowest held-out negative ELBO is kept (DESIGN §4.3). metrics
        lists every restart ("restarts") and, with the truth, each one's MCC.
    restart_screen_epochs : int, default 0
        Successive halving of the restarts on the held-out negative ELBO at this epoch, twice
        it, ... (0: every restart trains to its end).
    beta_max : float, default 1.0
    l2_penalty : float, default 0.0
    n_samples : int, default 10
        Posterior draws of C per training pair in the latent-adjusted recommender.
    standardize_latents : bool, default False
        Give the latent-adjusted recommender per-dimension z-scored latents (iDCF: raw).
    iv_dim : int or None, default None
        Treatment-space dimension d_q of IV4R-MF / IViDR (None = embedding_dim).
    rho, tau : float, default 0.9
        IViDR's fusion weights.
    phi, lam : float, default 1.0
        IViDR's Eq. 24 weights.
    shuffle_aux : bool, default False
        Ablation (a reference level of §5): permute the proxy W across users before training, with a
        permutation drawn from ``seed`` (:func:`aux_permutation`); the true confounder and the
        unbiased data are untouched. The exposures are then the only information on C, so the
        MCC that is left is what the encoder learned from them. When the instrument Z is the
        proxy itself (``ividr-code``, the iDCF layout), Z is permuted with it.
    stop_on : {"elbo", "ndcg", "epochs"}, default "elbo"
        Checkpoint rule of the latent stage (none looks at the truth): early stopping on the
        held-out users' negative ELBO; early stopping on their exposure-reconstruction NDCG@5
        (decoder logits at the posterior mean ranking all items against the user's own
        exposures); or all ``latent_epochs`` epochs, keeping the last.
    trace_every : int or None, default None
        Record strong/weak MCC of the posterior mean every this many latent epochs (§5);
        None = 1 when the dataset carries the true confounder, 0 = off.
    n_boot : int, default 200
        Bootstrap replicates (over users) of the ``mcc_ci`` / ``ndcg@5_ci`` intervals; 0 = off.
    protocol : {"ours", "released"}, default "ours"
        Training protocol (DESIGN §4, §4.3). "released" sets exactly the fields of
        :func:`ividr.protocols.protocol_settings` over what this config holds: in the latent
        stage the max latent epochs and lr of the model's released code, KL annealing over 20%
        of the max epochs, patience 100 from epoch 0, batch 1024; in the recommender stage MSE
        on the 0/1 label, patience 20, the released script's max epochs (100 iDCF's, 1000
        IViDR's); lr, weight decay and ``grid`` stay the config's. An explicit
        ``latent_epochs`` or ``epochs`` is kept; "ours" sets nothing. The estimator's params
        (config.json's ``estimator_params``) and metrics' ``protocol_settings`` show the values
        in effect.
    latent_grid : bool, default False
        Fit the latent stage at every latent lr x L2 penalty of a small grid (lr 1e-3, 5e-4 x
        L2 0, 0.01) and keep the one with the lowest held-out negative ELBO (never the truth),
        as the released codes' tuning mode does; metrics lists every point ("latent_grid").
    """

    model: str
    seed: int = 0
    epochs: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    latent_dim: int | None = None
    grid: bool = False
    loss: str = "bce"
    embedding_dim: int = 64
    batch_size: int | None = None
    patience: int = 5
    hidden_dim: int = 64
    n_layers: int = 3
    latent_epochs: int | None = None
    latent_lr: float = 5e-4
    latent_batch_size: int = 1024
    latent_patience: int = 50
    kl_anneal_epochs: int = 100
    patience_from_start: bool = False
    restarts: int = DEFAULT_RESTARTS
    restart_screen_epochs: int = DEFAULT_RESTART_SCREEN_EPOCHS
    beta_max: float = 1.0
    l2_penalty: float = 0.0
    n_samples: int = 10
    standardize_latents: bool = False
    iv_dim: int | None = None
    rho: float = 0.9
    tau: float = 0.9
    phi: float = 1.0
    lam: float = 1.0
    shuffle_aux: bool = False
    stop_on: str = "elbo"
    trace_every: int | None = None
    n_boot: int = 200
    protocol: str = "ours"
    latent_grid: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"FitConfig got unknown keys {unknown}; allowed: {sorted(names)}")
        return cls(**data)

    def validate(self) -> FitConfig:
        """Check every field; raise ValueError naming the parameter and its range."""
        if self.model not in MODEL_NAMES:
            raise ValueError(
                f"The 'model' parameter of FitConfig must be one of {MODEL_NAMES}. "
                f"Got {self.model!r} instead."
            )
        ints = {
            "seed": (0, _INF, False),
            "epochs": (1, _INF, True),
            "latent_dim": (1, _INF, True),
            "embedding_dim": (1, _INF, False),
            "batch_size": (1, _INF, True),
            "patience": (1, _INF, False),
            "hidden_dim": (1, _INF, False),
            "n_layers": (1, _INF, False),
            "latent_epochs": (1, _INF, True),
            "latent_batch_size": (1, _INF, False),
            "latent_patience": (1, _INF, False),
            "kl_anneal_epochs": (0, _INF, False),
            "n_samples": (1, _INF, False),
            "iv_dim": (1, _INF, True),
            "trace_every": (0, _INF, True),
            "n_boot": (0, _INF, False),
            "restarts": (1, _INF, False),
            "restart_screen_epochs": (0, _INF, False),
        }
        for name, (lo, _hi, optional) in ints.items():
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
                rng = f"[{lo}, inf)" + (" or None" if optional else "")
                raise ValueError(
                    f"The '{name}' parameter of FitConfig must be an int in the range {rng}. "
                    f"Got {value!r} instead."
                )
        # (lo, hi, lo_open, optional)
        floats = {
            "lr": (0.0, _INF, True, True),
            "weight_decay": (0.0, _INF, False, True),
            "latent_lr": (0.0, _INF, True, False),
            "beta_max": (0.0, _INF, False, False),
            "l2_penalty": (0.0, _INF, False, False),
            "rho": (0.0, 1.0, False, False),
            "tau": (0.0, 1.0, False, False),
            "phi": (0.0, _INF, False, False),
            "lam": (0.0, _INF, False, False),
        }
        for name, (lo, hi, lo_open, optional) in floats.items():
            value = getattr(self, name)
            if value is None and optional:
                continue
            ok = (
                isinstance(value, int | float | np.floating)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and (value > lo if lo_open else value >= lo)
                and value <= hi
            )
            if not ok:
                rng = (
                    ("(" if lo_open else "[") + f"{lo:g}, " + ("inf)" if hi == _INF else f"{hi:g}]")
                )
                rng += " or None" if optional else ""
                raise ValueError(
                    f"The '{name}' parameter of FitConfig must be a float in the range {rng}. "
                    f"Got {value!r} instead."
                )
        for name in (
            "grid",
            "standardize_latents",
            "shuffle_aux",
            "patience_from_start",
            "latent_grid",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"The '{name}' parameter of FitConfig must be a bool. "
                    f"Got {getattr(self, name)!r} instead."
                )
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"The 'protocol' parameter of FitConfig must be one of {PROTOCOLS}. "
                f"Got {self.protocol!r} instead."
            )
        if self.loss not in LOSSES:
            raise ValueError(
                f"The 'loss' parameter of FitConfig must be one of {LOSSES}. "
                f"Got {self.loss!r} instead."
            )
        if self.stop_on not in STOP_RULES:
            raise ValueError(
                f"The 'stop_on' parameter of FitConfig must be one of {STOP_RULES}. "
                f"Got {self.stop_on!r} instead."
            )
        if self.n_boot == 1:
            raise ValueError(
                "The 'n_boot' parameter of FitConfig must be 0 or an int in the range [2, inf). "
                "Got 1 instead."
            )
        if self.rho == 0 and self.tau == 0:
            raise ValueError("The 'rho' and 'tau' parameters of FitConfig cannot both be 0.")
        return self


@dataclass
class FitResult:
    """What :func:`fit_model` returns.

    Attributes
    ----------
    config : FitConfig
    metrics : dict
        "ndcg@5", "recall@5" (test), "val_ndcg@5", "val_recall@5", "model", "seed",
        "epochs_run", "seconds", and "mcc", "mcc_weak" when the data carry the true confounder
        and the model has latents. Issue 5 diagnostics (:mod:`ividr.diagnostics`):
        "mcc_at_checkpoint", "checkpoint_epoch", "mcc_best", "mcc_best_epoch",
        "stopping_regret", "n_traced" (MCC traced, see ``trace_every``); "stop_rules" (with
        ``stop_on="epochs"`` and the MCC traced every epoch: every rule's checkpoint, MCC and
        regret, :func:`ividr.diagnostics.replay_stop_rules`); "stop_on" (latent models);
        "identifiability" ({"aux", "prior_matrix"}, models with a learned prior);
        "instrument" (first-stage F / partial R^2 of t_u on Z, IV4R-MF and IViDR); "mcc_ci",
        "ndcg@5_ci" ([low, high], 95% bootstrap over users) and "n_boot" (``n_boot`` > 0);
        "restarts" (:func:`ividr.diagnostics.restart_report`); "latent_grid",
        "latent_grid_lr", "latent_grid_l2" (``latent_grid``,
        :func:`ividr.diagnostics.latent_grid_report`); "protocol" and "protocol_settings" (the
        settings a protocol other than "ours" set, :func:`protocol_overrides`).
    latents, latents_std : ndarray of shape (n_users, d) or None
        Posterior mean (the declared representation) and std of the learned confounder.
    prior_mean : ndarray of shape (n_users, d) or None
        mu_w(W) of each user (iVAE-based models).
    history : list of dict
        One row per epoch of every stage.
    estimator : BaseRecommender
    aux_permutation : ndarray of shape (n_users,) or None
        With ``shuffle_aux``: user ``u`` was trained with the proxy W of user
        ``aux_permutation[u]``.
    """

    config: FitConfig
    metrics: dict[str, Any]
    latents: np.ndarray | None
    latents_std: np.ndarray | None
    prior_mean: np.ndarray | None
    history: list[dict[str, Any]] = field(default_factory=list)
    estimator: object = None
    aux_permutation: np.ndarray | None = None


def protocol_overrides(config: FitConfig) -> dict[str, Any]:
    """The estimator settings ``config.protocol`` sets (:func:`ividr.protocols.protocol_settings`).

    Empty for protocol "ours". An explicit maximum of latent epochs (``latent_epochs``, or
    ``epochs`` of a latent-only model) is kept, and so is an explicit ``epochs`` of a
    recommender stage.
    """
    explicit = config.latent_epochs
    rec_epochs = config.epochs
    if config.model in LATENT_ONLY:
        rec_epochs = None
        if config.epochs is not None:
            explicit = config.epochs
    return protocol_settings(config.protocol, config.model, explicit, rec_epochs)


def build_estimator(config: FitConfig) -> BaseRecommender:
    """The (unfitted) estimator a config describes (its protocol's settings applied)."""
    config.validate()
    cls, fixed = _ESTIMATORS[config.model]
    names = set(cls._param_names())
    values: dict[str, Any] = {
        "seed": config.seed,
        "latent_dim": config.latent_dim,
        "grid": config.grid,
        "loss": config.loss,
        "embedding_dim": config.embedding_dim,
        "batch_size": config.batch_size,
        "patience": config.patience,
        "hidden_dim": config.hidden_dim,
        "n_layers": config.n_layers,
        "latent_lr": config.latent_lr,
        "latent_batch_size": config.latent_batch_size,
        "latent_patience": config.latent_patience,
        "kl_anneal_epochs": config.kl_anneal_epochs,
        "patience_from_start": config.patience_from_start,
        "restarts": config.restarts,
        "restart_screen_epochs": config.restart_screen_epochs,
        "stop_on": config.stop_on,
        "beta_max": config.beta_max,
        "l2_penalty": config.l2_penalty,
        "n_samples": config.n_samples,
        "standardize_latents": config.standardize_latents,
        "iv_dim": config.iv_dim,
        "rho": config.rho,
        "tau": config.tau,
        "phi": config.phi,
        "lam": config.lam,
        "latent_grid": config.latent_grid,
    }
    if config.lr is not None:
        values["lr"] = config.lr
    if config.weight_decay is not None:
        values["weight_decay"] = config.weight_decay
    if config.latent_epochs is not None:
        values["latent_epochs"] = config.latent_epochs
    if config.epochs is not None:
        values["latent_epochs" if config.model in LATENT_ONLY else "epochs"] = config.epochs
    values.update(protocol_overrides(config))
    kwargs = {k: v for k, v in values.items() if k in names}
    kwargs.update(fixed)
    return cls(**kwargs)


#: Mixed into the seed of the W permutation so that it does not share a stream with the model.
_SHUFFLE_STREAM = 0x5_4A_FF_1E


def aux_permutation(n_users: int, seed: int) -> np.ndarray:
    """The permutation of users that ``shuffle_aux`` applies to W for ``seed``.

    Drawn from ``np.random.default_rng([seed, _SHUFFLE_STREAM])``, independent of the model's own
    random streams; user ``u`` is given the W of user ``perm[u]``.
    """
    return np.random.default_rng([int(seed), _SHUFFLE_STREAM]).permutation(int(n_users))


def with_shuffled_aux(dataset, seed: int):
    """A copy of ``dataset`` whose proxy W is permuted across users; returns (copy, permutation).

    The true confounder, the interactions and the item features are shared, unchanged. An
    instrument equal to the proxy (the same codes for every user: ``ividr-code``, the iDCF
    layout) is permuted with it, since it is the same variable.
    """
    perm = aux_permutation(dataset.n_users, seed)
    changes: dict[str, Any] = {"proxy": np.ascontiguousarray(dataset.proxy[perm])}
    if dataset.instrument.shape == dataset.proxy.shape and np.array_equal(
        dataset.instrument, dataset.proxy
    ):
        changes["instrument"] = np.ascontiguousarray(dataset.instrument[perm])
    meta = dict(dataset.meta)
    meta["shuffle_aux"] = True
    changes["meta"] = meta
    return dataclasses.replace(dataset, **changes), perm


def fit_model(
    dataset,
    config: FitConfig,
    *,
    progress: Callable[[str], None] | None = None,
    callback: Callable[[int, object], dict | None] | None = None,
) -> FitResult:
    """Fit one model on one dataset and score it.

    Parameters
    ----------
    dataset : RecDataset
    config : FitConfig
    progress : callable(str) or None
        Receives one line per epoch (the CLI prints them on stderr).
    callback : callable(epoch, estimator) -> dict or None
        Called after every epoch of the latent stage, with the estimator's ``user_latents_``
        etc. up to date; a returned dict is merged into that epoch's history row.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        A bad config (message names the parameter); TrainingDivergedError (a ValueError) when a
        loss becomes NaN or infinite.
    """
    config.validate()
    est = build_estimator(config)
    val, test = dataset.split_unbiased(0.3, random_state=config.seed)
    perm = None
    truth = getattr(dataset, "confounder", None)
    if config.shuffle_aux:
        dataset, perm = with_shuffled_aux(dataset, config.seed)
    trace_every = config.trace_every
    if trace_every is None:
        trace_every = 1 if truth is not None else 0
    if trace_every and truth is not None and est.has_latents:
        callback = diagnostics.trace_callback(
            truth, every=trace_every, seed=config.seed, inner=callback
        )
    start = time.perf_counter()
    est.fit(dataset, val=val, progress=progress, callback=callback)
    seconds = time.perf_counter() - start

    def scorer(users, items):
        return torch.from_numpy(est.score(users.numpy(), items.numpy()))

    test_m = ranking_metrics(scorer, test)
    val_m = ranking_metrics(scorer, val)
    metrics: dict[str, Any] = {
        "model": config.model,
        "seed": config.seed,
        "ndcg@5": test_m["ndcg@5"],
        "recall@5": test_m["recall@5"],
        "val_ndcg@5": val_m["ndcg@5"],
        "val_recall@5": val_m["recall@5"],
        "epochs_run": est.epochs_run_,
        "seconds": seconds,
    }
    chosen = getattr(est, "chosen_", {})
    if chosen:
        metrics["chosen"] = chosen
    if config.shuffle_aux:
        metrics["shuffle_aux"] = True
    latents = getattr(est, "user_latents_", None) if est.has_latents else None
    prior_mean = getattr(est, "prior_mean_", None) if est.has_latents else None
    if latents is not None and truth is not None:
        from metrics.mcc import mcc

        metrics["mcc"] = float(mcc(truth, latents))
        metrics["mcc_weak"] = float(mcc(truth, latents, weak=True, random_state=config.seed))
        if prior_mean is not None:
            metrics["mcc_prior_only"] = float(mcc(truth, prior_mean))
        if diagnostics.latent_trace(est.history_):
            metrics.update(diagnostics.stopping_summary(est.history_, metrics["mcc"]))
            if config.stop_on == "epochs" and trace_every == 1:
                # The whole trajectory is traced: what every rule would have kept, for free.
                metrics["stop_rules"] = diagnostics.replay_stop_rules(
                    est.history_,
                    patience=est.latent_patience,
                    kl_anneal_epochs=est.kl_anneal_epochs,
                    from_start=est.patience_from_start,
                )
    if est.has_latents:
        metrics["stop_on"] = config.stop_on
    if getattr(est, "restarts_", None):
        metrics.update(diagnostics.restart_report(est.restarts_, est.restart_latents_, truth))
    if getattr(est, "latent_grid_", None):
        metrics.update(
            diagnostics.latent_grid_report(est.latent_grid_, est.latent_grid_latents_, truth)
        )
    if config.protocol != "ours":
        metrics["protocol"] = config.protocol
        metrics["protocol_settings"] = protocol_overrides(config)
    ident = diagnostics.identifiability_checks(est, dataset)
    if ident is not None:
        metrics["identifiability"] = ident
    iv = diagnostics.instrument_checks(est, dataset)
    if iv is not None:
        metrics["instrument"] = iv
    if config.n_boot:
        test_scores = est.score(test.user, test.item) if len(test) else np.zeros(0)
        cis = diagnostics.bootstrap_intervals(
            truth=truth if latents is not None else None,
            latents=latents if truth is not None else None,
            test=test,
            test_scores=test_scores,
            n_boot=config.n_boot,
            seed=config.seed,
        )
        metrics.update({k: v for k, v in cis.items() if k != "n_boot"})
        metrics["n_boot"] = cis["n_boot"]
    return FitResult(
        config=config,
        metrics=metrics,
        latents=latents,
        latents_std=getattr(est, "latent_std_", None) if est.has_latents else None,
        prior_mean=prior_mean,
        history=est.history_,
        estimator=est,
        aux_permutation=perm,
    )
