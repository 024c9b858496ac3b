"""Small torch helpers with no dependency on the models (importable from anywhere)."""

from __future__ import annotations

import numpy as np
import torch


class TrainingDivergedError(ValueError):
    """Training produced a non-finite loss (NaN or inf)."""


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A CPU torch.Generator seeded from a numpy Generator (never the global seed)."""
    gen = torch.Generator()
    gen.manual_seed(int(rng.integers(0, 2**62)))
    return gen


def check_finite(value: float, what: str) -> None:
    """Raise TrainingDivergedError when ``value`` is NaN or infinite."""
    if not np.isfinite(value):
        raise TrainingDivergedError(
            f"{what} is {value}: training diverged; lower the learning rate "
            "(--lr) or raise the weight decay"
        )
