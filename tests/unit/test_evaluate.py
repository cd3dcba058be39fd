"""Next-item evaluation: scores, ranks with pessimistic ties, unknown ids, file errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import DataError, SchemaError
from engine.metrics import hit_rate_and_mrr, rank_of
from engine.vectors import ItemVectors
from pipelines.evaluate import evaluate_pairs, next_item_scores, read_test_pairs


def _pairs(prefixes, targets):
    return pa.table(
        {"prefix": pa.array(prefixes, pa.list_(pa.int64())), "target": pa.array(targets)}
    )


def _vectors():
    # input = identity, so the score of item j after prefix [x] is output[j, x]:
    # column x of `out` is the score vector for prefix [x].
    out = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],  # item "1"
            [3.0, 1.0, 0.0, 0.0],  # item "2"
            [2.0, 1.0, 0.0, 0.0],  # item "3"
            [1.0, 1.0, 0.0, 0.0],  # item "4"
        ],
        dtype=np.float32,
    )
    return ItemVectors(
        item_ids=np.array(["1", "2", "3", "4"], dtype=object),
        input=np.eye(4, dtype=np.float32),
        output=out,
    )


def test_ranks_ties_unknown_targets_and_empty_prefixes():
    v = _vectors()
    pairs = _pairs(
        [[1], [1], [1], [2], [99], [1]],
        [2, 3, 1, 3, 4, 12345],
    )
    # after "1": 2 (3.0) > 3 (2.0) > 4 (1.0) > 1 (0.0)  -> ranks 1, 2, 4
    # after "2": all tie at 1.0; target "3" has two items before it -> rank 3
    # prefix of unknown items: all scores 0, target "4" last of 4 ties -> rank 4
    # unknown target -> miss
    ranks = np.array([1, 2, 4, 3, 4, 10**9])
    for k in (1, 2, 3, 20):
        result = evaluate_pairs(v, pairs, k=k)
        hr, mrr = hit_rate_and_mrr(ranks, k)
        assert result.hit_rate == pytest.approx(hr) and result.mrr == pytest.approx(mrr)
    result = evaluate_pairs(v, pairs, k=2)
    assert result.hit_rate == pytest.approx(2 / 6)
    assert result.unknown_targets == 1 and result.empty_prefixes == 1
    assert "HR@2 0.3333" in result.line()


def test_batched_ranks_match_brute_force_rank_of():
    rng = np.random.default_rng(0)
    n, d = 50, 8
    v = ItemVectors(
        item_ids=np.array([str(i) for i in range(n)], dtype=object),
        input=rng.normal(size=(n, d)).astype(np.float32),
        output=rng.normal(size=(n, d)).astype(np.float32),
    )
    prefixes = [list(rng.integers(0, n, rng.integers(1, 6))) for _ in range(40)]
    targets = list(rng.integers(0, n, 40))
    expected = [
        rank_of(next_item_scores(v, np.array(p), recency=0.5), int(t))
        for p, t in zip(prefixes, targets, strict=True)
    ]
    result = evaluate_pairs(v, _pairs(prefixes, targets), k=10, recency=0.5, batch_size=7)
    hr, mrr = hit_rate_and_mrr(np.array(expected), 10)
    assert result.hit_rate == pytest.approx(hr) and result.mrr == pytest.approx(mrr, rel=1e-5)


def test_recency_weights_favour_the_last_item():
    v = _vectors()
    scores = next_item_scores(v, np.array([0, 1]), recency=0.5)
    # session = (0.5 * e0 + 1 * e1) / 1.5
    expected = v.output @ (np.array([0.5, 1.0, 0, 0]) / 1.5)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert not next_item_scores(v, np.array([], dtype=np.int64)).any()


def test_test_pairs_file_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_test_pairs(tmp_path / "nope.parquet")
    pq.write_table(pa.table({"prefix": [[1]], "next": [2]}), tmp_path / "a.parquet")
    with pytest.raises(SchemaError, match=r"lack column\(s\) \['target'\]"):
        read_test_pairs(tmp_path / "a.parquet")
    pq.write_table(pa.table({"prefix": [1], "target": [2]}), tmp_path / "b.parquet")
    with pytest.raises(SchemaError, match="must be a list"):
        read_test_pairs(tmp_path / "b.parquet")
    pq.write_table(_pairs([], []), tmp_path / "c.parquet")
    with pytest.raises(DataError, match="is empty"):
        read_test_pairs(tmp_path / "c.parquet")
    (tmp_path / "d.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read test pairs"):
        read_test_pairs(tmp_path / "d.parquet")
