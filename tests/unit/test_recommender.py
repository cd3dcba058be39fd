import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.build import build_model, write_model
from engine.bundle import Bundle, BundleWriter
from engine.catalog import ProductMetadata
from engine.errors import ConfigError, UnknownItemError
from engine.model import ModelParams, RecommenderModel
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.ranking import FEATURES
from engine.recommender import Filters, SessionRecommender
from tests.synthetic import category_corpus


@pytest.fixture(scope="module")
def parts():
    corpus = category_corpus()
    vectors = make_trainer(
        Prod2VecConfig(backend="gensim", dim=16, epochs=5, threads=1, seed=1)
    ).fit(corpus)
    meta = {
        str(i): ProductMetadata(category=f"cat{str(i)[1]}", brand=f"b{hash(i) % 3}", price=10.0)
        for i in corpus.item_ids
    }
    return corpus, vectors, meta


@pytest.fixture(scope="module")
def model(parts):
    """Shared by the module's tests: none may change it (own_model is for that)."""
    return build_model(*parts, ModelParams(), threads=1)


@pytest.fixture
def own_model(parts):
    """A model of this test's own, to add products to or change their availability."""
    return build_model(*parts, ModelParams(), threads=1)


@pytest.fixture(scope="module")
def rec(model):
    return SessionRecommender(model)


def test_neighbours_stay_in_category(rec):
    out = rec.recommend(["c1_i5", "c1_i6"], k=10)
    assert out.strategy == "session"
    assert len(out) == 10
    assert all(i.startswith("c1_") for i in out.item_ids)


def test_planted_pattern_surfaces_first(rec):
    out = rec.recommend(["c0_i30", "c0_i3"], k=5)
    assert out.item_ids[0] == "c0_i17"
    assert out.because[0] == "c0_i3"


def test_current_product_never_returned_and_seen_excluded(rec):
    out = rec.recommend(["c0_i1", "c0_i2"], current_item="c0_i3", k=30)
    assert "c0_i3" not in out.item_ids
    assert not {"c0_i1", "c0_i2"} & set(out.item_ids)
    kept = rec.recommend(
        ["c0_i1", "c0_i2"], current_item="c0_i3", k=30, filters=Filters(exclude_seen=False)
    )
    assert "c0_i3" not in kept.item_ids


def test_fallbacks_are_reported(rec, model):
    item = rec.recommend([], current_item="c1_i4", k=5)
    assert item.strategy == "item" and len(item) == 5
    assert all(i.startswith("c1_") for i in item.item_ids)
    popular = rec.recommend(["nope"], k=5)
    assert popular.strategy == "popular" and popular.unknown_items == 1
    top = np.argsort(-model.counts, kind="stable")[:5]
    assert popular.item_ids == [model.catalog.state.id_of(int(r)) for r in top]
    by_cat = rec.recommend([], k=5, filters=Filters(categories=frozenset({"cat1"})))
    assert all(i.startswith("c1_") for i in by_cat.item_ids)


def test_cold_start_product_is_recommendable_at_once(own_model):
    model = own_model
    rec = SessionRecommender(model)
    row, created = model.add_product("new_c1", ProductMetadata(category="cat1", price=10.0))
    assert created and row == model.catalog.n_trained
    out = rec.recommend([], current_item="new_c1", k=10)
    assert out.strategy == "cold_start"
    assert all(i.startswith("c1_") for i in out.item_ids)
    # and it can be recommended to a category-1 session
    vin, vout = model.input_vectors(np.array([row]), model.catalog.state)[0], None
    sims = model.similar_exact.scores(vin)
    cat = model.catalog.state.categories[: model.catalog.n_trained]
    c1 = model.catalog.state.category_index["cat1"]
    assert sims[cat == c1].mean() > sims[cat != c1].mean()
    model.add_product("new_c1", ProductMetadata(category="cat1", available=False))
    similar = rec.similar_items("c1_i5", k=50)
    assert "new_c1" not in similar.item_ids
    del vout


def test_unavailable_items_disappear(own_model):
    rec = SessionRecommender(own_model)
    before = rec.recommend(["c1_i10", "c1_i11"], k=5)
    gone = before.item_ids[0]
    own_model.add_product(gone, ProductMetadata(available=False))
    after = rec.recommend(["c1_i10", "c1_i11"], k=5)
    assert gone not in after.item_ids


def test_k_bounds_and_unknown_similar(rec):
    for k in (0, 101, -1):
        with pytest.raises(ConfigError):
            rec.recommend(["c0_i1"], k=k)
    with pytest.raises(UnknownItemError):
        rec.similar_items("nope")


def test_exact_and_hnsw_agree_on_small_catalogue(model):
    a = SessionRecommender(model).recommend(["c0_i1", "c0_i2"], k=20)
    b = SessionRecommender(model, exact=True).recommend(["c0_i1", "c0_i2"], k=20)
    assert a.item_ids == b.item_ids


def test_a_model_without_the_similar_products_graph_recommends_the_same(model, parts):
    """The ranker's validation model skips the graph recommendations never search."""
    lean = build_model(*parts, ModelParams(), threads=1, similar=False)
    assert lean.similar_index is None and lean.next_index is not None
    session = ["c0_i1", "c0_i2", "c1_i3"]
    a = SessionRecommender(model).recommend(session, k=20)
    b = SessionRecommender(lean).recommend(session, k=20)
    assert a.item_ids == b.item_ids and np.array_equal(a.scores, b.scores)
    # similar products still answer, by exact search
    exact = SessionRecommender(model, exact=True).similar_items("c0_i1", k=10).item_ids
    assert SessionRecommender(lean).similar_items("c0_i1", k=10).item_ids == exact


def test_bundle_round_trip_preserves_results(model, tmp_path):
    with BundleWriter(tmp_path) as w:
        write_model(model, w)
        w.commit()
    loaded = RecommenderModel.load(Bundle.load(tmp_path))
    a, b = SessionRecommender(model), SessionRecommender(loaded)
    for session in (["c0_i1", "c0_i2"], ["c1_i7"], ["c0_i3", "c1_i9", "c1_i10"]):
        ra, rb = a.recommend(session, k=20), b.recommend(session, k=20)
        assert ra.item_ids == rb.item_ids
        np.testing.assert_array_equal(ra.scores, rb.scores)
        assert ra.because == rb.because
    assert loaded.params == model.params


ITEMS = [f"c{c}_i{i}" for c in range(2) for i in range(40)] + ["unknown"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    session=st.lists(st.sampled_from(ITEMS), max_size=12),
    current=st.none() | st.sampled_from(ITEMS),
    k=st.integers(1, 100),
    exclude_seen=st.booleans(),
    excluded=st.sets(st.sampled_from(ITEMS), max_size=5),
    category=st.none() | st.sampled_from(["cat0", "cat1"]),
)
def test_properties(rec, session, current, k, exclude_seen, excluded, category):
    filters = Filters(
        exclude_seen=exclude_seen,
        exclude=frozenset(excluded),
        categories=None if category is None else frozenset({category}),
    )
    out = rec.recommend(session, current_item=current, k=k, filters=filters)
    assert len(out) <= k
    assert len(set(out.item_ids)) == len(out.item_ids)
    assert current not in out.item_ids
    assert not set(excluded) & set(out.item_ids)
    if exclude_seen:
        assert not set(session) & set(out.item_ids)
    if category is not None:
        assert all(i.startswith(f"c{category[-1]}_") for i in out.item_ids)
    assert np.all(np.diff(out.scores) <= 0)
    assert len(out.because) == len(out)


def test_every_feature_is_in_the_column_its_name_says(rec, model):
    found = rec.session_candidates(["c0_i1", "c0_i2", "c0_i1"], current_item="c0_i3")
    f, rows = found.features, found.rows
    assert f.shape == (len(rows), len(FEATURES)) and len(rows) > 20
    assert np.isfinite(f).all()  # every column written (the kernel starts from NaN)
    col = {name: f[:, k] for k, name in enumerate(FEATURES)}
    state = model.catalog.state
    session = [state.row_of(i) for i in ("c0_i1", "c0_i2", "c0_i3")]
    np.testing.assert_array_equal(col["is_last"], rows == session[-1])
    np.testing.assert_array_equal(col["in_session"], np.isin(rows, session))
    last = state.categories[session[-1]]
    np.testing.assert_array_equal(col["same_category_as_last"], state.categories[rows] == last)
    np.testing.assert_allclose(col["log_popularity"], model.log_popularity[rows])
    np.testing.assert_allclose(col["log_related"], np.log(col["related"] + 1e-3), atol=1e-6)
    np.testing.assert_allclose(col["log_successor"], np.log(col["successor"] + 1e-3), atol=1e-6)
    assert col["related"].max() == 1.0 and col["neighbours"].max() == 1.0  # scaled to the max
    session_vec = model.session_vector(found.session, state)
    expected = model.vectors.output[rows] @ session_vec
    np.testing.assert_allclose(col["embedding"], expected, rtol=1e-4, atol=1e-5)


def test_hnsw_fills_in_only_where_statistics_are_thin(model):
    from engine.ranking import RankerParams

    rec = SessionRecommender(model)
    rich = ["c0_i1", "c0_i2", "c0_i3", "c0_i4", "c0_i5", "c0_i6"]
    assert model.params.ranking.embedding_fills_only
    rel = model.covisitation.related
    rows = [model.catalog.row_of(i) for i in rich]
    assert sum(rel.indptr[r + 1] - rel.indptr[r] for r in rows) >= RankerParams().related_candidates
    rec.recommend(rich, k=5)
    assert rec.embedding_searches == 0
    lengths = np.diff(rel.indptr)
    thin = model.catalog.state.id_of(int(np.argmin(lengths)))
    assert lengths.min() < RankerParams().related_candidates
    rec.recommend([thin], k=5)
    assert rec.embedding_searches == 1
    always = model.params.ranking.to_dict() | {"embedding_fills_only": False}
    searching = SessionRecommender(model, ranking=RankerParams(**always))  # a variant's override
    searching.recommend(rich, k=5)
    assert searching.embedding_searches == 1
