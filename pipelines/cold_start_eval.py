"""How well do cold-start vectors stand in for views? (Airbnb's evaluation, KDD 2018.)

Hold out a share of the well-observed products (at least ``min_views`` views), train the whole
model without them (their views are removed from the sessions), give them cold-start vectors
from their metadata only, and ask the recommender for each one as the current product of an
otherwise empty session (the ``cold_start`` strategy a product page gets on the day a product
is added). The truth is what visitors really viewed around the product: its ``k`` most
co-viewed products in the full sessions. Recall@k is compared with the obvious baseline, the
``k`` most popular products of its category.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from engine.build import build_model

from engine.catalog import ProductMetadata
from engine.corpus import SessionCorpus
from engine.errors import DataError
from engine.model import ModelParams
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.progress import progress as report_progress
from engine.recommender import Filters, SessionRecommender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColdStartReport:
    held_out: int
    k: int
    recall: float  # cold-start recommendations
    baseline_recall: float  # most popular of the same category
    strategies: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        ratio = self.recall / self.baseline_recall if self.baseline_recall else float("inf")
        return (
            f"cold start on {self.held_out:,} held-out products: recall@{self.k} "
            f"{self.recall:.4f} vs same-category-popular {self.baseline_recall:.4f} "
            f"({ratio:.2f}x)"
        )


def drop_items(corpus: SessionCorpus, drop: np.ndarray) -> SessionCorpus:
    """The corpus without the items ``drop`` (vocabulary rows): their views are removed and
    sessions left shorter than 2 are dropped."""
    gone = np.zeros(corpus.n_items, dtype=bool)
    gone[drop] = True
    remap = np.cumsum(~gone) - 1
    keep_tok = ~gone[corpus.indices]
    session_of = np.repeat(np.arange(corpus.n_sessions), np.diff(corpus.indptr))
    lengths = np.bincount(session_of[keep_tok], minlength=corpus.n_sessions)
    ok_session = lengths >= 2
    tok = keep_tok & ok_session[session_of]
    indices = remap[corpus.indices[tok]].astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum(lengths[ok_session])])
    kept = ~gone
    return SessionCorpus(
        item_ids=corpus.item_ids[kept],
        item_counts=np.bincount(indices, minlength=int(kept.sum())),
        item_categories=corpus.item_categories[kept],
        category_names=corpus.category_names,
        indptr=indptr,
        indices=indices,
    )


def co_viewed(corpus: SessionCorpus, rows: np.ndarray, k: int) -> dict[int, np.ndarray]:
    """For each row, its ``k`` most co-viewed rows (same session, any distance)."""
    wanted = set(int(r) for r in rows)
    counts: dict[int, dict[int, int]] = {r: {} for r in wanted}
    for s in range(corpus.n_sessions):
        session = corpus.session(s)
        present = wanted.intersection(session.tolist())
        for r in present:
            c = counts[r]
            for other in set(session.tolist()) - {r}:
                c[other] = c.get(other, 0) + 1
    out = {}
    for r, c in counts.items():
        ranked = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        out[r] = np.array([o for o, _ in ranked], dtype=np.int64)
    return out


def evaluate_cold_start(
    corpus: SessionCorpus,
    metadata: dict[str, ProductMetadata],
    trainer: Prod2VecConfig,
    params: ModelParams | None = None,
    share: float = 0.1,
    min_views: int = 20,
    k: int = 20,
    seed: int = 0,
    progress: bool = True,
) -> ColdStartReport:
    """See the module docstring. ``metadata``: per item id (category, brand, price, title)."""
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(corpus.item_counts >= min_views)
    n_out = int(len(eligible) * share)
    if n_out < 1:
        raise DataError(f"no product has {min_views}+ views to hold out; lower min_views")
    held = np.sort(rng.choice(eligible, n_out, replace=False))
    truth = co_viewed(corpus, held, k)
    train = drop_items(corpus, held)
    vectors = make_trainer(trainer).fit(train)
    meta = {str(i): metadata.get(str(i), ProductMetadata()) for i in train.item_ids}
    model = build_model(train, vectors, meta, params or ModelParams(), trainer.threads)
    ids = corpus.item_ids
    model.add_cold_products(
        [(str(ids[h]), metadata.get(str(ids[h]), ProductMetadata())) for h in held]
    )
    rec = SessionRecommender(model)
    state = model.catalog.state
    popular_in = model.popular_by_category
    ours, base, strategies = [], [], {}
    for h in report_progress(held, desc="cold start", unit="product", enabled=progress):
        true_ids = {str(ids[t]) for t in truth[h]} - {str(i) for i in ids[held]}
        if not true_ids:
            continue
        out = rec.recommend([], current_item=str(ids[h]), k=k, filters=Filters(exclude_seen=False))
        strategies[out.strategy] = strategies.get(out.strategy, 0) + 1
        ours.append(len(true_ids & set(out.item_ids)) / min(k, len(true_ids)))
        cat = state.category_index.get(metadata.get(str(ids[h]), ProductMetadata()).category)
        pool = popular_in.get(cat, model.popular)[:k] if cat is not None else model.popular[:k]
        base_ids = {state.id_of(int(r)) for r in pool}
        base.append(len(true_ids & base_ids) / min(k, len(true_ids)))
    n = len(ours)
    return ColdStartReport(
        held_out=n,
        k=k,
        recall=float(np.mean(ours)) if n else 0.0,
        baseline_recall=float(np.mean(base)) if n else 0.0,
        strategies={s: c / max(n, 1) for s, c in strategies.items()},
    )
