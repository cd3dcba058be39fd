"""Co-visitation counting: the known weights of a small example, and the same matrices
whether the pairs are counted at once or a block of rows at a time (bounded memory)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.build.covisitation import _blocks, build_covisitation
from engine.corpus import SessionCorpus
from engine.covisitation import CoVisitationParams


def dense(rows, n: int) -> np.ndarray:
    out = np.zeros((n, n))
    for r in range(n):
        for p in range(rows.indptr[r], rows.indptr[r + 1]):
            out[r, rows.indices[p]] = rows.weights[p]
    return out


def test_the_weights_of_a_small_example():
    corpus = SessionCorpus.from_sequences([["a", "b", "c"], ["a", "b"]])
    p = CoVisitationParams(window=2, forward_decay=0.5, backward_weight=0.25,
                           backward_decay=0.5, row_norm_power=1.0, column_penalty=0.0)  # fmt: skip
    cv = build_covisitation(corpus, p)
    a, b, c = (corpus.index_of(x) for x in "abc")
    related = dense(cv.related, 3)
    # a: b after it twice (1 + 1), c two steps after it once (0.5): row sum 2.5
    assert related[a, b] == pytest.approx(2 / 2.5) and related[a, c] == pytest.approx(0.5 / 2.5)
    # c: b just before it (0.25), a two before (0.25 * 0.5)
    assert related[c, b] == pytest.approx(0.25 / 0.375)
    assert related[c, a] == pytest.approx(0.125 / 0.375)
    successors = dense(cv.successors, 3)
    assert successors[a, b] == 1.0 and successors[b, c] == 1.0 and successors[c].sum() == 0


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(0)
    sessions = [
        [f"p{k}" for k in rng.zipf(1.3, size=rng.integers(1, 15)) % 400] for _ in range(3000)
    ]
    return SessionCorpus.from_sequences(sessions)


@pytest.mark.parametrize("budget", [20_000, 997, 1])
def test_counting_a_block_of_rows_at_a_time_gives_the_same_matrices(corpus, budget):
    whole = build_covisitation(corpus, CoVisitationParams(top_n=30))
    blocks = build_covisitation(corpus, CoVisitationParams(top_n=30), pairs_per_block=budget)
    for a, b in ((whole.related, blocks.related), (whole.successors, blocks.successors)):
        assert np.array_equal(a.indptr, b.indptr)
        assert np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.weights, b.weights)
    row = np.diff(whole.related.indptr)
    assert row.max() == 30  # rows cut to top_n, strongest first
    r = int(np.argmax(row))
    w = whole.related.weights[whole.related.indptr[r] : whole.related.indptr[r + 1]]
    assert (np.diff(w) <= 0).all()


def test_blocks_cover_every_row_within_the_budget():
    per_row = np.array([5, 1, 1, 9, 0, 2, 2, 2])
    blocks = _blocks(per_row, 4)
    assert blocks[0][0] == 0 and blocks[-1][1] == len(per_row)
    assert all(lo < hi for lo, hi in blocks)
    assert all(b[1] == c[0] for b, c in zip(blocks, blocks[1:], strict=False))
    for lo, hi in blocks:  # a row heavier than the budget is a block of its own
        assert per_row[lo:hi].sum() <= 4 or hi - lo == 1
