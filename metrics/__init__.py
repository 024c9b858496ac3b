"""Pure metric functions over numpy arrays (no torch): ranking, MCC and identifiability diagnostics.

Rows are users everywhere. Bad inputs raise :class:`MetricInputError` (a ``ValueError``).
"""

from metrics._validation import MetricInputError
from metrics.bootstrap import bootstrap_ci, paired_t_test
from metrics.identifiability import (
    aux_preconditions,
    gaussian_natural_parameters,
    prior_parameter_matrix_check,
)
from metrics.iv import WEAK_INSTRUMENT_F, first_stage_strength
from metrics.mcc import MCCMatch, align_latents, correlation_matrix, mcc, mcc_all, mcc_matching
from metrics.ranking import ground_truth_ndcg_at_k, ndcg_recall_at_k, per_user_ndcg_recall
from metrics.reference import (
    chance_mcc,
    exposure_r2,
    group_means,
    mcc_supervised,
    proxy_chance_mcc,
    proxy_oracle,
)
from metrics.reliability import kelley_shrink, spearman_brown, split_half_reliability
from metrics.spread import variance_split

__all__ = [
    "WEAK_INSTRUMENT_F",
    "MCCMatch",
    "MetricInputError",
    "align_latents",
    "aux_preconditions",
    "bootstrap_ci",
    "chance_mcc",
    "correlation_matrix",
    "exposure_r2",
    "first_stage_strength",
    "gaussian_natural_parameters",
    "ground_truth_ndcg_at_k",
    "group_means",
    "kelley_shrink",
    "mcc",
    "mcc_all",
    "mcc_matching",
    "mcc_supervised",
    "ndcg_recall_at_k",
    "paired_t_test",
    "per_user_ndcg_recall",
    "prior_parameter_matrix_check",
    "proxy_chance_mcc",
    "proxy_oracle",
    "spearman_brown",
    "split_half_reliability",
    "variance_split",
]
