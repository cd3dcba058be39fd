"""Compiled scoring kernels shared by the ranking signals.

Every kernel adds into a dense per-signal buffer and records newly touched items in the
caller's candidate set (``mark``/``touched``), so that one request does work proportional to
the entries it reads, never to the catalogue size. Buffers live in a per-thread
:class:`Scratch` and are zeroed again after use.
"""

from __future__ import annotations

import threading

import numba as nb
import numpy as np


@nb.njit(cache=True)
def add_rows(indptr, indices, values, rows, weights, out, mark, touched, n_touched):
    """``out += sum_a weights[a] * M[rows[a], :]`` for a CSR matrix ``M``."""
    for a in range(len(rows)):
        r = rows[a]
        w = weights[a]
        for p in range(indptr[r], indptr[r + 1]):
            it = indices[p]
            if mark[it] == 0:
                mark[it] = 1
                touched[n_touched] = it
                n_touched += 1
            out[it] += w * values[p]
    return n_touched


@nb.njit(cache=True)
def add_items(items, values, out, mark, touched, n_touched):
    """``out[items[a]] += values[a]``."""
    for a in range(len(items)):
        it = items[a]
        if mark[it] == 0:
            mark[it] = 1
            touched[n_touched] = it
            n_touched += 1
        out[it] += values[a]
    return n_touched


@nb.njit(cache=True)
def row_contributions(indptr, indices, values, rows, weights, targets_pos, n_targets):
    """``C[t, a] = weights[a] * M[rows[a], target t]``; ``targets_pos[item]`` is t+1 or 0."""
    c = np.zeros((n_targets, len(rows)), np.float32)
    for a in range(len(rows)):
        r = rows[a]
        for p in range(indptr[r], indptr[r + 1]):
            t = targets_pos[indices[p]]
            if t > 0:
                c[t - 1, a] += weights[a] * values[p]
    return c


class Scratch:
    """Per-thread dense buffers for one catalogue size (thread-local, reused across calls)."""

    def __init__(self, n_items: int, n_signals: int, n_sessions: int) -> None:
        self.signals = np.zeros((n_signals, n_items), np.float32)
        self.mark = np.zeros(n_items, np.uint8)
        self.touched = np.empty(n_items, np.int64)
        self.targets_pos = np.zeros(n_items, np.int32)
        self.session_sim = np.zeros(max(n_sessions, 1), np.float64)
        self.session_shared = np.zeros(max(n_sessions, 1), np.int32)
        self.session_touched = np.empty(max(n_sessions, 1), np.int64)

    def reset(self, touched: np.ndarray) -> None:
        self.signals[:, touched] = 0.0
        self.mark[touched] = 0


class ScratchPool:
    """One :class:`Scratch` per thread, created on first use."""

    def __init__(self, n_items: int, n_signals: int, n_sessions: int) -> None:
        self._shape = (n_items, n_signals, n_sessions)
        self._local = threading.local()

    def get(self) -> Scratch:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = Scratch(*self._shape)
        return scratch
