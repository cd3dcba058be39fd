"""Seeded synthetic sessions with a known answer, for tests and benchmarks of the trainer.

Each category is a set of items with a planted "A then B" transition: a random cycle over the
category's items gives every item one successor. A session picks a category (popularity skew),
starts at an item of it (popularity skew inside the category) and then, step after step, goes to
the current item's successor with probability ``follow`` or jumps to another item of the same
category. Sessions never leave their category, so a good model must tell items of the same
category apart by their sequential structure: the ranking of the true successor among the items
of its own category is the known answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.corpus import SessionCorpus
from engine.metrics import rank_of


@dataclass(frozen=True)
class PlantedCorpus:
    """A synthetic corpus and its planted structure.

    Args:
        corpus: the sessions (item ids ``"i<k>"``, category names ``"c<k>"``).
        successor: vocabulary index of each item's planted successor (same category).
        category_items: ``category_items[k]`` are the vocabulary indices of category ``k``.
    """

    corpus: SessionCorpus
    successor: np.ndarray
    category_items: list[np.ndarray]


def planted_sessions(
    n_categories: int = 20,
    items_per_category: int = 30,
    n_sessions: int = 4000,
    mean_length: float = 6.0,
    follow: float = 0.7,
    category_skew: float = 0.8,
    item_skew: float = 1.5,
    seed: int = 0,
) -> PlantedCorpus:
    """Sessions that stay inside one category and follow planted transitions.

    Args:
        n_categories, items_per_category: catalogue shape (item ``k`` is in category
            ``k // items_per_category``).
        n_sessions: number of sessions; lengths are ``2 + Poisson(mean_length - 2)``.
        follow: probability that the next item is the planted successor of the current one
            (otherwise a popularity-skewed jump inside the category).
        category_skew: Zipf exponent of category popularity.
        item_skew: popularity skew of start items and jumps inside a category (``u ** skew``
            of a uniform ``u`` picks the position; 1 is uniform).
        seed: random seed; the same arguments give the same corpus.
    """
    rng = np.random.default_rng(seed)
    m = items_per_category
    n_items = n_categories * m
    # Planted cycle inside each category, over a shuffled order of its items.
    successor = np.empty(n_items, dtype=np.int64)
    for c in range(n_categories):
        order = c * m + rng.permutation(m)
        successor[order] = np.roll(order, -1)

    cat_p = 1.0 / np.arange(1, n_categories + 1) ** category_skew
    cat_p = rng.permutation(cat_p / cat_p.sum())
    cats = rng.choice(n_categories, size=n_sessions, p=cat_p)
    lengths = 2 + rng.poisson(max(mean_length - 2.0, 0.0), size=n_sessions)
    max_len = int(lengths.max())

    def jump(c: np.ndarray) -> np.ndarray:
        pos = np.floor(m * rng.random(len(c)) ** item_skew).astype(np.int64)
        return c * m + np.minimum(pos, m - 1)

    steps = np.empty((n_sessions, max_len), dtype=np.int64)
    steps[:, 0] = jump(cats)
    for t in range(1, max_len):
        prev = steps[:, t - 1]
        follows = rng.random(n_sessions) < follow
        steps[:, t] = np.where(follows, successor[prev], jump(cats))
    mask = np.arange(max_len)[None, :] < lengths[:, None]
    flat = steps[mask].astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    corpus = SessionCorpus(
        item_ids=np.array([f"i{k}" for k in range(n_items)], dtype=object),
        item_counts=np.bincount(flat, minlength=n_items),
        item_categories=(np.arange(n_items) // m).astype(np.int32),
        category_names=np.array([f"c{k}" for k in range(n_categories)], dtype=object),
        indptr=indptr,
        indices=flat,
    )
    groups = [np.arange(c * m, (c + 1) * m) for c in range(n_categories)]
    return PlantedCorpus(corpus=corpus, successor=successor, category_items=groups)


def within_category_ranks(vectors, planted: PlantedCorpus) -> np.ndarray:
    """Rank (1-based, pessimistic ties) of each item's successor among its category's items.

    Scores are input-output: ``input[a] . output[b]`` for every ``b`` in ``a``'s category
    (``a`` itself excluded, as a recommender would not suggest the item being viewed). Only
    items that occur in the corpus are ranked.
    """
    counts = planted.corpus.item_counts
    ranks = []
    for members in planted.category_items:
        members = members[counts[members] > 0]
        if len(members) < 3:
            continue
        scores = vectors.input[members] @ vectors.output[members].T
        np.fill_diagonal(scores, -np.inf)
        pos = {int(item): k for k, item in enumerate(members)}
        for row, a in enumerate(members):
            target = pos.get(int(planted.successor[a]))
            if target is None:
                continue
            ranks.append(rank_of(scores[row], target))
    return np.asarray(ranks, dtype=np.int64)
