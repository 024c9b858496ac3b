"""Tests of metrics/ranking.py on hand-computed cases (ties, users without positives)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from metrics import ground_truth_ndcg_at_k, ndcg_recall_at_k, per_user_ndcg_recall

L3 = 1 / np.log2(3)  # discount of rank 2
L4 = 1 / np.log2(4)  # discount of rank 3 (= 0.5)


def test_docstring_examples():
    assert doctest.testmod(importlib.import_module("metrics.ranking")).failed == 0


def test_single_user_hand_computed():
    # Ranking by score: items 0, 1, 2, 3; relevant: 1 and 3.
    r = ndcg_recall_at_k([7, 7, 7, 7], [0.9, 0.8, 0.7, 0.6], [0, 1, 0, 1], k=2)
    assert r["ndcg@2"] == pytest.approx(L3 / (1 + L3))  # 0.3869
    assert r["recall@2"] == pytest.approx(0.5)
    assert r["n_users"] == 1 and r["n_skipped_users"] == 0
    r = ndcg_recall_at_k([7, 7, 7, 7], [0.9, 0.8, 0.7, 0.6], [0, 1, 0, 1], k=4)
    assert r["ndcg@4"] == pytest.approx((L3 + 1 / np.log2(5)) / (1 + L3))
    assert r["recall@4"] == 1.0


def test_rows_in_any_order_and_scores_decide():
    # Same user as above, rows shuffled: the result only depends on (score, relevance) pairs.
    r = ndcg_recall_at_k([7, 7, 7, 7], [0.6, 0.8, 0.9, 0.7], [1, 1, 0, 0], k=2)
    assert r["ndcg@2"] == pytest.approx(L3 / (1 + L3))


def test_recall_divides_by_all_positives_not_by_k():
    # 3 positives, k = 2, both top items relevant: NDCG 1, recall 2/3 (iDCF's convention).
    r = ndcg_recall_at_k([0] * 4, [4.0, 3.0, 2.0, 1.0], [1, 1, 0, 1], k=2)
    assert r["ndcg@2"] == pytest.approx(1.0)
    assert r["recall@2"] == pytest.approx(2 / 3)


def test_fewer_items_than_k():
    # 2 items, k = 5: the ideal DCG uses min(n_pos, k) = 1 item.
    r = ndcg_recall_at_k([3, 3], [0.1, 0.2], [1, 0], k=5)
    assert r["ndcg@5"] == pytest.approx(L3)
    assert r["recall@5"] == 1.0


def test_ties_broken_by_input_order():
    # All scores equal: the ranking is the input order.
    r = ndcg_recall_at_k([0, 0, 0], [0.5, 0.5, 0.5], [0, 1, 0], k=1)
    assert r["ndcg@1"] == 0.0 and r["recall@1"] == 0.0
    r = ndcg_recall_at_k([0, 0, 0], [0.5, 0.5, 0.5], [1, 0, 0], k=1)
    assert r["ndcg@1"] == 1.0 and r["recall@1"] == 1.0
    # A partial tie: item 0 beats the tied items 1 and 2, which keep their input order.
    r = ndcg_recall_at_k([0, 0, 0, 0], [0.9, 0.4, 0.4, 0.1], [0, 0, 1, 1], k=3)
    assert r["ndcg@3"] == pytest.approx(L4 / (1 + L3))
    assert r["recall@3"] == pytest.approx(0.5)


def test_users_without_positive_are_skipped_and_counted():
    user = [0, 0, 1, 1, 2, 2, 2]
    score = [0.9, 0.1, 0.8, 0.2, 0.3, 0.2, 0.1]
    rel = [1, 0, 0, 0, 0, 1, 0]  # user 1 has no positive
    r = ndcg_recall_at_k(user, score, rel, k=2)
    assert r["n_users"] == 2 and r["n_skipped_users"] == 1
    assert r["ndcg@2"] == pytest.approx((1.0 + L3) / 2)  # user 0: 1; user 2: positive at rank 2
    assert r["recall@2"] == pytest.approx(1.0)
    users, ndcg, recall = per_user_ndcg_recall(user, score, rel, k=2)
    assert users.tolist() == [0, 2]
    assert ndcg == pytest.approx([1.0, L3])
    assert recall.tolist() == [1.0, 1.0]


def test_interleaved_users():
    user = [5, 2, 5, 2, 5]
    score = [0.1, 0.9, 0.7, 0.3, 0.5]
    rel = [1, 0, 0, 1, 0]
    # user 2: items ranked (0.9 irrelevant, 0.3 relevant); user 5: 0.7, 0.5, 0.1 (relevant last).
    users, ndcg, recall = per_user_ndcg_recall(user, score, rel, k=3)
    assert users.tolist() == [2, 5]
    assert ndcg == pytest.approx([L3, L4])
    assert recall.tolist() == [1.0, 1.0]


def test_no_user_has_a_positive():
    r = ndcg_recall_at_k([0, 1], [0.5, 0.5], [0, 0], k=5)
    assert np.isnan(r["ndcg@5"]) and np.isnan(r["recall@5"])
    assert r["n_users"] == 0 and r["n_skipped_users"] == 2
    users, ndcg, recall = per_user_ndcg_recall([], [], [], k=5)
    assert len(users) == len(ndcg) == len(recall) == 0


def _loop_ndcg_recall(user, score, rel, k):
    """Direct per-user computation, with Python's stable sort for ties."""
    out = {}
    for u in sorted(set(user)):
        rows = [i for i in range(len(user)) if user[i] == u]
        ranked = sorted(rows, key=lambda i: -score[i])
        n_pos = sum(rel[i] for i in rows)
        if n_pos == 0:
            continue
        dcg = sum(rel[i] / np.log2(r + 2) for r, i in enumerate(ranked[:k]))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(n_pos, k)))
        out[u] = (dcg / idcg, sum(rel[i] for i in ranked[:k]) / n_pos)
    return out


def test_matches_direct_loop_with_ties():
    rng = np.random.default_rng(0)
    n = 300
    user = rng.integers(0, 25, size=n).tolist()
    score = rng.integers(0, 4, size=n).astype(float).tolist()  # many ties
    rel = (rng.random(n) < 0.3).astype(int).tolist()
    expected = _loop_ndcg_recall(user, score, rel, 5)
    users, ndcg, recall = per_user_ndcg_recall(user, score, rel, k=5)
    assert users.tolist() == sorted(expected)
    assert ndcg == pytest.approx([expected[u][0] for u in users.tolist()])
    assert recall == pytest.approx([expected[u][1] for u in users.tolist()])


def test_ground_truth_ndcg():
    true = np.array([[5, 1, 4], [1, 2, 3]])  # user 1 has no rating >= 4: skipped
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    # user 0 ranks items 1 (irrelevant), 2 (relevant), 0 (relevant); k = 2.
    assert ground_truth_ndcg_at_k(true, scores, 2) == pytest.approx(L3 / (1 + L3))
    # threshold 3: user 1's only relevant item (rating 3) is ranked last, outside the top 2.
    assert ground_truth_ndcg_at_k(true, scores, 2, threshold=3) == pytest.approx(
        np.mean([L3 / (1 + L3), 0.0])
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ndcg_recall_at_k([0], [0.1], [1], k=0), "'k' parameter"),
        (lambda: ndcg_recall_at_k([0], [0.1], [1], k=1.5), "'k' parameter"),
        (lambda: ndcg_recall_at_k([0, 0], [0.1], [1, 0]), "same length"),
        (lambda: ndcg_recall_at_k([0, 0], [0.1, np.nan], [1, 0]), "NaN"),
        (lambda: ground_truth_ndcg_at_k(np.ones((2, 3)), np.ones((3, 2))), "same shape"),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
