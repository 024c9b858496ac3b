"""What every ``ividr`` subcommand shares: usage errors as one line with exit code 2 (§7)."""

from __future__ import annotations

from pathlib import Path

import click

from ividr.defaults import DEFAULT_THREADS


def _one_line_usage_error(exc: click.UsageError) -> click.exceptions.Exit:
    click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
    return click.exceptions.Exit(2)


class OneLineCommand(click.Command):
    """A command whose usage errors, while parsing or in its body, print one line and exit 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line_usage_error(exc) from None


# -- shared options (the same name, type, default and help everywhere) -------------------------
def seed_option(help: str = "Seed of the model's initialisation and the validation/test split."):
    """``--seed``: an int >= 0, default 0."""
    return click.option(
        "--seed",
        default=0,
        show_default=True,
        type=click.IntRange(min=0),
        help=help,
    )


def out_option(help: str, *, default=None, required: bool = False, file_okay: bool = False):
    """``--out``: a path (``out`` in the command's arguments)."""
    return click.option(
        "--out",
        "out",
        default=default,
        required=required,
        show_default=default is not None,
        type=click.Path(file_okay=file_okay, path_type=Path),
        help=help,
    )


def threads_option(what: str = "of the fit"):
    """``--threads``: torch CPU threads, an int >= 0 (0: torch's default), default 1."""
    return click.option(
        "--threads",
        type=click.IntRange(min=0),
        default=DEFAULT_THREADS,
        show_default=True,
        help=f"Torch CPU threads {what} (0 = torch's default). 1 is fastest for these small "
        "models, above all on a machine shared by several jobs.",
    )


def _device_form(ctx, param, value: str) -> str:
    from ividr.devices import DEVICE_HELP, check_device

    try:
        return check_device(value)
    except ValueError:
        raise click.BadParameter(f"must be {DEVICE_HELP}. Got {value!r} instead.") from None


def device_option(what: str = "the fit", default: str = "auto"):
    """``--device``: auto|cpu|cuda[:N], default auto (its form checked while parsing)."""
    return click.option(
        "--device",
        default=default,
        show_default=True,
        metavar="auto|cpu|cuda[:N]",
        callback=_device_form,
        help=f"Where {what} runs: auto = CUDA when torch sees a GPU, else the CPU. Outputs come "
        "back to the CPU; a CPU run is identical with or without this option.",
    )


def check_device_here(device: str) -> None:
    """A usage error (exit 2, one line) unless this machine has ``device``
    (:func:`ividr.devices.resolve_device`); call it before anything is written."""
    from ividr.devices import DeviceError, resolve_device

    try:
        resolve_device(device)
    except DeviceError as exc:
        raise click.BadParameter(str(exc), param_hint="'--device'") from None


def quiet_option(help: str = "No progress on stderr."):
    """``-q/--quiet``."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


def check_out_writable(out: Path, param_hint: str = "'--out'") -> None:
    """A usage error (exit 2, one line) unless something can be created at ``out``."""
    from simulator.files import check_writable

    try:
        check_writable(out)
    except PermissionError as exc:
        raise click.BadParameter(f"cannot write there: {exc}", param_hint=param_hint) from None


def config_option(name: str, *, help: str | None = None, **overrides):
    """``--<name>`` for the :class:`~ividr.config.FitConfig` field ``name``.

    Its type, range, choices and default come from the hyperparameter spec
    (:mod:`ividr.hyperparams`): an int field gives an IntRange, a float a FloatRange, a choice a
    Choice, a bool a flag. ``help`` (default: the spec's) and ``overrides`` (click keyword
    arguments) are for what is the command's own, e.g. "of every fit" in ``ividr sweep``.
    """
    from ividr.config import FitConfig
    from ividr.hyperparams import spec_of

    f, spec = spec_of(FitConfig, name)
    kwargs: dict = {"default": f.default, "help": help or spec.help}
    if spec.kind == "bool":
        kwargs["is_flag"] = True
    elif spec.kind == "choice":
        kwargs["type"] = click.Choice(spec.choices)
    elif spec.kind == "int":
        low = None if spec.low is None else int(spec.low)
        high = None if spec.high is None else int(spec.high)
        kwargs["type"] = click.IntRange(min=low, max=high)
    else:
        kwargs["type"] = click.FloatRange(
            min=spec.low, max=spec.high, min_open=spec.low_open, max_open=spec.high_open
        )
    kwargs["show_default"] = spec.kind != "bool" and f.default is not None
    kwargs.update(overrides)
    return click.option("--" + name.replace("_", "-"), name, **kwargs)
