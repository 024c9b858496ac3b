"""Confounded recommendation data: the simulator of docs/design.md §2 and the dataset loaders."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("ividr-toolkit")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

from simulator.config import PRESETS, ConfigError, SimConfig  # noqa: E402
from simulator.dataset import (  # noqa: E402
    POSITIVE_THRESHOLD,
    DatasetError,
    Interactions,
    RecDataset,
)
from simulator.exporters import export_idcf, export_recbole  # noqa: E402
from simulator.generate import SimulatedData, generate  # noqa: E402
from simulator.loaders import load_dataset  # noqa: E402
from simulator.writer import OutputExistsError, write_dataset  # noqa: E402

__all__ = [
    "POSITIVE_THRESHOLD",
    "PRESETS",
    "ConfigError",
    "DatasetError",
    "Interactions",
    "OutputExistsError",
    "RecDataset",
    "SimConfig",
    "SimulatedData",
    "__version__",
    "export_idcf",
    "export_recbole",
    "generate",
    "load_dataset",
    "write_dataset",
]
