"""What one simulation returns (:class:`SimulatedData`) and the exposure summaries it carries.

Shared by the generator (:mod:`simulator.generate`) and the exact replay of the released code's
draw (:mod:`simulator.replay_divers`), which therefore need not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.config import SimConfig
from simulator.dataset import Interactions, RecDataset
from simulator.version import __version__

__all__ = [
    "BLOCK_USERS",
    "EXPOSURE_HIST_BINS",
    "LEAKY_SLOPE",
    "SimulatedData",
    "exposure_histogram",
    "exposure_truth",
    "leaky_relu",
    "summarise_exposure",
]

#: Users per block: the unit of per-cell randomness (fixed; independent of ``chunk_users``).
BLOCK_USERS = 512
#: Negative slope of the LeakyReLU in the exposure.
LEAKY_SLOPE = 0.2
#: Bins of the exposure-probability histogram (over [0, alpha]).
EXPOSURE_HIST_BINS = 20


def leaky_relu(x: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """LeakyReLU: x where x > 0, slope * x elsewhere."""
    return np.where(x > 0, x, slope * x)


def summarise_exposure(
    p_sum: float,
    p_sq: float,
    p_min: float,
    p_max: float,
    hist: np.ndarray,
    n_cells: int,
    alpha: float,
) -> dict[str, Any]:
    """The exposure-probability summary of meta.json from its running sums.

    Parameters
    ----------
    p_sum, p_sq : float
        Sum of the probabilities and of their squares over all cells.
    p_min, p_max : float
    hist : ndarray of shape (EXPOSURE_HIST_BINS,)
        Counts of the probabilities in equal bins over [0, alpha].
    n_cells : int
        Users x items.
    alpha : float

    Returns
    -------
    dict
        mean, std, min, max, histogram, bin_edges (plain Python numbers).
    """
    mean = p_sum / float(n_cells)
    return {
        "mean": mean,
        "std": float(np.sqrt(max(p_sq / float(n_cells) - mean * mean, 0.0))),
        "min": p_min,
        "max": p_max,
        "histogram": [int(v) for v in hist],
        "bin_edges": [float(v) for v in np.linspace(0.0, alpha, EXPOSURE_HIST_BINS + 1)],
    }


def exposure_histogram(prob: np.ndarray, alpha: float) -> np.ndarray:
    """Counts of exposure probabilities in :data:`EXPOSURE_HIST_BINS` equal bins over [0, alpha].

    Returns
    -------
    ndarray of shape (EXPOSURE_HIST_BINS,), int64
    """
    bins = np.minimum((prob * (EXPOSURE_HIST_BINS / alpha)).astype(np.intp), EXPOSURE_HIST_BINS - 1)
    return np.bincount(bins.ravel(), minlength=EXPOSURE_HIST_BINS).astype(np.int64)


def exposure_truth(summary: dict[str, Any]) -> dict[str, np.ndarray]:
    """The summary of :func:`summarise_exposure` as the ``exposure_prob_*`` arrays of truth.npz."""
    return {
        "exposure_prob_mean": np.float64(summary["mean"]),
        "exposure_prob_std": np.float64(summary["std"]),
        "exposure_prob_min": np.float64(summary["min"]),
        "exposure_prob_max": np.float64(summary["max"]),
        "exposure_prob_hist": np.asarray(summary["histogram"], dtype=np.int64),
        "exposure_prob_bin_edges": np.asarray(summary["bin_edges"], dtype=np.float64),
    }


@dataclass
class SimulatedData:
    """Observed data, true latents and knobs of one simulated dataset.

    Attributes
    ----------
    config : SimConfig
    train : Interactions
        Every exposed (u, i) with its rating (ids int32, ratings int8), sorted by user then item.
    unbiased : Interactions
        ``random_items`` distinct uniform items per user with their ratings, sorted likewise
        (process ``ividr-paper``: by user, each user's items in the released draw's order).
    W : ndarray of shape (n_users,), int
        User proxy.
    M : ndarray of shape (n_items,), int
        Item proxy.
    Z : ndarray of shape (n_users, n_fields), int
        Instrument codes (for ``ividr-code``: W itself, one field).
    instrument_levels : tuple of int
    truth : dict of str to ndarray
        Every true latent and parameter: "C" (n_users, d), "V" (n_items, d), "B", "W", "M", "Z",
        "e_Hi", "Mx", "e_u", "e_i", mixture parameters, the exposure-probability summary, and
        "Y" (float32) and "R" (int8), the full y and rating matrices, when m*n is at most
        :data:`simulator.generate.FULL_MATRIX_MAX_CELLS`.
    q05, q95 : float
        Rating quantiles used by f_n.
    quantile_method : str
        "exact" or "sample".
    quantile_cells : int or None
        Cells the sampled quantiles were taken over (None with "exact": all m*n).
    exposure_summary : dict
        Mean, std, min, max and histogram of the exposure probabilities alpha*sigmoid(logit).
    provenance : dict
        How the draw was made, when it is not by this module's generator (the replay of
        ``ividr-paper``); written into meta.json under ``"provenance"`` when not empty.
    """

    config: SimConfig
    train: Interactions
    unbiased: Interactions
    W: np.ndarray
    M: np.ndarray
    Z: np.ndarray
    instrument_levels: tuple[int, ...]
    truth: dict[str, np.ndarray]
    q05: float
    q95: float
    quantile_method: str
    exposure_summary: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    quantile_cells: int | None = None

    @property
    def n_users(self) -> int:
        return self.config.n_users

    @property
    def n_items(self) -> int:
        return self.config.n_items

    @property
    def C(self) -> np.ndarray:  # noqa: N802
        """The true user confounder that MCC scores, shape (n_users, latent_dim)."""
        return self.truth["C"]

    @property
    def density(self) -> float:
        return len(self.train) / float(self.n_users * self.n_items)

    def rating_histograms(self) -> dict[str, dict[str, int]]:
        """Counts of ratings 1..5 in the train and the random set."""
        out = {}
        for label, part in (("train", self.train), ("random", self.unbiased)):
            # One comparison per level: no int64 copy of (possibly 10^8) ratings.
            out[label] = {str(k): int(np.count_nonzero(part.rating == k)) for k in range(1, 6)}
        return out

    def meta(self) -> dict[str, Any]:
        """Provenance for meta.json (without the file hashes, which the writer adds)."""

        cfg = self.config
        return {
            "format": "simgen",
            "version": __version__,
            "preset": cfg.preset,
            "process": cfg.process,
            "seed": cfg.seed,
            "config": cfg.to_dict(runtime=False),
            "n_users": cfg.n_users,
            "n_items": cfg.n_items,
            "proxy_levels": [cfg.clusters],
            "instrument_levels": list(self.instrument_levels),
            "instrument_is_proxy": cfg.process in ("ividr-code", "ividr-paper"),
            "shapes": {k: list(v.shape) for k, v in sorted(self.truth.items())},
            "counts": {
                "train": len(self.train),
                "random": len(self.unbiased),
                "train_positive": int(np.count_nonzero(self.train.rating >= 4)),
                "random_positive": int(np.count_nonzero(self.unbiased.rating >= 4)),
            },
            "exposure_density": self.density,
            "exposure_probability": self.exposure_summary,
            "rating_histogram": self.rating_histograms(),
            "q05": self.q05,
            "q95": self.q95,
            "quantiles": {
                "q05": self.q05,
                "q95": self.q95,
                "method": self.quantile_method,
                "cells": (
                    cfg.n_users * cfg.n_items
                    if self.quantile_method == "exact"
                    else self.quantile_cells
                ),
                "how": (
                    "exact quantiles of y over all cells"
                    if self.quantile_method == "exact"
                    else f"quantiles of y over {self.quantile_cells} cells drawn uniformly "
                    "with replacement"
                ),
            },
            "full_matrix_saved": "R" in self.truth,
            "block_users": BLOCK_USERS,
        } | ({"provenance": self.provenance} if self.provenance else {})

    def summary(self) -> dict[str, Any]:
        """Counts, density and rating histograms (what the CLI prints)."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_train": len(self.train),
            "n_random": len(self.unbiased),
            "exposure_density": self.density,
            "rating_histogram": self.rating_histograms(),
        }

    def to_dataset(self) -> RecDataset:
        """The same :class:`RecDataset` that loading the written directory gives (ids int64)."""

        def widen(part: Interactions) -> Interactions:
            return Interactions(
                part.user.astype(np.int64), part.item.astype(np.int64), part.rating.astype(np.int64)
            )

        return RecDataset(
            name="simgen",
            n_users=self.n_users,
            n_items=self.n_items,
            train=widen(self.train),
            unbiased=widen(self.unbiased),
            proxy=self.W.astype(np.int64)[:, None],
            proxy_levels=(self.config.clusters,),
            instrument=self.Z.astype(np.int64),
            instrument_levels=tuple(self.instrument_levels),
            item_features=self.M.astype(np.int64)[:, None],
            item_feature_levels=(self.config.clusters,),
            truth=dict(self.truth),
            meta=self.meta(),
        )
