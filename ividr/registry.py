"""The model registry: one table that the CLIs, the API, the sweep and the plots read (§4, §6).

Each row says what a model name means: its display name, the estimator class (by name, so that
reading the table imports no torch) with its fixed keyword arguments, whether it has a latent
stage (and so takes a stopping rule, ``stop_on``), whether that latent stage has a learned
prior mu_w(W) (and so takes the W-shuffled ablation, ``shuffle_aux``), whether it is a
latent model only (ranks by its decoder; reported for its latents), and whether it is a
closed-form baseline without training (the truncated SVDs: latents, but no stopping rule). To
add a model, add a row here and its estimator under ``ividr/models/<family>/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DISPLAY_NAMES",
    "LATENT_MODELS",
    "LATENT_ONLY",
    "MODELS",
    "MODEL_NAMES",
    "SHUFFLE_MODELS",
    "ModelEntry",
    "display_name",
]


@dataclass(frozen=True)
class ModelEntry:
    """One row of the registry.

    Attributes
    ----------
    name : str
        The name on the command line (``ividr fit --model NAME``).
    display : str
        How titles and legends name it.
    estimator : str
        Class name in :mod:`ividr.models`.
    kwargs : dict
        Fixed constructor arguments (e.g. IViDR's ablation ``variant``).
    latent : bool
        Exports latents (scored by MCC); with a trained latent (iVAE-type) stage, i.e. unless
        ``closed_form``, also takes ``@<rule>``.
    learned_prior : bool
        Its latent stage has a learned prior mu_w(W): takes ``+shuffle``.
    latent_only : bool
        A latent model without a recommender head (ranks by the decoder, or the SVD's
        reconstruction).
    closed_form : bool
        Computed, not trained (the truncated SVDs): no epochs and no stopping rule.
    """

    name: str
    display: str
    estimator: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    latent: bool = False
    learned_prior: bool = False
    latent_only: bool = False
    closed_form: bool = False


MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("mf", "MF", "MF"),
    ModelEntry("mf-wf", "MF-WF", "MFWF"),
    ModelEntry("vae", "VAE (iDCF-W)", "VAE", latent=True, latent_only=True),
    ModelEntry("ivae", "iVAE", "IVAE", latent=True, learned_prior=True, latent_only=True),
    ModelEntry("idcf-w", "iDCF-W", "IDCFW", latent=True),
    ModelEntry("idcf", "iDCF", "IDCF", latent=True, learned_prior=True),
    ModelEntry("iv4r-mf", "IV4R-MF", "IV4RMF"),
    ModelEntry("ividr", "IViDR", "IViDR", {"variant": "full"}, latent=True, learned_prior=True),
    ModelEntry("ividr-t", "IViDR-T", "IViDR", {"variant": "t"}, latent=True, learned_prior=True),
    ModelEntry("ividr-f", "IViDR-F", "IViDR", {"variant": "f"}, latent=True, learned_prior=True),
    ModelEntry("ividr-r", "IViDR-R", "IViDR", {"variant": "r"}, latent=True, learned_prior=True),
    ModelEntry(
        "ividr-released",
        "IViDR (released code)",
        "IViDRReleased",
        # The released code scores the branch's posterior mean as it is.
        {"variant": "full", "latent_shrinkage": "none"},
        latent=True,
        learned_prior=True,
    ),
    ModelEntry(
        "svd",
        "SVD of A",
        "SVD",
        {"inputs": "exposure"},
        latent=True,
        latent_only=True,
        closed_form=True,
    ),
    ModelEntry(
        "svd-w",
        "SVD of [A, W]",
        "SVD",
        {"inputs": "exposure_w"},
        latent=True,
        latent_only=True,
        closed_form=True,
    ),
)
_BY_NAME = {m.name: m for m in MODELS}

#: Every model name, in the table's order.
MODEL_NAMES: tuple[str, ...] = tuple(m.name for m in MODELS)
#: Models with a trained latent stage, which take a stopping rule (``FitConfig.stop_on``).
LATENT_MODELS: tuple[str, ...] = tuple(m.name for m in MODELS if m.latent and not m.closed_form)
#: Models whose latent stage has a learned prior mu_w(W), which take the W-shuffled ablation
#: (``FitConfig.shuffle_aux``).
SHUFFLE_MODELS: tuple[str, ...] = tuple(m.name for m in MODELS if m.learned_prior)
#: Latent models without a recommender head (the SVDs too).
LATENT_ONLY: tuple[str, ...] = tuple(m.name for m in MODELS if m.latent_only)
#: How models are named in titles and legends ("iv4r" is an old name of "iv4r-mf").
DISPLAY_NAMES: dict[str, str] = {m.name: m.display for m in MODELS} | {"iv4r": "IV4R-MF"}


def entry(name: str) -> ModelEntry:
    """The registry row of a plain model name (KeyError for an unknown one)."""
    return _BY_NAME[name]


def display_name(model: str) -> str:
    """``"ividr"`` -> ``"IViDR"``, ``"idcf[shuffle]"`` (a sweep's label of a variant) or the old
    ``"idcf+shuffle"`` -> ``"iDCF (W shuffled)"``, ``"idcf[ndcg]"`` -> ``"iDCF [ndcg]"``; unknown
    names are returned unchanged."""
    stem, bracket, variant = model.partition("[")
    if bracket and variant.endswith("]"):
        variant = variant[:-1]
        if variant == "shuffle":
            return f"{display_name(stem)} (W shuffled)"
        return f"{display_name(stem)} [{variant}]"
    base, plus, suffix = model.lower().partition("+")
    if plus and suffix == "shuffle":
        return f"{DISPLAY_NAMES.get(base, base)} (W shuffled)"
    return DISPLAY_NAMES.get(model.lower(), model)
