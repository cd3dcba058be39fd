"""gensim Word2Vec as the reference prod2vec backend (global negatives only)."""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from engine.corpus import SessionCorpus
from engine.prod2vec.config import Prod2VecConfig
from engine.vectors import ItemVectors

log = logging.getLogger(__name__)


class GensimTrainer:
    """Trains prod2vec with gensim's Word2Vec (sg=1, negative sampling).

    gensim has no category-aware negatives: ``negatives + category_negatives`` global negatives
    are drawn instead, so that both backends do the same amount of work per pair.
    """

    def __init__(self, config: Prod2VecConfig) -> None:
        self.config = config
        self.stats: dict[str, float] = {}

    def fit(self, corpus: SessionCorpus) -> ItemVectors:
        from gensim.models import Word2Vec  # heavy import, only when this backend is chosen

        c = self.config
        if c.category_negatives:
            log.info(
                "gensim backend: drawing %d global negatives instead of %d global + %d "
                "same-category",
                c.negatives + c.category_negatives,
                c.negatives,
                c.category_negatives,
            )
        # gensim needs string tokens; the vocabulary index as a token keeps the mapping exact.
        sentences = [[str(i) for i in corpus.session(s)] for s in range(corpus.n_sessions)]
        started = time.perf_counter()
        model = Word2Vec(
            sentences=sentences,
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
        seconds = time.perf_counter() - started
        n = corpus.n_items
        vin = np.zeros((n, c.dim), dtype=np.float32)
        vout = np.zeros((n, c.dim), dtype=np.float32)
        rows = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
        vin[rows] = model.wv.vectors
        vout[rows] = model.syn1neg
        self.stats = {
            "seconds": seconds,
            "tokens": corpus.n_tokens * c.epochs,
            "tokens_per_s": corpus.n_tokens * c.epochs / max(seconds, 1e-9),
        }
        return ItemVectors(item_ids=corpus.item_ids, input=vin, output=vout)
