"""Reference levels of a dataset's MCC figures (docs/design.md §5), computed once and cached.

Every MCC of a learned confounder should be read against two lines that depend only on the data:

- ``mcc_proxy_oracle``: strong and weak MCC between the true C and E[C | W], its W-group means:
  what a model that only embedded the proxy W could reach (:func:`metrics.reference.proxy_oracle`);
- ``mcc_chance``: mean and 95th percentile of the strong MCC between C and independent Gaussian
  latents of the same shape, by simulation (:func:`metrics.reference.chance_mcc`, ``n_draws``
  draws; the analytic approximation beside it);
- ``mcc_proxy_chance``: mean and 95th percentile of the strong MCC of a random function of W
  (:func:`metrics.reference.proxy_chance_mcc`): the chance level of a latent that depends on W
  alone, such as a learned prior mean (with 5 proxy levels about 0.48, far above ``mcc_chance``);

and one figure on how much the exposures themselves say about C:

- ``r2_exposure``: held-out R^2 of a ridge regression of C on the exposure row, on one-hot W and on
  both (:func:`metrics.reference.exposure_r2`);

and the supervised ceiling (docs/design.md §5):

- ``mcc_supervised``: strong MCC of a cross-fitted nonlinear regressor of C trained on the truth,
  from the exposure row and W (``exposure_w``) and from the exposure row alone (``exposure``)
  (:func:`metrics.reference.mcc_supervised`): no encoder q(C | A, W) can beat ``exposure_w`` by
  more than estimation error.

:func:`dataset_references` computes them from a :class:`~simulator.dataset.RecDataset`;
:func:`references_for` adds the cache: for a ``simgen`` directory the figures are written to
``references.json`` beside ``meta.json`` on first use (atomically: temporary file + ``os.replace``)
and read back afterwards while that file's ``meta_sha256`` matches the directory's ``meta.json``.
``simgen`` itself writes nothing extra unless asked (``simgen --references``); ``ividr fit`` and
``ividr sweep`` call :func:`references_for`, so a dataset's figures are computed the first time a
fit uses it. Other layouts (Coat, the iDCF folders of the external datasets, docs/data.md) are never
written to; their figures are recomputed (memoised per process).

The chance level is for a learned latent of the true confounder's dimension (the models' default
``latent_dim``); ``d_learned`` says which.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from simulator.dataset import DatasetError
from simulator.files import atomic_write_text, dumps_json

__all__ = [
    "REFERENCES_FILE",
    "REFERENCES_VERSION",
    "dataset_references",
    "flat_references",
    "read_references",
    "references_for",
]

REFERENCES_FILE = "references.json"
REFERENCES_FORMAT = "ividr-references"
#: Bumped whenever the figures' definition changes, so stale caches are recomputed
#: (2: the supervised ceiling ``mcc_supervised`` was added; 3: ``mcc_proxy_chance``).
REFERENCES_VERSION = 3
#: Top-level keys a cached file must hold to be used (older caches lack some: recomputed).
REFERENCES_KEYS = (
    "mcc_proxy_oracle",
    "mcc_chance",
    "mcc_proxy_chance",
    "r2_exposure",
    "mcc_supervised",
)
DEFAULT_N_DRAWS = 200

_MEMO: dict[tuple[str, float, int, int], dict[str, Any]] = {}


def dataset_references(
    dataset, *, n_draws: int = DEFAULT_N_DRAWS, random_state: int = 0
) -> dict[str, Any]:
    """Proxy-oracle MCC, chance MCC, exposure R^2 and supervised ceiling of a dataset with a truth.

    Parameters
    ----------
    dataset : RecDataset
        Must carry the true confounder (``dataset.confounder``, shape (n_users, d)).
    n_draws : int, default 200
        Simulated draws of the chance level.
    random_state : int, default 0
        Seeds the weak-MCC half split, the chance draws, the ridge's 70/30 user split and the
        supervised ceiling's folds.

    Returns
    -------
    dict
        ``mcc_proxy_oracle``: {strong, weak, r2 (share of Var C explained by W), n_groups,
        min_group_size}; ``mcc_chance``: {mean, std, p95, analytic, analytic_upper, n_draws,
        d_learned}; ``mcc_proxy_chance``: {mean, std, p95, n_draws, n_groups, d_learned} (None
        with fewer than 3 users); ``r2_exposure``: {exposure, proxy, exposure_and_proxy,
        alpha_exposure, alpha_proxy, alpha_exposure_and_proxy, n_train, n_test} or None when it
        is undefined (a constant column of C, fewer than 4 users); ``mcc_supervised``:
        {exposure_w, exposure, estimator} (5-fold cross-fitted strong MCC from the exposures and
        W / the exposures alone) or None when it is undefined (fewer than 5 users); plus
        ``n_users``, ``d_true``, ``random_state``, ``format``, ``version``.

    Raises
    ------
    DatasetError
        When the dataset carries no true confounder.
    """
    from metrics.reference import chance_mcc, proxy_chance_mcc, proxy_oracle

    c = _true_confounder(dataset)
    n, d = c.shape
    oracle = proxy_oracle(c, dataset.proxy, random_state=random_state)
    chance = chance_mcc(max(n, 3), d, d, n_draws=n_draws, random_state=random_state)
    w_chance = (
        proxy_chance_mcc(c, dataset.proxy, n_draws=n_draws, random_state=random_state)
        if n >= 3
        else None
    )
    r2_out = _exposure_r2_figures(dataset, c, random_state)
    sup_out = _supervised_figures(dataset, c, random_state)
    return {
        "format": REFERENCES_FORMAT,
        "version": REFERENCES_VERSION,
        "n_users": int(n),
        "d_true": int(d),
        "random_state": int(random_state),
        "mcc_proxy_oracle": {
            "strong": float(oracle["mcc_strong"]),
            "weak": float(oracle["mcc_weak"]),
            "r2": float(oracle["r2"]),
            "n_groups": int(oracle["n_groups"]),
            "min_group_size": int(oracle["min_group_size"]),
        },
        "mcc_chance": {
            "mean": float(chance["mean"]),
            "std": float(chance["std"]),
            "p95": float(chance["p95"]),
            "analytic": float(chance["analytic"]),
            "analytic_upper": float(chance["analytic_upper"]),
            "n_draws": int(chance["n_draws"]),
            "d_learned": int(d),
        },
        "mcc_proxy_chance": _proxy_chance_figures(w_chance),
        "r2_exposure": r2_out,
        "mcc_supervised": sup_out,
    }


def _true_confounder(dataset) -> np.ndarray:
    """The dataset's true C as a float matrix (n_users, d); DatasetError when it has none."""
    truth = dataset.confounder
    if truth is None:
        raise DatasetError(f"dataset {dataset.name!r} carries no true confounder C")
    c = np.asarray(truth, dtype=float)
    if c.ndim == 1:
        c = c[:, None]
    return c


def _proxy_chance_figures(w_chance: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``mcc_proxy_chance`` entry (None when it was not computed: fewer than 3 users)."""
    if w_chance is None:
        return None
    return {
        "mean": w_chance["mean"],
        "std": w_chance["std"],
        "p95": w_chance["p95"],
        "n_draws": w_chance["n_draws"],
        "n_groups": w_chance["n_groups"],
        "d_learned": w_chance["d_learned"],
    }


def _exposure_r2_figures(dataset, c: np.ndarray, random_state: int) -> dict[str, Any] | None:
    """The ``r2_exposure`` entry, or None when the ridge R^2 is undefined for these data."""
    from metrics._validation import MetricInputError
    from metrics.reference import exposure_r2

    try:
        r2 = exposure_r2(
            dataset.exposure_csr(), c, dataset.proxy_onehot(), random_state=random_state
        )
    except MetricInputError:
        return None
    return {
        "exposure": r2["r2_exposure"],
        "proxy": r2["r2_proxy"],
        "exposure_and_proxy": r2["r2_exposure_and_proxy"],
        "alpha_exposure": r2["alpha_exposure"],
        "alpha_proxy": r2["alpha_proxy"],
        "alpha_exposure_and_proxy": r2["alpha_exposure_and_proxy"],
        "n_train": r2["n_train"],
        "n_test": r2["n_test"],
    }


def _supervised_figures(dataset, c: np.ndarray, random_state: int) -> dict[str, Any] | None:
    """The ``mcc_supervised`` entry, or None when the ceiling is undefined (too few users)."""
    from metrics._validation import MetricInputError
    from metrics.reference import mcc_supervised

    try:
        sup = mcc_supervised(c, dataset.exposure_csr(), dataset.proxy, random_state=random_state)
    except MetricInputError:
        return None
    return {
        "exposure_w": float(sup["exposure_w"]),
        "exposure": float(sup["exposure"]),
        "estimator": str(sup["estimator"]),
    }


def flat_references(refs: dict[str, Any] | None) -> dict[str, float | None]:
    """The headline figures as flat scalars (the columns of a sweep's results table).

    ``ref_oracle`` / ``ref_oracle_weak`` (proxy-oracle strong / weak MCC), ``ref_chance`` /
    ``ref_chance_p95`` (chance MCC mean / 95th percentile), ``ref_proxy_chance`` /
    ``ref_proxy_chance_p95`` (the chance MCC of a random function of W), ``ref_r2_exposure`` /
    ``ref_r2_proxy`` (held-out ridge R^2 from the exposures / from W),
    ``ref_supervised_exposure_w`` / ``ref_supervised_exposure`` (supervised ceiling: strong MCC
    from the exposures and W / from the exposures alone; None when undefined). Empty for None.
    """
    if not refs:
        return {}
    r2 = refs.get("r2_exposure") or {}
    sup = refs.get("mcc_supervised") or {}
    w_chance = refs.get("mcc_proxy_chance") or {}
    return {
        "ref_oracle": refs["mcc_proxy_oracle"]["strong"],
        "ref_oracle_weak": refs["mcc_proxy_oracle"]["weak"],
        "ref_chance": refs["mcc_chance"]["mean"],
        "ref_chance_p95": refs["mcc_chance"]["p95"],
        "ref_proxy_chance": w_chance.get("mean"),
        "ref_proxy_chance_p95": w_chance.get("p95"),
        "ref_r2_exposure": r2.get("exposure"),
        "ref_r2_proxy": r2.get("proxy"),
        "ref_supervised_exposure_w": sup.get("exposure_w"),
        "ref_supervised_exposure": sup.get("exposure"),
    }


def _meta_digest(path: Path) -> str:
    return hashlib.sha256((path / "meta.json").read_bytes()).hexdigest()


def read_references(path: str | Path, *, n_draws: int = DEFAULT_N_DRAWS, random_state: int = 0):
    """The cached figures of a simgen directory, or None when absent, stale or unreadable."""
    path = Path(path)
    try:
        refs = json.loads((path / REFERENCES_FILE).read_text(encoding="utf-8"))
        fresh = (
            refs.get("format") == REFERENCES_FORMAT
            and refs.get("version") == REFERENCES_VERSION
            and refs.get("meta_sha256") == _meta_digest(path)
            and refs.get("random_state") == random_state
            and refs.get("mcc_chance", {}).get("n_draws") == n_draws
            and all(key in refs for key in REFERENCES_KEYS)
        )
    except (OSError, ValueError, AttributeError):
        return None
    return refs if fresh else None


def references_for(
    path: str | Path,
    dataset=None,
    *,
    n_draws: int = DEFAULT_N_DRAWS,
    random_state: int = 0,
    write: bool = True,
) -> dict[str, Any] | None:
    """The reference figures of the dataset at ``path``, from its cache when there is one.

    Parameters
    ----------
    path : str or Path
        A dataset folder (any layout :func:`simulator.loaders.load_dataset` reads).
    dataset : RecDataset or None
        The dataset already loaded from ``path`` (else it is loaded when needed).
    n_draws, random_state : int
        As in :func:`dataset_references`; part of the cache key.
    write : bool, default True
        Write ``references.json`` into a simgen directory that lacks a fresh one (skipped
        silently when the directory is not writable). Other layouts are never written to.

    Returns
    -------
    dict or None
        :func:`dataset_references`'s dict (with ``meta_sha256`` for a simgen directory), or
        None when the dataset carries no true confounder.
    """
    from simulator.loaders import detect_format, load_dataset

    path = Path(path)
    fmt = detect_format(path)
    if fmt == "simgen":
        cached = read_references(path, n_draws=n_draws, random_state=random_state)
        if cached is not None:
            return cached
        digest = _meta_digest(path)
        if dataset is None:
            dataset = load_dataset(path)
        if dataset.confounder is None:
            return None
        refs = dataset_references(dataset, n_draws=n_draws, random_state=random_state)
        refs["meta_sha256"] = digest
        if write and os.access(path, os.W_OK):
            try:
                atomic_write_text(path / REFERENCES_FILE, dumps_json(refs))
            except OSError:
                pass  # a read-only or full disk only loses the cache
        return refs
    key = (str(path.resolve()), path.stat().st_mtime, n_draws, random_state)
    if key not in _MEMO:
        if dataset is None:
            dataset = load_dataset(path)
        if dataset.confounder is None:
            return None
        _MEMO[key] = dataset_references(dataset, n_draws=n_draws, random_state=random_state)
    return json.loads(json.dumps(_MEMO[key]))
