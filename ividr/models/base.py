"""The small estimator interface shared by every model (Cornac-like), and shared torch helpers.

An estimator's ``__init__`` only stores its hyperparameters, under their own names, so that
``type(est)(**est.get_params())`` clones it. ``fit(dataset, ...)`` trains and returns ``self``;
``score(users, items)`` returns one float per (user, item) pair. Latent models also expose
``user_latents_`` (the posterior mean, shape ``(n_users, d)``), ``latent_std_`` and
``prior_mean_`` (mu_w(W) of each user, iVAE-based models only). Numpy goes in and out; torch
stays inside.

Every estimator keeps its trained networks in ``nets_`` (name -> ``nn.Module``) together with the
JSON-able keyword arguments that rebuild them (``net_specs_``), which is what
:func:`ividr.api.save_model` writes and :func:`ividr.api.load_model` reads back.

Devices (docs/design.md §4.3, :mod:`ividr.training.devices`): every estimator takes a ``device``
parameter ("auto", "cpu", "cuda", "cuda:N"; :class:`ividr.hyperparams.RunParams`), resolved by
``fit`` into ``device_`` (a ``torch.device``). Data, nets and every tensor of training and scoring
live there; ``user_latents_`` and the other arrays, and ``score``'s output, are CPU numpy.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from ividr.hyperparams import check_fields, hyperparameters, param_docs
from ividr.training.devices import resolve_device
from ividr.training.torch_utils import (
    TrainingDivergedError,
    check_finite,
    reset_parameters,
    torch_generator,
)
from metrics.spec import checked_once

__all__ = [
    "BaseRecommender",
    "NotFittedError",
    "TrainingDivergedError",
    "check_finite",
    "init_embedding",
    "mlp",
    "reset_parameters",
    "torch_generator",
]


class NotFittedError(ValueError):
    """The estimator is used before ``fit``."""


#: A stage's spec dataclass (:meth:`BaseRecommender.stage_params`).
S = TypeVar("S")


def init_embedding(emb: nn.Embedding, generator: torch.Generator, scale: float = 0.01) -> None:
    """Uniform(-scale, scale) initialisation (iDCF's MF initialisation)."""
    nn.init.uniform_(emb.weight, -scale, scale, generator=generator)


def mlp(in_dim: int, hidden_dim: int, out_dim: int, n_layers: int) -> nn.Sequential:
    """``n_layers`` linear layers with LeakyReLU(0.2) between them and a linear output."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(n_layers - 1):
        layers += [nn.Linear(dim, hidden_dim), nn.LeakyReLU(0.2)]
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


def _init_from_spec(spec_cls: type):
    """An ``__init__`` taking exactly the hyperparameters of ``spec_cls`` (keyword-only, with
    their defaults) and storing each under its name; its signature is what ``get_params``
    reads."""
    fields = hyperparameters(spec_cls)
    names = {f.name for f in fields}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - names)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) {unknown}; "
                f"allowed: {sorted(names)}"
            )
        for f in fields:
            setattr(self, f.name, params.get(f.name, f.default))

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature(
        [self_param]
        + [
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
            for f in fields
        ]
    )
    __init__.__doc__ = (
        f"Store the hyperparameters of :class:`{spec_cls.__module__}.{spec_cls.__name__}`."
    )
    return __init__


class BaseRecommender:
    """Base class: hyperparameters as attributes, ``fit`` returns self, ``score`` pairs.

    Subclasses define ``__init__`` with keyword-only hyperparameters stored under their names,
    ``_fit(dataset, val, progress, callback)`` and ``_score(users, items)``; reloading rebuilds
    the nets from ``net_specs_`` (:func:`ividr.api.load_model`).
    """

    #: Whether the model learns user latents (posterior mean, std).
    has_latents: bool = False
    #: The model's hyperparameter spec, a dataclass of :mod:`ividr.hyperparams`. A subclass that
    #: sets it gets an ``__init__`` made from it (see :meth:`__init_subclass__`).
    Params: type | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make ``__init__`` (keyword-only, one argument per hyperparameter of ``cls.Params``,
        stored under its name) and the "Parameters" section of the docstring from the spec."""
        super().__init_subclass__(**kwargs)
        if cls.Params is None:
            return
        if "Params" in cls.__dict__ and "__init__" not in cls.__dict__:
            cls.__init__ = _init_from_spec(cls.Params)
        if "__doc__" in cls.__dict__ and cls.__doc__ and "Parameters\n" not in cls.__doc__:
            cls.__doc__ = (
                cls.__doc__.rstrip()
                + "\n\n    Parameters\n    ----------\n"
                + param_docs(cls.Params)
                + "\n"
            )

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self"]

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters by name (JSON-able values)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseRecommender:
        names = set(self._param_names())
        for key, value in params.items():
            if key not in names:
                raise ValueError(f"Invalid parameter {key!r} for {type(self).__name__}.")
            setattr(self, key, value)
        return self

    def stage_params(self, stage: type[S]) -> S:
        """This estimator's hyperparameters of one training stage, as that stage's spec object
        (a dataclass of :mod:`ividr.hyperparams`): what the stages of
        :mod:`ividr.training.stages` read, so that they never read estimator attributes."""
        return stage(**{f.name: getattr(self, f.name) for f in dataclasses.fields(stage)})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting and scoring ------------------------------------------------------------------
    def fit(self, dataset, *, val=None, progress=None, callback=None) -> BaseRecommender:
        """Train on ``dataset``.

        Parameters
        ----------
        dataset : RecDataset
        val : Interactions or None
            Validation ratings for early stopping and the learning-rate grid; by default the
            30% validation split of the unbiased users (``dataset.split_unbiased(0.3,
            random_state=seed)``).
        progress : callable(str) or None
            Receives one line per epoch.
        callback : callable(epoch, estimator) -> dict or None
            Called after every epoch of the latent stage; a returned dict is merged into that
            epoch's history row.

        Returns
        -------
        self
        """
        val = self._start_fit(dataset, val)
        self._fit(dataset, val, progress, callback)
        self.epochs_run_ = int(sum(1 for row in self.history_ if row.get("selected", True)))
        return self

    def _start_fit(self, dataset, val=None):
        """Validate the hyperparameters and reset the fitted state; the validation ratings.

        A model's stages (e.g. IViDR's ``_fit_latent``) can be run one by one after it.
        """
        if self.Params is not None:
            checked_once(
                self,
                self.get_params(),
                lambda: check_fields(self, self.Params, type(self).__name__),
            )
        self.device_ = resolve_device(getattr(self, "device", "cpu"))
        if val is None:
            val, _ = dataset.split_unbiased(0.3, random_state=self.seed)
        self.history_: list[dict[str, Any]] = []
        self.n_users_ = int(dataset.n_users)
        self.n_items_ = int(dataset.n_items)
        self.nets_: dict[str, nn.Module] = {}
        self.net_specs_: dict[str, dict[str, Any]] = {}
        self.chosen_: dict[str, dict[str, Any]] = {}
        return val

    def score(self, users, items) -> np.ndarray:
        """Scores of (user, item) pairs.

        Parameters
        ----------
        users, items : array-like of int, shape (n,)

        Returns
        -------
        ndarray of shape (n,), float64
            Higher means more likely positive feedback (a logit for recommenders).
        """
        if not hasattr(self, "nets_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet.")
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError("users and items must be 1-d arrays of the same length")
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            raise ValueError(f"user ids must lie in [0, {self.n_users_})")
        if items.size and (items.min() < 0 or items.max() >= self.n_items_):
            raise ValueError(f"item ids must lie in [0, {self.n_items_})")
        device = getattr(self, "device_", None) or torch.device("cpu")
        with torch.no_grad():
            out = self._score(
                torch.from_numpy(users).to(device), torch.from_numpy(items).to(device)
            )
        return out.double().cpu().numpy()

    def _add_net(self, name: str, net: nn.Module, spec: dict[str, Any]) -> None:
        self.nets_[name] = net
        self.net_specs_[name] = {"class": type(net).__name__, "kwargs": spec}

    # hooks
    def _fit(self, dataset, val, progress, callback) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract
