"""Torch modules of the IV treatment reconstruction (§4.1, Eqs. 4-9) and IV4R-MF."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ividr.hyperparams import IV_HEADS
from ividr.models.base import init_embedding, mlp, reset_parameters
from metrics.checks import check_choice, check_int

MODES = ("full", "t", "f", "r")
#: Heads of a1, a2: bounded (IV4Rec, the released code) or the former unbounded 1 + MLP.
HEADS = IV_HEADS


class TreatmentReconstruction(nn.Module):
    """Reconstructed item treatments T^re_j for all items at once.

    ``Z_j`` (iv_dim x N, N = number of user-feature fields) holds, as column f, the mean
    embedding of field f over the users who interacted with item j; it is computed as
    ``Z = freq @ E`` per field, with ``freq[j, l]`` the share of item j's users at level l
    (a buffer, filled by the estimator with a sparse product) and ``E`` the learned level
    embeddings. Then ``tau_j = argmin ||Z_j tau - MLP0(T_j)||^2`` by ridge-stabilised normal
    equations (a batched ``torch.linalg.solve``), ``T^_j = Z_j tau_j`` (fitted part, in the span
    of Z_j), ``T~_j = MLP0(T_j) - T^_j`` (residual, orthogonal to it up to the ridge), and
    ``T^re_j = a1_j T^_j + a2_j T~_j`` with ``a = sigmoid(MLP([MLP0(T_j); mean column of Z_j]))``.

    Three choices make it train as well as the MF it replaces (docs/results/iv4r_factors.md;
    docs/design.md §4.1), each a parameter so that the former behaviour stays reproducible:

    - ``MLP0`` is the identity (``mlp0_layers=0``; a bias-free linear map when ``item_dim !=
      iv_dim``). IV4Rec's MLP0 maps a *fixed* pretrained embedding into the treatment space;
      in front of a *learned* item embedding an MLP adds no capacity, and on Coat a 2-layer
      one (``mlp0_layers=2``, the former default), even started at the identity, slowed and
      then overfitted the item side.
    - ``a1, a2`` are sigmoids, in (0, 1) (``head="sigmoid"``), as in IV4Rec and in the code
      released with IViDR; unbounded heads (``head="affine"``: ``1 + MLP``, the former
      default) grew to 3-8 and let the item side memorise the training pairs.
    - ``T_j`` starts like MF's item embedding, U(-0.01, 0.01) (``item_init``; formerly 0.1).

    ``MLP0(T_j) + s`` enters the decomposition, with ``s`` a learned shift shared by all
    items, started at U(-shift, shift) (``shift=0``: no shift). Its projection ``Z_j Z_j^+ s``
    onto the span of item j's instruments is a function of the instruments alone: the one way
    the instruments reach the fitted part T^_j when T_j is a free embedding (the biases of
    IV4Rec's MLP0 play that part there). It recovers the true treatment on simulated data with
    a strong instrument and hurts where the instrument is weak (Coat); the estimator chooses
    on validation data.

    Parameters
    ----------
    n_items : int
    item_dim : int
        d_i, the dimension of the raw item embedding T_j.
    iv_dim : int
        d_q, the dimension of the treatment space and of the feature embeddings.
    field_levels : list of int
        Levels of each instrument field.
    hidden_dim : int
    mode : {"full", "t", "f", "r"}
        "full": a1 T^ + a2 T~ (IViDR); "t": MLP0(T_j) itself (IViDR-T); "f": only a1 T^
        (IViDR-F); "r": only a2 T~ (IViDR-R).
    ridge : float
        Relative ridge added to Z_j^T Z_j (times its mean diagonal, plus 1e-8).
    mlp0_layers : int, default 0
        Layers of MLP0; 0 = the identity (see above).
    head : {"sigmoid", "affine"}, default "sigmoid"
        ``a = sigmoid(MLP(.))`` or ``a = 1 + MLP(.)``.
    item_init : float, default 0.01
        T_j ~ U(-item_init, item_init) at initialisation.
    shift : float, default 0.0
        0: no shift (s = 0, fixed); c > 0: a learned s started at U(-c, c) per coordinate.
    """

    def __init__(
        self,
        n_items: int,
        item_dim: int,
        iv_dim: int,
        field_levels: list[int],
        hidden_dim: int = 64,
        mode: str = "full",
        ridge: float = 1e-6,
        mlp0_layers: int = 0,
        head: str = "sigmoid",
        item_init: float = 0.01,
        shift: float = 0.0,
    ):
        super().__init__()
        check_choice(mode, "mode", type(self).__name__, MODES)
        check_choice(head, "head", type(self).__name__, HEADS)
        check_int(mlp0_layers, "mlp0_layers", type(self).__name__, low=0)
        self.mode = mode
        self.ridge = ridge
        self.head = head
        self.item_init = float(item_init)
        self.shift_init = float(shift)
        n_levels = int(sum(field_levels))
        n_fields = len(field_levels)
        self.item_emb = nn.Embedding(n_items, item_dim)
        self.field_emb = nn.Embedding(n_levels, iv_dim)
        if self.shift_init > 0:
            self.shift = nn.Parameter(torch.zeros(iv_dim))
        else:  # no shift: a fixed zero (a learned one, even started at zero, grows)
            self.register_buffer("shift", torch.zeros(iv_dim))
        if mlp0_layers > 0:
            self.mlp0: nn.Module = mlp(item_dim, hidden_dim, iv_dim, int(mlp0_layers))
        elif item_dim == iv_dim:
            self.mlp0 = nn.Identity()
        else:
            self.mlp0 = nn.Linear(item_dim, iv_dim, bias=False)
        self.mlp1 = mlp(2 * iv_dim, hidden_dim, 1, 2)
        self.mlp2 = mlp(2 * iv_dim, hidden_dim, 1, 2)
        self.register_buffer("item_level_freq", torch.zeros(n_items, n_levels))
        mask = torch.zeros(n_levels, n_fields)
        start = 0
        for f, n in enumerate(field_levels):
            mask[start : start + n, f] = 1.0
            start += n
        self.register_buffer("field_mask", mask)

    def reset(self, generator: torch.Generator) -> None:
        reset_parameters(self, generator)
        init_embedding(self.item_emb, generator, scale=self.item_init)
        init_embedding(self.field_emb, generator, scale=0.1)
        if self.shift_init > 0:
            with torch.no_grad():
                self.shift.uniform_(-self.shift_init, self.shift_init, generator=generator)

    def instruments(self) -> torch.Tensor:
        """Z of shape (n_items, iv_dim, N)."""
        # Z[j, :, f] = sum over levels l of field f of freq[j, l] * E[l]
        return torch.einsum(
            "jl,ld,lf->jdf", self.item_level_freq, self.field_emb.weight, self.field_mask
        )

    def decompose(self) -> dict[str, torch.Tensor]:
        """Every part of the reconstruction for all items.

        Returns
        -------
        dict with "m" (MLP0(T) + s, (n_items, iv_dim)), "Z" ((n_items, iv_dim, N)), "tau"
        ((n_items, N)), "fitted" (T^), "residual" (T~), "a1", "a2" ((n_items, 1)) and "tre"
        (T^re, (n_items, iv_dim)).
        """
        m = self.mlp0(self.item_emb.weight) + self.shift
        z = self.instruments()
        gram = z.transpose(1, 2) @ z  # (n, N, N)
        n_fields = gram.shape[-1]
        scale = gram.diagonal(dim1=1, dim2=2).mean(-1, keepdim=True)  # (n, 1)
        lam = (self.ridge * scale + 1e-8).unsqueeze(-1)
        eye = torch.eye(n_fields, dtype=gram.dtype, device=gram.device)
        rhs = z.transpose(1, 2) @ m.unsqueeze(-1)  # (n, N, 1)
        tau = torch.linalg.solve(gram + lam * eye, rhs)
        fitted = (z @ tau).squeeze(-1)
        residual = m - fitted
        feat = torch.cat((m, z.mean(-1)), dim=1)
        if self.head == "sigmoid":
            a1, a2 = torch.sigmoid(self.mlp1(feat)), torch.sigmoid(self.mlp2(feat))
        else:
            a1, a2 = 1.0 + self.mlp1(feat), 1.0 + self.mlp2(feat)
        if self.mode == "t":
            tre = m
        elif self.mode == "f":
            tre = a1 * fitted
        elif self.mode == "r":
            tre = a2 * residual
        else:
            tre = a1 * fitted + a2 * residual
        return {
            "m": m,
            "Z": z,
            "tau": tau.squeeze(-1),
            "fitted": fitted,
            "residual": residual,
            "a1": a1,
            "a2": a2,
            "tre": tre,
        }

    def forward(self) -> torch.Tensor:
        """T^re of shape (n_items, iv_dim)."""
        return self.decompose()["tre"]


class IV4RMFNet(nn.Module):
    """IV4R-MF: MF whose item vector is the reconstructed treatment T^re_j.

    Score ``p_u . T^re_j + b_u + b_j`` (a logit); ``p_u`` lives in the treatment space (iv_dim).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        item_dim: int,
        iv_dim: int,
        field_levels: list[int],
        hidden_dim: int = 64,
        mode: str = "full",
        ridge: float = 1e-6,
        mlp0_layers: int = 0,
        head: str = "sigmoid",
        item_init: float = 0.01,
        shift: float = 0.0,
    ):
        super().__init__()
        self.recon = TreatmentReconstruction(
            n_items,
            item_dim,
            iv_dim,
            field_levels,
            hidden_dim,
            mode,
            ridge,
            mlp0_layers=mlp0_layers,
            head=head,
            item_init=item_init,
            shift=shift,
        )
        self.user_emb = nn.Embedding(n_users, iv_dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)

    def reset(self, generator: torch.Generator) -> None:
        self.recon.reset(generator)
        for emb in (self.user_emb, self.user_bias, self.item_bias):
            init_embedding(emb, generator)

    def forward(self, users: torch.Tensor, items: torch.Tensor, generator=None) -> torch.Tensor:
        # F.embedding rather than tre[items]: its backward is a deterministic accumulation.
        tre = F.embedding(items, self.recon())
        dot = (self.user_emb(users) * tre).sum(-1)
        return dot + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)
