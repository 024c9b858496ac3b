"""Training protocols: ours, or the code released with the papers (§4, §4.3).

``FitConfig.protocol`` (``ividr fit --protocol``, ``ividr sweep --protocol``) names one;
:func:`protocol_settings` maps it to the :class:`~ividr.api.FitConfig` fields it sets, and
:func:`ividr.api.build_estimator` applies them. "ours" sets nothing (every field as given).
"released" sets exactly these fields and nothing else: the latent-stage fields for the models
with a latent stage, the recommender-stage fields for the models with a recommender (every model
but the latent-only "vae" and "ivae").

Latent stage:

=====================  ==========================  ==========================
field                  iDCF's code                 IViDR's code
=====================  ==========================  ==========================
latent_epochs          2000                        1000
latent_lr              5e-4                        1e-3
kl_anneal_epochs       round(0.2 * latent_epochs)  round(0.2 * latent_epochs)
latent_patience        100                         100
patience_from_start    True                        True
latent_batch_size      1024                        1024
=====================  ==========================  ==========================

Recommender stage (the feedback model trained on the biased ratings, scored on the unbiased
ones):

=====================  ==========================  ==========================
field                  iDCF's code                 IViDR's code
=====================  ==========================  ==========================
loss                   "mse"                       "mse"
patience               20                          20
epochs                 100                         1000
=====================  ==========================  ==========================

Where the latent-stage values come from (read from the released training scripts of the
latent stage):

- iDCF (models ``vae``, ``ivae``, ``idcf-w``, ``idcf``): ``ivae_exposure.py`` of
  github.com/BgmLover/iDCF, its non-tuning ``sample_config``: ``epochs`` 2000, ``lr`` 5e-4; the
  batch is the simulation's ``batch_size`` 1024 (``argparser.py``); the patience is the
  ``--patience`` argument (default 5 in ``argparser.py``), run with 100 by the authors on their
  synthetic data (idcf-sim's README; docs/data.md); the KL weight grows linearly over
  ``int(0.2 * epochs * n_train / batch_size)`` optimiser steps, 20% of the maximum.
- IViDR (models ``ividr``, ``ividr-t``, ``-f``, ``-r`` and ``ividr-released``):
  ``IVERS_exposure.py`` of github.com/djf9706/DIVERS, its non-tuning ``sample_config``:
  ``epochs`` 1000, ``lr`` 1e-3, ``patience`` 100; batch 1024 (``argparser.py``, simulation);
  the same 20% annealing (also ividr-sim's README; docs/data.md).

In both, the patience counter starts at epoch 0 and the held-out loss is taken with the full KL
weight (``patience_from_start``). The annealing here counts whole epochs: ``round(0.2 *
latent_epochs)`` epochs of ``ceil(n_train / batch)`` steps each. The released codes count
``int(0.2 * int(epochs * n_train / batch))`` steps, i.e. fractional batches, while their data
loader also takes ``ceil(n_train / batch)`` steps an epoch; so their annealing lasts
``0.2 * epochs * (n_train / batch) / ceil(n_train / batch)`` epochs: 195 instead of our 200 on
ividr-sim (8,000 training users), 312 instead of our 400 on idcf-sim (1,600 users, iDCF's 2,000
epochs). Matching that exactly needs the number of training users, which a config does not know.

What "released" leaves alone, although the released codes differ there too:
- ``l2_penalty`` (iDCF's non-tuning config 0.01, IViDR's 0) and the lr x L2 search of their
  tuning mode: a factor of its own, ``FitConfig.latent_grid``;
- the weight decay (1e-6 in both, as ours), width 64 (as ours), depth (iDCF's non-tuning config
  2 layers, its tuning mode and IViDR 3, as ours), the latent dimension (2 on the simulations, as
  ours there);
- the held-out users: 20% in both, but fixed by seed 1234 there, drawn from the fit's seed here;
- the forward pass of IViDR's code: the audit model ``ividr-released``.

An explicit ``latent_epochs`` (or ``epochs`` of a latent-only model) is kept and the annealing
follows it (20% of it); so is an explicit ``epochs`` of a recommender stage. Every other field
above is set by the protocol whatever the config holds (use protocol "ours" to set them one by
one).

Where the recommender-stage values come from (read from the released feedback-model scripts,
``MF.py``, ``MF-WF.py``, ``iDCF-W.py``, ``iDCF.py`` of github.com/BgmLover/iDCF and ``IVERS.py``,
``DIVERS.py`` of github.com/djf9706/DIVERS, and the ``construct_mf_dataloader``, ``Evaluator``
and ``mf_evaluate`` they share in ``utils.py`` / ``evaluator.py``):

- loss: ``nn.MSELoss()`` between the raw score (no sigmoid) and the label, in every script;
- label: with the default ``--metric ndcg``, ``construct_mf_dataloader`` trains on
  ``rating >= threshold`` as 0/1 (Coat's ``threshold`` 4.0 in ``argparser.py``): ours, with
  either loss;
- negatives: none are sampled; the observed ratings below the threshold are the negatives (the
  loader reads ``train.csv``, the observed ratings only): ours;
- early stopping: ``Evaluator(metric="ndcg")`` keeps the state of the best validation NDCG@k
  (``--topk 5``) and stops after ``patience`` epochs without a strictly better one: ours; the
  patience is ``--patience 20`` in both READMEs' command lines (and IVERS.py's non-tuning
  config);
- epochs: at most 100 in iDCF's scripts, 1000 in IVERS.py / DIVERS.py; IV4R-MF, which the
  released code does not contain (its IV part lives only inside the latent stage,
  ``models/ivivae.py``), takes IViDR's;
- lr and weight decay, left to the config: the tuning mode (``--tune``) searches lr in {5e-5,
  1e-5, 1e-3, 5e-4, 1e-4} x weight decay in {1e-5, 1e-6} (ray ``tune.grid_search``) on the
  validation NDCG (our ``grid=True``); the ``--test_seed`` mode, which produced the published
  figures over its test seeds, then fixes the values that search found, per dataset (Coat: lr
  5e-4, weight decay 1e-6; Yahoo!R3: 5e-5, 1e-5; KuaiRand: 1e-4, 1e-6; our ``lr``,
  ``weight_decay``). A config does not know its dataset, so the protocol sets neither:
  ``benchmarks/coat_table.py --protocol released`` runs the test-seed mode.

What "released" leaves alone in the recommender stage: the batch (512 on Coat and Yahoo!R3, 2048
on KuaiRand, 1024 on the simulations, a per-dataset value a config does not know; ours picks
512 or more so that an epoch has at most ~100 steps, i.e. 512 on Coat); the embedding dimension
(64), the 10 posterior samples of iDCF/IViDR's head and the raw (not standardised) latents, all
as ours; and the validation/test split of the unbiased users, which the released codes fix with
seed 1234 for every model seed while ours draws it from the fit's seed.
"""

from __future__ import annotations

from typing import Any

from metrics.checks import check_choice

__all__ = [
    "LATENT_FIELDS",
    "PROTOCOLS",
    "RECOMMENDER_FIELDS",
    "RELEASED_RECOMMENDER_EPOCHS",
    "RELEASED_SETTINGS",
    "SPLITS",
    "protocol_fields",
    "protocol_settings",
]

PROTOCOLS: tuple[str, ...] = ("ours", "released")
#: How a fit splits the unbiased users into validation and test (FitConfig.split): drawn from the
#: fit's seed, or the released codes' one split (RecDataset.split_unbiased_released).
SPLITS: tuple[str, ...] = ("seed", "released")

#: Share of the maximum number of optimiser steps over which the released codes anneal the KL.
RELEASED_ANNEAL_SHARE = 0.2

_IDCF_CODE = {"latent_epochs": 2000, "latent_lr": 5e-4}
_IVIDR_CODE = {"latent_epochs": 1000, "latent_lr": 1e-3}
_IVIDR_MODELS = ("ividr", "ividr-t", "ividr-f", "ividr-r", "ividr-released")
#: Model -> the maximum epochs and learning rate of its released latent-stage code.
RELEASED_SETTINGS: dict[str, dict[str, Any]] = {
    **{m: _IDCF_CODE for m in ("vae", "ivae", "idcf-w", "idcf")},
    **{m: _IVIDR_CODE for m in _IVIDR_MODELS},
}
#: Model -> the maximum epochs of its released recommender-stage (feedback model) script:
#: iDCF's scripts 100, IViDR's 1000 (IV4R-MF, absent from the released code, takes IViDR's).
RELEASED_RECOMMENDER_EPOCHS: dict[str, int] = {
    **{m: 100 for m in ("mf", "mf-wf", "idcf-w", "idcf")},
    **{m: 1000 for m in ("iv4r-mf", *_IVIDR_MODELS)},
}
#: The FitConfig fields protocol "released" sets for a model with a latent stage.
LATENT_FIELDS: tuple[str, ...] = (
    "latent_epochs",
    "latent_lr",
    "kl_anneal_epochs",
    "latent_patience",
    "patience_from_start",
    "latent_batch_size",
)
#: The FitConfig fields protocol "released" sets for a model with a recommender stage.
RECOMMENDER_FIELDS: tuple[str, ...] = ("loss", "patience", "epochs")


def protocol_fields(model: str | None = None) -> tuple[str, ...]:
    """The FitConfig fields that protocol "released" sets.

    Parameters
    ----------
    model : str or None, default None
        A model name; None gives every field the protocol may set, for any model.

    Returns
    -------
    tuple of str
        :data:`LATENT_FIELDS` for a model with a latent stage, then :data:`RECOMMENDER_FIELDS`
        for a model with a recommender stage.
    """
    if model is None:
        return LATENT_FIELDS + RECOMMENDER_FIELDS
    fields: tuple[str, ...] = ()
    if model in RELEASED_SETTINGS:
        fields += LATENT_FIELDS
    if model in RELEASED_RECOMMENDER_EPOCHS:
        fields += RECOMMENDER_FIELDS
    return fields


def protocol_settings(
    protocol: str,
    model: str,
    latent_epochs: int | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """The FitConfig field overrides of ``protocol`` for ``model``.

    Parameters
    ----------
    protocol : {"ours", "released"}
    model : str
        A model name of :data:`ividr.api.MODEL_NAMES`.
    latent_epochs : int or None, default None
        The maximum latent epochs the config gives explicitly; None takes the released code's.
    epochs : int or None, default None
        The maximum recommender epochs the config gives explicitly; None takes the released
        code's.

    Returns
    -------
    dict
        Empty for "ours"; otherwise exactly the fields of :func:`protocol_fields` for ``model``
        (see the module docstring for their values and sources).

    Raises
    ------
    ValueError
        For an unknown protocol.
    """
    check_choice(protocol, "protocol", "protocol_settings", PROTOCOLS)
    if protocol == "ours":
        return {}
    out: dict[str, Any] = {}
    code = RELEASED_SETTINGS.get(model)
    if code is not None:
        n = int(code["latent_epochs"] if latent_epochs is None else latent_epochs)
        out.update(
            {
                "latent_epochs": n,
                "latent_lr": float(code["latent_lr"]),
                "kl_anneal_epochs": int(round(RELEASED_ANNEAL_SHARE * n)),
                "latent_patience": 100,
                "patience_from_start": True,
                "latent_batch_size": 1024,
            }
        )
    rec_epochs = RELEASED_RECOMMENDER_EPOCHS.get(model)
    if rec_epochs is not None:
        out.update(
            {
                "loss": "mse",
                "patience": 20,
                "epochs": int(rec_epochs if epochs is None else epochs),
            }
        )
    return out
