"""Next-item evaluation through the served recommender: ranks, coverage, strategies, errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import ConfigError, DataError, SchemaError
from engine.metrics import hit_rate_and_mrr
from engine.model import RecommenderModel
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.recommender import Filters, SessionRecommender
from pipelines.evaluate import evaluate_recommender, read_test_pairs
from tests.synthetic import category_corpus


def _pairs(prefixes, targets):
    return pa.table(
        {
            "prefix": pa.array(prefixes, pa.list_(pa.string())),
            "target": pa.array(targets, pa.string()),
        }
    )


@pytest.fixture(scope="module")
def recommender():
    corpus = category_corpus(n_sessions=800)
    vectors = make_trainer(Prod2VecConfig(backend="gensim", dim=8, epochs=2, threads=1)).fit(corpus)
    return SessionRecommender(RecommenderModel.build(corpus, vectors, threads=1))


def test_scores_through_the_recommender(recommender):
    prefixes = [["c0_i1", "c0_i2"], ["c1_i5"], ["c0_i3"], ["nope"], ["c1_i7", "c1_i7"]]
    targets = ["c0_i3", "c1_i6", "c0_i17", "c0_i1", "missing"]
    expected = []
    for prefix, target in zip(prefixes, targets, strict=True):
        got = recommender.recommend(prefix, k=5, filters=Filters(exclude_seen=False)).item_ids
        expected.append(got.index(target) + 1 if target in got else 10**9)
    result = evaluate_recommender(recommender, _pairs(prefixes, targets), k=5, progress=False)
    hr, mrr = hit_rate_and_mrr(np.array(expected), 5)
    assert result.hit_rate == pytest.approx(hr) and result.mrr == pytest.approx(mrr)
    assert result.hit_rate >= 0.4  # the planted c0_i3 -> c0_i17 and the ring steps are easy
    assert result.unknown_targets == 1
    assert result.strategies == {"session": pytest.approx(0.8), "popular": pytest.approx(0.2)}
    assert 0 < result.coverage <= 1
    assert "HR@5" in result.line() and "popular 20.0%" in result.line()
    exact = evaluate_recommender(
        SessionRecommender(recommender.model, exact=True), _pairs(prefixes, targets), k=5,
        progress=False,
    )  # fmt: skip
    assert exact.exact and not result.exact


def test_repeats_count_as_hits(recommender):
    # the protocol of the papers: a target already in the prefix may be recommended
    result = evaluate_recommender(
        recommender, _pairs([["c0_i1", "c0_i2"]], ["c0_i2"]), k=20, progress=False
    )
    assert result.hit_rate == 1.0


def test_k_out_of_range(recommender):
    with pytest.raises(ConfigError):
        evaluate_recommender(recommender, _pairs([["c0_i1"]], ["c0_i2"]), k=0)


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
