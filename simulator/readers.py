"""Small readers every dataset layout of :mod:`simulator.loaders` shares."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from simulator.dataset import DatasetError

__all__ = ["levels_of", "loadtxt", "require"]


def loadtxt(path: Path, **kwargs) -> np.ndarray:
    """``np.loadtxt`` without its "input contained no data" warning: an empty file is a fact
    :func:`simulator.loaders.check_not_empty` reports as one line, not a warning on stderr."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
        return np.loadtxt(path, **kwargs)


def require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(f"{path}: file is missing")
    return path


def levels_of(codes: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) + 1 for c in codes.max(axis=0)) if codes.size else ()
