"""Parameter checks with one message style, shared by every floor (metrics, simulator, ividr).

Every public entry point validates its parameters at the boundary with these functions, so
that every message reads the same way, scikit-learn's way::

    The 'gamma' parameter of SimConfig must be a float in the range [0, inf). Got -1 instead.

Each check returns the value when it is valid and raises ``error`` (a subclass of
:class:`ParameterError`, itself a ``ValueError``) when it is not. The error carries the
parameter's name (``param``), the allowed values in words (``allowed``) and the value it got
(``got``), so callers such as the command lines can report them without parsing the message.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "ParameterError",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "interval",
    "parameter_message",
]


class ParameterError(ValueError):
    """A parameter outside its allowed values; ``param``, ``allowed`` and ``got`` say which."""

    def __init__(
        self, message: str, *, param: str | None = None, allowed: str | None = None, got: Any = None
    ) -> None:
        super().__init__(message)
        self.param = param
        self.allowed = allowed
        self.got = got


def parameter_message(name: str, owner: str, allowed: str, got: Any) -> str:
    """``The 'name' parameter of owner must be allowed. Got got instead.``"""
    return f"The '{name}' parameter of {owner} must be {allowed}. Got {got!r} instead."


def _fail(
    name: str, owner: str, allowed: str, got: Any, error: type[ParameterError]
) -> ParameterError:
    return error(parameter_message(name, owner, allowed, got), param=name, allowed=allowed, got=got)


def interval(
    low: float | None, high: float | None, *, low_open: bool = False, high_open: bool = False
) -> str:
    """``[0, inf)``, ``(0, 1]``: None is an infinite end (always open)."""
    left = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    right = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
    return f"{left}, {right}"


def check_int(
    value: Any,
    name: str,
    owner: str,
    *,
    low: int | None = None,
    high: int | None = None,
    optional: bool = False,
    error: type[ParameterError] = ParameterError,
) -> int | None:
    """An int (numpy ints too, bools not) in ``[low, high]``; None too when ``optional``."""
    if value is None and optional:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        allowed = f"an int in the range {interval(low, high)}" + (" or None" if optional else "")
        raise _fail(name, owner, allowed, value, error)
    return int(value)


def check_float(
    value: Any,
    name: str,
    owner: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
    error: type[ParameterError] = ParameterError,
) -> float | None:
    """A finite real number (ints too, bools not) in the interval; None too when ``optional``."""
    if value is None and optional:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        rng = interval(low, high, low_open=low_open, high_open=high_open)
        allowed = f"a finite float in the range {rng}" + (" or None" if optional else "")
        raise _fail(name, owner, allowed, value, error)
    return float(value)


def check_bool(
    value: Any, name: str, owner: str, *, error: type[ParameterError] = ParameterError
) -> bool:
    """A bool (numpy bools too; not 0/1)."""
    if not isinstance(value, bool | np.bool_):
        raise _fail(name, owner, "a bool", value, error)
    return bool(value)


def check_choice(
    value: Any,
    name: str,
    owner: str,
    choices: Iterable[Any],
    *,
    error: type[ParameterError] = ParameterError,
) -> Any:
    """One of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise _fail(name, owner, f"one of {choices}", value, error)
    return value
