"""click options shared by the benchmark scripts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def results_dir_option(help_text: str, default: Path = RESULTS_DIR) -> Callable:
    """``--results-dir``: where a benchmark's tables (and resumable runs CSV) go."""
    return click.option(
        "--results-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help=help_text,
    )


def seeds_jobs_options(default_seeds: int = 10) -> Callable:
    """``--seeds`` (0..N-1) and ``--jobs`` (fits in parallel, default min(2, CPUs))."""

    def wrap(fn: Callable) -> Callable:
        fn = click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=max(1, min(2, os.cpu_count() or 1)),
            show_default=True,
            help="Fits in parallel (processes).",
        )(fn)
        return click.option(
            "--seeds",
            type=click.IntRange(min=1),
            default=default_seeds,
            show_default=True,
            help="Seeds 0..N-1.",
        )(fn)

    return wrap


def sweep_output_options(out_root: str, results_help: str) -> Callable:
    """``--out-root`` (the resumable sweep directories) and ``--results-dir`` (the tables)."""

    def wrap(fn: Callable) -> Callable:
        fn = results_dir_option(results_help)(fn)
        return click.option(
            "--out-root",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path(out_root),
            show_default=True,
            help="Sweep directories, one per preset (resumable).",
        )(fn)

    return wrap


def backend_option() -> Callable:
    """``--backend``: run_sweep's backend for a benchmark that runs its fits as a sweep."""
    return click.option(
        "--backend",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="run_sweep's backend: local processes or Ray tasks.",
    )


def sweep_dirs_option(default: str) -> Callable:
    """``--out``: the folder of a benchmark's resumable sweep directories."""
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help="Sweep directories (resumable: run the same command again to finish).",
    )
