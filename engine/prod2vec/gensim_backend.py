"""gensim Word2Vec as the reference prod2vec backend (global negatives only)."""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from engine.corpus import SessionCorpus
from engine.errors import DataError
from engine.prod2vec.config import Prod2VecConfig
from engine.vectors import ItemVectors

log = logging.getLogger(__name__)


class GensimTrainer:
    """Trains prod2vec with gensim's Word2Vec (sg=1, negative sampling).

    gensim has no category-aware negatives: ``negatives + category_negatives`` global negatives
    are drawn instead, so that both backends do the same amount of work per pair. gensim cuts
    sentences at 10,000 tokens; the pipeline caps session length far below that.
    """

    def __init__(self, config: Prod2VecConfig, progress: bool = True) -> None:
        self.config = config
        self.progress = progress  # gensim reports progress in its own log lines
        self.stats: dict[str, float] = {}

    def fit(self, corpus: SessionCorpus) -> ItemVectors:
        from gensim.models import Word2Vec  # heavy import, only when this backend is chosen

        c = self.config
        if corpus.n_tokens == 0:
            raise DataError(
                "the corpus has no sessions to train on; check the source and the session "
                "filters (minimum session length, minimum item count)"
            )
        if c.category_negatives:
            log.info(
                "gensim backend: drawing %d global negatives instead of %d global + %d "
                "same-category",
                c.negatives + c.category_negatives,
                c.negatives,
                c.category_negatives,
            )
        sentences = _sentences(corpus)
        model = Word2Vec(
            vector_size=c.dim,
            window=c.window,
            min_count=1,
            sg=1,
            hs=0,
            negative=c.negatives + c.category_negatives,
            ns_exponent=c.ns_exponent,
            sample=c.sample,
            alpha=c.alpha,
            min_alpha=c.min_alpha,
            epochs=c.epochs,
            workers=c.threads or os.cpu_count() or 1,
            seed=c.seed,
        )
        model.build_vocab(sentences)
        # Only train() is timed, as our trainer's fit times only its training loop.
        started = time.perf_counter()
        model.train(sentences, total_examples=len(sentences), epochs=c.epochs)
        seconds = time.perf_counter() - started
        n = corpus.n_items
        vin = np.zeros((n, c.dim), dtype=np.float32)
        vout = np.zeros((n, c.dim), dtype=np.float32)
        rows = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
        vin[rows] = model.wv.vectors
        vout[rows] = model.syn1neg
        tokens = corpus.n_tokens * c.epochs
        self.stats = {
            "seconds": seconds,
            "tokens": tokens,
            "tokens_per_s": tokens / max(seconds, 1e-9),
            "loss": float("nan"),  # gensim's running loss is cumulative and float32: not comparable
            "epochs": c.epochs,
            "threads": c.threads or os.cpu_count() or 1,
        }
        log.info(
            "gensim: %d epochs, %d tokens in %.1f s (%.0f tokens/s)",
            c.epochs,
            tokens,
            seconds,
            self.stats["tokens_per_s"],
        )
        return ItemVectors(item_ids=corpus.item_ids, input=vin, output=vout)


def _sentences(corpus: SessionCorpus) -> list[list[str]]:
    """Sessions as lists of tokens, the vocabulary index as a string (keeps the mapping exact).

    Every occurrence of an item shares one string object: 8 bytes a token instead of a new
    string each, and gensim's per-token dictionary lookups reuse the cached hash.
    """
    tokens = np.array([str(i) for i in range(corpus.n_items)], dtype=object)[corpus.indices]
    bounds = corpus.indptr
    return [tokens[bounds[s] : bounds[s + 1]].tolist() for s in range(corpus.n_sessions)]
