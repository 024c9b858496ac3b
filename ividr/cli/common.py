"""What every ``ividr`` subcommand shares: usage errors as one line with exit code 2, the rule
of ``--out``, the bounds of ``--threads``/``--jobs``, and which options a model takes (§7).

The one-line usage errors (:class:`OneLineCommand`, :func:`usage_error`) and the options made
from the hyperparameter spec (:func:`config_option`) are :mod:`simulator.command`'s, which
``simgen`` uses too: both command lines report bad input the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

import click

from ividr.defaults import DEFAULT_THREADS
from metrics.spec import spec_of
from simulator.command import OneLineCommand, spec_option, usage_error

__all__ = [
    "OneLineCommand",
    "available_cpus",
    "check_cpus",
    "check_device_here",
    "check_fit_options",
    "check_out",
    "config_list_option",
    "config_option",
    "device_option",
    "flag",
    "given",
    "out_option",
    "quiet_option",
    "threads_option",
    "usage_error",
]


# -- shared options (the same name, type, default and help everywhere) -------------------------
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


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the system has one (a container or
    ``taskset`` narrows it), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_cpus(value: int, option: str) -> int:
    """``value`` if this machine has that many CPUs; else a usage error naming ``option``.

    (Asking torch or a process pool for far more threads than there are CPUs fails deep inside
    a library, e.g. an ImportError "failed to map segment", after work has begun.)
    """
    cpus = available_cpus()
    if value > cpus:
        raise click.BadParameter(
            f"{value} is more than the {cpus} CPUs this process may use; give at most {cpus}.",
            param_hint=f"'{option}'",
        )
    return value


def _threads_bound(ctx, param, value: int) -> int:
    return check_cpus(value, "--threads")


def threads_option(what: str = "of the fit"):
    """``--threads``: torch CPU threads, an int in [0, CPUs] (0: torch's default), default 1."""
    return click.option(
        "--threads",
        type=click.IntRange(min=0),
        default=DEFAULT_THREADS,
        show_default=True,
        callback=_threads_bound,
        help=f"Torch CPU threads {what} (0 = torch's default), at most the CPUs this process may "
        "use. 1 is fastest for these small models, above all on a machine shared by several "
        "jobs.",
    )


def _device_form(ctx, param, value: str) -> str:
    from ividr.training.devices import DEVICE_HELP, check_device

    try:
        return check_device(value)
    except ValueError:
        raise click.BadParameter(f"must be {DEVICE_HELP}. Got {value!r} instead.") from None


def device_option(what: str | None = None, default: str | None = None):
    """``--device``: auto|cpu|cuda[:N] (its form checked while parsing), FitConfig's ``device``:
    its default and help are the spec's; ``what`` (e.g. "every run") ends the help as
    "For <what>.", ``default`` replaces the spec's (e.g. a benchmark's "cpu")."""
    from ividr.config import FitConfig

    field, spec = spec_of(FitConfig, "device")
    return click.option(
        "--device",
        default=field.default if default is None else default,
        show_default=True,
        metavar="auto|cpu|cuda[:N]",
        callback=_device_form,
        help=spec.help if what is None else f"{spec.help} For {what}.",
    )


def check_device_here(device: str) -> None:
    """A usage error (exit 2, one line) unless this machine has ``device``
    (:func:`ividr.training.devices.resolve_device`); call it before anything is written."""
    from ividr.training.devices import DeviceError, resolve_device

    try:
        resolve_device(device)
    except DeviceError as exc:
        raise click.BadParameter(str(exc), param_hint="'--device'") from None


def quiet_option(help: str = "No progress on stderr."):
    """``-q/--quiet``."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


def check_out(
    out: Path,
    *,
    overwrite: bool,
    written_by: Callable[[Path], bool],
    command: str,
    inputs: Iterable = (),
    files: Iterable[Path] | None = None,
    resumable: Callable[[Path], bool] | None = None,
) -> None:
    """A usage error naming ``--out`` (exit 2, one line) unless the command may write ``out``.

    The rule is :func:`simulator.files.check_output`, the same for every command; call this
    before any work starts. ``inputs`` are :class:`simulator.files.Input`.
    """
    from simulator.files import OutputError, check_output

    try:
        check_output(
            out,
            overwrite=overwrite,
            written_by=written_by,
            command=command,
            inputs=inputs,
            files=files,
            resumable=resumable,
        )
    except OutputError as exc:
        raise click.BadParameter(str(exc), param_hint="'--out'") from None


def given(ctx: click.Context, name: str) -> bool:
    """Whether the option ``name`` was given on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def flag(field: str) -> str:
    """The option of a FitConfig field: ``shuffle_aux`` -> ``--shuffle-aux``."""
    return "--" + field.replace("_", "-")


def check_fit_options(
    config, given_fields: Collection[str], models: Sequence[str], models_option: str
) -> None:
    """Usage errors for options that apply to none of ``models``, or that conflict (§7).

    Which option applies to which model is derived from the hyperparameter spec
    (:func:`ividr.api.model_fields`), never listed here. Every message names both options.

    Parameters
    ----------
    config : FitConfig
        The options' values (``config.model`` is the first model).
    given_fields : collection of str
        The FitConfig fields given on the command line.
    models : sequence of str
        The plain model names the options go to.
    models_option : str
        How the command line named them, e.g. ``--model mf``.
    """
    from ividr.api import model_fields
    from ividr.registry import LATENT_ONLY

    used = [model_fields(m) for m in models]
    for name in given_fields:
        if not any(name in fields for fields in used):
            takers = [m for m in _all_models() if name in model_fields(m)]
            raise click.BadParameter(
                f"does not apply to {models_option} (it applies to {', '.join(takers)}).",
                param_hint=f"'{flag(name)}'",
            )
    if config.grid:
        for name in ("lr", "weight_decay"):
            if name in given_fields:
                raise click.BadParameter(
                    "cannot be combined with --grid (the grid searches lr x weight decay).",
                    param_hint=f"'{flag(name)}'",
                )
    if config.latent_grid and "stop_on" in given_fields and config.stop_on != "elbo":
        raise click.BadParameter(
            f"{config.stop_on} cannot be combined with --latent-grid (the grid keeps the point "
            "with the lowest held-out negative ELBO).",
            param_hint="'--stop-on'",
        )
    if {"epochs", "latent_epochs"} <= set(given_fields) and set(models) <= set(LATENT_ONLY):
        raise click.BadParameter(
            f"cannot be combined with --epochs for {models_option} (both set its latent "
            "stage's maximum epochs).",
            param_hint="'--latent-epochs'",
        )
    _check_protocol_conflicts(config, given_fields, models)


def _all_models() -> tuple[str, ...]:
    from ividr.registry import MODEL_NAMES

    return MODEL_NAMES


def _check_protocol_conflicts(config, given_fields: Collection[str], models: Sequence[str]):
    """An option whose field the protocol sets (all but the kept maximum epochs) is overridden."""
    from ividr.training.protocols import protocol_settings

    for model in models:
        settings = protocol_settings(config.protocol, model)
        for name in sorted(set(given_fields) & set(settings) - {"epochs", "latent_epochs"}):
            raise click.BadParameter(
                f"cannot be combined with --protocol {config.protocol} (it sets {name} to "
                f"{settings[name]!r} for {model}).",
                param_hint=f"'{flag(name)}'",
            )


def config_option(name: str, **command_own):
    """``--<name>`` for the :class:`~ividr.config.FitConfig` field ``name``.

    Everything comes from the hyperparameter spec (:mod:`ividr.hyperparams`): the type, range,
    choices, default and help (an int field gives an IntRange, a float a finite FloatRange, a
    choice a Choice, a bool a flag; a None default shows the field's ``default_text``). The help
    is the spec's, never the command's: say more in the field's help. ``command_own`` are the
    documented keyword arguments of :func:`simulator.command.spec_option` (``default``,
    ``default_text``, ``choices``), for a command that genuinely differs from the spec, e.g. a
    sweep-level default.
    """
    from ividr.config import FitConfig

    return spec_option(FitConfig, name, **command_own)


def config_choices(name: str) -> tuple[str, ...]:
    """The choices of the :class:`~ividr.config.FitConfig` field ``name`` (a choice field)."""
    from ividr.config import FitConfig

    return tuple(spec_of(FitConfig, name)[1].choices)


def config_list_option(name: str, help: str, *, metavar: str):
    """``--<name>``: a comma-separated list of choices of the FitConfig field ``name``, default
    None (not given; the command checks the list against :func:`config_choices`). Its help is
    the command's ``help`` (what the list does), then the field's choices and their spec help."""
    from ividr.config import FitConfig

    spec = spec_of(FitConfig, name)[1]
    return click.option(
        flag(name),
        name,
        default=None,
        metavar=metavar,
        help=f"{help} The choices ({','.join(spec.choices)}): {spec.help}",
    )
