"""IViDR's user treatment t_u (§4.2), as numpy: torch-free, so diagnostics read it too.

:func:`user_mean_treatment` averages the reconstructed item treatments T^re_j of stage 1 over the
items each user interacted with; :func:`treatment_input` is the form the latent stage reads
(``FitConfig.user_treatment``: the paper's mean, standardised, zero or shuffled).
"""

from __future__ import annotations

import numpy as np

__all__ = ["rows_mean_treatment", "treatment_input", "user_mean_treatment"]


def user_mean_treatment(dataset, tre: np.ndarray) -> np.ndarray:
    """t_u: mean of T^re_j over the items user u interacted with, shape (n_users, iv_dim)."""
    return rows_mean_treatment(dataset.exposure_csr(), tre)


def rows_mean_treatment(a, tre: np.ndarray) -> np.ndarray:
    """Mean of T^re_j over each row's exposed items, for 0/1 rows ``a`` (dense or sparse);
    0 for a row with none."""
    degree = np.asarray(a.sum(axis=1)).ravel()
    total = np.asarray(a @ tre, dtype=np.float64)
    return np.divide(total, degree[:, None], out=np.zeros_like(total), where=degree[:, None] > 0)


def treatment_input(t: np.ndarray, mode: str, rng: np.random.Generator) -> np.ndarray:
    """The t_u the latent stage reads, from the mean treatments ``t`` (``user_treatment``).

    "mean" returns ``t`` itself and draws nothing from ``rng``, so the paper's setting leaves
    every later draw as it was; "shuffled" draws one permutation of the users.
    """
    if mode == "mean":
        return t
    if mode == "zero":
        return np.zeros_like(t)
    if mode == "standardized":
        # Per-dimension z-scores: the shift's size no longer depends on how large stage 1 made
        # its item vectors, only on what P learns.
        return (t - t.mean(axis=0)) / (t.std(axis=0) + 1e-8)
    if mode == "shuffled":
        return t[rng.permutation(t.shape[0])]
    raise ValueError(f"unknown user_treatment {mode!r}")
