"""The compiled skip-gram kernel: negative sampling with same-category negatives, Hogwild.

One call trains a block of sessions: ``prange`` over chunks of consecutive sessions, each chunk
with its own random stream and scratch buffers, all threads updating the shared ``syn0`` (input)
and ``syn1`` (output) matrices without locks, as word2vec and gensim do (updates are sparse, so
collisions are rare and harmless). With one thread the result is exactly reproducible.

For every (centre, context) pair inside a reduced window (``1..window``, drawn per centre as
word2vec does) the centre item is the positive output and the context item the input, as in
gensim's ``train_batch_sg``; then ``n_global`` negatives come from the global table and
``n_category`` from the positive item's category table (the global one when it has none). A
negative equal to the positive is skipped (word2vec).

The inner loops run over the embedding dimension on contiguous float32 rows with ``fastmath``
so LLVM vectorises them; nothing is allocated per pair.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.prod2vec.rng import below, low32, next_u64
from engine.prod2vec.sampling import draw_from

SIGMOID_RANGE = 8.0
"""Scores beyond +-SIGMOID_RANGE use the table's end values (sigmoid within 3.4e-4 of 0 or 1)."""
TABLE_SIZE = 8192
_SCALE = TABLE_SIZE / (2.0 * SIGMOID_RANGE)
_GRID = (np.arange(TABLE_SIZE + 1) / _SCALE - SIGMOID_RANGE).astype(np.float64)
SIGMOID_TABLE = (1.0 / (1.0 + np.exp(-_GRID))).astype(np.float32)
"""sigmoid(x) on a grid of step 1/512 over [-8, 8] (nearest entry: error below 1.3e-4)."""
SOFTPLUS_TAIL_TABLE = np.log1p(np.exp(-np.abs(_GRID))).astype(np.float32)
"""log(1 + exp(-|x|)) on the same grid: softplus(z) = max(z, 0) + this, the loss terms."""


@njit(inline="always", fastmath=True)
def _update(syn0, syn1, neu1e, ctx, target, label, alpha, dim):
    """One logistic term: gradient into ``syn1[target]`` and ``neu1e``; returns its loss."""
    f = np.float32(0.0)
    for d in range(dim):
        f += syn0[ctx, d] * syn1[target, d]
    # Nearest table entry; the tables replace two libm calls per term (a third of the time).
    x = min(max(f, np.float32(-SIGMOID_RANGE)), np.float32(SIGMOID_RANGE))
    k = np.int64((x + np.float32(SIGMOID_RANGE)) * np.float32(_SCALE) + np.float32(0.5))
    k = min(max(k, 0), TABLE_SIZE)  # a NaN score (diverged training) must not index outside
    sig = SIGMOID_TABLE[k]
    # The loss of the term is -log sigmoid(+-f) = softplus(-+f).
    z = -f if label > 0 else f
    loss = max(z, np.float32(0.0)) + SOFTPLUS_TAIL_TABLE[k]
    g = (label - sig) * alpha
    for d in range(dim):
        neu1e[d] += g * syn1[target, d]
        syn1[target, d] += g * syn0[ctx, d]
    return loss


@njit(parallel=True, fastmath=True, cache=True)
def train_block(
    syn0,
    syn1,
    indptr,
    indices,
    chunk_starts,
    chunk_seeds,
    keep,
    subsample,
    thresholds,
    alias,
    items,
    offsets,
    item_table,
    n_global,
    n_category,
    window,
    alpha0,
    min_alpha,
    token_base,
    total_tokens,
    max_len,
    loss_out,
    pairs_out,
    negatives_out,
):
    """Train on sessions ``chunk_starts[0] .. chunk_starts[-1]``, one chunk per prange step.

    Args:
        syn0, syn1: input and output vectors, float32 ``(n_items, dim)``, updated in place.
        indptr, indices: the corpus' CSR sessions (int64, int32).
        chunk_starts: int64 session boundaries; chunk ``k`` is sessions
            ``[chunk_starts[k], chunk_starts[k + 1])``.
        chunk_seeds: uint64 random stream seed of each chunk.
        keep: uint32 subsampling keep threshold per item; ``subsample`` False skips the test.
        thresholds, alias, items, offsets, item_table: a ``CategoryNegativeSampler``.
        n_global, n_category: negatives per pair from the global and the category table.
        window: maximum window; alpha0, min_alpha: learning-rate schedule end points.
        token_base: tokens of the epochs before this one (``epoch * n_tokens``);
            total_tokens: ``epochs * n_tokens``. A session's learning rate is set by its
            position in the whole run, so it does not depend on thread scheduling.
        max_len: longest session (scratch buffer size).
        loss_out, pairs_out, negatives_out: per chunk, the summed loss, the number of positive
            pairs and of negatives used (draws equal to the positive are not counted).
    """
    dim = syn0.shape[1]
    n_chunks = chunk_starts.shape[0] - 1
    g_start = offsets[0]
    g_n = offsets[1] - offsets[0]
    span = alpha0 - min_alpha
    for k in prange(n_chunks):
        neu1e = np.empty(dim, dtype=np.float32)
        buf = np.empty(max_len, dtype=np.int32)
        state = chunk_seeds[k]
        loss = 0.0
        pairs = 0
        used = 0
        for s in range(chunk_starts[k], chunk_starts[k + 1]):
            start = indptr[s]
            end = indptr[s + 1]
            alpha = np.float32(alpha0 - span * ((token_base + start) / total_tokens))
            n = 0
            for t in range(start, end):
                w = indices[t]
                if subsample:
                    state, bits = next_u64(state)
                    if low32(bits) > keep[w]:
                        continue
                buf[n] = w
                n += 1
            for i in range(n):
                state, bits = next_u64(state)
                b = np.int64(below(bits, np.uint64(window))) + 1  # effective window 1..window
                lo = max(i - b, 0)
                hi = min(i + b + 1, n)
                pos = buf[i]
                table = item_table[pos]
                c_start = offsets[table]
                c_n = offsets[table + 1] - c_start
                for j in range(lo, hi):
                    if j == i:
                        continue
                    ctx = buf[j]
                    for d in range(dim):
                        neu1e[d] = 0.0
                    loss += _update(syn0, syn1, neu1e, ctx, pos, np.float32(1.0), alpha, dim)
                    for _ in range(n_global):
                        state, bits = next_u64(state)
                        neg = draw_from(bits, thresholds, alias, items, g_start, g_n)
                        if neg != pos:
                            loss += _update(
                                syn0, syn1, neu1e, ctx, neg, np.float32(0.0), alpha, dim
                            )
                            used += 1
                    for _ in range(n_category):
                        state, bits = next_u64(state)
                        neg = draw_from(bits, thresholds, alias, items, c_start, c_n)
                        if neg != pos:
                            loss += _update(
                                syn0, syn1, neu1e, ctx, neg, np.float32(0.0), alpha, dim
                            )
                            used += 1
                    for d in range(dim):
                        syn0[ctx, d] += neu1e[d]
                    pairs += 1
        loss_out[k] = loss
        pairs_out[k] = pairs
        negatives_out[k] = used
