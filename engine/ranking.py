"""The ranking stage: a linear model over per-candidate features.

Candidates come from several generators (co-visitation, the session neighbourhood, HNSW on the
session vector, the session's own items, popular items as a last resort). Each candidate gets
the features below, all cheap to compute at request time; the score is their weighted sum.
The weights are learned in the batch pipeline (listwise softmax regression on a validation
split carved from the training sessions, see pipelines/ranker.py) and stored in the bundle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from engine.errors import ConfigError

#: The one name table of the features: the matrix the request kernel fills has these columns,
#: in this order (engine/kernel_arrays.py generates each name's column from it), and a
#: bundle's weights are stored by these names.
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

#: Largest freshness boost accepted: far beyond any useful value (30 logits put a product
#: above anything the evidence says), and a bound a bundle or a setting cannot exceed.
MAX_FRESHNESS_BOOST = 30.0

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
        freshness_boost: exploration for products without views (added after training, or
            listed with no views at training time): on a page of their category, the
            ``fresh_candidates`` of them closest to the session (session vector . output
            vector) become candidates and this is added to their score. The learned ranker's
            scores are logits, so +b multiplies such a product's odds by e^b. With no
            co-visitation, neighbourhood or popularity evidence such a product otherwise almost
            never reaches the list. Measured on the demo shop (benchmarks/new_products.py,
            k=20): a product without views on 0.9% of its category's pages at 0, 23% at 1,
            69% at 2, 85% at 2.5, 95% at 3; HR@20 on the held-out pairs 0.6723 at 0, 0.6670 at
            2.5 (0.992x: one slot of twenty given to exploration), MRR@20 0.3665 -> 0.3635.
            Above 3 the product climbs to the top and MRR falls (0.3453 at 4, 0.2316 at 6).
            The hand-set blend of ``--ranker default`` scores on a smaller scale: there 0.5
            already shows one on 97% of the pages (HR@20 0.6539 -> 0.6474).
            0 turns it off (no fresh candidates, no boost). Trained products are never boosted,
            so a catalogue without products lacking views ranks exactly as without it.
        fresh_candidates: how many products without views of the page's category are added
            as candidates and boosted (the closest ones); 1 shows at most one per answer.
    """

    related_candidates: int = 100
    neighbour_candidates: int = 100
    embedding_candidates: int = 50
    embedding_fills_only: bool = True
    min_candidates: int = 20
    repeat_decay: float = 0.8
    recent_share: float = 0.05
    weights: dict[str, float] | None = None
    freshness_boost: float = 2.5
    fresh_candidates: int = 1

    def __post_init__(self) -> None:
        sizes = (self.related_candidates, self.neighbour_candidates, self.embedding_candidates)
        if min(sizes) < 0 or self.min_candidates < 0:
            raise ConfigError("candidate counts must be >= 0")
        if not 0 < self.repeat_decay <= 1 or not 0 < self.recent_share <= 1:
            raise ConfigError("repeat_decay and recent_share must be in (0, 1]")
        unknown = set(self.weights or {}) - set(FEATURES)
        if unknown:
            raise ConfigError(f"unknown ranking features {sorted(unknown)}; known: {FEATURES}")
        boost = self.freshness_boost
        if (
            isinstance(boost, bool)
            or not isinstance(boost, int | float)
            or not math.isfinite(boost)
            or not 0 <= boost <= MAX_FRESHNESS_BOOST
        ):
            raise ConfigError(
                f"freshness_boost must be a number from 0 (off) to {MAX_FRESHNESS_BOOST}, "
                f"got {boost!r}"
            )
        fresh = self.fresh_candidates
        if isinstance(fresh, bool) or not isinstance(fresh, int) or not 0 <= fresh <= 100:
            raise ConfigError(f"fresh_candidates must be an integer from 0 to 100, got {fresh!r}")

    @property
    def weight_vector(self) -> np.ndarray:
        w = self.weights if self.weights is not None else DEFAULT_WEIGHTS
        return np.array([w.get(f, 0.0) for f in FEATURES], dtype=np.float32)

    def with_weights(self, weights: dict[str, float]) -> RankerParams:
        return RankerParams(**{**self.to_dict(), "weights": dict(weights)})

    @property
    def explores(self) -> bool:
        """Whether products without views get fresh candidates and the boost."""
        return self.freshness_boost > 0 and self.fresh_candidates > 0

    def with_freshness_boost(self, boost: float) -> RankerParams:
        return replace(self, freshness_boost=boost)

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
            "freshness_boost": self.freshness_boost,
            "fresh_candidates": self.fresh_candidates,
        }
