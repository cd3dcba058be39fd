"""Product metadata: item id, category, brand, price, title, availability.

Read from the same kinds of source as events (Parquet/CSV via DuckDB, a BigQuery table), or
absent, in which case the events' own category column is all there is. It is joined onto the
trained vocabulary to make the bundle's item table, and kept whole as the catalogue (products
with no views yet included: the cold-start model needs them).

Rules: a metadata category wins over the events' category (the catalogue is the system of
record; disagreements are counted); an item known nowhere gets no category (it then trains
with global negatives only); unknown availability means available. Every such case is counted
in :class:`MetadataReport`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from engine.catalog import ProductMetadata
from engine.categories import index_categories
from engine.corpus import SessionCorpus
from engine.errors import DataError, SchemaError
from engine.ids import ID_RULE
from engine.item_table import ITEM_COLUMNS, item_table
from pipelines.ids import examples, invalid_ids
from pipelines.schema import _kind, quote_ident

log = logging.getLogger(__name__)

METADATA_ALIASES: dict[str, tuple[str, ...]] = {
    "item_id": ("item_id", "product_id", "itemid", "productid", "sku", "id"),
    "category_id": ("category_id", "categoryid", "category"),
    "brand": ("brand",),
    "price": ("price",),
    "title": ("title", "name", "product_name"),
    "available": ("available", "in_stock", "is_available"),
}

PRODUCTS_SCHEMA = pa.schema([(c, t) for c, t in ITEM_COLUMNS.items() if c != "count"])
"""Schema of the product metadata read (one row per product): the item table's columns
(engine/item_table.py) less the view count."""

CATALOGUE_SCHEMA = PRODUCTS_SCHEMA.append(pa.field("has_vector", pa.bool_()))
"""Schema of the catalogue: every product with metadata, and whether it has a vector (cold
start gives the others one)."""


@dataclass(frozen=True)
class MetadataMapping:
    """Source column of each metadata field; ``None``: the field's name or a known alias."""

    item_id: str | None = None
    category_id: str | None = None
    brand: str | None = None
    price: str | None = None
    title: str | None = None
    available: str | None = None

    def resolve(self, available_columns: list[str]) -> dict[str, str]:
        cols = list(available_columns)
        lower = {c.lower(): c for c in cols}
        out: dict[str, str] = {}
        for f in fields(self):
            wanted = getattr(self, f.name)
            if wanted:
                if wanted in cols:
                    out[f.name] = wanted
                elif wanted.lower() in lower:
                    out[f.name] = lower[wanted.lower()]
                else:
                    raise SchemaError(
                        f"products {f.name} column {wanted!r} not found; columns are "
                        f"{', '.join(cols)}"
                    )
                continue
            for alias in METADATA_ALIASES[f.name]:
                if alias in lower:
                    out[f.name] = lower[alias]
                    break
        if "item_id" not in out:
            raise SchemaError(
                "products have no item id column (looked for "
                f"{', '.join(METADATA_ALIASES['item_id'])}); columns are {', '.join(cols)}; "
                "name it with --products-item-col"
            )
        return out


@dataclass
class MetadataReport:
    """What the metadata join found."""

    source: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    products: int = 0
    null_item_rows: int = 0
    invalid_id_products: int = 0
    duplicate_rows: int = 0
    items: int = 0
    items_with_metadata: int = 0
    items_without_metadata: int = 0
    products_without_views: int = 0
    category_conflicts: int = 0
    items_without_category: int = 0
    unavailable_items: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.rows:
            out.append(
                f"products: {self.products:,} from {self.rows:,} rows "
                f"({self.duplicate_rows:,} duplicate rows merged, {self.null_item_rows:,} "
                f"rows without an item id dropped, {self.invalid_id_products:,} products with "
                "an id the API would refuse dropped)"
            )
            out.append(
                f"items: {self.items_with_metadata:,} of {self.items:,} have metadata; "
                f"{self.products_without_views:,} products have no views (catalogue only)"
            )
        out.append(
            f"categories: {self.items_without_category:,} of {self.items:,} items have none "
            f"(global negatives only); {self.category_conflicts:,} differ between events "
            "and metadata (metadata wins)"
        )
        return out + self.notes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_metadata(
    con: duckdb.DuckDBPyConnection,
    relation: duckdb.DuckDBPyRelation,
    mapping: MetadataMapping | None = None,
) -> tuple[pa.Table, MetadataReport]:
    """Normalise a products relation into one row per item (``PRODUCTS_SCHEMA``
    ``has_vector``). Duplicate rows of an item (an events file used as metadata) are merged:
    the most frequent category/brand/title, the median price, available if any row says so.

    Raises:
        SchemaError: no item id column, or a column of an unusable type.
        DataError: the products source is empty.
    """
    mapping = mapping or MetadataMapping()
    cols = mapping.resolve(relation.columns)
    types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    report = MetadataReport(columns=cols)

    def text(name: str) -> str:
        if name not in cols:
            return f"CAST(NULL AS VARCHAR) AS {name}"
        if _kind(types[cols[name]]) == "other":
            raise SchemaError(f"products {name} column {cols[name]!r} has type {types[cols[name]]}")
        return f"NULLIF(TRIM(CAST({quote_ident(cols[name])} AS VARCHAR)), '') AS {name}"

    if _kind(types[cols["item_id"]]) not in ("integer", "text"):
        raise SchemaError(
            f"products item id column {cols['item_id']!r} has type {types[cols['item_id']]}; "
            "expected integers or text"
        )
    if "price" in cols:
        if _kind(types[cols["price"]]) not in ("integer", "number", "text"):
            raise SchemaError(f"products price column {cols['price']!r} is not a number")
        price = f"TRY_CAST({quote_ident(cols['price'])} AS DOUBLE) AS price"
    else:
        price = "CAST(NULL AS DOUBLE) AS price"
    if "available" in cols:
        available = f"TRY_CAST({quote_ident(cols['available'])} AS BOOLEAN) AS available"
    else:
        available = "CAST(NULL AS BOOLEAN) AS available"
    exprs = [text("item_id"), text("category_id"), text("brand"), price, text("title"), available]
    relation.create_view("_nowrec_products_src", replace=True)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _nowrec_products AS "
            f"SELECT {', '.join(exprs)} FROM _nowrec_products_src"
        )
        rows, null_ids, products = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE item_id IS NULL), "
            "count(DISTINCT item_id) FROM _nowrec_products"
        ).fetchone()
        if rows == 0:
            raise DataError("the products source is empty; check --products/--products-table")
        # Products the API could not be asked about (engine/ids.py) are left out, counted.
        bad = invalid_ids(con, "_nowrec_products", "item_id")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _nowrec_bad_ids AS SELECT unnest(?::VARCHAR[]) AS id",
            [sorted(bad)],
        )
        table = con.execute(
            "SELECT item_id, mode(category_id ORDER BY category_id) AS category_id, "
            "mode(brand ORDER BY brand) AS brand, median(price) AS price, "
            "mode(title ORDER BY title) AS title, bool_or(available) AS available "
            "FROM _nowrec_products WHERE item_id IS NOT NULL "
            "AND item_id NOT IN (SELECT id FROM _nowrec_bad_ids) GROUP BY item_id ORDER BY item_id"
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise DataError(f"could not read the products: {str(exc).splitlines()[0]}") from exc
    finally:
        con.execute("DROP TABLE IF EXISTS _nowrec_bad_ids")
        con.execute("DROP VIEW IF EXISTS _nowrec_products")
        con.execute("DROP VIEW IF EXISTS _nowrec_products_src")
    report.rows, report.null_item_rows, report.products = int(rows), int(null_ids), int(products)
    report.duplicate_rows = report.rows - report.null_item_rows - report.products
    report.invalid_id_products = len(bad)
    if report.null_item_rows:
        log.warning("products: dropped %d rows without an item id", report.null_item_rows)
    if bad:
        log.warning(
            "products: dropped %d products whose id the API would refuse: %s; ids are %s",
            len(bad), examples(bad), ID_RULE,
        )  # fmt: skip
    table = table.cast(PRODUCTS_SCHEMA)
    return table, report


def join_items(
    items: pa.Table,
    corpus: SessionCorpus,
    metadata: pa.Table | None,
    report: MetadataReport | None = None,
) -> tuple[pa.Table, SessionCorpus, pa.Table | None, MetadataReport]:
    """Join metadata onto the vocabulary.

    Args:
        items: sessionize's item table (``item_id``, ``category_id``, ``count``), vocabulary
            order.
        corpus: the corpus whose vocabulary ``items`` describes.
        metadata: :func:`read_metadata`'s table, or ``None`` (events' categories only).
        report: :func:`read_metadata`'s report, completed here.

    Returns:
        The bundle item table (engine/item_table.py, vocabulary order), the corpus with categories
        re-indexed from the joined item table, the catalogue (``CATALOGUE_SCHEMA``, or ``None``
        without metadata) and the report.
    """
    report = report or MetadataReport()
    n = items.num_rows
    ids = items.column("item_id").to_pylist()
    event_cats = items.column("category_id").to_pylist()
    report.items = n
    brand: list[str | None] = [None] * n
    price: list[float | None] = [None] * n
    title: list[str | None] = [None] * n
    available = [True] * n
    cats = list(event_cats)
    catalogue = None
    if metadata is not None:
        row_of = {item: k for k, item in enumerate(metadata.column("item_id").to_pylist())}
        m_cat = metadata.column("category_id").to_pylist()
        m_brand = metadata.column("brand").to_pylist()
        m_price = metadata.column("price").to_pylist()
        m_title = metadata.column("title").to_pylist()
        m_avail = metadata.column("available").to_pylist()
        for k, item in enumerate(ids):
            r = row_of.get(item)
            if r is None:
                continue
            report.items_with_metadata += 1
            if m_cat[r] is not None:
                if event_cats[k] is not None and event_cats[k] != m_cat[r]:
                    report.category_conflicts += 1
                cats[k] = m_cat[r]
            brand[k], price[k], title[k] = m_brand[r], m_price[r], m_title[r]
            if m_avail[r] is False:
                available[k] = False
        report.items_without_metadata = n - report.items_with_metadata
        in_vocab = set(ids)
        has_vector = [i in in_vocab for i in metadata.column("item_id").to_pylist()]
        report.products_without_views = has_vector.count(False)
        catalogue = metadata.append_column("has_vector", pa.array(has_vector, pa.bool_()))
        catalogue = catalogue.cast(CATALOGUE_SCHEMA)
        if report.items_without_metadata:
            log.warning(
                "products: %d of %d trained items have no metadata (no brand/price/title)",
                report.items_without_metadata,
                n,
            )
    report.items_without_category = sum(c is None for c in cats)
    report.unavailable_items = available.count(False)
    if report.items_without_category == n:
        report.notes.append(
            "no item has a category (no category column in the events, none in the "
            "product metadata)"
        )
    categories = index_categories(cats)
    corpus = replace(
        corpus,
        item_categories=categories.codes,
        category_names=np.array(categories.names, dtype=object),
    )
    meta = [
        ProductMetadata(None, b, p, t, a)
        for b, p, t, a in zip(brand, price, title, available, strict=True)
    ]
    table = item_table(ids, cats, items.column("count").to_pylist(), meta)
    return table, corpus, catalogue, report
