"""Negative-sampling tables: one global ``count**a`` table plus one table per category.

gensim's ``make_cum_table`` draws a negative by binary search in a cumulative table; we use
Walker/Vose alias tables instead (one random number, two memory reads, O(1) whatever the
vocabulary), with the same distribution: item ``i`` is drawn with probability proportional to
``count[i] ** ns_exponent``. Category tables use the same weights restricted to the category.
Everything is stored in flat arrays (one concatenation of all category tables plus offsets) so
that the numba kernel can index them without Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from engine.categories import NO_CATEGORY
from engine.errors import DataError
from engine.prod2vec.rng import below, low32, next_u64, stream_seed

_ALWAYS = np.uint32(0xFFFFFFFF)
"""Acceptance threshold meaning "always keep this slot" (u32 <= threshold is always true)."""


@njit(cache=True)
def _build_alias(weights: np.ndarray, thresholds: np.ndarray, alias: np.ndarray) -> None:
    """Vose's alias method for ``weights`` (all > 0), written into ``thresholds``/``alias``.

    Slot ``j`` keeps itself when a uniform ``u32 <= thresholds[j]``, else yields ``alias[j]``
    (a position in the same table).
    """
    n = weights.shape[0]
    scaled = weights * (n / weights.sum())
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for j in range(n):
        if scaled[j] < 1.0:
            small[ns] = j
            ns += 1
        else:
            large[nl] = j
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        # P(keep s) = scaled[s]; "u <= t" with u uniform on 0..2**32-1 keeps with (t + 1) / 2**32.
        thresholds[s] = np.uint32(min(max(scaled[s] * 4294967296.0 - 1.0, 0.0), 4294967295.0))
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    # Whatever remains has probability 1 up to rounding: keep itself.
    for k in range(nl):
        thresholds[large[k]] = 0xFFFFFFFF
        alias[large[k]] = large[k]
    for k in range(ns):
        thresholds[small[k]] = 0xFFFFFFFF
        alias[small[k]] = small[k]


@njit(inline="always", cache=True)
def draw_from(
    bits: np.uint64,
    thresholds: np.ndarray,
    alias: np.ndarray,
    items: np.ndarray,
    start: np.int64,
    n: np.int64,
) -> np.int32:
    """One draw from the alias table at ``[start, start + n)``; returns an item index."""
    j = start + np.int64(below(bits, np.uint64(n)))
    if low32(bits) > thresholds[j]:
        j = start + alias[j]
    return items[j]


@njit(cache=True)
def _draw_many(state, count, thresholds, alias, items, start, n):
    out = np.empty(count, dtype=np.int32)
    for k in range(count):
        state, bits = next_u64(state)
        out[k] = draw_from(bits, thresholds, alias, items, start, n)
    return out


@dataclass(frozen=True)
class CategoryNegativeSampler:
    """Alias tables for drawing negatives globally or from one item's own category.

    Build it with :meth:`from_counts`. Table 0 is the global table; table ``t >= 1`` is a
    category. Arrays (all flat, for the kernel):

    Args:
        thresholds: uint32 acceptance threshold of each slot of every table.
        alias: int64 slot (relative to the table's start) taken when a slot rejects.
        items: int32 item index held by each slot.
        offsets: int64, table ``t`` is ``[offsets[t], offsets[t + 1])``.
        item_table: int32 per item, the table its same-category negatives come from; ``0``
            (global) for an item without a category or alone in its category.
        category_table: int32 per category index, its table, or 0 when it fell back to global.
    """

    thresholds: np.ndarray
    alias: np.ndarray
    items: np.ndarray
    offsets: np.ndarray
    item_table: np.ndarray
    category_table: np.ndarray

    @classmethod
    def from_counts(
        cls,
        counts: np.ndarray,
        categories: np.ndarray | None = None,
        ns_exponent: float = 0.75,
    ) -> CategoryNegativeSampler:
        """Tables for weights ``counts ** ns_exponent``.

        Args:
            counts: occurrences of each item (items with count 0 are never drawn).
            categories: category index of each item, or ``NO_CATEGORY`` (-1); None: no categories.
            ns_exponent: the ``a`` of unigram**a (0.75 in word2vec; 0 is uniform, 1 is unigram).
        """
        counts = np.asarray(counts, dtype=np.float64)
        n_items = len(counts)
        if categories is None:
            categories = np.full(n_items, NO_CATEGORY, dtype=np.int32)
        categories = np.asarray(categories, dtype=np.int64)
        if len(categories) != n_items:
            raise DataError(f"{len(categories)} categories for {n_items} item counts")
        if (counts < 0).any() or not np.isfinite(counts).all():
            raise DataError("item counts must be finite and >= 0")
        weights = np.zeros(n_items)
        np.power(counts, ns_exponent, out=weights, where=counts > 0)
        drawable = weights > 0
        if not drawable.any():
            raise DataError("no item has a positive count: the corpus has no sessions to train on")

        n_categories = int(categories.max()) + 1 if (categories >= 0).any() else 0
        # Group drawable items by category; a category needs two or more drawable items,
        # otherwise every same-category draw would be the positive itself.
        member = drawable & (categories >= 0)
        per_category = np.bincount(categories[member], minlength=n_categories)
        own_table = per_category >= 2
        in_table = np.zeros(n_items, dtype=bool)
        in_table[member] = own_table[categories[member]]
        order = np.flatnonzero(in_table)
        order = order[np.argsort(categories[order], kind="stable")]
        kept_categories = np.flatnonzero(own_table)

        global_items = np.flatnonzero(drawable)
        sizes = np.concatenate([[len(global_items)], per_category[kept_categories]])
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        items = np.concatenate([global_items, order]).astype(np.int32)
        thresholds = np.empty(len(items), dtype=np.uint32)
        alias = np.empty(len(items), dtype=np.int64)
        for t in range(len(sizes)):
            a, b = offsets[t], offsets[t + 1]
            _build_alias(weights[items[a:b]], thresholds[a:b], alias[a:b])

        category_table = np.zeros(n_categories, dtype=np.int32)
        category_table[kept_categories] = np.arange(1, len(kept_categories) + 1, dtype=np.int32)
        item_table = np.zeros(n_items, dtype=np.int32)
        has_cat = categories >= 0
        item_table[has_cat] = category_table[categories[has_cat]]
        return cls(thresholds, alias, items, offsets, item_table, category_table)

    @property
    def n_tables(self) -> int:
        """1 (global) + the number of categories with their own table."""
        return len(self.offsets) - 1

    @property
    def n_category_tables(self) -> int:
        return self.n_tables - 1

    def draw(self, table: int, size: int, seed: int = 0) -> np.ndarray:
        """``size`` draws from table ``table`` with the kernel's own draw code (tests, examples)."""
        start = self.offsets[table]
        n = self.offsets[table + 1] - start
        return _draw_many(
            stream_seed(seed, table), size, self.thresholds, self.alias, self.items, start, n
        )

    def draw_global(self, size: int, seed: int = 0) -> np.ndarray:
        return self.draw(0, size, seed)

    def draw_for_item(self, item: int, size: int, seed: int = 0) -> np.ndarray:
        """Negatives the kernel would draw as "same category as ``item``"."""
        return self.draw(int(self.item_table[item]), size, seed)


def keep_thresholds(counts: np.ndarray, sample: float) -> np.ndarray:
    """Frequent-item subsampling as word2vec/gensim: uint32 keep thresholds per item.

    An occurrence of item ``i`` is kept when a uniform ``u32 <= threshold[i]``, i.e. with
    probability ``(sqrt(c / t) + 1) * t / c`` capped at 1, where ``c`` is the item's count and
    ``t = sample * total`` (``sample < 1``) or, gensim's shorthand, ``sample * (3 + sqrt 5) / 2``
    (``sample >= 1``). ``sample = 0`` keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    keep = np.ones(len(counts))
    if sample > 0:
        total = counts.sum()
        t = sample * total if sample < 1.0 else float(int(sample * (3 + np.sqrt(5)) / 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (np.sqrt(counts / t) + 1.0) * (t / counts)
        keep = np.where(counts > 0, np.minimum(p, 1.0), 1.0)
    return keep_probability_to_threshold(keep)


def keep_probability_to_threshold(p: np.ndarray) -> np.ndarray:
    """uint32 thresholds with ``P(u32 <= threshold) = p`` (to 2**-32)."""
    t = np.clip(np.asarray(p, dtype=np.float64) * 4294967296.0 - 1.0, 0.0, 4294967295.0)
    return t.astype(np.uint32)
