"""The item table of a bundle (``items.parquet``, ``cold_items.parquet``): one schema, the one
way such a table is made, and the one way it is read back checked.

Row ``i`` of ``items`` describes vector row ``i``: id, category, views in training, and the
metadata cold start and the filters use. ``cold_items`` has the same columns for products
with metadata and no views (count 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from engine.bundle_checks import BundleArrays
from engine.catalog import ProductMetadata

#: Columns of the item tables, with their types.
ITEM_COLUMNS = {
    "item_id": pa.string(),
    "category_id": pa.string(),
    "count": pa.int64(),
    "brand": pa.string(),
    "price": pa.float64(),
    "title": pa.string(),
    "available": pa.bool_(),
}
ITEM_SCHEMA = pa.schema(list(ITEM_COLUMNS.items()))


def item_table(
    item_ids: Sequence[str],
    categories: Sequence[str | None],
    counts: Sequence[int],
    metadata: Sequence[ProductMetadata | None],
) -> pa.Table:
    """An item table: per item its id, category, view count and metadata (``None``: nothing
    known, available); the metadata's own category is not read (``categories`` is)."""
    meta = [m or ProductMetadata() for m in metadata]
    columns = {
        "item_id": item_ids,
        "category_id": categories,
        "count": counts,
        "brand": [m.brand for m in meta],
        "price": [m.price for m in meta],
        "title": [m.title for m in meta],
        "available": [m.available for m in meta],
    }
    return pa.table({k: pa.array(v, ITEM_COLUMNS[k]) for k, v in columns.items()})


def checked_items(arrays: BundleArrays, name: str) -> dict[str, list]:
    """Item table ``name`` of a bundle as columns, typed, with unique ids and non-negative
    counts (:class:`~engine.errors.BundleError` naming the file otherwise)."""
    table = arrays.bundle.table(name)
    what = f"{name}.parquet"
    for column, kind in ITEM_COLUMNS.items():
        if column not in table.column_names or table.schema.field(column).type != kind:
            arrays.fail(what, f"lacks the {kind} column {column!r}")
    items = table.select(list(ITEM_COLUMNS)).to_pydict()
    ids = items["item_id"]
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        arrays.fail(what, "has empty, non-text or repeated item ids")
    if not all(isinstance(c, int) and c >= 0 for c in items["count"]):
        arrays.fail(what, "has missing or negative counts")
    return items
