"""Read datasets from disk into a :class:`~simulator.dataset.RecDataset`.

Layouts recognised by their files (``load_dataset(path)``):

- ``simgen``: a directory written by ``simgen`` (``meta.json``, ``train.csv``, ``random.csv``,
  ``user_features.csv``, ``item_features.csv``, ``truth.npz``); docs/design.md §3.
- ``coat``: Schnabel et al.'s Coat files (``train.ascii``, ``test.ascii``,
  ``user_features.ascii``, ``item_features.ascii``).
- ``idcf``: the iDCF authors' layout (``train.csv``, ``random.csv`` with header
  ``user_id,item_id,rating``, and ``user_feat_label.csv`` or ``user_feat_onehot.csv``, optionally
  a true confounder ``z_true.npy``). The feature and truth files may sit in the folder or in its
  parent, as in iDCF's synthetic benchmark where one ``user_feat_label.csv`` serves every gamma.
  iDCF's own Yahoo!R3 and KuaiRand builds use this layout too. ``simgen --format idcf`` writes it
  into the subfolder ``idcf/``; ``load_dataset(DIR, format="idcf")`` on the simgen directory
  reads that subfolder.
- ``recbole``: RecBole atomic files (``<name>.inter``, ``<name>.user``, ``<name>.item``,
  tab-separated, ``field:type`` headers), as :mod:`simulator.exporters` writes them; recognised by
  a ``*.inter`` file. ``load_dataset(DIR, format="recbole")`` on a simgen directory reads its
  subfolder ``recbole/``.

Every error names the file and what is wrong (:class:`DatasetError`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from metrics.checks import check_choice
from simulator.dataset import DatasetError, Interactions, RecDataset
from simulator.readers import levels_of, loadtxt, require
from simulator.recbole_loader import load_recbole

#: Coat's one-hot blocks: user fields gender, age group, location, fashion interest;
#: item fields gender, jacket type, color, shown on the front page.
COAT_USER_LEVELS = (2, 6, 3, 3)
COAT_ITEM_LEVELS = (2, 16, 13, 2)

TRIPLE_HEADER = "user_id,item_id,rating"
FORMATS = ("auto", "simgen", "coat", "idcf", "recbole")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_format(path: str | Path) -> str:
    """Name the layout of a dataset directory, or raise DatasetError."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a directory")
    if (path / "meta.json").is_file():
        return "simgen"
    if (path / "train.ascii").is_file():
        return "coat"
    if (path / "train.csv").is_file() and (path / "random.csv").is_file():
        return "idcf"
    if any(p.is_file() for p in path.glob("*.inter")):
        return "recbole"
    raise DatasetError(
        f"{path}: no dataset recognised (expected meta.json for simgen, train.ascii for Coat, "
        "train.csv with random.csv for the iDCF layout, or a *.inter file for RecBole's)"
    )


def load_dataset(path: str | Path, *, format: str = "auto") -> RecDataset:  # noqa: A002
    """Load any supported dataset directory.

    Parameters
    ----------
    path : str or Path
        The dataset directory.
    format : {"auto", "simgen", "coat", "idcf", "recbole"}, default "auto"
        The layout; "auto" recognises it by its files. "idcf" or "recbole" on a simgen
        directory reads the export in its subfolder ``idcf/`` or ``recbole/``.

    Returns
    -------
    RecDataset
    """
    check_choice(format, "format", "load_dataset", FORMATS)
    fmt = detect_format(path) if format == "auto" else format
    loaders = {"simgen": load_simgen, "coat": load_coat, "idcf": load_idcf, "recbole": load_recbole}
    return check_not_empty(loaders[fmt](path), path, fmt)


#: The files of each layout that hold (exposures, unbiased test ratings), for the messages.
_RATING_FILES = {
    "simgen": ("train.csv", "random.csv"),
    "coat": ("train.ascii", "test.ascii"),
    "idcf": ("train.csv", "random.csv"),
    "recbole": ("the train *.inter file", "the valid/test *.inter files"),
}


def check_not_empty(dataset: RecDataset, path: str | Path, fmt: str) -> RecDataset:
    """``dataset`` unless it has no users, items, exposures or unbiased (test) ratings, which no
    model can be fitted or scored on (docs/design.md §7); then a DatasetError naming the file.

    Without this a fit of such data ends in numpy warnings and NaN or infinite "metrics".
    """
    train_file, test_file = _RATING_FILES[fmt]
    path = Path(path)
    if dataset.n_users == 0:
        raise DatasetError(f"{path}: no users")
    if dataset.n_items == 0:
        raise DatasetError(f"{path}: no items (no rating names one)")
    if len(dataset.train) == 0:
        raise DatasetError(f"{path / train_file}: no exposures (no training ratings)")
    if len(dataset.unbiased) == 0:
        raise DatasetError(f"{path / test_file}: no unbiased ratings to validate and test on")
    return dataset


# -- helpers ------------------------------------------------------------------------------------
def _read_int_csv(path: Path, header: str) -> np.ndarray:
    """An integer CSV with the given header, as an int64 array of shape (rows, columns)."""
    require(path)
    with open(path) as fh:
        first = fh.readline().strip()
    if first.replace(" ", "") != header:
        raise DatasetError(f"{path}: expected header {header!r}, found {first[:80]!r}")
    n_cols = header.count(",") + 1
    try:
        values = loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path}: malformed rows ({exc})") from exc
    if values.size == 0:
        values = values.reshape(0, n_cols)
    if values.shape[1] != n_cols:
        raise DatasetError(f"{path}: expected {n_cols} columns, found {values.shape[1]}")
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise DatasetError(f"{path}: expected integer values")
    return values.astype(np.int64)


def _read_triples(path: Path) -> Interactions:
    arr = _read_int_csv(path, TRIPLE_HEADER)
    if arr.size and (arr[:, 2].min() < 1 or arr[:, 2].max() > 5):
        raise DatasetError(f"{path}: ratings must lie in 1..5")
    if arr.size and arr[:, :2].min() < 0:
        raise DatasetError(f"{path}: ids must be non-negative")
    return Interactions(arr[:, 0], arr[:, 1], arr[:, 2])


def _read_ascii_matrix(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    require(path)
    try:
        mat = loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise DatasetError(f"{path}: malformed matrix ({exc})") from exc
    if shape is not None and mat.shape != shape:
        raise DatasetError(f"{path}: expected shape {shape}, found {mat.shape}")
    return mat


def _decode_one_hot(mat: np.ndarray, levels: tuple[int, ...], path: Path) -> np.ndarray:
    """Categorical codes of shape (n, len(levels)) from concatenated one-hot blocks."""
    if mat.shape[1] != sum(levels):
        raise DatasetError(f"{path}: expected {sum(levels)} one-hot columns, found {mat.shape[1]}")
    codes, start = [], 0
    for n_levels in levels:
        block = mat[:, start : start + n_levels]
        if not np.all(block.sum(axis=1) == 1):
            raise DatasetError(f"{path}: columns {start}..{start + n_levels - 1} are not one-hot")
        codes.append(block.argmax(axis=1))
        start += n_levels
    return np.stack(codes, axis=1).astype(np.int64)


def _matrix_to_triples(mat: np.ndarray, path: Path) -> Interactions:
    if np.any((mat != 0) & ((mat < 1) | (mat > 5))) or np.any(mat != np.round(mat)):
        raise DatasetError(f"{path}: ratings must be integers in 1..5 (0 = missing)")
    user, item = np.nonzero(mat)
    ratings = mat[user, item].astype(np.int64)
    return Interactions(user.astype(np.int64), item.astype(np.int64), ratings)


# -- simgen ---------------------------------------------------------------------------------------
def load_simgen(path: str | Path, *, verify: bool = True) -> RecDataset:
    """Load a directory written by ``simgen`` (docs/design.md §3).

    Parameters
    ----------
    path : str or Path
    verify : bool, default True
        Check every file against the sha256 recorded in meta.json.
    """
    path = Path(path)
    meta_path = require(path / "meta.json")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{meta_path}: not valid JSON ({exc})") from exc
    for key in ("n_users", "n_items", "sha256"):
        if key not in meta:
            raise DatasetError(f"{meta_path}: missing key {key!r}")
    if verify:
        for name, digest in meta["sha256"].items():
            if sha256_file(require(path / name)) != digest:
                raise DatasetError(f"{path / name}: sha256 does not match meta.json")
    n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
    train = _read_triples(path / "train.csv")
    unbiased = _read_triples(path / "random.csv")

    ufeat_path = require(path / "user_features.csv")
    header = ufeat_path.open().readline().strip()
    n_z = header.count(",") - 1
    expected = ",".join(["user_id", "w"] + [f"z_{f}" for f in range(n_z)])
    ufeat = _read_int_csv(ufeat_path, expected)
    if ufeat.shape[0] != n_users or np.any(ufeat[:, 0] != np.arange(n_users)):
        raise DatasetError(
            f"{ufeat_path}: expected one row per user, ids 0..{n_users - 1} in order"
        )
    ifeat_path = path / "item_features.csv"
    ifeat = _read_int_csv(ifeat_path, "item_id,m")
    if ifeat.shape[0] != n_items or np.any(ifeat[:, 0] != np.arange(n_items)):
        raise DatasetError(
            f"{ifeat_path}: expected one row per item, ids 0..{n_items - 1} in order"
        )

    n_clusters = int(meta.get("config", {}).get("clusters", ufeat[:, 1].max() + 1))
    z_levels = tuple(int(v) for v in meta.get("instrument_levels", levels_of(ufeat[:, 2:])))
    truth = None
    truth_path = path / "truth.npz"
    if truth_path.is_file():
        try:
            with np.load(truth_path, allow_pickle=False) as npz:
                truth = {k: npz[k] for k in npz.files}
        except (ValueError, OSError) as exc:
            raise DatasetError(f"{truth_path}: unreadable ({exc})") from exc
        if "C" not in truth or truth["C"].shape[0] != n_users:
            raise DatasetError(f"{truth_path}: expected an array 'C' with {n_users} rows")
    return RecDataset(
        name="simgen",
        n_users=n_users,
        n_items=n_items,
        train=train,
        unbiased=unbiased,
        proxy=ufeat[:, 1:2],
        proxy_levels=(n_clusters,),
        instrument=ufeat[:, 2:],
        instrument_levels=z_levels,
        item_features=ifeat[:, 1:2],
        item_feature_levels=(n_clusters,),
        truth=truth,
        meta=meta,
    )


# -- Coat -----------------------------------------------------------------------------------------
def load_coat(path: str | Path) -> RecDataset:
    """Load the Coat dataset (Schnabel et al., 2016) from its original ``.ascii`` files.

    The proxy W and the instrument Z are both the four user-feature fields, as in the iDCF and
    IViDR papers' Coat experiments.
    """
    path = Path(path)
    train_mat = _read_ascii_matrix(path / "train.ascii")
    test_mat = _read_ascii_matrix(path / "test.ascii", train_mat.shape)
    n_users, n_items = train_mat.shape
    ufeat = _read_ascii_matrix(path / "user_features.ascii")
    if ufeat.shape[0] != n_users:
        raise DatasetError(f"{path / 'user_features.ascii'}: expected {n_users} rows")
    user_codes = _decode_one_hot(ufeat, COAT_USER_LEVELS, path / "user_features.ascii")
    item_codes = None
    ifeat_path = path / "item_features.ascii"
    if ifeat_path.is_file():
        imat = _read_ascii_matrix(ifeat_path)
        if imat.shape[0] != n_items:
            raise DatasetError(f"{ifeat_path}: expected {n_items} rows")
        item_codes = _decode_one_hot(imat, COAT_ITEM_LEVELS, ifeat_path)
    return RecDataset(
        name="coat",
        n_users=n_users,
        n_items=n_items,
        train=_matrix_to_triples(train_mat, path / "train.ascii"),
        unbiased=_matrix_to_triples(test_mat, path / "test.ascii"),
        proxy=user_codes,
        proxy_levels=COAT_USER_LEVELS,
        instrument=user_codes.copy(),
        instrument_levels=COAT_USER_LEVELS,
        item_features=item_codes,
        item_feature_levels=COAT_ITEM_LEVELS if item_codes is not None else (),
        meta={"source": str(path.resolve()), "format": "coat"},
    )


# -- iDCF layout ----------------------------------------------------------------------------------
def _find_beside(path: Path, name: str) -> Path | None:
    for folder in (path, path.parent):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idcf(path: str | Path) -> RecDataset:
    """Load a folder in the iDCF authors' layout.

    The proxy W comes from ``user_feat_label.csv`` (one categorical column) or, failing that,
    ``user_feat_onehot.csv`` (each column a binary field). The layout has no separate user
    features, so the instrument Z is W itself (as in the IViDR authors' code); ``meta`` says so
    under ``"instrument_is_proxy"``. A ``z_true.npy`` beside the files is the true confounder.
    A label file with several columns holds several proxy fields; their numbers of levels come
    from ``user_feat_onehot.csv`` when it is there (its blocks), else from the largest codes.
    Given a simgen directory with an ``idcf/`` export, it reads that export.
    """
    path = Path(path)
    has_labels = any((path / n).is_file() for n in ("user_feat_label.csv", "user_feat_onehot.csv"))
    if not has_labels and (path / "idcf" / "train.csv").is_file():
        path = path / "idcf"
    train = _read_triples(path / "train.csv")
    unbiased = _read_triples(path / "random.csv")
    label_path = _find_beside(path, "user_feat_label.csv")
    onehot_path = _find_beside(path, "user_feat_onehot.csv")
    if label_path is not None:
        proxy = _read_ascii_matrix_csv(label_path).astype(np.int64)
    elif onehot_path is not None:
        proxy = _read_ascii_matrix_csv(onehot_path).astype(np.int64)
        if np.any((proxy != 0) & (proxy != 1)):
            raise DatasetError(f"{onehot_path}: expected 0/1 values")
    else:
        raise DatasetError(
            f"{path}: neither user_feat_label.csv nor user_feat_onehot.csv found here or in the "
            "parent folder"
        )
    if proxy.min() < 0:
        raise DatasetError(f"{label_path or onehot_path}: codes must be non-negative")
    n_users = proxy.shape[0]
    n_items = int(max(train.item.max(initial=-1), unbiased.item.max(initial=-1))) + 1
    max_user = int(max(train.user.max(initial=-1), unbiased.user.max(initial=-1)))
    if max_user >= n_users:
        raise DatasetError(
            f"{label_path or onehot_path}: has {n_users} users but the ratings name user {max_user}"
        )
    if label_path is None:
        levels = tuple(2 for _ in range(proxy.shape[1]))
    elif onehot_path is not None and onehot_path.parent == label_path.parent:
        levels = _levels_from_onehot(proxy, _read_ascii_matrix_csv(onehot_path), onehot_path)
    elif proxy.shape[1] == 1:
        levels = (int(proxy.max()) + 1,)
    else:
        levels = levels_of(proxy)
    truth = None
    truth_path = _find_beside(path, "z_true.npy")
    if truth_path is not None:
        try:
            c_true = np.load(truth_path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DatasetError(f"{truth_path}: unreadable ({exc})") from exc
        if c_true.ndim != 2 or c_true.shape[0] != n_users:
            raise DatasetError(f"{truth_path}: expected shape ({n_users}, d), found {c_true.shape}")
        truth = {"C": c_true.astype(np.float64)}
    return RecDataset(
        name="idcf",
        n_users=n_users,
        n_items=n_items,
        train=train,
        unbiased=unbiased,
        proxy=proxy,
        proxy_levels=levels,
        instrument=proxy.copy(),
        instrument_levels=levels,
        truth=truth,
        meta={"source": str(path.resolve()), "format": "idcf", "instrument_is_proxy": True},
    )


def _levels_from_onehot(codes: np.ndarray, onehot: np.ndarray, path: Path) -> tuple[int, ...]:
    """Levels per field of label codes (n, F), read off the matching one-hot blocks (n, L)."""
    n, n_fields = codes.shape
    if onehot.shape[0] != n or np.any((onehot != 0) & (onehot != 1)):
        raise DatasetError(f"{path}: expected {n} rows of 0/1 values, like user_feat_label.csv")
    rows, cols = np.nonzero(onehot)
    if not np.array_equal(np.bincount(rows, minlength=n), np.full(n, n_fields)):
        raise DatasetError(f"{path}: expected {n_fields} ones per row (one per proxy field)")
    offsets = cols.reshape(n, n_fields) - codes  # the same for every row when consistent
    first = offsets[0]
    bounds = np.append(first, onehot.shape[1])
    if np.any(offsets != first) or first[0] != 0 or np.any(np.diff(bounds) < 1):
        raise DatasetError(f"{path}: does not match the codes in user_feat_label.csv")
    levels = tuple(int(v) for v in np.diff(bounds))
    if np.any(codes.max(axis=0) >= np.array(levels)):
        raise DatasetError(f"{path}: does not match the codes in user_feat_label.csv")
    return levels


def _read_ascii_matrix_csv(path: Path) -> np.ndarray:
    """A numeric CSV with one header row (iDCF writes pandas frames with their column names)."""
    try:
        mat = loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as exc:
        raise DatasetError(f"{path}: malformed rows ({exc})") from exc
    if mat.size == 0:
        raise DatasetError(f"{path}: no rows")
    if np.any(mat != np.round(mat)):
        raise DatasetError(f"{path}: expected integer values")
    return mat


# -- RecBole atomic files -------------------------------------------------------------------------
