import numpy as np
import pytest

from benchmarks.support.vector_scoring import (
    next_item_ranks,
    next_item_scores,
    recency_weights,
    session_vector,
)
from engine.errors import ConfigError
from engine.metrics import rank_of
from engine.vectors import ItemVectors


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    n, dim = 50, 8
    return ItemVectors(
        item_ids=np.array([f"i{k}" for k in range(n)], dtype=object),
        input=rng.normal(size=(n, dim)).astype(np.float32),
        output=rng.normal(size=(n, dim)).astype(np.float32),
    )


def test_recency_weights():
    w = recency_weights(4, 1.0)
    np.testing.assert_allclose(w, np.array([1, 2, 3, 4]) / 10, rtol=1e-6)
    np.testing.assert_allclose(recency_weights(5, 0.0), np.full(5, 0.2), rtol=1e-6)
    steep = recency_weights(5, 4.0)
    assert np.all(np.diff(steep) > 0) and steep[-1] > w[-1] and np.isclose(steep.sum(), 1)
    assert len(recency_weights(0)) == 0
    with pytest.raises(ConfigError, match="recency"):
        recency_weights(3, -1.0)


def test_scores_are_weighted_input_mean_dotted_with_outputs(vectors):
    prefix = [3, 7, 7, 1]
    w = np.array([1, 2, 3, 4]) / 10
    expected = vectors.output @ (w @ vectors.input[prefix])
    np.testing.assert_allclose(next_item_scores(vectors, prefix), expected, rtol=1e-5)
    assert np.all(session_vector(vectors, []) == 0)
    assert np.all(next_item_scores(vectors, []) == 0)


def test_batched_ranks_match_rank_of(vectors):
    rng = np.random.default_rng(1)
    prefixes = [list(rng.integers(0, 50, size=rng.integers(1, 6))) for _ in range(40)]
    prefixes.append([])  # every item ties at 0: pessimistic ties rank by index
    targets = list(rng.integers(0, 50, size=40)) + [17]
    ranks = next_item_ranks(vectors, prefixes, targets, recency=2.0, batch_size=7)
    expected = [
        rank_of(next_item_scores(vectors, p, recency=2.0), t)
        for p, t in zip(prefixes, targets, strict=True)
    ]
    assert list(ranks) == expected
    assert ranks[-1] == 18
    unknown = next_item_ranks(vectors, [[1, 2]], [-1])
    assert unknown[0] == len(vectors) + 1
    with pytest.raises(ConfigError, match="2 prefixes for 1 targets"):
        next_item_ranks(vectors, [[1], [2]], [3])


def test_ranks_within_groups(vectors):
    groups = np.arange(len(vectors)) % 3
    prefixes, targets = [[1, 4], [2], [9, 9, 3]], [5, 8, 30]
    ranks = next_item_ranks(vectors, prefixes, targets, groups=groups)
    for p, t, r in zip(prefixes, targets, ranks, strict=True):
        members = np.flatnonzero(groups == groups[t])
        scores = next_item_scores(vectors, p)[members]
        assert r == rank_of(scores, int(np.flatnonzero(members == t)[0]))
    with pytest.raises(ConfigError, match="groups for"):
        next_item_ranks(vectors, prefixes, targets, groups=groups[:5])
