"""Nearest-neighbour indexes over a matrix of vectors: HNSW (hnswlib) and exact (numpy).

The index is separate from the vectors it covers (implicit's habit): it maps a query vector to
row numbers and scores, nothing else; ids, filters and ranking live elsewhere. Both classes
have the same shape, ``query(q, k) -> (rows, scores)`` with higher score = better, so that
tests and `evaluate --exact` can swap the exact index in as ground truth.

Spaces: ``"ip"`` (inner product: "what comes next" with output vectors) and ``"cosine"``
("similar products" on input vectors).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from engine.errors import BundleError, ConfigError, DataError

Space = Literal["ip", "cosine"]


@dataclass(frozen=True)
class HnswParams:
    """hnswlib parameters (see hnswlib's ALGO_PARAMS.md).

    Args:
        M: graph degree; higher gives better recall and more memory (16 is a good default).
        ef_construction: build-time beam width; higher builds slower and better.
        ef: query-time beam width; must be >= k. Not saved by hnswlib, so it is stored in the
            bundle and re-applied on every load. Inner-product search on output vectors with
            session vectors (built from input vectors) as queries needs a wide beam: on
            Diginetica recall@20 was 0.94 at ef 200, 0.97 at 300, 0.98 at 400.
        seed: random seed of the level assignment.
    """

    M: int = 16
    ef_construction: int = 200
    ef: int = 400
    seed: int = 100

    def __post_init__(self) -> None:
        if self.M < 2 or self.ef_construction < 1 or self.ef < 1:
            raise ConfigError(f"invalid HNSW parameters {self}: need M >= 2, ef >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def _normalized(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _check_space(space: str) -> None:
    if space not in ("ip", "cosine"):
        raise ConfigError(f"unknown space {space!r}; use 'ip' or 'cosine'")


class ExactIndex:
    """Brute-force search with one matrix product: exact, and the ground truth for HNSW.

    Thread-safe: queries only read the matrix.
    """

    def __init__(self, vectors: np.ndarray, space: Space = "ip") -> None:
        _check_space(space)
        self.space = space
        vectors = np.asarray(vectors, dtype=np.float32)
        self._matrix = _normalized(vectors) if space == "cosine" else vectors

    def __len__(self) -> int:
        return self._matrix.shape[0]

    def scores(self, q: np.ndarray) -> np.ndarray:
        """Scores of every row for query ``q`` of shape ``(dim,)`` or ``(n, dim)``."""
        q = np.asarray(q, dtype=np.float32)
        if self.space == "cosine":
            q = _normalized(q)
        return q @ self._matrix.T

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by score, best first; batched when ``q`` is 2-D."""
        scores = self.scores(q)
        k = min(k, scores.shape[-1])
        top = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
        top_scores = np.take_along_axis(scores, top, axis=-1)
        order = np.argsort(-top_scores, axis=-1, kind="stable")
        return np.take_along_axis(top, order, axis=-1), np.take_along_axis(top_scores, order, -1)


class HnswIndex:
    """Approximate search with hnswlib.

    Inner product is not a metric, and HNSW graphs built on it lose recall when vector norms
    vary (they do for output vectors: popular items are longer). So ``"ip"`` is reduced to
    Euclidean search (Bachrach et al., 2014): every item gets one extra coordinate
    ``sqrt(max_norm**2 - |x|**2)``, the query gets 0, and ``|q - x'|**2 = |q|**2 + max_norm**2
    - 2 q.x`` orders items exactly as ``q.x`` does. Scores returned are the inner products.

    Thread-safety (hnswlib): ``query`` calls are safe with each other; building/adding items
    is not safe with concurrent queries, so the live service never adds to a loaded index
    (new products are searched exactly beside it instead).
    """

    def __init__(self, index, space: Space, params: HnswParams, dim: int, max_norm: float) -> None:
        self._index = index
        self.space = space
        self.params = params
        self.dim = dim
        self.max_norm = max_norm

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        space: Space = "ip",
        params: HnswParams | None = None,
        threads: int = 0,
    ) -> HnswIndex:
        import hnswlib

        _check_space(space)
        params = params or HnswParams()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise DataError(f"need a non-empty 2-D matrix to index, got shape {vectors.shape}")
        dim = vectors.shape[1]
        max_norm = 0.0
        if space == "ip":
            sq = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)
            max_norm = float(np.sqrt(sq.max()))
            extra = np.sqrt(np.maximum(max_norm**2 - sq, 0.0)).astype(np.float32)
            vectors = np.hstack([vectors, extra[:, None]])
        index = hnswlib.Index(space="l2" if space == "ip" else "cosine", dim=vectors.shape[1])
        index.init_index(
            max_elements=len(vectors),
            ef_construction=params.ef_construction,
            M=params.M,
            random_seed=params.seed,
        )
        index.add_items(
            vectors, np.arange(len(vectors)), num_threads=threads or os.cpu_count() or 1
        )
        index.set_ef(params.ef)
        return cls(index, space, params, dim, max_norm)

    def save(self, path: str | os.PathLike) -> dict:
        """Write the graph to ``path``; return the metadata ``load`` needs (store it beside)."""
        self._index.save_index(str(path))
        return {
            "space": self.space,
            "dim": self.dim,
            "max_norm": self.max_norm,
            "params": self.params.to_dict(),
        }

    @classmethod
    def load(
        cls, path: str | os.PathLike, meta: dict, n_items: int, dim: int, ef: int | None = None
    ) -> HnswIndex:
        """Load a graph saved by :meth:`save`; ``ef`` (or the saved one) is re-applied.

        The graph must cover exactly ``n_items`` vectors of ``dim`` dimensions, labelled
        ``0..n_items-1``: its labels become rows of the vector matrices, so a graph that does
        not fit them is refused before any query.

        Raises:
            BundleError: the metadata or the graph does not fit the vectors.
        """
        import hnswlib

        space = meta["space"]
        _check_space(space)
        params = HnswParams(**meta["params"])
        if ef is not None:
            params = HnswParams(**{**params.to_dict(), "ef": ef})
        if int(meta["dim"]) != dim or not np.isfinite(float(meta["max_norm"])):
            raise BundleError(
                f"HNSW index {path} was built on {meta['dim']}-dimensional vectors (max norm "
                f"{meta['max_norm']}), the model has {dim}; re-train the bundle"
            )
        index = hnswlib.Index(space="l2" if space == "ip" else "cosine", dim=dim + (space == "ip"))
        index.load_index(str(path), max_elements=n_items)
        labels = np.asarray(index.get_ids_list(), dtype=np.int64)
        if (
            index.get_current_count() != n_items
            or len(labels) != n_items
            or (n_items and (labels.min() < 0 or labels.max() >= n_items))
        ):
            raise BundleError(
                f"HNSW index {path} holds {index.get_current_count()} items labelled "
                f"{labels.min() if len(labels) else '-'}..{labels.max() if len(labels) else '-'}"
                f", the model has {n_items} (rows 0..{n_items - 1}); re-train the bundle"
            )
        index.set_ef(params.ef)  # ef is not saved with the index
        return cls(index, space, params, dim, float(meta["max_norm"]))

    def __len__(self) -> int:
        return self._index.get_current_count()

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by score (inner product, or cosine), best first; batched when 2-D."""
        q = np.asarray(q, dtype=np.float32)
        single = q.ndim == 1
        q2 = q.reshape(1, -1) if single else q
        k = min(k, len(self))
        if k > self.params.ef:
            # hnswlib needs ef >= k; changing ef here would race with concurrent queries
            raise ConfigError(f"k={k} exceeds the index's ef={self.params.ef}; raise ef")
        if self.space == "ip":
            aug = np.zeros((len(q2), self.dim + 1), np.float32)
            aug[:, : self.dim] = q2
            labels, dist = self._index.knn_query(aug, k=k, num_threads=1)
            qq = (q2 * q2).sum(axis=1, dtype=np.float32)[:, None]
            scores = (qq + np.float32(self.max_norm**2) - dist) / 2  # squared l2 distance
        else:
            labels, dist = self._index.knn_query(q2, k=k, num_threads=1)
            scores = 1.0 - dist
        rows = labels.astype(np.int64)
        return (rows[0], scores[0]) if single else (rows, scores)
