"""Torch modules of the matrix-factorisation recommenders (MF, MF-WF)."""

from __future__ import annotations

import torch
from torch import nn

from ividr.models.base import init_embedding


class MFNet(nn.Module):
    """MF of Eq. 23: ``p_u . q_i + b_u + b_i`` (a logit).

    Parameters
    ----------
    n_users, n_items : int
    dim : int
        Embedding dimension.
    """

    def __init__(self, n_users: int, n_items: int, dim: int):
        super().__init__()
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)

    def reset(self, generator: torch.Generator) -> None:
        for emb in (self.user_emb, self.item_emb, self.user_bias, self.item_bias):
            init_embedding(emb, generator)

    def forward(self, users: torch.Tensor, items: torch.Tensor, generator=None) -> torch.Tensor:
        dot = (self.user_emb(users) * self.item_emb(items)).sum(-1)
        return dot + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)


class MFWFNet(MFNet):
    """MF plus user-feature embeddings (iDCF's MF-WF).

    For each user-feature field f, the user's level has an embedding ``g_f[z_uf]`` and each item
    one ``h_{f,i}``; the score adds ``sum_f g_f[z_uf] . h_{f,i}``.

    Parameters
    ----------
    n_users, n_items, dim : int
    field_levels : list of int
        Levels of each user-feature field.
    field_dim : int, default 32
        Dimension of the feature embeddings (iDCF uses 32).
    """

    def __init__(
        self, n_users: int, n_items: int, dim: int, field_levels: list[int], field_dim: int = 32
    ):
        super().__init__(n_users, n_items, dim)
        self.n_fields = len(field_levels)
        self.field_dim = field_dim
        self.field_emb = nn.Embedding(int(sum(field_levels)), field_dim)
        self.item_field_emb = nn.Embedding(n_items, self.n_fields * field_dim)
        # Level index (with field offsets) of every user's fields; filled by the estimator.
        self.register_buffer("user_codes", torch.zeros(n_users, self.n_fields, dtype=torch.long))

    def reset(self, generator: torch.Generator) -> None:
        super().reset(generator)
        init_embedding(self.field_emb, generator)
        init_embedding(self.item_field_emb, generator)

    def forward(self, users: torch.Tensor, items: torch.Tensor, generator=None) -> torch.Tensor:
        base = super().forward(users, items)
        g = self.field_emb(self.user_codes[users])  # (B, F, k)
        h = self.item_field_emb(items).view(-1, self.n_fields, self.field_dim)
        return base + (g * h).sum(dim=(1, 2))
