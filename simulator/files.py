"""Files written safely: the one atomic-write helper, the one numpy-aware JSON encoder, and a
file lock (docs/design.md §3: nothing half-written is ever left under a final name; §6: a sweep
killed at any point loses no finished run).

Every writer of the project goes through these: the dataset directory (``simulator.writer``),
the reference cache, a fit's run folder and a sweep's tables (``ividr.experiments``). They live
on the lowest floor that writes files, so every floor above can use them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NumpyJSONEncoder",
    "atomic_directory",
    "atomic_write_text",
    "check_writable",
    "dumps_json",
    "file_lock",
    "temporary_sibling",
]


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


def dumps_json(obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``obj`` as JSON text with a final newline, numpy values included."""
    return json.dumps(obj, indent=indent, sort_keys=sort_keys, cls=NumpyJSONEncoder) + "\n"


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
