"""The training corpus: an item vocabulary and sessions as integer sequences.

This is the hand-over point between the batch pipeline (which reads events and cuts sessions)
and every model that learns from sessions (prod2vec, co-visitation, popularity). It holds
no I/O: pipelines build it, models read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.categories import index_categories
from engine.errors import DataError


@dataclass(frozen=True)
class SessionCorpus:
    """Sessions over a fixed item vocabulary, stored as CSR arrays.

    Args:
        item_ids: item id (string) of each vocabulary index, shape ``(n_items,)``.
        item_counts: number of views of each item in the sessions, shape ``(n_items,)``.
        item_categories: category index of each item (into ``category_names``), or
            :data:`NO_CATEGORY`; shape ``(n_items,)``, int32.
        category_names: category id (string) of each category index.
        indptr: session ``s`` is ``indices[indptr[s]:indptr[s + 1]]``; shape ``(n_sessions + 1,)``.
        indices: item indices of all sessions, in time order within each session; int32.
    """

    item_ids: np.ndarray
    item_counts: np.ndarray
    item_categories: np.ndarray
    category_names: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    _index: dict[str, int] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if not (len(self.item_counts) == len(self.item_categories) == n):
            raise DataError("item_ids, item_counts and item_categories must have the same length")
        if len(self.indptr) == 0 or self.indptr[0] != 0 or self.indptr[-1] != len(self.indices):
            raise DataError("indptr must start at 0 and end at len(indices)")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n):
            raise DataError("session item indices out of vocabulary range")
        object.__setattr__(self, "indptr", np.ascontiguousarray(self.indptr, dtype=np.int64))
        object.__setattr__(self, "indices", np.ascontiguousarray(self.indices, dtype=np.int32))
        object.__setattr__(
            self, "item_counts", np.ascontiguousarray(self.item_counts, dtype=np.int64)
        )
        object.__setattr__(
            self, "item_categories", np.ascontiguousarray(self.item_categories, dtype=np.int32)
        )
        object.__setattr__(self, "_index", {str(i): k for k, i in enumerate(self.item_ids)})

    @classmethod
    def from_sequences(
        cls,
        sessions: list[list[str]],
        item_category: dict[str, str] | None = None,
    ) -> SessionCorpus:
        """Build a corpus from lists of item ids (small inputs: tests, examples)."""
        vocab: dict[str, int] = {}
        flat: list[int] = []
        indptr = [0]
        for session in sessions:
            for item in session:
                flat.append(vocab.setdefault(str(item), len(vocab)))
            indptr.append(len(flat))
        item_ids = np.array(list(vocab), dtype=object)
        counts = np.bincount(np.asarray(flat, dtype=np.int64), minlength=len(vocab))
        item_category = item_category or {}
        categories = index_categories(
            [None if item_category.get(i) is None else str(item_category[i]) for i in vocab]
        )
        return cls(
            item_ids=item_ids,
            item_counts=counts,
            item_categories=categories.codes,
            category_names=np.array(categories.names, dtype=object),
            indptr=np.asarray(indptr, dtype=np.int64),
            indices=np.asarray(flat, dtype=np.int32),
        )

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_sessions(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_tokens(self) -> int:
        return len(self.indices)

    @property
    def has_categories(self) -> bool:
        return bool(len(self.category_names)) and bool((self.item_categories >= 0).any())

    def session(self, s: int) -> np.ndarray:
        return self.indices[self.indptr[s] : self.indptr[s + 1]]

    def index_of(self, item_id: str) -> int:
        """Vocabulary index of ``item_id``; raises :class:`KeyError` when unknown."""
        return self._index[str(item_id)]

    def subset_sessions(self, mask: np.ndarray) -> SessionCorpus:
        """The same vocabulary with only the sessions where ``mask`` is true (validation splits)."""
        mask = np.asarray(mask, dtype=bool)
        lengths = np.diff(self.indptr)[mask]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        keep = np.repeat(mask, np.diff(self.indptr))
        indices = self.indices[keep]
        counts = np.bincount(indices, minlength=self.n_items)
        return SessionCorpus(
            item_ids=self.item_ids,
            item_counts=counts,
            item_categories=self.item_categories,
            category_names=self.category_names,
            indptr=indptr,
            indices=indices,
        )
