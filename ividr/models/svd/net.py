"""Torch module of the truncated-SVD baselines: fixed user and item factors, no training."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class SVDNet(nn.Module):
    """The reconstruction ``u_u . v_i`` of a truncated SVD (user factors U S, item factors V).

    The factors are buffers (saved with the state dict, never trained).

    Parameters
    ----------
    n_users, n_items : int
    dim : int
        Number of SVD components.
    """

    def __init__(self, n_users: int, n_items: int, dim: int):
        super().__init__()
        self.register_buffer("user", torch.zeros(n_users, dim, dtype=torch.float64))
        self.register_buffer("item", torch.zeros(n_items, dim, dtype=torch.float64))

    def set_factors(self, user: np.ndarray, item: np.ndarray) -> None:
        """Copy in the user factors (n_users, dim) and item factors (n_items, dim)."""
        self.user.copy_(torch.from_numpy(np.asarray(user, dtype=np.float64)))
        self.item.copy_(torch.from_numpy(np.asarray(item, dtype=np.float64)))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.user[users] * self.item[items]).sum(-1)
