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

import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from metrics.checks import ParameterError, parameter_message
from simulator import files
from simulator.generate import SimulatedData
from simulator.loaders import TRIPLE_HEADER, sha256_file

#: Rows formatted per step when writing CSVs (bounds memory for huge datasets).
CSV_ROWS_PER_STEP = 1_000_000
#: Entry date of every member of truth.npz (the zip format cannot store an earlier one).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: Layouts :func:`write_dataset` can write: our own (always) and the peers' (simulator.exporters).
WRITE_FORMATS = ("simgen", "idcf", "recbole")


class OutputExistsError(FileExistsError, ValueError):
    """The output directory exists and ``overwrite`` is False (or it may not be replaced)."""


def format_int_rows(columns: Sequence[np.ndarray], *, sep: str = ",") -> bytes:
    """CSV rows (no header) of non-negative integer columns, formatted in bulk.

    Each column becomes a fixed-width block of ASCII digits; the padding is then dropped with one
    boolean mask, so the cost is a few array passes per column whatever the row count.

    Parameters
    ----------
    columns : sequence of ndarray of shape (n,), non-negative ints
    sep : str, default ","
        One ASCII character between columns (``"\\t"`` for RecBole's atomic files).

    Returns
    -------
    bytes
        ``b"c0,c1,...\\n"`` per row.
    """
    if len(sep) != 1 or not sep.isascii():
        raise ValueError(f"sep must be one ASCII character, got {sep!r}")
    cols = [np.asarray(c) for c in columns]
    n = len(cols[0])
    if n == 0:
        return b""
    widths = [len(str(int(c.max()))) for c in cols]
    if min(int(c.min()) for c in cols) < 0:
        raise ValueError("format_int_rows needs non-negative integers")
    total = sum(widths) + len(cols)
    buf = np.empty((n, total), dtype=np.uint8)
    keep = np.ones((n, total), dtype=bool)
    pos = 0
    for j, (col, width) in enumerate(zip(cols, widths, strict=True)):
        x = col.astype(np.int64)
        for p in range(width - 1, -1, -1):
            buf[:, pos + p] = 48 + x % 10
            x //= 10
        if width > 1:
            value = col.astype(np.int64)
            for p in range(width - 1):  # position p holds a leading zero iff value < 10^(w-1-p)
                keep[:, pos + p] = value >= 10 ** (width - 1 - p)
        pos += width
        buf[:, pos] = ord(sep) if j < len(cols) - 1 else ord("\n")
        pos += 1
    return buf[keep].tobytes()


def write_int_table(
    path: str | Path,
    header: str,
    columns: Sequence[np.ndarray],
    *,
    sep: str = ",",
    float_last: bool = False,
) -> None:
    """Write a header line and rows of non-negative integer columns, in bulk, in steps.

    Parameters
    ----------
    path : str or Path
    header : str
        The first line, without its newline.
    columns : sequence of ndarray of shape (n,), non-negative ints
    sep : str, default ","
        Column separator (one ASCII character).
    float_last : bool, default False
        Write the last column as ``"4.0"`` rather than ``"4"`` (how pandas writes iDCF's
        ratings).
    """
    n = len(columns[0])
    with open(path, "wb") as fh:
        fh.write(header.encode() + b"\n")
        for lo in range(0, n, CSV_ROWS_PER_STEP):
            hi = min(lo + CSV_ROWS_PER_STEP, n)
            rows = format_int_rows([c[lo:hi] for c in columns], sep=sep)
            fh.write(rows.replace(b"\n", b".0\n") if float_last else rows)


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


def _is_simgen_dir(path: Path) -> bool:
    """simgen's marker: a meta.json that says ``"format": "simgen"`` (what :func:`write_dataset`
    writes), so that ``--overwrite`` never takes a folder for ours because it has a meta.json."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == "simgen"


def check_output_dir(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    replaceable: Callable[[Path], bool] = _is_simgen_dir,
    what: str = "simgen",
    inputs: Iterable[files.Input] = (),
) -> Path:
    """Check that ``out_dir`` may be written; raise OutputExistsError or PermissionError.

    The rule of :func:`simulator.files.check_output`: it may be written when it does not exist
    (or is an empty folder) and something can be created there, or, with ``overwrite``, when it
    is a folder that ``replaceable`` accepts (by default: one holding a simgen dataset) and
    neither is nor holds one of ``inputs``: ``overwrite`` never deletes anything else. ``what``
    names the writer in the error.
    """
    try:
        files.check_output(
            out_dir, overwrite=overwrite, written_by=replaceable, command=what, inputs=inputs
        )
    except files.OutputError as exc:
        if exc.unwritable:
            raise PermissionError(str(exc)) from None
        raise OutputExistsError(str(exc)) from None
    return Path(out_dir).absolute()


@contextmanager
def atomic_directory(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    replaceable: Callable[[Path], bool] = _is_simgen_dir,
    what: str = "simgen",
) -> Iterator[Path]:
    """Yield a temporary sibling of ``out_dir`` to fill; rename it to ``out_dir`` on success.

    On any exception the temporary directory is deleted and ``out_dir`` is left as it was.
    ``overwrite``, ``replaceable`` and ``what`` are as in :func:`check_output_dir`.
    """
    out = check_output_dir(out_dir, overwrite=overwrite, replaceable=replaceable, what=what)
    # check_output_dir let an existing out through only when it may be replaced (an empty
    # folder, or with overwrite one of ours)
    with files.atomic_directory(out, overwrite=True) as tmp:
        yield tmp


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
    from simulator import exporters  # here: exporters imports this module

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
