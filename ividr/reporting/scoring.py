"""Score any learned confounder against the truth: the identifiability part of a fit's metrics
(docs/design.md §5, §6), for latents learned anywhere. ``ividr score`` is its command line.

A fit (:func:`ividr.api.fit_model`) and :func:`score_latents` compute the figures below with the
same function, :func:`latent_metrics`, so scoring the ``latents.npy`` a fit wrote, with the fit's
seed, gives exactly the MCC the fit reported:

- ``mcc`` / ``mcc_weak``: strong and weak Pearson MCC (:func:`metrics.mcc.mcc`; the weak split
  drawn from ``seed``) and ``mcc_matching``, the strong MCC's matching (true dimension ->
  learned dimension, the sign and absolute correlation of each pair);
- ``mcc_ci``: 95% percentile bootstrap interval over users of the strong MCC (``n_boot``
  replicates drawn from ``seed``);
- ``mcc_prior_only``: the strong MCC of a learned prior mean mu_w(W), when one is given.

:func:`score_latents` adds what depends on the data only: the reference levels
(:func:`simulator.references.dataset_references`: proxy oracle, chance mean and 95th percentile,
exposure R^2, supervised ceiling) and the iVAE preconditions on W
(:func:`metrics.identifiability.aux_preconditions`). The check of a learned prior's parameter
matrix needs the prior's variance at each level of W, which a prior-mean array does not hold, so
it is ``None`` here (a fit of a learned-prior model reports it).

:func:`read_latents` reads a latents file (``.npy``, ``.npz`` holding one array, or a CSV with a
``user_id`` column and one column per latent dimension, rows in any order) into an array whose
row ``u`` is user ``u`` of the dataset; bad files raise :class:`LatentsError`.

Nothing here imports torch.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from ividr.defaults import DEFAULT_N_BOOT

__all__ = [
    "format_table",
    "LATENT_SUFFIXES",
    "SCORE_FORMAT",
    "USER_ID_COLUMN",
    "SCORE_COLUMNS",
    "SCORE_READING",
    "LatentsError",
    "check_latents",
    "format_scores",
    "latent_metrics",
    "mcc_interval",
    "read_latents",
    "score_latents",
    "strict_json",
]

#: The suffixes of a latents file :func:`read_latents` reads.
LATENT_SUFFIXES = (".npy", ".npz", ".csv")
#: The header of the user-id column of a latents CSV (the dataset layout's name, §3).
USER_ID_COLUMN = "user_id"
#: ``format`` of the metrics.json ``ividr score`` writes.
SCORE_FORMAT = "ividr-score"


#: The printed table of scores: (header, key, width, decimals), as
#: :func:`format_table` takes them (the first column is the row's name).
SCORE_COLUMNS = (
    ("latents", "name", 10, None),
    ("MCC", "mcc", 7, 4),
    ("CI low", "mcc_ci_low", 7, 4),
    ("CI high", "mcc_ci_high", 7, 4),
    ("MCC weak", "mcc_weak", 8, 4),
    ("prior-only", "mcc_prior_only", 10, 4),
    ("W-chance", "ref_proxy_chance", 8, 4),
    ("oracle", "ref_oracle", 7, 4),
    ("ceil A+W", "ref_supervised_exposure_w", 8, 4),
    ("ceil A", "ref_supervised_exposure", 7, 4),
    ("chance", "ref_chance", 7, 4),
    ("p95", "ref_chance_p95", 7, 4),
)
#: The sentence printed under it.
SCORE_READING = (
    "How to read it: MCC is 1 for latents equal to the true C up to order, sign and scale "
    "(MCC weak: up to any linear map), with a 95% bootstrap CI; oracle is the proxy oracle "
    "E[C | W], what W alone gives; ceil A+W is the supervised ceiling, what any encoder of the "
    "exposures A and W can reach (ceil A: from A alone); chance (mean, 95th percentile p95) is "
    "what latents unrelated to C score; W-chance is what a random function of W scores, the "
    "level to read prior-only (a function of W) against."
)


class LatentsError(ValueError):
    """A latents file or array that cannot be scored; the message names it and what is wrong."""


# --------------------------------------------------------------------------------------------
# The figures a fit and `ividr score` share
# --------------------------------------------------------------------------------------------
def mcc_interval(truth: np.ndarray, latents: np.ndarray, *, n_boot: int, seed: int) -> list:
    """95% percentile bootstrap interval ``[low, high]`` over users of the strong MCC.

    Parameters
    ----------
    truth : ndarray of shape (n_users, d_true)
    latents : ndarray of shape (n_users, d)
    n_boot : int
        Replicates, at least 2.
    seed : int
        ``random_state`` of the resampling.
    """
    from metrics.bootstrap import bootstrap_ci
    from metrics.mcc import mcc

    lo, hi, _ = bootstrap_ci(
        lambda c, z: mcc(c, z), truth, latents, n_boot=n_boot, random_state=seed
    )
    return [lo, hi]


def latent_metrics(
    truth: np.ndarray,
    latents: np.ndarray,
    *,
    prior_mean: np.ndarray | None = None,
    n_boot: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """MCC figures of a learned confounder: what a fit and ``ividr score`` both report.

    Parameters
    ----------
    truth : ndarray of shape (n_users, d_true)
        The true confounder C.
    latents : ndarray of shape (n_users, d)
        The learned confounder (the declared representation, e.g. the posterior mean).
    prior_mean : ndarray of shape (n_users, d') or None
        A learned prior mean mu_w(W) per user.
    n_boot : int, default 0
        Bootstrap replicates of ``mcc_ci`` (0: none).
    seed : int, default 0
        Draws the weak MCC's half split and the bootstrap.

    Returns
    -------
    dict
        ``mcc``, ``mcc_weak``, ``mcc_matching`` ({``true_dims``, ``learned_dims``, ``signs``,
        ``abs_corr``}: pair j matches true dimension ``true_dims[j]`` with learned dimension
        ``learned_dims[j]``), ``mcc_prior_only`` (with ``prior_mean``), ``mcc_ci`` (with
        ``n_boot``).
    """
    from metrics.mcc import mcc, mcc_matching

    match = mcc_matching(truth, latents)
    out: dict[str, Any] = {
        "mcc": float(match.score),
        "mcc_weak": float(mcc(truth, latents, weak=True, random_state=seed)),
        "mcc_matching": {
            "true_dims": [int(v) for v in match.row_ind],
            "learned_dims": [int(v) for v in match.col_ind],
            "signs": [int(v) for v in match.signs],
            "abs_corr": [float(v) for v in match.matched],
        },
    }
    if prior_mean is not None:
        out["mcc_prior_only"] = float(mcc(truth, prior_mean))
    if n_boot:
        out["mcc_ci"] = mcc_interval(truth, latents, n_boot=n_boot, seed=seed)
    return out


# --------------------------------------------------------------------------------------------
# Latents from anywhere
# --------------------------------------------------------------------------------------------
def check_latents(latents, n_users: int, *, name: str = "latents") -> np.ndarray:
    """``latents`` as a finite numeric array of shape (n_users, d); else :class:`LatentsError`.

    A 1-d array is one latent dimension. ``name`` names the array in the message.
    """
    arr = np.asarray(latents)
    if arr.dtype.kind not in "biuf":
        raise LatentsError(f"{name}: expected numbers, found dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise LatentsError(f"{name}: expected shape (n_users, d), found {arr.shape}")
    if arr.shape[0] != n_users:
        raise LatentsError(
            f"{name}: {arr.shape[0]} rows but the dataset has {n_users} users (one row per user)"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise LatentsError(f"{name}: {int(bad.sum())} NaN or infinite values (first in row {row})")
    return arr


def read_latents(path: str | Path, n_users: int) -> np.ndarray:
    """Read a latents file; row ``u`` of the result is user ``u``.

    Parameters
    ----------
    path : str or Path
        ``.npy`` (rows are users 0..n_users-1), ``.npz`` holding exactly one such array, or
        ``.csv`` with a header, a ``user_id`` column (integer ids of the dataset, each once, in
        any order) and one numeric column per latent dimension.
    n_users : int
        The dataset's number of users: the file must have one row per user.

    Returns
    -------
    ndarray of shape (n_users, d)

    Raises
    ------
    LatentsError
        An unreadable file or suffix, an .npz with several arrays, a wrong row count, NaN or
        infinite values, ids that are not integers, not in the dataset or repeated.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LATENT_SUFFIXES:
        raise LatentsError(f"{path}: expected a {', '.join(LATENT_SUFFIXES)} file")
    if not path.is_file():
        raise LatentsError(f"{path}: no such file")
    if suffix == ".csv":
        return check_latents(_read_csv(path, n_users), n_users, name=str(path))
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise LatentsError(f"{path}: unreadable ({' '.join(str(exc).split())})") from None
    if suffix == ".npz":
        with loaded:
            names = list(loaded.files)
            if len(names) != 1:
                raise LatentsError(f"{path}: expected one array, found {len(names)} {names}")
            try:
                loaded = loaded[names[0]]
            except ValueError as exc:
                raise LatentsError(f"{path}: unreadable ({exc})") from None
    return check_latents(loaded, n_users, name=str(path))


def _read_csv(path: Path, n_users: int) -> np.ndarray:
    """The rows of a latents CSV, reordered by ``user_id``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a spreadsheet's BOM
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LatentsError(f"{path}: unreadable ({exc})") from None
    if not rows:
        raise LatentsError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    if USER_ID_COLUMN not in header:
        raise LatentsError(f"{path}: no '{USER_ID_COLUMN}' column in the header {header}")
    if len(header) < 2:
        raise LatentsError(f"{path}: no latent column beside '{USER_ID_COLUMN}'")
    body = [r for r in rows[1:] if r]
    if len(body) != n_users:
        raise LatentsError(
            f"{path}: {len(body)} rows but the dataset has {n_users} users (one row per user)"
        )
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise LatentsError(
                f"{path}: line {line} has {len(row)} fields, the header {len(header)}"
            )
    try:
        values = np.array(body, dtype=np.float64)
    except ValueError:
        raise LatentsError(f"{path}: every field must be a number") from None
    id_col = header.index(USER_ID_COLUMN)
    ids = values[:, id_col]
    if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
        raise LatentsError(f"{path}: '{USER_ID_COLUMN}' must hold integers")
    ids = ids.astype(np.int64)
    outside = ids[(ids < 0) | (ids >= n_users)]
    if outside.size:
        raise LatentsError(
            f"{path}: user ids not in the dataset (ids run 0..{n_users - 1}): "
            f"{outside[:5].tolist()}"
        )
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise LatentsError(f"{path}: repeated user ids {uniq[counts > 1][:5].tolist()}")
    out = np.empty((n_users, values.shape[1] - 1))
    out[ids] = np.delete(values, id_col, axis=1)
    return out


# --------------------------------------------------------------------------------------------
# The identifiability part of metrics.json
# --------------------------------------------------------------------------------------------
def score_latents(
    dataset,
    latents,
    *,
    prior_mean=None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    references: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The identifiability part of a fit's metrics.json for any learned confounder.

    Parameters
    ----------
    dataset : RecDataset
        Must carry the true confounder C (simulated data).
    latents : array-like of shape (n_users, d)
        Row ``u`` is the learned confounder of user ``u`` (:func:`read_latents` for a file).
    prior_mean : array-like of shape (n_users, d') or None
        A learned prior mean mu_w(W) per user: adds ``mcc_prior_only``.
    n_boot : int, default 200
        Bootstrap replicates of ``mcc_ci`` (0: none; else at least 2).
    seed : int, default 0
        Draws the weak MCC's half split and the bootstrap (a fit's ``seed`` gives its figures).
    references : dict or None
        The dataset's reference levels when already known (``simulator.references.
        references_for`` reads a simgen folder's cache); None computes them
        (:func:`simulator.references.dataset_references`).

    Returns
    -------
    dict
        :func:`latent_metrics`'s figures, ``identifiability`` ({``aux``:
        :func:`metrics.identifiability.aux_preconditions` of W against ``d``,
        ``prior_matrix``: None}), ``references``, ``mcc_chance_latent_dim`` (chance for a
        learned dimension other than the truth's, whose chance ``references`` holds), and
        ``format``, ``n_users``, ``latent_dim``, ``d_true``, ``seed``, ``n_boot``. Strict JSON
        once passed through :func:`strict_json`.

    Raises
    ------
    LatentsError
        No truth in the dataset, latents (or prior mean) of the wrong shape, NaN, a bad
        ``n_boot``.

    Examples
    --------
    >>> from simulator import SimConfig, generate
    >>> data = generate(SimConfig.from_preset("idcf", n_users=300, n_items=40)).to_dataset()
    >>> out = score_latents(data, 2 * data.confounder[:, ::-1], n_boot=0)
    >>> round(out["mcc"], 6), out["mcc_matching"]["learned_dims"]
    (1.0, [1, 0])
    """
    from metrics.checks import ParameterError, check_int
    from metrics.identifiability import aux_preconditions
    from metrics.reference import chance_mcc
    from simulator.references import dataset_references

    truth = dataset.confounder
    if truth is None:
        raise LatentsError(
            f"dataset {dataset.name!r} carries no true confounder C to score against"
        )
    n = int(dataset.n_users)
    z = check_latents(latents, n)
    prior = None if prior_mean is None else check_latents(prior_mean, n, name="prior mean")
    try:
        n_boot = check_int(n_boot, "n_boot", "score_latents", low=0)
    except ParameterError as exc:
        raise LatentsError(str(exc)) from None
    if n_boot == 1:
        raise LatentsError("The 'n_boot' parameter of score_latents must be 0 or >= 2. Got 1.")
    if references is None:
        references = dataset_references(dataset)
    d, d_true = int(z.shape[1]), int(np.asarray(truth).reshape(n, -1).shape[1])
    out: dict[str, Any] = {
        "format": SCORE_FORMAT,
        "n_users": n,
        "latent_dim": d,
        "d_true": d_true,
        "seed": int(seed),
        "n_boot": int(n_boot),
    }
    out.update(latent_metrics(truth, z, prior_mean=prior, n_boot=n_boot, seed=int(seed)))
    out["identifiability"] = {"aux": aux_preconditions(dataset.proxy, d), "prior_matrix": None}
    out["references"] = references
    if d != d_true:
        chance = chance_mcc(max(n, 3), d_true, d, random_state=int(seed))
        out["mcc_chance_latent_dim"] = {
            "mean": float(chance["mean"]),
            "p95": float(chance["p95"]),
            "d_learned": d,
        }
    return out


def format_scores(scores: dict[str, dict[str, Any]]) -> list[str]:
    """The printed table of one or more scores (:func:`score_latents`'s dicts, by name), then
    one sentence on how to read it (the demo's table shape, :func:`format_table`).

    A score whose latent dimension differs from the truth's shows the chance level of its own
    dimension (``mcc_chance_latent_dim``).
    """
    from simulator.references import flat_references

    rows = {}
    for name, metrics in scores.items():
        row = dict(flat_references(metrics.get("references")))
        row.update({k: metrics.get(k) for k in ("mcc", "mcc_weak", "mcc_prior_only")})
        row["mcc_ci_low"], row["mcc_ci_high"] = metrics.get("mcc_ci") or (None, None)
        own = metrics.get("mcc_chance_latent_dim")
        if own is not None:
            row["ref_chance"], row["ref_chance_p95"] = own["mean"], own["p95"]
        rows[name] = row
    return format_table(rows, columns=SCORE_COLUMNS, reading=SCORE_READING)


def format_table(rows: dict[str, dict], *, columns: tuple, reading: str) -> list[str]:
    """A fixed-width table, one line per named row, then the sentence on how to read it.

    ``columns`` holds (header, key, width, decimals) per column; decimals None marks the column
    that shows the row's name (left-aligned), every other is a figure (right-aligned) and a
    missing one prints as ``-``. The demo's table and ``ividr score``'s are made by it.
    """
    lines = [
        " ".join(
            f"{title:<{width}}" if digits is None else f"{title:>{width}}"
            for title, _key, width, digits in columns
        )
    ]
    for name, row in rows.items():
        cells = []
        for _title, key, width, digits in columns:
            value = row.get(key)
            if digits is None:
                cells.append(f"{name:<{width}}")
            elif value is None:
                cells.append(f"{'-':>{width}}")
            else:
                cells.append(f"{float(value):>{width}.{digits}f}")
        lines.append(" ".join(cells))
    lines.append(reading)
    return lines


def strict_json(value: Any, *, keep_inf: bool = False) -> Any:
    """``value`` with every NaN or infinite float replaced by None and numpy scalars and arrays
    made plain, so that ``json.dumps(..., allow_nan=False)`` writes strict JSON (§7).

    With ``keep_inf`` an infinite float stays as it is (NaN still becomes None), for a writer
    that says why it writes null (:func:`simulator.files.dumps_json`): an infinite F statistic
    is a finding, not a missing value.
    """
    if isinstance(value, dict):
        return {str(k): strict_json(v, keep_inf=keep_inf) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist(), keep_inf=keep_inf)
    if isinstance(value, list | tuple):
        return [strict_json(v, keep_inf=keep_inf) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return v if math.isfinite(v) or (keep_inf and not math.isnan(v)) else None
    return value
