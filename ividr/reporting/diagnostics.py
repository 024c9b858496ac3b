"""Identifiability diagnostics of one fit (docs/design.md §4.3, §5): MCC over training, stopping
regret, identifiability preconditions, instrument strength and bootstrap intervals.

Everything here is called by :func:`ividr.api.fit_model`; the functions are public so that a
notebook can run them on a :class:`~ividr.api.FitResult` again.

- MCC trace: :func:`trace_callback` returns a ``callback(epoch, estimator)`` for the latent
  stage that adds ``mcc`` / ``mcc_weak`` (strong / weak Pearson MCC of the posterior mean) to
  every ``every``-th epoch's history row (the row also carries the training loss, ``val_loss``
  = the held-out users' negative ELBO and ``val_recon_ndcg@5`` = their exposure-reconstruction
  NDCG@5; the recommender's validation NDCG@5 does not exist during the latent stage).
- :func:`stopping_summary`: ``mcc_at_checkpoint`` (= the final ``mcc``), ``mcc_best``,
  ``mcc_best_epoch``, ``stopping_regret = mcc_best - mcc_at_checkpoint`` over the traced epochs
  and the checkpoint itself.
- :func:`replay_stop_rules`: from one run that trained every latent epoch (``stop_on="epochs"``)
  with MCC traced every epoch, the checkpoint, MCC and regret each stopping rule would have
  given: the training trajectory does not depend on the rule, so one long run answers for all.
- :func:`identifiability_checks`: ``metrics.aux_preconditions`` on the proxy codes and
  ``metrics.prior_parameter_matrix_check`` on the learned prior evaluated at each distinct W row.
- :func:`instrument_checks`: ``metrics.first_stage_strength`` of the learned per-user treatment
  ``t_u`` (mean of T^re_j over the user's interacted items, shape (n_users, d_q)) on the one-hot
  instrument Z.
- :func:`bootstrap_intervals`: percentile bootstrap over users (200 replicates by default) of
  the strong MCC and of the test NDCG@5 (mean of the per-user NDCG@5).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ividr.defaults import DEFAULT_N_BOOT
from ividr.reporting.scoring import strict_json

__all__ = [
    "DEFAULT_N_BOOT",
    "HISTORY_COLUMNS",
    "bootstrap_intervals",
    "diagnostic_warnings",
    "identifiability_checks",
    "instrument_checks",
    "latent_grid_report",
    "latent_trace",
    "replay_stop_rules",
    "restart_report",
    "stopping_summary",
    "trace_callback",
    "write_history_csv",
]

#: Leading columns of history.csv (others follow in order of appearance).
HISTORY_COLUMNS = (
    "stage",
    "epoch",
    "loss",
    "val_loss",
    "val_recon_ndcg@5",
    "mcc",
    "mcc_weak",
    "checkpoint",
)


def trace_callback(
    truth: np.ndarray, *, every: int, seed: int = 0, inner: Callable | None = None
) -> Callable[[int, object], dict | None]:
    """A latent-stage callback recording strong and weak MCC every ``every`` epochs.

    Parameters
    ----------
    truth : ndarray of shape (n_users, d_true)
    every : int
        Trace epochs 0, every, 2 every, ... (>= 1).
    seed : int
        ``random_state`` of the weak MCC's user split.
    inner : callable or None
        Another ``callback(epoch, estimator)`` chained after this one (its dict is merged).
    """
    from metrics.mcc import mcc

    def callback(epoch: int, est) -> dict | None:
        row: dict[str, Any] = {}
        if epoch % every == 0:
            z = est.user_latents_
            row["mcc"] = float(mcc(truth, z))
            row["mcc_weak"] = float(mcc(truth, z, weak=True, random_state=seed))
        if inner is not None:
            extra = inner(epoch, est)
            if extra:
                row.update(extra)
        return row or None

    return callback


def latent_trace(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history rows of the (last) latent stage that carry a traced ``mcc``."""
    return [r for r in history if r.get("stage") == "latent" and "mcc" in r]


def stopping_summary(history: list[dict[str, Any]], mcc_at_checkpoint: float) -> dict[str, Any]:
    """Best traced MCC against the MCC of the kept checkpoint.

    Parameters
    ----------
    history : list of dict
        Rows of a fit; latent-stage rows with ``mcc`` are the trace, the row with
        ``checkpoint: True`` is the kept epoch.
    mcc_at_checkpoint : float
        Strong MCC of the final (kept) latents.

    Returns
    -------
    dict
        ``mcc_at_checkpoint``, ``checkpoint_epoch`` (None if unknown), ``mcc_best``,
        ``mcc_best_epoch``, ``stopping_regret`` (>= 0), ``n_traced``.
    """
    trace = latent_trace(history)
    ckpt = [r["epoch"] for r in history if r.get("stage") == "latent" and r.get("checkpoint")]
    ckpt_epoch = int(ckpt[-1]) if ckpt else None
    best, best_epoch = float(mcc_at_checkpoint), ckpt_epoch
    for r in trace:
        if r["mcc"] > best:
            best, best_epoch = float(r["mcc"]), int(r["epoch"])
    return {
        "mcc_at_checkpoint": float(mcc_at_checkpoint),
        "checkpoint_epoch": ckpt_epoch,
        "mcc_best": best,
        "mcc_best_epoch": best_epoch,
        "stopping_regret": max(0.0, best - float(mcc_at_checkpoint)),
        "n_traced": len(trace),
    }


def replay_stop_rules(
    history: list[dict[str, Any]],
    *,
    patience: int,
    kl_anneal_epochs: int,
    rules: tuple[str, ...] | None = None,
    from_start: bool = False,
) -> dict[str, dict[str, Any]]:
    """What each stopping rule would have kept, replayed over a full latent-stage trace.

    Every rule sees the same training trajectory (the rule only decides which state to keep and
    when to stop), so the history of a run with ``stop_on="epochs"`` and the MCC traced every
    epoch gives, for every rule, the epoch a real run with that rule would keep
    (:class:`ividr.training.loops.CheckpointRule` decides in both cases).

    Parameters
    ----------
    history : list of dict
        Rows of a fit; its (last) latent stage must have ``val_loss``, ``val_recon_ndcg@5`` and
        ``mcc`` on every epoch from 0, and must have run its whole epoch budget.
    patience, kl_anneal_epochs : int
        The latent stage's settings (``latent_patience``, ``kl_anneal_epochs``).
    rules : tuple of str or None
        Default: every rule of :data:`ividr.training.loops.STOP_RULES`.
    from_start : bool, default False
        The run's ``patience_from_start``.

    Returns
    -------
    dict
        ``{rule: {"checkpoint_epoch", "stop_epoch", "mcc_at_checkpoint", "mcc_best",
        "mcc_best_epoch", "stopping_regret", "regret_full"}}``: ``mcc_best`` and
        ``stopping_regret`` over the epochs that rule would have trained (as a real run reports
        them); ``regret_full`` against the best MCC of the whole trace (one yardstick for all
        rules).

    Raises
    ------
    ValueError
        A history without such a trace.
    """
    from ividr.training.loops import STOP_RULES, CheckpointRule

    rows = [r for r in history if r.get("stage") == "latent"]
    starts = [i for i, r in enumerate(rows) if r.get("epoch") == 0]
    rows = rows[starts[-1] :] if starts else []
    if not rows or any("mcc" not in r for r in rows):
        raise ValueError(
            "replay_stop_rules needs a latent stage with the MCC traced every epoch "
            "(fit with trace_every=1)."
        )
    if [int(r["epoch"]) for r in rows] != list(range(len(rows))):
        raise ValueError("replay_stop_rules needs the latent epochs 0, 1, 2, ... in order.")
    mcc = np.array([float(r["mcc"]) for r in rows])
    out: dict[str, dict[str, Any]] = {}
    for rule in rules or STOP_RULES:
        decide = CheckpointRule(
            rule, patience=patience, kl_anneal_epochs=kl_anneal_epochs, from_start=from_start
        )
        stop = len(rows) - 1
        for r in rows:
            decide.update(
                int(r["epoch"]),
                val_loss=float(r["val_loss"]),
                recon_ndcg=float(r["val_recon_ndcg@5"]),
            )
            if decide.should_stop:
                stop = int(r["epoch"])
                break
        ckpt = stop if decide.best_epoch < 0 else decide.best_epoch
        best_epoch = int(np.argmax(mcc[: stop + 1]))
        out[rule] = {
            "checkpoint_epoch": ckpt,
            "stop_epoch": stop,
            "mcc_at_checkpoint": float(mcc[ckpt]),
            "mcc_best": float(mcc[best_epoch]),
            "mcc_best_epoch": best_epoch,
            "stopping_regret": float(mcc[best_epoch] - mcc[ckpt]),
            "regret_full": float(mcc.max() - mcc[ckpt]),
        }
    return out


def write_history_csv(history: list[dict[str, Any]], path: str | Path) -> None:
    """Every history row as one CSV line (union of keys; missing values left empty)."""
    cols = [c for c in HISTORY_COLUMNS if any(c in r for r in history)]
    for r in history:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, restval="")
        writer.writeheader()
        for r in history:
            writer.writerow({k: _csv_value(v) for k, v in r.items()})


def _csv_value(value):
    if isinstance(value, dict | list | tuple):
        return str(value)
    return value


def _distinct_w(dataset) -> np.ndarray:
    """One row per distinct one-hot W of the dataset, shape (n_levels, sum(levels))."""
    return np.unique(dataset.proxy_onehot(), axis=0)


def identifiability_checks(est, dataset) -> dict[str, Any] | None:
    """Preconditions of the iVAE theorem on the data and on the fitted prior.

    Returns None for a model without a learned prior p(C | W) (MF, VAE, IV4R-MF...).

    Returns
    -------
    dict
        ``aux``: :func:`metrics.aux_preconditions` of the proxy codes against the latent
        dimension; ``prior_matrix``: :func:`metrics.prior_parameter_matrix_check` of the
        learned prior's mean and variance at each distinct W row (singular values as a list).
    """
    from metrics.identifiability import aux_preconditions, prior_parameter_matrix_check

    net = getattr(est, "nets_", {}).get("latent")
    if net is None or not getattr(net, "learned_prior", False):
        return None
    d = int(net.latent_dim)
    out: dict[str, Any] = {"aux": aux_preconditions(dataset.proxy, d)}
    levels = _distinct_w(dataset)
    if levels.shape[0] < 2:
        out["prior_matrix"] = None
        return out
    device = next(net.parameters()).device  # the fit's device (the CPU for a loaded model)
    with torch.no_grad():
        mean, log_var = net.prior(torch.from_numpy(levels).float().to(device), levels.shape[0])
    check = prior_parameter_matrix_check(
        mean.double().cpu().numpy(), log_var.double().exp().cpu().numpy()
    )
    out["prior_matrix"] = {k: strict_json(v, keep_inf=True) for k, v in check.items()}
    return out


def learned_treatment(est, dataset) -> np.ndarray | None:
    """Per-user treatment t_u of IV4R-MF / IViDR, shape (n_users, d_q), or None."""
    from ividr.training.treatments import user_mean_treatment

    t = getattr(est, "user_treatment_", None)
    if t is not None:
        return np.asarray(t, dtype=np.float64)
    if hasattr(est, "reconstruction") and "recommender" in getattr(est, "nets_", {}):
        return user_mean_treatment(dataset, est.reconstruction()["tre"])
    return None


def instrument_checks(est, dataset) -> dict[str, Any] | None:
    """First-stage strength of t_u on the one-hot instrument Z (None for non-IV models).

    Returns
    -------
    dict
        ``f_stat`` (min over the d_q treatment columns), ``f_median``, ``partial_r2`` (min),
        ``weak_instrument`` (F < 10), ``threshold``, ``n_weak_columns``, ``df_num``,
        ``df_den``, ``treatment`` (a description).
    """
    from metrics.iv import first_stage_strength

    t = learned_treatment(est, dataset)
    if t is None:
        return None
    res = first_stage_strength(t, dataset.instrument_onehot())
    keys = ("f_stat", "f_median", "partial_r2", "weak_instrument", "threshold")
    out = {k: strict_json(res[k], keep_inf=True) for k in keys}
    for k in ("n_weak_columns", "df_num", "df_den", "n_skipped_columns"):
        if k in res:
            out[k] = strict_json(res[k], keep_inf=True)
    out["treatment"] = "t_u = mean of T^re_j over the user's interacted items"
    return out


def bootstrap_intervals(
    *,
    truth: np.ndarray | None,
    latents: np.ndarray | None,
    test,
    test_scores: np.ndarray,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """95% percentile bootstrap intervals over users: ``mcc_ci`` and ``ndcg@5_ci``.

    Each is ``[low, high]``; ``mcc_ci`` only when ``truth`` and ``latents`` are given. NDCG@5
    resamples the test users (the mean of their per-user NDCG@5 = the reported ``ndcg@5``).
    """
    from ividr.reporting.scoring import mcc_interval
    from metrics.bootstrap import bootstrap_ci
    from metrics.ranking import per_user_ndcg_recall

    out: dict[str, Any] = {"n_boot": int(n_boot)}
    if truth is not None and latents is not None:
        out["mcc_ci"] = mcc_interval(truth, latents, n_boot=n_boot, seed=seed)
    if len(test) > 0:
        _, ndcg, _ = per_user_ndcg_recall(test.user, test_scores, test.positive, 5)
        if ndcg.size >= 2:
            lo, hi, _ = bootstrap_ci(np.mean, ndcg, n_boot=n_boot, random_state=seed)
            out["ndcg@5_ci"] = [lo, hi]
    return out


def diagnostic_warnings(metrics: dict[str, Any]) -> list[str]:
    """One-line warnings for failed preconditions and weak instruments in ``metrics``."""
    lines = []
    ident = metrics.get("identifiability") or {}
    aux = ident.get("aux")
    if aux and not aux["ok"]:
        lines.append(
            f"Warning: W takes {aux['n_distinct']} distinct values; the iVAE theorem needs "
            f"{aux['n_required']} (latent_dim {aux['latent_dim']} x k {aux['k']} + 1)."
        )
    pm = ident.get("prior_matrix")
    if pm and not pm["ok"]:
        lines.append(
            f"Warning: the learned prior's parameter matrix L has rank {pm['rank']} < "
            f"{pm['n_required']} (condition number {pm['condition_number']:.3g})."
        )
    iv = metrics.get("instrument")
    if iv and iv.get("weak_instrument"):
        lines.append(
            f"Warning: weak instrument: first-stage F {iv['f_stat']:.3g} < {iv['threshold']:g} "
            f"(median over treatment columns {iv['f_median']:.3g})."
        )
    return lines


def restart_report(
    restarts: list[dict[str, Any]], latents: list[np.ndarray], truth: np.ndarray | None
) -> dict[str, Any]:
    """metrics.json's view of a latent stage's restarts (chosen without the truth).

    Returns ``{"restarts": [...]}``: each restart's seed, epochs, kept epoch, held-out negative
    ELBO at it, the epoch it was pruned at (None: trained to its end) and whether it was kept;
    with the truth also its strong ``mcc``, and ``restart_choice_best_mcc``: whether the kept
    restart (lowest held-out negative ELBO) also has the highest MCC, i.e. whether the ELBO
    tracked the MCC on this fit.
    """
    rows = [dict(r) for r in restarts]
    out: dict[str, Any] = {"restarts": rows}
    if truth is not None:
        from metrics.mcc import mcc

        for row, z in zip(rows, latents, strict=True):
            row["mcc"] = float(mcc(truth, z))
        best = max(r["mcc"] for r in rows)
        out["restart_choice_best_mcc"] = bool(next(r for r in rows if r["kept"])["mcc"] >= best)
    return out


def latent_grid_report(
    points: list[dict[str, Any]], latents: list[np.ndarray], truth: np.ndarray | None
) -> dict[str, Any]:
    """metrics.json's view of the ``latent_grid`` search (chosen without the truth).

    Returns ``latent_grid`` (each point's latent_lr, l2_penalty, held-out negative ELBO at its
    kept checkpoint ``val_loss``, epochs, kept epoch, ``kept``; with the truth also its strong
    ``mcc``), the kept point's ``latent_grid_lr`` and ``latent_grid_l2`` (flat, for the sweep's
    results table) and, with the truth, ``latent_grid_choice_best_mcc``: whether the kept point
    also has the highest MCC.
    """
    rows = [dict(p) for p in points]
    kept = next(r for r in rows if r["kept"])
    out: dict[str, Any] = {
        "latent_grid": rows,
        "latent_grid_lr": kept["latent_lr"],
        "latent_grid_l2": kept["l2_penalty"],
    }
    if truth is not None:
        from metrics.mcc import mcc

        for row, z in zip(rows, latents, strict=True):
            row["mcc"] = float(mcc(truth, z))
        out["latent_grid_choice_best_mcc"] = bool(kept["mcc"] >= max(r["mcc"] for r in rows))
    return out
