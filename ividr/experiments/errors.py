"""The error of the experiments package: a sweep that cannot run, and why."""

from __future__ import annotations

from metrics.checks import ParameterError

__all__ = ["SweepError"]


class SweepError(ParameterError):
    """A sweep's configuration or directory is not usable; the message says why."""
