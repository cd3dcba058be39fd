"""Product metadata: reading, merging duplicates, joining onto the vocabulary."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from engine.categories import NO_CATEGORY
from engine.errors import DataError, SchemaError
from engine.item_table import ITEM_SCHEMA
from pipelines.metadata import MetadataMapping, join_items, read_metadata
from pipelines.sessionize import sessionize


def _sessions(rows):
    con = duckdb.connect()
    table = pa.table(
        {
            "session_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "category_id": [r[2] for r in rows],
            "ts": [float(k) for k in range(len(rows))],
        }
    )
    try:
        return sessionize(con, con.from_arrow(table))
    finally:
        con.close()


def _metadata(columns: dict, mapping: MetadataMapping | None = None):
    con = duckdb.connect()
    try:
        return read_metadata(con, con.from_arrow(pa.table(columns)), mapping)
    finally:
        con.close()


def test_metadata_joins_onto_the_vocabulary_and_wins_over_event_categories():
    s = _sessions([("s", 1, "x"), ("s", 2, "x"), ("s", 3, None), ("t", 4, "y"), ("t", 1, "x")])
    meta, report = _metadata(
        {
            "product_id": [1, 2, 3, 99],  # alias of item_id; 99 has no views (catalogue only)
            "category": ["x", "z", "w", "x"],  # 2: z contradicts the events' x; 3: was unknown
            "brand": ["acme", None, "bolt", "acme"],
            "price": [9.5, 20.0, None, 1.0],
            "name": ["Anvil", "Rope", "Bolt", "Nail"],
            "in_stock": [True, False, None, True],
        }
    )
    assert report.columns["item_id"] == "product_id" and report.columns["title"] == "name"
    items, corpus, catalogue, report = join_items(s.items, s.corpus, meta, report)
    assert items.schema == ITEM_SCHEMA
    rows = {r["item_id"]: r for r in items.to_pylist()}
    assert rows["1"]["brand"] == "acme" and rows["1"]["price"] == 9.5
    assert rows["2"]["category_id"] == "z" and rows["2"]["available"] is False
    assert rows["3"]["category_id"] == "w"
    assert rows["4"]["category_id"] == "y" and rows["4"]["brand"] is None  # no metadata
    assert rows["4"]["available"] is True  # unknown availability means available
    assert report.category_conflicts == 1
    assert report.items_with_metadata == 3 and report.items_without_metadata == 1
    assert report.products_without_views == 1 and report.unavailable_items == 1
    # the corpus now carries the joined categories
    cats = [corpus.category_names[c] for c in corpus.item_categories]
    assert dict(zip(corpus.item_ids, cats, strict=True))["2"] == "z"
    assert catalogue.num_rows == 4
    assert (
        dict(zip(*catalogue.select(["item_id", "has_vector"]).to_pydict().values(), strict=True))[
            "99"
        ]
        is False
    )


def test_without_metadata_events_categories_are_used_and_gaps_reported():
    s = _sessions([("s", 1, "x"), ("s", 2, None)])
    items, corpus, catalogue, report = join_items(s.items, s.corpus, None)
    assert catalogue is None
    assert report.items_without_category == 1
    assert list(corpus.item_categories).count(NO_CATEGORY) == 1
    none = _sessions([("s", 1, None), ("s", 2, None)])
    _, corpus, _, report = join_items(none.items, none.corpus, None)
    assert not corpus.has_categories
    assert any("no item has a category" in n for n in report.notes)


def test_duplicate_metadata_rows_are_merged_and_counted():
    meta, report = _metadata(
        {
            "item_id": ["a", "a", "a", "b", None],
            "category_id": ["c1", "c1", "c2", "c3", "c9"],
            "price": [10.0, 12.0, 14.0, 1.0, 1.0],
        }
    )
    assert (report.rows, report.products, report.duplicate_rows, report.null_item_rows) == (
        5,
        2,
        2,
        1,
    )
    a = meta.to_pylist()[0]
    assert a["category_id"] == "c1" and a["price"] == 12.0


def test_products_with_ids_the_api_would_refuse_are_dropped_and_counted(caplog):
    meta, report = _metadata(
        {"item_id": ["Café 03", "bad\nid", "bad\nid", "ok"], "category_id": ["c"] * 4}
    )
    assert meta.column("item_id").to_pylist() == ["Café 03", "ok"]
    assert report.invalid_id_products == 1 and report.products == 3
    assert "1 products with an id the API would refuse dropped" in report.lines()[0]


def test_metadata_errors():
    with pytest.raises(SchemaError, match="no item id column.*--products-item-col"):
        _metadata({"sku_code": [1], "category": ["x"]})
    with pytest.raises(SchemaError, match="products category_id column 'cat' not found"):
        _metadata({"item_id": [1]}, MetadataMapping(category_id="cat"))
    with pytest.raises(DataError, match="products source is empty"):
        _metadata({"item_id": pa.array([], pa.int64())})
    with pytest.raises(SchemaError, match="expected integers or text"):
        _metadata({"item_id": [1.5]})
