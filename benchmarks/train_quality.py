"""Next-item quality on Diginetica: gensim vs our trainer (global-only and category-aware).

All variants train on the Diginetica train events with the same dimension, window, epochs and
total negatives per pair (default: dim 100, window 3, 10 epochs, 10 negatives), then rank ALL
items for each of the 60,858 test prefixes with input-output scoring
(``next_item_ranks`` of benchmarks/support/vector_scoring.py: recency-weighted mean of the prefix's input vectors,
weights linear in position by default, dotted with every output vector; pessimistic ties) and
report HR@k and MRR@k.

Variants (``--variants``, comma-separated):
  gensim            gensim Word2Vec at word2vec's defaults (alpha 0.025, ns_exponent 0.75,
                    sample 1e-3): the reference setting
  ours:C            our kernel at the same settings, C of the negatives from the positive's
                    category (ours:0 is global-only)
  gensim-tuned      gensim at Prod2VecConfig's defaults (alpha, min_alpha, ns_exponent,
                    sample; tuned on this data set)
  ours-tuned:C      our kernel at those defaults, C same-category negatives

A second pair of columns ranks each target only among the items of its own category: where
same-category negatives are meant to help.

Reference measured with gensim at dim 100, window 3, 10 epochs, 10 negatives: HR@20 0.338,
MRR@20 0.099.

    python benchmarks/train_quality.py [--epochs 10] [--threads 2] [--variants ...] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow.parquet as pq  # noqa: E402
from support.corpora import (  # noqa: E402
    diginetica_corpus,
    diginetica_dir,
    missing_diginetica,
    require_diginetica,
)
from support.vector_scoring import DEFAULT_RECENCY, next_item_ranks  # noqa: E402

from engine.metrics import hit_rate_and_mrr  # noqa: E402
from engine.prod2vec import Prod2VecConfig, make_trainer  # noqa: E402

VARIANTS = "gensim,ours:0,ours:1,ours:5,gensim-tuned,ours-tuned:0,ours-tuned:1"


def load_test_pairs(vectors_ids) -> tuple[list, list]:
    """Test prefixes and targets as vocabulary indices (-1: unknown target, never here)."""
    table = pq.read_table(require_diginetica() / "test_pairs.parquet")
    index = {str(i): k for k, i in enumerate(vectors_ids)}
    prefixes = [
        [index[str(i)] for i in prefix if str(i) in index]
        for prefix in table.column("prefix").to_pylist()
    ]
    targets = [index.get(str(t), -1) for t in table.column("target").to_pylist()]
    return prefixes, targets


def config_for(variant: str, args: argparse.Namespace) -> Prod2VecConfig:
    """The configuration of a variant name (see the module docstring)."""
    name, _, c = variant.partition(":")
    fixed = {"dim": args.dim, "window": args.window, "epochs": args.epochs}
    fixed |= {"threads": args.threads, "seed": args.seed}
    word2vec = {"alpha": 0.025, "min_alpha": 0.0001, "ns_exponent": 0.75, "sample": 1e-3}
    settings = {"gensim": word2vec, "ours": word2vec, "gensim-tuned": {}, "ours-tuned": {}}
    if (
        name not in settings
        or (name.startswith("gensim") and c)
        or (name.startswith("ours") and not c.isdigit())
    ):
        raise SystemExit(f"unknown variant {variant!r}: gensim, gensim-tuned, ours:C, ours-tuned:C")
    category = int(c or 0)
    if category > args.negatives:
        raise SystemExit(f"{variant}: more category negatives than the {args.negatives} in all")
    return Prod2VecConfig(
        negatives=args.negatives - category,
        category_negatives=category,
        backend="gensim" if name.startswith("gensim") else "numba",
        **settings[name],
        **fixed,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--negatives", type=int, default=10, help="total negatives per pair")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--recency", type=float, default=DEFAULT_RECENCY, help="recency exponent")
    p.add_argument("--variants", default=VARIANTS, help=f"comma-separated (default {VARIANTS})")
    p.add_argument("--quick", action="store_true", help="2 epochs instead of 10")
    args = p.parse_args()
    if args.quick:
        args.epochs = 2
    if diginetica_dir() is None:
        print(f"skipped: {missing_diginetica()}")
        return

    corpus = diginetica_corpus()
    prefixes, targets = load_test_pairs(corpus.item_ids)
    print(
        f"Diginetica: {corpus.n_sessions:,} train sessions, {corpus.n_tokens:,} views, "
        f"{corpus.n_items:,} items; {len(targets):,} test pairs. dim {args.dim}, window "
        f"{args.window}, {args.epochs} epochs, {args.negatives} negatives per pair, "
        f"{args.threads} threads; scoring: recency exponent {args.recency} (1 = linear), all "
        f"items ranked.\nReference (gensim, measured here): HR@20 0.338, MRR@20 0.099.\n"
    )
    categories = corpus.item_categories
    k = args.k
    print(
        f"{'variant':<15} {'G+C':>5} {f'HR@{k}':>7} {f'MRR@{k}':>7}   {'in-category':>11} "
        f"{f'HR@{k}':>7} {f'MRR@{k}':>7}  {'tok/s':>8}  settings"
    )
    started = time.perf_counter()
    for variant in args.variants.split(","):
        config = config_for(variant, args)
        trainer = make_trainer(config, progress=False)
        vectors = trainer.fit(corpus)
        ranks = next_item_ranks(vectors, prefixes, targets, recency=args.recency)
        hr, mrr = hit_rate_and_mrr(ranks, k=k)
        in_cat = next_item_ranks(vectors, prefixes, targets, args.recency, groups=categories)
        hr_c, mrr_c = hit_rate_and_mrr(in_cat, k=k)
        shown = {
            key: value
            for key, value in dataclasses.asdict(config).items()
            if key in ("alpha", "min_alpha", "ns_exponent", "sample")
        }
        negs = f"{config.negatives}+{config.category_negatives}"
        print(
            f"{variant:<15} {negs:>5} {hr:>7.4f} {mrr:>7.4f}   {'':>11} {hr_c:>7.4f} "
            f"{mrr_c:>7.4f}  {trainer.stats['tokens_per_s']:>8,.0f}  {shown}",
            flush=True,
        )
    print(f"summary: {args.variants} evaluated in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
