"""Write a :class:`~simulator.generate.SimulatedData` as the dataset directory of docs/design.md §3.

The directory is written atomically: every file goes into a temporary sibling directory, which
is renamed to the final name only when complete. With ``overwrite=True`` an existing directory
is first renamed aside, the new one renamed in, and only then the old one deleted (restored if
the swap fails). Files are byte-identical for the same knobs and seed: CSVs are formatted from
integers in bulk (no timestamps anywhere; truth.npz is a zip with fixed entry dates).

``write_dataset(..., formats=("simgen", "idcf", "recbole"))`` also writes the peers' layouts
(:mod:`simulator.exporters`) into the subfolders ``idcf/`` and ``recbole/`` of the same temporary
directory, so they appear together with our files or not at all, and their sha256 go into
meta.json like every other file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from metrics.checks import ParameterError, parameter_message
from simulator import exporters, files
from simulator.loaders import TRIPLE_HEADER, sha256_file
from simulator.output import OutputExistsError, atomic_directory, check_output_dir
from simulator.simulated import SimulatedData
from simulator.tables import write_int_table

__all__ = [
    "WRITE_FORMATS",
    "OutputExistsError",
    "check_formats",
    "check_output_dir",
    "write_dataset",
]

#: Entry date of every member of truth.npz (the zip format cannot store an earlier one).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: Layouts :func:`write_dataset` can write: our own (always) and the peers' (simulator.exporters).
WRITE_FORMATS = ("simgen", "idcf", "recbole")


def _write_csv(path: Path, header: str, columns: Sequence[np.ndarray]) -> None:
    write_int_table(path, header, columns)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz (np.load reads it) whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arrays[key]), allow_pickle=False)


def check_formats(
    formats: str | Iterable[str], *, caller: str = "write_dataset"
) -> tuple[str, ...]:
    """The requested layouts in the canonical order of :data:`WRITE_FORMATS`, or ValueError."""
    items = [formats] if isinstance(formats, str) else list(formats)
    bad = [f for f in items if f not in WRITE_FORMATS]
    if bad or not all(isinstance(f, str) for f in items):
        allowed = f"a collection of values among {list(WRITE_FORMATS)}"
        raise ParameterError(
            parameter_message("formats", caller, allowed, formats), param="formats", got=formats
        )
    return tuple(f for f in WRITE_FORMATS if f in items)


def write_dataset(
    data: SimulatedData,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    formats: str | Iterable[str] = ("simgen",),
) -> Path:
    """Write ``data`` as a simgen dataset directory (docs/design.md §3), atomically.

    Files: train.csv and random.csv (``user_id,item_id,rating``), user_features.csv
    (``user_id,w,z_0..z_{F-1}``), item_features.csv (``item_id,m``), truth.npz (every array of
    ``data.truth``) and meta.json (knobs, counts, density, histograms, q05/q95 and how they were
    computed, and the sha256 of every other file). With ``formats`` naming "idcf" or "recbole",
    the subfolders ``idcf/`` (:func:`simulator.exporters.export_idcf`) and ``recbole/``
    (:func:`simulator.exporters.export_recbole`) are written too, and meta.json lists their
    files (as ``idcf/train.csv``, ...) with their sha256 and describes them under ``"exports"``.

    Parameters
    ----------
    data : SimulatedData
    out_dir : str or Path
    overwrite : bool, default False
        Replace an existing simgen directory (see :func:`check_output_dir`).
    formats : str or iterable of {"simgen", "idcf", "recbole"}, default ("simgen",)
        Layouts to write; our own files are always written.

    Returns
    -------
    Path
        The absolute path of the directory.
    """
    wanted = check_formats(formats)
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        m, n = data.n_users, data.n_items
        _write_csv(
            tmp / "train.csv", TRIPLE_HEADER, [data.train.user, data.train.item, data.train.rating]
        )
        _write_csv(
            tmp / "random.csv",
            TRIPLE_HEADER,
            [data.unbiased.user, data.unbiased.item, data.unbiased.rating],
        )
        z = np.asarray(data.Z)
        header = ",".join(["user_id", "w"] + [f"z_{f}" for f in range(z.shape[1])])
        _write_csv(
            tmp / "user_features.csv",
            header,
            [np.arange(m), data.W] + [z[:, f] for f in range(z.shape[1])],
        )
        _write_csv(tmp / "item_features.csv", "item_id,m", [np.arange(n), data.M])
        _write_npz(tmp / "truth.npz", data.truth)
        names = ["train.csv", "random.csv", "user_features.csv", "item_features.csv", "truth.npz"]
        meta = data.meta()
        exports = {}
        for fmt in wanted:
            if fmt == "simgen":
                continue
            folder = tmp / fmt
            folder.mkdir()
            write_files = exporters.EXPORTERS[fmt]
            info = write_files(data, folder)
            names += [f"{fmt}/{name}" for name in info["files"]]
            exports[fmt] = {"folder": fmt, **info}
        if exports:  # only then: the default directory stays byte-identical to earlier versions
            meta["exports"] = exports
        meta["files"] = names + ["meta.json"]
        meta["sha256"] = {name: sha256_file(tmp / name) for name in names}
        (tmp / "meta.json").write_text(files.dumps_json(meta, sort_keys=True))
    return Path(out_dir).absolute()
