"""Training protocols of the latent stage: ours, or the code released with the papers (§4.3).

``FitConfig.protocol`` (``ividr fit --protocol``, ``ividr sweep --protocol``) names one;
:func:`protocol_settings` maps it to the :class:`~ividr.api.FitConfig` fields it sets, and
:func:`ividr.api.build_estimator` applies them. "ours" sets nothing (every field as given).
"released" sets exactly these fields, for the models with a latent stage, and nothing else:

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

Where the values come from (read from the released training scripts of the latent stage):

- iDCF (models ``vae``, ``ivae``, ``idcf-w``, ``idcf``): ``ivae_exposure.py`` of
  github.com/BgmLover/iDCF, its non-tuning ``sample_config``: ``epochs`` 2000, ``lr`` 5e-4; the
  batch is the simulation's ``batch_size`` 1024 (``argparser.py``); the patience is the
  ``--patience`` argument (default 5 in ``argparser.py``), run with 100 by the authors on their
  synthetic data (../shared/datasets/idcf-sim/README.md); the KL weight grows linearly over
  ``int(0.2 * epochs * n_train / batch_size)`` optimiser steps, 20% of the maximum.
- IViDR (models ``ividr``, ``ividr-t``, ``-f``, ``-r`` and ``ividr-released``):
  ``IVERS_exposure.py`` of github.com/djf9706/DIVERS, its non-tuning ``sample_config``:
  ``epochs`` 1000, ``lr`` 1e-3, ``patience`` 100; batch 1024 (``argparser.py``, simulation);
  the same 20% annealing (also ../shared/datasets/ividr-sim/README.md).

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
follows it (20% of it); every other field above is set by the protocol whatever the config
holds (use protocol "ours" to set them one by one).
"""

from __future__ import annotations

from typing import Any

from metrics.checks import check_choice

__all__ = ["PROTOCOLS", "RELEASED_SETTINGS", "protocol_fields", "protocol_settings"]

PROTOCOLS: tuple[str, ...] = ("ours", "released")

#: Share of the maximum number of optimiser steps over which the released codes anneal the KL.
RELEASED_ANNEAL_SHARE = 0.2

_IDCF_CODE = {"latent_epochs": 2000, "latent_lr": 5e-4}
_IVIDR_CODE = {"latent_epochs": 1000, "latent_lr": 1e-3}
#: Model -> the maximum epochs and learning rate of its released latent-stage code.
RELEASED_SETTINGS: dict[str, dict[str, Any]] = {
    **{m: _IDCF_CODE for m in ("vae", "ivae", "idcf-w", "idcf")},
    **{m: _IVIDR_CODE for m in ("ividr", "ividr-t", "ividr-f", "ividr-r", "ividr-released")},
}


def protocol_fields() -> tuple[str, ...]:
    """The FitConfig fields that protocol "released" sets (for a model with a latent stage)."""
    return (
        "latent_epochs",
        "latent_lr",
        "kl_anneal_epochs",
        "latent_patience",
        "patience_from_start",
        "latent_batch_size",
    )


def protocol_settings(
    protocol: str, model: str, latent_epochs: int | None = None
) -> dict[str, Any]:
    """The FitConfig field overrides of ``protocol`` for ``model``.

    Parameters
    ----------
    protocol : {"ours", "released"}
    model : str
        A model name of :data:`ividr.api.MODEL_NAMES`.
    latent_epochs : int or None, default None
        The maximum latent epochs the config gives explicitly; None takes the released code's.

    Returns
    -------
    dict
        Empty for "ours" and for models without a latent stage; otherwise exactly the fields of
        :func:`protocol_fields` (see the module docstring for their values and sources).

    Raises
    ------
    ValueError
        For an unknown protocol.
    """
    check_choice(protocol, "protocol", "protocol_settings", PROTOCOLS)
    code = RELEASED_SETTINGS.get(model)
    if protocol == "ours" or code is None:
        return {}
    epochs = int(code["latent_epochs"] if latent_epochs is None else latent_epochs)
    return {
        "latent_epochs": epochs,
        "latent_lr": float(code["latent_lr"]),
        "kl_anneal_epochs": int(round(RELEASED_ANNEAL_SHARE * epochs)),
        "latent_patience": 100,
        "patience_from_start": True,
        "latent_batch_size": 1024,
    }
