"""``python -m pipelines``: train a model bundle, evaluate one, or write the demo shop.

Errors a user can cause print one line on stderr, no traceback, and exit with

- 2 (:data:`EXIT_CONFIG`), a configuration error: the command does not fit (an option out of
  range or inconsistent, a path that does not exist, a column the source lacks or of the wrong
  type, an --event-types value no event has, timestamps in another unit than --ts-unit).
  Running it again cannot help, so the training CronJob does not retry it;
- 1 (:data:`EXIT_FAILED`): the run failed (a source unreadable or empty, no usable session,
  BigQuery unreachable, a bundle refused); a retry may succeed once that is fixed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from engine.bundle import STALE_TMP_S
from engine.errors import (
    ConfigError,
    DataError,
    EngineError,
    PublishRefusedError,
    SchemaError,
    SourceError,
)
from engine.index import HnswParams
from engine.model import ModelParams
from engine.prod2vec.config import MAX_TRAINING_TOKENS, MIN_EPOCHS, Prod2VecConfig
from engine.ranking import MAX_FRESHNESS_BOOST, RankerParams
from pipelines.duckdb_limits import DuckDBLimits, connect
from pipelines.publish_guard import SIGNIFICANCE, PublishGuards

log = logging.getLogger("pipelines")

EXIT_FAILED = 1
EXIT_CONFIG = 2

_DEFAULTS = Prod2VecConfig()


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default (when it has a meaningful one) and keeps line breaks."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "%(default)" not in text
            and "default" not in text
            and action.default not in (None, False, argparse.SUPPRESS)
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value:g}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value:g}")
    return value


def _share_groups(
    source: argparse.ArgumentParser, target: argparse.ArgumentParser, titles: tuple[str, ...]
) -> None:
    """Give ``target`` the option groups of ``source`` whose titles start with ``titles``: the
    same option objects (argparse's own ``parents`` mechanism), so one definition serves both."""
    for group in source._action_groups:
        if group.title and group.title.startswith(titles):
            copy = target.add_argument_group(group.title, group.description)
            for action in group._group_actions:
                copy._add_action(action)


def add_publish_options(p: argparse.ArgumentParser, train: bool) -> None:
    """The guards that must hold before latest moves (pipelines/publish_guard.py)."""
    g = p.add_argument_group(
        "publishing guards (latest moves only when they hold; README: Safe publishing)"
    )
    d = PublishGuards()
    g.add_argument(
        "--min-sessions",
        type=_positive_int,
        default=d.min_sessions,
        metavar="N",
        help="fewest training sessions",
    )
    g.add_argument(
        "--min-items",
        type=_positive_int,
        default=d.min_items,
        metavar="N",
        help="fewest products with views",
    )
    g.add_argument(
        "--max-catalogue-shrink",
        type=_fraction,
        default=d.max_catalogue_shrink,
        metavar="SHARE",
        help="largest share of the published model's products that may be missing",
    )
    g.add_argument(
        "--max-quality-drop",
        type=_fraction,
        default=d.max_quality_drop,
        metavar="SHARE",
        help="largest relative fall of the held-out HR@k (product page) against the published "
        f"model, when the fall is also significant (p < {SIGNIFICANCE:g})",
    )
    g.add_argument("--force", action="store_true", help="move latest even when a guard fails")
    if train:
        g.add_argument(
            "--no-publish",
            action="store_true",
            help="only write the version; leave latest where it is",
        )


def guards_from_args(args: argparse.Namespace) -> PublishGuards:
    return PublishGuards(
        min_sessions=args.min_sessions,
        min_items=args.min_items,
        max_catalogue_shrink=args.max_catalogue_shrink,
        max_quality_drop=args.max_quality_drop,
    )


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


TRAIN_DESCRIPTION = """\
Read view events, cut them into sessions, train category-aware prod2vec item vectors, and
publish a versioned model bundle (OUT/<version>/, OUT/latest).

examples:
  python -m pipelines train                      # the demo shop in data/demo (generated if absent)
  python -m pipelines train --path events/       # Parquet or CSV files, told by their names
  python -m pipelines train --source parquet --path ../shared/data/diginetica/train_events.parquet \\
      --out artifacts/diginetica
  python -m pipelines train --source csv --path events.csv --event-types view
  python -m pipelines train --source bigquery --table my-project.shop.events \\
      --start 2024-01-01 --end 2024-02-01 --products-table my-project.shop.products

Columns are found by their canonical names (session_id, user_id, item_id, category_id,
event_type, ts, position) or well-known aliases (product_id, user_session, event_time, ...);
the --*-col options name them explicitly ('' ignores a column). Without a session id, sessions
are cut from user id + timestamp at gaps longer than --session-gap.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines",
        description="nowrec batch pipelines: train and evaluate session-based item vectors.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "train",
        help="train a model bundle from events",
        description=TRAIN_DESCRIPTION,
        formatter_class=_Formatter,
    )
    src = t.add_argument_group("events source")
    src.add_argument(
        "--source",
        choices=["demo", "parquet", "csv", "bigquery"],
        help="parquet/csv: files read by DuckDB; bigquery: --table or --sql; demo: a demo shop "
        "(default: told from --path: Parquet or CSV by the file names, a folder written by "
        "demo-data as demo; bigquery with --table or --sql; without any of them the demo shop "
        "in data/demo, generated there when absent)",
    )
    src.add_argument(
        "--path",
        help="parquet/csv: a file, a directory or a glob; demo: a folder written by "
        "`demo-data` (default data/demo). Only read, never written to",
    )
    src.add_argument("--table", help="bigquery: the events table, project.dataset.table")
    src.add_argument(
        "--sql",
        metavar="FILE",
        help="bigquery: a GoogleSQL file to run instead of --table; it may use the query "
        "parameters @start, @end (TIMESTAMP) and @event_types (ARRAY<STRING>)",
    )
    src.add_argument("--project", help="bigquery: project that runs (and pays for) the query")
    src.add_argument(
        "--start",
        help="keep events at or after this UTC date/time (e.g. 2024-01-01 or "
        "2024-01-01T06:00:00Z); pushed into the BigQuery query",
    )
    src.add_argument("--end", help="keep events before this UTC date/time (exclusive)")
    src.add_argument(
        "--no-storage-api",
        action="store_true",
        help="bigquery: page results over REST instead of the Storage Read API",
    )
    src.add_argument(
        "--bigquery-endpoint",
        metavar="URL",
        help="bigquery: REST endpoint of an emulator (anonymous credentials), e.g. "
        "http://127.0.0.1:9050",
    )
    src.add_argument(
        "--bigquery-storage-endpoint",
        metavar="HOST:PORT",
        help="bigquery: the emulator's Storage Read API (gRPC, no TLS)",
    )

    cols = t.add_argument_group("event columns (default: canonical name or alias)")
    for field, what in [
        ("session", "session id (optional: without it, sessions are cut from user + time)"),
        ("user", "user/visitor id (needed when there is no session id)"),
        ("item", "item/product id"),
        ("category", "item category (optional: without it, global negatives only)"),
        ("event-type", "event type (for --event-types)"),
        ("ts", "timestamp: unix seconds, TIMESTAMP/DATE, or text"),
        ("position", "order within a session, for sources without timestamps"),
    ]:
        cols.add_argument(f"--{field}-col", metavar="NAME", help=f"column of the {what}")
    cols.add_argument(
        "--ts-unit", choices=["s", "ms", "us"], default="s", help="unit of numeric timestamps"
    )
    cols.add_argument(
        "--event-types",
        type=_csv_list,
        metavar="A,B",
        help="keep only these event types, e.g. view or pv (default: all events)",
    )

    res = t.add_argument_group("resources")
    res.add_argument(
        "--duckdb-memory-limit",
        default=DuckDBLimits.memory_limit,
        metavar="SIZE",
        help="memory the sessionizing DuckDB may use (e.g. 4GB); beyond it, it spills to disk",
    )
    res.add_argument(
        "--duckdb-temp-dir",
        metavar="DIR",
        help="where DuckDB spills beyond its memory limit (default: the system's temporary "
        "directory)",
    )
    ses = t.add_argument_group("sessionization")
    ses.add_argument(
        "--sessionize-in",
        choices=["local", "warehouse"],
        default="local",
        help="where events become sessions: local reads every event and cuts them with DuckDB "
        "on this machine; warehouse (--source bigquery) cuts them inside BigQuery, one GoogleSQL "
        "query, and reads back only the finished sessions: the same sessions and report, for a "
        "shop whose events do not fit on the training node",
    )
    ses.add_argument(
        "--session-gap",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="inactivity that ends a session (only without a session id column)",
    )
    ses.add_argument(
        "--min-dwell",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="drop a view followed by the next one within this time (0: off)",
    )
    ses.add_argument(
        "--keep-repeats", action="store_true", help="do not collapse immediate repeats (A A B)"
    )
    ses.add_argument("--keep-duplicates", action="store_true", help="do not drop duplicate events")
    ses.add_argument(
        "--max-session-length",
        type=int,
        default=200,
        metavar="N",
        help="keep only the last N views of longer sessions (0: no cap)",
    )
    ses.add_argument(
        "--min-session-length",
        type=_positive_int,
        default=2,
        metavar="N",
        help="drop sessions with fewer views",
    )
    ses.add_argument(
        "--min-count",
        type=_positive_int,
        default=1,
        metavar="N",
        help="remove items seen fewer times (then sessions are re-checked)",
    )

    meta = t.add_argument_group("product metadata (default: categories from the events)")
    meta.add_argument(
        "--products",
        metavar="PATH",
        help="products file/directory/glob (parquet or csv) with item id, category and "
        "optional brand, price, title, available (demo: its products.parquet)",
    )
    meta.add_argument("--products-table", metavar="TABLE", help="products in BigQuery")
    meta.add_argument("--products-item-col", metavar="NAME", help="item id column of products")
    meta.add_argument("--products-category-col", metavar="NAME", help="category column of products")

    model = t.add_argument_group("prod2vec hyper-parameters")
    model.add_argument("--dim", type=_positive_int, default=_DEFAULTS.dim, help="vector size")
    model.add_argument(
        "--window", type=_positive_int, default=_DEFAULTS.window, help="context window"
    )
    model.add_argument(
        "--epochs",
        type=_positive_int,
        help=f"passes over the data (default {_DEFAULTS.epochs}, fewer for a corpus larger "
        "than --max-training-tokens allows; given, exactly that many)",
    )
    model.add_argument(
        "--max-training-tokens",
        type=int,
        default=MAX_TRAINING_TOKENS,
        metavar="N",
        help="most tokens (epochs x tokens per epoch) prod2vec trains on with the default "
        f"epochs: a larger corpus gets fewer epochs, never under {MIN_EPOCHS} (0: no limit)",
    )
    model.add_argument("--alpha", type=float, default=_DEFAULTS.alpha, help="initial learning rate")
    model.add_argument(
        "--min-alpha",
        type=float,
        default=_DEFAULTS.min_alpha,
        help="final learning rate (linear decay from --alpha)",
    )
    model.add_argument(
        "--negatives",
        type=int,
        default=_DEFAULTS.negatives,
        help="global negatives per positive pair (unigram^ns-exponent)",
    )
    model.add_argument(
        "--category-negatives",
        type=int,
        default=_DEFAULTS.category_negatives,
        help="negatives per pair from the positive item's own category",
    )
    model.add_argument(
        "--ns-exponent",
        type=float,
        default=_DEFAULTS.ns_exponent,
        help="exponent of counts in the negative-sampling distribution",
    )
    model.add_argument(
        "--sample",
        type=float,
        default=_DEFAULTS.sample,
        help="frequent-item subsampling threshold (0: off)",
    )
    model.add_argument(
        "--threads", type=int, default=_DEFAULTS.threads, help="worker threads (0: all cores)"
    )
    model.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="random seed (deterministic with 1 thread)"
    )
    model.add_argument(
        "--backend",
        choices=["numba", "gensim"],
        default=_DEFAULTS.backend,
        help="numba: compiled category-aware kernel; gensim: reference Word2Vec",
    )

    rk = t.add_argument_group("ranking stage")
    rk.add_argument(
        "--ranker",
        choices=["learned", "default"],
        default="learned",
        help="learned: fit the ranker's weights on a validation split of the newest training "
        "sessions (trains prod2vec a second time on the rest); default: a hand-set blend",
    )
    rk.add_argument(
        "--validation-share",
        type=float,
        default=0.1,
        help="share of the newest training sessions held out to learn the ranker",
    )
    rk.add_argument(
        "--ranker-pairs",
        type=_positive_int,
        default=20_000,
        help="most validation (prefix -> next) pairs used to learn the ranker",
    )
    rk.add_argument(
        "--hnsw-ef",
        type=_positive_int,
        default=ModelParams().hnsw.ef,
        help="HNSW search beam width (stored in the bundle, re-applied on load)",
    )
    rk.add_argument(
        "--hnsw-m", type=_positive_int, default=ModelParams().hnsw.M, help="HNSW graph degree"
    )
    rk.add_argument(
        "--freshness-boost",
        type=float,
        default=RankerParams().freshness_boost,
        help="exploration: added to the score (logits) of the products without views closest "
        f"to a page of their category, so they get shown; 0 turns it off, at most "
        f"{MAX_FRESHNESS_BOOST:g} (stored in the bundle; NOWREC_FRESHNESS_BOOST overrides it "
        "in the service)",
    )
    rk.add_argument(
        "--fresh-candidates",
        type=int,
        default=RankerParams().fresh_candidates,
        help="products without views of the page's category boosted per answer (0..100)",
    )

    ev = t.add_argument_group("evaluation and output")
    ev.add_argument(
        "--test-pairs",
        metavar="FILE",
        help="Parquet of (prefix list, target) pairs to evaluate on (demo: its test pairs)",
    )
    ev.add_argument("--k", type=_positive_int, default=20, help="cut-off of HR@k and MRR@k")
    ev.add_argument(
        "--out", default="artifacts", help="artifacts root: OUT/<version>/ and OUT/latest"
    )
    ev.add_argument("--version", help="bundle version name (default: UTC time + suffix)")

    ho = t.add_argument_group(
        "held-out evaluation (how good the model is on your data; README: Quality on your data)"
    )
    ho.add_argument(
        "--holdout-share",
        type=_share,
        default=0.05,
        metavar="SHARE",
        help="newest share of the sessions (by start time) the run scores itself on: a model "
        "that never saw them answers every next view, against the popular and the "
        "current-product baselines, under both protocols; below --validation-share when the "
        "ranker is learned (it learns on the sessions between the two)",
    )
    ho.add_argument("--no-holdout", action="store_true", help="skip the held-out evaluation")
    ho.add_argument(
        "--holdout-pairs",
        type=_positive_int,
        default=5_000,
        metavar="N",
        help="most held-out pairs scored, drawn uniformly",
    )
    add_publish_options(t, train=True)
    t.set_defaults(func=cmd_train)

    tp = sub.add_parser(
        "test-pairs",
        help="write (prefix -> next view) test pairs from the newest sessions of any events",
        description="Cut events into sessions (the options of train) and write every "
        "(prefix -> next view) pair of the newest --holdout-share of them as Parquet: "
        "prefix (list of item ids, oldest first), target (item id). Every view counts "
        "(repeats included, whatever --keep-repeats): evaluate scores both protocols from it.",
        formatter_class=_Formatter,
    )
    _share_groups(t, tp, ("events source", "event columns", "sessionization"))
    tpo = tp.add_argument_group("test pairs")
    tpo.add_argument("--out", required=True, metavar="FILE", help="Parquet file to write")
    tpo.add_argument(
        "--holdout-share",
        type=_share,
        default=0.05,
        metavar="SHARE",
        help="newest share of the sessions to write pairs from (1: all of them)",
    )
    tpo.add_argument(
        "--max-pairs",
        type=_positive_int,
        metavar="N",
        help="most pairs, drawn uniformly (default: all)",
    )
    tpo.add_argument("--seed", type=int, default=0, help="random seed of --max-pairs")
    tp.set_defaults(func=cmd_test_pairs)

    e = sub.add_parser(
        "evaluate",
        help="HR@k and MRR@k of a bundle on test pairs",
        description="Answer each (prefix -> target) pair with the served recommender and "
        "print HR@k, MRR@k and coverage under two protocols: every next view, repeats "
        "included (the papers'), and the next different product with seen ones excluded "
        "(the product page's).",
        formatter_class=_Formatter,
    )
    e.add_argument(
        "--bundle",
        default="artifacts",
        help="a bundle directory, or an artifacts root (its latest bundle)",
    )
    e.add_argument(
        "--test-pairs",
        required=True,
        metavar="FILE",
        help="Parquet with prefix (list of item ids, oldest first) and target; ids are "
        "compared as text",
    )
    e.add_argument("--k", type=_positive_int, default=20, help="cut-off of HR@k and MRR@k")
    e.add_argument(
        "--exact",
        action="store_true",
        help="exact inner-product candidates instead of HNSW (shows what HNSW loses)",
    )
    e.add_argument(
        "--baselines",
        action="store_true",
        help="also score the popular and the current-product baselines",
    )
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=cmd_evaluate)

    d = sub.add_parser(
        "demo-data",
        help="write the demo shop (events, products, test pairs) as Parquet",
        description="Generate the seeded demo shop used by `make train`.",
        formatter_class=_Formatter,
    )
    d.add_argument("--out", default="data/demo", help="directory to write into")
    d.add_argument("--seed", type=int, default=7, help="random seed")
    d.add_argument("--products", type=_positive_int, default=5000, help="catalogue size")
    d.add_argument("--sessions", type=_positive_int, default=20000, help="training sessions")
    d.add_argument("--users", type=_positive_int, default=8000, help="visitors")
    d.set_defaults(func=cmd_demo_data)

    pub = sub.add_parser(
        "publish",
        help="point an artifacts root's latest at a version (roll back or forward)",
        description="Verify a bundle version (checksums, schema), check it against the one "
        "latest points at (the guards of train), and switch OUT/latest to it atomically; the "
        "serving pods pick it up at their next poll.",
        formatter_class=_Formatter,
    )
    pub.add_argument("--out", default="artifacts", help="artifacts root")
    pub.add_argument("--version", required=True, help="version directory name under --out")
    add_publish_options(pub, train=False)
    pub.set_defaults(func=cmd_publish)

    pr = sub.add_parser(
        "prune",
        help="remove old bundle versions (never the one latest points at) and the temporary "
        "folders of crashed runs",
        description="Remove all but the newest --keep versions, never the one latest points "
        "at, and the .tmp-* entries that crashed runs left (untouched for --stale-after "
        "minutes, so that a run writing a bundle now is not disturbed).",
        formatter_class=_Formatter,
    )
    pr.add_argument("--out", default="artifacts", help="artifacts root")
    pr.add_argument("--keep", type=_positive_int, default=5, help="newest versions to keep")
    pr.add_argument(
        "--stale-after",
        type=_positive_int,
        default=int(STALE_TMP_S // 60),
        metavar="MINUTES",
        help="remove .tmp-* entries nothing has changed for this long",
    )
    pr.set_defaults(func=cmd_prune)

    from pipelines import experiment_report

    experiment_report.add_parser(sub, _Formatter)
    return parser


# -- commands -----------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines.train import train

    job = train_job_from_args(args)  # every option checked; nothing read, written or opened
    result = train(open_sources(job, args))
    print(result.bundle_dir)
    return 0


def cmd_test_pairs(args: argparse.Namespace) -> int:
    """Sessionize like train (its options, its checks) and write the newest sessions' pairs."""
    import pyarrow.parquet as pq

    from pipelines.holdout import pairs_table
    from pipelines.sessionize import sessionize

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; name the Parquet file to write")
    # train's own option handling builds the source, mapping and rules (one definition)
    options = {**vars(build_parser().parse_args(["train"])), **vars(args)}
    options.update(no_holdout=True, test_pairs=None, products=None, products_table=None)
    options = argparse.Namespace(**options)
    job = open_sources(train_job_from_args(options), options)
    rules = replace(job.sessionize, collapse_repeats=False)  # every view is a next view
    with connect(job.duckdb) as con:
        sessions = sessionize(con, job.source.relation(con), job.mapping, rules, args.holdout_share)
    pairs = pairs_table(sessions.raw_newest, args.max_pairs, args.seed)
    if pairs.num_rows == 0:
        raise DataError(
            f"the newest {len(sessions.raw_newest):,} sessions hold no (prefix -> next view) "
            "pair; raise --holdout-share"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(pairs, tmp)
    tmp.replace(out)  # never a half-written pairs file under the name asked for
    log.info(
        "wrote %d test pairs from the newest %d of %d sessions to %s",
        pairs.num_rows, len(sessions.raw_newest), sessions.corpus.n_sessions, out,
    )  # fmt: skip
    print(out)
    return 0


def train_job_from_args(args: argparse.Namespace):
    """Validate every option and build the :class:`~pipelines.train.TrainJob`; it only parses.

    Everything that can be checked without reading data is checked here, before anything
    is read or written. Nothing is generated or connected: the demo shop of ``data/demo`` is
    named, not written, and BigQuery sources have no client yet; :func:`open_sources` does
    both before the job runs.
    """
    from pipelines import demo_shop
    from pipelines.metadata import MetadataMapping
    from pipelines.schema import ColumnMapping
    from pipelines.sessionize import SessionizeConfig
    from pipelines.sources.local import LocalFileSource
    from pipelines.timewindow import TimeWindow
    from pipelines.train import TrainJob, check_job_options

    check_job_options(args.k, args.validation_share, args.ranker == "learned")
    kind = source_kind(args)
    if kind != "bigquery":
        for opt in ("table", "sql", "bigquery_endpoint", "bigquery_storage_endpoint"):
            if getattr(args, opt):
                raise ConfigError(
                    f"--{opt.replace('_', '-')} is for --source bigquery (source is {kind})"
                )
    if args.sessionize_in == "warehouse" and kind != "bigquery":
        raise ConfigError(
            "--sessionize-in warehouse cuts the sessions inside BigQuery: it needs --source "
            f"bigquery (--table or --sql); {kind} events are read and cut on this machine "
            "(leave out --sessionize-in, or use --sessionize-in local)"
        )
    if kind in ("parquet", "csv") and not args.path:
        raise ConfigError(f"--source {kind} needs --path (a file, directory or glob)")
    if kind == "bigquery" and bool(args.table) == bool(args.sql):
        raise ConfigError("--source bigquery needs exactly one of --table and --sql FILE")
    if kind == "bigquery" and args.path:
        raise ConfigError("--path is for --source parquet, csv or demo (source is bigquery)")
    if args.products and args.products_table:
        raise ConfigError("give either --products or --products-table, not both")
    holdout_share = 0.0 if args.no_holdout else args.holdout_share
    learn = args.ranker == "learned"
    if learn and not 0 < args.validation_share < 1:
        raise ConfigError(f"--validation-share must be in (0, 1), got {args.validation_share:g}")
    if holdout_share and (holdout_share >= (args.validation_share if learn else 1)):
        raise ConfigError(
            f"--holdout-share {holdout_share:g} must be below "
            + (
                f"--validation-share {args.validation_share:g}: the ranker learns on the "
                "sessions between the two (raise --validation-share or lower --holdout-share)"
                if learn
                else "1: some sessions must be left to train on"
            )
        )
    guards = guards_from_args(args)
    duckdb_limits = DuckDBLimits(
        args.duckdb_memory_limit, Path(args.duckdb_temp_dir) if args.duckdb_temp_dir else None
    )

    model = Prod2VecConfig(
        dim=args.dim,
        window=args.window,
        epochs=args.epochs or _DEFAULTS.epochs,
        alpha=args.alpha,
        min_alpha=args.min_alpha,
        negatives=args.negatives,
        category_negatives=args.category_negatives,
        ns_exponent=args.ns_exponent,
        sample=args.sample,
        threads=args.threads,
        seed=args.seed,
        backend=args.backend,
    )
    window = TimeWindow.parse(args.start, args.end)
    hnsw = HnswParams(M=args.hnsw_m, ef=args.hnsw_ef)
    try:
        ranking = RankerParams(
            freshness_boost=args.freshness_boost, fresh_candidates=args.fresh_candidates
        )
    except ConfigError as exc:
        raise ConfigError(f"{exc} (--freshness-boost, --fresh-candidates)") from None
    event_types = tuple(args.event_types or ())
    rules = SessionizeConfig(
        session_gap_s=args.session_gap,
        min_dwell_s=args.min_dwell,
        collapse_repeats=not args.keep_repeats,
        drop_duplicates=not args.keep_duplicates,
        max_session_length=args.max_session_length,
        min_item_count=args.min_count,
        min_session_length=args.min_session_length,
        event_types=event_types,
        window=window,
        ts_unit=args.ts_unit,
    )
    mapping = ColumnMapping(
        session_id=args.session_col,
        user_id=args.user_col,
        item_id=args.item_col,
        category_id=args.category_col,
        event_type=args.event_type_col,
        ts=args.ts_col,
        position=args.position_col,
    )
    products_mapping = MetadataMapping(
        item_id=args.products_item_col, category_id=args.products_category_col
    )
    test_pairs = Path(args.test_pairs) if args.test_pairs else None
    if test_pairs is not None and not test_pairs.is_file():
        raise ConfigError(f"--test-pairs {test_pairs} does not exist")

    products = None
    if args.products:
        products = _local_files(args.products, None, "--products")
    elif args.products_table:
        from pipelines.sources.bigquery import BigQueryTable

        products = BigQueryTable(None, args.products_table)  # connected by open_sources

    if kind == "demo":
        path = _demo_shop_dir(args.path)
        source = LocalFileSource(str(path / demo_shop.EVENTS_FILE))
        if products is None:
            products = LocalFileSource(str(path / demo_shop.PRODUCTS_FILE))
        if test_pairs is None:
            test_pairs = path / demo_shop.TEST_PAIRS_FILE
    elif kind in ("parquet", "csv"):
        source = _local_files(args.path, kind, "--path")
    else:
        from pipelines.sources.bigquery import BigQuerySource

        sql = None
        if args.sql:
            try:
                sql = Path(args.sql).read_text()
            except OSError as exc:
                raise ConfigError(f"cannot read --sql {args.sql}: {exc.strerror}") from exc
        source = BigQuerySource(
            client=None,  # connected by open_sources
            table=args.table,
            sql=sql,
            sql_name=args.sql,
            window=window,
            mapping=mapping,
            event_types=event_types,
            ts_unit=args.ts_unit,
            sessionize_in=args.sessionize_in,
        )
    return TrainJob(
        source=source,
        out=Path(args.out),
        mapping=mapping,
        sessionize=rules,
        model=model,
        products=products,
        products_mapping=products_mapping,
        test_pairs=test_pairs,
        k=args.k,
        version=args.version,
        params=ModelParams().replace(hnsw=hnsw, ranking=ranking),
        learn_ranker=args.ranker == "learned",
        validation_share=args.validation_share,
        ranker_pairs=args.ranker_pairs,
        holdout_share=holdout_share,
        holdout_pairs=args.holdout_pairs,
        guards=guards,
        publish=not args.no_publish,
        force=args.force,
        duckdb=duckdb_limits,
        max_training_tokens=None if args.epochs else (args.max_training_tokens or None),
    )


def source_kind(args: argparse.Namespace) -> str:
    """``--source``, or what the other options say it is when it is not given.

    Without ``--source``: ``--table``/``--sql`` mean bigquery; a ``--path`` written by
    ``demo-data`` means demo; any other ``--path`` is Parquet or CSV by its files' names
    (:class:`ConfigError` when they do not tell); nothing at all means the demo shop in
    ``data/demo``. Nothing is ever written into a ``--path``.
    """
    from pipelines import demo_shop

    if args.source:
        return args.source
    if args.table or args.sql:
        return "bigquery"
    if not args.path:
        return "demo"
    if demo_shop.demo_shop_exists(args.path):
        return "demo"
    source = _local_files(args.path, None, "--path")
    kind = source.resolved_format(source.files())
    log.info("reading --path %s as %s (from the file names)", args.path, kind)
    return kind


def _local_files(path: str, kind: str | None, option: str):
    """A Parquet/CSV source whose files exist, checked before any work (:class:`ConfigError`
    otherwise, so a wrong path is a configuration error: exit 2)."""
    from pipelines import demo_shop
    from pipelines.sources.local import LocalFileSource

    if option == "--path" and demo_shop.is_demo_shop_dir(path):
        raise ConfigError(
            f"{path} is a demo shop folder (it has {demo_shop.INFO_FILE}): its products and "
            f"test pairs would be read as events; train on it with --source demo --path {path}, "
            "or keep your own events in a folder of their own"
        )
    source = LocalFileSource(path, format=kind, option=option)  # type: ignore[arg-type]
    try:
        source.resolved_format(source.files())
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    return source


def _demo_shop_dir(path: str | None) -> Path:
    """The demo shop to train on. Only the project's own ``data/demo`` may be absent (then
    :func:`open_sources` generates it); a ``--path`` given must already hold one (it is never
    written to)."""
    from pipelines import demo_shop

    default = Path(demo_shop.DEFAULT_DIR)
    where = Path(path) if path else default
    if demo_shop.demo_shop_exists(where) or where.resolve() == default.resolve():
        return where
    raise ConfigError(
        f"{where} holds no demo shop ({demo_shop.EVENTS_FILE}, {demo_shop.PRODUCTS_FILE}, "
        f"{demo_shop.TEST_PAIRS_FILE}); write one with `python -m pipelines demo-data "
        f"--out {where}`, or leave out --path to use {default} (generated when absent); "
        "for your own events use --source parquet or --source csv"
    )


def open_sources(job, args: argparse.Namespace):
    """What a parsed job needs before it runs, which parsing leaves out: the demo shop of
    ``data/demo`` generated when the job reads it and it is absent (the only place one is
    ever generated), and the BigQuery sources connected (one client for both)."""
    from pipelines import demo_shop
    from pipelines.sources.bigquery import BigQuerySource, BigQueryTable
    from pipelines.sources.local import LocalFileSource

    default = Path(demo_shop.DEFAULT_DIR)
    source = job.source
    if (
        isinstance(source, LocalFileSource)
        and Path(source.path) == default / demo_shop.EVENTS_FILE
        and not demo_shop.demo_shop_exists(default)
    ):
        log.info("demo shop not found in %s: generating it (seeded)", default)
        demo_shop.write_demo_shop(default)
    parts = {"source": job.source, "products": job.products}
    remote = {n: p for n, p in parts.items() if isinstance(p, BigQuerySource | BigQueryTable)}
    if not remote:
        return job
    client, storage, use_storage = _bigquery_clients(args)
    connected = {"client": client, "bqstorage_client": storage, "use_storage_api": use_storage}
    return replace(job, **{n: replace(p, **connected) for n, p in remote.items()})


def _bigquery_clients(args: argparse.Namespace):
    from pipelines.sources.bigquery_connect import connect

    use_storage = not args.no_storage_api
    if args.bigquery_endpoint and not args.bigquery_storage_endpoint:
        use_storage = False  # never reach for the real Storage API host from an emulator run
    client, storage = connect(
        project=args.project,
        api_endpoint=args.bigquery_endpoint,
        storage_endpoint=args.bigquery_storage_endpoint,
        use_storage_api=use_storage,
    )
    return client, storage, use_storage


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.recommender import check_k
    from pipelines.evaluate import SYSTEMS, evaluate_bundle

    check_k(args.k)  # before the bundle is loaded
    systems = tuple(SYSTEMS) if args.baselines else ("nowrec",)
    report = evaluate_bundle(args.bundle, args.test_pairs, args.k, args.exact, systems=systems)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        print(report.table())
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from engine.bundle import Bundle, switch_latest
    from pipelines.publish_guard import refusal
    from pipelines.train import check_publish

    bundle = Bundle.load(Path(args.out) / args.version)  # verify before anyone can see it
    verdict, current = check_publish(guards_from_args(args), bundle.manifest, Path(args.out))
    if not verdict.ok:
        if not args.force:
            raise PublishRefusedError(refusal(verdict, bundle.path, current))
        log.warning("published despite the guards (--force): %s", "; ".join(verdict.refusals))
    switch_latest(args.out, args.version)
    log.info("latest -> %s", bundle.path)
    print(bundle.path)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from engine.bundle import prune_versions, remove_stale_temporaries

    removed = prune_versions(args.out, args.keep)
    stale = remove_stale_temporaries(args.out, older_than_s=60.0 * args.stale_after)
    log.info(
        "removed %d old version(s) and %d stale temporary entries from %s",
        len(removed), len(stale), args.out,
    )  # fmt: skip
    for name in removed + stale:
        print(name)
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from pipelines.demo_shop import DemoShopConfig, write_demo_shop

    config = DemoShopConfig(
        seed=args.seed, n_products=args.products, n_sessions=args.sessions, n_users=args.users
    )
    shop = write_demo_shop(args.out, config)
    print(
        f"demo shop: {shop.products.num_rows} products, {shop.events.num_rows} events, "
        f"{shop.test_pairs.num_rows} test pairs -> {args.out}"
    )
    return 0


# -- entry point ------------------------------------------------------------------------------


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    for noisy in ("gensim", "smart_open", "numba", "urllib3", "google"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # google.auth warns about each credential it fails to find; our error says what to do.
    logging.getLogger("google.auth").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed, 2 configuration error, 130
    interrupted; see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        return args.func(args)
    except (ConfigError, SchemaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
