"""VAE and iVAE over the exposure rows (App. D.1)."""

from ividr.models.ivae.estimator import IVAE, VAE
from ividr.models.ivae.net import IVAENet

__all__ = ["IVAE", "VAE", "IVAENet"]
