"""The one dataset object every loader returns and every model consumes.

A recommendation dataset here is: a biased training set (what users were exposed to and rated),
an unbiased test set (ratings on uniformly random items), a proxy W of the user confounder, an
instrument Z (user features), optional item features, and, for simulated data, the ground truth.
Rows are samples everywhere: user-level arrays have shape ``(n_users, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse

from metrics.checks import check_float

#: A rating at or above this value is positive feedback (docs/design.md §2, §4; Eq. 25).
POSITIVE_THRESHOLD = 4


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Interactions:
    """(user, item, rating) triples, as three aligned integer arrays of shape (n,)."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n or len(self.rating) != n:
            raise ValueError("user, item and rating must have the same length")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def positive(self) -> np.ndarray:
        """Boolean array of shape (n,): rating >= POSITIVE_THRESHOLD."""
        return self.rating >= POSITIVE_THRESHOLD

    def subset(self, mask: np.ndarray) -> Interactions:
        """The triples selected by a boolean mask or an index array."""
        return Interactions(self.user[mask], self.item[mask], self.rating[mask])


def one_hot(codes: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """Concatenated one-hot encoding of categorical fields.

    Parameters
    ----------
    codes : ndarray of shape (n, n_fields)
        Integer level of each field, field f in ``0..levels[f]-1``.
    levels : tuple of int
        Number of levels per field.

    Returns
    -------
    ndarray of shape (n, sum(levels)), float32
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(levels):
        raise ValueError(f"codes must have shape (n, {len(levels)}), got {codes.shape}")
    offsets = np.concatenate([[0], np.cumsum(levels)[:-1]]).astype(np.int64)
    out = np.zeros((codes.shape[0], int(sum(levels))), dtype=np.float32)
    rows = np.repeat(np.arange(codes.shape[0]), codes.shape[1])
    out[rows, (codes + offsets).ravel()] = 1.0
    return out


@dataclass
class RecDataset:
    """A recommendation dataset with a biased train set and an unbiased test set.

    Attributes
    ----------
    name : str
        Where it came from ("simgen", "coat", "idcf", ...).
    n_users, n_items : int
        Sizes; ids run from 0.
    train : Interactions
        The biased data: every exposed (u, i) with its rating.
    unbiased : Interactions
        The randomized trial: ratings on uniformly drawn items, whatever their exposure.
    proxy : ndarray of shape (n_users, n_proxy_fields), int
        The proxy W of the user confounder (categorical codes).
    proxy_levels : tuple of int
        Number of levels of each proxy field.
    instrument : ndarray of shape (n_users, n_iv_fields), int
        The instrument Z (user-feature fields, categorical codes).
    instrument_levels : tuple of int
        Number of levels of each instrument field.
    item_features : ndarray of shape (n_items, n_item_fields), int, or None
    item_feature_levels : tuple of int
    truth : dict of str to ndarray, or None
        Ground truth of simulated data; ``truth["C"]`` of shape (n_users, d) is the confounder
        that MCC scores.
    meta : dict
        Provenance: knobs, preset, seed, counts, file hashes (whatever the source provides).
    """

    name: str
    n_users: int
    n_items: int
    train: Interactions
    unbiased: Interactions
    proxy: np.ndarray
    proxy_levels: tuple[int, ...]
    instrument: np.ndarray
    instrument_levels: tuple[int, ...]
    item_features: np.ndarray | None = None
    item_feature_levels: tuple[int, ...] = ()
    truth: dict[str, np.ndarray] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, part in (("train", self.train), ("unbiased", self.unbiased)):
            if len(part) and (part.user.min() < 0 or part.user.max() >= self.n_users):
                raise DatasetError(f"{label}: user ids must lie in [0, {self.n_users})")
            if len(part) and (part.item.min() < 0 or part.item.max() >= self.n_items):
                raise DatasetError(f"{label}: item ids must lie in [0, {self.n_items})")
        for label, codes, levels, n in (
            ("proxy", self.proxy, self.proxy_levels, self.n_users),
            ("instrument", self.instrument, self.instrument_levels, self.n_users),
        ):
            if codes.ndim != 2 or codes.shape != (n, len(levels)):
                raise DatasetError(
                    f"{label} must have shape ({n}, {len(levels)}), got {codes.shape}"
                )
            if codes.size and (codes.min() < 0 or np.any(codes.max(axis=0) >= np.array(levels))):
                raise DatasetError(f"{label} codes out of range for levels {levels}")

    # -- views used by the models -------------------------------------------------------------
    @property
    def confounder(self) -> np.ndarray | None:
        """The true user confounder C of shape (n_users, d), when the dataset carries it."""
        return None if self.truth is None else self.truth.get("C")

    def exposure_csr(self) -> sparse.csr_matrix:
        """Binary exposure matrix A of shape (n_users, n_items): 1 where (u, i) is in train."""
        data = np.ones(len(self.train), dtype=np.float32)
        mat = sparse.csr_matrix(
            (data, (self.train.user, self.train.item)), shape=(self.n_users, self.n_items)
        )
        mat.sum_duplicates()
        mat.data[:] = 1.0
        return mat

    def exposure(self) -> np.ndarray:
        """Dense float32 exposure matrix of shape (n_users, n_items)."""
        return self.exposure_csr().toarray()

    def proxy_onehot(self) -> np.ndarray:
        """One-hot W of shape (n_users, sum(proxy_levels)), float32."""
        return one_hot(self.proxy, self.proxy_levels)

    def instrument_onehot(self) -> np.ndarray:
        """One-hot Z of shape (n_users, sum(instrument_levels)), float32."""
        return one_hot(self.instrument, self.instrument_levels)

    def split_unbiased(
        self, val_fraction: float = 0.3, *, random_state: int | np.random.Generator | None = 0
    ) -> tuple[Interactions, Interactions]:
        """Split the unbiased set by user into validation and test (iDCF's protocol).

        Parameters
        ----------
        val_fraction : float, default 0.3
            Share of the users (among those in the unbiased set) whose ratings go to validation.
        random_state : int, Generator or None, default 0
            Seeds the user permutation.

        Returns
        -------
        val, test : Interactions
        """
        open_unit = dict(low=0.0, high=1.0, low_open=True, high_open=True)
        check_float(val_fraction, "val_fraction", "RecDataset.split_unbiased", **open_unit)
        rng = np.random.default_rng(random_state)
        users = np.unique(self.unbiased.user)
        perm = rng.permutation(users)
        n_val = int(round(val_fraction * len(users)))
        is_val = np.zeros(self.n_users, dtype=bool)
        is_val[perm[:n_val]] = True
        mask = is_val[self.unbiased.user]
        return self.unbiased.subset(mask), self.unbiased.subset(~mask)

    def split_unbiased_released(
        self, test_fraction: float = 0.7, *, legacy_seed: int = 1234
    ) -> tuple[Interactions, Interactions]:
        """The one validation/test split of the code released with iDCF and IViDR.

        ``split_by_user(df, 0.7)`` of their ``utils.py``: numpy's legacy generator seeded with
        ``legacy_seed`` draws ``int(test_fraction * n)`` of the ``n`` users of the unbiased set
        (without replacement) as test users; the others validate. Every model seed gets the
        same split, unlike :meth:`split_unbiased`.

        Parameters
        ----------
        test_fraction : float, default 0.7
            Share of the unbiased set's users whose ratings go to test.
        legacy_seed : int, default 1234
            Seed of ``numpy.random.RandomState`` (the released codes' ``np.random.seed``).

        Returns
        -------
        val, test : Interactions
        """
        open_unit = dict(low=0.0, high=1.0, low_open=True, high_open=True)
        where = "RecDataset.split_unbiased_released"
        check_float(test_fraction, "test_fraction", where, **open_unit)
        users = np.unique(self.unbiased.user)
        # The legacy generator on purpose: it is what reproduces the released codes' draw.
        test_users = np.random.RandomState(legacy_seed).choice(
            users, size=int(users.size * test_fraction), replace=False
        )
        is_test = np.zeros(self.n_users, dtype=bool)
        is_test[test_users] = True
        mask = is_test[self.unbiased.user]
        return self.unbiased.subset(~mask), self.unbiased.subset(mask)

    def first_users(self, n: int) -> RecDataset:
        """The dataset restricted to its first ``n`` users (same items, ids unchanged; of the
        truth only the confounder C is kept), for subsampled runs."""
        return replace(
            self,
            n_users=n,
            train=self.train.subset(self.train.user < n),
            unbiased=self.unbiased.subset(self.unbiased.user < n),
            proxy=self.proxy[:n],
            instrument=self.instrument[:n],
            truth={"C": self.confounder[:n]},
        )

    def summary(self) -> dict[str, Any]:
        """Counts, exposure density and rating histograms, as plain JSON-able values."""
        hist_train = np.bincount(self.train.rating.astype(np.int64), minlength=6)[1:6]
        hist_unb = np.bincount(self.unbiased.rating.astype(np.int64), minlength=6)[1:6]
        return {
            "name": self.name,
            "n_users": int(self.n_users),
            "n_items": int(self.n_items),
            "n_train": len(self.train),
            "n_unbiased": len(self.unbiased),
            "exposure_density": len(self.train) / float(self.n_users * self.n_items),
            "train_positive_rate": float(self.train.positive.mean()) if len(self.train) else 0.0,
            "rating_histogram_train": {str(k + 1): int(v) for k, v in enumerate(hist_train)},
            "rating_histogram_unbiased": {str(k + 1): int(v) for k, v in enumerate(hist_unb)},
            "has_truth": self.truth is not None,
        }
