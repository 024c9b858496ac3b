"""The ``ividr`` console script: one click group; each subcommand lives in its own module.

Usage errors of the group and of every subcommand are one line with exit code 2
(:mod:`simulator.command`, as ``simgen``'s)."""

from __future__ import annotations

import click

from ividr import __version__
from simulator.command import OneLineGroup


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ividr")
def main() -> None:
    """Fit debiasing recommenders (IViDR, iDCF, baselines), sweep them, plot and score latents."""


def _register() -> None:
    # Subcommands register themselves here; a module that is absent is simply not offered.
    import importlib

    for module, name in (
        ("ividr.cli.fit", "fit"),
        ("ividr.cli.sweep", "sweep"),
        ("ividr.cli.plot", "plot"),
        ("ividr.cli.score", "score"),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        main.add_command(getattr(mod, name))


_register()
