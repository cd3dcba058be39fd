import numpy as np
import pytest

from engine.errors import DataError
from engine.prod2vec.rng import stream_seed
from engine.prod2vec.sampling import CategoryNegativeSampler, keep_thresholds

# 12 items: categories 0 (items 0-4), 1 (items 5-8), 2 (item 9 alone), none (items 10, 11).
COUNTS = np.array([1, 5, 20, 80, 300, 2, 2, 40, 9, 50, 7, 600])
CATEGORIES = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, -1, -1])


def implied_distribution(sampler: CategoryNegativeSampler, table: int) -> np.ndarray:
    """The exact draw probabilities an alias table encodes, per item."""
    a, b = sampler.offsets[table], sampler.offsets[table + 1]
    n = b - a
    keep = (sampler.thresholds[a:b].astype(np.float64) + 1) / 2.0**32
    p = np.zeros(len(COUNTS))
    np.add.at(p, sampler.items[a:b], keep / n)
    np.add.at(p, sampler.items[a + sampler.alias[a:b]], (1 - keep) / n)
    return p


def expected(weights_of: np.ndarray, exponent: float) -> np.ndarray:
    w = np.where(weights_of > 0, weights_of.astype(float) ** exponent, 0.0)
    return w / w.sum()


@pytest.mark.parametrize("exponent", [0.75, 0.0, 1.0, -0.5])
def test_global_table_encodes_counts_to_the_exponent(exponent):
    s = CategoryNegativeSampler.from_counts(COUNTS, CATEGORIES, exponent)
    np.testing.assert_allclose(implied_distribution(s, 0), expected(COUNTS, exponent), atol=1e-9)


def test_global_draws_follow_counts_to_the_exponent():
    s = CategoryNegativeSampler.from_counts(COUNTS, CATEGORIES, 0.75)
    draws = s.draw_global(400_000, seed=3)
    freq = np.bincount(draws, minlength=len(COUNTS)) / len(draws)
    p = expected(COUNTS, 0.75)
    # four standard errors of a binomial proportion, per item
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / len(draws)) + 1e-12)


def test_category_draws_stay_inside_the_category_with_the_right_weights():
    s = CategoryNegativeSampler.from_counts(COUNTS, CATEGORIES, 0.75)
    for item in (0, 3, 6):
        members = np.flatnonzero(CATEGORIES[item] == CATEGORIES)
        draws = s.draw_for_item(item, 100_000, seed=item)
        assert set(np.unique(draws)) <= set(members)
        weights = np.zeros(len(COUNTS))
        weights[members] = COUNTS[members]
        p = expected(weights, 0.75)
        freq = np.bincount(draws, minlength=len(COUNTS)) / len(draws)
        assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / len(draws)) + 1e-12)
        np.testing.assert_allclose(implied_distribution(s, int(s.item_table[item])), p, atol=1e-9)


def test_singleton_category_and_no_category_fall_back_to_global():
    s = CategoryNegativeSampler.from_counts(COUNTS, CATEGORIES, 0.75)
    assert s.n_category_tables == 2  # categories 0 and 1; category 2 has one item
    assert s.category_table[2] == 0
    for item in (9, 10, 11):
        assert s.item_table[item] == 0
        draws = s.draw_for_item(item, 50_000, seed=1)
        assert len(np.unique(CATEGORIES[draws])) == 4  # all three categories and "none"


def test_items_never_seen_are_never_drawn_and_cannot_make_a_category():
    counts = np.array([0, 4, 4, 0, 9])
    cats = np.array([0, 0, 1, 1, 1])
    s = CategoryNegativeSampler.from_counts(counts, cats)
    assert 0 not in s.draw_global(20_000) and 3 not in s.draw_global(20_000)
    # category 0 has one drawable item left: it falls back to global
    assert s.item_table[1] == 0 and s.item_table[2] == s.item_table[4] != 0


def test_no_categories_means_global_only():
    s = CategoryNegativeSampler.from_counts(COUNTS, None)
    assert s.n_tables == 1 and not s.item_table.any()


def test_bad_counts_are_data_errors():
    with pytest.raises(DataError, match="no item has a positive count"):
        CategoryNegativeSampler.from_counts(np.zeros(3), np.zeros(3))
    with pytest.raises(DataError, match="same length|categories for"):
        CategoryNegativeSampler.from_counts(np.ones(3), np.zeros(2))
    with pytest.raises(DataError, match=">= 0"):
        CategoryNegativeSampler.from_counts(np.array([1, -1]), None)


def test_draws_are_reproducible_per_seed():
    s = CategoryNegativeSampler.from_counts(COUNTS, CATEGORIES)
    assert np.array_equal(s.draw_global(1000, seed=5), s.draw_global(1000, seed=5))
    assert not np.array_equal(s.draw_global(1000, seed=5), s.draw_global(1000, seed=6))
    assert stream_seed(1, 2, 3) != stream_seed(1, 3, 2) != stream_seed(2, 2, 3)


def test_subsampling_matches_gensim():
    from gensim.models import Word2Vec

    rng = np.random.default_rng(0)
    counts = np.maximum(1, (2000 / np.arange(1, 300) ** 1.1).astype(int))
    sentences = [[str(i)] * int(c) for i, c in enumerate(counts)]
    rng.shuffle(sentences)
    for sample in (1e-3, 1e-2, 5.0):
        model = Word2Vec(vector_size=4, min_count=1, sample=sample, sg=1)
        model.build_vocab(sentences)
        theirs = np.array(
            [model.wv.get_vecattr(str(i), "sample_int") for i in range(len(counts))], dtype=float
        )
        ours = keep_thresholds(counts, sample).astype(float)
        np.testing.assert_allclose(ours / 2**32, theirs / 2**32, atol=1e-6)
        assert (ours < 2**32 - 1).any()  # the frequent items really are subsampled
    assert np.all(keep_thresholds(counts, 0.0) == 2**32 - 1)
