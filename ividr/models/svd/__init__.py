"""Linear baselines: truncated SVD of the exposure matrix, and of [exposures, one-hot W]."""

from ividr.models.svd.estimator import SVD, svd_factors
from ividr.models.svd.net import SVDNet

__all__ = ["SVD", "SVDNet", "svd_factors"]
