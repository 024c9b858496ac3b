"""Spec fields: a dataclass field that declares its default, allowed values and help once.

Every floor declares its parameters with :func:`hyperparameter` (ividr's hyperparameter spec,
:mod:`ividr.hyperparams`; the simulator's knobs, :class:`simulator.config.SimConfig`), and
everything else reads them from the field's :class:`HyperSpec`:

- the validation (:func:`check_fields`, one message style: :mod:`metrics.checks`);
- the numpydoc "Parameters" of the docstrings (:func:`param_docs`);
- the click options of the command lines (:func:`simulator.command.spec_option`).

Pure Python: nothing here imports click, torch, the simulator or ividr.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metrics.checks import (
    ParameterError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    interval,
    parameter_message,
)

__all__ = [
    "checked_once",
    "mark_checked",
    "values_stamp",
    "HyperSpec",
    "check_fields",
    "field_spec",
    "hyperparameter",
    "hyperparameters",
    "param_docs",
    "spec_of",
]

_KEY = "hyperparameter"
#: The kinds :meth:`HyperSpec.check` knows; any other kind needs a ``check_with``.
KINDS = ("int", "float", "bool", "choice")


@dataclass(frozen=True)
class HyperSpec:
    """What a field of a spec dataclass allows, and its help (the metadata of
    :func:`hyperparameter`)."""

    help: str
    kind: str  # "int", "float", "bool", "choice", or another kind checked by check_with
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    choices: tuple[Any, ...] = ()
    #: Special values an int or float field also takes (e.g. "auto").
    also: tuple[Any, ...] = ()
    #: What a None default stands for, in words (e.g. "the model's: 100; vae/ivae: 1000"): the
    #: docstrings and the command lines' help show it as the default.
    default_text: str | None = None
    #: The check of a kind outside :data:`KINDS`: ``check_with(value, name, owner)``.
    check_with: Callable[[Any, str, str], Any] | None = None
    #: The numpydoc type of such a kind (e.g. ``{"auto", "cpu", "cuda", "cuda:N"}``).
    type_name: str | None = None

    def check(
        self, value: Any, name: str, owner: str, *, error: type[ParameterError] = ParameterError
    ) -> Any:
        """``value`` if it is allowed; else ``error`` (a :class:`metrics.checks.ParameterError`)."""
        if isinstance(value, str) and value in self.also:
            return value
        if self.check_with is not None:
            return self.check_with(value, name, owner)
        if self.kind == "bool":
            return check_bool(value, name, owner, error=error)
        if self.kind == "choice":
            return check_choice(value, name, owner, self.choices, error=error)
        if self.kind == "int":
            low = None if self.low is None else int(self.low)
            high = None if self.high is None else int(self.high)
            return check_int(
                value, name, owner, low=low, high=high, optional=self.optional, error=error
            )
        try:
            return check_float(
                value,
                name,
                owner,
                low=self.low,
                high=self.high,
                low_open=self.low_open,
                high_open=self.high_open,
                optional=self.optional,
                error=error,
            )
        except ParameterError as exc:
            if not self.also:
                raise
            allowed = f"{exc.allowed} or one of {list(self.also)}"
            raise error(
                parameter_message(name, owner, allowed, value),
                param=name,
                allowed=allowed,
                got=value,
            ) from None

    def type_text(self, default: Any) -> str:
        """The numpydoc type: ``int in [1, inf)``, ``float or None``, ``{"bce", "mse"}``..."""
        if self.type_name is not None:
            text = self.type_name
        elif self.kind == "choice":
            text = "{" + ", ".join(f'"{c}"' for c in self.choices) + "}"
        else:
            text = self.kind
        if self.kind in ("int", "float") and (self.low is not None or self.high is not None):
            text += " in " + interval(
                self.low, self.high, low_open=self.low_open, high_open=self.high_open
            )
        text += "".join(f' or "{a}"' for a in self.also)
        return text + (" or None" if self.optional else "")


def hyperparameter(
    default: Any,
    help: str,
    *,
    kind: str | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool | None = None,
    choices: tuple[Any, ...] = (),
    also: tuple[Any, ...] = (),
    default_text: str | None = None,
    check_with: Callable[[Any, str, str], Any] | None = None,
    type_name: str | None = None,
    compare: bool = True,
) -> Any:
    """A dataclass field carrying its :class:`HyperSpec`.

    ``kind`` defaults to the default's type ("choice" when ``choices`` are given); ``optional``
    (None allowed) defaults to ``default is None``; ``default_text`` says what a None default
    stands for. A kind outside :data:`KINDS` needs ``check_with`` (and ``type_name`` for its
    docs). ``compare`` is the dataclass field's (False: left out of ``==``).
    """
    if kind is None:
        if choices:
            kind = "choice"
        elif isinstance(default, bool):
            kind = "bool"
        elif isinstance(default, int):
            kind = "int"
        elif isinstance(default, float):
            kind = "float"
        else:
            raise TypeError(f"hyperparameter with default {default!r} needs an explicit kind")
    if kind not in KINDS and check_with is None:
        raise TypeError(f"hyperparameter of kind {kind!r} needs check_with")
    spec = HyperSpec(
        help=" ".join(help.split()),
        kind=kind,
        low=low,
        high=high,
        low_open=low_open,
        high_open=high_open,
        optional=default is None if optional is None else optional,
        choices=tuple(choices),
        also=tuple(also),
        default_text=None if default_text is None else " ".join(default_text.split()),
        check_with=check_with,
        type_name=type_name,
    )
    if default is dataclasses.MISSING:  # a required field
        return field(metadata={_KEY: spec}, compare=compare)
    return field(default=default, metadata={_KEY: spec}, compare=compare)


def field_spec(f: dataclasses.Field) -> HyperSpec:
    """The :class:`HyperSpec` of a field made by :func:`hyperparameter` (KeyError if none)."""
    return f.metadata[_KEY]


def hyperparameters(spec_cls: type) -> tuple[dataclasses.Field, ...]:
    """The fields of a spec dataclass that are hyperparameters, in declaration order."""
    return tuple(f for f in dataclasses.fields(spec_cls) if _KEY in f.metadata)


def spec_of(spec_cls: type, name: str) -> tuple[dataclasses.Field, HyperSpec]:
    """The field ``name`` of ``spec_cls`` and its :class:`HyperSpec` (KeyError if none)."""
    for f in hyperparameters(spec_cls):
        if f.name == name:
            return f, f.metadata[_KEY]
    raise KeyError(f"{spec_cls.__name__} has no hyperparameter {name!r}")


def check_fields(
    obj: Any, spec_cls: type, owner: str, *, error: type[ParameterError] = ParameterError
) -> None:
    """Check every hyperparameter of ``spec_cls`` as ``obj`` holds it (attribute by name)."""
    for f in hyperparameters(spec_cls):
        f.metadata[_KEY].check(getattr(obj, f.name), f.name, owner, error=error)


def values_stamp(values: dict[str, Any]) -> tuple:
    """What :func:`checked_once` compares: every value with its type, so that ``True`` and
    ``1`` (equal in Python) or ``1`` and ``1.0`` do not pass for one another. NaN never equals
    itself, so a set holding one is checked again (and refused) every time."""
    return tuple((name, type(value), value) for name, value in values.items())


def checked_once(obj: Any, values: dict[str, Any], check) -> None:
    """Run ``check()`` unless ``obj`` already passed it with exactly these ``values``.

    A value set is checked once, at the first public entry it reaches (the CLI, ``fit_model``,
    ``build_estimator``, an estimator's ``fit``); the entries after it find the stamp left on
    ``obj`` and skip. Changing any value, or a new object (``dataclasses.replace``, a clone),
    checks again.
    """
    stamp = values_stamp(values)
    if getattr(obj, "_checked_values", None) == stamp:
        return
    check()
    obj._checked_values = stamp


def mark_checked(obj: Any, values: dict[str, Any]) -> None:
    """Record that ``values`` on ``obj`` were checked elsewhere (an estimator built from a checked
    config by the same specs)."""
    obj._checked_values = values_stamp(values)


def param_docs(spec_cls: type, indent: str = "    ") -> str:
    """The numpydoc "Parameters" entries of a spec, one per hyperparameter (a None default's
    ``default_text`` ends its help: "None: ...")."""
    lines = []
    for f in hyperparameters(spec_cls):
        spec: HyperSpec = f.metadata[_KEY]
        default = "" if f.default is dataclasses.MISSING else f", default {f.default!r}"
        text = spec.help
        if f.default is None and spec.default_text:
            text += f" None: {spec.default_text}."
        lines.append(f"{indent}{f.name} : {spec.type_text(f.default)}{default}")
        lines += textwrap.wrap(
            text, width=96, initial_indent=indent * 2, subsequent_indent=indent * 2
        )
    return "\n".join(lines)
