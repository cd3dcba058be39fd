"""Category-aware prod2vec: our numba trainer (the default backend).

``Prod2VecTrainer(config).fit(corpus) -> ItemVectors``. Training runs the compiled kernel
(:mod:`engine.prod2vec.kernel`) block by block so that its progress (tokens/s and the loss) can
be reported; the trainer object keeps ``stats`` of the last fit.
"""

from __future__ import annotations

import logging
import time

import numba
import numpy as np

from engine.corpus import SessionCorpus
from engine.errors import DataError
from engine.prod2vec.config import Prod2VecConfig
from engine.prod2vec.kernel import train_block
from engine.prod2vec.rng import stream_seed
from engine.prod2vec.sampling import CategoryNegativeSampler, keep_thresholds
from engine.progress import progress
from engine.vectors import ItemVectors

log = logging.getLogger(__name__)

CHUNK_TOKENS = 8192
"""Tokens per chunk of sessions (one prange step, one random stream). Fixed, so that the
chunking, and with one thread the result, depend only on the corpus and the seed."""

BLOCK_TOKENS = 262_144
"""Tokens per kernel call at least; the progress bar moves once per call."""


class Prod2VecTrainer:
    """Skip-gram with negative sampling over sessions, with same-category negatives.

    For every positive (centre, context) pair it draws ``config.negatives`` negatives from the
    global ``count ** ns_exponent`` distribution and ``config.category_negatives`` from the
    positive item's own category. When the corpus has no categories, or for an item without
    one or alone in its category, the category negatives come from the global table, so the
    number of negatives per pair never changes.

    Args:
        config: hyper-parameters (see :class:`Prod2VecConfig`).
        progress: report progress (tokens/s and loss): a bar on a terminal, log lines
            otherwise (:mod:`engine.progress`).
    """

    def __init__(self, config: Prod2VecConfig, progress: bool = True) -> None:
        self.config = config
        self.progress = progress
        self.stats: dict[str, float] = {}

    continues = True
    """:meth:`fit` can continue training given vectors (``start``)."""

    def fit(
        self,
        corpus: SessionCorpus,
        start: ItemVectors | None = None,
        counts: np.ndarray | None = None,
    ) -> ItemVectors:
        """Train on ``corpus``; returns input and output vectors for every vocabulary item.

        ``start``: vectors of the same vocabulary to continue from (copied, not changed)
        instead of a fresh initialisation; the learning rate runs its schedule again over
        this fit's epochs. ``counts``: item counts for the negative-sampling and subsampling
        tables (default the corpus's own), e.g. the whole corpus's when continuing on a part
        of it, so that an item's weight does not depend on which part is trained.
        """
        c = self.config
        if corpus.n_tokens == 0 or corpus.n_items == 0:
            raise DataError(
                "the corpus has no sessions to train on; check the source and the session "
                "filters (minimum session length, minimum item count)"
            )
        counts = corpus.item_counts if counts is None else np.asarray(counts, dtype=np.int64)
        if counts.shape != (corpus.n_items,):
            raise DataError(f"counts must have one entry per item ({corpus.n_items})")
        sampler = CategoryNegativeSampler.from_counts(counts, corpus.item_categories, c.ns_exponent)
        self._note_negatives(corpus, sampler)
        keep = keep_thresholds(counts, c.sample)

        rng = np.random.default_rng(c.seed)
        n, dim = corpus.n_items, c.dim
        if start is not None:
            if start.input.shape != (n, dim) or start.output.shape != (n, dim):
                raise DataError(
                    f"the vectors to continue from are {start.input.shape}, the corpus needs "
                    f"({n}, {dim}): continue only on a part of the corpus they were trained on"
                )
            syn0 = np.array(start.input, dtype=np.float32, order="C")
            syn1 = np.array(start.output, dtype=np.float32, order="C")
        else:
            # gensim 4's initialisation: input uniform in +-1/dim, output zeros. (word2vec.c's
            # +-0.5/dim learned markedly less in the same epochs on the planted test corpus.)
            syn0 = (rng.random((n, dim), dtype=np.float32) - np.float32(0.5)) * np.float32(
                2.0 / dim
            )
            syn1 = np.zeros((n, dim), dtype=np.float32)

        chunks = _chunk_starts(corpus.indptr, CHUNK_TOKENS)
        n_chunks = len(chunks) - 1
        threads = self._set_threads()
        per_block = max(BLOCK_TOKENS // CHUNK_TOKENS, 4 * threads)
        n_tokens = corpus.n_tokens
        total = n_tokens * c.epochs
        max_len = int(np.diff(corpus.indptr).max())
        loss_out = np.zeros(n_chunks, dtype=np.float64)
        pairs_out = np.zeros(n_chunks, dtype=np.int64)
        negatives_out = np.zeros(n_chunks, dtype=np.int64)
        epoch_loss = 0.0
        epoch_pairs = 0

        previous_threads = numba.get_num_threads()
        numba.set_num_threads(threads)
        bar = progress(total=total, unit="tok", desc="prod2vec", enabled=self.progress)
        started = time.perf_counter()
        try:
            for epoch in range(c.epochs):
                seeds = np.array(
                    [stream_seed(c.seed, epoch, k) for k in range(n_chunks)], dtype=np.uint64
                )
                epoch_loss, epoch_pairs = 0.0, 0
                negatives_out[:] = 0
                for b0 in range(0, n_chunks, per_block):
                    b1 = min(b0 + per_block, n_chunks)
                    train_block(
                        syn0,
                        syn1,
                        corpus.indptr,
                        corpus.indices,
                        chunks[b0 : b1 + 1],
                        seeds[b0:b1],
                        keep,
                        c.sample > 0,
                        sampler.thresholds,
                        sampler.alias,
                        sampler.items,
                        sampler.offsets,
                        sampler.item_table,
                        c.negatives,
                        c.category_negatives,
                        c.window,
                        c.alpha,
                        c.min_alpha,
                        epoch * n_tokens,
                        total,
                        max_len,
                        loss_out[b0:b1],
                        pairs_out[b0:b1],
                        negatives_out[b0:b1],
                    )
                    block_loss = float(loss_out[b0:b1].sum())
                    block_pairs = int(pairs_out[b0:b1].sum())
                    epoch_loss += block_loss
                    epoch_pairs += block_pairs
                    bar.set_postfix(
                        epoch=epoch + 1,
                        loss=f"{block_loss / max(block_pairs, 1):.4f}",
                        refresh=False,
                    )
                    bar.update(int(corpus.indptr[chunks[b1]] - corpus.indptr[chunks[b0]]))
        finally:
            bar.close()
            numba.set_num_threads(previous_threads)
        seconds = time.perf_counter() - started
        final_loss = epoch_loss / max(epoch_pairs, 1)
        self.stats = {
            "seconds": seconds,
            "tokens": total,
            "tokens_per_s": total / max(seconds, 1e-9),
            "loss": final_loss,
            "pairs": epoch_pairs,
            # Same-category draws that hit the positive are skipped, so fewer than G + C.
            "negatives_per_pair": float(negatives_out.sum()) / max(epoch_pairs, 1),
            "epochs": c.epochs,
            "threads": threads,
        }
        log.info(
            "prod2vec: %d epochs over %d sessions, %d tokens in %.1f s (%.0f tokens/s, "
            "%d threads), final loss %.4f per pair, %.2f negatives per pair",
            c.epochs,
            corpus.n_sessions,
            total,
            seconds,
            self.stats["tokens_per_s"],
            threads,
            final_loss,
            self.stats["negatives_per_pair"],
        )
        return ItemVectors(item_ids=corpus.item_ids, input=syn0, output=syn1)

    def _set_threads(self) -> int:
        available = numba.config.NUMBA_NUM_THREADS
        wanted = self.config.threads or available
        if wanted > available:
            log.warning(
                "threads=%d but numba has %d (NUMBA_NUM_THREADS); using %d",
                wanted,
                available,
                available,
            )
        return min(wanted, available)

    def _note_negatives(self, corpus: SessionCorpus, sampler: CategoryNegativeSampler) -> None:
        c = self.config
        if c.category_negatives == 0:
            log.info("category_negatives=0: %d negatives per pair, global only", c.negatives)
        elif not corpus.has_categories:
            log.info(
                "the corpus has no item categories: all %d negatives per pair (%d + %d) come "
                "from the global distribution",
                c.negatives + c.category_negatives,
                c.negatives,
                c.category_negatives,
            )
        else:
            with_table = int(np.count_nonzero(sampler.item_table[corpus.item_counts > 0]))
            log.info(
                "negatives per pair: %d global + %d same-category (%d categories with a table; "
                "%d of %d items draw category negatives, the rest fall back to global)",
                c.negatives,
                c.category_negatives,
                sampler.n_category_tables,
                with_table,
                corpus.n_items,
            )


def _chunk_starts(indptr: np.ndarray, chunk_tokens: int) -> np.ndarray:
    """Session boundaries cutting the corpus into chunks of about ``chunk_tokens`` tokens."""
    n_sessions = len(indptr) - 1
    marks = np.arange(chunk_tokens, indptr[-1], chunk_tokens, dtype=np.int64)
    cuts = np.searchsorted(indptr, marks, side="left")
    starts = np.unique(np.concatenate([[0], cuts, [n_sessions]])).astype(np.int64)
    return starts


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel on a tiny corpus, so that timings of a
    following ``fit`` exclude compilation."""
    corpus = SessionCorpus.from_sequences(
        [["a", "b", "c"], ["b", "c", "d"], ["a", "d"]], {"a": "x", "b": "x", "c": "y", "d": "y"}
    )
    config = Prod2VecConfig(dim=4, epochs=1, sample=0.0, threads=1)
    Prod2VecTrainer(config, progress=False).fit(corpus)
