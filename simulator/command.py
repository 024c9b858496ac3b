"""What the command lines share: one-line usage errors, and click options made from spec fields.

``simgen`` (:mod:`simulator.cli`) uses these directly and every ``ividr`` command through
:mod:`ividr.cli.common`, so that both report bad input the same way and declare an option's
type, range, default and help once, in a spec field (:func:`metrics.spec.hyperparameter`):

- :class:`OneLineCommand` (:class:`OneLineGroup` for a group): a usage error, while parsing or
  in the command's body, prints one line (``Error: Invalid value for '--x': ...``) on stderr and
  exits with code 2, no traceback;
- :func:`usage_error`: the usage error naming an option for a spec check's
  :class:`metrics.checks.ParameterError` (a value that passed the option's type but not the
  checks across fields);
- :func:`spec_option`: the click option of a spec field (an int gives an IntRange, a float a
  :class:`FiniteFloatRange`, a choice a Choice, a bool a flag; its help is the field's).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import click

from metrics.checks import ParameterError
from metrics.spec import HyperSpec, spec_of

__all__ = [
    "FiniteFloatRange",
    "OneLineCommand",
    "OneLineGroup",
    "spec_option",
    "spec_type",
    "usage_error",
]


#: What click raises to show the help of a command called without arguments (click >= 8.2): the
#: help, not a one-line error.
_SHOW_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _one_line(exc: click.UsageError) -> click.exceptions.Exit:
    click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
    return click.exceptions.Exit(2)


class _OneLineUsageErrors:
    """Usage errors, while parsing or in the body, as one line on stderr and exit code 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _SHOW_HELP:
            raise
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _SHOW_HELP:
            raise
        except click.UsageError as exc:
            raise _one_line(exc) from None


class OneLineCommand(_OneLineUsageErrors, click.Command):
    """A command whose usage errors, while parsing or in its body, print one line and exit 2."""


class OneLineGroup(_OneLineUsageErrors, click.Group):
    """A group whose usage errors (an unknown subcommand, a bad option of the group) print one
    line and exit 2, as do those of any subcommand that is not a :class:`OneLineCommand`."""


def usage_error(exc: ParameterError, option: str, *, note: str = "") -> click.UsageError:
    """The usage error of ``option`` for ``exc``: the value it got and what is allowed (with
    ``note`` appended, e.g. " (at most --items)"), or ``exc``'s message when it names no range."""
    if exc.allowed is None:
        return click.BadParameter(str(exc), param_hint=f"'{option}'")
    allowed = exc.allowed + note
    if allowed[:1] in "[(":
        text = f"{exc.got!r} is not in the range {allowed}."
    else:
        text = f"{exc.got!r} is not allowed here; it must be {allowed}."
    return click.BadParameter(text, param_hint=f"'{option}'")


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses NaN and infinities (a spec's float is finite)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = click.FloatRange.convert(self, value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number{self._range_text()}.", param, ctx)
        return rv

    def _describe_range(self) -> str:
        if self.min is None and self.max is None:
            return "any finite number"
        return super()._describe_range()

    def _range_text(self) -> str:
        if self.min is None and self.max is None:
            return ""
        return f" in the range {self._describe_range()}"


def spec_type(spec: HyperSpec, choices: tuple[Any, ...] | None = None) -> click.ParamType | None:
    """The click type of a spec field (None for a bool: a flag); ``choices`` narrows a choice."""
    if spec.kind == "bool":
        return None
    if spec.kind == "choice":
        return click.Choice(spec.choices if choices is None else choices)
    if spec.kind == "int":
        low = None if spec.low is None else int(spec.low)
        high = None if spec.high is None else int(spec.high)
        return click.IntRange(min=low, max=high)
    if spec.kind == "float":
        return FiniteFloatRange(
            min=spec.low, max=spec.high, min_open=spec.low_open, max_open=spec.high_open
        )
    raise TypeError(f"no click type for a spec field of kind {spec.kind!r}")


_SPEC = object()  # "the field's own default"


def spec_option(
    spec_cls: type,
    name: str,
    *,
    flag: str | None = None,
    default: Any = _SPEC,
    default_text: str | None = None,
    choices: tuple[Any, ...] | None = None,
):
    """``--<name>`` (or ``flag``) for the spec field ``name`` of ``spec_cls``; its value is passed
    to the command as ``name``.

    Type, range, choices, help and default are the field's (:func:`spec_type`); a field without
    a default (e.g. FitConfig's ``model``) is a required option. The command's own, where it
    differs:

    default
        The option's default, instead of the field's; None means "not given" (the value then
        comes from elsewhere, e.g. simgen's preset).
    default_text
        What the help says of a None default, instead of the field's ``default_text``: it ends
        the help as ``[default: <text>]`` (e.g. "the preset's: ividr 10000, idcf 2000, ...").
    choices
        The choices the command offers, a subset of the field's in any order (e.g. simgen's
        ``--w-prior`` leaves "code" to the presets).
    """
    f, spec = spec_of(spec_cls, name)
    value = f.default if default is _SPEC else default
    required = value is dataclasses.MISSING  # a field without a default: a required option
    if required:
        value = None
    if choices is not None and not set(choices) <= set(spec.choices):
        raise ValueError(f"choices {choices} of --{name} are not among {spec.choices}")
    kwargs: dict[str, Any] = {"help": spec.help}
    if required:
        kwargs["required"] = True
    else:
        kwargs["default"] = value
    option_type = spec_type(spec, choices)
    if option_type is None:
        kwargs["is_flag"] = True
    else:
        kwargs["type"] = option_type
    text = spec.default_text if default_text is None else default_text
    if value is None and text:
        kwargs["help"] += f" [default: {text}]"
    if not required:
        kwargs["show_default"] = spec.kind != "bool" and value is not None
    return click.option(flag or "--" + name.replace("_", "-"), name, **kwargs)
