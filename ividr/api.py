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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ividr import models, registry
from ividr.config import FitConfig
from ividr.hyperparams import hyperparameters
from ividr.models.base import BaseRecommender, TrainingDivergedError
from ividr.persistence import ModelFileError, load_model, save_model
from ividr.registry import LATENT_MODELS, LATENT_ONLY, MODEL_NAMES, SHUFFLE_MODELS
from ividr.reporting import diagnostics, selection, trace
from ividr.reporting.scoring import latent_metrics
from ividr.training.devices import cuda_determinism, resolve_device
from ividr.training.loops import ranking_metrics
from ividr.training.protocols import protocol_settings
from metrics.mcc import mcc
from metrics.spec import mark_checked

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
    "model_fields",
    "protocol_overrides",
    "save_model",
    "unbiased_split",
    "used_config",
    "with_shuffled_aux",
]

#: Model name -> (estimator class, fixed keyword arguments), from the registry's table.
_ESTIMATORS: dict[str, tuple[type[BaseRecommender], dict[str, Any]]] = {
    m.name: (getattr(models, m.estimator), dict(m.kwargs)) for m in registry.MODELS
}


@dataclass
class FitResult:
    """What :func:`fit_model` returns.

    Attributes
    ----------
    config : FitConfig
    metrics : dict
        "ndcg@5", "recall@5" (test), "val_ndcg@5", "val_recall@5", "model", "seed",
        "epochs_run", "seconds", and "mcc", "mcc_weak" when the data carry the true confounder
        and the model has latents. Diagnostics (§5, :mod:`ividr.reporting.diagnostics`):
        "mcc_matching" and "mcc_prior_only" (:func:`ividr.reporting.scoring.latent_metrics`, what
        ``ividr score`` reports too); "mcc_unshrunk" and "latent_reliability" (IViDR with
        ``latent_shrinkage``: the posterior mean's MCC before the shrinkage, and the split-half
        reliabilities, :mod:`ividr.training.shrinkage`); "mcc_at_checkpoint",
        "checkpoint_epoch", "mcc_best", "mcc_best_epoch", "stopping_regret", "n_traced" (MCC
        traced, see ``trace_every``);
        "stop_rules" (with ``stop_on="epochs"`` and the MCC traced every epoch: every rule's
        checkpoint, MCC and regret, :func:`ividr.reporting.trace.replay_stop_rules`);
        "stop_on"
        (models with a trained latent stage);
        "identifiability" ({"aux", "prior_matrix"}, models with a learned prior);
        "instrument" (first-stage F / partial R^2 of t_u on Z, IV4R-MF and IViDR); "mcc_ci",
        "ndcg@5_ci" ([low, high], 95% bootstrap over users) and "n_boot" (``n_boot`` > 0);
        "restarts" (:func:`ividr.reporting.selection.restart_report`); "latent_grid",
        "latent_grid_lr", "latent_grid_l2" (``latent_grid``,
        :func:`ividr.reporting.selection.latent_grid_report`); "protocol" and "protocol_settings"
        (the settings a protocol other than "ours" set, :func:`protocol_overrides`).
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


#: FitConfig fields that are not a stage's hyperparameter, and the models they apply to (None:
#: every model). Everything else a model uses is its spec's (:mod:`ividr.hyperparams`).
_RUN_FIELDS: dict[str, tuple[str, ...] | None] = {
    "model": None,
    "protocol": None,
    "split": None,
    "n_boot": None,
    # W is permuted for what a learned prior mu_w(W) makes of it (the registry's SHUFFLE_MODELS).
    "shuffle_aux": SHUFFLE_MODELS,
    # The MCC trace follows a latent stage.
    "trace_every": LATENT_MODELS,
}


def unbiased_split(dataset, config: FitConfig) -> tuple[Any, Any]:
    """The validation and test parts of ``dataset``'s unbiased set for a fit of ``config``.

    ``config.split`` 'seed': 30% of the users, drawn from ``config.seed``
    (``RecDataset.split_unbiased``); 'released': the released codes' one split, the same for
    every seed (``RecDataset.split_unbiased_released``).
    """
    if config.split == "released":
        return dataset.split_unbiased_released()
    return dataset.split_unbiased(0.3, random_state=config.seed)


def model_fields(model: str) -> frozenset[str]:
    """The :class:`FitConfig` fields that ``model`` uses.

    The hyperparameters of its estimator's spec (``Params``, :mod:`ividr.hyperparams`) but the
    registry's fixed ones (IViDR's ``variant``), ``epochs`` for a latent-only model (it sets its
    latent stage, FitConfig.epochs), and the run fields of :data:`_RUN_FIELDS` that apply to it.
    """
    cls, fixed = _ESTIMATORS[model]
    names = {f.name for f in hyperparameters(cls.Params)} - set(fixed)
    if model in LATENT_ONLY:
        names.add("epochs")
    names |= {f for f, models in _RUN_FIELDS.items() if models is None or model in models}
    return frozenset(names & {f.name for f in dataclasses.fields(FitConfig)})


def used_config(config: FitConfig, estimator: BaseRecommender | None = None) -> dict[str, Any]:
    """The settings a fit of ``config`` used, for config.json (docs/design.md §7).

    Only the fields of :func:`model_fields` (a field the model ignores is not a setting of the
    fit); a latent-only model's ``epochs`` is written as the ``latent_epochs`` it set; a field
    left None ("the model's default") is written with the value the ``estimator`` used.
    ``FitConfig.from_dict`` of the result describes the same fit.
    """
    fields = model_fields(config.model)
    out = {k: v for k, v in config.to_dict().items() if k in fields}
    if config.model in LATENT_ONLY:
        epochs = out.pop("epochs", None)
        if epochs is not None:
            out["latent_epochs"] = epochs
    params = estimator.get_params() if estimator is not None else {}
    for name, value in out.items():
        if value is None and params.get(name) is not None:
            out[name] = params[name]
    latents = getattr(estimator, "user_latents_", None)
    if out.get("latent_dim", 0) is None and latents is not None:
        out["latent_dim"] = int(latents.shape[1])  # None: resolved from the data at fit time
    return out


def protocol_overrides(config: FitConfig) -> dict[str, Any]:
    """The estimator settings ``config.protocol`` sets
    (:func:`ividr.training.protocols.protocol_settings`).

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
    """The (unfitted) estimator a config describes (its protocol's settings applied).

    Every hyperparameter of the model's spec is taken from the config field of the same name.
    A config field that is None where the model's own default is not (``epochs``,
    ``latent_epochs``: "not given") leaves the model's default; ``epochs`` of a latent-only
    model (vae, ivae) is its latent stage's. The registry's fixed arguments (IViDR's
    ``variant``) come last.
    """
    config.validate()
    cls, fixed = _ESTIMATORS[config.model]
    values: dict[str, Any] = {}
    for f in hyperparameters(cls.Params):
        if not hasattr(config, f.name):
            continue  # model-only (the registry's fixed arguments)
        value = getattr(config, f.name)
        if value is None and f.default is not None:
            continue
        values[f.name] = value
    if config.epochs is not None and config.model in LATENT_MODELS and config.model in LATENT_ONLY:
        values["latent_epochs"] = config.epochs
    values.update(protocol_overrides(config))
    values.update(fixed)
    est = cls(**values)
    # The values come from the config checked above (the same specs), the protocol's and the
    # registry's constants: the estimator's fit need not check them again.
    mark_checked(est, est.get_params())
    return est


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


def _trace_every(config: FitConfig, truth: np.ndarray | None) -> int:
    """The MCC trace interval: ``config.trace_every``, else every epoch when the truth is known."""
    if config.trace_every is None:
        return 1 if truth is not None else 0
    return config.trace_every


def _run_metrics(
    config: FitConfig, est: BaseRecommender, test_m: dict, val_m: dict, seconds: float
) -> dict[str, Any]:
    """The metrics of every fit: test and validation ranking, epochs, time, device, choices."""
    metrics: dict[str, Any] = {
        "model": config.model,
        "seed": config.seed,
        "ndcg@5": test_m["ndcg@5"],
        "recall@5": test_m["recall@5"],
        "val_ndcg@5": val_m["ndcg@5"],
        "val_recall@5": val_m["recall@5"],
        "epochs_run": est.epochs_run_,
        "seconds": seconds,
        "device": str(est.device_),
    }
    if est.device_.type == "cuda":
        metrics["device_name"] = torch.cuda.get_device_name(est.device_)
    chosen = getattr(est, "chosen_", {})
    if chosen:
        metrics["chosen"] = chosen
    if config.shuffle_aux:
        metrics["shuffle_aux"] = True
    return metrics


def _truth_metrics(
    config: FitConfig,
    est: BaseRecommender,
    truth: np.ndarray,
    latents: np.ndarray,
    prior_mean: np.ndarray | None,
    trace_every: int,
) -> dict[str, Any]:
    """The latents against the true confounder: MCC, its diagnostics, the stopping regret."""
    # The same figures `ividr score` reports for latents learned anywhere (§6).
    metrics = latent_metrics(
        truth, latents, prior_mean=prior_mean, n_boot=config.n_boot, seed=config.seed
    )
    checkpoint_mcc = metrics["mcc"]
    unshrunk = getattr(est, "unshrunk_latents_", None)
    if unshrunk is not None:
        # The trace follows the posterior mean itself, so the stopping regret compares with it.
        checkpoint_mcc = metrics["mcc_unshrunk"] = float(mcc(truth, unshrunk))
    if trace.latent_trace(est.history_):
        metrics.update(trace.stopping_summary(est.history_, checkpoint_mcc))
        if config.stop_on == "epochs" and trace_every == 1:
            # The whole trajectory is traced: what every rule would have kept, for free.
            metrics["stop_rules"] = trace.replay_stop_rules(
                est.history_,
                patience=est.latent_patience,
                kl_anneal_epochs=est.kl_anneal_epochs,
                from_start=est.patience_from_start,
            )
    return metrics


def _diagnostic_metrics(
    config: FitConfig, est: BaseRecommender, dataset, truth: np.ndarray | None
) -> dict[str, Any]:
    """The diagnostics of the fit (§5): stop rule, restarts, latent grid, protocol, checks."""
    metrics: dict[str, Any] = {}
    if config.model in LATENT_MODELS:
        metrics["stop_on"] = config.stop_on
    if getattr(est, "latent_reliability_", None):
        metrics["latent_reliability"] = est.latent_reliability_
    if getattr(est, "restarts_", None):
        metrics.update(selection.restart_report(est.restarts_, est.restart_latents_, truth))
    if getattr(est, "latent_grid_", None):
        metrics.update(
            selection.latent_grid_report(est.latent_grid_, est.latent_grid_latents_, truth)
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
    return metrics


def _bootstrap_metrics(config: FitConfig, est: BaseRecommender, test) -> dict[str, Any]:
    """95% bootstrap intervals over test users of the ranking metrics, and ``n_boot``."""
    test_scores = est.score(test.user, test.item) if len(test) else np.zeros(0)
    cis = diagnostics.bootstrap_intervals(  # mcc_ci: latent_metrics
        truth=None,
        latents=None,
        test=test,
        test_scores=test_scores,
        n_boot=config.n_boot,
        seed=config.seed,
    )
    metrics = {k: v for k, v in cis.items() if k != "n_boot"}
    metrics["n_boot"] = cis["n_boot"]
    return metrics


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
        A bad config (message names the parameter); DeviceError (a ValueError) when
        ``config.device`` is not on this machine; TrainingDivergedError (a ValueError) when a
        loss becomes NaN or infinite.
    """
    est = build_estimator(config)  # checks the config (once: the CLI may have already)
    device = resolve_device(config.device)
    val, test = unbiased_split(dataset, config)
    perm = None
    truth = getattr(dataset, "confounder", None)
    if config.shuffle_aux:
        dataset, perm = with_shuffled_aux(dataset, config.seed)
    trace_every = _trace_every(config, truth)
    if trace_every and truth is not None and est.has_latents:
        callback = trace.trace_callback(truth, every=trace_every, seed=config.seed, inner=callback)
    with cuda_determinism(device):
        start = time.perf_counter()
        est.fit(dataset, val=val, progress=progress, callback=callback)
        seconds = time.perf_counter() - start

        def scorer(users, items):
            return torch.from_numpy(est.score(users.numpy(), items.numpy()))

        test_m = ranking_metrics(scorer, test)
        val_m = ranking_metrics(scorer, val)
    metrics = _run_metrics(config, est, test_m, val_m, seconds)
    latents = getattr(est, "user_latents_", None) if est.has_latents else None
    prior_mean = getattr(est, "prior_mean_", None) if est.has_latents else None
    if latents is not None and truth is not None:
        metrics.update(_truth_metrics(config, est, truth, latents, prior_mean, trace_every))
    metrics.update(_diagnostic_metrics(config, est, dataset, truth))
    if config.n_boot:
        metrics.update(_bootstrap_metrics(config, est, test))
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
