"""Input checks shared by the metric modules (private).

Every public metric validates its inputs here, at the boundary, and raises
:class:`MetricInputError` (a ``ValueError``) with a message naming the function and argument.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse

from metrics import checks


class MetricInputError(checks.ParameterError):
    """An input to a metric has the wrong shape, type or value; the message names it."""


def check_random_state(random_state, func: str) -> np.random.Generator:
    """Turn ``random_state`` (None, int or Generator) into one numpy Generator."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    ok = isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    if not ok or random_state < 0:
        allowed = "an int in the range [0, inf), a numpy Generator or None"
        raise MetricInputError(
            checks.parameter_message("random_state", func, allowed, random_state),
            param="random_state",
            allowed=allowed,
            got=random_state,
        )
    return np.random.default_rng(int(random_state))


def check_int(value, name: str, func: str, low: int, high: float = np.inf) -> int:
    """An int in ``[low, high]`` (bools rejected)."""
    top = None if high == np.inf else int(high)
    return checks.check_int(value, name, func, low=low, high=top, error=MetricInputError)


def check_choice(value, name: str, func: str, choices: tuple[str, ...]) -> str:
    return checks.check_choice(value, name, func, choices, error=MetricInputError)


def check_matrix(
    x, name: str, func: str, *, min_rows: int = 1, allow_sparse: bool = False
) -> np.ndarray | sparse.csr_matrix:
    """A finite float 2-d array (1-d is read as one column); rows are users.

    With ``allow_sparse`` a scipy sparse matrix is returned as CSR (float64).
    """
    if sparse.issparse(x):
        if not allow_sparse:
            raise MetricInputError(f"{func}: '{name}' must be a dense array, not a sparse matrix.")
        x = sparse.csr_matrix(x, dtype=np.float64)
        data = x.data
    else:
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MetricInputError(f"{func}: '{name}' must be a numeric array ({exc}).") from None
        if x.ndim == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2:
            raise MetricInputError(
                f"{func}: '{name}' must be an array of shape (n_users, n_columns) or (n_users,); "
                f"got shape {x.shape}."
            )
        data = x
    if not np.isfinite(data).all():
        raise MetricInputError(f"{func}: '{name}' contains NaN or infinite values.")
    if x.shape[1] < 1:
        raise MetricInputError(f"{func}: '{name}' has no columns (shape {x.shape}).")
    if x.shape[0] < min_rows:
        raise MetricInputError(
            f"{func}: '{name}' needs at least {min_rows} rows (users); got {x.shape[0]}."
        )
    return x


def check_codes(codes, name: str, func: str) -> np.ndarray:
    """Categorical codes of shape (n_users,) or (n_users, n_fields), returned 2-d."""
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes.reshape(-1, 1)
    if codes.ndim != 2 or codes.shape[1] < 1 or codes.shape[0] < 1:
        raise MetricInputError(
            f"{func}: '{name}' must be an array of shape (n_users,) or (n_users, n_fields); "
            f"got shape {codes.shape}."
        )
    if codes.dtype.kind == "f" and not np.isfinite(codes).all():
        raise MetricInputError(f"{func}: '{name}' contains NaN or infinite values.")
    if codes.dtype.kind not in "biuf":
        raise MetricInputError(f"{func}: '{name}' must hold integer codes; got {codes.dtype}.")
    return codes


def check_same_rows(func: str, **arrays) -> int:
    """All arrays have the same number of rows; returns it."""
    rows = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(rows.values())) != 1:
        desc = ", ".join(f"'{k}' has {v}" for k, v in rows.items())
        raise MetricInputError(f"{func}: inputs must have one row per user; {desc} rows.")
    return next(iter(rows.values()))
