"""The batch job: source -> sessionize -> corpus -> prod2vec -> evaluation -> bundle.

:func:`train` either writes a complete, verified bundle (``OUT/<version>/``) or raises and
leaves the artifacts root as it found it: the bundle is written to a hidden temporary
directory by :class:`~engine.bundle.BundleWriter`, and the root itself is created only once
there is something to write (and removed again if that fails and it was new and is empty).
``OUT/latest`` moves to the new bundle only when the publishing guards pass
(pipelines/publish_guard.py), or with ``force``; a refused bundle stays as a version to
inspect, and :class:`~engine.errors.PublishRefusedError` says why.

How good is the model? With a held-out share (the default), the newest sessions are kept out
of a model that is then scored on them, against two baselines, under two protocols
(pipelines/holdout.py, pipelines/evaluate.py). That model is not an extra training: it is the
one the ranker is learned with (statistics and vectors on the oldest sessions, the ranker's
weights on the next ones; only the newest are scored). The published model's statistics come
from all sessions, and its vectors continue that model's on the newest ones (one prod2vec
training per run, :func:`_final_vectors`); the held-out numbers describe the procedure that
built it, on sessions it had not seen, which is what the next day's visitors will be.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engine.build import build_model, write_model
from engine.bundle import LATEST, Bundle, BundleWriter
from engine.bundle_overview import model_overview
from engine.catalog import ProductMetadata
from engine.errors import BundleError, ConfigError, DataError, PublishRefusedError
from engine.model import ModelParams, RecommenderModel
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.prod2vec.config import MIN_EPOCHS
from engine.projection import Projection, map_payload, write_projection
from engine.recommender import SessionRecommender, check_k
from engine.vectors import ItemVectors
from pipelines.bundle_report import write_report
from pipelines.duckdb_limits import DuckDBLimits, connect
from pipelines.evaluate import (
    NEXT_DIFFERENT,
    NEXT_VIEW,
    SYSTEMS,
    QualityReport,
    evaluate_protocols,
    read_test_pairs,
)
from pipelines.holdout import count_pairs, newest_count, pairs_table
from pipelines.metadata import MetadataMapping, MetadataReport, join_items, read_metadata
from pipelines.projection import project_model
from pipelines.publish_guard import HOLDOUT_PROTOCOL_VERSION, PublishGuards, Verdict, refusal
from pipelines.ranker import candidate_features, fit_ranker, validation_split
from pipelines.schema import ColumnMapping
from pipelines.sessionize import SessionizeConfig, sessionize
from pipelines.sources import EventSource
from pipelines.stages import Stages

log = logging.getLogger(__name__)

MIN_RANKER_PAIRS = 200


@dataclass(frozen=True)
class TrainJob:
    """Everything one training run needs.

    Args:
        source: where the events are.
        out: artifacts root; the bundle goes to ``out/<version>`` and ``out/latest``.
        mapping: event column mapping.
        sessionize: sessionization rules.
        model: prod2vec hyper-parameters.
        params: retrieval and ranking parameters (co-visitation, session kNN, HNSW, ranker).
        learn_ranker: learn the ranker's weights on a validation split (else the hand-set
            blend); see pipelines/ranker.py.
        validation_share: newest share of the sessions held out for that.
        ranker_pairs: most validation pairs used.
        holdout_share: newest share of the sessions the run scores itself on (0: none); it
            must be smaller than ``validation_share`` when the ranker is learned (the ranker
            learns on the sessions between the two).
        holdout_pairs: most held-out pairs scored (drawn uniformly).
        products: product metadata source (``None``: the events' categories only).
        products_mapping: product metadata column mapping.
        test_pairs: a (prefix -> target) Parquet file to evaluate on after training.
        k: cut-off of HR@k / MRR@k.
        version: bundle version name (default: UTC time + random suffix).
        guards: thresholds that must hold before ``latest`` moves.
        publish: move ``latest`` (when the guards pass); False only writes the version.
        force: move ``latest`` even when a guard fails.
        duckdb: the sessionizing DuckDB's memory limit and spill directory.
        max_training_tokens: most tokens prod2vec trains on (epochs x tokens per epoch);
            fewer epochs for a corpus that large, never under 3 (``None``: the configured
            epochs whatever the size).
    """

    source: EventSource
    out: Path
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    sessionize: SessionizeConfig = field(default_factory=SessionizeConfig)
    model: Prod2VecConfig = field(default_factory=Prod2VecConfig)
    params: ModelParams = field(default_factory=ModelParams)
    learn_ranker: bool = True
    validation_share: float = 0.1
    ranker_pairs: int = 20_000
    holdout_share: float = 0.05
    holdout_pairs: int = 5_000
    products: EventSource | None = None
    products_mapping: MetadataMapping = field(default_factory=MetadataMapping)
    test_pairs: Path | None = None
    k: int = 20
    version: str | None = None
    guards: PublishGuards = field(default_factory=PublishGuards)
    publish: bool = True
    force: bool = False
    duckdb: DuckDBLimits = field(default_factory=DuckDBLimits)
    max_training_tokens: int | None = None

    def __post_init__(self) -> None:
        check_job_options(self.k, self.validation_share, self.learn_ranker)


def check_job_options(k: int, validation_share: float, learn_ranker: bool) -> None:
    """The ranges of a job's own options (the model's and the sessionizer's check theirs), so
    that a bad value is refused before any event is read; the CLI calls it first of all."""
    check_k(k)
    if learn_ranker and not 0 < validation_share < 1:
        raise ConfigError(
            f"--validation-share must be in (0, 1), got {validation_share} (or use --ranker "
            "default)"
        )


@dataclass(frozen=True)
class TrainResult:
    bundle_dir: Path
    manifest: dict[str, Any]
    evaluation: QualityReport | None
    holdout: QualityReport | None = None
    published: bool = True


@dataclass(frozen=True)
class TrainingData:
    """What the events and the product metadata became: the corpus and its item tables."""

    corpus: Any
    items: Any
    catalogue: Any
    report: Any
    meta_report: MetadataReport
    held_out: list[list[str]]


def read_training_data(job: TrainJob, stages: Stages | None = None) -> TrainingData:
    """Sessionize the events (keeping every view of the newest sessions when the job holds
    some out) and join the product metadata."""
    stages = stages or Stages()
    threads = max(1, job.model.threads or (os.cpu_count() or 1))
    with connect(job.duckdb, threads) as con:
        with stages.stage("sessionize"):
            log.info("reading events: %s", _one_line(job.source.describe()))
            sessions = sessionize(
                con, job.source.relation(con), job.mapping, job.sessionize, job.holdout_share
            )
        report = sessions.report
        log.info("sessionization:\n%s", report.table())
        for note in report.notes:
            log.info("note: %s", note)
        log.info(report.summary())
        with stages.stage("metadata"):
            metadata, meta_report = None, MetadataReport()
            if job.products is not None:
                log.info("reading products: %s", _one_line(job.products.describe()))
                metadata, meta_report = read_metadata(
                    con, job.products.relation(con), job.products_mapping
                )
                meta_report.source = job.products.describe()
    with stages.stage("metadata join"):
        items, corpus, catalogue, meta_report = join_items(
            sessions.items, sessions.corpus, metadata, meta_report
        )
    for line in meta_report.lines():
        log.info("metadata: %s", line)
    return TrainingData(corpus, items, catalogue, report, meta_report, sessions.raw_newest)


def prod2vec_config(
    job_config: Prod2VecConfig, corpus, notes: list[str], max_tokens: int | None = None
) -> Prod2VecConfig:
    """The trainer's settings for this corpus: without categories, all negatives global; with
    ``max_tokens``, fewer epochs (never under :data:`MIN_EPOCHS`) where the configured ones
    would train on more tokens than that."""
    c = job_config
    if max_tokens and c.epochs * corpus.n_tokens > max_tokens:
        epochs = max(MIN_EPOCHS, min(c.epochs, max_tokens // max(corpus.n_tokens, 1)))
        if epochs < c.epochs:
            c = replace(c, epochs=epochs)
            notes.append(
                f"{epochs} prod2vec epochs instead of {job_config.epochs}: {corpus.n_tokens:,} "
                f"tokens per epoch, at most {max_tokens:,} in all (--max-training-tokens; "
                "each item is seen more often per epoch in a corpus this size)"
            )
            log.info("note: %s", notes[-1])
    if not corpus.has_categories and c.category_negatives:
        # Same amount of work per pair, all of it global: what the category-aware sampler
        # would fall back to for every item anyway, said explicitly.
        c = replace(c, negatives=c.negatives + c.category_negatives, category_negatives=0)
        notes.append(
            f"no item has a category: global negatives only ({c.negatives} per pair instead "
            f"of {job_config.negatives} global + {job_config.category_negatives} same-category)"
        )
        log.info("note: %s", notes[-1])
    return c


def train(job: TrainJob) -> TrainResult:
    """Run the whole batch pipeline, write the bundle and publish it when the guards pass;
    see the module docstring."""
    started = time.perf_counter()
    stages = Stages()
    test_pairs = read_test_pairs(job.test_pairs) if job.test_pairs else None  # fail early
    data = read_training_data(job, stages)
    corpus = data.corpus
    notes: list[str] = []
    c = prod2vec_config(job.model, corpus, notes, job.max_training_tokens)
    log.info(
        "training prod2vec (%s): dim %d, window %d, %d epochs, %d global + %d same-category "
        "negatives, on %d sessions / %d tokens / %d items",
        c.backend, c.dim, c.window, c.epochs, c.negatives, c.category_negatives,
        corpus.n_sessions, corpus.n_tokens, corpus.n_items,
    )  # fmt: skip
    metadata = item_metadata(data.items)
    stage = _ranker_and_holdout(job, c, corpus, metadata, data.held_out, notes, stages)
    vectors, stats = _final_vectors(c, corpus, stage, stages)
    log.info("training done: %s", _one_line(stats))
    log.info("building co-visitation, session neighbourhood and HNSW indexes")
    model = build_model(
        corpus, vectors, metadata, stage.params, threads=c.threads, stage=stages.stage
    )
    with stages.stage("cold start"):
        if data.catalogue is not None:
            cold = model.add_cold_products(_products_without_views(data.catalogue))
            if cold:
                log.info("gave %d products with no views cold-start vectors", cold)

    evaluation = None
    if test_pairs is not None:
        with stages.stage("evaluation"):
            evaluation = evaluate_protocols(SessionRecommender(model), test_pairs, k=job.k)
        log.info("evaluation on %s:\n%s", job.test_pairs, evaluation.table())

    with stages.stage("projection"):
        projection = project_model(model, seed=c.seed)
    log.info("product space: %s (%s)", projection.info["sampling"], projection.info["method"])
    catalogue = data.catalogue
    manifest = {
        "source": {**job.source.describe(), "columns": data.report.columns},
        "sessionization": {"config": job.sessionize.to_dict(), "report": data.report.to_dict()},
        "metadata": data.meta_report.to_dict(),
        "hyperparameters": c.to_dict(),
        "model_params": stage.params.to_dict(),
        "ranker": stage.ranker_report.to_dict() if stage.ranker_report else {"learned": False},
        "notes": notes,
        "counts": {
            "items": corpus.n_items,
            "sessions": corpus.n_sessions,
            "indexed_sessions": model.session_knn.n_sessions,  # the newest max_sessions
            "tokens": corpus.n_tokens,
            "categories": len(corpus.category_names),
            "items_without_category": int((corpus.item_categories < 0).sum()),
            "catalogue_products": catalogue.num_rows if catalogue is not None else 0,
            "dim": vectors.dim,
        },
        "metrics": {
            "training": stats,
            **({"holdout": stage.holdout} if stage.holdout else {}),
            **(
                {"test": {"pairs_file": str(job.test_pairs), "results": evaluation.to_dict()}}
                if evaluation
                else {}
            ),
        },
        "projection": projection.info,
    }
    bundle_dir, published = _write_and_publish(job, model, manifest, projection, stages)
    seconds = time.perf_counter() - started
    log.info(
        "trained %d items x %d dims on %d sessions in %.1f s (peak %.2f GB) -> %s%s%s",
        corpus.n_items, vectors.dim, corpus.n_sessions, seconds, stages.peak_bytes / 1e9,
        bundle_dir, "" if published else " (latest not moved)",
        _summary(evaluation, stage.report),
    )  # fmt: skip
    return TrainResult(bundle_dir, manifest, evaluation, stage.report, published)


class OlderVectors(NamedTuple):
    """The ranker's validation model's vectors, which :func:`_final_vectors` continues."""

    vectors: ItemVectors
    first_newer: int  #: the first session they did not see (the first validation session)
    stats: dict[str, Any]  #: their training's statistics


@dataclass(frozen=True)
class _Stage:
    params: ModelParams
    ranker_report: Any = None
    report: QualityReport | None = None
    holdout: dict | None = None
    older: OlderVectors | None = None  # the ranker model's vectors, to continue


CONTINUE_ALPHA = 0.25
"""The continued training's first learning rate, as a share of ``alpha``: the vectors already
know the older sessions; the newer ones move them without undoing what they learned."""

CONTINUE_REPLAY = 0.2
"""Share of the older sessions (drawn at random) trained again beside the newest ones, so
that the continued training does not drift towards the newest sessions only.

Measured on Diginetica (the README's reproduction; two trainings from scratch: HR@20 0.5506,
MRR@20 0.2004): continuing on the newest sessions alone at 0.1 / 0.5 / 1.0 of ``alpha`` gave
HR@20 0.5477 / 0.5436 / 0.5400; replaying 10% of the older ones at 0.25 gave 0.5486 / 0.1982,
20% at 0.25 0.5498 / 0.1993, for 1.3 trainings' time instead of 2."""


def _final_vectors(config: Prod2VecConfig, corpus, stage: _Stage, stages: Stages):
    """The published model's vectors, and the training statistics for the manifest.

    One training of prod2vec per run: when the ranker was learned, its model's vectors know
    every session but the newest ones (``validation_share``); training continues from them on
    those newest sessions and a random share of the older ones (:data:`CONTINUE_REPLAY`), with
    the item tables of the whole corpus, instead of a second training from scratch on
    everything. The gensim backend cannot continue: it trains again.
    """
    trainer = make_trainer(config)
    older = stage.older
    if older is None or not getattr(trainer, "continues", False):
        with stages.stage("prod2vec"):
            vectors = trainer.fit(corpus)
        return vectors, dict(getattr(trainer, "stats", {}) or {})
    older_vectors, first_newer, older_stats = older.vectors, older.first_newer, older.stats
    n = corpus.n_sessions
    replayed = np.random.default_rng(config.seed).random(n) < CONTINUE_REPLAY
    newer = corpus.subset_sessions((np.arange(n) >= first_newer) | replayed)
    log.info(
        "prod2vec: continuing the ranker model's vectors (%d older sessions) on the newest %d "
        "sessions and %d older ones drawn at random (%d tokens)",
        first_newer, n - first_newer, int(replayed[:first_newer].sum()), newer.n_tokens,
    )  # fmt: skip
    trainer = make_trainer(replace(config, alpha=config.alpha * CONTINUE_ALPHA))
    with stages.stage("prod2vec, newest sessions"):
        vectors = trainer.fit(newer, start=older_vectors, counts=corpus.item_counts)
    newer_stats = dict(trainer.stats)
    stats = {
        **newer_stats,
        "seconds": older_stats["seconds"] + newer_stats["seconds"],
        "tokens": older_stats["tokens"] + newer_stats["tokens"],
        "older_sessions": first_newer,
        "older_loss": older_stats["loss"],
        "continued_sessions": newer.n_sessions,
        "replayed_share": CONTINUE_REPLAY,
        "continued_alpha": config.alpha * CONTINUE_ALPHA,
    }
    stats["tokens_per_s"] = stats["tokens"] / max(stats["seconds"], 1e-9)
    return vectors, stats


def _ranker_and_holdout(job, config, corpus, metadata, held_out, notes, stages) -> _Stage:
    """Learn the ranker on a validation split, and score the resulting procedure on the
    held-out newest sessions (module docstring). Both fall back with a log line saying why
    when the data is too small."""
    n = corpus.n_sessions
    held = newest_count(n, job.holdout_share) if job.holdout_share > 0 else 0
    if held and held >= n:
        notes.append(f"no held-out evaluation: {n} session(s) are too few to hold any out")
        log.warning("note: %s", notes[-1])
        held = 0
    params, ranker_report, scored, older = job.params, None, None, None
    if job.learn_ranker:
        params, ranker_report, scored, older = _learn_ranker(
            job, config, corpus, metadata, held, stages
        )
    if not held:
        return _Stage(params, ranker_report, older=older)
    if len(held_out) != held:
        raise DataError(f"expected {held} held-out sessions, sessionize returned {len(held_out)}")
    if scored is not None:
        model, trained_on, ranker_sessions = scored
        how = f"statistics and vectors on the oldest {trained_on:,} sessions, " + (
            f"the ranker's weights on the next {ranker_sessions:,}"
            if ranker_sessions
            else "the hand-set ranker"
        )
    else:
        trained_on = n - held
        how = f"trained on the {trained_on:,} sessions before them (one more prod2vec training)"
        log.info("held-out evaluation: training a model on the %d sessions before the newest %d",
                 trained_on, held)  # fmt: skip
        train_part = corpus.subset_sessions(np.arange(n) < trained_on)
        with stages.stage("held-out prod2vec"):
            held_vectors = make_trainer(config).fit(train_part)
        model = build_model(
            train_part, held_vectors, metadata, params, threads=config.threads,
            stage=_prefixed(stages, "held-out"),
        )  # fmt: skip
    with stages.stage("held-out evaluation"):
        report, n_pairs = _score_held_out(job, config, model, held_out, held, how)
    holdout = {
        "protocol_version": HOLDOUT_PROTOCOL_VERSION,
        "k": job.k,
        "share": job.holdout_share,
        "sessions": held,
        "pairs": n_pairs,
        "pairs_available": count_pairs(held_out),
        "model": how,
        "trained_sessions": trained_on,
        "results": report.to_dict(),
    }
    return _Stage(params, ranker_report, report, holdout, older)


def _prefixed(stages: Stages, prefix: str):
    """``stages.stage`` with every name prefixed (the parts of the validation model)."""
    return lambda name: stages.stage(f"{prefix} {name}")


def _score_held_out(job, config, model, held_out, held: int, how: str):
    """The held-out report, and how many pairs it scored."""
    pairs = pairs_table(held_out, job.holdout_pairs, seed=config.seed)
    log.info(
        "held-out evaluation: the newest %d sessions (%s), %d of their %d next-view "
        "pairs; the model: %s",
        held, f"{job.holdout_share:.1%}", pairs.num_rows, count_pairs(held_out), how,
    )  # fmt: skip
    report = evaluate_protocols(SessionRecommender(model), pairs, k=job.k, systems=SYSTEMS)
    log.info("held-out evaluation (HR@%d, MRR@%d, coverage):\n%s", job.k, job.k, report.table())
    return report, pairs.num_rows


def _learn_ranker(job: TrainJob, config: Prod2VecConfig, corpus, metadata, held: int, stages):
    """Learn the ranker on a validation split; fall back to the hand-set blend (with a log
    line saying why) when the data is too small for one.

    The published model's weights are fitted on every validation pair, as without a
    held-out evaluation. When the newest ``held`` sessions are the run's test sessions, a
    second fit on the same candidate features leaves their pairs out: the weights the held-out
    sessions are scored with learned nothing from them. Returns the parameters, the report,
    and (model, its sessions, validation sessions) to score the held-out ones with, or None,
    and the :class:`OlderVectors` to continue from (:func:`_final_vectors`), or None.
    """
    split = validation_split(corpus, job.validation_share, job.ranker_pairs, seed=config.seed)
    if len(split.targets) < MIN_RANKER_PAIRS:
        log.warning(
            "note: only %d validation pairs (need %d) - using the hand-set ranker; train on "
            "more sessions or raise --validation-share to learn one",
            len(split.targets), MIN_RANKER_PAIRS,
        )  # fmt: skip
        return job.params, None, None, None
    log.info(
        "learning the ranker: prod2vec and statistics on %d sessions, %d validation pairs "
        "from the newest %d sessions",
        split.train.n_sessions, len(split.targets), split.held_out_sessions,
    )  # fmt: skip
    with stages.stage("ranker prod2vec"):
        trainer = make_trainer(config)
        vectors = trainer.fit(split.train)
    older = OlderVectors(vectors, split.first_session, dict(getattr(trainer, "stats", {}) or {}))
    # with HNSW, as served: the ranker learns on the candidates the service will see (the
    # graph of similar products is not one of them)
    model = build_model(
        split.train, vectors, metadata, job.params, threads=config.threads,
        stage=_prefixed(stages, "ranker"), similar=False,
    )  # fmt: skip
    with stages.stage("ranker learning"):
        started = time.perf_counter()
        features = candidate_features(SessionRecommender(model), split)
        ranking, report = fit_ranker(
            features, job.params.ranking, split.held_out_sessions, job.k, started=started
        )
    log.info(report.line())
    params = job.params.replace(ranking=ranking)
    if not held:
        return params, report, None, older
    first_test = corpus.n_sessions - held
    if first_test < split.first_session:  # the held-out sessions reach into the statistics
        return params, report, None, older
    before = split.sessions < first_test
    if before.sum() < MIN_RANKER_PAIRS:
        log.warning(
            "note: only %d validation pairs come before the held-out sessions (need %d): "
            "they are scored with the hand-set ranker; raise --validation-share",
            int(before.sum()), MIN_RANKER_PAIRS,
        )  # fmt: skip
        model.params = job.params
        return params, report, (model, split.train.n_sessions, None), older
    ranker_sessions = first_test - split.first_session
    scored, _ = fit_ranker(features.subset(before), job.params.ranking, ranker_sessions, job.k)
    model.params = job.params.replace(ranking=scored)
    return params, report, (model, split.train.n_sessions, ranker_sessions), older


def item_metadata(items) -> dict[str, ProductMetadata]:
    """The bundle item table (vocabulary order) as metadata per item id."""
    t = items.to_pydict()
    return dict(zip(t["item_id"], ProductMetadata.from_columns(t), strict=True))


def _products_without_views(catalogue) -> list[tuple[str, ProductMetadata]]:
    t = catalogue.to_pydict()
    return [
        (item_id, meta)
        for item_id, meta, has_vector in zip(
            t["item_id"], ProductMetadata.from_columns(t), t["has_vector"], strict=True
        )
        if not has_vector
    ]


def published_manifest(root: Path) -> tuple[str | None, dict | None, str | None]:
    """(version, manifest) of the bundle ``root/latest`` points at, and a note when it cannot
    be read (then there is nothing to compare a new bundle with)."""
    link = root / LATEST
    if not link.exists():
        return None, None, None
    try:
        bundle = Bundle.load(link, verify=False)
    except BundleError as exc:
        return None, None, f"the published bundle cannot be read ({exc}): nothing to compare with"
    return bundle.version, bundle.manifest, None


def check_publish(guards: PublishGuards, manifest: dict, root: Path) -> tuple[Verdict, str | None]:
    """The guards' verdict on publishing ``manifest`` into ``root``, and the version that
    ``latest`` points at now."""
    version, current, problem = published_manifest(root)
    verdict = guards.check(manifest, current)
    if problem:
        verdict.note(problem)
    for line in verdict.notes:
        log.info("publish check: %s", line)
    return verdict, version


def _write_and_publish(
    job,
    model: RecommenderModel,
    manifest,
    projection: Projection | None = None,
    stages: Stages | None = None,
) -> tuple[Path, bool]:
    """Write the bundle; move ``latest`` to it when asked and the guards pass (or forced)."""
    root = Path(job.out)
    verdict, current = check_publish(job.guards, manifest, root)
    move = job.publish and (verdict.ok or job.force)
    bundle_dir = _write(job, model, manifest, projection, move, stages or Stages())
    if not verdict.ok:
        if job.force and job.publish:
            log.warning("published despite the guards (--force): %s", "; ".join(verdict.refusals))
        elif job.publish:
            raise PublishRefusedError(refusal(verdict, bundle_dir, current))
        else:
            log.info("the guards would refuse it: %s", "; ".join(verdict.refusals))
    if not job.publish:
        log.info("--no-publish: %s written; latest not moved", bundle_dir)
    return bundle_dir, move


def _write(job, model: RecommenderModel, manifest, projection, make_latest: bool,
           stages: Stages) -> Path:  # fmt: skip
    """Write the bundle; the manifest keeps every stage's time and peak memory, up to the
    writing of the files (the checksums and the rename come after it)."""
    root = Path(job.out)
    created_root = not root.exists()
    try:
        with BundleWriter(root, version=job.version) as writer:
            with stages.stage("writing"):
                write_model(model, writer)  # products without views are its cold items
                if projection is not None:
                    write_projection(writer, projection)
            with stages.stage("report"):
                # the page people open without the service: the overview and the product space
                shown = {**manifest, "version": writer.version, "created_at": _now_iso()}
                write_report(writer, model_overview(shown), map_payload(model, projection))
            writer.update_manifest(**manifest, stages=stages.to_dict())
            return writer.commit(make_latest=make_latest)
    except BaseException:
        if created_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        raise


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _summary(test: QualityReport | None, holdout: QualityReport | None) -> str:
    parts = []
    if test is not None:
        r = test.get(NEXT_VIEW)
        parts.append(f"HR@{r.k} {r.hit_rate:.4f}, MRR@{r.k} {r.mrr:.4f} on the test pairs")
    if holdout is not None:
        r = holdout.get(NEXT_DIFFERENT)
        base = ", ".join(
            f"{s} {holdout.get(NEXT_DIFFERENT, s).hit_rate:.4f}" for s in SYSTEMS if s != "nowrec"
        )
        parts.append(f"held-out HR@{r.k} {r.hit_rate:.4f} on the product page ({base})")
    return "; " + "; ".join(parts) if parts else ""


def _one_line(d: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    return ", ".join(f"{k} {fmt(v)}" for k, v in d.items())
