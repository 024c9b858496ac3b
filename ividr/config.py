"""``FitConfig``: everything that defines one fit (docs/design.md §4, §6), with its JSON round trip.

It is the union of every stage of the hyperparameter spec (:mod:`ividr.hyperparams`) plus what a
run adds: the model's name, the ablation, the protocol, and what is measured. Its fields, their
defaults, ranges and help come from that spec, so ``ividr fit``, ``ividr sweep``, config.json and
:func:`ividr.api.build_estimator` agree by construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ividr.defaults import DEFAULT_N_BOOT
from ividr.hyperparams import (
    FusionParams,
    IVParams,
    LatentHeadParams,
    LatentParams,
    RecommenderParams,
    RunParams,
    check_fields,
    hyperparameter,
    param_docs,
)
from ividr.registry import MODEL_NAMES
from ividr.training.protocols import PROTOCOLS, SPLITS
from metrics.checks import ParameterError, parameter_message
from metrics.spec import checked_once

__all__ = ["FitConfig"]


@dataclass(kw_only=True)
class FitConfig(
    FusionParams, IVParams, LatentHeadParams, LatentParams, RecommenderParams, RunParams
):
    # Two stage fields are None here, "not given": ``epochs`` is the latent stage's for the
    # latent-only models (whose default is 1000, not 100), and the protocol 'released' replaces
    # a ``latent_epochs`` or ``epochs`` that was not given and keeps one that was.
    model: str = hyperparameter(
        dataclasses.MISSING,
        "The model to fit, one of MODEL_NAMES (ividr.registry).",
        choices=MODEL_NAMES,
    )
    epochs: int | None = hyperparameter(
        None,
        "Maximum epochs of the recommender stage; for the latent-only models vae and ivae, of "
        "the latent stage.",
        kind="int",
        low=1,
        default_text="100; vae/ivae: 1000 (the model's)",
    )
    latent_epochs: int | None = hyperparameter(
        None,
        "Maximum epochs of the latent stage.",
        kind="int",
        low=1,
        default_text="1000; protocol 'released': the released code's, 2000 for iDCF, 1000 for "
        "IViDR",
    )
    shuffle_aux: bool = hyperparameter(
        False,
        "Ablation (a reference level of §5): permute the proxy W across users before training, "
        "with a permutation drawn from seed (ividr.api.aux_permutation, saved by a run as "
        "aux_permutation.npy); the true confounder "
        "and the unbiased data are untouched, so the MCC that is left is what the encoder "
        "learned from the exposures. When the instrument Z is the proxy itself (ividr-code, the "
        "iDCF layout), Z is permuted with it.",
    )
    trace_every: int | None = hyperparameter(
        None,
        "Record strong/weak MCC of the posterior mean every this many latent epochs (§5) into "
        "the run's history.json/.csv, what the stopping regret and a sweep's stopping-regret "
        "table read; 0 = off.",
        kind="int",
        low=0,
        default_text="1 (every epoch) when the dataset carries the true confounder, else off",
    )
    n_boot: int = hyperparameter(
        DEFAULT_N_BOOT,
        "Bootstrap replicates (over users) of the mcc_ci / ndcg@5_ci intervals; 0 = off, else "
        "at least 2.",
        low=0,
    )
    protocol: str = hyperparameter(
        "ours",
        "Training protocol (docs/design.md §4, §4.3): 'released' sets exactly the fields of "
        "ividr.training.protocols.protocol_settings over what this config holds: in the latent "
        "stage the "
        "max latent epochs and lr of the model's released code, KL annealing over 20% of the max "
        "epochs, patience 100 from epoch 0, batch 1024; in the recommender stage MSE on the 0/1 "
        "label, patience 20 and the released script's max epochs (100 iDCF's, 1000 IViDR's); "
        "lr, weight decay and grid stay the config's. An explicit latent_epochs or epochs is "
        "kept; 'ours' sets nothing. config.json's estimator_params and metrics' "
        "protocol_settings show the values in effect.",
        choices=PROTOCOLS,
    )
    split: str = hyperparameter(
        "seed",
        "How the unbiased users are split into validation (30%) and test (70%): 'seed' draws "
        "the split from seed, so that every seed has its own; 'released' is the one split of "
        "the code released with iDCF and IViDR (utils.split_by_user: numpy's legacy seed 1234 "
        "picks int(0.7 n) test users; RecDataset.split_unbiased_released) for every seed, so "
        "that seeds vary the model only.",
        choices=SPLITS,
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"FitConfig got unknown keys {unknown}; allowed: {sorted(names)}")
        return cls(**data)

    def validate(self) -> FitConfig:
        """Check every field; raise a ValueError naming the parameter and its allowed values.

        A config is checked once: calling this again on the same, unchanged config (as
        ``fit_model`` and ``build_estimator`` do after the CLI) returns at once
        (:func:`metrics.spec.checked_once`).
        """
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        checked_once(self, values, self._check)
        return self

    def _check(self) -> None:
        check_fields(self, FitConfig, "FitConfig")
        if self.n_boot == 1:
            allowed = "0 or an int in the range [2, inf)"
            raise ParameterError(
                parameter_message("n_boot", "FitConfig", allowed, 1),
                param="n_boot",
                allowed=allowed,
                got=1,
            )
        if self.rho == 0 and self.tau == 0:
            raise ParameterError(
                "The 'rho' and 'tau' parameters of FitConfig cannot both be 0.", param="rho"
            )


FitConfig.__doc__ = (
    """Everything that defines one fit (JSON round trip with to_dict / from_dict).

    The hyperparameters of every stage (:mod:`ividr.hyperparams`); a model reads those of its own
    stages and ignores the rest (:func:`ividr.api.build_estimator`).

    Parameters
    ----------
"""
    + param_docs(FitConfig)
    + "\n"
)
