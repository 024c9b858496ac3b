"""click options shared by the benchmark scripts that run sweeps (one directory per preset)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def sweep_output_options(out_root: str, results_help: str) -> Callable:
    """``--out-root`` (the resumable sweep directories) and ``--results-dir`` (the tables)."""

    def wrap(fn: Callable) -> Callable:
        fn = click.option(
            "--results-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=RESULTS_DIR,
            show_default=True,
            help=results_help,
        )(fn)
        return click.option(
            "--out-root",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(out_root),
            show_default=True,
            help="Sweep directories, one per preset (resumable).",
        )(fn)

    return wrap
