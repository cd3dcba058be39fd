"""Next-item ranking metrics, computed as the session-based recommendation papers do.

Every item of the catalogue is ranked; the rank of the target is ``1 + #items scored strictly
higher + #items tied with it that come before it in index order`` (ties never flatter a model).
"""

from __future__ import annotations

import numpy as np


def rank_of(scores: np.ndarray, target: int) -> int:
    """1-based rank of ``target`` in ``scores`` (higher is better), ties broken by index."""
    t = scores[target]
    if not np.isfinite(t):
        return len(scores) + 1
    higher = int(np.count_nonzero(scores > t))
    tied_before = int(np.count_nonzero(scores[:target] == t))
    return higher + tied_before + 1


def hit_rate_and_mrr(ranks: np.ndarray, k: int = 20) -> tuple[float, float]:
    """HR@k (share of targets ranked within the top k) and MRR@k (mean 1/rank, 0 beyond k).

    ``ranks`` are 1-based; a target that could not be ranked (unknown item) counts as a miss
    and should be passed as any value > k.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return 0.0, 0.0
    hit = ranks <= k
    return float(hit.mean()), float(np.where(hit, 1.0 / ranks, 0.0).mean())
