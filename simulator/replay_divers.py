"""The draw behind the IViDR paper's Table 5, replayed draw for draw (preset ``ividr-paper``).

The generator released with the paper (``data_process/simulation/gendata.py`` of the authors'
repository, github.com/djf9706/DIVERS) seeds numpy's legacy global generator and torch's default
CPU generator with 1234 and then draws in a fixed order. This module makes the same library calls
in the same order, on *local* generators seeded with ``config.seed`` (1234 for the preset), so the
arrays are the released ones bit for bit while no global seed is touched:

1. ``numpy.random.RandomState(seed)`` (the legacy generator behind ``np.random.seed``): the
   mixture means and variances of C (``uniform(-12, 12)``, ``uniform(1, 5)``, shape (d, K)) and
   of the second draw C' (``normal(-10, 10)``, ``uniform(1, 10)``); W (``choice`` with
   p = (0.08, 0.2, 0.2, 0.32, 0.2)); C0 and C' given W (``normal``, one dimension after the
   other); the noise of C (``randn``). C = C0 + 0.1 C' + 0.1 noise, then cast to float32.
2. ``torch.Generator`` seeded with ``seed``: e_u (``rand``), e_i (``randn * 5`` plus a
   ``randint(4)`` offset per item), e_Hi (``rand``), Mx (``0.3 * rand``), the exposure noise
   (``randn``, scaled by gamma and then by 2), the exposures (``bernoulli`` of
   alpha * sigmoid(LeakyReLU(C Mx e_Hi^T) + 2 gamma eps)), the rating noise (``randn * 10``), and
   for each user in turn the first ``random_items`` of a ``randperm`` of the items.

Ratings are computed as the released code computes them, in float32 torch arithmetic:
clamp(ceil(5 (y - q05) / (q95 - q05)), 1, 5) with y = e_u e_i^T + beta C e_Hi^T + noise and the
exact quantiles of ``torch.quantile`` (which accepts at most 2^24 cells: hence that limit on
users x items). Every noise draw is made whatever gamma is, so C, W, the embeddings and every
noise are the same for every gamma; only the scale of the exposure noise changes.

The released process has no item proxy: M is 0 for every item. Its instrument is W itself
(Z = W, one field with 5 levels). The unbiased items of a user keep the released draw's order.
Everything is drawn at once (``chunk_users`` is ignored): about ten float32 matrices of users x
items, some 0.4 GB at 10,000 x 1,000, which takes about 3 s on one core.

This is the only module of ``simulator/`` that imports torch; :func:`simulator.generate.generate`
imports it only for process ``ividr-paper``. The replay is exact for the torch and numpy versions
recorded in meta.json (``provenance``); torch does not promise the same random streams across
releases.

References
----------
Deng et al., "Mitigating Dual Latent Confounding Biases in Recommender Systems", Table 5 and
Appendix F; the released generator, github.com/djf9706/DIVERS,
``data_process/simulation/gendata.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from simulator.config import CODE_W_PRIOR, SimConfig
from simulator.dataset import Interactions
from simulator.simulated import (
    LEAKY_SLOPE,
    SimulatedData,
    exposure_histogram,
    exposure_truth,
    summarise_exposure,
)

#: The released generator's seed (numpy and torch).
PAPER_SEED = 1234
#: Spread of the mixture means of C and of C', and the range of the variances of C'.
MU_RANGE, MU_PRIME_LOC, MU_PRIME_SCALE, SIGMA2_PRIME_RANGE = 12.0, -10.0, 10.0, (1.0, 10.0)
#: Weights of C' and of the extra noise in C = C0 + 0.1 C' + 0.1 noise.
PRIME_WEIGHT = NOISE_WEIGHT = 0.1
#: The released code multiplies the exposure noise (already scaled by gamma) by this.
EXPOSURE_NOISE_FACTOR = 2.0
#: What meta.json says about the draw.
SOURCE = (
    "github.com/djf9706/DIVERS, data_process/simulation/gendata.py (the generator released "
    "with the IViDR paper), replayed draw for draw"
)


@dataclass(frozen=True)
class _Users:
    """The numpy part of the draw: W and the confounder, with their parameters."""

    W: np.ndarray  # (m,) int64
    C: np.ndarray  # (m, d) float32: the confounder the rest of the draw uses
    C0: np.ndarray
    C_prime: np.ndarray
    C_noise: np.ndarray
    mu: np.ndarray  # (d, K), as released
    sigma2: np.ndarray
    mu_prime: np.ndarray
    sigma2_prime: np.ndarray


@dataclass(frozen=True)
class _Embeddings:
    """The torch embeddings: e_u (m, 16), e_i (n, 16) with its integer offset, e_Hi (n, d)."""

    e_u: torch.Tensor
    e_i: torch.Tensor
    item_offset: torch.Tensor
    e_Hi: torch.Tensor


def replay_released_draw(
    config: SimConfig, *, progress: Callable[[int], None] | None = None
) -> SimulatedData:
    """Replay the released generator's draw with the knobs of ``config``.

    Parameters
    ----------
    config : SimConfig
        Process ``ividr-paper`` (preset ``ividr-paper``); validated here. With the preset's
        knobs (10,000 x 1,000, seed 1234) and ``gamma=G`` this is the paper's Table-5 draw for
        the released ``treatment_noise_ratio`` G.
    progress : callable, optional
        Called once with the number of users, when the draw is complete.

    Returns
    -------
    SimulatedData
        Truth: C (the float32 confounder, widened to float64), C0, C_prime, C_noise, W, Z, M,
        e_u, e_i, item_offset, e_Hi, Mx, the mixture parameters (mu_C, sigma2_C, mu_C_prime,
        sigma2_C_prime, shape (K, d)), w_prior, q05, q95, the exposure summary, Y (float32) and
        R (int8).

    Examples
    --------
    >>> from simulator import SimConfig, generate
    >>> data = generate(SimConfig.from_preset("ividr-paper", n_users=200, n_items=50))
    >>> data.C.shape, data.unbiased.user.shape
    ((200, 2), (3000,))
    """
    cfg = config.validate()
    if cfg.process != "ividr-paper":
        raise ValueError(
            "The 'config' parameter of replay_released_draw must have process 'ividr-paper'. "
            f"Got {cfg.process!r} instead."
        )
    users = _draw_users(np.random.RandomState(cfg.seed), cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    C = torch.from_numpy(users.C)
    emb = _draw_embeddings(gen, cfg)
    Mx, prob, exposed = _draw_exposure(gen, C, emb.e_Hi, cfg)
    Y, R, q05, q95 = _draw_ratings(gen, C, emb, cfg)
    random_items = _draw_random_items(gen, cfg)
    if progress is not None:
        progress(cfg.n_users)
    return _assemble(cfg, users, emb, Mx, prob, exposed, Y, R, q05, q95, random_items)


# -- the draws, in the released order -------------------------------------------------------------
def _draw_users(rs: np.random.RandomState, cfg: SimConfig) -> _Users:
    """W and C from the legacy numpy generator (the released ``gen_confounder``)."""
    d, K, m = cfg.latent_dim, cfg.clusters, cfg.n_users
    mu = rs.uniform(-MU_RANGE, MU_RANGE, [d, K])
    sigma2 = rs.uniform(1.0, 5.0, [d, K])
    mu_prime = rs.normal(MU_PRIME_LOC, MU_PRIME_SCALE, [d, K])
    sigma2_prime = rs.uniform(*SIGMA2_PRIME_RANGE, [d, K])
    W = rs.choice(np.arange(K), m, p=list(CODE_W_PRIOR))
    C0 = np.vstack([rs.normal(mu[j][W], np.sqrt(sigma2[j][W])) for j in range(d)]).T
    C_prime = np.vstack(
        [rs.normal(mu_prime[j][W], np.sqrt(sigma2_prime[j][W])) for j in range(d)]
    ).T
    C = C0 + PRIME_WEIGHT * C_prime
    C_noise = rs.randn(*C.shape)
    C += NOISE_WEIGHT * C_noise
    return _Users(
        W=W,
        C=np.ascontiguousarray(C, dtype=np.float32),
        C0=C0,
        C_prime=C_prime,
        C_noise=C_noise,
        mu=mu,
        sigma2=sigma2,
        mu_prime=mu_prime,
        sigma2_prime=sigma2_prime,
    )


def _draw_embeddings(gen: torch.Generator, cfg: SimConfig) -> _Embeddings:
    """e_u ~ U(0, 1), e_i ~ 5 N(0, 1) + randint(4), e_Hi ~ U(0, 1), in that order."""
    m, n, k, d = cfg.n_users, cfg.n_items, cfg.embedding_dim, cfg.latent_dim
    e_u = torch.rand((m, k), generator=gen)
    e_i = torch.randn((n, k), generator=gen) * 5
    item_offset = torch.randint(4, (n, 1), generator=gen)
    e_i += item_offset
    e_Hi = torch.rand((n, d), generator=gen)
    return _Embeddings(e_u=e_u, e_i=e_i, item_offset=item_offset, e_Hi=e_Hi)


def _draw_exposure(
    gen: torch.Generator, C: torch.Tensor, e_Hi: torch.Tensor, cfg: SimConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mx, the exposure probabilities and the exposures (the released ``gen_treatment``)."""
    d = C.shape[1]
    Mx = 0.3 * torch.rand((d, d), generator=gen)
    logit = torch.nn.functional.leaky_relu(C @ Mx @ e_Hi.T, LEAKY_SLOPE)
    noise = torch.randn(logit.shape, generator=gen) * cfg.gamma
    logit += EXPOSURE_NOISE_FACTOR * noise
    prob = torch.sigmoid(logit) * cfg.alpha
    return Mx, prob, torch.bernoulli(prob, generator=gen)


def _draw_ratings(
    gen: torch.Generator, C: torch.Tensor, emb: _Embeddings, cfg: SimConfig
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """y, the rating matrix and the quantiles, in the released float32 arithmetic."""
    y = emb.e_u @ emb.e_i.T + C @ emb.e_Hi.T * cfg.beta
    y += torch.randn((cfg.n_users, cfg.n_items), generator=gen) * cfg.rating_noise
    # One sort for both quantiles; the same values as the released code's two calls (a scalar q
    # is a tensor of y's dtype inside torch.quantile).
    q05, q95 = torch.quantile(y, torch.tensor([0.05, 0.95], dtype=y.dtype))
    ratings = torch.clamp(torch.ceil((y - q05) / (q95 - q05) * 5), min=1, max=5)
    return y, ratings, float(q05), float(q95)


def _draw_random_items(gen: torch.Generator, cfg: SimConfig) -> np.ndarray:
    """The unbiased items: per user in turn, the head of a permutation of the items.

    Returns
    -------
    ndarray of shape (n_users, random_items), int32
    """
    n, k = cfg.n_items, cfg.random_items
    rows = [torch.randperm(n, generator=gen)[:k] for _ in range(cfg.n_users)]
    return torch.stack(rows).numpy().astype(np.int32)


# -- the result -----------------------------------------------------------------------------------
def _assemble(
    cfg: SimConfig,
    users: _Users,
    emb: _Embeddings,
    Mx: torch.Tensor,
    prob: torch.Tensor,
    exposed: torch.Tensor,
    Y: torch.Tensor,
    R: torch.Tensor,
    q05: float,
    q95: float,
    random_items: np.ndarray,
) -> SimulatedData:
    """The :class:`SimulatedData` of the draw, with the truth and meta.json's provenance."""
    m, n, k = cfg.n_users, cfg.n_items, cfg.random_items
    ratings = R.numpy().astype(np.int8)
    uu, ii = (t.numpy() for t in exposed.nonzero(as_tuple=True))
    rnd_user = np.repeat(np.arange(m, dtype=np.int32), k)
    rnd_item = random_items.ravel()
    p = prob.numpy().astype(np.float64)
    summary = summarise_exposure(
        float(p.sum()),
        float(np.square(p).sum()),
        float(p.min()),
        float(p.max()),
        exposure_histogram(p, cfg.alpha),
        m * n,
        cfg.alpha,
    )
    W = users.W.astype(np.int64)
    Z = W[:, None].copy()
    M = np.zeros(n, dtype=np.int64)
    truth = {
        "C": users.C.astype(np.float64),
        "C0": users.C0,
        "C_prime": users.C_prime,
        "C_noise": users.C_noise,
        "W": W,
        "Z": Z,
        "M": M,
        "e_u": emb.e_u.numpy(),
        "e_i": emb.e_i.numpy(),
        "item_offset": emb.item_offset.numpy().ravel(),
        "e_Hi": emb.e_Hi.numpy(),
        "Mx": Mx.numpy(),
        "mu_C": users.mu.T.copy(),
        "sigma2_C": users.sigma2.T.copy(),
        "mu_C_prime": users.mu_prime.T.copy(),
        "sigma2_C_prime": users.sigma2_prime.T.copy(),
        "w_prior": np.asarray(CODE_W_PRIOR, dtype=np.float64),
        "q05": np.float64(q05),
        "q95": np.float64(q95),
        **exposure_truth(summary),
        "Y": Y.numpy(),
        "R": ratings,
    }
    return SimulatedData(
        config=cfg,
        train=Interactions(uu.astype(np.int32), ii.astype(np.int32), ratings[uu, ii]),
        unbiased=Interactions(rnd_user, rnd_item, ratings[rnd_user, rnd_item]),
        W=W,
        M=M,
        Z=Z,
        instrument_levels=(cfg.clusters,),
        truth=truth,
        q05=q05,
        q95=q95,
        quantile_method="exact",
        exposure_summary=summary,
        provenance=provenance(),
    )


def provenance() -> dict[str, str]:
    """What meta.json records about the replay: the source, the generators, the versions."""
    return {
        "source": SOURCE,
        "generators": "numpy.random.RandomState(seed) for W and C; a torch CPU Generator "
        "seeded with seed for every other draw; no global seed is set",
        "item_proxy": "none in the released process: M is 0 for every item",
        "ratings": "computed as the released code does, in float32 torch arithmetic",
        "numpy_version": np.__version__,
        "torch_version": torch.__version__,
    }
