import numpy as np

from engine.metrics import hit_rate_and_mrr, rank_in_top, rank_of


def test_rank_counts_higher_and_earlier_ties():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5])
    assert rank_of(scores, 1) == 1
    assert rank_of(scores, 0) == 2
    assert rank_of(scores, 2) == 3  # tied with 0 and 4, only 0 comes before
    assert rank_of(scores, 4) == 4
    assert rank_of(scores, 3) == 5


def test_non_finite_target_is_a_miss():
    assert rank_of(np.array([1.0, -np.inf]), 1) == 3


def test_hit_rate_and_mrr():
    hr, mrr = hit_rate_and_mrr(np.array([1, 2, 30, 4]), k=20)
    assert hr == 0.75
    assert np.isclose(mrr, (1 + 0.5 + 0 + 0.25) / 4)
    assert hit_rate_and_mrr(np.array([]), k=20) == (0.0, 0.0)


def test_rank_in_top_is_the_position_in_the_list_or_a_miss():
    assert rank_in_top(["a", "b", "c"], "b", 20) == 2
    assert rank_in_top(["a", "b", "c"], "c", 2) == 3  # beyond the cut-off: k + 1
    assert rank_in_top(["a", "b"], "z", 20) == 21
