"""Confounded recommendation data: the simulator of docs/design.md §2 and the dataset loaders."""

from simulator.config import PRESETS, ConfigError, SimConfig  # noqa: E402
from simulator.dataset import (  # noqa: E402
    POSITIVE_THRESHOLD,
    DatasetError,
    Interactions,
    RecDataset,
)
from simulator.exporters import export_idcf, export_recbole  # noqa: E402
from simulator.generate import generate  # noqa: E402
from simulator.loaders import load_dataset  # noqa: E402
from simulator.simulated import SimulatedData  # noqa: E402
from simulator.version import __version__
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
