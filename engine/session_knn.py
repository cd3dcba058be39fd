"""Session neighbourhood (STAN / V-SKNN style): items from past sessions similar to this one.

Built in the batch pipeline from the training sessions (engine/build/session_index.py): an
inverted index item -> sessions that contain it, most recent first (session order is time
order), with the item's last position in each. At request time the current session's items vote for past sessions
(recent session items count more), the ``k`` most similar sessions are kept, and their items
are scored by similarity and by their distance to the shared item in the neighbour session.
Work per request is bounded by ``sample`` sessions per session item.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba as nb
import numpy as np

from engine.errors import ConfigError


@dataclass(frozen=True)
class SessionKnnParams:
    """Args:
    sample: most recent past sessions looked at per session item.
    k: neighbour sessions kept.
    position_decay: weight of a session item ``j`` steps before the newest is
        ``exp(-j / position_decay)`` (STAN's lambda_1).
    distance_decay: an item ``d`` steps from the shared item in a neighbour session gets
        ``exp(-|d| / distance_decay)`` (STAN's lambda_3).
    backward_weight: extra factor for items *before* the shared item in the neighbour session.
    length_norm: similarity is divided by ``len(neighbour) ** length_norm``.
    idf_power: a shared item counts ``log(n_sessions / sessions_with_item) ** idf_power``
        (rare items say more about a visitor than best-sellers).
    recency_sessions: a neighbour ``m`` sessions older than the newest counts
        ``exp(-m / recency_sessions)`` (sessions are stored in time order); 0 switches it off.
    max_sessions: the newest past sessions kept in the index (its memory and the bundle's
        size stay bounded for a large shop); an older one would weigh at most
        ``exp(-max_sessions / recency_sessions)``, ``exp(-20)`` with the defaults.
    The defaults were tuned on a validation split of Diginetica's training sessions.
    """

    sample: int = 300
    k: int = 200
    position_decay: float = 1.0
    distance_decay: float = 4.0
    backward_weight: float = 0.75
    length_norm: float = 0.25
    idf_power: float = 1.0
    recency_sessions: float = 100_000.0
    max_sessions: int = 2_000_000

    def __post_init__(self) -> None:
        if self.sample < 1 or self.k < 1 or self.max_sessions < 1:
            raise ConfigError("session-kNN sample, k and max_sessions must be >= 1")
        if self.position_decay <= 0 or self.distance_decay <= 0:
            raise ConfigError("session-kNN decays must be > 0")
        if self.recency_sessions < 0 or self.idf_power < 0:
            raise ConfigError("session-kNN recency_sessions and idf_power must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


@nb.njit(cache=True)
def session_weights(indptr, length_norm, recency_sessions, distance_decay, backward_weight):
    """Per past session, ``length ** length_norm`` and the recency factor
    ``exp(-(n_sessions - s) / recency_sessions)``; per distance ``d`` from the shared item
    (``-longest..longest``, stored at ``d + longest``), ``exp(-d / distance_decay)`` after it
    and ``backward_weight * exp((d + 1) / distance_decay)`` before it. Computed once per model,
    with the expressions :func:`session_knn_scores` used to evaluate per request."""
    n_sessions = len(indptr) - 1
    length_pow = np.empty(max(n_sessions, 1), np.float64)
    recency_w = np.ones(max(n_sessions, 1), np.float64)
    longest = 0
    for s in range(n_sessions):
        length = indptr[s + 1] - indptr[s]
        longest = max(longest, length)
        length_pow[s] = length**length_norm
        if recency_sessions > 0:
            recency_w[s] = np.exp(-(n_sessions - s) / recency_sessions)
    distance_w = np.empty(2 * longest + 1, np.float64)
    for i in range(2 * longest + 1):
        d = i - longest
        if d >= 0:
            distance_w[i] = np.exp(-d / distance_decay)
        else:
            distance_w[i] = backward_weight * np.exp((d + 1) / distance_decay)
    return length_pow, recency_w, distance_w


@nb.njit(cache=True)
def session_knn_scores(m, sc, rows, weights, out, touched, n_touched):
    """Add neighbour-session scores into ``out``; return the new ``n_touched``.

    ``m``: the model's arrays (engine/kernel_arrays.py's ModelArrays: the sessions, their
    inverted index and the ``kn_*`` parameters); ``sc``: the thread's scratch
    (ScratchArrays), whose ``session_sim``, ``session_shared`` (-1 = untouched) and
    ``session_touched`` (of size n_sessions) are left as found. ``rows``/``weights``: unique
    session items, newest first, and their weights. ``touched``: rows of ``out`` made
    non-zero are listed there.
    """
    indptr, indices, inv_ptr, inv_sess, inv_pos = (
        m.kn_ptr,
        m.kn_idx,
        m.inv_ptr,
        m.inv_sess,
        m.inv_pos,
    )
    sample, k, idf_power, recency_sessions = m.kn_sample, m.kn_k, m.kn_idf, m.kn_recency
    sim, last_shared, touched_sessions = sc.session_sim, sc.session_shared, sc.session_touched
    nt = 0
    n_sessions = len(indptr) - 1
    for a in range(len(rows)):
        x = rows[a]
        w = weights[a]
        df = inv_ptr[x + 1] - inv_ptr[x]
        if df == 0:
            continue
        if idf_power != 0.0:
            w *= np.log(n_sessions / df) ** idf_power
        end = min(inv_ptr[x + 1], inv_ptr[x] + sample)
        for p in range(inv_ptr[x], end):
            s = inv_sess[p]
            if last_shared[s] < 0:
                touched_sessions[nt] = s
                nt += 1
                last_shared[s] = inv_pos[p]  # shared item of the most recent session item
            sim[s] += w
    if nt == 0:
        return n_touched
    # the per-session and per-distance factors come precomputed (session_weights): the same
    # expressions, so the same numbers, without a power and two exponentials per session
    length_pow, recency_w, distance_w = m.kn_length_pow, m.kn_recency_w, m.kn_distance_w
    longest = (len(distance_w) - 1) // 2
    sims = np.empty(nt, np.float64)
    for a in range(nt):
        s = touched_sessions[a]
        sims[a] = sim[s] / length_pow[s]
        if recency_sessions > 0:
            sims[a] *= recency_w[s]
    keep = np.argsort(-sims, kind="mergesort")[: min(k, nt)]
    for a in keep:
        s = touched_sessions[a]
        v = sims[a]
        o = indptr[s]
        shared = last_shared[s]
        for pp in range(indptr[s + 1] - o):
            w3 = distance_w[pp - shared + longest]
            it = indices[o + pp]
            add = v * w3
            if add <= 0:
                continue
            if out[it] == 0:
                touched[n_touched] = it
                n_touched += 1
            out[it] += add
    for a in range(nt):
        sim[touched_sessions[a]] = 0.0
        last_shared[touched_sessions[a]] = -1
    return n_touched


@dataclass(frozen=True)
class SessionKnn:
    """Past sessions (CSR) and their inverted index, read-only."""

    indptr: np.ndarray
    indices: np.ndarray
    inv_ptr: np.ndarray
    inv_sessions: np.ndarray
    inv_positions: np.ndarray
    params: SessionKnnParams

    @property
    def n_sessions(self) -> int:
        return len(self.indptr) - 1
