"""The product catalogue as the recommender sees it: ids, categories, availability, metadata.

Rows ``0..n_trained-1`` are the items of the trained model, in vector order. Products added
after training (with metadata, no views) get rows after them, with cold-start vectors; they
are searched exactly beside the HNSW index, which is never modified while serving.

Concurrency: readers never lock. Writers (``upsert``) are serialised by a lock and publish a
new immutable :class:`CatalogState` by a single reference assignment, so a request always sees
one consistent state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from engine.categories import NO_CATEGORY, index_categories
from engine.errors import ConfigError, DataError, UnknownItemError


@dataclass(frozen=True)
class ProductMetadata:
    """What the shop knows about a product; every field optional."""

    category: str | None = None
    brand: str | None = None
    price: float | None = None
    title: str | None = None
    available: bool = True

    @property
    def describes(self) -> bool:
        """Whether there is anything to place the product by (category, brand, price or
        title); availability alone says nothing about what the product is."""
        return any(v is not None for v in (self.category, self.brand, self.price, self.title))

    @classmethod
    def from_columns(cls, columns: dict[str, list]) -> list[ProductMetadata]:
        """One per row of a table with ``category_id``, ``brand``, ``price``, ``title`` and
        ``available`` columns (as ``pyarrow.Table.to_pydict()`` gives them); an unknown
        availability means available."""
        return [
            cls(c, b, p, t, a is not False)
            for c, b, p, t, a in zip(
                columns["category_id"], columns["brand"], columns["price"], columns["title"],
                columns["available"], strict=True,
            )
        ]  # fmt: skip


def require_description(item_id: str, metadata: ProductMetadata) -> None:
    """Refuse a NEW product that comes with no metadata: cold start would place it by
    popularity alone, among the most popular products of no category, so it would come out
    "similar" to everything with the same score.

    Raises:
        DataError: ``metadata`` describes nothing; the message says what to send.
    """
    if not metadata.describes:
        raise DataError(
            f"product {item_id!r} is new and comes with no metadata: send at least its "
            "category (and its brand, price and title when known) so that it can be placed "
            "beside similar products"
        )


@dataclass(frozen=True)
class ColdVectors:
    """What the cold-start model gives a new product: vectors and the warm products behind."""

    input: np.ndarray
    output: np.ndarray
    neighbours: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class CatalogState:
    """One immutable snapshot of the catalogue."""

    item_ids: list[str]  # trained items (shared between states, never modified)
    index: dict[str, int]
    new_ids: tuple[str, ...]  # products added since training, rows n_trained...
    new_index: dict[str, int]
    categories: np.ndarray  # int32 category index per row, NO_CATEGORY when unknown
    category_names: list[str]
    category_index: dict[str, int]
    available: np.ndarray  # bool per row
    metadata: dict[int, ProductMetadata] = field(default_factory=dict)  # shared, from training
    updates: dict[int, ProductMetadata] = field(default_factory=dict)  # upserts since then
    new_vectors_in: np.ndarray | None = None  # (n_new, dim) cold-start input vectors
    new_vectors_out: np.ndarray | None = None
    # new row -> (warm rows, weights) its cold-start vector was averaged from
    cold_neighbours: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.item_ids) + len(self.new_ids)

    def row_of(self, item_id: str) -> int | None:
        row = self.index.get(item_id)
        return self.new_index.get(item_id) if row is None else row

    def metadata_of(self, row: int) -> ProductMetadata | None:
        found = self.updates.get(row)
        return self.metadata.get(row) if found is None else found

    def id_of(self, row: int) -> str:
        n = len(self.item_ids)
        return self.item_ids[row] if row < n else self.new_ids[row - n]

    def ids_of(self, rows) -> list[str]:
        """The ids of many rows (an array or a list), in order."""
        rows = rows.tolist() if hasattr(rows, "tolist") else rows
        n, ids = len(self.item_ids), self.item_ids
        if not self.new_ids:
            return [ids[r] for r in rows]
        new = self.new_ids
        return [ids[r] if r < n else new[r - n] for r in rows]

    @cached_property
    def fresh_by_category(self) -> dict[int, np.ndarray]:
        """Available products without views (rows after the trained ones), by category index:
        the pool the freshness boost draws from (engine/ranking.py). Built once per state, on
        first use; every row is in ``n_trained..n_rows-1``."""
        n = len(self.item_ids)
        rows = n + np.flatnonzero(self.available[n:])
        cats = self.categories[rows]
        keep = cats != NO_CATEGORY
        rows, cats = rows[keep], cats[keep]
        order = np.argsort(cats, kind="stable")
        rows, cats = rows[order].astype(np.int64), cats[order]
        bounds = np.flatnonzero(np.diff(cats)) + 1
        return {
            int(group_cats[0]): group
            for group, group_cats in zip(
                np.split(rows, bounds), np.split(cats, bounds), strict=True
            )
            if len(group)
        }


def _category_row(category: str | None, index: dict[str, int], names: list[str]) -> int:
    """The index of ``category``, adding it to ``index``/``names`` when new."""
    if category is None:
        return NO_CATEGORY
    if category not in index:
        index[category] = len(names)
        names.append(category)
    return index[category]


class Catalog:
    """Catalogue of a model version, with live availability and new products.

    Args:
        item_ids: ids of the trained items, in vector order.
        categories: category id (string or None) per trained item.
        metadata: optional metadata per trained item id (for cold start by similarity).
        capacity: most new products accepted before the next training run (bounds memory
            and the per-thread scratch buffers).
    """

    def __init__(
        self,
        item_ids: list[str],
        categories: list[str | None],
        metadata: Mapping[str, ProductMetadata] | None = None,
        capacity: int = 100_000,
    ) -> None:
        cats, names, cat_index = index_categories(categories)
        ids = [str(i) for i in item_ids]
        index = {i: k for k, i in enumerate(ids)}
        meta = {index[str(i)]: m for i, m in (metadata or {}).items() if str(i) in index}
        available = np.ones(len(ids), dtype=bool)
        for row, m in meta.items():
            available[row] = m.available
        self.n_trained = len(ids)
        self.capacity = capacity
        self._lock = threading.Lock()
        self.state = CatalogState(ids, index, (), {}, cats, names, cat_index, available, meta)

    @property
    def n_rows(self) -> int:
        return self.state.n_rows

    @property
    def max_rows(self) -> int:
        return self.n_trained + self.capacity

    def row_of(self, item_id: str) -> int:
        row = self.state.row_of(str(item_id))
        if row is None:
            raise UnknownItemError(f"unknown product {item_id!r}")
        return row

    def category_of(self, row: int) -> str | None:
        c = int(self.state.categories[row])
        return None if c == NO_CATEGORY else self.state.category_names[c]

    def upsert(
        self,
        item_id: str,
        metadata: ProductMetadata,
        cold: ColdVectors | None = None,
    ) -> tuple[int, bool]:
        """Add or update a product; returns ``(row, created)``.

        A new product needs its ``cold`` vectors from the cold-start model.
        """
        item_id = str(item_id)
        with self._lock:
            s = self.state
            row = s.row_of(item_id)
            if row is None:
                if cold is None:
                    raise ConfigError("a new product needs cold-start vectors")
                self._add_new_locked([(item_id, metadata, cold)])
                return self.state.row_of(item_id), True
            cat_index, names = dict(s.category_index), list(s.category_names)
            cat = _category_row(metadata.category, cat_index, names)
            categories = s.categories.copy()
            available = s.available.copy()
            if metadata.category is not None or row >= self.n_trained:
                categories[row] = cat
            available[row] = metadata.available
            self.state = CatalogState(
                s.item_ids, s.index, s.new_ids, s.new_index, categories, names, cat_index,
                available, s.metadata, {**s.updates, row: metadata}, s.new_vectors_in,
                s.new_vectors_out, s.cold_neighbours,
            )  # fmt: skip
            return row, False

    def require_room(self, count: int = 1, state: CatalogState | None = None) -> None:
        """Refuse ``count`` more new products when they would not fit.

        Raises:
            ConfigError: the catalogue holds its capacity of products added since training.
        """
        s = state or self.state
        if s.n_rows + count > self.max_rows:
            raise ConfigError(
                f"catalogue is full: {count} new products exceed the capacity of "
                f"{self.capacity} products added since training; re-train (make train) or "
                "raise NOWREC_NEW_PRODUCTS_CAPACITY"
            )

    def add_new_many(self, products: list[tuple[str, ProductMetadata, ColdVectors]]) -> int:
        """Add many products that are not in the catalogue yet, in one state change (batch
        cold start, bundle load); ids already present are skipped. Returns how many were added.
        """
        with self._lock:
            return self._add_new_locked(products)

    def _add_new_locked(self, products: list[tuple[str, ProductMetadata, ColdVectors]]) -> int:
        """The one way new rows are added (the caller holds the lock)."""
        s = self.state
        fresh, seen = [], set()
        for item_id, meta, cold in products:
            item_id = str(item_id)
            if s.row_of(item_id) is None and item_id not in seen:
                seen.add(item_id)
                fresh.append((item_id, meta, cold))
        if not fresh:
            return 0
        self.require_room(len(fresh), s)
        cat_index, names = dict(s.category_index), list(s.category_names)
        cats = [_category_row(meta.category, cat_index, names) for _, meta, _ in fresh]
        vin = np.stack([c.input for _, _, c in fresh]).astype(np.float32)
        vout = np.stack([c.output for _, _, c in fresh]).astype(np.float32)
        new_in = vin if s.new_vectors_in is None else np.vstack([s.new_vectors_in, vin])
        new_out = vout if s.new_vectors_out is None else np.vstack([s.new_vectors_out, vout])
        rows = range(s.n_rows, s.n_rows + len(fresh))
        self.state = CatalogState(
            s.item_ids, s.index,
            (*s.new_ids, *(i for i, _, _ in fresh)),
            {**s.new_index, **{i: r for (i, _, _), r in zip(fresh, rows, strict=True)}},
            np.concatenate([s.categories, np.asarray(cats, np.int32)]),
            names, cat_index,
            np.concatenate([s.available, [m.available for _, m, _ in fresh]]).astype(bool),
            s.metadata,
            {**s.updates, **{r: m for (_, m, _), r in zip(fresh, rows, strict=True)}},
            new_in, new_out,
            {**s.cold_neighbours,
             **{r: (c.neighbours, c.weights) for (_, _, c), r in zip(fresh, rows, strict=True)}},
        )  # fmt: skip
        return len(fresh)

    def new_products(self) -> list[tuple[str, ProductMetadata, ColdVectors]]:
        """Products added since training, with their cold-start vectors (to save them)."""
        s = self.state
        out = []
        for k, item_id in enumerate(s.new_ids):
            row = self.n_trained + k
            warm, share = s.cold_neighbours[row]
            cold = ColdVectors(s.new_vectors_in[k], s.new_vectors_out[k], warm, share)
            out.append((item_id, s.metadata_of(row) or ProductMetadata(), cold))
        return out

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {
            "trained_items": self.n_trained,
            "new_items": s.n_rows - self.n_trained,
            "unavailable": int((~s.available).sum()),
        }
