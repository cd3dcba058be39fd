"""Compiled kernels of the candidate stage, and the per-thread scratch space they use.

Every generator adds into its own dense buffer (one slot per catalogue row) and lists the rows
it touched, so a request does work proportional to the entries it reads, never to the
catalogue size; buffers are zeroed again, through those lists, before the request returns.
"""

from __future__ import annotations

import threading

import numba as nb
import numpy as np

from engine.kernel_arrays import scratch_arrays

# buffers of the generators, in Scratch.signals
RELATED, NEIGHBOURS, SUCCESSORS, REPEATS = range(4)


@nb.njit(cache=True)
def add_rows(indptr, indices, values, rows, weights, out, touched, n_touched):
    """``out += sum_a weights[a] * M[rows[a], :]`` for a CSR matrix ``M``; returns n_touched."""
    for a in range(len(rows)):
        r = rows[a]
        w = weights[a]
        if w <= 0:
            continue
        for p in range(indptr[r], indptr[r + 1]):
            it = indices[p]
            v = w * values[p]
            if v <= 0:
                continue
            if out[it] == 0:
                touched[n_touched] = it
                n_touched += 1
            out[it] += v
    return n_touched


@nb.njit(cache=True)
def add_items(items, values, out, touched, n_touched):
    """``out[items[a]] += values[a]`` (positive values); returns n_touched."""
    for a in range(len(items)):
        it = items[a]
        if values[a] <= 0:
            continue
        if out[it] == 0:
            touched[n_touched] = it
            n_touched += 1
        out[it] += values[a]
    return n_touched


@nb.njit(cache=True)
def add_candidates(items, mark, cand, n_cand, limit):
    """Add ``items`` (in order) to the candidates until there are ``limit``."""
    for a in range(len(items)):
        if n_cand >= limit:
            break
        it = items[a]
        if mark[it] == 0:
            mark[it] = 1
            cand[n_cand] = it
            n_cand += 1
    return n_cand


@nb.njit(cache=True)
def take_top(buf, touched, n_touched, top_n, mark, cand, n_cand):
    """Add the ``top_n`` touched rows with the highest ``buf`` value to the candidates."""
    if n_touched == 0 or top_n <= 0:
        return n_cand
    vals = np.empty(n_touched, np.float32)
    for a in range(n_touched):
        vals[a] = -buf[touched[a]]
    order = np.argsort(vals, kind="mergesort")[:top_n]
    return add_candidates(touched[order], mark, cand, n_cand, len(mark))


@nb.njit(cache=True)
def strongest_sources(
    indptr, indices, values, rows, weights, n_trained, targets, target_out, rows_in, targets_pos
):  # fmt: skip
    """For each target, the index (into ``rows``) of the row contributing most to it: itself
    when it is in ``rows``, else the largest ``weights[a] * M[rows[a], target]``, else the
    largest ``weights[a] * (rows_in[a] . target_out[t])``. ``targets_pos`` is scratch, left
    zeroed."""
    n_t = len(targets)
    best = np.full(n_t, -1, np.int64)
    best_v = np.zeros(n_t, np.float32)
    for t in range(n_t):
        targets_pos[targets[t]] = t + 1
    for a in range(len(rows)):
        t = targets_pos[rows[a]]
        if t > 0:  # viewed in this session: it is its own reason
            best_v[t - 1] = np.inf
            best[t - 1] = a
    for a in range(len(rows)):
        r = rows[a]
        if r >= n_trained:
            continue
        for p in range(indptr[r], indptr[r + 1]):
            t = targets_pos[indices[p]]
            if t > 0:
                v = weights[a] * values[p]
                if v > best_v[t - 1]:
                    best_v[t - 1] = v
                    best[t - 1] = a
    for t in range(n_t):
        targets_pos[targets[t]] = 0
        if best[t] >= 0:
            continue
        top = -np.inf
        for a in range(len(rows)):
            v = 0.0
            for d in range(rows_in.shape[1]):
                v += rows_in[a, d] * target_out[t, d]
            v *= weights[a]
            if v > top:
                top = v
                best[t] = a
    return best


class Scratch:
    """Dense buffers of one thread for a catalogue of ``n_rows`` (reused across requests)."""

    def __init__(self, n_rows: int, n_sessions: int) -> None:
        n_sessions = max(n_sessions, 1)
        self.signals = np.zeros((4, n_rows), np.float32)
        self.touched = np.empty((4, n_rows), np.int32)
        self.mark = np.zeros(n_rows, np.uint8)
        self.cand = np.empty(n_rows, np.int32)
        self.targets_pos = np.zeros(n_rows, np.int32)
        self.session_sim = np.zeros(n_sessions, np.float64)
        self.session_shared = np.full(n_sessions, -1, np.int32)
        self.session_touched = np.empty(n_sessions, np.int32)
        self.kernel = scratch_arrays(self)  #: the same buffers, as the request kernel takes them


class ScratchPool:
    """One :class:`Scratch` per thread, created on first use."""

    def __init__(self, n_rows: int, n_sessions: int) -> None:
        self._shape = (n_rows, n_sessions)
        self._local = threading.local()

    def get(self) -> Scratch:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = Scratch(*self._shape)
        return scratch
