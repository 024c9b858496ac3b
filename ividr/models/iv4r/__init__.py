"""IV4R-MF and the IV treatment reconstruction (§4.1)."""

from ividr.models.iv4r.estimator import IV4RMF, item_level_frequencies
from ividr.models.iv4r.net import IV4RMFNet, TreatmentReconstruction

__all__ = ["IV4RMF", "IV4RMFNet", "TreatmentReconstruction", "item_level_frequencies"]
