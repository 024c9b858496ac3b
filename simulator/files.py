"""Files written safely: the one atomic-write helper, the one numpy-aware strict JSON writer,
a file lock, and the one rule of what an ``--out`` may be (docs/design.md §3: nothing
half-written is ever left under a final name; §6: a sweep killed at any point loses no finished
run; §7: nothing a command did not write is ever deleted or changed, and every JSON written is
strict).

Every writer of the project goes through these: the dataset directory (``simulator.writer``),
the reference cache, a fit's run folder and a sweep's tables (``ividr.experiments``). They live
on the lowest floor that writes files, so every floor above can use them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NULL_REASONS",
    "Input",
    "NumpyJSONEncoder",
    "OutputError",
    "atomic_directory",
    "atomic_write_text",
    "check_output",
    "check_writable",
    "dumps_json",
    "file_lock",
    "strict_json_value",
    "temporary_sibling",
]

#: The key under which :func:`dumps_json` says why a value was written as null.
NULL_REASONS = "null_reasons"


class NumpyJSONEncoder(json.JSONEncoder):
    """A JSON encoder that also writes numpy scalars and arrays (as Python numbers and lists)
    and paths (as strings)."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, Path):
            return str(obj)
        return super().default(obj)


def _non_finite_reason(value: float) -> str:
    if math.isnan(value):
        return "not a number (NaN)"
    return f"{'+' if value > 0 else '-'}infinite"


def strict_json_value(obj: Any, where: str = "") -> tuple[Any, dict[str, str]]:
    """``obj`` with every NaN or infinity replaced by None, and why, by dotted path.

    numpy scalars and arrays become Python numbers and lists first, so that a non-finite value
    inside an array is found too. Returns the cleaned copy and ``{path: reason}``.
    """
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj, {}
        return None, {where or "value": _non_finite_reason(obj)}
    if isinstance(obj, dict):
        out, reasons = {}, {}
        for key, value in obj.items():
            out[key], sub = strict_json_value(value, f"{where}.{key}" if where else str(key))
            reasons.update(sub)
        return out, reasons
    if isinstance(obj, list | tuple):
        out_list, reasons = [], {}
        for i, value in enumerate(obj):
            clean, sub = strict_json_value(value, f"{where}[{i}]")
            out_list.append(clean)
            reasons.update(sub)
        return out_list, reasons
    return obj, {}


def _with_reasons(obj: Any) -> Any:
    """``obj`` made strict; a dict (or each dict of a list) says under :data:`NULL_REASONS` which
    of its values were NaN or infinite (a null alone would not say why it is missing)."""
    if isinstance(obj, list | tuple):
        return [
            _with_reasons(item) if isinstance(item, dict) else strict_json_value(item)[0]
            for item in obj
        ]
    clean, reasons = strict_json_value(obj)
    if isinstance(clean, dict) and reasons:
        clean[NULL_REASONS] = {**clean.get(NULL_REASONS, {}), **reasons}
    return clean


def dumps_json(obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``obj`` as strict JSON text with a final newline, numpy values included.

    NaN and infinities, which are not JSON (``json.dumps`` would write ``NaN``), are written as
    null, and the dict holding them names them under :data:`NULL_REASONS`
    (:func:`strict_json_value`); the result always parses with a strict parser.
    """
    clean = _with_reasons(obj)
    text = json.dumps(
        clean, indent=indent, sort_keys=sort_keys, cls=NumpyJSONEncoder, allow_nan=False
    )
    return text + "\n"


def temporary_sibling(path: str | Path, tag: str = "tmp") -> Path:
    """A hidden, unique name beside ``path``: ``.<name>.<tag>-<pid>-<random>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling, fsync and ``os.replace``: a reader
    (or a kill) sees the old file or the new one, never half of it."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_tree(folder: Path) -> None:
    for child in folder.rglob("*"):
        if child.is_file():
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_directory(
    out: str | Path, *, overwrite: bool = False, exist_ok: bool = False
) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``out``; on success it is renamed onto ``out``.

    The files written into the yielded folder appear under ``out`` all at once. An existing
    ``out`` is replaced only with ``overwrite`` (swapped aside first and removed after the new
    folder is in place, so ``out`` never disappears); with ``exist_ok`` an existing ``out`` is
    kept and the new folder dropped (a run finished twice); otherwise FileExistsError. On an
    exception the temporary folder is removed and ``out`` is left as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(out)
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        if out.exists() or out.is_symlink():
            if exist_ok:
                shutil.rmtree(tmp)
                return
            if not overwrite:
                raise FileExistsError(f"{out} exists")
            old = temporary_sibling(out, "old")
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def file_lock(path: str | Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path``; yields False when non-blocking and already held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def check_writable(path: str | Path) -> None:
    """Raise PermissionError (one line) unless a file or folder can be created at ``path``.

    The nearest existing ancestor must be a directory in which a folder can really be made: a
    hidden probe folder is created there and removed at once (``os.access`` alone says yes to
    root on /proc or on a read-only mount).
    """
    path = Path(path).absolute()
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PermissionError(f"{path}: {ancestor} is not a directory")
    probe = temporary_sibling(ancestor / "probe", "write-probe")
    try:
        probe.mkdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PermissionError(f"{path}: cannot create anything in {ancestor} ({reason})") from None
    probe.rmdir()


# -- what an --out may be (docs/design.md §7) ---------------------------------------------------
class OutputError(ValueError):
    """An output path that may not be written; the message is one line, without the option.

    ``unwritable`` is True when the reason is the file system (nothing can be created there),
    False when the path is taken (an input, or something the command did not write).
    """

    def __init__(self, message: str, *, unwritable: bool = False) -> None:
        super().__init__(message)
        self.unwritable = unwritable


@dataclass(frozen=True)
class Input:
    """A path a command reads, which its output may never replace.

    Attributes
    ----------
    path : Path
    option : str
        How the command line names it (``--data``, ``RUN_DIR``), for the message.
    no_inside : bool, default False
        Also refuse an output inside it: a dataset folder, which a later read (a sweep's scan of
        a folder of datasets) would take the new folder to be part of.
    """

    path: Path
    option: str
    no_inside: bool = False


def _real(path: Path) -> Path:
    # realpath resolves symlinks of the part that exists: a link to the input is the input.
    return Path(os.path.realpath(path))


def _check_not_an_input(out: Path, inputs: Iterable[Input]) -> None:
    real_out = _real(out)
    for inp in inputs:
        real_in = _real(inp.path)
        if real_out == real_in:
            raise OutputError(f"{out} is the input {inp.option} {inp.path}; choose another path")
        if real_in.is_relative_to(real_out):
            raise OutputError(
                f"{out} holds the input {inp.option} {inp.path}; choose a path outside it"
            )
        if inp.no_inside and real_out.is_relative_to(real_in):
            raise OutputError(
                f"{out} lies inside the input {inp.option} {inp.path}; choose a path outside it"
            )


def _check_existing(
    path: Path,
    *,
    folder: bool,
    overwrite: bool,
    written_by: Callable[[Path], bool],
    command: str,
    resumable: Callable[[Path], bool] | None,
) -> None:
    kind = "folder" if folder else "file"
    if path.is_symlink() or path.is_dir() != folder:
        raise OutputError(f"{path} exists and is not a {kind}; choose another path")
    if folder and not any(path.iterdir()):
        return  # an empty folder: replacing it loses nothing
    if resumable is not None and resumable(path):
        return
    if not written_by(path):
        # a command that resumes (a sweep) has no --overwrite to point at
        only = "" if resumable is not None else " (--overwrite replaces only those)"
        raise OutputError(
            f"{path} exists and is not a {kind} written by {command}{only}; choose another path"
        )
    if not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it")


def check_output(
    out: str | Path,
    *,
    overwrite: bool,
    written_by: Callable[[Path], bool],
    command: str,
    inputs: Iterable[Input] = (),
    files: Iterable[Path] | None = None,
    resumable: Callable[[Path], bool] | None = None,
) -> Path:
    """Check, before any work, that a command may write ``out``; return it or raise OutputError.

    The one rule of every command's ``--out`` (docs/design.md §7):

    1. ``out`` names something of its own: not ``.``, ``..``, a trailing ``/..`` or a root.
    2. It is not one of ``inputs``, does not hold one, and does not lie inside an input whose
       ``no_inside`` is set (symlinks resolved).
    3. What exists there is replaced only with ``overwrite``, and only when ``written_by``
       says that ``command`` wrote it (a marker inside it); an empty folder counts as absent;
       a folder ``resumable`` accepts (a sweep of the same options) is taken as it is.
    4. Something can really be created there (:func:`check_writable`).

    Parameters
    ----------
    out : path
        A folder, or with ``files`` the stem of the files written.
    overwrite : bool
    written_by : callable(Path) -> bool
        Whether the existing folder or file was written by ``command`` (its marker).
    command : str
        Names the command in the messages (``ividr fit``).
    inputs : iterable of Input
    files : iterable of Path, optional
        The files written (``ividr plot``: FILE.png and FILE.pdf); each one is checked as in 3.
        Default: ``out`` is a folder.
    resumable : callable(Path) -> bool, optional

    Raises
    ------
    OutputError
        With ``unwritable`` True when nothing can be created there.
    """
    out = Path(out)
    if out.name in ("", ".", "..") or out.parts[-1:] == ("..",):
        raise OutputError(
            f"{str(out)!r} names no {'folder' if files is None else 'file'} of its "
            "own; give it a name, e.g. ./out"
        )
    targets = [out] if files is None else [Path(f) for f in files]
    for target in targets:
        _check_not_an_input(target, inputs)
    for target in targets:
        if target.exists() or target.is_symlink():
            _check_existing(
                target,
                folder=files is None,
                overwrite=overwrite,
                written_by=written_by,
                command=command,
                resumable=resumable,
            )
    try:
        check_writable(targets[0])
    except PermissionError as exc:
        raise OutputError(f"cannot write there: {exc}", unwritable=True) from None
    return out
