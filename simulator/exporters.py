"""Write a dataset in the layouts of the peers' code, so their code runs on our data.

Two layouts (docs/design.md §3), each from a :class:`~simulator.generate.SimulatedData` or any
:class:`~simulator.dataset.RecDataset` (Coat, a loaded simgen directory, ...):

``idcf`` — the files iDCF's scripts read (``argparser.py``'s ``train_path``, ``random_path``,
``user_feature_path``, ``user_feature_label``; e.g. ``data_process/simulation/``):

- ``train.csv``, ``random.csv``: header ``user_id,item_id,rating``, ratings written as pandas
  writes them (``4.0``), ids from 0;
- ``user_feat_label.csv``: the proxy W, one row per user in user order, one column per proxy
  field, headed ``0`` (``0,1,...`` for several fields), as in iDCF's synthetic benchmark;
- ``user_feat_onehot.csv``: the one-hot W (concatenated blocks per field) with the column
  header of a pandas frame, ``0,1,...,K-1``; this is the auxiliary variable iDCF's iVAE reads;
- ``z_true.npy``: float32 (n_users, d), the true confounder C, when the dataset carries it.

iDCF's layout has no instrument and no item features; :func:`~simulator.loaders.load_idcf`
reads Z back as W (``meta["instrument_is_proxy"]``). iDCF itself counts items as the largest
item id in train.csv plus one.

``recbole`` — RecBole's atomic files (tab-separated, ``field:type`` headers), named after the
folder, so that a folder ``DIR/recbole`` is RecBole's ``data_path=DIR``, ``dataset=recbole``:

- ``recbole.inter``: the biased training set, ``user_id:token  item_id:token  rating:float``
  (the one file RecBole's general recommenders need; RecBole then splits it itself);
- ``recbole.train.inter``, ``recbole.valid.inter``, ``recbole.test.inter``: the same columns,
  for RecBole's ``benchmark_filename: [train, valid, test]`` (pre-split data): train is the
  biased set (a hard link to ``recbole.inter`` where the file system allows, else a copy),
  valid and test the unbiased set split by user as our models split it
  (``RecDataset.split_unbiased(0.3, random_state=seed)``, the iDCF protocol);
- ``recbole.user``: ``user_id:token  w:token  z_0:token ...`` (``w_0, w_1, ...`` for several
  proxy fields), every user, in order;
- ``recbole.item``: ``item_id:token  m:token`` (the item proxy; only ``item_id`` when the
  dataset has no item features), every item, in order;
- ``recbole.yaml``: the RecBole settings that read these files (fields, ``load_col``,
  ``benchmark_filename``, ``threshold: {rating: 4}`` for positive feedback).

RecBole remaps tokens to its own internal ids; :func:`~simulator.recbole_loader.load_recbole` reads
the files back with our ids. The truth C is not part of the RecBole layout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metrics.checks import ParameterError, check_float, parameter_message
from simulator.dataset import POSITIVE_THRESHOLD, Interactions, RecDataset, one_hot
from simulator.loaders import TRIPLE_HEADER
from simulator.output import atomic_directory
from simulator.simulated import SimulatedData
from simulator.tables import write_int_table

#: Columns of iDCF's rating files.
IDCF_TRIPLE_HEADER = TRIPLE_HEADER
#: Header of the RecBole interaction files (tab-separated).
RECBOLE_INTER_HEADER = "user_id:token\titem_id:token\trating:float"
#: RecBole's ``benchmark_filename``: the pre-split interaction files, as train, valid, test.
RECBOLE_PARTS = ("train", "valid", "test")
#: Share of the unbiased users in RecBole's valid file (the rest: test), as our models split.
RECBOLE_VAL_FRACTION = 0.3


@dataclass(frozen=True)
class _Source:
    """What the exporters need, as views (no copies of the big arrays)."""

    n_users: int
    n_items: int
    train: Interactions
    unbiased: Interactions
    proxy: np.ndarray  # (n_users, n_fields)
    proxy_levels: tuple[int, ...]
    instrument: np.ndarray  # (n_users, n_iv_fields)
    item_features: np.ndarray | None  # (n_items, n_item_fields)
    confounder: np.ndarray | None  # (n_users, d)
    seed: int


def _source(data: SimulatedData | RecDataset, caller: str) -> _Source:
    if isinstance(data, SimulatedData):
        return _Source(
            n_users=data.n_users,
            n_items=data.n_items,
            train=data.train,
            unbiased=data.unbiased,
            proxy=np.asarray(data.W)[:, None],
            proxy_levels=(data.config.clusters,),
            instrument=np.asarray(data.Z),
            item_features=np.asarray(data.M)[:, None],
            confounder=data.C,
            seed=data.config.seed,
        )
    if isinstance(data, RecDataset):
        seed = data.meta.get("seed", 0)
        return _Source(
            n_users=data.n_users,
            n_items=data.n_items,
            train=data.train,
            unbiased=data.unbiased,
            proxy=data.proxy,
            proxy_levels=tuple(data.proxy_levels),
            instrument=data.instrument,
            item_features=data.item_features,
            confounder=data.confounder,
            seed=int(seed) if isinstance(seed, int) and seed >= 0 else 0,
        )
    raise TypeError(
        f"The 'data' parameter of {caller} must be a SimulatedData or a RecDataset. "
        f"Got {type(data).__name__} instead."
    )


def _field_names(prefix: str, n_fields: int) -> list[str]:
    return [prefix] if n_fields == 1 else [f"{prefix}_{f}" for f in range(n_fields)]


def _columns(mat: np.ndarray) -> list[np.ndarray]:
    return [mat[:, f] for f in range(mat.shape[1])]


# -- iDCF -----------------------------------------------------------------------------------------
def write_idcf_files(data: SimulatedData | RecDataset, folder: str | Path) -> dict[str, Any]:
    """Write iDCF's layout into an existing, empty ``folder`` (no atomicity; see export_idcf).

    Returns
    -------
    dict
        ``{"files": [names written], ...}``: what meta.json records under ``exports.idcf``.
    """
    src = _source(data, "write_idcf_files")
    folder = Path(folder)
    for name, part in (("train.csv", src.train), ("random.csv", src.unbiased)):
        write_int_table(
            folder / name, IDCF_TRIPLE_HEADER, [part.user, part.item, part.rating], float_last=True
        )
    n_fields = src.proxy.shape[1]
    write_int_table(
        folder / "user_feat_label.csv",
        ",".join(str(f) for f in range(n_fields)),
        _columns(src.proxy),
    )
    onehot = one_hot(src.proxy, src.proxy_levels).astype(np.uint8)
    write_int_table(
        folder / "user_feat_onehot.csv",
        ",".join(str(j) for j in range(onehot.shape[1])),
        _columns(onehot),
    )
    files = ["train.csv", "random.csv", "user_feat_label.csv", "user_feat_onehot.csv"]
    if src.confounder is not None:
        np.save(folder / "z_true.npy", np.ascontiguousarray(src.confounder, dtype=np.float32))
        files.append("z_true.npy")
    return {
        "layout": "idcf",
        "files": files,
        "proxy_levels": list(src.proxy_levels),
        "has_truth": src.confounder is not None,
    }


def export_idcf(
    data: SimulatedData | RecDataset, out_dir: str | Path, *, overwrite: bool = False
) -> Path:
    """Write a dataset in iDCF's layout (see the module docstring), atomically.

    Parameters
    ----------
    data : SimulatedData or RecDataset
    out_dir : str or Path
        The folder to create (e.g. iDCF's ``data_process/simulation``).
    overwrite : bool, default False
        Replace ``out_dir`` if it is empty or an earlier iDCF export (has
        ``user_feat_label.csv`` and no meta.json).

    Returns
    -------
    Path
        The absolute path of the folder; ``load_dataset`` reads it back.

    Examples
    --------
    >>> from simulator import SimConfig, generate, load_dataset
    >>> from simulator.exporters import export_idcf
    >>> data = generate(SimConfig.from_preset("idcf", n_users=200, n_items=50))
    >>> path = export_idcf(data, "/tmp/idcf-export", overwrite=True)  # doctest: +SKIP
    >>> load_dataset(path).proxy.shape  # doctest: +SKIP
    (200, 1)
    """
    _source(data, "export_idcf")
    with atomic_directory(
        out_dir,
        overwrite=overwrite,
        replaceable=lambda p: (
            (p / "user_feat_label.csv").is_file() and not (p / "meta.json").exists()
        ),
        what="export_idcf (user_feat_label.csv, no meta.json)",
    ) as tmp:
        write_idcf_files(data, tmp)
    return Path(out_dir).absolute()


# -- RecBole --------------------------------------------------------------------------------------
def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _recbole_yaml(stem: str, user_fields: list[str], item_fields: list[str]) -> str:
    def flow(names: list[str]) -> str:
        return "[" + ", ".join(names) + "]"

    return (
        f"# RecBole settings for these files: data_path = the folder above this one,\n"
        f"# dataset = {stem}. train = the biased data, valid/test = the unbiased (randomised)\n"
        f"# ratings split by user. Drop benchmark_filename to let RecBole split {stem}.inter.\n"
        f'field_separator: "\\t"\n'
        f"USER_ID_FIELD: user_id\n"
        f"ITEM_ID_FIELD: item_id\n"
        f"RATING_FIELD: rating\n"
        f"load_col:\n"
        f"  inter: [user_id, item_id, rating]\n"
        f"  user: {flow(user_fields)}\n"
        f"  item: {flow(item_fields)}\n"
        f"benchmark_filename: {flow(list(RECBOLE_PARTS))}\n"
        f"threshold:\n"
        f"  rating: {POSITIVE_THRESHOLD}\n"
    )


def write_recbole_files(
    data: SimulatedData | RecDataset,
    folder: str | Path,
    *,
    name: str | None = None,
    val_fraction: float = RECBOLE_VAL_FRACTION,
    random_state: int | None = None,
) -> dict[str, Any]:
    """Write RecBole's atomic files into an existing, empty ``folder`` (see export_recbole).

    Returns
    -------
    dict
        ``{"files": [names written], "dataset": stem, ...}``: what meta.json records under
        ``exports.recbole``.
    """
    src = _source(data, "write_recbole_files")
    folder = Path(folder)
    stem = name if name is not None else folder.absolute().name
    if not stem or "/" in stem or stem.startswith("."):
        allowed = "a plain file stem (no '/', not starting with '.')"
        raise ParameterError(
            parameter_message("name", "write_recbole_files", allowed, stem), param="name"
        )
    seed = src.seed if random_state is None else random_state
    # The very split our models use (ividr fit: dataset.split_unbiased(0.3, random_state=seed));
    # split_unbiased reads only .unbiased and .n_users, which _Source has.
    valid, test = RecDataset.split_unbiased(src, val_fraction, random_state=seed)  # type: ignore[arg-type]

    def inter(file: str, part: Interactions) -> None:
        write_int_table(
            folder / file, RECBOLE_INTER_HEADER, [part.user, part.item, part.rating], sep="\t"
        )

    inter(f"{stem}.inter", src.train)
    _link_or_copy(folder / f"{stem}.inter", folder / f"{stem}.train.inter")
    inter(f"{stem}.valid.inter", valid)
    inter(f"{stem}.test.inter", test)

    w_names = _field_names("w", src.proxy.shape[1])
    z_names = [f"z_{f}" for f in range(src.instrument.shape[1])]
    user_fields = ["user_id", *w_names, *z_names]
    write_int_table(
        folder / f"{stem}.user",
        "\t".join(f"{f}:token" for f in user_fields),
        [np.arange(src.n_users), *_columns(src.proxy), *_columns(src.instrument)],
        sep="\t",
    )
    item_cols = [] if src.item_features is None else _columns(src.item_features)
    item_fields = ["item_id", *_field_names("m", len(item_cols))] if item_cols else ["item_id"]
    write_int_table(
        folder / f"{stem}.item",
        "\t".join(f"{f}:token" for f in item_fields),
        [np.arange(src.n_items), *item_cols],
        sep="\t",
    )
    (folder / f"{stem}.yaml").write_text(_recbole_yaml(stem, user_fields, item_fields))
    files = [f"{stem}.inter", *(f"{stem}.{p}.inter" for p in RECBOLE_PARTS)]
    files += [f"{stem}.user", f"{stem}.item", f"{stem}.yaml"]
    return {
        "layout": "recbole",
        "dataset": stem,
        "files": files,
        "benchmark_filename": list(RECBOLE_PARTS),
        "val_fraction": val_fraction,
        "random_state": seed,
        "counts": {"train": len(src.train), "valid": len(valid), "test": len(test)},
    }


def export_recbole(
    data: SimulatedData | RecDataset,
    out_dir: str | Path,
    *,
    name: str | None = None,
    val_fraction: float = RECBOLE_VAL_FRACTION,
    random_state: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a dataset as RecBole atomic files (see the module docstring), atomically.

    Parameters
    ----------
    data : SimulatedData or RecDataset
    out_dir : str or Path
        The folder to create. RecBole reads ``{data_path}/{dataset}/{dataset}.inter``, so the
        files are named after the folder unless ``name`` is given.
    name : str, optional
        The file stem (RecBole's ``dataset``). Default: the folder's name.
    val_fraction : float, default 0.3
        Share of the unbiased users whose ratings go to ``<name>.valid.inter``.
    random_state : int, optional
        Seeds that split; default: the dataset's seed (``meta["seed"]``; 0 when it has none).
    overwrite : bool, default False
        Replace ``out_dir`` if it is empty or an earlier RecBole export (has ``*.inter`` files
        and no meta.json).

    Returns
    -------
    Path
        The absolute path of the folder; ``load_dataset`` reads it back.
    """
    _source(data, "export_recbole")
    open_unit = dict(low=0.0, high=1.0, low_open=True, high_open=True)
    check_float(val_fraction, "val_fraction", "export_recbole", **open_unit)
    stem = name if name is not None else Path(out_dir).absolute().name
    with atomic_directory(
        out_dir,
        overwrite=overwrite,
        replaceable=lambda p: any(p.glob("*.inter")) and not (p / "meta.json").exists(),
        what="export_recbole (*.inter files, no meta.json)",
    ) as tmp:
        write_recbole_files(
            data, tmp, name=stem, val_fraction=val_fraction, random_state=random_state
        )
    return Path(out_dir).absolute()


#: Writer of each exported layout into an existing folder: ``fn(data, folder) -> info``.
EXPORTERS: dict[str, Callable[..., dict[str, Any]]] = {
    "idcf": write_idcf_files,
    "recbole": write_recbole_files,
}
