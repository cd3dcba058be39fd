"""Next-item scoring with item vectors alone: session vector from input vectors, dotted with
outputs (benchmarks/train_quality.py measures the trainer with it, every item ranked).

A session's vector is the recency-weighted mean of the *input* vectors of the items viewed so
far; every item is scored by the dot product of that vector with its *output* vector (the
skip-gram objective's own pairing: an input item predicts output items). The served
recommender (engine/recommender.py) does much more; this is the vectors' own quality.

Recency weights: the ``p``-th of ``L`` items (``p = 1`` oldest, ``p = L`` the current one) gets
weight ``(p / L) ** recency``: ``recency = 0`` is the plain mean, ``1`` (default) is linear in
position, larger values lean harder on the last items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange

from engine.errors import ConfigError
from engine.metrics import rank_of
from engine.vectors import ItemVectors

DEFAULT_RECENCY = 1.0


def recency_weights(length: int, recency: float = DEFAULT_RECENCY) -> np.ndarray:
    """Weights of the positions ``1..length`` of a session (oldest first), summing to 1."""
    if recency < 0 or not np.isfinite(recency):
        raise ConfigError(f"recency must be a finite number >= 0, got {recency}")
    if length <= 0:
        return np.zeros(0, dtype=np.float32)
    w = (np.arange(1, length + 1, dtype=np.float64) / length) ** recency
    return (w / w.sum()).astype(np.float32)


def session_vector(
    vectors: ItemVectors, prefix_indices: Sequence[int], recency: float = DEFAULT_RECENCY
) -> np.ndarray:
    """Recency-weighted mean of the input vectors of ``prefix_indices`` (oldest first).

    An empty prefix gives the zero vector (every item then scores 0).
    """
    idx = np.asarray(prefix_indices, dtype=np.int64)
    if idx.size == 0:
        return np.zeros(vectors.dim, dtype=np.float32)
    return recency_weights(len(idx), recency) @ vectors.input[idx]


def next_item_scores(
    vectors: ItemVectors, prefix_indices: Sequence[int], recency: float = DEFAULT_RECENCY
) -> np.ndarray:
    """Score of every item as the next one after ``prefix_indices`` (higher is better).

    Args:
        vectors: trained item vectors.
        prefix_indices: vocabulary indices of the items viewed so far, oldest first (unknown
            items must already be dropped: see :meth:`ItemVectors.indices_of`).
        recency: recency exponent of the weights (see the module docstring).

    Returns:
        float32 array of shape ``(len(vectors),)``.
    """
    return vectors.output @ session_vector(vectors, prefix_indices, recency)


def next_item_ranks(
    vectors: ItemVectors,
    prefixes: Sequence[Sequence[int]],
    targets: Sequence[int],
    recency: float = DEFAULT_RECENCY,
    batch_size: int = 512,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """1-based rank of each target among all items, :func:`engine.metrics.rank_of` semantics.

    Vectorised over batches of prefixes. A target index below 0 (unknown item) gets rank
    ``len(vectors) + 1``, a miss at any cut-off.

    Args:
        vectors: trained item vectors.
        prefixes: per test case, the vocabulary indices of the prefix, oldest first.
        targets: per test case, the vocabulary index of the true next item, or -1.
        recency: recency exponent of the session vector.
        batch_size: prefixes scored at once (memory: ``batch_size * len(vectors)`` floats).
        groups: optional int group (e.g. category index) of every item: rank each target only
            among the items of its own group (a diagnostic of within-category ordering).
    """
    targets = np.asarray(targets, dtype=np.int64)
    if len(prefixes) != len(targets):
        raise ConfigError(f"{len(prefixes)} prefixes for {len(targets)} targets")
    ranks = np.empty(len(targets), dtype=np.int64)
    if groups is None:
        groups = np.zeros(len(vectors), dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) != len(vectors):
        raise ConfigError(f"{len(groups)} groups for {len(vectors)} items")
    for start in range(0, len(targets), batch_size):
        stop = min(start + batch_size, len(targets))
        sessions = np.stack(
            [session_vector(vectors, prefixes[i], recency) for i in range(start, stop)]
        )
        scores = sessions @ vectors.output.T
        ranks[start:stop] = _ranks(scores, targets[start:stop], groups)
    return ranks


@njit(parallel=True, cache=True)
def _ranks(scores: np.ndarray, targets: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Row-wise ``rank_of(scores[r], targets[r])`` among the target's group (the other groups'
    items scored -inf: never above the target, never tied with it)."""
    n_rows, n_items = scores.shape
    out = np.empty(n_rows, dtype=np.int64)
    for r in prange(n_rows):
        tgt = targets[r]
        if tgt < 0 or tgt >= n_items:
            out[r] = n_items + 1
            continue
        out[r] = rank_of(np.where(groups == groups[tgt], scores[r], -np.inf), tgt)
    return out
