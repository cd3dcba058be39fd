"""The freshness boost: products without views become candidates on their category's pages
and are shown there (exploration), never elsewhere, and a catalogue without such products
ranks exactly as without the boost."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest
from engine.build import build_model, write_model

from engine.bundle import Bundle, BundleWriter
from engine.catalog import ProductMetadata
from engine.errors import ConfigError
from engine.model import ModelParams, RecommenderModel
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.ranking import RankerParams
from engine.recommender import Filters, SessionRecommender
from engine.session import weigh_session
from tests.synthetic import category_corpus

K = 20


@lru_cache(maxsize=1)
def _trained():
    corpus = category_corpus(items_per_category=60)
    vectors = make_trainer(
        Prod2VecConfig(backend="gensim", dim=16, epochs=5, threads=1, seed=1)
    ).fit(corpus)
    return corpus, vectors


def fresh_model(**ranking) -> RecommenderModel:
    """A model of its own (tests add products to it), ranking parameters as given."""
    corpus, vectors = _trained()
    meta = {
        str(i): ProductMetadata(category=f"cat{str(i)[1]}", brand=f"b{int(str(i)[4:]) % 3}",
                                price=10.0 + int(str(i)[4:]), title=f"item {str(i)[4:]}")
        for i in corpus.item_ids
    }  # fmt: skip
    params = ModelParams().replace(ranking=RankerParams(**ranking))
    return build_model(corpus, vectors, meta, params, threads=1)


def pages_of(model: RecommenderModel, category: str) -> list[str]:
    state = model.catalog.state
    c = state.category_index[category]
    n = model.catalog.n_trained
    return [state.id_of(int(r)) for r in np.flatnonzero(state.categories[:n] == c)]


def shown_on(model: RecommenderModel, pages: list[str], item: str) -> int:
    rec = SessionRecommender(model)
    return sum(item in rec.recommend([p], current_item=p, k=K).item_ids for p in pages)


def _page_session(model: RecommenderModel, page: str):
    return weigh_session([model.catalog.state.row_of(page)], ["view"], model.params.session)


NEW = ProductMetadata(category="cat1", brand="b1", price=30.0, title="item 20 new edition")


def test_a_new_product_is_shown_on_its_category_pages_only_with_the_boost():
    boosted, plain = fresh_model(), fresh_model(freshness_boost=0.0)
    assert boosted.params.ranking.freshness_boost == RankerParams().freshness_boost > 0
    for m in (boosted, plain):
        m.add_product("new-1", NEW)
    c1, c0 = pages_of(boosted, "cat1"), pages_of(boosted, "cat0")
    with_boost, without = shown_on(boosted, c1, "new-1"), shown_on(plain, c1, "new-1")
    # without the boost a product with no views rarely reaches the list (it has no
    # co-visitation, neighbourhood or popularity evidence); with it, nearly every page shows it
    assert with_boost >= 0.9 * len(c1), (with_boost, without, len(c1))
    assert without < 0.5 * len(c1), (with_boost, without, len(c1))
    assert shown_on(boosted, c0, "new-1") == 0  # never on another category's pages
    # it is a candidate, not only scored higher: the candidate stage lists it
    rec = SessionRecommender(boosted)
    state = boosted.catalog.state
    page = c1[len(c1) // 2]
    ws = _page_session(boosted, page)
    fresh = rec.fresh_candidates(ws, state)
    assert fresh.tolist() == [state.row_of("new-1")]
    found = rec.session_candidates([page], state=state)
    assert found.fresh.tolist() == fresh.tolist() and state.row_of("new-1") in found.rows
    # the product's own page is no place to explore itself
    assert len(rec.fresh_candidates(_page_session(boosted, "new-1"), state)) == 0


def test_the_closest_available_ones_are_explored_as_many_as_asked():
    model = fresh_model(fresh_candidates=2)
    for k in range(4):
        model.add_product(
            f"new-{k}", replace(NEW, price=20.0 + 10 * k, title=f"item {20 + 10 * k}")
        )
    model.add_product("new-toy", replace(NEW, category="cat0"))
    state = model.catalog.state
    n = model.catalog.n_trained
    rec = SessionRecommender(model)
    page = pages_of(model, "cat1")[5]
    ws = _page_session(model, page)
    fresh = rec.fresh_candidates(ws, state)
    pool = np.array([state.row_of(f"new-{k}") for k in range(4)])
    closeness = state.new_vectors_out[pool - n] @ model.session_vector(ws, state)
    assert fresh.tolist() == pool[np.argsort(-closeness)[:2]].tolist()
    shown = rec.recommend([page], current_item=page, k=K).item_ids
    assert {state.id_of(int(r)) for r in fresh} <= set(shown)
    # a sold-out new product is never the one explored: the next closest takes its place
    gone = state.id_of(int(fresh[0]))
    model.add_product(gone, replace(state.metadata_of(int(fresh[0])), available=False))
    state = model.catalog.state
    again = rec.fresh_candidates(ws, state)
    assert again.tolist() == pool[np.argsort(-closeness)[1:3]].tolist()
    assert gone not in rec.recommend([page], current_item=page, k=K).item_ids
    # a category filter still wins over exploration
    other = rec.recommend([page], current_item=page, k=K,
                          filters=Filters(categories=frozenset({"cat0"})))  # fmt: skip
    assert other.item_ids and all(state.category_names[state.categories[state.row_of(i)]]
                                  == "cat0" for i in other.item_ids)  # fmt: skip


def test_without_products_lacking_views_the_boost_changes_nothing():
    boosted, plain = fresh_model(), fresh_model(freshness_boost=0.0)
    a, b = SessionRecommender(boosted), SessionRecommender(plain)
    rng = np.random.default_rng(3)
    ids = boosted.catalog.state.item_ids
    for _ in range(50):
        session = [ids[int(r)] for r in rng.integers(len(ids), size=int(rng.integers(1, 6)))]
        x, y = a.recommend(session, k=K), b.recommend(session, k=K)
        assert x.item_ids == y.item_ids
        np.testing.assert_array_equal(x.scores, y.scores)


@pytest.mark.parametrize(
    "values",
    [
        {"freshness_boost": -1.0},
        {"freshness_boost": float("nan")},
        {"freshness_boost": float("inf")},
        {"freshness_boost": 31.0},
        {"freshness_boost": True},
        {"freshness_boost": "3"},
        {"fresh_candidates": -1},
        {"fresh_candidates": 1.5},
        {"fresh_candidates": 101},
    ],
)
def test_out_of_range_freshness_parameters_are_refused(values):
    with pytest.raises(ConfigError, match=next(iter(values))):
        RankerParams(**values)


def test_the_boost_is_stored_in_the_bundle_and_older_bundles_get_the_default(tmp_path):
    model = fresh_model(freshness_boost=1.25, fresh_candidates=2)
    with BundleWriter(tmp_path, version="v1") as w:
        write_model(model, w)
        w.commit()
    loaded = RecommenderModel.load(Bundle.load(tmp_path / "v1"))
    assert loaded.params.ranking.freshness_boost == 1.25
    assert loaded.params.ranking.fresh_candidates == 2
    older = model.params.to_dict()
    for key in ("freshness_boost", "fresh_candidates"):
        del older["ranking"][key]
    assert ModelParams.from_dict(older).ranking.freshness_boost == RankerParams().freshness_boost
