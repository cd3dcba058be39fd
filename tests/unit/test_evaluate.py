"""Next-item evaluation through the served recommender: ranks, coverage, strategies, errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from engine.build import build_model

from engine.errors import ConfigError, DataError, SchemaError
from engine.metrics import hit_rate_and_mrr
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.recommender import Filters, SessionRecommender
from pipelines.evaluate import (
    NEXT_DIFFERENT,
    NEXT_VIEW,
    SYSTEMS,
    answer,
    evaluate_protocols,
    evaluate_recommender,
    protocol_pairs,
    read_test_pairs,
)
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
    return SessionRecommender(build_model(corpus, vectors, threads=1))


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


def test_the_product_page_protocol_asks_for_the_next_different_product(recommender):
    prefixes = [["c0_i1", "c0_i2"], ["c0_i1", "c0_i2"], ["c0_i3", "c0_i4"], ["c0_i5", "c0_i5"]]
    targets = ["c0_i2", "c0_i1", "c0_i5", "c0_i6"]
    pairs = _pairs(prefixes, targets)
    # the repeat (c0_i2 after c0_i2) is not asked for on the product page
    assert protocol_pairs(pairs, NEXT_DIFFERENT)[1] == ["c0_i1", "c0_i5", "c0_i6"]
    assert protocol_pairs(pairs, NEXT_VIEW)[1] == targets
    page = evaluate_recommender(recommender, pairs, k=20, progress=False, protocol=NEXT_DIFFERENT)
    assert page.pairs == 3 and page.protocol == NEXT_DIFFERENT
    # answered as the API answers: the current product and the session's items never shown
    for prefix in prefixes:
        for system in SYSTEMS:
            shown = answer(recommender, prefix, 20, NEXT_DIFFERENT, system).item_ids
            assert not set(shown) & set(prefix), (system, prefix)
    api = recommender.recommend(["c0_i1"], current_item="c0_i2", k=20)
    assert answer(recommender, ["c0_i1", "c0_i2"], 20, NEXT_DIFFERENT, "nowrec").item_ids == (
        api.item_ids
    )
    # so going back to a product seen before is a miss on the page, a hit in the papers'
    back = _pairs([["c0_i1", "c0_i2"]], ["c0_i1"])
    assert evaluate_recommender(recommender, back, 20, False, NEXT_VIEW).hit_rate == 1.0
    assert evaluate_recommender(recommender, back, 20, False, NEXT_DIFFERENT).hit_rate == 0.0


def test_baselines_on_the_same_pairs(recommender):
    pairs = _pairs([["c0_i1", "c0_i2"], ["c1_i5", "c1_i7"]], ["c0_i3", "c1_i8"])
    report = evaluate_protocols(recommender, pairs, k=10, systems=SYSTEMS, progress=False)
    popular = [answer(recommender, p, 10, NEXT_VIEW, "popular").item_ids for p in
               (["c0_i1", "c0_i2"], ["c1_i5", "c1_i7"])]  # fmt: skip
    assert popular[0] == popular[1] == list(recommender.recommend([], k=10).item_ids)
    # the current product's neighbours: what the service answers knowing only that product
    item = answer(recommender, ["c1_i5", "c1_i7"], 10, NEXT_DIFFERENT, "item")
    alone = recommender.recommend(["c1_i7"], current_item="c1_i7", k=10,
                                  filters=Filters(exclude=frozenset(["c1_i5"])))  # fmt: skip
    assert item.strategy == "item" and item.item_ids == alone.item_ids
    table = report.table()
    for system in SYSTEMS:
        assert system in table
    assert report.get(NEXT_VIEW, "nowrec").hit_rate >= report.get(NEXT_VIEW, "popular").hit_rate
    assert set(report.to_dict()) == {NEXT_VIEW, NEXT_DIFFERENT}
    with pytest.raises(ConfigError, match="unknown system"):
        evaluate_protocols(recommender, pairs, systems=("best",))
