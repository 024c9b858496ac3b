"""Small torch helpers with no dependency on the models (importable from anywhere)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TrainingDivergedError(ValueError):
    """Training produced a non-finite loss (NaN or inf)."""


def torch_generator(
    rng: np.random.Generator, device: torch.device | str | None = None
) -> torch.Generator:
    """A torch.Generator seeded from a numpy Generator (never the global seed).

    On ``device`` (default: the CPU); the seed is the same one draw from ``rng`` on every
    device, so the CPU generator is exactly the one of a fit without a device option.
    """
    gen = torch.Generator() if device is None else torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(0, 2**62)))
    return gen


def device_generator(gen: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator for draws on ``device`` that continues the stream of the CPU ``gen``.

    On the CPU it is ``gen`` itself (a CPU fit draws exactly as it did). On a GPU, a generator
    on that GPU seeded by one draw from ``gen``: initialisation is drawn on the CPU from ``gen``,
    batch order and sampling on the GPU from the returned generator (:mod:`ividr.training.devices`).
    """
    if device.type == "cpu":
        return gen
    out = torch.Generator(device=device)
    out.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
    return out


def check_finite(value: float, what: str) -> None:
    """Raise TrainingDivergedError when ``value`` is NaN or infinite."""
    if not np.isfinite(value):
        raise TrainingDivergedError(
            f"{what} is {value}: training diverged; lower the learning rate "
            "(--lr) or raise the weight decay"
        )


def reset_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every Linear and Embedding of ``module`` from ``generator``.

    Linear layers get PyTorch's default scheme (Kaiming-uniform weights, uniform bias); embeddings
    are set by their owner (see :func:`init_embedding`), so they are left alone here.
    """
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.kaiming_uniform_(sub.weight, a=5**0.5, generator=generator)
            if sub.bias is not None:
                bound = 1.0 / max(1, sub.in_features) ** 0.5
                nn.init.uniform_(sub.bias, -bound, bound, generator=generator)
