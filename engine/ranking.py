"""The ranking stage: blend per-candidate signals into one score.

Candidates come from several generators (co-visitation, session neighbourhood, HNSW on the
session vector, the session's own items); each candidate gets one value per signal, each
signal is scaled to ``[0, 1]`` over the candidates of the request (divide by the maximum; the
embedding score, which can be negative, is min-max scaled), and the score is the weighted sum.
The weights are tuned on a validation split carved from the training sessions and stored in
the bundle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from engine.errors import ConfigError

SIGNALS = ("covisitation", "session_knn", "embedding", "repeat", "popularity")
COVISITATION, SESSION_KNN, EMBEDDING, REPEAT, POPULARITY = range(len(SIGNALS))


@dataclass(frozen=True)
class RankingWeights:
    """Weight of each signal in the blend (0 switches a signal off, and its generator)."""

    covisitation: float = 1.0
    session_knn: float = 1.0
    embedding: float = 0.1
    repeat: float = 0.3
    popularity: float = 0.01
    embedding_candidates: int = 100

    def __post_init__(self) -> None:
        if any(w < 0 for w in self.as_array()):
            raise ConfigError(f"ranking weights must be >= 0: {self}")
        if self.embedding_candidates < 0:
            raise ConfigError("embedding_candidates must be >= 0")

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, s) for s in SIGNALS], dtype=np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


def scale_signals(features: np.ndarray) -> np.ndarray:
    """Scale each signal (row of ``features``, shape ``(n_signals, n_candidates)``) to [0, 1]."""
    out = np.zeros_like(features, dtype=np.float32)
    if features.shape[1] == 0:
        return out
    emb = features[EMBEDDING]
    lo = emb.min()
    shifted = features.copy()
    shifted[EMBEDDING] = emb - lo
    top = shifted.max(axis=1, keepdims=True)
    np.divide(shifted, top, out=out, where=top > 0)
    return out


def blend(features: np.ndarray, weights: RankingWeights) -> np.ndarray:
    """One score per candidate: the weighted sum of the scaled signals."""
    return weights.as_array() @ scale_signals(features)
