"""The hyperparameter spec (docs/design.md §4): every hyperparameter declared once, with its
default, allowed values and help.

One dataclass per training stage holds that stage's hyperparameters (:class:`RunParams`,
:class:`RecommenderParams`, :class:`LatentParams`, :class:`LatentHeadParams`, :class:`IVParams`,
:class:`FusionParams`); a model's spec is the union of its stages (:class:`MFParams`,
:class:`LatentModelParams`, :class:`IDCFParams`, :class:`IV4RParams`, :class:`IViDRParams`),
and :class:`ividr.api.FitConfig` is the union of them all plus what a run adds. Everything else
derives from these fields:

- each estimator's ``__init__`` (keyword-only, one argument per field of its spec, stored under
  its name) and the "Parameters" section of its docstring
  (:meth:`ividr.models.base.BaseRecommender.__init_subclass__`), so ``get_params``, cloning and
  saving see every hyperparameter;
- the validation of an estimator's and of a config's values (:func:`check_fields`, one message
  style: :mod:`metrics.checks`);
- :func:`ividr.api.build_estimator`, which passes a config's values to the model by name;
- the click options of ``ividr fit`` and ``ividr sweep`` (:func:`ividr.cli.common.config_option`).

To add a hyperparameter, add a field to its stage's dataclass with :func:`hyperparameter`: every
model with that stage, FitConfig, config.json and the option helper get it. The field helper and
its readers (:class:`HyperSpec`, :func:`check_fields`, :func:`param_docs`, :func:`spec_of`) live
in :mod:`metrics.spec`, which the simulator's knobs (:class:`simulator.config.SimConfig`) use too;
they are re-exported here. Nothing here imports
torch, so that reading the spec (``--help``) stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ividr.defaults import (
    DEFAULT_RESTART_SCREEN_EPOCHS,
    DEFAULT_RESTARTS,
    LOSSES,
    STOP_RULES,
)
from metrics.spec import (
    HyperSpec,
    check_fields,
    hyperparameter,
    hyperparameters,
    param_docs,
    spec_of,
)

__all__ = [
    "ESTIMANDS",
    "SHRINKAGES",
    "IV_HEADS",
    "USER_TREATMENTS",
    "VARIANTS",
    "FusionParams",
    "HyperSpec",
    "IDCFParams",
    "IV4RParams",
    "IVParams",
    "IViDRParams",
    "LatentHeadParams",
    "LatentModelParams",
    "LatentParams",
    "MFParams",
    "RecommenderParams",
    "RunParams",
    "SVDParams",
    "SVD_INPUTS",
    "check_fields",
    "hyperparameter",
    "hyperparameters",
    "param_docs",
    "spec_of",
]

#: IV4R's a1/a2 heads: sigmoid(MLP) (IV4Rec, the released code) or the former 1 + MLP.
IV_HEADS = ("sigmoid", "affine")
#: IViDR and its ablations IViDR-T, -F, -R (the reconstruction of stage 1).
VARIANTS = ("full", "t", "f", "r")
#: What IViDR's latent stage receives as the user's treatment t_u in X^re = A + P t_u (Eq. 10):
#: the mean reconstructed treatment of the user's items as the paper states it ("mean"), that
#: mean standardised per dimension over users ("standardized"), or the diagnostics "zero" (no
#: shift: X^re = A) and "shuffled" (the rows of t permuted across users).
USER_TREATMENTS = ("mean", "standardized", "zero", "shuffled")
#: What the truncated-SVD baselines factorise: the exposure matrix A, or [A, one-hot W].
SVD_INPUTS = ("exposure", "exposure_w")
#: Which posterior mean of IViDR's latent stage is its confounder estimate (what MCC scores and
#: the recommender reads): the fused C = rho C1 + tau C2 of Eq. 15 ("fused"), the shifted
#: branch C1 from X^re ("shifted"), or the plain branch C2 from A ("plain").
ESTIMANDS = ("fused", "shifted", "plain")
#: What becomes of that posterior mean before it is the estimate: kept as it is ("none", the
#: paper), or shrunk toward the learned prior mean by its split-half reliability ("split_half",
#: :mod:`ividr.training.shrinkage`).
SHRINKAGES = ("none", "split_half")


def _check_device(value: Any, name: str, owner: str) -> str:
    """The check of the "device" kind (:func:`ividr.training.devices.check_device`)."""
    from ividr.training.devices import check_device  # torch: only when a device is checked

    return check_device(value, name=name, owner=owner)


# --------------------------------------------------------------------------------------------
# The stages
# --------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class RunParams:
    """What every model takes."""

    seed: int = hyperparameter(
        0,
        "Seeds initialisation, batch order, sampling and the 30/70 validation/test split of the "
        "unbiased users.",
        low=0,
    )
    device: str = hyperparameter(
        "auto",
        "Where data, nets and every tensor of training and scoring live (ividr.training.devices): "
        "'auto' is CUDA when torch sees a GPU, else the CPU; 'cpu', 'cuda' or 'cuda:N'. "
        "Latents, scores and saved models come back to the CPU; a CPU fit is byte-identical "
        "with or without it. A fit records where it ran in metrics' 'device'.",
        kind="device",
        check_with=_check_device,
        type_name='{"auto", "cpu", "cuda", "cuda:N"}',
    )


@dataclass(kw_only=True)
class RecommenderParams:
    """The recommender stage (MF, Eq. 23-25), trained on validation NDCG@5."""

    epochs: int = hyperparameter(100, "Maximum epochs of the recommender stage.", low=1)
    lr: float = hyperparameter(
        1e-3,
        "Adam learning rate of the recommender stage (ignored with grid).",
        low=0.0,
        low_open=True,
    )
    weight_decay: float = hyperparameter(
        1e-5, "Adam weight decay of the recommender stage (ignored with grid).", low=0.0
    )
    embedding_dim: int = hyperparameter(64, "Dimension of the user and item embeddings.", low=1)
    batch_size: int | None = hyperparameter(
        None,
        "Train pairs per step.",
        kind="int",
        low=1,
        default_text="512 (iDCF) or more, so that an epoch takes at most about 100 steps",
    )
    patience: int = hyperparameter(
        5, "Epochs without a better validation NDCG@5 before the recommender stops.", low=1
    )
    grid: bool = hyperparameter(
        False,
        "Grid-search lr in {1e-3, 5e-4, 1e-4, 5e-5, 1e-5} x weight decay in {1e-5, 1e-6} on "
        "validation NDCG@5 (overrides lr and weight_decay).",
    )
    loss: str = hyperparameter(
        "bce",
        "Recommender loss: binary cross-entropy on the logit (Eq. 25) or, as iDCF's released "
        "code does, squared error between the raw score and the 0/1 label.",
        choices=LOSSES,
    )


@dataclass(kw_only=True)
class LatentParams:
    """The latent (iVAE) stage: q(C | A, W), p(C | W), p(A | C) (docs/design.md §4.3)."""

    latent_dim: int | None = hyperparameter(
        None,
        "Dimension of the learned confounder C.",
        kind="int",
        low=1,
        default_text="the true confounder's dimension when the dataset carries one (simulated "
        "data), else 16",
    )
    hidden_dim: int = hyperparameter(64, "Width of every MLP (encoder, prior, decoder).", low=1)
    n_layers: int = hyperparameter(3, "Linear layers per MLP.", low=1)
    latent_epochs: int = hyperparameter(1000, "Maximum epochs of the latent stage.", low=1)
    latent_lr: float = hyperparameter(
        5e-4,
        "Adam learning rate of the latent stage. 5e-4 (the iDCF authors' own setting) rather "
        "than 1e-3: at 1e-3, 3 of 10 fits on iDCF's data at gamma 5 collapsed "
        "(docs/results/collapse_ablation.md).",
        low=0.0,
        low_open=True,
    )
    latent_weight_decay: float = hyperparameter(
        1e-6, "Adam weight decay of the latent stage.", low=0.0
    )
    latent_batch_size: int = hyperparameter(1024, "Users per step of the latent stage.", low=1)
    latent_patience: int = hyperparameter(
        50,
        "Epochs without a better held-out checkpoint score before the latent stage stops "
        "(counted after the KL annealing unless patience_from_start).",
        low=1,
    )
    kl_anneal_epochs: int = hyperparameter(
        100, "Epochs over which the KL weight grows linearly from 0 to beta_max.", low=0
    )
    patience_from_start: bool = hyperparameter(
        False,
        "Count the latent early-stopping patience from epoch 0 (the released codes) instead of "
        "from the end of the annealing.",
    )
    restarts: int = hyperparameter(
        DEFAULT_RESTARTS,
        "Independently initialised latent stages on the same data and held-out split; the one "
        "with the lowest held-out negative ELBO is kept (never the truth). metrics lists every "
        "restart and, with the truth, its MCC.",
        low=1,
    )
    restart_screen_epochs: int = hyperparameter(
        DEFAULT_RESTART_SCREEN_EPOCHS,
        "With restarts > 1: prune the restarts by successive halving on the held-out negative "
        "ELBO at this epoch, twice it, ... (0: train every restart to its end, then choose).",
        low=0,
    )
    stop_on: str = hyperparameter(
        "elbo",
        "Checkpoint rule of the latent stage (none looks at the truth): early stopping on the "
        "held-out users' negative ELBO or on their exposure-reconstruction NDCG@5, or every "
        "latent epoch, keeping the last.",
        choices=STOP_RULES,
    )
    beta_max: float = hyperparameter(1.0, "Final weight of the KL term.", low=0.0)
    l2_penalty: float = hyperparameter(
        0.0, "Weight of the sum of parameter norms added to the loss (iDCF's l2_penalty).", low=0.0
    )
    val_fraction: float = hyperparameter(
        0.2,
        "Share of users held out of the latent fit for its checkpoint rule (iDCF: 0.2).",
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
    )
    latent_grid: bool = hyperparameter(
        False,
        "Fit the latent stage at every latent lr x L2 penalty of a small grid (lr 1e-3, 5e-4 x "
        "L2 0, 0.01; latent_lr and l2_penalty are then ignored) and keep the point with the "
        "lowest held-out negative ELBO, as the released codes' tuning mode does (never the "
        "truth); metrics lists every point.",
    )


@dataclass(kw_only=True)
class LatentHeadParams:
    """The latent-adjusted recommender on the learned C (iDCF's second stage, IViDR's third)."""

    n_samples: int = hyperparameter(
        10, "Posterior draws of C per training pair (iDCF: 10); the mean at inference.", low=1
    )
    standardize_latents: bool = hyperparameter(
        False,
        "Feed the recommender the latents standardised per dimension (z-scores over users, the "
        "posterior std divided alike) instead of iDCF's raw posterior.",
    )


@dataclass(kw_only=True)
class IVParams:
    """The IV treatment reconstruction (§4.1, Eqs. 4-9) of IV4R-MF and IViDR."""

    iv_dim: int | None = hyperparameter(
        None,
        "d_q, the dimension of the treatment space.",
        kind="int",
        low=1,
        default_text="embedding_dim",
    )
    iv_hidden_dim: int = hyperparameter(64, "Width of MLP0, MLP1 and MLP2.", low=1)
    ridge: float = hyperparameter(
        1e-6,
        "Relative ridge of the per-item least squares (a numerically safe pseudo-inverse).",
        low=0.0,
    )
    mlp0_layers: int = hyperparameter(
        0,
        "Layers of MLP0 on the learned item embedding T_j; 0 = the identity (2 was the former "
        "default; TreatmentReconstruction and docs/results/iv4r_factors.md say why).",
        low=0,
    )
    iv_head: str = hyperparameter(
        "sigmoid",
        "a1, a2 = sigmoid(MLP(.)) in (0, 1), as IV4Rec and the released IViDR code, or the "
        "former unbounded 1 + MLP(.) ('affine').",
        choices=IV_HEADS,
    )
    iv_item_init: float = hyperparameter(
        0.01,
        "T_j ~ U(-iv_item_init, iv_item_init) at initialisation, as MF's item embedding (0.1 "
        "formerly).",
        low=0.0,
        low_open=True,
    )
    iv_shift: float | str = hyperparameter(
        "auto",
        "The shift s shared by all items (TreatmentReconstruction): 0 = none, c > 0 = a learned "
        "s started at U(-c, c). 'auto' fits the stage with 0 and with 1 (each with the grid when "
        "grid) and keeps the higher validation NDCG@5 (never the test); chosen_[stage]['iv_shift'] "
        "says which.",
        kind="float",
        low=0.0,
        also=("auto",),
    )


@dataclass(kw_only=True)
class FusionParams:
    """IViDR's fusion (Eq. 15) and final recommender (Eq. 24) weights."""

    rho: float = hyperparameter(
        0.9, "Fusion weight of C1, inferred from X^re (Eq. 15).", low=0.0, high=1.0
    )
    tau: float = hyperparameter(
        0.9, "Fusion weight of C2, inferred from X (Eq. 15).", low=0.0, high=1.0
    )
    user_treatment: str = hyperparameter(
        "standardized",
        "The user treatment t_u of X^re = A + P t_u (Eq. 10): 'mean' (the paper's text: the mean "
        "reconstructed treatment of the user's items), 'standardized' (that mean as z-scores "
        "per dimension over users: our default, a departure from the text; with 'mean' the "
        "fused posterior fell far below the learned prior on the paper's own data, "
        "docs/results/ividr_factors.md), or the diagnostics 'zero' (X^re = A) and 'shuffled' "
        "(rows permuted across users).",
        choices=USER_TREATMENTS,
    )
    estimand: str = hyperparameter(
        "fused",
        "The posterior mean that is the confounder estimate (scored by MCC, read by Eq. 24): "
        "the fused C of Eq. 15, or one branch, C1 from X^re ('shifted', what the released code "
        "saves) or C2 from A ('plain'). Training is the same for all three.",
        choices=ESTIMANDS,
    )
    latent_shrinkage: str = hyperparameter(
        "split_half",
        "What the estimand's posterior mean becomes before it is the estimate: 'split_half' "
        "(our default, a departure from the paper) shrinks its departure from the learned prior "
        "mean mu_w(W) by the departure's split-half reliability over users, per dimension (the "
        "encoder reads each user's row with half of the items, then with the other half; "
        "Kelley's estimate, ividr.training.shrinkage), so that the noise of the exposure rows "
        "no longer pulls the estimate below its prior; 'none' (the paper) keeps the posterior "
        "mean. Training is the same for both; metrics give the reliabilities and the MCC "
        "before (mcc_unshrunk).",
        choices=SHRINKAGES,
    )
    phi: float = hyperparameter(1.0, "Weight of the latent term in Eq. 24.", low=0.0)
    lam: float = hyperparameter(1.0, "Weight of the MF term in Eq. 24.", low=0.0)


# --------------------------------------------------------------------------------------------
# One spec per model family: the union of its stages
# --------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class MFParams(RecommenderParams, RunParams):
    """MF and MF-WF."""


@dataclass(kw_only=True)
class LatentModelParams(LatentParams, RunParams):
    """The latent-only models VAE and iVAE."""


@dataclass(kw_only=True)
class SVDParams(RunParams):
    """The truncated-SVD baselines svd and svd-w (no training: seed seeds the randomized SVD)."""

    latent_dim: int | None = hyperparameter(
        None,
        "Number of SVD components, the dimension of the user factors.",
        kind="int",
        low=1,
        default_text="the true confounder's dimension when the dataset carries one, else 16 (as "
        "LatentParams.latent_dim)",
    )
    inputs: str = hyperparameter(
        "exposure",
        "The matrix factorised: the exposures A ('exposure') or [A, one-hot W] ('exposure_w'); "
        "set by the model name (svd, svd-w).",
        choices=SVD_INPUTS,
    )


@dataclass(kw_only=True)
class IDCFParams(LatentHeadParams, LatentParams, RecommenderParams, RunParams):
    """iDCF and iDCF-W."""


@dataclass(kw_only=True)
class IV4RParams(IVParams, RecommenderParams, RunParams):
    """IV4R-MF."""


@dataclass(kw_only=True)
class IViDRParams(
    FusionParams, IVParams, LatentHeadParams, LatentParams, RecommenderParams, RunParams
):
    """IViDR, its ablations and the audit variant ``ividr-released``."""

    variant: str = hyperparameter(
        "full",
        "IViDR, or the ablations IViDR-T (T_j itself), IViDR-F (fitted part only), IViDR-R "
        "(residual only); set by the model name (ividr, ividr-t, ividr-f, ividr-r).",
        choices=VARIANTS,
    )
