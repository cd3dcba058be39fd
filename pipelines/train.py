"""The batch job: source -> sessionize -> corpus -> prod2vec -> evaluation -> bundle.

:func:`train` either publishes a complete, verified bundle (``OUT/<version>/`` and
``OUT/latest``) or raises and leaves the artifacts root as it found it: the bundle is written
to a hidden temporary directory by :class:`~engine.bundle.BundleWriter`, and the root itself
is created only once there is something to write (and removed again if that fails and it was
new and is empty).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from engine.bundle import BundleWriter
from engine.catalog import ProductMetadata
from engine.errors import ConfigError
from engine.model import ModelParams, RecommenderModel
from engine.prod2vec import Prod2VecConfig, make_trainer
from engine.recommender import SessionRecommender, check_k
from pipelines.evaluate import EvaluationResult, evaluate_recommender, read_test_pairs
from pipelines.metadata import MetadataMapping, MetadataReport, join_items, read_metadata
from pipelines.ranker import learn_ranker, validation_split
from pipelines.schema import ColumnMapping
from pipelines.sessionize import SessionizeConfig, sessionize
from pipelines.sources import EventSource

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
        products: product metadata source (``None``: the events' categories only).
        products_mapping: product metadata column mapping.
        test_pairs: a (prefix -> target) Parquet file to evaluate on after training.
        k: cut-off of HR@k / MRR@k.
        version: bundle version name (default: UTC time + random suffix).
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
    products: EventSource | None = None
    products_mapping: MetadataMapping = field(default_factory=MetadataMapping)
    test_pairs: Path | None = None
    k: int = 20
    version: str | None = None

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
    evaluation: EvaluationResult | None


def train(job: TrainJob) -> TrainResult:
    """Run the whole batch pipeline and publish the bundle; see the module docstring."""
    started = time.perf_counter()
    test_pairs = read_test_pairs(job.test_pairs) if job.test_pairs else None  # fail early
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {max(1, job.model.threads or (os.cpu_count() or 1))}")
        log.info("reading events: %s", _one_line(job.source.describe()))
        sessions = sessionize(con, job.source.relation(con), job.mapping, job.sessionize)
        report = sessions.report
        log.info("sessionization:\n%s", report.table())
        for note in report.notes:
            log.info("note: %s", note)
        log.info(report.summary())
        metadata, meta_report = None, MetadataReport()
        if job.products is not None:
            log.info("reading products: %s", _one_line(job.products.describe()))
            metadata, meta_report = read_metadata(
                con, job.products.relation(con), job.products_mapping
            )
            meta_report.source = job.products.describe()
    finally:
        con.close()
    items, corpus, catalogue, meta_report = join_items(
        sessions.items, sessions.corpus, metadata, meta_report
    )
    for line in meta_report.lines():
        log.info("metadata: %s", line)
    c = job.model
    notes: list[str] = []
    if not corpus.has_categories and c.category_negatives:
        # Same amount of work per pair, all of it global: what the category-aware sampler
        # would fall back to for every item anyway, said explicitly.
        c = replace(c, negatives=c.negatives + c.category_negatives, category_negatives=0)
        notes.append(
            f"no item has a category: global negatives only ({c.negatives} per pair instead "
            f"of {job.model.negatives} global + {job.model.category_negatives} same-category)"
        )
        log.info("note: %s", notes[-1])

    log.info(
        "training prod2vec (%s): dim %d, window %d, %d epochs, %d global + %d same-category "
        "negatives, on %d sessions / %d tokens / %d items",
        c.backend,
        c.dim,
        c.window,
        c.epochs,
        c.negatives,
        c.category_negatives,
        corpus.n_sessions,
        corpus.n_tokens,
        corpus.n_items,
    )
    trainer = make_trainer(c)
    vectors = trainer.fit(corpus)
    stats = dict(getattr(trainer, "stats", {}) or {})
    log.info("training done: %s", _one_line(stats))

    metadata = item_metadata(items)
    params, ranker_report = job.params, None
    if job.learn_ranker:
        params, ranker_report = _learn_ranker(job, c, corpus, metadata)
    log.info("building co-visitation, session neighbourhood and HNSW indexes")
    build_started = time.perf_counter()
    model = RecommenderModel.build(corpus, vectors, metadata, params, threads=c.threads)
    if catalogue is not None:
        cold = model.add_cold_products(_products_without_views(catalogue))
        if cold:
            log.info("gave %d products with no views cold-start vectors", cold)
    log.info("model built in %.1f s", time.perf_counter() - build_started)

    evaluation = None
    if test_pairs is not None:
        evaluation = evaluate_recommender(SessionRecommender(model), test_pairs, k=job.k)
        log.info("evaluation on %s: %s", job.test_pairs, evaluation.line())

    manifest = {
        "source": {**job.source.describe(), "columns": report.columns},
        "sessionization": {"config": job.sessionize.to_dict(), "report": report.to_dict()},
        "metadata": meta_report.to_dict(),
        "hyperparameters": c.to_dict(),
        "model_params": params.to_dict(),
        "ranker": ranker_report.to_dict() if ranker_report else {"learned": False},
        "notes": notes,
        "counts": {
            "items": corpus.n_items,
            "sessions": corpus.n_sessions,
            "tokens": corpus.n_tokens,
            "categories": len(corpus.category_names),
            "items_without_category": int((corpus.item_categories < 0).sum()),
            "catalogue_products": catalogue.num_rows if catalogue is not None else 0,
            "dim": vectors.dim,
        },
        "metrics": {
            "training": stats,
            **(
                {"test": {"pairs_file": str(job.test_pairs), **evaluation.to_dict()}}
                if evaluation
                else {}
            ),
        },
    }
    bundle_dir = _publish(job, model, catalogue, manifest)
    seconds = time.perf_counter() - started
    tail = (
        f"; HR@{evaluation.k} {evaluation.hit_rate:.4f}, MRR@{evaluation.k} {evaluation.mrr:.4f}"
        if evaluation
        else ""
    )
    log.info(
        "trained %d items x %d dims on %d sessions in %.1f s -> %s%s",
        corpus.n_items,
        vectors.dim,
        corpus.n_sessions,
        seconds,
        bundle_dir,
        tail,
    )
    return TrainResult(bundle_dir=bundle_dir, manifest=manifest, evaluation=evaluation)


def _learn_ranker(job: TrainJob, config: Prod2VecConfig, corpus, metadata):
    """Learn the ranker on a validation split; fall back to the hand-set blend (with a log
    line saying why) when the data is too small for one."""
    split = validation_split(corpus, job.validation_share, job.ranker_pairs, seed=config.seed)
    if len(split.targets) < MIN_RANKER_PAIRS:
        log.warning(
            "note: only %d validation pairs (need %d) - using the hand-set ranker; train on "
            "more sessions or raise --validation-share to learn one",
            len(split.targets), MIN_RANKER_PAIRS,
        )  # fmt: skip
        return job.params, None
    log.info(
        "learning the ranker: prod2vec and statistics on %d sessions, %d validation pairs "
        "from the newest %d sessions",
        split.train.n_sessions, len(split.targets), split.held_out_sessions,
    )  # fmt: skip
    vectors = make_trainer(config).fit(split.train)
    # with HNSW, as served: the ranker learns on the candidates the service will see
    model = RecommenderModel.build(
        split.train, vectors, metadata, job.params, threads=config.threads
    )
    ranking, report = learn_ranker(SessionRecommender(model), split, job.params.ranking, k=job.k)
    log.info(report.line())
    return job.params.replace(ranking=ranking), report


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


def _publish(job, model: RecommenderModel, catalogue, manifest) -> Path:
    root = Path(job.out)
    created_root = not root.exists()
    try:
        with BundleWriter(root, version=job.version) as writer:
            model.write(writer)
            if catalogue is not None:
                writer.add_table("catalogue", catalogue)
            writer.update_manifest(**manifest)
            return writer.commit()
    except BaseException:
        if created_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        raise


def _one_line(d: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    return ", ".join(f"{k} {fmt(v)}" for k, v in d.items())
