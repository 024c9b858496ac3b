"""Saving and loading fitted estimators (docs/design.md §7): state dicts and JSON, never pickles.

:func:`save_model` writes a dict of tensors, strings and numbers; :func:`load_model` reads it
back with ``torch.load(weights_only=True)`` and rebuilds the estimator and its nets from the
model registry (:mod:`ividr.registry`). Both are re-exported by :mod:`ividr.api`.

Devices (docs/design.md §4.3): a model fitted on a GPU is saved as CPU tensors, and every file is
read with ``map_location="cpu"`` (so a file written by another tool from GPU tensors loads too), so
model files load on any machine; :func:`load_model` then moves the nets to ``device``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ividr import models, registry
from ividr.models.base import BaseRecommender
from ividr.models.idcf.net import LatentMFNet
from ividr.models.iv4r.net import IV4RMFNet
from ividr.models.ivae.net import IVAENet
from ividr.models.ividr.net import FusedIVAENet
from ividr.models.ividr.released import ReleasedFusedIVAENet
from ividr.models.mf.net import MFNet, MFWFNet
from ividr.models.svd.net import SVDNet
from ividr.training.devices import resolve_device
from simulator.files import dumps_json

__all__ = ["ModelFileError", "load_model", "save_model"]

#: Estimator and net classes a model file may name (nothing else is ever instantiated).
_CLASSES = {
    getattr(models, m.estimator).__name__: getattr(models, m.estimator) for m in registry.MODELS
}
_NETS = {
    cls.__name__: cls
    for cls in (
        MFNet,
        MFWFNet,
        IVAENet,
        FusedIVAENet,
        ReleasedFusedIVAENet,
        LatentMFNet,
        IV4RMFNet,
        SVDNet,
    )
}


FORMAT = "ividr-model"
FORMAT_VERSION = 1
_ARRAYS = ("user_latents_", "latent_std_", "prior_mean_", "user_treatment_")


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or not an ividr model; the message names the file."""


def _strict(obj) -> str:
    """Strict JSON text (no NaN or Infinity, docs/design.md §7) of a part of the payload."""
    return dumps_json(obj, indent=None).rstrip("\n")


def save_model(estimator: BaseRecommender, path: str | Path) -> None:
    """Write a fitted estimator: its nets' state_dicts and JSON-able hyperparameters.

    Loaded back by :func:`load_model` with ``torch.load(weights_only=True)``: the file holds
    only tensors, strings, numbers, lists and dicts; every tensor is a CPU tensor, whatever the
    device of the fit (``.cpu()`` returns a CPU tensor itself, so a CPU fit writes as before).
    """
    if not hasattr(estimator, "nets_"):
        raise ValueError("save_model needs a fitted estimator")
    arrays = {
        name: torch.from_numpy(np.ascontiguousarray(getattr(estimator, name)))
        for name in _ARRAYS
        if getattr(estimator, name, None) is not None
    }
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "class": type(estimator).__name__,
        "params": _strict(estimator.get_params()),
        "n_users": int(estimator.n_users_),
        "n_items": int(estimator.n_items_),
        "nets": {
            name: {
                "class": spec["class"],
                "kwargs": _strict(spec["kwargs"]),
                "state": {
                    key: value.cpu() for key, value in estimator.nets_[name].state_dict().items()
                },
            }
            for name, spec in estimator.net_specs_.items()
        },
        "arrays": arrays,
        "extra": _strict(
            {
                "epochs_run": int(getattr(estimator, "epochs_run_", 0)),
                "chosen": getattr(estimator, "chosen_", {}),
            }
        ),
    }
    torch.save(payload, Path(path))


def load_model(path: str | Path, *, device: str = "cpu") -> BaseRecommender:
    """Read a file written by :func:`save_model` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : path
    device : {"cpu", "auto", "cuda", "cuda:N"}, default "cpu"
        Where the loaded nets live and score (``device_``). The file is always read with
        ``map_location="cpu"`` first, so a model saved from any device loads on a machine
        without one. The estimator's ``device`` parameter keeps the value it was fitted with.

    Raises
    ------
    ModelFileError
        The file is missing, unreadable, corrupt or not an ividr model file.
    DeviceError
        ``device`` is malformed or not on this machine
        (:func:`ividr.training.devices.resolve_device`).
    """
    target = resolve_device(device, owner="load_model")
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file is missing")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an ividr model file")
    if payload.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported model file version {payload.get('version')!r}")
    try:
        cls = _CLASSES[payload["class"]]
        est = cls(**json.loads(payload["params"]))
        est.n_users_ = int(payload["n_users"])
        est.n_items_ = int(payload["n_items"])
        est.nets_, est.net_specs_ = {}, {}
        for name, entry in payload["nets"].items():
            kwargs = json.loads(entry["kwargs"])
            net = _NETS[entry["class"]](**kwargs)
            net.load_state_dict(entry["state"])
            net.to(target)
            net.eval()
            est.nets_[name] = net
            est.net_specs_[name] = {"class": entry["class"], "kwargs": kwargs}
        for name, tensor in payload["arrays"].items():
            if name not in _ARRAYS:
                raise KeyError(name)
            setattr(est, name, tensor.numpy())
        if est.has_latents and not hasattr(est, "prior_mean_"):
            est.prior_mean_ = None
        extra = json.loads(payload["extra"])
        est.epochs_run_ = extra["epochs_run"]
        est.chosen_ = extra["chosen"]
        est.history_ = []
        est.device_ = target
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: malformed ividr model file ({exc})") from exc
    return est
