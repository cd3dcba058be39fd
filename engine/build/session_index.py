"""The session neighbourhood's index, built from the training sessions (see
engine/session_knn.py for how it is read at request time)."""

from __future__ import annotations

import numba as nb
import numpy as np

from engine.corpus import SessionCorpus
from engine.session_knn import SessionKnn, SessionKnnParams


@nb.njit(cache=True)
def _build_inverted(indptr, indices, n_items):
    n_sessions = len(indptr) - 1
    # last position of each item in each session, sessions newest first per item
    counts = np.zeros(n_items + 1, np.int64)
    seen = np.full(n_items, -1, np.int64)
    for s in range(n_sessions):
        for p in range(indptr[s], indptr[s + 1]):
            it = indices[p]
            if seen[it] != s:
                seen[it] = s
                counts[it + 1] += 1
    ptr = np.cumsum(counts)
    fill = ptr[:-1].copy()
    sess = np.empty(ptr[-1], np.int32)
    pos = np.empty(ptr[-1], np.int32)
    seen[:] = -1
    for s in range(n_sessions - 1, -1, -1):  # newest first
        o = indptr[s]
        for p in range(indptr[s + 1] - 1, o - 1, -1):  # last occurrence first
            it = indices[p]
            if seen[it] != s:
                seen[it] = s
                sess[fill[it]] = s
                pos[fill[it]] = p - o
                fill[it] += 1
    return ptr, sess, pos


def build_session_index(
    corpus: SessionCorpus, params: SessionKnnParams | None = None
) -> SessionKnn:
    """Past sessions (the newest ``max_sessions`` of the corpus's, as CSR arrays) and their
    inverted index item -> sessions."""
    params = params or SessionKnnParams()
    first = max(0, corpus.n_sessions - params.max_sessions)
    indptr = corpus.indptr[first:] - corpus.indptr[first]
    indices = corpus.indices[corpus.indptr[first] :]
    ptr, sess, pos = _build_inverted(indptr, indices, corpus.n_items)
    return SessionKnn(indptr, indices, ptr, sess, pos, params)
