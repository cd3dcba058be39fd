"""The ranking stage: a linear model over per-candidate features.

Candidates come from several generators (co-visitation, the session neighbourhood, HNSW on the
session vector, the session's own items, popular items as a last resort). Each candidate gets
the features below, all cheap to compute at request time; the score is their weighted sum.
The weights are learned in the batch pipeline (listwise softmax regression on a validation
split carved from the training sessions, see pipelines/ranker.py) and stored in the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError

FEATURES = (
    "related",  # co-visitation score / its maximum over the candidates
    "neighbours",  # session-kNN score / its maximum over the candidates
    "repeat",  # sum over the candidate's occurrences in the session of repeat_decay**age
    "embedding",  # session vector . output vector
    "log_popularity",  # log1p(views in training)
    "log_recent_popularity",  # log1p(views in the newest sessions of training)
    "is_last",  # the candidate is the newest session item
    "same_category_as_last",
    "category_share",  # share of session items in the candidate's category
    "log_related",  # log(related + 1e-3)
    "log_neighbours",  # log(neighbours + 1e-3)
    "successor",  # share of views of the newest item directly followed by the candidate
    "log_successor",  # log(successor + 1e-3)
    "in_session",
    "log_related_raw",  # log(raw co-visitation score + 1e-4)
    "log_neighbours_raw",  # log(raw session-kNN score + 1e-2)
)

# A hand-set blend (not learned) for bundles built without a learned ranker, e.g. when the
# training data is too small to carve a validation split from: the three evidence signals
# scaled to [0, 1], a small say for the embedding and for popularity.
DEFAULT_WEIGHTS = {
    "related": 1.0,
    "neighbours": 1.0,
    "repeat": 0.5,
    "embedding": 0.05,
    "log_popularity": 0.01,
}


@dataclass(frozen=True)
class RankerParams:
    """Candidate generation sizes and the ranker's weights.

    Args:
        related_candidates: strongest co-visitation candidates kept.
        neighbour_candidates: strongest session-kNN candidates kept.
        embedding_candidates: nearest items to the session vector (HNSW) kept.
        embedding_fills_only: search HNSW only when the co-visitation rows of the session's
            items hold fewer than ``related_candidates`` entries, i.e. when the statistics
            cannot fill their share (new, rare or cold products); False searches on every
            request. On Diginetica searching every time cost 2.3x the CPU per request for
            +0.0002 HR@20; the embedding feature is computed for every candidate either way.
        min_candidates: popular items fill the candidate list up to this many plus the
            session length.
        repeat_decay: per-step decay of the ``repeat`` feature.
        recent_share: share of the newest training sessions behind ``log_recent_popularity``.
        weights: weight of each feature (raw scale; missing features weigh 0).
    """

    related_candidates: int = 100
    neighbour_candidates: int = 100
    embedding_candidates: int = 50
    embedding_fills_only: bool = True
    min_candidates: int = 20
    repeat_decay: float = 0.8
    recent_share: float = 0.05
    weights: dict[str, float] | None = None

    def __post_init__(self) -> None:
        sizes = (self.related_candidates, self.neighbour_candidates, self.embedding_candidates)
        if min(sizes) < 0 or self.min_candidates < 0:
            raise ConfigError("candidate counts must be >= 0")
        if not 0 < self.repeat_decay <= 1 or not 0 < self.recent_share <= 1:
            raise ConfigError("repeat_decay and recent_share must be in (0, 1]")
        unknown = set(self.weights or {}) - set(FEATURES)
        if unknown:
            raise ConfigError(f"unknown ranking features {sorted(unknown)}; known: {FEATURES}")

    @property
    def weight_vector(self) -> np.ndarray:
        w = self.weights if self.weights is not None else DEFAULT_WEIGHTS
        return np.array([w.get(f, 0.0) for f in FEATURES], dtype=np.float32)

    def with_weights(self, weights: dict[str, float]) -> RankerParams:
        return RankerParams(**{**self.to_dict(), "weights": dict(weights)})

    def to_dict(self) -> dict:
        return {
            "related_candidates": self.related_candidates,
            "neighbour_candidates": self.neighbour_candidates,
            "embedding_candidates": self.embedding_candidates,
            "embedding_fills_only": self.embedding_fills_only,
            "min_candidates": self.min_candidates,
            "repeat_decay": self.repeat_decay,
            "recent_share": self.recent_share,
            "weights": None if self.weights is None else dict(self.weights),
        }
