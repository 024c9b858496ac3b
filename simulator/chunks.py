"""The machinery of :func:`simulator.generate.generate`'s chunked computation (its module
docstring says why the output does not depend on the chunking): which users a chunk holds, as
whole blocks (:func:`chunk_blocks`); the work buffers allocated once and reused by every chunk
(:class:`WorkBuffers`, one chunk's views: :class:`Chunk`); the exposure probabilities' running
summary, reduced per block in block order (:class:`ExposureStats`); and what the chunks leave
behind, the exposures, the random set and the rating-quantile samples (:class:`Collector`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.config import SimConfig
from simulator.dataset import Interactions
from simulator.ratings import _ratings32
from simulator.simulated import (
    BLOCK_USERS,
    EXPOSURE_HIST_BINS,
    exposure_histogram,
    summarise_exposure,
)

__all__ = ["Chunk", "Collector", "ExposureStats", "WorkBuffers", "chunk_blocks"]


def chunk_blocks(n_users: int, chunk_users: int):
    """Yield (start, stop, [(block, lo, hi), ...]) per chunk; lo/hi are rows within the chunk."""
    per_chunk = max(1, -(-chunk_users // BLOCK_USERS))
    n_blocks = -(-n_users // BLOCK_USERS)
    for b0 in range(0, n_blocks, per_chunk):
        bs = range(b0, min(b0 + per_chunk, n_blocks))
        start = b0 * BLOCK_USERS
        stop = min(bs[-1] * BLOCK_USERS + BLOCK_USERS, n_users)
        parts = []
        for b in bs:
            lo = b * BLOCK_USERS - start
            hi = min((b + 1) * BLOCK_USERS, n_users) - start
            parts.append((b, lo, hi))
        yield start, stop, parts


@dataclass
class Chunk:
    """One chunk's rows of the work buffers (and of Y when the full matrix is kept)."""

    logit: np.ndarray
    unif: np.ndarray
    noise_r: np.ndarray
    y: np.ndarray
    y32: np.ndarray
    noise_e: np.ndarray | None
    extra_x: np.ndarray | None


@dataclass
class WorkBuffers:
    """Work buffers, allocated once and reused by every chunk (the last one uses a prefix)."""

    logit: np.ndarray
    unif: np.ndarray
    noise: np.ndarray
    y: np.ndarray
    y32: np.ndarray
    e: np.ndarray | None
    x: np.ndarray | None

    @classmethod
    def allocate(cls, cfg: SimConfig, exposure_noise: bool, extra: bool) -> WorkBuffers:
        """Buffers for the largest chunk; ``e`` only with exposure noise, ``x`` only with extra."""
        m, n = cfg.n_users, cfg.n_items
        max_rows = min(m, max(1, -(-cfg.chunk_users // BLOCK_USERS)) * BLOCK_USERS)
        return cls(
            logit=np.empty((max_rows, n)),
            unif=np.empty((max_rows, n)),
            noise=np.empty((max_rows, n)),
            y=np.empty((max_rows, n)),
            y32=np.empty((max_rows, n), dtype=np.float32),
            e=np.empty((max_rows, n)) if exposure_noise else None,
            x=np.empty((max_rows, n)) if extra else None,
        )

    def views(self, rows: int, y32: np.ndarray | None) -> Chunk:
        """The first ``rows`` rows of every buffer; ``y32`` (rows of Y) replaces the own one."""
        return Chunk(
            logit=self.logit[:rows],
            unif=self.unif[:rows],
            noise_r=self.noise[:rows],
            y=self.y[:rows],
            y32=y32 if y32 is not None else self.y32[:rows],
            noise_e=self.e[:rows] if self.e is not None else None,
            extra_x=self.x[:rows] if self.x is not None else None,
        )


@dataclass
class ExposureStats:
    """Running sums of the exposure probabilities, reduced per block in block order."""

    p_sum: float = 0.0
    p_sq: float = 0.0
    p_min: float = np.inf
    p_max: float = -np.inf
    hist: np.ndarray = field(default_factory=lambda: np.zeros(EXPOSURE_HIST_BINS, dtype=np.int64))

    def add_chunk(
        self, prob: np.ndarray, parts: list[tuple[int, int, int]], scratch: np.ndarray, alpha: float
    ) -> None:
        """Add one chunk's probabilities; ``scratch`` (same shape) receives their squares."""
        for _b, lo, hi in parts:  # reductions per block, in block order
            blk = prob[lo:hi]
            self.p_sum += float(blk.sum())
            self.p_sq += float(np.square(blk, out=scratch[lo:hi]).sum())
            self.p_min = min(self.p_min, float(blk.min()))
            self.p_max = max(self.p_max, float(blk.max()))
        self.hist += exposure_histogram(prob, alpha)

    def summary(self, n_cells: int, alpha: float) -> dict[str, Any]:
        """The summary of :func:`summarise_exposure`."""
        return summarise_exposure(
            self.p_sum, self.p_sq, self.p_min, self.p_max, self.hist, n_cells, alpha
        )


@dataclass
class Collector:
    """What the chunks leave behind: the exposures as CSR pieces, the random set, y samples."""

    user_counts: np.ndarray
    item_dtype: type
    tr_item: list[np.ndarray]
    tr_y: list[np.ndarray]
    rnd_item: np.ndarray
    rnd_y: np.ndarray
    sample_cells: np.ndarray | None
    sample_vals: list[np.ndarray]

    @classmethod
    def allocate(cls, cfg: SimConfig, sample_cells: np.ndarray | None) -> Collector:
        """Empty pieces for ``cfg``; ``sample_cells`` are the quantile cells (None: all kept)."""
        m, n, R = cfg.n_users, cfg.n_items, cfg.random_items
        # Exposures as CSR pieces: a count per user, items (uint16 when they fit), y (float32).
        item_dtype = np.uint16 if n <= np.iinfo(np.uint16).max + 1 else np.int32
        return cls(
            user_counts=np.empty(m, dtype=np.int64),
            item_dtype=item_dtype,
            tr_item=[],
            tr_y=[],
            rnd_item=np.empty((m, R), dtype=np.int32),
            rnd_y=np.empty((m, R), dtype=np.float32),
            sample_cells=sample_cells,
            sample_vals=[],
        )

    def add_chunk(self, start: int, stop: int, exposed: np.ndarray, y32: np.ndarray) -> None:
        """Keep users ``start..stop-1``'s exposures, random-set y and sampled y cells."""
        uu, ii = np.nonzero(exposed)
        self.user_counts[start:stop] = np.count_nonzero(exposed, axis=1)
        self.tr_item.append(ii.astype(self.item_dtype))
        self.tr_y.append(y32[uu, ii])
        del uu, ii
        rows_idx = np.arange(stop - start)[:, None]
        self.rnd_y[start:stop] = y32[rows_idx, self.rnd_item[start:stop]]
        if self.sample_cells is not None:
            n = y32.shape[1]
            lo_i, hi_i = np.searchsorted(self.sample_cells, [start * n, stop * n])
            self.sample_vals.append(y32.ravel()[self.sample_cells[lo_i:hi_i] - start * n])

    def train(self, cuts: np.ndarray) -> Interactions:
        """The exposed cells with their ratings (frees the pieces as it goes)."""
        train_item = np.concatenate(self.tr_item, dtype=np.int32, casting="safe")
        self.tr_item = []
        train_rating = np.concatenate([_ratings32(v, cuts) for v in self.tr_y])
        self.tr_y = []
        train_user = np.repeat(np.arange(len(self.user_counts), dtype=np.int32), self.user_counts)
        return Interactions(train_user, train_item, train_rating)

    def unbiased(self, cuts: np.ndarray) -> Interactions:
        """The random unbiased items with their ratings."""
        m, R = self.rnd_item.shape
        rnd_rating = _ratings32(self.rnd_y, cuts)
        rnd_user = np.repeat(np.arange(m, dtype=np.int32), R)
        return Interactions(rnd_user, self.rnd_item.ravel(), rnd_rating.ravel())
