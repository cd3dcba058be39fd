"""The demo shop generator: seeded determinism and the structure it plants."""

from __future__ import annotations

import hashlib
import tracemalloc

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import ConfigError
from pipelines import demo_shop
from pipelines.demo_shop import (
    _CATALOGUE,
    DemoShopConfig,
    demo_shop_exists,
    generate,
    write_demo_shop,
)
from pipelines.sessionize import SessionizeConfig, sessionize

SMALL = DemoShopConfig(n_products=800, n_users=500, n_sessions=1500, n_test_sessions=150)


@pytest.fixture(scope="module")
def shop():
    return generate(SMALL)


@pytest.fixture(scope="module")
def view_sessions(shop):
    """The shop's view events cut into sessions, nothing else removed."""
    con = duckdb.connect()
    rules = SessionizeConfig(
        event_types=("view",),
        collapse_repeats=False,
        drop_duplicates=False,
        min_session_length=1,
        max_session_length=0,
    )
    result = sessionize(con, con.from_arrow(shop.events), config=rules)
    con.close()
    return result


def test_same_seed_same_shop_other_seed_other_shop(shop):
    again = generate(SMALL)
    assert again.events.equals(shop.events)
    assert again.products.equals(shop.products)
    assert again.test_pairs.equals(shop.test_pairs)
    other = generate(DemoShopConfig(**{**SMALL.__dict__, "seed": SMALL.seed + 1}))
    assert not other.events.equals(shop.events)


def test_catalogue_has_categories_brands_prices_and_titles(shop):
    products = shop.products.to_pylist()
    assert len(products) == SMALL.n_products
    brands_of = {cat: spec[1] for dept in _CATALOGUE.values() for cat, spec in dept.items()}
    assert {p["category_id"] for p in products} == set(brands_of) and len(brands_of) == 20
    assert all(p["brand"] in brands_of[p["category_id"]] for p in products)
    assert all(p["title"].startswith(p["brand"] + " ") for p in products)
    assert len({p["title"] for p in products}) == len(products)
    assert all(p["price"] > 0 for p in products)

    def median(cat):
        return np.median([p["price"] for p in products if p["category_id"] == cat])

    assert median("laptops") > 5 * median("cookware")  # per-category price levels
    assert 0 < sum(not p["available"] for p in products) < 0.1 * len(products)


def test_users_have_several_sessions_more_than_30_minutes_apart(shop, view_sessions):
    # Every generated session comes back from the 30-minute cut (none merged, none split).
    assert view_sessions.corpus.n_sessions == SMALL.n_sessions
    users = duckdb.sql(
        "SELECT count(*) FROM (SELECT user_id FROM (SELECT user_id, ts, "
        "ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts) AS gap FROM shop_events "
        "WHERE event_type = 'view') GROUP BY user_id HAVING max(gap) > INTERVAL 30 MINUTES)",
        connection=_con_with(shop),
    ).fetchone()[0]
    assert users > 100  # many users come back for another visit


def _con_with(shop):
    con = duckdb.connect()
    con.register("shop_events", shop.events)
    return con


def test_popularity_is_skewed(view_sessions):
    counts = np.sort(view_sessions.corpus.item_counts)[::-1]
    top = counts[: max(1, len(counts) // 10)].sum() / counts.sum()
    assert top > 0.45  # the top 10% of products get about half of the views
    assert counts[-1] <= 3  # ... and there is a long tail


def test_browsing_stays_in_category_and_neighbourhood(shop, view_sessions):
    c = view_sessions.corpus
    ids = np.array([int(i) for i in c.item_ids]) - 100_001  # product row of each vocab item
    hood = shop.neighbourhood[ids]
    cats = c.item_categories
    same_cat = same_hood = pairs = 0
    for s in range(c.n_sessions):
        seq = c.session(s)
        for a, b in zip(seq[:-1], seq[1:], strict=True):
            if a == b:
                continue
            pairs += 1
            same_cat += cats[a] == cats[b]
            same_hood += hood[a] == hood[b]
    assert pairs > 1000
    assert same_cat / pairs > 0.7
    assert same_hood / pairs > 0.5
    # and there is noise: not every step stays in the category
    assert same_cat / pairs < 0.97


def test_new_arrivals_have_no_views_and_test_pairs_follow_the_format(shop):
    viewed = set(shop.events.column("item_id").to_pylist())
    never = [i for i in shop.products.column("item_id").to_pylist() if i not in viewed]
    assert 0 < len(never) < 0.1 * SMALL.n_products
    pairs = shop.test_pairs
    assert str(pairs.schema.field("prefix").type) == "list<item: int64>"
    assert str(pairs.schema.field("target").type) == "int64"
    rows = pairs.to_pylist()
    assert len(rows) > 100
    assert all(r["prefix"] and r["prefix"][-1] != r["target"] for r in rows)
    train_start = shop.events.column("ts").to_pylist()
    assert max(train_start).year == 2026


def test_write_demo_shop_round_trip(tmp_path, shop):
    assert not demo_shop_exists(tmp_path)
    write_demo_shop(tmp_path, SMALL)
    assert demo_shop_exists(tmp_path)
    assert pq.read_table(tmp_path / "events.parquet").equals(shop.events)
    assert pq.read_table(tmp_path / "products.parquet").equals(shop.products)
    assert not list(tmp_path.glob(".*.tmp"))


def _fingerprint(table: pa.Table) -> str:
    """A digest of a table's values (not of its Parquet bytes, which carry pyarrow's version)."""
    digest = hashlib.sha256()
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        digest.update("\x1f".join(map(str, column.to_pylist())).encode())
    return digest.hexdigest()[:16]


def test_the_seeded_shop_is_the_one_it_always_was(shop):
    # Pinned: the README's demo figures and the tests that train on the demo shop depend on
    # this exact stream of draws. Generating in chunks (for 10M-session shops) must not change
    # it; these digests are those of the generator before it wrote in chunks. A deliberate
    # change of what the shop plants updates them (and the README's demo figures).
    assert shop.events.num_rows == 9871
    assert _fingerprint(shop.events) == "957b493a6ce0af82"
    assert _fingerprint(shop.products) == "84d84b6982779c22"
    assert _fingerprint(shop.test_pairs) == "f472775d0fd126a0"


def test_written_in_chunks_the_events_are_the_same_rows(tmp_path, shop, monkeypatch):
    monkeypatch.setattr(demo_shop, "CHUNK_ROWS", 1000)
    written = write_demo_shop(tmp_path, SMALL)
    meta = pq.read_metadata(tmp_path / "events.parquet")
    assert written.events.num_rows == meta.num_rows == shop.events.num_rows
    assert meta.num_row_groups == -(-shop.events.num_rows // 1000)  # one row group per chunk
    assert pq.read_table(tmp_path / "events.parquet").equals(shop.events)
    assert written.products.equals(shop.products)
    assert written.test_pairs.equals(shop.test_pairs)


def test_memory_is_bounded_by_the_chunk_not_by_the_shop(tmp_path, monkeypatch):
    # The events as Python objects cost ~100 bytes each; in chunks only one chunk is ever held
    # that way, the rest as compact columns (~25 bytes an event).
    config = DemoShopConfig(n_products=800, n_users=2000, n_sessions=8000, n_test_sessions=0)

    def peak_bytes(chunk_rows: int) -> int:
        monkeypatch.setattr(demo_shop, "CHUNK_ROWS", chunk_rows)
        tracemalloc.start()
        try:
            write_demo_shop(tmp_path / str(chunk_rows), config)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, chunked = peak_bytes(1 << 30), peak_bytes(2048)
    assert chunked < 0.5 * whole, (chunked, whole)
    whole_table = pq.read_table(tmp_path / str(1 << 30) / "events.parquet")
    assert whole_table.num_rows > 40_000  # many chunks of 2,048
    assert pq.read_table(tmp_path / "2048" / "events.parquet").equals(whole_table)


def test_a_shop_without_test_sessions_has_no_test_pairs():
    shop = generate(DemoShopConfig(n_products=800, n_users=50, n_sessions=100, n_test_sessions=0))
    assert shop.test_pairs.num_rows == 0
    assert shop.events.num_rows > 100


def test_sizes_beyond_the_compact_columns_are_refused_with_the_limit():
    with pytest.raises(ConfigError, match="at most 2,147,483,647 products and users"):
        DemoShopConfig(n_users=2**31)
