"""The knobs of the simulator (docs/design.md §2) as one JSON-serialisable dataclass, and its
presets.

``SimConfig.from_preset("idcf", gamma=10.0)`` starts from a preset and overrides knobs;
``validate()`` checks every knob at the public boundary and raises :class:`ConfigError` (a
``ValueError``) whose message names the parameter and its allowed range.

Every knob is declared once, as a spec field (:func:`metrics.spec.hyperparameter`) with its
default, range and help: ``validate()`` checks them, the docstring lists them, and ``simgen``'s
options are made from them (:mod:`simulator.cli`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from metrics.checks import ParameterError, check_choice, parameter_message
from metrics.spec import field_spec, hyperparameter, hyperparameters, param_docs

#: Processes the generator knows: the paper's Appendix F (extended with Z and B, docs/design.md §2),
#: the process of the code published with IViDR drawn from our own generator (preset
#: ``ividr-code``), and that code's own draw replayed exactly (preset ``ividr-paper``,
#: :mod:`simulator.replay_divers`).
PROCESSES = ("appendix-f", "ividr-code", "ividr-paper")

#: W priors: the paper's "Gaussian-like" prior, iDCF's uniform prior, and the fixed prior of the
#: IViDR code, p = (0.08, 0.2, 0.2, 0.32, 0.2), defined for 5 clusters only.
W_PRIORS = ("gaussian", "uniform", "code")
CODE_W_PRIOR = (0.08, 0.2, 0.2, 0.32, 0.2)

#: The replay of the released generator (process ``ividr-paper``) has no knob for these: they
#: must keep these values.
PAPER_FIXED_KNOBS: dict[str, Any] = {
    "clusters": len(CODE_W_PRIOR),
    "w_prior": "code",
    "item_mixing": 0.0,
    "iv_strength": 0.0,
    "hidden_strength": 0.0,
}
#: The released generator takes the rating quantiles with ``torch.quantile``, which accepts at
#: most 2^24 values: the replay's users x items may not exceed it.
PAPER_MAX_CELLS = 2**24

#: Knobs that only change how the data are computed, never the data: left out of meta.json so
#: that the files are byte-identical whatever their value.
RUNTIME_FIELDS = ("chunk_users",)


#: Presets (docs/design.md §2): knob overrides of the :class:`SimConfig` defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's Appendix F.
    "ividr": {},
    # iDCF's Appendix B: 2000 x 300, uniform W prior, no item factor in the confounder.
    "idcf": {"n_users": 2000, "n_items": 300, "w_prior": "uniform", "item_mixing": 0.0},
    # Both confounder kinds of the paper's DAG and a relevant instrument.
    "dual": {"iv_strength": 1.0, "hidden_strength": 1.0},
    # The process of the code published with IViDR (its instrument is W: one field, K levels).
    "ividr-code": {
        "item_mixing": 0.0,
        "w_prior": "code",
        "process": "ividr-code",
        "n_feature_fields": 1,
        "feature_levels": 5,
    },
    # That code's own draw (the paper's Table 5 data), replayed: simulator/replay_divers.py.
    "ividr-paper": {
        "item_mixing": 0.0,
        "w_prior": "code",
        "process": "ividr-paper",
        "n_feature_fields": 1,
        "feature_levels": 5,
        "seed": 1234,
    },
}


class ConfigError(ParameterError):
    """Bad knob: ``param`` names it, ``allowed`` states the range, ``got`` the value."""


@dataclass(frozen=True)
class SimConfig:
    # Each knob declares its default (preset ``ividr``), range and help once (metrics.spec):
    # validate() checks them, the docstring lists them and simgen's options are made from them.
    preset: str = hyperparameter(
        "ividr",
        "The preset the knobs started from, recorded in meta.json: ividr (the paper's App. F), "
        "idcf (iDCF's App. B), dual (+ instrument and hidden confounder), ividr-code (IViDR's "
        "released code), ividr-paper (that code's own draw, replayed exactly: the paper's "
        "Table-5 data; needs torch). The other knobs override its values.",
        choices=tuple(PRESETS),
    )
    n_users: int = hyperparameter(10000, "Number of users m.", low=1)
    n_items: int = hyperparameter(1000, "Number of items n.", low=1)
    clusters: int = hyperparameter(
        5, "K, the number of mixture components and of levels of the proxies W and M.", low=1
    )
    latent_dim: int = hyperparameter(2, "d, the dimension of C, V and e_Hi.", low=1)
    alpha: float = hyperparameter(
        0.1,
        "Exposure scale: a_ui ~ Bernoulli(alpha * sigmoid(logit_ui)).",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    beta: float = hyperparameter(2.0, "Weight of the confounder in the ratings.")
    gamma: float = hyperparameter(0.0, "Weight of the exposure noise.", low=0.0)
    item_mixing: float = hyperparameter(1.0, "kappa in H = C + kappa V (0 is iDCF's process).")
    iv_strength: float = hyperparameter(
        0.0, "zeta, the weight of the instrument Z in the exposure.", low=0.0
    )
    hidden_strength: float = hyperparameter(
        0.0, "delta, the weight of the proxy-less confounder B in exposure and ratings.", low=0.0
    )
    rating_noise: float = hyperparameter(
        10.0, "sigma_r, the standard deviation of the rating noise.", low=0.0
    )
    random_items: int = hyperparameter(
        15,
        "Distinct uniformly drawn items per user in the unbiased set, at most n_items.",
        low=1,
    )
    embedding_dim: int = hyperparameter(
        16, "Dimension of the preference embeddings e_u, e_i.", low=1
    )
    w_prior: str = hyperparameter(
        "gaussian",
        "Prior of the proxies W and M: the paper's Gaussian-like prior, iDCF's uniform prior, or "
        "'code', the IViDR code's fixed prior (5 clusters only; presets ividr-code and "
        "ividr-paper).",
        choices=W_PRIORS,
    )
    n_feature_fields: int = hyperparameter(
        3,
        "F, the categorical user-feature fields of the instrument Z. The ividr-code process "
        "ignores it and feature_levels: its instrument is W (one field, K levels).",
        low=1,
    )
    feature_levels: int = hyperparameter(4, "Levels of each user-feature field of Z.", low=1)
    hidden_dim: int = hyperparameter(2, "d_b, the dimension of B.", low=1)
    seed: int = hyperparameter(
        0, "Root of every random draw (preset ividr-paper: 1234, the released code's seed).", low=0
    )
    process: str = hyperparameter(
        "appendix-f",
        "Which generative process (preset ividr-code sets 'ividr-code', preset ividr-paper "
        "'ividr-paper': the released generator replayed, which keeps the knobs of "
        "PAPER_FIXED_KNOBS fixed and at most PAPER_MAX_CELLS cells).",
        choices=PROCESSES,
    )
    chunk_users: int = hyperparameter(
        1024,
        "Users generated per step (rounded up to whole blocks of 512 users); bounds memory and "
        "never changes the output. The replay (ividr-paper) draws everything at once and "
        "ignores it.",
        low=1,
        compare=False,
    )

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str = "ividr", **overrides: Any) -> SimConfig:
        """The knobs of preset ``name`` with ``overrides`` applied, validated.

        Parameters
        ----------
        name : {"ividr", "idcf", "dual", "ividr-code", "ividr-paper"}
        **overrides
            Any field of :class:`SimConfig`.
        """
        check_choice(name, "preset", "SimConfig.from_preset", sorted(PRESETS), error=ConfigError)
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"SimConfig has no knob(s) {unknown}")
        knobs = dict(PRESETS[name])
        knobs.update(overrides)
        knobs["preset"] = name
        config = cls(**knobs)
        config.validate()
        return config

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with some knobs changed (not validated; call :meth:`validate`)."""
        return dataclasses.replace(self, **changes)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self, *, runtime: bool = True) -> dict[str, Any]:
        """The knobs as a JSON-able dict (``runtime=False`` leaves out :data:`RUNTIME_FIELDS`)."""
        out = dataclasses.asdict(self)
        if not runtime:
            for name in RUNTIME_FIELDS:
                out.pop(name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise TypeError, missing ones take defaults."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"SimConfig has no knob(s) {unknown}")
        config = cls(**data)
        config.validate()
        return config

    # -- validation ------------------------------------------------------------------------------
    def validate(self) -> SimConfig:
        """Check every knob; raise :class:`ConfigError` naming the first bad one. Returns self."""
        for f in _CHECK_ORDER:
            spec = field_spec(f)
            if f.name == "random_items" and _is_int(self.n_items):  # its high is n_items
                spec = dataclasses.replace(spec, high=self.n_items)
            spec.check(getattr(self, f.name), f.name, "SimConfig", error=ConfigError)
        if self.w_prior == "code" and self.clusters != len(CODE_W_PRIOR):
            allowed = f"{len(CODE_W_PRIOR)} with w_prior='code' (preset ividr-code)"
            raise ConfigError(
                parameter_message("clusters", "SimConfig", allowed, self.clusters),
                param="clusters",
                allowed=allowed,
                got=self.clusters,
            )
        if self.process == "ividr-paper":
            self._check_paper_replay()
        return self

    def _check_paper_replay(self) -> None:
        """The replay's cross-knob constraints: fixed knobs, and the cells torch.quantile takes."""
        for name, value in PAPER_FIXED_KNOBS.items():
            if getattr(self, name) != value:
                allowed = f"{value!r} with process 'ividr-paper' (preset ividr-paper)"
                raise ConfigError(
                    parameter_message(name, "SimConfig", allowed, getattr(self, name)),
                    param=name,
                    allowed=allowed,
                    got=getattr(self, name),
                )
        if self.n_users * self.n_items > PAPER_MAX_CELLS:
            allowed = (
                f"at most {PAPER_MAX_CELLS // self.n_items} for {self.n_items} items with preset "
                f"ividr-paper (users x items <= 2^24, torch.quantile's limit in the released code)"
            )
            raise ConfigError(
                parameter_message("n_users", "SimConfig", allowed, self.n_users),
                param="n_users",
                allowed=allowed,
                got=self.n_users,
            )

    @property
    def name(self) -> str:
        """A directory name made of the knobs: preset, sizes, gamma, seed, then what differs."""
        base = PRESETS[self.preset] if self.preset in PRESETS else {}
        parts = [
            self.preset,
            f"u{self.n_users}",
            f"i{self.n_items}",
            f"gamma{_fmt(self.gamma)}",
            f"seed{self.seed}",
        ]
        shown = {"preset", "n_users", "n_items", "gamma", "seed", *RUNTIME_FIELDS}
        default = SimConfig()
        for f in dataclasses.fields(self):
            if f.name in shown:
                continue
            value = getattr(self, f.name)
            if value != base.get(f.name, getattr(default, f.name)):
                parts.append(f"{f.name.replace('_', '-')}{_fmt(value)}")
        return "_".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_rank(f: dataclasses.Field) -> int:
    return 3 if f.name == "preset" else {"int": 0, "float": 1}.get(field_spec(f).kind, 2)


#: The order validate() checks the knobs in (the one of the former range tables): the ints, the
#: floats, the other choices, each in declaration order, then the preset.
_CHECK_ORDER = tuple(sorted(hyperparameters(SimConfig), key=_check_rank))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


SimConfig.__doc__ = (
    """Every knob of the generative process of docs/design.md §2 (defaults: preset ``ividr``).

    Parameters
    ----------
"""
    + param_docs(SimConfig)
    + "\n"
)
