"""Cold-start evaluation: held-out products get metadata vectors that find their co-views."""

import duckdb
import numpy as np

from engine.corpus import SessionCorpus
from engine.prod2vec import Prod2VecConfig
from pipelines.cold_start_eval import co_viewed, drop_items, evaluate_cold_start
from pipelines.demo_shop import DemoShopConfig, generate
from pipelines.metadata import join_items, read_metadata
from pipelines.sessionize import sessionize
from pipelines.train import item_metadata


def test_drop_items_removes_views_and_short_sessions():
    c = SessionCorpus.from_sequences([["a", "b", "c"], ["b", "x"], ["x", "c", "a"]])
    out = drop_items(c, np.array([c.index_of("x")]))
    assert "x" not in set(out.item_ids)
    assert [list(out.item_ids[out.session(s)]) for s in range(out.n_sessions)] == [
        ["a", "b", "c"],
        ["c", "a"],
    ]
    assert out.item_counts.tolist() == [2, 1, 2]


def test_co_viewed_counts_sessions():
    c = SessionCorpus.from_sequences([["a", "b", "c"], ["a", "b"], ["a", "c", "d"]])
    top = co_viewed(c, np.array([c.index_of("a")]), k=2)[c.index_of("a")]
    assert list(c.item_ids[top]) == ["b", "c"]


def test_cold_start_beats_same_category_popular_on_the_demo_shop():
    # the demo shop's co-view neighbourhoods are products of one category and similar price:
    # metadata (price) must find them better than the category's best-sellers do
    shop = generate(DemoShopConfig(n_products=3000, n_sessions=15000, n_users=5000, seed=3))
    con = duckdb.connect()
    sessions = sessionize(con, con.from_arrow(shop.events))
    products, _ = read_metadata(con, con.from_arrow(shop.products))
    items, corpus, _, _ = join_items(sessions.items, sessions.corpus, products)
    meta = item_metadata(items)
    report = evaluate_cold_start(
        corpus, meta, Prod2VecConfig(backend="gensim", dim=16, epochs=2, threads=1),
        min_views=10, progress=False,
    )  # fmt: skip
    assert report.held_out >= 10
    assert report.strategies == {"cold_start": 1.0}
    assert report.recall > report.baseline_recall
