"""Top-K ranking metrics on an unbiased test set (docs/design.md §5), as iDCF computes them.

Each user's candidate list is the set of items that user rated in the test set; the model ranks
those items by score. Relevance is binary (rating >= 4). Users without a single positive are
skipped (their NDCG and recall are undefined) and counted in ``n_skipped_users``.

- NDCG@K = DCG@K / IDCG@K with DCG@K = sum over the top K of rel / log2(rank + 1) and IDCG@K the
  DCG of min(n_pos, K) relevant items in front.
- Recall@K = (relevant items in the top K) / n_pos, as in iDCF's evaluator (not / min(n_pos, K)).

Ties in the score are broken by the order of the rows in the input (a stable sort), so the
result is deterministic; callers that want a random tie-break shuffle the rows first.
"""

from __future__ import annotations

import numpy as np

from metrics.checks import check_int


def _check_arrays(user, score, relevance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    user = np.asarray(user)
    score = np.asarray(score, dtype=np.float64)
    relevance = np.asarray(relevance)
    if user.ndim != 1 or score.shape != user.shape or relevance.shape != user.shape:
        raise ValueError(
            "user, score and relevance must be 1-d arrays of the same length; got shapes "
            f"{user.shape}, {score.shape}, {relevance.shape}"
        )
    if np.isnan(score).any():
        raise ValueError("score contains NaN")
    return user.astype(np.int64), score, relevance.astype(bool)


def per_user_ndcg_recall(
    user: np.ndarray, score: np.ndarray, relevance: np.ndarray, k: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NDCG@K and Recall@K of each user with at least one relevant item.

    Parameters
    ----------
    user : array-like of shape (n,)
        User id of each (user, item) row of the test set.
    score : array-like of shape (n,)
        The model's score of each row (higher ranks first).
    relevance : array-like of shape (n,)
        Binary relevance of each row (True/1 = positive feedback).
    k : int, default 5
        Cut-off.

    Returns
    -------
    users : ndarray of shape (n_scored,)
        The users scored (those with a positive), sorted.
    ndcg, recall : ndarray of shape (n_scored,)
    """
    check_int(k, "k", "per_user_ndcg_recall", low=1)
    user, score, relevance = _check_arrays(user, score, relevance)
    if user.size == 0:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty
    # Sort by user, then by descending score; np.lexsort is stable, so ties keep input order.
    order = np.lexsort((-score, user))
    u_sorted, rel_sorted = user[order], relevance[order]
    uniq, start, counts = np.unique(u_sorted, return_index=True, return_counts=True)
    rank = np.arange(len(u_sorted)) - np.repeat(start, counts)  # 0-based rank within the user
    group = np.repeat(np.arange(len(uniq)), counts)

    discount = 1.0 / np.log2(np.arange(2, k + 2))
    in_top = rank < k
    gains = np.zeros(len(u_sorted))
    gains[in_top] = rel_sorted[in_top] * discount[rank[in_top]]
    dcg = np.bincount(group, weights=gains, minlength=len(uniq))
    hits = np.bincount(group, weights=(rel_sorted & in_top).astype(float), minlength=len(uniq))
    n_pos = np.bincount(group, weights=rel_sorted.astype(float), minlength=len(uniq))

    ideal = np.concatenate([[0.0], np.cumsum(discount)])
    idcg = ideal[np.minimum(n_pos, k).astype(np.int64)]
    valid = n_pos > 0
    return uniq[valid], dcg[valid] / idcg[valid], hits[valid] / n_pos[valid]


def ndcg_recall_at_k(
    user: np.ndarray, score: np.ndarray, relevance: np.ndarray, k: int = 5
) -> dict[str, float]:
    """Mean NDCG@K and Recall@K over users with at least one relevant item.

    Parameters are those of :func:`per_user_ndcg_recall`.

    Returns
    -------
    dict
        ``{"ndcg@K": float, "recall@K": float, "n_users": int, "n_skipped_users": int}``;
        the means are NaN when no user has a positive.

    Examples
    --------
    >>> r = ndcg_recall_at_k([0, 0, 0], [0.9, 0.5, 0.1], [0, 1, 0], k=2)
    >>> round(r["ndcg@2"], 4), r["recall@2"]
    (0.6309, 1.0)
    """
    users, ndcg, recall = per_user_ndcg_recall(user, score, relevance, k)
    n_all = len(np.unique(np.asarray(user)))
    return {
        f"ndcg@{k}": float(ndcg.mean()) if len(users) else float("nan"),
        f"recall@{k}": float(recall.mean()) if len(users) else float("nan"),
        "n_users": int(len(users)),
        "n_skipped_users": int(n_all - len(users)),
    }


def ground_truth_ndcg_at_k(
    true_ratings: np.ndarray, scores: np.ndarray, k: int = 5, *, threshold: int = 4
) -> float:
    """NDCG@K of full-catalogue rankings against the simulator's true rating matrix.

    Parameters
    ----------
    true_ratings : ndarray of shape (n_users, n_items)
        The true rating of every cell (simulator truth).
    scores : ndarray of shape (n_users, n_items)
        The model's score of every cell.
    k : int, default 5
    threshold : int, default 4
        Ratings at or above it are relevant.

    Returns
    -------
    float
        Mean NDCG@K over users with at least one relevant item.
    """
    true_ratings = np.asarray(true_ratings)
    scores = np.asarray(scores, dtype=np.float64)
    if true_ratings.shape != scores.shape or true_ratings.ndim != 2:
        raise ValueError(
            f"true_ratings and scores must be 2-d of the same shape; got {true_ratings.shape} "
            f"and {scores.shape}"
        )
    n_users, n_items = scores.shape
    user = np.repeat(np.arange(n_users), n_items)
    return ndcg_recall_at_k(user, scores.ravel(), (true_ratings >= threshold).ravel(), k)[
        f"ndcg@{k}"
    ]
