"""Confounded recommendation data: the simulator of DESIGN.md §2 and the dataset loaders."""

from simulator.dataset import POSITIVE_THRESHOLD, DatasetError, Interactions, RecDataset
from simulator.loaders import load_dataset

__all__ = ["POSITIVE_THRESHOLD", "DatasetError", "Interactions", "RecDataset", "load_dataset"]
