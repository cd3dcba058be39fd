"""Trained item vectors, separate from the trainer that produced them (gensim's KeyedVectors).

Serving loads only this; it never imports a trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import DataError, UnknownItemError


@dataclass(frozen=True)
class ItemVectors:
    """Input and output embedding matrices of a skip-gram model, read-only.

    Args:
        item_ids: item id (string) of each row, shape ``(n_items,)``.
        input: "context" vectors (word2vec's ``syn0``/``wv``): what an item *is*; compare two
            items with cosine on these for "similar products".
        output: "target" vectors (word2vec's ``syn1neg``): what an item is *predicted as*; a
            session vector built from input vectors dotted with these scores "what comes next".
    """

    item_ids: np.ndarray
    input: np.ndarray
    output: np.ndarray
    _index: dict[str, int] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.input.shape != self.output.shape or self.input.ndim != 2:
            raise DataError(
                f"input {self.input.shape} and output {self.output.shape} must be equal 2-D shapes"
            )
        if len(self.item_ids) != self.input.shape[0]:
            raise DataError(f"{len(self.item_ids)} ids for {self.input.shape[0]} vectors")
        for name in ("input", "output"):
            arr = getattr(self, name)
            if arr.dtype != np.float32:
                arr = arr.astype(np.float32)
            if arr.flags.writeable and arr.flags.owndata:
                arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "_index", {str(i): k for k, i in enumerate(self.item_ids)})

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._index

    @property
    def dim(self) -> int:
        return int(self.input.shape[1])

    def index_of(self, item_id: str) -> int:
        try:
            return self._index[str(item_id)]
        except KeyError:
            raise UnknownItemError(
                f"unknown item {item_id!r}: it has no vector in this model"
            ) from None

    def indices_of(self, item_ids) -> np.ndarray:
        """Indices of the known ids among ``item_ids`` (unknown ids are skipped), int64."""
        get = self._index.get
        found = (get(str(i)) for i in item_ids)
        return np.fromiter((i for i in found if i is not None), dtype=np.int64)
