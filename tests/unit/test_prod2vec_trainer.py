import logging

import numpy as np
import pytest

from engine.corpus import SessionCorpus
from engine.errors import DataError
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.prod2vec.synthetic import planted_sessions, within_category_ranks
from engine.prod2vec.trainer import Prod2VecTrainer


@pytest.fixture(scope="module")
def planted():
    return planted_sessions(n_categories=20, items_per_category=30, n_sessions=4000, seed=11)


def small_config(**kwargs) -> Prod2VecConfig:
    base = {"dim": 32, "window": 3, "epochs": 5, "threads": 1, "sample": 0.0, "seed": 7}
    return Prod2VecConfig(**(base | kwargs))


def fit(corpus, **kwargs):
    trainer = make_trainer(small_config(**kwargs), progress=False)
    return trainer.fit(corpus), trainer


def test_same_seed_one_thread_is_deterministic(planted):
    a, _ = fit(planted.corpus, epochs=2)
    b, _ = fit(planted.corpus, epochs=2)
    assert np.array_equal(a.input, b.input) and np.array_equal(a.output, b.output)
    c, _ = fit(planted.corpus, epochs=2, seed=8)
    assert not np.allclose(a.input, c.input)
    assert not np.allclose(a.output, c.output)


def test_vectors_cover_the_vocabulary_and_are_read_only(planted):
    vectors, _ = fit(planted.corpus, epochs=1)
    assert vectors.input.shape == vectors.output.shape == (planted.corpus.n_items, 32)
    assert vectors.input.dtype == np.float32 and not vectors.output.flags.writeable
    assert np.isfinite(vectors.input).all() and np.isfinite(vectors.output).all()
    assert np.abs(vectors.output).sum() > 0  # output vectors start at zero: they were trained
    assert list(vectors.item_ids) == list(planted.corpus.item_ids)


def test_same_category_negatives_rank_the_true_next_item_better(planted):
    """The known answer: sessions stay inside categories and follow planted transitions, so
    negatives from the positive's own category must teach the model to tell the successor
    from its category neighbours better than global negatives alone (same total)."""
    category, trainer = fit(planted.corpus, negatives=5, category_negatives=5)
    # draws of the positive itself from its 30-item category are skipped: about 1 in 30
    assert 9.0 < trainer.stats["negatives_per_pair"] < 10.0
    global_only, _ = fit(planted.corpus, negatives=10, category_negatives=0)
    mrr_category = (1.0 / within_category_ranks(category, planted)).mean()
    mrr_global = (1.0 / within_category_ranks(global_only, planted)).mean()
    assert mrr_category > 1.1 * mrr_global, (mrr_category, mrr_global)


def test_both_backends_learn_the_planted_structure(planted):
    ours, _ = fit(planted.corpus, negatives=10, category_negatives=0)
    theirs, _ = fit(planted.corpus, negatives=10, category_negatives=0, backend="gensim")
    ranks_ours = within_category_ranks(ours, planted)
    ranks_theirs = within_category_ranks(theirs, planted)
    # A model that knows nothing ranks the successor uniformly among the other members.
    others = np.array([len(m) - 1 for m in planted.category_items])
    chance = np.mean([np.mean(1.0 / np.arange(1, n + 1)) for n in others])
    mrr_ours, mrr_theirs = (1.0 / ranks_ours).mean(), (1.0 / ranks_theirs).mean()
    assert mrr_theirs > 1.5 * chance and mrr_ours > 1.5 * chance, (mrr_ours, mrr_theirs, chance)
    # Same algorithm, same settings: our kernel is within 15% of gensim's quality.
    assert mrr_ours > 0.85 * mrr_theirs, (mrr_ours, mrr_theirs)


def test_stats_progress_and_summary(planted, capsys, caplog):
    caplog.set_level(logging.INFO, logger="engine.prod2vec.trainer")
    caplog.set_level(logging.INFO, logger="nowrec.progress")
    trainer = Prod2VecTrainer(small_config(epochs=2), progress=True)
    trainer.fit(planted.corpus)
    stats = trainer.stats
    assert stats["tokens"] == 2 * planted.corpus.n_tokens
    assert stats["epochs"] == 2 and stats["threads"] == 1
    assert stats["seconds"] > 0 and stats["tokens_per_s"] > 0
    assert stats["pairs"] > planted.corpus.n_tokens  # every token has context on both sides
    # 10 global negatives a pair, minus the rare draws of the positive itself
    assert 9.0 < stats["negatives_per_pair"] <= 10.0
    # A loss per pair: 1 positive + 10 negatives, each -log sigmoid of a near-zero score at the
    # start would be 11 * log 2; training must have brought it below that.
    assert 0 < stats["loss"] < 11 * np.log(2)
    # stderr is no terminal here: progress comes as log lines, not a bar
    assert "\r" not in capsys.readouterr().err
    (done,) = [r.getMessage() for r in caplog.records if r.name == "nowrec.progress"]
    assert done.startswith("prod2vec: ") and "tok/s" in done and "loss=" in done
    summary = [r.getMessage() for r in caplog.records if "tokens/s" in r.getMessage()]
    assert len(summary) == 1 and "2 epochs" in summary[0]


def test_loss_decreases_with_training(planted):
    _, one = fit(planted.corpus, epochs=1)
    _, five = fit(planted.corpus, epochs=5)
    assert five.stats["loss"] < one.stats["loss"]


def test_corpus_without_categories_trains_on_global_negatives(caplog):
    caplog.set_level(logging.INFO, logger="engine.prod2vec.trainer")
    rng = np.random.default_rng(0)
    sessions = [[f"p{k}" for k in rng.integers(0, 40, size=6)] for _ in range(300)]
    corpus = SessionCorpus.from_sequences(sessions)
    assert not corpus.has_categories
    vectors, trainer = fit(corpus, epochs=2, negatives=3, category_negatives=4)
    assert np.isfinite(vectors.input).all() and trainer.stats["pairs"] > 0
    notes = [r.getMessage() for r in caplog.records if "no item categories" in r.getMessage()]
    assert notes and "all 7 negatives" in notes[0]


def test_zero_category_negatives_is_noted(planted, caplog):
    caplog.set_level(logging.INFO, logger="engine.prod2vec.trainer")
    fit(planted.corpus, epochs=1, negatives=4, category_negatives=0)
    assert any("global only" in r.getMessage() for r in caplog.records)


def test_two_threads_train_too(planted):
    vectors, trainer = fit(planted.corpus, threads=2, negatives=5, category_negatives=5)
    assert trainer.stats["threads"] in (1, 2)  # capped at the cores numba has
    mrr = (1.0 / within_category_ranks(vectors, planted)).mean()
    single, _ = fit(planted.corpus, negatives=5, category_negatives=5)
    assert mrr > 0.9 * (1.0 / within_category_ranks(single, planted)).mean()


def test_subsampling_drops_frequent_items(planted):
    _, kept = fit(planted.corpus, epochs=1, sample=0.0)
    _, sampled = fit(planted.corpus, epochs=1, sample=1e-3)
    assert sampled.stats["pairs"] < kept.stats["pairs"]


def test_empty_corpus_is_a_data_error():
    corpus = SessionCorpus.from_sequences([])
    for backend in ("numba", "gensim"):
        with pytest.raises(DataError, match="no sessions to train on"):
            fit(corpus, backend=backend)


def test_training_continues_from_given_vectors(planted):
    """Continuing on the newest sessions from vectors trained on the older ones keeps what
    they learned (better than a fresh start on the newest alone with the same epochs), leaves
    the given vectors as they were, and counts items by the whole corpus when asked."""
    corpus = planted.corpus
    cut = corpus.n_sessions - 200
    older = corpus.subset_sessions(np.arange(corpus.n_sessions) < cut)
    newer = corpus.subset_sessions(np.arange(corpus.n_sessions) >= cut)
    start, _ = fit(older, epochs=3)
    before = start.input.copy()
    trainer = make_trainer(small_config(epochs=1, alpha=0.01), progress=False)
    continued = trainer.fit(newer, start=start, counts=corpus.item_counts)
    assert np.array_equal(start.input, before)
    assert not np.array_equal(continued.input, start.input)
    fresh = make_trainer(small_config(epochs=1, alpha=0.01), progress=False).fit(newer)
    mrr = {
        name: (1.0 / within_category_ranks(v, planted)).mean()
        for name, v in {"continued": continued, "fresh": fresh}.items()
    }
    assert mrr["continued"] > 1.5 * mrr["fresh"], mrr


def test_continuing_needs_vectors_of_the_same_vocabulary(planted):
    start, _ = fit(planted.corpus, epochs=1, dim=16)
    trainer = make_trainer(small_config(epochs=1), progress=False)
    with pytest.raises(DataError, match="continue only on a part of the corpus"):
        trainer.fit(planted.corpus, start=start)
    with pytest.raises(DataError, match="one entry per item"):
        trainer.fit(planted.corpus, counts=np.ones(3, np.int64))
