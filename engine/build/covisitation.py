"""Counting co-visitation from the training sessions (see engine/covisitation.py for what the
two matrices mean and how they are read at request time)."""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

from engine.corpus import SessionCorpus
from engine.covisitation import CoVisitation, CoVisitationParams, SparseRows


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


def _csr(rows, cols, vals, n) -> sp.csr_matrix:
    m = sp.coo_matrix((vals.astype(np.float64), (rows, cols)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    m.setdiag(0)  # an item following itself is the repeat signal's business
    m.eliminate_zeros()
    return m


def _scale(m: sp.csr_matrix, row_power: float, column_power: float) -> sp.csr_matrix:
    sums = np.asarray(m.sum(axis=1)).ravel()
    m = sp.diags(1.0 / np.where(sums > 0, sums, 1.0) ** row_power) @ m
    if column_power:
        nnz = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float64)
        m = m @ sp.diags(1.0 / np.maximum(nnz, 1.0) ** column_power)
    return m.tocsr()


def top_n_rows(m: sp.csr_matrix, top_n: int) -> SparseRows:
    """The ``top_n`` strongest entries of each row of ``m``, strongest first."""
    return SparseRows(*_top_n_rows(m.indptr.astype(np.int64), m.indices, m.data, top_n))


def build_covisitation(
    corpus: SessionCorpus, params: CoVisitationParams | None = None
) -> CoVisitation:
    """The ``related`` and ``successors`` matrices of the training sessions."""
    p = params or CoVisitationParams()
    n = corpus.n_items
    rows, cols, vals = _count_pairs(
        corpus.indptr, corpus.indices, p.window, p.forward_decay, p.backward_weight,
        p.backward_decay,
    )  # fmt: skip
    related = _scale(_csr(rows, cols, vals, n), p.row_norm_power, p.column_penalty)
    rows, cols, vals = _count_pairs(corpus.indptr, corpus.indices, 1, 1.0, 0.0, 1.0)
    forward = vals > 0
    successors = _scale(_csr(rows[forward], cols[forward], vals[forward], n), 1.0, 0.0)
    return CoVisitation(top_n_rows(related, p.top_n), top_n_rows(successors, p.top_n), p)
