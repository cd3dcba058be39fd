import numpy as np
import pytest

from engine.categories import NO_CATEGORY
from engine.corpus import SessionCorpus
from engine.errors import DataError, UnknownItemError
from engine.vectors import ItemVectors


def test_corpus_from_sequences():
    c = SessionCorpus.from_sequences([["a", "b", "a"], ["c", "b"]], {"a": "x", "b": "x"})
    assert c.n_items == 3 and c.n_sessions == 2 and c.n_tokens == 5
    assert c.item_counts.tolist() == [2, 2, 1]
    assert c.item_categories.tolist() == [0, 0, NO_CATEGORY]
    assert c.session(1).tolist() == [c.index_of("c"), c.index_of("b")]
    assert c.has_categories


def test_corpus_subset_recounts():
    c = SessionCorpus.from_sequences([["a", "b"], ["c", "b"], ["a", "c"]])
    sub = c.subset_sessions(np.array([True, False, True]))
    assert sub.n_sessions == 2
    assert sub.item_counts.tolist() == [2, 1, 1]
    assert sub.session(1).tolist() == [0, 2]


def test_corpus_rejects_bad_indices():
    with pytest.raises(DataError):
        SessionCorpus(
            item_ids=np.array(["a"], dtype=object),
            item_counts=np.array([1]),
            item_categories=np.array([-1]),
            category_names=np.array([], dtype=object),
            indptr=np.array([0, 2]),
            indices=np.array([0, 1]),
        )


def test_vectors_are_read_only_and_indexed():
    v = ItemVectors(np.array(["a", "b"], dtype=object), np.ones((2, 3)), np.zeros((2, 3)))
    assert v.input.dtype == np.float32 and not v.input.flags.writeable
    assert v.index_of("b") == 1 and "a" in v and "z" not in v
    assert v.indices_of(["b", "z", "a"]).tolist() == [1, 0]
    with pytest.raises(UnknownItemError, match="unknown item 'z'"):
        v.index_of("z")
    with pytest.raises(DataError):
        ItemVectors(np.array(["a"], dtype=object), np.ones((2, 3)), np.ones((2, 3)))
