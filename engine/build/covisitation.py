"""Counting co-visitation from the training sessions (see engine/covisitation.py for what the
two matrices mean and how they are read at request time).

Memory stays bounded whatever the number of sessions: the pairs are counted for a block of
rows (items) at a time, sized so that a block holds at most :data:`PAIRS_PER_BLOCK` pairs;
each block is summed, scaled and cut to its rows' ``top_n`` before the next is counted. Every
step but the column penalty is row-local; the column penalty needs each column's number of
non-zeros over all rows, which a first pass over the blocks counts when there is more than
one. The result does not depend on the blocks: the same pairs are summed in the same order.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

from engine.corpus import SessionCorpus
from engine.covisitation import CoVisitation, CoVisitationParams, SparseRows

PAIRS_PER_BLOCK = 40_000_000
"""Most pairs counted at once (about 1.6 GB at their peak, in scipy's conversion)."""


@nb.njit(cache=True)
def _pairs_per_row(indptr, indices, window, n_items, backward):
    """How many pairs each item's row receives (``backward``: pairs in both directions)."""
    out = np.zeros(n_items, np.int64)
    for s in range(len(indptr) - 1):
        o = indptr[s]
        length = indptr[s + 1] - o
        for i in range(length):
            out[indices[o + i]] += min(window, length - 1 - i)
            if backward:
                out[indices[o + i]] += min(window, i)
    return out


@nb.njit(cache=True)
def _count_pairs(indptr, indices, window, fwd, bwd_w, bwd, lo, hi, n):
    """The ``n`` pairs whose row item is in ``[lo, hi)`` (rows relative to ``lo``), in session
    order: (a, b) with weight ``fwd**(d-1)`` and, when ``bwd_w`` > 0, (b, a) with
    ``bwd_w * bwd**(d-1)``."""
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
                if lo <= a < hi:
                    rows[k] = a - lo
                    cols[k] = b
                    vals[k] = fwd ** (d - 1)
                    k += 1
                if bwd_w > 0 and lo <= b < hi:
                    rows[k] = b - lo
                    cols[k] = a
                    vals[k] = bwd_w * bwd ** (d - 1)
                    k += 1
    return rows[:k], cols[:k], vals[:k]


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


def _csr(rows, cols, vals, shape, lo: int) -> sp.csr_matrix:
    m = sp.coo_matrix((vals.astype(np.float64), (rows, cols)), shape=shape).tocsr()
    m.sum_duplicates()
    m.setdiag(0, k=lo)  # an item following itself is the repeat signal's business
    m.eliminate_zeros()
    return m


def _scale_rows(m: sp.csr_matrix, row_power: float) -> sp.csr_matrix:
    sums = np.asarray(m.sum(axis=1)).ravel()
    return (sp.diags(1.0 / np.where(sums > 0, sums, 1.0) ** row_power) @ m).tocsr()


def _scale_columns(m: sp.csr_matrix, nnz: np.ndarray, column_power: float) -> sp.csr_matrix:
    if not column_power:
        return m
    return (m @ sp.diags(1.0 / np.maximum(nnz, 1.0) ** column_power)).tocsr()


def top_n_rows(m: sp.csr_matrix, top_n: int) -> SparseRows:
    """The ``top_n`` strongest entries of each row of ``m``, strongest first."""
    return SparseRows(*_top_n_rows(m.indptr.astype(np.int64), m.indices, m.data, top_n))


def _blocks(per_row: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of at most ``budget`` pairs each (a heavier row alone)."""
    ends = np.cumsum(per_row)
    out, lo = [], 0
    n = len(per_row)
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + budget, side="right"))
        hi = min(max(hi, lo + 1), n)
        out.append((lo, hi))
        lo = hi
    return out


def _matrix(corpus: SessionCorpus, window, fwd, bwd_w, bwd, row_power, column_power, top_n,
            budget) -> SparseRows:  # fmt: skip
    """Count, scale and cut one matrix, a block of rows at a time (module docstring)."""
    n = corpus.n_items
    per_row = _pairs_per_row(corpus.indptr, corpus.indices, window, n, bwd_w > 0)
    blocks = _blocks(per_row, budget)

    def block(lo: int, hi: int) -> sp.csr_matrix:
        rows, cols, vals = _count_pairs(
            corpus.indptr, corpus.indices, window, fwd, bwd_w, bwd, lo, hi,
            int(per_row[lo:hi].sum()),
        )  # fmt: skip
        return _csr(rows, cols, vals, (hi - lo, n), lo)

    if len(blocks) == 1:
        m = block(0, n)
        nnz = np.bincount(m.indices, minlength=n).astype(np.float64)
        return top_n_rows(_scale_columns(_scale_rows(m, row_power), nnz, column_power), top_n)
    nnz = np.zeros(n, np.float64)
    if column_power:
        for lo, hi in blocks:
            nnz += np.bincount(block(lo, hi).indices, minlength=n)
    parts = []
    for lo, hi in blocks:
        m = _scale_columns(_scale_rows(block(lo, hi), row_power), nnz, column_power)
        parts.append(top_n_rows(m, top_n))
    return _stack(parts)


def _stack(parts: list[SparseRows]) -> SparseRows:
    """Row blocks, in order, as one matrix."""
    sizes = np.array([p.indptr[-1] for p in parts], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets, strict=True)])
    return SparseRows(
        indptr.astype(np.int64),
        np.concatenate([p.indices for p in parts]),
        np.concatenate([p.weights for p in parts]),
    )


def build_covisitation(
    corpus: SessionCorpus,
    params: CoVisitationParams | None = None,
    pairs_per_block: int = PAIRS_PER_BLOCK,
) -> CoVisitation:
    """The ``related`` and ``successors`` matrices of the training sessions."""
    p = params or CoVisitationParams()
    related = _matrix(
        corpus, p.window, p.forward_decay, p.backward_weight, p.backward_decay,
        p.row_norm_power, p.column_penalty, p.top_n, pairs_per_block,
    )  # fmt: skip
    successors = _matrix(corpus, 1, 1.0, 0.0, 1.0, 1.0, 0.0, p.top_n, pairs_per_block)
    return CoVisitation(related, successors, p)
