"""Identifiability diagnostics of one fit (docs/design.md §4.3, §5): identifiability
preconditions, instrument strength, bootstrap intervals and the console warnings (the MCC over
training: :mod:`ividr.reporting.trace`; the restarts' and the latent grid's reports:
:mod:`ividr.reporting.selection`).

Everything here is called by :func:`ividr.api.fit_model`; the functions are public so that a
notebook can run them on a :class:`~ividr.api.FitResult` again.

- :func:`identifiability_checks`: ``metrics.aux_preconditions`` on the proxy codes and
  ``metrics.prior_parameter_matrix_check`` on the learned prior evaluated at each distinct W row.
- :func:`instrument_checks`: ``metrics.first_stage_strength`` of the learned per-user treatment
  ``t_u`` (mean of T^re_j over the user's interacted items, shape (n_users, d_q)) on the one-hot
  instrument Z.
- :func:`bootstrap_intervals`: percentile bootstrap over users (200 replicates by default) of
  the strong MCC and of the test NDCG@5 (mean of the per-user NDCG@5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ividr.defaults import DEFAULT_N_BOOT
from ividr.reporting.scoring import strict_json

__all__ = [
    "DEFAULT_N_BOOT",
    "bootstrap_intervals",
    "diagnostic_warnings",
    "identifiability_checks",
    "instrument_checks",
]


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
