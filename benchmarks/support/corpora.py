"""Corpora for the trainer benchmarks: Diginetica from ../shared/data, and a synthetic one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` without installing the project
    sys.path.insert(0, str(ROOT))

from engine.categories import index_categories  # noqa: E402
from engine.corpus import SessionCorpus  # noqa: E402
from engine.prod2vec.synthetic import planted_sessions  # noqa: E402

# ../shared/data from the project root; from a git worktree one level deeper, ../../shared/data.
SHARED_CANDIDATES = [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]


def diginetica_dir() -> Path | None:
    """The Diginetica folder (NOWREC_SHARED_DATA, else ../shared/data), or None when absent."""
    env = os.environ.get("NOWREC_SHARED_DATA")
    for base in [Path(env)] if env else SHARED_CANDIDATES:
        if (base / "diginetica" / "train_events.parquet").is_file():
            return base / "diginetica"
    return None


def missing_diginetica() -> str:
    env = os.environ.get("NOWREC_SHARED_DATA")
    where = ", ".join(str(c) for c in ([Path(env)] if env else SHARED_CANDIDATES))
    return f"Diginetica not found in {where} (set NOWREC_SHARED_DATA to the data folder)"


def require_diginetica() -> Path:
    """The Diginetica folder, or exit with a message saying where it was looked for."""
    found = diginetica_dir()
    if found is None:
        sys.exit(missing_diginetica())
    return found


def diginetica_corpus() -> SessionCorpus:
    """Diginetica train events as a corpus: sessions ordered by session_id, views by position.

    Item ids are kept as the data set's integers (as strings); categories from category_id.
    """
    path = require_diginetica() / "train_events.parquet"
    con = duckdb.connect()
    events = con.execute(
        "SELECT session_id, item_id, category_id FROM read_parquet(?) "
        "ORDER BY session_id, position",
        [str(path)],
    ).fetchnumpy()
    items, inverse = np.unique(events["item_id"], return_inverse=True)
    sessions = events["session_id"]
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])
    indptr = np.r_[starts, len(sessions)].astype(np.int64)
    item_cat = np.zeros(len(items), dtype=np.int64)
    item_cat[inverse] = events["category_id"]
    categories = index_categories([str(c) for c in item_cat])
    return SessionCorpus(
        item_ids=items.astype(str).astype(object),
        item_counts=np.bincount(inverse, minlength=len(items)),
        item_categories=categories.codes,
        category_names=np.array(categories.names, dtype=object),
        indptr=indptr,
        indices=inverse.astype(np.int32),
    )


def synthetic_corpus(n_tokens: int = 5_000_000, seed: int = 7) -> SessionCorpus:
    """A generated shop of 50k items in 500 categories, about ``n_tokens`` views (seeded)."""
    mean_length = 8.0
    return planted_sessions(
        n_categories=500,
        items_per_category=100,
        n_sessions=int(n_tokens / mean_length),
        mean_length=mean_length,
        follow=0.5,
        category_skew=1.0,
        item_skew=2.0,
        seed=seed,
    ).corpus


def load_corpus(name: str) -> SessionCorpus:
    if name == "diginetica":
        return diginetica_corpus()
    if name.startswith("synthetic"):
        _, _, size = name.partition(":")
        return synthetic_corpus(int(size) if size else 5_000_000)
    raise ValueError(f"unknown corpus {name!r}: diginetica or synthetic[:N_TOKENS]")
