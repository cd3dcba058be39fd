"""The session neighbourhood's index keeps the newest ``max_sessions`` sessions (bounded
memory and bundle size for a large shop): the same index as built from those sessions alone."""

from __future__ import annotations

import numpy as np
import pytest

from engine.build import build_model
from engine.build.session_index import build_session_index
from engine.errors import ConfigError
from engine.model import ModelParams
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.recommender import SessionRecommender
from engine.session_knn import SessionKnnParams
from tests.synthetic import category_corpus


def test_the_index_keeps_the_newest_sessions():
    corpus = category_corpus()
    keep = 150
    bounded = build_session_index(corpus, SessionKnnParams(max_sessions=keep))
    newest = corpus.subset_sessions(np.arange(corpus.n_sessions) >= corpus.n_sessions - keep)
    alone = build_session_index(newest)
    assert bounded.n_sessions == keep < corpus.n_sessions
    for name in ("indptr", "indices", "inv_ptr", "inv_sessions", "inv_positions"):
        assert np.array_equal(getattr(bounded, name), getattr(alone, name)), name
    whole = build_session_index(corpus)
    assert whole.n_sessions == corpus.n_sessions  # the default keeps every session here


def test_a_model_with_a_bounded_index_recommends():
    corpus = category_corpus()
    vectors = make_trainer(Prod2VecConfig(backend="gensim", dim=8, epochs=1, threads=1)).fit(corpus)
    params = ModelParams(session_knn=SessionKnnParams(max_sessions=50))
    model = build_model(corpus, vectors, {}, params, threads=1)
    answer = SessionRecommender(model).recommend(list(corpus.item_ids[:3]), k=10)
    assert len(answer.item_ids) == 10 and model.session_knn.n_sessions == 50
    with pytest.raises(ConfigError, match="max_sessions"):
        SessionKnnParams(max_sessions=0)
