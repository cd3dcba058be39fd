"""Co-visitation statistics: what visitors viewed after (and before) viewing an item.

Built once in the batch pipeline from the training sessions and stored in the bundle as a
row-normalised sparse matrix ``M[a, b]``: how strongly ``b`` follows ``a``. A pair at distance
``d`` in a session counts ``forward_decay**(d-1)`` when ``b`` comes after ``a`` and
``backward_weight * backward_decay**(d-1)`` when it comes before. Each row keeps its ``top_n``
strongest neighbours so that a request touches a bounded number of entries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba as nb
import numpy as np
import scipy.sparse as sp

from engine.corpus import SessionCorpus
from engine.errors import ConfigError


@dataclass(frozen=True)
class CoVisitationParams:
    """How pairs are counted.

    Args:
        window: largest distance in a session at which two views count as a pair.
        forward_decay: weight ratio per extra step for "b viewed after a".
        backward_weight: weight of "b viewed before a" relative to after.
        backward_decay: weight ratio per extra step for "before" pairs.
        top_n: neighbours kept per item (the strongest), bounding per-request work.
    """

    window: int = 6
    forward_decay: float = 0.5
    backward_weight: float = 0.5
    backward_decay: float = 0.5
    top_n: int = 200

    def __post_init__(self) -> None:
        if self.window < 1 or self.top_n < 1:
            raise ConfigError("co-visitation window and top_n must be >= 1")
        if not (0 < self.forward_decay <= 1 and 0 < self.backward_decay <= 1):
            raise ConfigError("co-visitation decays must be in (0, 1]")
        if self.backward_weight < 0:
            raise ConfigError("co-visitation backward_weight must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


@nb.njit(cache=True)
def _count_pairs(indptr, indices, window, fwd, bwd_w, bwd):
    n = 0
    for s in range(len(indptr) - 1):
        length = indptr[s + 1] - indptr[s]
        for i in range(length):
            n += 2 * min(window, length - 1 - i)
    rows = np.empty(n, np.int32)
    cols = np.empty(n, np.int32)
    vals = np.empty(n, np.float32)
    k = 0
    for s in range(len(indptr) - 1):
        o = indptr[s]
        length = indptr[s + 1] - o
        for i in range(length):
            a = indices[o + i]
            for j in range(i + 1, min(length, i + 1 + window)):
                b = indices[o + j]
                d = j - i
                rows[k] = a
                cols[k] = b
                vals[k] = fwd ** (d - 1)
                rows[k + 1] = b
                cols[k + 1] = a
                vals[k + 1] = bwd_w * bwd ** (d - 1)
                k += 2
    return rows, cols, vals


@nb.njit(cache=True)
def _top_n_rows(indptr, indices, data, top_n):
    n_rows = len(indptr) - 1
    out_ptr = np.zeros(n_rows + 1, np.int64)
    for r in range(n_rows):
        out_ptr[r + 1] = out_ptr[r] + min(top_n, indptr[r + 1] - indptr[r])
    out_idx = np.empty(out_ptr[-1], np.int32)
    out_val = np.empty(out_ptr[-1], np.float32)
    for r in range(n_rows):
        lo, hi = indptr[r], indptr[r + 1]
        row = data[lo:hi]
        order = np.argsort(-row, kind="mergesort")[: out_ptr[r + 1] - out_ptr[r]]
        for j in range(len(order)):
            out_idx[out_ptr[r] + j] = indices[lo + order[j]]
            out_val[out_ptr[r] + j] = row[order[j]]
    return out_ptr, out_idx, out_val


@dataclass(frozen=True)
class CoVisitation:
    """Row-normalised co-visitation matrix in CSR form; row ``a`` lists what follows ``a``.

    Rows are sorted by weight, strongest first. Read-only after construction.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    params: CoVisitationParams

    @classmethod
    def build(cls, corpus: SessionCorpus, params: CoVisitationParams | None = None) -> CoVisitation:
        p = params or CoVisitationParams()
        rows, cols, vals = _count_pairs(
            corpus.indptr,
            corpus.indices,
            p.window,
            p.forward_decay,
            p.backward_weight,
            p.backward_decay,
        )
        n = corpus.n_items
        m = sp.coo_matrix((vals.astype(np.float64), (rows, cols)), shape=(n, n)).tocsr()
        m.sum_duplicates()
        m.setdiag(0)  # an item following itself is the repeat signal's business
        m.eliminate_zeros()
        sums = np.asarray(m.sum(axis=1)).ravel()
        m = sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ m
        m = m.tocsr()
        ptr, idx, val = _top_n_rows(m.indptr.astype(np.int64), m.indices, m.data, p.top_n)
        return cls(ptr, idx, val, p)

    @property
    def n_items(self) -> int:
        return len(self.indptr) - 1

    def neighbours(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, weights) following ``row``, strongest first."""
        lo, hi = self.indptr[row], self.indptr[row + 1]
        return self.indices[lo:hi], self.weights[lo:hi]
