"""IViDR and its ablations."""

from ividr.models.ividr.estimator import IViDR, user_mean_treatment
from ividr.models.ividr.net import FusedIVAENet
from ividr.models.ividr.released import IViDRReleased, ReleasedFusedIVAENet

__all__ = [
    "FusedIVAENet",
    "IViDR",
    "IViDRReleased",
    "ReleasedFusedIVAENet",
    "user_mean_treatment",
]
