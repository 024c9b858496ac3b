"""The recommenders and the linear baselines: one subpackage per model family, each with its
torch module (``net.py``) and its numpy-facing estimator (``estimator.py``)."""

from ividr.models.base import BaseRecommender, NotFittedError, TrainingDivergedError
from ividr.models.idcf import IDCF, IDCFW
from ividr.models.iv4r import IV4RMF
from ividr.models.ivae import IVAE, VAE
from ividr.models.ividr import IViDR, IViDRReleased
from ividr.models.mf import MF, MFWF
from ividr.models.svd import SVD

__all__ = [
    "IDCF",
    "IDCFW",
    "IV4RMF",
    "IVAE",
    "MF",
    "MFWF",
    "SVD",
    "VAE",
    "BaseRecommender",
    "IViDR",
    "IViDRReleased",
    "NotFittedError",
    "TrainingDivergedError",
]
