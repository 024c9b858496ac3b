"""iDCF and iDCF-W."""

from ividr.models.idcf.estimator import IDCF, IDCFW
from ividr.models.idcf.net import LatentMFNet

__all__ = ["IDCF", "IDCFW", "LatentMFNet"]
