"""The knobs of the simulator (docs/design.md §2) as one JSON-serialisable dataclass, and its
presets.

``SimConfig.from_preset("idcf", gamma=10.0)`` starts from a preset and overrides knobs;
``validate()`` checks every knob at the public boundary and raises :class:`ConfigError` (a
``ValueError``) whose message names the parameter and its allowed range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from metrics.checks import (
    ParameterError,
    check_choice,
    check_float,
    check_int,
    parameter_message,
)

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


class ConfigError(ParameterError):
    """Bad knob: ``param`` names it, ``allowed`` states the range, ``got`` the value."""


@dataclass(frozen=True)
class SimConfig:
    """Every knob of the generative process of docs/design.md §2 (defaults: preset ``ividr``).

    Parameters
    ----------
    preset : str, default "ividr"
        The preset the knobs started from (recorded in meta.json; one of :data:`PRESETS`).
    n_users, n_items : int, default 10000, 1000
        m and n.
    clusters : int, default 5
        K, the number of mixture components and of levels of the proxies W and M.
    latent_dim : int, default 2
        d, the dimension of C, V and e_Hi.
    alpha : float in (0, 1], default 0.1
        Exposure scale: a_ui ~ Bernoulli(alpha * sigmoid(logit_ui)).
    beta : float, default 2.0
        Weight of the confounder in the ratings.
    gamma : float >= 0, default 0.0
        Weight of the exposure noise.
    item_mixing : float, default 1.0
        kappa in H = C + kappa V (0 is iDCF's process).
    iv_strength : float >= 0, default 0.0
        zeta, the weight of the instrument Z in the exposure.
    hidden_strength : float >= 0, default 0.0
        delta, the weight of the proxy-less confounder B in exposure and ratings.
    rating_noise : float >= 0, default 10.0
        sigma_r, the standard deviation of the rating noise.
    random_items : int in [1, n_items], default 15
        Distinct uniformly drawn items per user in the unbiased set.
    embedding_dim : int, default 16
        Dimension of the preference embeddings e_u, e_i.
    w_prior : {"gaussian", "uniform", "code"}, default "gaussian"
        Prior of the proxies W and M ("code": the IViDR code's fixed prior, 5 clusters only).
    n_feature_fields, feature_levels : int, default 3, 4
        F categorical user-feature fields of the instrument Z and their number of levels. The
        ``ividr-code`` process ignores them: its instrument is W (one field, K levels).
    hidden_dim : int, default 2
        d_b, the dimension of B.
    seed : int >= 0, default 0
        Root of every random draw (preset ``ividr-paper``: 1234, the released code's seed).
    process : {"appendix-f", "ividr-code", "ividr-paper"}, default "appendix-f"
        Which generative process (preset ``ividr-code`` sets "ividr-code", preset
        ``ividr-paper`` "ividr-paper": the released generator replayed, which keeps the knobs of
        :data:`PAPER_FIXED_KNOBS` fixed and at most :data:`PAPER_MAX_CELLS` cells).
    chunk_users : int >= 1, default 1024
        Users generated per step (rounded up to whole blocks of 512 users); bounds memory and
        never changes the output. The replay (``ividr-paper``) draws everything at once and
        ignores it.
    """

    preset: str = "ividr"
    n_users: int = 10000
    n_items: int = 1000
    clusters: int = 5
    latent_dim: int = 2
    alpha: float = 0.1
    beta: float = 2.0
    gamma: float = 0.0
    item_mixing: float = 1.0
    iv_strength: float = 0.0
    hidden_strength: float = 0.0
    rating_noise: float = 10.0
    random_items: int = 15
    embedding_dim: int = 16
    w_prior: str = "gaussian"
    n_feature_fields: int = 3
    feature_levels: int = 4
    hidden_dim: int = 2
    seed: int = 0
    process: str = "appendix-f"
    chunk_users: int = field(default=1024, compare=False)

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
        for name in _INT_RANGES:
            low, high = _INT_RANGES[name]
            if name == "random_items":
                high = self.n_items if _is_int(self.n_items) else high
            _check_int(name, getattr(self, name), low, high)
        for name, (low, high, low_open) in _FLOAT_RANGES.items():
            _check_float(name, getattr(self, name), low, high, low_open)
        for name, choices in (
            ("w_prior", W_PRIORS),
            ("process", PROCESSES),
            ("preset", tuple(PRESETS)),
        ):
            check_choice(getattr(self, name), name, "SimConfig", choices, error=ConfigError)
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


#: int knobs: (low, high) inclusive, high None = inf; random_items' high is n_items.
_INT_RANGES: dict[str, tuple[int, int | None]] = {
    "n_users": (1, None),
    "n_items": (1, None),
    "clusters": (1, None),
    "latent_dim": (1, None),
    "random_items": (1, None),
    "embedding_dim": (1, None),
    "n_feature_fields": (1, None),
    "feature_levels": (1, None),
    "hidden_dim": (1, None),
    "seed": (0, None),
    "chunk_users": (1, None),
}

#: float knobs: (low, high, low_open); None = unbounded. All must be finite.
_FLOAT_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "alpha": (0.0, 1.0, True),
    "beta": (None, None, False),
    "gamma": (0.0, None, False),
    "item_mixing": (None, None, False),
    "iv_strength": (0.0, None, False),
    "hidden_strength": (0.0, None, False),
    "rating_noise": (0.0, None, False),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    # random_items' high is n_items, so the message's range shows it.
    check_int(value, name, "SimConfig", low=low, high=high, error=ConfigError)


def _check_float(
    name: str, value: Any, low: float | None, high: float | None, low_open: bool
) -> None:
    check_float(value, name, "SimConfig", low=low, high=high, low_open=low_open, error=ConfigError)


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
