"""The MCC of a latent stage over its training, and what each stopping rule makes of it
(docs/design.md §5).

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
- :func:`write_history_csv`: a fit's history rows as history.csv.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HISTORY_COLUMNS",
    "latent_trace",
    "replay_stop_rules",
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
