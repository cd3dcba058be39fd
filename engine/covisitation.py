"""Co-visitation statistics: what visitors viewed after (and before) viewing an item.

Built once in the batch pipeline from the training sessions and stored in the bundle as two
sparse matrices:

- ``related[a, b]``: how strongly ``b`` is viewed near ``a``. A pair at distance ``d`` in a
  session counts ``forward_decay**(d-1)`` when ``b`` comes after ``a`` and ``backward_weight *
  backward_decay**(d-1)`` when it comes before; row ``a`` is divided by ``rowsum(a) **
  row_norm_power`` (1 would be a probability; lower keeps some of the evidence of busy rows) and
  column ``b`` by ``nnz(b) ** column_penalty`` (items next to everything say little);
- ``successors[a, b]``: the share of views of ``a`` directly followed by ``b``.

Each row keeps its ``top_n`` strongest entries, so a request touches a bounded number of them.
The defaults were tuned on a validation split of Diginetica's training sessions.
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
        row_norm_power: each row is divided by its sum to this power.
        column_penalty: each column is divided by its number of non-zeros to this power.
        top_n: neighbours kept per item (the strongest), bounding per-request work.
    """

    window: int = 8
    forward_decay: float = 0.7
    backward_weight: float = 0.7
    backward_decay: float = 0.8
    row_norm_power: float = 0.65
    column_penalty: float = 0.1
    top_n: int = 300

    def __post_init__(self) -> None:
        if self.window < 1 or self.top_n < 1:
            raise ConfigError("co-visitation window and top_n must be >= 1")
        if not (0 < self.forward_decay <= 1 and 0 < self.backward_decay <= 1):
            raise ConfigError("co-visitation decays must be in (0, 1]")
        if self.backward_weight < 0 or self.row_norm_power < 0 or self.column_penalty < 0:
            raise ConfigError("co-visitation weights and powers must be >= 0")

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


@dataclass(frozen=True)
class SparseRows:
    """A CSR matrix whose rows are sorted by weight, strongest first (read-only)."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @classmethod
    def top_n(cls, m: sp.csr_matrix, top_n: int) -> SparseRows:
        return cls(*_top_n_rows(m.indptr.astype(np.int64), m.indices, m.data, top_n))

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[r], self.indptr[r + 1]
        return self.indices[lo:hi], self.weights[lo:hi]


@dataclass(frozen=True)
class CoVisitation:
    """The ``related`` and ``successors`` matrices (see the module docstring)."""

    related: SparseRows
    successors: SparseRows
    params: CoVisitationParams

    @classmethod
    def build(cls, corpus: SessionCorpus, params: CoVisitationParams | None = None) -> CoVisitation:
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
        return cls(SparseRows.top_n(related, p.top_n), SparseRows.top_n(successors, p.top_n), p)

    @property
    def n_items(self) -> int:
        return len(self.related.indptr) - 1

    def neighbours(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, weights) related to ``row``, strongest first."""
        return self.related.row(row)
