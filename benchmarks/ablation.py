"""Ablation on Diginetica: the full model against the same model with each part switched off,
in one run, under both protocols (the papers' next view, the product page's next different
product; pipelines/evaluate.py).

Parts, each off in turn (everything else as in the full model):

  embedding          prod2vec and HNSW: no nearest neighbours of the session vector among the
                     candidates, and the ranker does not use the embedding score
  category-negatives the vectors are trained with global negatives only (10 instead of 9 + 1)
  covisitation       no co-visitation candidates, and the ranker does not use the co-visitation
                     or successor features (HNSW then searches on every request, so that the
                     candidate list is not starved)
  session-knn        no session-neighbourhood candidates or features
  learned-ranker     the hand-set blend instead of the learned weights

The run follows `python -m pipelines train --keep-repeats` (the README's reproduction): the
ranker is learned on the newest 10% of the training sessions with a model of the rest, then
applied to the model of all sessions; each variant learns its own ranker on its own
candidates. The vectors are trained once per negative-sampling setting and the statistics
built once per vector set: the parts differ in what the candidate stage and the ranker use.

    python benchmarks/ablation.py [--pairs N] [--variants full,embedding,...] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow.parquet as pq
from _common import ROOT  # noqa: F401  (puts the project on sys.path)
from engine.build import build_model
from support.corpora import diginetica_dir, missing_diginetica

from engine.model import ModelParams, RecommenderModel
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.recommender import SessionRecommender
from pipelines.evaluate import NEXT_DIFFERENT, NEXT_VIEW, evaluate_protocols
from pipelines.ranker import candidate_features, fit_ranker, validation_split
from pipelines.sessionize import SessionizeConfig
from pipelines.sources.local import LocalFileSource
from pipelines.train import TrainJob, item_metadata, prod2vec_config, read_training_data

COVISITATION = ("related", "log_related", "log_related_raw", "successor", "log_successor")
SESSION_KNN = ("neighbours", "log_neighbours", "log_neighbours_raw")


@dataclass(frozen=True)
class Variant:
    """What one row switches off."""

    ranking: dict = field(default_factory=dict)  # RankerParams fields
    without: tuple[str, ...] = ()  # ranker features it may not use
    global_negatives: bool = False
    learned: bool = True


VARIANTS = {
    "full": Variant(),
    "embedding": Variant(ranking={"embedding_candidates": 0}, without=("embedding",)),
    "category-negatives": Variant(global_negatives=True),
    "covisitation": Variant(
        ranking={"related_candidates": 0, "embedding_fills_only": False}, without=COVISITATION
    ),
    "session-knn": Variant(ranking={"neighbour_candidates": 0}, without=SESSION_KNN),
    "learned-ranker": Variant(learned=False),
}


@dataclass
class Models:
    """The validation model (ranker learning) and the final one, for one vector setting."""

    validation: RecommenderModel
    final: RecommenderModel


def build_models(corpus, split, metadata, config: Prod2VecConfig) -> Models:
    def build(c):
        vectors = make_trainer(config, progress=False).fit(c)
        return build_model(c, vectors, metadata, ModelParams(), threads=config.threads)

    return Models(build(split.train), build(corpus))


def run_variant(name, variant, models, split, pairs, k) -> tuple[dict, float]:
    base = ModelParams()
    ranking = replace(base.ranking, **variant.ranking) if variant.ranking else base.ranking
    params = base.replace(ranking=ranking)
    started = time.perf_counter()
    if variant.learned:
        models.validation.params = params
        features = candidate_features(SessionRecommender(models.validation), split, False)
        ranking, _ = fit_ranker(
            features, ranking, split.held_out_sessions, k, frozenset(variant.without)
        )
        params = params.replace(ranking=ranking)
    models.final.params = params
    report = evaluate_protocols(SessionRecommender(models.final), pairs, k, progress=False)
    return {p: report.get(p) for p in (NEXT_VIEW, NEXT_DIFFERENT)}, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    ap.add_argument("--pairs", type=int, help="score only the first N test pairs (quick run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    names = args.variants.split(",")
    names = ["full"] + [n for n in names if n != "full"]  # the yardstick comes first
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown --variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    found = diginetica_dir()
    if found is None:
        print(f"skipped: {missing_diginetica()}")
        return
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    job = TrainJob(
        source=LocalFileSource(str(found / "train_events.parquet")),
        out=Path("/nonexistent"),  # nothing is written
        sessionize=SessionizeConfig(collapse_repeats=False),  # --keep-repeats, as in the papers
        model=Prod2VecConfig(threads=args.threads),
        holdout_share=0.0,
    )
    data = read_training_data(job)
    corpus, metadata = data.corpus, item_metadata(data.items)
    pairs = pq.read_table(found / "test_pairs.parquet")
    if args.pairs:
        pairs = pairs.slice(0, args.pairs)
    split = validation_split(corpus, job.validation_share, job.ranker_pairs, seed=job.model.seed)
    config = prod2vec_config(job.model, corpus, [])
    settings = {False: config}
    if any(VARIANTS[n].global_negatives for n in names):
        total = config.negatives + config.category_negatives
        settings[True] = replace(config, negatives=total, category_negatives=0)
    models = {g: build_models(corpus, split, metadata, c) for g, c in settings.items()}
    print(
        f"Diginetica: {corpus.n_sessions:,} training sessions, {pairs.num_rows:,} test pairs, "
        f"all {corpus.n_items:,} items ranked; HR@{args.k} / MRR@{args.k}; models built in "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    k = args.k
    print(f"{'switched off':<20} {'next view':^26}  {'product page':^26}")
    print(f"{'':<20} {f'HR@{k}':>8} {f'MRR@{k}':>8} {'HR ratio':>8}  {f'HR@{k}':>8} "
          f"{f'MRR@{k}':>8} {'HR ratio':>8}  {'s':>5}")  # fmt: skip
    rows = {}
    for name in names:
        v = VARIANTS[name]
        rows[name], seconds = run_variant(name, v, models[v.global_negatives], split, pairs, k)
        full = rows["full"]
        cells = []
        for p in (NEXT_VIEW, NEXT_DIFFERENT):
            r = rows[name][p]
            cells.append(f"{r.hit_rate:>8.4f} {r.mrr:>8.4f} {r.hit_rate / full[p].hit_rate:>8.3f}")
        label = "(none: full model)" if name == "full" else name
        print(f"{label:<20} {cells[0]}  {cells[1]}  {seconds:>5.0f}", flush=True)
    losses = [
        n for n in names if n != "full"
        and all(rows[n][p].hit_rate < rows["full"][p].hit_rate for p in (NEXT_VIEW, NEXT_DIFFERENT))
    ]  # fmt: skip
    print(
        f"summary: {len(losses)} of {len(names) - 1} parts lower HR@{k} under both protocols "
        f"when switched off ({', '.join(losses) or 'none'}); full model HR@{k} "
        f"{rows['full'][NEXT_VIEW].hit_rate:.4f} next view, "
        f"{rows['full'][NEXT_DIFFERENT].hit_rate:.4f} product page; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
