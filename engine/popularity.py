"""Popularity: the fallback when nothing is known, and a weak signal in the ranking blend."""

from __future__ import annotations

import numpy as np

from engine.categories import first_per_group


def popularity_scores(counts: np.ndarray) -> np.ndarray:
    """``log1p(count)`` scaled to [0, 1] (dampened: the head should not swamp the blend)."""
    logs = np.log1p(np.asarray(counts, dtype=np.float64))
    top = logs.max() if len(logs) else 0.0
    return (logs / top if top > 0 else logs).astype(np.float32)


def top_by_category(
    scores: np.ndarray, categories: np.ndarray, per_category: int = 200
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The ``per_category`` most popular rows overall, and of every category."""
    order = np.argsort(-scores, kind="stable")
    return order[:per_category], first_per_group(order, categories, per_category)


def recent_counts(
    indptr: np.ndarray, indices: np.ndarray, n_items: int, share: float
) -> np.ndarray:
    """Views of each item in the newest ``share`` of the sessions (stored in time order)."""
    n_sessions = len(indptr) - 1
    first = int(n_sessions * (1 - share))
    return np.bincount(indices[indptr[first] :], minlength=n_items)
