"""Where external datasets live: one setting, read in one place (docs/design.md §8).

The datasets the project did not make (Coat, iDCF's synthetic benchmark ``idcf-sim``, the IViDR
paper's Table-5 draw ``ividr-sim``; docs/data.md says what each is and where it comes from) are
never copied into the repository. They are found under one folder, the *data root*:

- the environment variable ``IVIDR_DATA`` when it is set (and not empty);
- otherwise ``../shared/datasets`` beside the repository, when that folder exists (resolved from
  this file's location, never from the working directory);
- otherwise there is none, and :func:`dataset_path` says how to set it.

Tests ask for a dataset through the ``external_dataset`` fixture (``tests/conftest.py``), which
skips when :func:`find_dataset` finds nothing; benchmarks take their default ``--data`` from
:func:`default_dataset_path`.
"""

from __future__ import annotations

import os
from pathlib import Path

from simulator.dataset import DatasetError

__all__ = [
    "DATA_ENV",
    "EXTERNAL_DATASETS",
    "DatasetNotFoundError",
    "data_root",
    "dataset_path",
    "default_dataset_path",
    "display_path",
    "find_dataset",
    "missing_reason",
]

#: The environment variable that names the data root.
DATA_ENV = "IVIDR_DATA"

#: The external datasets the tests and benchmarks know by name (docs/data.md).
EXTERNAL_DATASETS = ("coat", "idcf-sim", "ividr-sim")

#: The data root when ``IVIDR_DATA`` is unset, relative to the repository root.
_DEFAULT_RELATIVE = Path("..") / "shared" / "datasets"


class DatasetNotFoundError(DatasetError):
    """An external dataset is not under the data root (or there is no data root)."""


def repository_root() -> Path:
    """The folder that holds the ``simulator`` package (the repository root of a checkout)."""
    return Path(__file__).resolve().parents[1]


def data_root() -> Path | None:
    """The folder external datasets live in, or None when none is configured or found.

    Returns
    -------
    Path or None
        ``$IVIDR_DATA`` when set and not empty (whether or not it exists: the caller then finds
        no dataset in it); else ``../shared/datasets`` relative to the repository root when that
        folder exists; else None.
    """
    configured = os.environ.get(DATA_ENV, "")
    if configured:
        return Path(configured).expanduser().resolve()
    default = (repository_root() / _DEFAULT_RELATIVE).resolve()
    return default if default.is_dir() else None


def _check_name(name: str) -> None:
    if name not in EXTERNAL_DATASETS:
        raise ValueError(
            f"The 'name' parameter of dataset_path must be one of {list(EXTERNAL_DATASETS)}. "
            f"Got {name!r} instead."
        )


def find_dataset(name: str) -> Path | None:
    """The folder of external dataset ``name``, or None when it is absent.

    Parameters
    ----------
    name : {"coat", "idcf-sim", "ividr-sim"}
        The dataset.

    Returns
    -------
    Path or None
        ``data_root() / name`` when that folder exists, else None.
    """
    _check_name(name)
    root = data_root()
    if root is None or not (root / name).is_dir():
        return None
    return root / name


def dataset_path(name: str) -> Path:
    """The folder of external dataset ``name``; raise when it is absent.

    Parameters
    ----------
    name : {"coat", "idcf-sim", "ividr-sim"}
        The dataset.

    Returns
    -------
    Path
        ``data_root() / name``, an existing folder.

    Raises
    ------
    DatasetNotFoundError
        With a one-line message naming the folder looked at and the setting ``IVIDR_DATA``.
    """
    path = find_dataset(name)
    if path is None:
        raise DatasetNotFoundError(missing_reason(name))
    return path


def default_dataset_path(name: str) -> Path:
    """Where dataset ``name`` is looked for, whether or not it is there (a default ``--data``).

    The path under the data root, or under the default root when there is none, so that a
    command's "does not exist" error names the folder it expected.
    """
    _check_name(name)
    root = data_root() or (repository_root() / _DEFAULT_RELATIVE).resolve()
    return root / name


def missing_reason(name: str) -> str:
    """One line saying that dataset ``name`` is absent, where it was looked for, and the fix."""
    root = data_root()
    where = f"not in {root}" if root is not None else "no data root"
    return (
        f"external dataset {name!r} absent ({where}): set {DATA_ENV} to the folder that holds "
        "it (docs/data.md)"
    )


def display_path(path: str | Path) -> str:
    """How a report names a data folder: ``$IVIDR_DATA/<rest>`` under the data root, else as given.

    Reports written into the repository (``benchmarks/results/``) must not name a folder outside
    it, and the data root differs from machine to machine.
    """
    root = data_root()
    resolved = Path(path).resolve()
    if root is not None and resolved.is_relative_to(root):
        return "/".join((f"${DATA_ENV}", *resolved.relative_to(root).parts))
    return str(path)
