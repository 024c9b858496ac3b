"""Pure metric functions over numpy arrays (no torch): ranking metrics and MCC."""

from metrics.ranking import ground_truth_ndcg_at_k, ndcg_recall_at_k, per_user_ndcg_recall

__all__ = ["ground_truth_ndcg_at_k", "ndcg_recall_at_k", "per_user_ndcg_recall"]
