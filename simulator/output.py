"""simgen's output folder: the --out rule of :func:`simulator.files.check_output` applied to
dataset folders, and the atomic directory every layout is written into.

Kept apart from :mod:`simulator.writer` so that the writer of our layout and the exporters of the
peers' layouts (:mod:`simulator.exporters`) share it without importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from simulator import files

__all__ = ["OutputExistsError", "atomic_directory", "check_output_dir"]


class OutputExistsError(FileExistsError, ValueError):
    """The output directory exists and ``overwrite`` is False (or it may not be replaced)."""


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
