"""Learning the ranking stage on a validation split of the training sessions."""

import numpy as np
import pytest
from engine.build import build_model

from engine.corpus import SessionCorpus
from engine.errors import DataError
from engine.metrics import hit_rate_and_mrr
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.ranking import FEATURES, RankerParams
from engine.recommender import SessionRecommender
from pipelines.ranker import _ranks, fit_listwise, learn_ranker, validation_split
from tests.synthetic import category_corpus


def test_validation_split_holds_out_the_newest_sessions():
    sessions = [["a", "b"], ["b", "c"], ["a", "c", "b"], ["c", "a"], ["a", "z", "b"]]
    corpus = SessionCorpus.from_sequences(sessions)
    split = validation_split(corpus, share=0.4)
    assert split.held_out_sessions == 2 and split.train.n_sessions == 3
    assert split.train.item_counts[corpus.index_of("z")] == 0
    ids = corpus.item_ids
    pairs = [
        ([ids[i] for i in p], ids[t]) for p, t in zip(split.prefixes, split.targets, strict=True)
    ]
    # "z" never occurs in the kept sessions, so it is dropped from the held-out one
    assert pairs == [(["c"], "a"), (["a"], "b")]
    capped = validation_split(corpus, share=0.4, max_pairs=1)
    assert len(capped.targets) == 1


def test_fit_listwise_recovers_a_planted_ranking():
    rng = np.random.default_rng(0)
    n_q, n_c = 300, 20
    x = rng.normal(size=(n_q * n_c, 3)).astype(np.float32)
    truth = np.array([2.0, -1.0, 0.0])
    offsets = np.arange(0, n_q * n_c + 1, n_c)
    labels = np.array([int(np.argmax(x[o : o + n_c] @ truth)) for o in offsets[:-1]])
    w = fit_listwise(offsets, x, labels)
    assert w[0] > 0 > w[1] and abs(w[2]) < 0.2 * w[0]
    hr1, _ = hit_rate_and_mrr(_ranks(offsets, x @ w, labels), k=1)
    assert hr1 >= 0.9


def test_fit_listwise_needs_labelled_pairs():
    with pytest.raises(DataError, match="too few"):
        fit_listwise(np.array([0, 2]), np.ones((2, 3), np.float32), np.array([-1]))


def test_learn_ranker_on_the_served_candidates():
    corpus = category_corpus(n_sessions=1200, seed=3)
    split = validation_split(corpus, share=0.2, max_pairs=800)
    vectors = make_trainer(Prod2VecConfig(backend="gensim", dim=8, epochs=2, threads=1)).fit(
        split.train
    )
    model = build_model(split.train, vectors, threads=1, indexes=False)
    params, report = learn_ranker(
        SessionRecommender(model, exact=True), split, RankerParams(), k=5, progress=False
    )
    assert set(params.weights) == set(FEATURES)
    assert report.pairs == len(split.targets) and 0 < report.candidate_recall <= 1
    assert report.learned_mrr >= report.default_mrr
    with pytest.raises(Exception, match="without HNSW"):
        SessionRecommender(model)
