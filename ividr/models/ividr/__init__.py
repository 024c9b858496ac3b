"""IViDR and its ablations."""

from ividr.models.ividr.estimator import IViDR, user_mean_treatment
from ividr.models.ividr.net import FusedIVAENet

__all__ = ["FusedIVAENet", "IViDR", "user_mean_treatment"]
