"""IViDR, iDCF and baseline recommenders, their training, and the experiment tooling."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ividr-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
