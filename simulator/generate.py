"""The generative process of docs/design.md §2: confounded exposure and ratings with known truth.

``generate(config) -> SimulatedData`` draws every latent, the exposure and the ratings, in chunks
of users so that memory stays bounded, and returns the observed data together with the truth.

Randomness and chunking
-----------------------
Every draw derives from ``config.seed`` through a fixed tree of :class:`numpy.random.SeedSequence`
children, so the output never depends on ``chunk_users``:

- stream ``(0,)``: the global parameters (mixture means and variances, item latents, Mx, the
  instrument's embeddings, the quantile sample), drawn once in a fixed order;
- stream ``(1,)``: the user latents (W, C, Z, B, e_u, ...), drawn once for all m users;
- stream ``(2, b, s)``: the per-cell randomness of *block* b, a fixed run of
  :data:`BLOCK_USERS` users (users ``b*512 .. b*512+511``), with one sub-stream s per purpose
  (0 exposure noise, 1 Bernoulli uniforms, 2 rating noise, 3 the random unbiased items).

A chunk is a whole number of blocks; ``chunk_users`` only decides how many blocks are batched
in one step. Each block's draws fill its rows of the chunk's arrays from its own stream, matrix
products run block by block (so every product has the same shape whatever the chunking),
element-wise operations run on the whole chunk, and reductions (sums for the exposure summary)
are taken per block and added in block order. The result is byte-identical output for any chunk
size. Because each purpose has its own stream, changing a knob that does not touch a draw
leaves that draw unchanged: e.g. zeta changes the exposure but not one rating.

Rating quantiles
----------------
``f_n`` needs the 5% and 95% quantiles of y over all cells. When ``m * n <=``
:data:`FULL_MATRIX_MAX_CELLS` the full y matrix is kept (float32; y *is* defined as its float32
value, so ratings recomputed from the saved matrix match exactly) and the quantiles are exact;
otherwise they come from :data:`QUANTILE_SAMPLE_SIZE` cells drawn uniformly (with replacement)
from stream ``(0,)``. ``SimulatedData.quantile_method`` says which.

References
----------
Deng et al., "Mitigating Dual Latent Confounding Biases in Recommender Systems", Appendix F.
Zhang et al., "Debiasing Recommendation by Learning Identifiable Latent Confounders", KDD 2023,
Appendix B.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

try:  # installed with scikit-learn
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from simulator.chunks import Chunk, Collector, ExposureStats, WorkBuffers, chunk_blocks
from simulator.config import CODE_W_PRIOR, SimConfig
from simulator.ratings import (  # noqa: F401 (ratings_from_scores is public here too)
    _ratings32,
    quantiles,
    rating_thresholds,
    ratings_from_scores,
)
from simulator.simulated import (
    LEAKY_SLOPE,
    SimulatedData,
    exposure_truth,
)

#: Up to this many cells the full y and rating matrices are kept (and saved in truth.npz) and
#: the rating quantiles are exact.
FULL_MATRIX_MAX_CELLS = 50_000_000
#: Cells sampled for the rating quantiles above that size.
QUANTILE_SAMPLE_SIZE = 1_000_000

_S_EXPOSURE_NOISE, _S_BERNOULLI, _S_RATING_NOISE, _S_RANDOM_SET = 0, 1, 2, 3


def w_prior_probabilities(kind: str, n_clusters: int) -> np.ndarray:
    """The prior of the proxies W and M over ``0..K-1``.

    ``"gaussian"``: p(k) proportional to exp(-(k - (K-1)/2)^2 / (2 s^2)), s = K/4;
    ``"uniform"``: 1/K; ``"code"``: (0.08, 0.2, 0.2, 0.32, 0.2) (K = 5).

    Returns
    -------
    ndarray of shape (n_clusters,)
    """
    if kind == "uniform":
        p = np.ones(n_clusters)
    elif kind == "gaussian":
        k = np.arange(n_clusters, dtype=np.float64)
        s = n_clusters / 4.0
        p = np.exp(-((k - (n_clusters - 1) / 2.0) ** 2) / (2.0 * s * s))
    elif kind == "code":
        p = np.asarray(CODE_W_PRIOR, dtype=np.float64)
    else:
        raise ValueError(f"unknown W prior {kind!r}")
    return p / p.sum()


# -- helpers --------------------------------------------------------------------------------------
def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _mixture(
    rng: np.random.Generator, labels: np.ndarray, mu: np.ndarray, sigma2: np.ndarray
) -> np.ndarray:
    """Draw x | label ~ N(mu[label], diag(sigma2[label])), shape (len(labels), d)."""
    noise = rng.standard_normal((len(labels), mu.shape[1]))
    return mu[labels] + np.sqrt(sigma2[labels]) * noise


def _sample_distinct(rng: np.random.Generator, n_rows: int, n: int, k: int) -> np.ndarray:
    """k distinct items of 0..n-1 per row, uniformly, sorted; shape (n_rows, k).

    Floyd's algorithm vectorised over rows (a loop over k) when k is small against n, else the
    k smallest of n uniform keys per row.
    """
    if k * k <= 4 * n:
        sel = np.empty((n_rows, k), dtype=np.int64)
        for t, j in enumerate(range(n - k, n)):
            cand = rng.integers(0, j + 1, size=n_rows)
            dup = (sel[:, :t] == cand[:, None]).any(axis=1)
            sel[:, t] = np.where(dup, j, cand)
    else:
        keys = rng.random((n_rows, n))
        sel = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n else np.argsort(keys, axis=1)
    sel.sort(axis=1)
    return sel


# -- the process ----------------------------------------------------------------------------------
def generate(
    config: SimConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> SimulatedData:
    """Simulate one dataset by the process of docs/design.md §2.

    Process ``ividr-paper`` (preset ``ividr-paper``) is not drawn here: it replays the generator
    released with the IViDR paper, draw for draw
    (:func:`simulator.replay_divers.replay_released_draw`, which imports torch).

    Parameters
    ----------
    config : SimConfig, optional
        The knobs (default: preset ``ividr``). Validated here.
    progress : callable, optional
        Called with the number of users finished after each chunk.

    Returns
    -------
    SimulatedData

    Examples
    --------
    >>> from simulator import SimConfig, generate
    >>> data = generate(SimConfig.from_preset("idcf", n_users=200, n_items=50))
    >>> data.C.shape, data.unbiased.user.shape
    ((200, 2), (3000,))
    """
    if config is not None and not isinstance(config, SimConfig):
        raise TypeError(
            "The 'config' parameter of generate must be a SimConfig or None. "
            f"Got {config!r} instead."
        )
    cfg = (config or SimConfig()).validate()
    if cfg.process == "ividr-paper":  # imported here: the rest of simulator/ stays torch-free
        from simulator.replay_divers import replay_released_draw

        return replay_released_draw(cfg, progress=progress)
    # The matrix products here are thin (inner dimension ~20): BLAS threads buy nothing and,
    # on a busy machine, their synchronisation costs more than the whole generation.
    limit = threadpool_limits(1, user_api="blas") if threadpool_limits else nullcontext()
    with limit:
        return _generate(cfg, progress)


def _generate(cfg: SimConfig, progress: Callable[[int], None] | None) -> SimulatedData:
    m, n = cfg.n_users, cfg.n_items
    code = cfg.process == "ividr-code"
    g = _stream(cfg.seed, 0)
    glob = _draw_globals(g, cfg, code)
    users, truth = _draw_users(_stream(cfg.seed, 1), cfg, glob, code)
    gamma_eff = (2.0 if code else 1.0) * cfg.gamma
    factors = _product_factors(cfg, glob)

    full = m * n <= FULL_MATRIX_MAX_CELLS
    Y = np.empty((m, n), dtype=np.float32) if full else None
    # Drawn from stream (0,) after every global parameter: the last draw of that stream.
    sample_cells = None if full else np.sort(g.integers(0, m * n, size=QUANTILE_SAMPLE_SIZE))
    acc = Collector.allocate(cfg, sample_cells)
    stats = ExposureStats()
    bufs = WorkBuffers.allocate(cfg, gamma_eff != 0.0, factors.items_x_T is not None)

    for start, stop, parts in chunk_blocks(m, cfg.chunk_users):
        chunk = bufs.views(stop - start, Y[start:stop] if full else None)
        for b, lo, hi in parts:
            r0, r1 = start + lo, start + hi
            acc.rnd_item[r0:r1] = _draw_block(cfg, b, chunk, lo, hi)
            # Matrix products block by block: their shapes never depend on the chunking.
            _block_products(cfg, users, factors, chunk, lo, hi, r0, r1)
        prob, exposed = _exposure_and_y(cfg, chunk, gamma_eff)
        stats.add_chunk(prob, parts, chunk.noise_r, cfg.alpha)
        acc.add_chunk(start, stop, exposed, chunk.y32)
        del exposed
        if progress is not None:
            progress(stop - start)
    del bufs, chunk, prob
    return _assemble(cfg, glob, users, truth, Y, acc, stats)


@dataclass
class _Globals:
    """The global parameters, drawn once from stream ``(0,)`` (docs/design.md §2)."""

    prior: np.ndarray
    mu_C: np.ndarray
    sigma2_C: np.ndarray
    mu_V: np.ndarray
    sigma2_V: np.ndarray
    M: np.ndarray
    V: np.ndarray
    Mx: np.ndarray
    e_Hi: np.ndarray
    item_offset: np.ndarray
    e_i: np.ndarray
    n_fields: int
    n_levels: int
    g_Z: np.ndarray
    e_Zi: np.ndarray
    e_Bi: np.ndarray
    e_Bi_rating: np.ndarray
    mu_C2: np.ndarray | None = None
    sigma2_C2: np.ndarray | None = None


@dataclass
class _Users:
    """The user latents, drawn once for all users from stream ``(1,)``."""

    W: np.ndarray
    C: np.ndarray
    Z: np.ndarray
    B: np.ndarray
    e_u: np.ndarray


@dataclass
class _Factors:
    """The fixed factors of the block matrix products (item sides transposed, contiguous)."""

    Mx: np.ndarray
    items_h_T: np.ndarray
    items_y_T: np.ndarray
    items_x_T: np.ndarray | None
    g_Z: np.ndarray
    field_idx: np.ndarray


def _draw_globals(g: np.random.Generator, cfg: SimConfig, code: bool) -> _Globals:
    """The global parameters from stream ``(0,)``, in its fixed order (the order is the output)."""
    n, d, K = cfg.n_items, cfg.latent_dim, cfg.clusters
    prior = w_prior_probabilities(cfg.w_prior, K)
    mu_range = 12.0 if code else 10.0
    mu_C = g.uniform(-mu_range, mu_range, size=(K, d))
    sigma2_C = g.uniform(1.0, 5.0, size=(K, d))
    mu_V = g.uniform(-10.0, 10.0, size=(K, d))
    sigma2_V = g.uniform(1.0, 5.0, size=(K, d))
    M = g.choice(K, size=n, p=prior)
    V = _mixture(g, M, mu_V, sigma2_V)
    Mx = 0.3 * g.random((d, d))
    e_Hi = g.random((n, d))
    item_offset = g.integers(0, 4, size=n)
    e_i = 5.0 * g.standard_normal((n, cfg.embedding_dim)) + item_offset[:, None]
    if code:
        n_fields, n_levels = 1, K
    else:
        n_fields, n_levels = cfg.n_feature_fields, cfg.feature_levels
    g_Z = g.standard_normal((n_fields, n_levels, d)) / np.sqrt(n_fields)
    e_Zi = g.standard_normal((n, d))
    e_Bi = g.standard_normal((n, cfg.hidden_dim))
    e_Bi_rating = g.standard_normal((n, cfg.hidden_dim))
    glob = _Globals(
        prior=prior,
        mu_C=mu_C,
        sigma2_C=sigma2_C,
        mu_V=mu_V,
        sigma2_V=sigma2_V,
        M=M,
        V=V,
        Mx=Mx,
        e_Hi=e_Hi,
        item_offset=item_offset,
        e_i=e_i,
        n_fields=n_fields,
        n_levels=n_levels,
        g_Z=g_Z,
        e_Zi=e_Zi,
        e_Bi=e_Bi,
        e_Bi_rating=e_Bi_rating,
    )
    if code:
        glob.mu_C2 = g.normal(-10.0, 10.0, size=(K, d))
        glob.sigma2_C2 = g.uniform(1.0, 10.0, size=(K, d))
    return glob


def _draw_users(
    u: np.random.Generator, cfg: SimConfig, glob: _Globals, code: bool
) -> tuple[_Users, dict[str, np.ndarray]]:
    """The user latents from stream ``(1,)``, and the truth of process ``ividr-code``'s C."""
    m, d, K = cfg.n_users, cfg.latent_dim, cfg.clusters
    W = u.choice(K, size=m, p=glob.prior)
    C = _mixture(u, W, glob.mu_C, glob.sigma2_C)
    Zf = u.integers(0, glob.n_levels, size=(m, glob.n_fields))
    B = u.standard_normal((m, cfg.hidden_dim))
    e_u = u.random((m, cfg.embedding_dim))
    truth: dict[str, np.ndarray] = {}
    if code:
        C0 = C
        C_prime = _mixture(u, W, glob.mu_C2, glob.sigma2_C2)
        C_noise = u.standard_normal((m, d))
        C = C0 + 0.1 * C_prime + 0.1 * C_noise
        Zf = W[:, None].copy()
        truth.update(
            C0=C0,
            C_prime=C_prime,
            C_noise=C_noise,
            mu_C_prime=glob.mu_C2,
            sigma2_C_prime=glob.sigma2_C2,
        )
    return _Users(W=W, C=C, Z=Zf, B=B, e_u=e_u), truth


def _product_factors(cfg: SimConfig, glob: _Globals) -> _Factors:
    """The item sides of the logit and y products, with their per-item terms as a last row."""
    kappa, beta = cfg.item_mixing, cfg.beta
    # The item terms ride in the matrix products as an extra column of ones on the user side:
    # H Mx e_Hi = [C Mx, 1] . [e_Hi, kappa V Mx . e_Hi],  and likewise for y.
    # The user-side factors are assembled block by block (memory), the item side once.
    item_H = kappa * np.einsum("id,id->i", glob.V @ glob.Mx, glob.e_Hi)  # (n,)
    item_y = beta * kappa * np.einsum("id,id->i", glob.V, glob.e_Hi)  # (n,)
    items_h_T = np.ascontiguousarray(np.hstack([glob.e_Hi, item_H[:, None]]).T)
    items_y_T = np.ascontiguousarray(
        np.hstack([glob.e_i, glob.e_Hi, glob.e_Bi_rating, item_y[:, None]]).T
    )
    extra = cfg.iv_strength != 0.0 or cfg.hidden_strength != 0.0
    items_x_T = np.ascontiguousarray(np.hstack([glob.e_Zi, glob.e_Bi]).T) if extra else None
    return _Factors(
        Mx=glob.Mx,
        items_h_T=items_h_T,
        items_y_T=items_y_T,
        items_x_T=items_x_T,
        g_Z=glob.g_Z,
        field_idx=np.arange(glob.n_fields)[None, :],
    )


def _draw_block(cfg: SimConfig, b: int, chunk: Chunk, lo: int, hi: int) -> np.ndarray:
    """Fill block b's rows of the chunk's noise from its own streams; return its random set."""
    seed = cfg.seed
    _stream(seed, 2, b, _S_BERNOULLI).random(out=chunk.unif[lo:hi])
    _stream(seed, 2, b, _S_RATING_NOISE).standard_normal(out=chunk.noise_r[lo:hi])
    if chunk.noise_e is not None:
        _stream(seed, 2, b, _S_EXPOSURE_NOISE).standard_normal(out=chunk.noise_e[lo:hi])
    rng = _stream(seed, 2, b, _S_RANDOM_SET)
    return _sample_distinct(rng, hi - lo, cfg.n_items, cfg.random_items)


def _block_products(
    cfg: SimConfig,
    users: _Users,
    factors: _Factors,
    chunk: Chunk,
    lo: int,
    hi: int,
    r0: int,
    r1: int,
) -> None:
    """The logit, y and extra-logit products of users r0..r1-1 into chunk rows lo..hi-1."""
    beta, zeta, delta = cfg.beta, cfg.iv_strength, cfg.hidden_strength
    C, B = users.C[r0:r1], users.B[r0:r1]
    ones = np.ones((hi - lo, 1))
    user_h = np.hstack([C @ factors.Mx, ones])  # (rows, d + 1)
    user_y = np.hstack([users.e_u[r0:r1], beta * C, delta * B, ones])
    np.matmul(user_h, factors.items_h_T, out=chunk.logit[lo:hi])
    np.matmul(user_y, factors.items_y_T, out=chunk.y[lo:hi])
    if factors.items_x_T is not None:
        # sum_f g_{f, Z_uf}, (rows, d)
        G = factors.g_Z[factors.field_idx, users.Z[r0:r1]].sum(axis=1)
        user_x = np.hstack([zeta * G, delta * B])
        np.matmul(user_x, factors.items_x_T, out=chunk.extra_x[lo:hi])


def _exposure_and_y(
    cfg: SimConfig, chunk: Chunk, gamma_eff: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exposure probabilities (in the logit buffer), exposures and float32 y of one chunk."""
    logit, y = chunk.logit, chunk.y
    # logit = LeakyReLU(H Mx e_Hi) + zeta s_Z + delta B.e_Bi + gamma eps
    np.maximum(logit, LEAKY_SLOPE * logit, out=logit)
    if chunk.extra_x is not None:
        logit += chunk.extra_x
    if chunk.noise_e is not None:
        chunk.noise_e *= gamma_eff
        logit += chunk.noise_e
    prob = expit(logit, out=logit)
    prob *= cfg.alpha
    exposed = chunk.unif < prob
    # y = e_u.e_i + beta H.e_Hi + delta B.e'_Bi + sigma_r eps', held as float32
    chunk.noise_r *= cfg.rating_noise
    y += chunk.noise_r
    np.copyto(chunk.y32, y, casting="same_kind")
    return prob, exposed


def _assemble(
    cfg: SimConfig,
    glob: _Globals,
    users: _Users,
    truth: dict[str, np.ndarray],
    Y: np.ndarray | None,
    acc: Collector,
    stats: ExposureStats,
) -> SimulatedData:
    """Quantiles, ratings and truth: the :class:`SimulatedData` of the finished chunks."""
    if Y is not None:
        q05, q95 = quantiles(Y.ravel())
        method = "exact"
    else:
        q05, q95 = quantiles(np.concatenate(acc.sample_vals))
        method = "sample"
    cuts = rating_thresholds(q05, q95)
    train = acc.train(cuts)
    unbiased = acc.unbiased(cuts)
    exposure_summary = stats.summary(cfg.n_users * cfg.n_items, cfg.alpha)
    truth.update(
        C=users.C,
        V=glob.V,
        B=users.B,
        W=users.W,
        M=glob.M,
        Z=users.Z,
        e_Hi=glob.e_Hi,
        Mx=glob.Mx,
        e_u=users.e_u,
        e_i=glob.e_i,
        item_offset=glob.item_offset,
        mu_C=glob.mu_C,
        sigma2_C=glob.sigma2_C,
        mu_V=glob.mu_V,
        sigma2_V=glob.sigma2_V,
        w_prior=glob.prior,
        g_Z=glob.g_Z,
        e_Zi=glob.e_Zi,
        e_Bi=glob.e_Bi,
        e_Bi_rating=glob.e_Bi_rating,
        q05=np.float64(q05),
        q95=np.float64(q95),
        **exposure_truth(exposure_summary),
    )
    if Y is not None:
        truth["Y"] = Y
        truth["R"] = _ratings32(Y, cuts)
    return SimulatedData(
        config=cfg,
        train=train,
        unbiased=unbiased,
        W=users.W,
        M=glob.M,
        Z=users.Z,
        instrument_levels=(glob.n_levels,) * glob.n_fields,
        truth=truth,
        q05=q05,
        q95=q95,
        quantile_method=method,
        exposure_summary=exposure_summary,
        quantile_cells=None if method == "exact" else QUANTILE_SAMPLE_SIZE,
    )
