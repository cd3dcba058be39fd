"""Next-item ranking metrics, computed as the session-based recommendation papers do.

Every item of the catalogue is ranked; the rank of the target is ``1 + #items scored strictly
higher + #items tied with it that come before it in index order`` (ties never flatter a model).
:func:`rank_of` is that one definition (compiled, so batched kernels call it too);
:func:`rank_in_top` is the rank of a target in a recommended list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
import numpy as np


@nb.njit(cache=True)
def rank_of(scores: np.ndarray, target: int) -> int:
    """1-based rank of ``target`` in ``scores`` (higher is better), ties broken by index; a
    target with a non-finite score ranks ``len(scores) + 1`` (a miss)."""
    t = scores[target]
    if not np.isfinite(t):
        return len(scores) + 1
    higher = 0
    tied_before = 0
    for j in range(len(scores)):
        s = scores[j]
        if s > t:
            higher += 1
        elif s == t and j < target:
            tied_before += 1
    return higher + tied_before + 1


def rank_in_top(items: Sequence, target, k: int) -> int:
    """1-based position of ``target`` among the first ``k`` of ``items`` (a list, best
    first), or ``k + 1`` (a miss) when it is not there."""
    top = items[:k]
    return top.index(target) + 1 if target in top else k + 1


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
