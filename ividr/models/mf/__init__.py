"""Matrix factorisation recommenders: MF (Eq. 23) and MF-WF."""

from ividr.models.mf.estimator import MF, MFWF
from ividr.models.mf.net import MFNet, MFWFNet

__all__ = ["MF", "MFWF", "MFNet", "MFWFNet"]
