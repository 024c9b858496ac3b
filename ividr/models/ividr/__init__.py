"""IViDR and its ablations."""

from ividr.models.ividr.estimator import IViDR
from ividr.models.ividr.net import FusedIVAENet
from ividr.models.ividr.released import IViDRReleased, ReleasedFusedIVAENet
from ividr.training.treatments import user_mean_treatment

__all__ = [
    "FusedIVAENet",
    "IViDR",
    "IViDRReleased",
    "ReleasedFusedIVAENet",
    "user_mean_treatment",
]
