"""Small seeded synthetic shops with a known answer (Transformers4Rec's habit)."""

from __future__ import annotations

import numpy as np

from engine.corpus import SessionCorpus


def category_sessions(
    n_categories: int = 2,
    items_per_category: int = 40,
    n_sessions: int = 1500,
    seed: int = 0,
    planted: tuple[str, str] | None = ("c0_i3", "c0_i17"),
) -> tuple[list[list[str]], dict[str, str]]:
    """Sessions that never leave their category, walking a ring of items (i -> i+1 or i+2).

    When ``planted`` is given, ``A`` is always followed by ``B`` (an arbitrary, far-away
    pair in the ring), so that only a statistic of what follows what can surface it.
    """
    rng = np.random.default_rng(seed)
    item_category = {
        f"c{c}_i{i}": f"cat{c}" for c in range(n_categories) for i in range(items_per_category)
    }
    sessions = []
    for _ in range(n_sessions):
        c = int(rng.integers(n_categories))
        i = int(rng.integers(items_per_category))
        length = int(rng.integers(2, 8))
        session = []
        for _ in range(length):
            item = f"c{c}_i{i}"
            session.append(item)
            if planted and item == planted[0]:
                session.append(planted[1])
                i = int(planted[1].split("_i")[1])
            i = (i + int(rng.integers(1, 3))) % items_per_category
        sessions.append(session)
    return sessions, item_category


def category_corpus(**kwargs) -> SessionCorpus:
    sessions, item_category = category_sessions(**kwargs)
    return SessionCorpus.from_sequences(sessions, item_category)
