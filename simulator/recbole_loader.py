"""Read RecBole atomic files (``<name>.inter``, ``<name>.user``, ``<name>.item``; tab-separated,
``field:type`` headers) as :mod:`simulator.exporters` writes them: the ``recbole`` layout of
:func:`simulator.loaders.load_dataset`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.dataset import DatasetError, Interactions, RecDataset
from simulator.readers import levels_of, loadtxt, require

__all__ = ["RECBOLE_PARTS", "load_recbole"]

#: RecBole's pre-split interaction files (``benchmark_filename``), as train, valid, test.
RECBOLE_PARTS = ("train", "valid", "test")


def _read_atomic(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A RecBole atomic file of integer values: {field name: int64 column}.

    The header is ``name:type`` per column, tab-separated; ``required`` fields must be present.
    """
    require(path)
    with open(path) as fh:
        first = fh.readline().rstrip("\n").rstrip("\r")
    names = []
    for entry in first.split("\t"):
        name, sep, ftype = entry.strip().partition(":")
        if not sep or ftype not in ("token", "float", "token_seq", "float_seq"):
            raise DatasetError(
                f"{path}: expected a header of name:type fields separated by tabs, "
                f"found {first[:80]!r}"
            )
        names.append(name)
    missing = [f for f in required if f not in names]
    if missing:
        raise DatasetError(f"{path}: missing field(s) {', '.join(missing)} in the header")
    try:
        values = loadtxt(path, delimiter="\t", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path}: malformed rows or non-numeric tokens ({exc})") from exc
    if values.size == 0:
        values = values.reshape(0, len(names))
    if values.shape[1] != len(names):
        raise DatasetError(f"{path}: expected {len(names)} columns, found {values.shape[1]}")
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise DatasetError(f"{path}: expected integer values")
    if values.size and values.min() < 0:
        raise DatasetError(f"{path}: expected non-negative values")
    return {name: values[:, j].astype(np.int64) for j, name in enumerate(names)}


def _read_recbole_inter(path: Path) -> Interactions:
    cols = _read_atomic(path, ("user_id", "item_id", "rating"))
    rating = cols["rating"]
    if rating.size and (rating.min() < 1 or rating.max() > 5):
        raise DatasetError(f"{path}: ratings must lie in 1..5")
    return Interactions(cols["user_id"], cols["item_id"], rating)


def _recbole_stem(path: Path) -> str:
    """The dataset name of the atomic files in ``path`` (RecBole's ``dataset``)."""
    split = sorted(p.name[: -len(".train.inter")] for p in path.glob("*.train.inter"))
    if len(split) == 1:
        return split[0]
    plain = sorted(
        p.name[: -len(".inter")]
        for p in path.glob("*.inter")
        if not any(p.name.endswith(f".{part}.inter") for part in RECBOLE_PARTS)
    )
    if len(split) == 0 and len(plain) == 1:
        return plain[0]
    raise DatasetError(
        f"{path}: expected the atomic files of one dataset, found "
        f"{sorted(p.name for p in path.glob('*.inter')) or 'no *.inter file'}"
    )


def _codes_by_id(cols: dict[str, np.ndarray], key: str, fields: list[str], path: Path):
    """Rows of ``fields`` placed by the id column ``key``, which must be 0..n-1, each once."""
    ids = cols[key]
    n = len(ids)
    if n == 0 or not np.array_equal(np.sort(ids), np.arange(n)):
        raise DatasetError(f"{path}: expected one row per {key[:-3]}, ids 0..n-1 each once")
    out = np.zeros((n, len(fields)), dtype=np.int64)
    for j, f in enumerate(fields):
        out[ids, j] = cols[f]
    return out


def _numbered_fields(cols: dict[str, np.ndarray], letter: str) -> list[str]:
    """The fields ``<letter>_0, <letter>_1, ...`` of an atomic file, in numeric order."""
    return sorted(
        (f for f in cols if f.startswith(f"{letter}_") and f[2:].isdigit()),
        key=lambda f: int(f[2:]),
    )


def _read_recbole_split(path: Path, stem: str) -> tuple[Interactions, Interactions]:
    """Train and the unbiased set (valid + test, grouped by user in file order)."""
    if (path / f"{stem}.train.inter").is_file():
        train = _read_recbole_inter(path / f"{stem}.train.inter")
        parts = [
            _read_recbole_inter(require(path / f"{stem}.{p}.inter")) for p in ("valid", "test")
        ]
    else:
        train = _read_recbole_inter(path / f"{stem}.inter")
        parts = [_read_recbole_inter(require(path / f"{stem}.test.inter"))]
    user = np.concatenate([p.user for p in parts])
    order = np.argsort(user, kind="stable")
    unbiased = Interactions(
        user[order],
        np.concatenate([p.item for p in parts])[order],
        np.concatenate([p.rating for p in parts])[order],
    )
    return train, unbiased


def _read_recbole_users(user_path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """The proxy W and the instrument Z of a ``.user`` file, and whether Z is W (no z_ fields)."""
    ucols = _read_atomic(user_path, ("user_id",))
    w_fields = ["w"] if "w" in ucols else _numbered_fields(ucols, "w")
    if not w_fields:
        raise DatasetError(f"{user_path}: no proxy field (w, or w_0, w_1, ...)")
    z_fields = _numbered_fields(ucols, "z")
    codes = _codes_by_id(ucols, "user_id", w_fields + z_fields, user_path)
    proxy, instrument = codes[:, : len(w_fields)], codes[:, len(w_fields) :]
    instrument_is_proxy = not z_fields
    if instrument_is_proxy:
        instrument = proxy.copy()
    return proxy, instrument, instrument_is_proxy


def _read_recbole_items(item_path: Path) -> tuple[np.ndarray | None, int]:
    """The item proxy M of an ``.item`` file (None without m fields) and the number of items."""
    icols = _read_atomic(item_path, ("item_id",))
    m_fields = ["m"] if "m" in icols else _numbered_fields(icols, "m")
    icodes = _codes_by_id(icols, "item_id", m_fields, item_path)
    return (icodes if m_fields else None), icodes.shape[0]


def _check_recbole_ids(
    train: Interactions,
    unbiased: Interactions,
    user_path: Path,
    n_users: int,
    item_path: Path,
    n_items: int | None,
) -> None:
    """Refuse interactions naming a user (item) beyond the ``.user`` (``.item``) file."""
    for part, file in ((train, "train"), (unbiased, "unbiased")):
        if len(part) and part.user.max() >= n_users:
            raise DatasetError(
                f"{user_path}: has {n_users} users but the {file} interactions name user "
                f"{int(part.user.max())}"
            )
        if n_items is not None and len(part) and part.item.max() >= n_items:
            raise DatasetError(
                f"{item_path}: has {n_items} items but the {file} interactions name item "
                f"{int(part.item.max())}"
            )


def load_recbole(path: str | Path) -> RecDataset:
    """Load RecBole atomic files as :func:`simulator.exporters.export_recbole` writes them.

    Train is ``<name>.train.inter`` (else ``<name>.inter``); the unbiased set is
    ``<name>.valid.inter`` and ``<name>.test.inter`` together (else ``<name>.test.inter``),
    returned grouped by user in file order (the order they were exported in when that was
    grouped by user, as in every loader here). ``<name>.user`` gives the users, the proxy W
    (field ``w``, or ``w_0, w_1, ...``) and the instrument Z (``z_0, ...``; without them Z is W);
    ``<name>.item`` the items and their proxy (``m`` or ``m_0, ...``). Numbers of levels are the
    largest codes plus one. Ids must be integers from 0 (RecBole's own remapped ids are not).
    Given a directory without ``*.inter`` files but with a ``recbole/`` subfolder (a simgen
    directory), it reads the subfolder.
    """
    path = Path(path)
    if not any(path.glob("*.inter")) and (path / "recbole").is_dir():
        path = path / "recbole"
    if not path.is_dir():
        raise DatasetError(f"{path}: not a directory")
    stem = _recbole_stem(path)
    train, unbiased = _read_recbole_split(path, stem)
    user_path = require(path / f"{stem}.user")
    proxy, instrument, instrument_is_proxy = _read_recbole_users(user_path)
    n_users = proxy.shape[0]
    item_path = path / f"{stem}.item"
    item_features, n_items = _read_recbole_items(item_path) if item_path.is_file() else (None, None)
    _check_recbole_ids(train, unbiased, user_path, n_users, item_path, n_items)
    if n_items is None:
        n_items = int(max(train.item.max(initial=-1), unbiased.item.max(initial=-1))) + 1
    return RecDataset(
        name="recbole",
        n_users=n_users,
        n_items=n_items,
        train=train,
        unbiased=unbiased,
        proxy=proxy,
        proxy_levels=levels_of(proxy),
        instrument=instrument,
        instrument_levels=levels_of(instrument),
        item_features=item_features,
        item_feature_levels=levels_of(item_features) if item_features is not None else (),
        meta={
            "source": str(path.resolve()),
            "format": "recbole",
            "dataset": stem,
            "instrument_is_proxy": instrument_is_proxy,
        },
    )
