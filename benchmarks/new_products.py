"""New products on the demo shop: how many pages of their category show one, with the
freshness boost and without it, and what the boost costs ordinary recommendations; one run.

    python benchmarks/new_products.py [--bundle DIR] [--boosts 0,1,2,3,4]

One new product per category is added as ``PUT /v1/products/{id}`` adds it (metadata only:
category, brand, price and title of the category's kind, no views). Each page of its category
(every trained, available product) then asks for its recommendations (the product alone as
the session, k=20, as ``GET /v1/recommendations?product_id=`` does) and for its similar
products. The demo shop also lists ~2% new arrivals without views, so a page may show one of
those instead. HR@20 and MRR@20 are measured on the demo shop's held-out test pairs (sessions
of the days after training) with the same catalogue: no target is a product without views, so
any change there is the boost's cost. The bundle defaults to artifacts/bench/demo, trained
through the pipeline when missing (about half a minute).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _bundles import DEMO_DATA, bundle_or_build
from _common import ROOT

from engine.bundle import Bundle
from engine.catalog import ProductMetadata
from engine.model import RecommenderModel
from engine.ranking import RankerParams
from engine.recommender import SessionRecommender
from pipelines.demo_shop import TEST_PAIRS_FILE
from pipelines.evaluate import evaluate_recommender, read_test_pairs

K = 20


def add_new_products(model: RecommenderModel, rng: np.random.Generator) -> dict[int, str]:
    """One new product per category, modelled on a random product of it; category -> row."""
    state = model.catalog.state
    n = model.catalog.n_trained
    added: dict[int, str] = {}
    for c, name in enumerate(state.category_names):
        rows = np.flatnonzero(state.categories[:n] == c)
        if len(rows) == 0:
            continue
        like = state.metadata_of(int(rng.choice(rows))) or ProductMetadata(category=name)
        meta = ProductMetadata(
            category=name,
            brand=like.brand,
            price=None if like.price is None else round(like.price * 1.05, 2),
            title=f"{like.title or name} New Edition",
        )
        item_id = f"new-{name}"
        model.add_product(item_id, meta)
        added[c] = item_id
    return added


def with_boost(model: RecommenderModel, boost: float) -> None:
    model.params = model.params.replace(ranking=model.params.ranking.with_freshness_boost(boost))


def exposure(model: RecommenderModel, added: dict[int, str]) -> dict[str, int]:
    """Pages of the new products' categories showing the new product, any product without
    views, and the new product among the similar products."""
    rec = SessionRecommender(model)
    state = model.catalog.state
    n = model.catalog.n_trained
    counts = {"pages": 0, "shows_it": 0, "shows_a_new_one": 0, "similar_shows_it": 0}
    for c, new_id in added.items():
        pages = np.flatnonzero((state.categories[:n] == c) & state.available[:n])
        for row in pages:
            page = state.id_of(int(row))
            items = rec.recommend([page], current_item=page, k=K).item_ids
            counts["pages"] += 1
            counts["shows_it"] += new_id in items
            counts["shows_a_new_one"] += any(state.row_of(i) >= n for i in items)
            counts["similar_shows_it"] += new_id in rec.similar_items(page, K).item_ids
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", help="a demo-shop bundle (default: artifacts/bench/demo)")
    ap.add_argument(
        "--boosts",
        default=None,
        help="comma-separated boosts to measure besides 0 (default: the engine's default)",
    )
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    default = RankerParams().freshness_boost
    boosts = [float(b) for b in args.boosts.split(",")] if args.boosts else [default]
    boosts = [0.0] + [b for b in boosts if b != 0]
    path = bundle_or_build(args.bundle, "demo")
    model = RecommenderModel.load(Bundle.load(path))
    pairs = read_test_pairs(DEMO_DATA / TEST_PAIRS_FILE)
    fresh_at_training = model.catalog.n_rows - model.catalog.n_trained
    added = add_new_products(model, np.random.default_rng(args.seed))
    print(
        f"demo shop bundle {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
        f"{model.catalog.n_trained:,} trained products, {fresh_at_training} listed without "
        f"views, {len(added)} new ones added (one per category); k={K}"
    )
    print(
        f"{'boost':>6} {'pages':>6} {'show the new one':>17} {'show one w/o views':>19} "
        f"{'similar shows it':>17} {'HR@20':>7} {'MRR@20':>7}"
    )
    results = {}
    for boost in boosts:
        with_boost(model, boost)
        e = exposure(model, added)
        ev = evaluate_recommender(SessionRecommender(model), pairs, k=K, progress=False)
        results[boost] = (e, ev)
        p = e["pages"]
        print(
            f"{boost:>6.2f} {p:>6} {e['shows_it']:>7} ({e['shows_it'] / p:>6.1%}) "
            f"{e['shows_a_new_one']:>8} ({e['shows_a_new_one'] / p:>6.1%}) "
            f"{e['similar_shows_it']:>7} ({e['similar_shows_it'] / p:>6.1%}) "
            f"{ev.hit_rate:>7.4f} {ev.mrr:>7.4f}"
        )
    (off, ev_off) = results[0.0]
    boost = default if default in results else boosts[-1]
    (on, ev_on) = results[boost]
    p = on["pages"]
    print(
        f"new products: a product without views shown on {on['shows_a_new_one'] / p:.1%} of "
        f"its category's pages with the freshness boost {boost:g} vs "
        f"{off['shows_a_new_one'] / off['pages']:.1%} without (the added one: "
        f"{on['shows_it'] / p:.1%} vs {off['shows_it'] / off['pages']:.1%}); HR@20 "
        f"{ev_on.hit_rate:.4f} vs {ev_off.hit_rate:.4f} "
        f"({ev_on.hit_rate / ev_off.hit_rate:.3f}x), MRR@20 {ev_on.mrr:.4f} vs {ev_off.mrr:.4f}"
    )


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
