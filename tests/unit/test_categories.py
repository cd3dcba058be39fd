"""One category indexer: the corpus, the metadata join and the served catalogue number the
same categories the same way (numerically when every id is an integer, else as text)."""

from __future__ import annotations

import numpy as np

from engine.catalog import Catalog
from engine.categories import NO_CATEGORY, first_per_group, index_categories
from engine.corpus import SessionCorpus


def test_integer_ids_are_numbered_in_numeric_order_and_others_as_text():
    codes, names, index = index_categories(["10", None, "9", "10"])
    assert names == ["9", "10"] and index == {"9": 0, "10": 1}
    assert codes.tolist() == [1, NO_CATEGORY, 0, 1] and codes.dtype == np.int32
    assert index_categories(["b", "a", "10"]).names == ["10", "a", "b"]


def test_corpus_and_catalogue_give_a_category_the_same_index():
    items = ["p1", "p2", "p3"]
    cats = {"p1": "10", "p2": "9", "p3": "100"}
    corpus = SessionCorpus.from_sequences([items], cats)
    catalog = Catalog(items, [cats[i] for i in items])
    assert list(corpus.category_names) == catalog.state.category_names == ["9", "10", "100"]
    assert corpus.item_categories.tolist() == catalog.state.categories.tolist() == [1, 0, 2]


def test_first_per_group_keeps_the_order_and_leaves_out_rows_without_a_group():
    groups = np.array([0, 1, NO_CATEGORY, 0, 1, 0])
    order = np.array([5, 4, 3, 2, 1, 0])
    got = first_per_group(order, groups, 2)
    assert {g: rows.tolist() for g, rows in got.items()} == {0: [5, 3], 1: [4, 1]}
