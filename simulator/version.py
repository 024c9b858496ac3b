"""The package version, read from the installed metadata (a source tree: the pyproject's)."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("ividr-toolkit")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
