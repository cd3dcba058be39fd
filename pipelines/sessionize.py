"""Sessionization: raw events -> time-ordered sessions of item views -> a training corpus.

The contract, step by step (each step's drops are counted in :class:`SessionizeReport`):

1. **Columns.** The source's columns are mapped onto the canonical schema
   (:mod:`pipelines.schema`); item, category, session and user ids become text.
2. **Event types.** With ``event_types`` set, only those events are kept (others are dropped
   before sessions are cut, so e.g. a purchase does not keep a visit alive).
3. **Unusable rows** are dropped with a warning, never silently: NULL/empty item id; an item
   id the API would refuse (the one id policy, :mod:`engine.ids`; the report names a few); NULL
   session id (or NULL user id when sessions are cut from users); NULL timestamp (or NULL
   position when there is no timestamp); NaN, infinite or unreadable timestamp.
4. **Time window.** Events outside ``start <= ts < end`` are dropped.
5. **Duplicates.** Events with the same session (or user), item, timestamp and position are
   one event (the export wrote it twice).
6. **Sessions.** With a session id column, a session is all events with that id. Without one,
   each user's events are ordered by time and a new session starts after a gap *longer* than
   ``session_gap_s`` (30 minutes) of inactivity. Within a session events are ordered by
   timestamp, then position, then item id (ties are rare; the item id makes them stable).
7. **Minimum dwell** (off by default): a view followed by the next view of the same session
   less than ``min_dwell_s`` seconds later is dropped (a click-through, not a look). Needs
   timestamps; ignored with a note when there are none.
8. **Immediate repeats** (A A B -> A B) are collapsed: reloads and tab switches say nothing
   about what comes next.
9. **Very long sessions** (crawlers, shared devices) keep only their last
   ``max_session_length`` views.
10. **Short sessions**: sessions with fewer than ``min_session_length`` (2) views are dropped:
    they hold no (item, next item) pair.
11. **Rare items**: items seen fewer than ``min_item_count`` times in the remaining sessions
    are removed from them; repeats that this brings together are collapsed again and sessions
    that became too short are dropped again (one pass, so an item may end just under the
    threshold).
12. **Held-out views** (only when asked, for evaluation): the newest ``raw_newest_share`` of
    the resulting sessions are also returned as every view the visitor made, as after step 7:
    repeats, rare items and views beyond the length cap included.

The result is a :class:`~engine.corpus.SessionCorpus` (vocabulary ordered by count, then id;
sessions ordered by start time), plus the item table (id, most frequent category, count).
All of it runs as DuckDB SQL over the source relation: rows reach Python only as the final
integer arrays. Events that stay in BigQuery (``--sessionize-in warehouse``) go through the same
steps there, as one GoogleSQL query (:mod:`pipelines.sessionize_sql`); they share this module's
step names, wording and checks, and the corpus is built from their finished sessions by the
same SQL (:func:`finished_corpus`), so both give the same sessions and the same report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from engine.categories import index_categories
from engine.corpus import SessionCorpus
from engine.errors import ConfigError, DataError
from engine.ids import ID_RULE
from engine.item_table import ITEM_COLUMNS
from pipelines.holdout import newest_count
from pipelines.ids import examples, invalid_ids
from pipelines.schema import TS_UNITS, ColumnMapping, ResolvedColumns, _kind, canonical_select
from pipelines.timewindow import TimeWindow

log = logging.getLogger(__name__)

_PREFIX = "_nowrec_"


@dataclass(frozen=True)
class SessionizeConfig:
    """How raw events become sessions (see the module docstring for the exact rules).

    Args:
        session_gap_s: inactivity (seconds) after which a user's next event starts a new
            session; used only when there is no session id column.
        min_dwell_s: drop a view followed by the next one within this many seconds; 0 = off.
        collapse_repeats: collapse immediate repeats of the same item.
        drop_duplicates: drop repeated identical events (same session/user, item, time).
        max_session_length: keep only the last N views of longer sessions; 0 = no cap.
        min_item_count: remove items seen fewer times than this.
        min_session_length: drop sessions with fewer views than this.
        event_types: keep only these event types (empty: keep all).
        window: keep only events in this time window.
        ts_unit: unit of numeric timestamps: ``s``, ``ms`` or ``us``.
    """

    session_gap_s: float = 1800.0
    min_dwell_s: float = 0.0
    collapse_repeats: bool = True
    drop_duplicates: bool = True
    max_session_length: int = 200
    min_item_count: int = 1
    min_session_length: int = 2
    event_types: tuple[str, ...] = ()
    window: TimeWindow = field(default_factory=TimeWindow)
    ts_unit: str = "s"

    def __post_init__(self) -> None:
        checks = [
            (self.session_gap_s > 0, f"session gap must be > 0 s, got {self.session_gap_s}"),
            (self.min_dwell_s >= 0, f"minimum dwell must be >= 0 s, got {self.min_dwell_s}"),
            (self.max_session_length >= 0, "max session length must be >= 0 (0 = no cap)"),
            (self.min_item_count >= 1, f"min count must be >= 1, got {self.min_item_count}"),
            (
                self.min_session_length >= 1,
                f"min session length must be >= 1, got {self.min_session_length}",
            ),
            (
                self.max_session_length == 0 or self.max_session_length >= self.min_session_length,
                "max session length must be >= min session length",
            ),
            (self.ts_unit in ("s", "ms", "us"), f"ts unit must be s, ms or us: {self.ts_unit!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["event_types"] = list(self.event_types)
        d["window"] = self.window.describe()
        return d


@dataclass(frozen=True)
class StepCount:
    """What one sessionization step removed."""

    step: str
    description: str
    events_dropped: int
    sessions_dropped: int = 0
    detail: str = ""


@dataclass
class SessionizeReport:
    """Counts of every sessionization step, for the log and the bundle manifest."""

    input_events: int = 0
    steps: list[StepCount] = field(default_factory=list)
    sessions: int = 0
    events: int = 0
    items: int = 0
    categories: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def step(self, name: str) -> StepCount:
        for s in self.steps:
            if s.step == name:
                return s
        raise KeyError(f"no sessionization step {name!r}; steps: {[s.step for s in self.steps]}")

    def dropped(self, name: str) -> int:
        """Events dropped by step ``name`` (0 when the step did not run)."""
        return sum(s.events_dropped for s in self.steps if s.step == name)

    @property
    def events_dropped(self) -> int:
        return sum(s.events_dropped for s in self.steps)

    def table(self) -> str:
        """The report as a fixed-width text table."""
        rows = [("step", "events dropped", "sessions dropped", "detail")]
        rows.append(("input", f"{self.input_events:,}", "", ""))
        for s in self.steps:
            rows.append(
                (
                    s.description,
                    f"{s.events_dropped:,}",
                    f"{s.sessions_dropped:,}" if s.sessions_dropped else "",
                    s.detail,
                )
            )
        rows.append(
            (
                "result",
                f"{self.events:,} events",
                f"{self.sessions:,} sessions",
                f"{self.items:,} items, {self.categories:,} categories",
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
            for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: what came in and what came out."""
        return (
            f"sessionized {self.input_events:,} events into {self.sessions:,} sessions "
            f"({self.events:,} views of {self.items:,} items, {self.categories:,} categories); "
            f"{self.events_dropped:,} events dropped"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sessions:
    """The output of :func:`sessionize`.

    Args:
        corpus: sessions over the item vocabulary.
        items: item table in vocabulary order: ``item_id`` (string), ``category_id`` (string,
            NULL when unknown), ``count`` (views in the corpus).
        report: counts of every step.
        raw_newest: the views of the newest sessions as the visitor made them (step 12),
            oldest session first; empty unless asked for.
    """

    corpus: SessionCorpus
    items: pa.Table
    report: SessionizeReport
    raw_newest: list[list[str]] = field(default_factory=list)


class WarehouseEvents(Protocol):
    """Events left where they are stored, sessionized there by the same contract: what a
    BigQuery source's ``relation`` gives with ``--sessionize-in warehouse``
    (:mod:`pipelines.sources.bigquery_sessionize`). :func:`sessionize` hands them its arguments
    instead of reading them, so its callers need not know where the sessions are cut."""

    def sessionize(
        self,
        con: duckdb.DuckDBPyConnection,
        mapping: ColumnMapping,
        config: SessionizeConfig,
        raw_newest_share: float,
    ) -> Sessions: ...


class _Tables:
    """Temporary tables of one sessionize run, dropped at the end."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.names: list[str] = []
        self.session_numbers = ""  # the table of session -> corpus index, once built

    def create(self, sql: str, params: list | None = None) -> str:
        name = f"{_PREFIX}t{len(self.names)}"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", params or [])
        self.names.append(name)
        return name

    def one(self, sql: str, params: list | None = None) -> tuple:
        return self.con.execute(sql, params or []).fetchone()  # type: ignore[return-value]

    def size(self, table: str) -> tuple[int, int]:
        """(events, sessions) of a table with a ``session`` column."""
        n, s = self.one(f"SELECT count(*), count(DISTINCT session) FROM {table}")
        return int(n), int(s)

    def drop_all(self) -> None:
        for name in self.names:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")
        self.con.execute(f"DROP VIEW IF EXISTS {_PREFIX}canon")
        self.con.execute(f"DROP VIEW IF EXISTS {_PREFIX}src")


def sessionize(
    con: duckdb.DuckDBPyConnection,
    relation: duckdb.DuckDBPyRelation | WarehouseEvents,
    mapping: ColumnMapping | None = None,
    config: SessionizeConfig | None = None,
    raw_newest_share: float = 0.0,
) -> Sessions:
    """Cut ``relation``'s events into sessions and build the training corpus.

    Args:
        con: the DuckDB connection ``relation`` belongs to (temporary tables are made there).
        relation: raw events with the source's column names; or :class:`WarehouseEvents`,
            which are sessionized where they are (the corpus is built here, on ``con``).
        mapping: which columns hold the canonical fields (defaults: canonical names/aliases).
        config: the rules; see :class:`SessionizeConfig`.
        raw_newest_share: also return every view of the newest share of the sessions (step
            12; 0: none), for a held-out evaluation.

    Raises:
        SchemaError: missing or mistyped columns (the message lists the available columns).
        DataError: the source is empty, or no session survives the rules.
    """
    mapping = mapping or ColumnMapping()
    config = config or SessionizeConfig()
    if not isinstance(relation, duckdb.DuckDBPyRelation):
        return relation.sessionize(con, mapping, config, raw_newest_share)
    tables = _Tables(con)
    try:
        sessions, raw = _sessionize(tables, relation, mapping, config)
        if raw_newest_share > 0:
            sessions = replace(sessions, raw_newest=_raw_newest(tables, raw, raw_newest_share))
        return sessions
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"could not read the events: {first}; check the file and the column mapping"
        ) from exc
    finally:
        tables.drop_all()


@dataclass(frozen=True)
class RowStep:
    """One condition of steps 2-4 (single rows), as the report names it; rows failing it are
    dropped. Local and warehouse sessionization each write its condition in their SQL.

    ``warn``: log the drops as a warning; ``runs``: whether the step applies to this source
    and config (a step that does not run is not reported).
    """

    step: str
    description: str
    warn: bool = True
    runs: bool = True


def row_steps(config: SessionizeConfig, resolved: ResolvedColumns) -> list[RowStep]:
    """What steps 2-4 check, in the order a row meets them (a dropped row is counted by the
    first condition it fails).

    Raises:
        ConfigError: the rules need a column the source lacks (an event type column for
            ``event_types``, a timestamp for a time window).
    """
    wanted = config.event_types
    if wanted and not resolved.has("event_type"):
        raise ConfigError(
            "--event-types needs an event type column; name it with --event-type-col "
            f"(columns are {', '.join(resolved.available)})"
        )
    has_session, has_ts = resolved.has("session_id"), resolved.has("ts")
    if not config.window.is_open and not has_ts:
        raise ConfigError(
            "--start/--end need a timestamp column; this source has only a position "
            "(name a timestamp with --ts-col)"
        )
    key = "session_id" if has_session else "user_id"
    return [
        RowStep("event_type", f"event type not in {list(wanted)}", False, bool(wanted)),
        RowStep("null_item", "NULL or empty item id"),
        RowStep("invalid_item_id", "item id the API would refuse"),
        RowStep("null_session" if has_session else "null_user", f"NULL {key}"),
        RowStep(f"null_{'ts' if has_ts else 'position'}",
                f"NULL {'timestamp' if has_ts else 'position'}"),
        RowStep("bad_ts", "NaN, infinite or unreadable timestamp", runs=has_ts),
        RowStep("window", "outside --start/--end", False, not config.window.is_open),
    ]  # fmt: skip


def report_row_steps(
    report: SessionizeReport, steps: list[RowStep], dropped: Iterable[int], invalid_ids: str
) -> None:
    """Add steps 2-4 (those that run) to ``report``, warning about dropped unusable rows;
    ``invalid_ids``: step 3's detail on the item ids the API would refuse ("" when none)."""
    for s, n in zip(steps, dropped, strict=True):
        if not s.runs:
            continue
        detail = invalid_ids if s.step == "invalid_item_id" else ""
        if detail:
            log.warning("dropped %d events with %s: %s; ids are %s", n, s.description, detail,
                        ID_RULE)  # fmt: skip
        elif s.warn and n:
            log.warning("dropped %d events with %s", n, s.description)
        report.steps.append(StepCount(s.step, s.description, n, detail=detail))


def invalid_ids_detail(bad: dict[str, str], total: int) -> str:
    """The detail of step 3's refused item ids: how many, and a few of ``bad`` with why."""
    return f"{total:,} items: {examples(bad, total=total)}" if total else ""


def step_description(step: str, config: SessionizeConfig) -> str:
    """How the report describes steps 5-11 under ``config``."""
    return {
        "duplicates": "duplicate event (same visit, item, time)",
        "short_dwell": f"next view within {config.min_dwell_s:g} s",
        "repeats": "immediate repeat of the same item",
        "long_sessions": f"beyond the last {config.max_session_length} views of a session",
        "short_sessions": f"session shorter than {config.min_session_length}",
        "rare_items": f"item seen fewer than {config.min_item_count} times",
        "repeats_after_rare": "repeat brought together by removing rare items",
        "short_sessions_after_rare": (
            f"session shorter than {config.min_session_length} after removing rare items"
        ),
    }[step]


#: Details of steps 9 and 11 in the report, formatted with a count.
CAPPED_DETAIL = "{:,} sessions capped"
RARE_DETAIL = "{:,} items removed"
#: The note when ``min_dwell_s`` is set and the source has no timestamps.
DWELL_SKIPPED = "minimum dwell skipped: the source has no timestamps"


def sessions_note(n_sessions: int, users: int, config: SessionizeConfig, has_session: bool) -> str:
    """The report's note on how step 6 made its sessions."""
    if has_session:
        return f"{n_sessions:,} sessions from the session id column"
    return f"{n_sessions:,} sessions cut from {users:,} users at gaps > {config.session_gap_s:g} s"


def no_events_error() -> DataError:
    return DataError(
        "the source has no events; check --path (or --table/--sql, --start/--end and --event-types)"
    )


def no_sessions_error(report: SessionizeReport) -> DataError:
    """Nothing survived the rules: the report goes to the log, the error says what to check."""
    log.warning("sessionization report:\n%s", report.table())
    return DataError(
        f"no session left after sessionization of {report.input_events:,} events (see "
        "the report above); check the column mapping, --event-types, --start/--end, "
        "--min-session-length and --min-count"
    )


class _Run:
    """One sessionize run: its tables, report and what the source provides; the table of
    events as the steps leave it (``current``) and its counts."""

    def __init__(
        self, tables: _Tables, relation: duckdb.DuckDBPyRelation, mapping: ColumnMapping,
        config: SessionizeConfig,
    ) -> None:  # fmt: skip
        self.tables, self.con, self.relation, self.config = tables, tables.con, relation, config
        self.types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
        self.resolved = mapping.resolve(relation.columns)
        self.report = SessionizeReport(columns=self.resolved.describe())
        self.has_session = self.resolved.has("session_id")
        self.has_ts = self.resolved.has("ts")
        self.key = "session_id" if self.has_session else "user_id"
        self.row_steps = row_steps(config, self.resolved)  # before any work: it checks columns
        self.bad_ids: dict[str, str] = {}  # item ids the API would refuse, why (step 3)
        self.current = ""
        self.n_events = self.n_sessions = 0

    def step(self, name: str, description: str, sql: str, detail: str = "") -> None:
        """Replace ``current`` by the result of ``sql`` and report what it dropped."""
        self.current = self.tables.create(sql)
        e, s = self.tables.size(self.current)
        self.report.steps.append(
            StepCount(name, description, self.n_events - e, self.n_sessions - s, detail)
        )
        self.n_events, self.n_sessions = e, s


_BY_SEQ = "OVER (PARTITION BY session ORDER BY seq)"
_REPEATS_SQL = f"SELECT * FROM {{t}} QUALIFY item_id IS DISTINCT FROM lag(item_id) {_BY_SEQ}"
_ORDER = "ts NULLS LAST, position NULLS LAST, item_id"


def _sessionize(
    tables: _Tables,
    relation: duckdb.DuckDBPyRelation,
    mapping: ColumnMapping,
    config: SessionizeConfig,
) -> tuple[Sessions, str]:
    """The sessions, and the table of every view after step 7 (for step 12): each numbered
    step of the module's contract in its own function, in order."""
    run = _Run(tables, relation, mapping, config)
    _map_columns(run)  # 1
    filters = _event_types(run) | _unusable_rows(run) | _time_window(run)  # 2, 3, 4
    kept = _apply_row_filters(run, filters)
    kept = _drop_duplicates(run, kept)  # 5
    _cut_sessions(run, kept)  # 6
    _drop_short_dwell(run)  # 7
    raw = run.current  # every view the visitor made (step 12)
    _collapse_repeats(run)  # 8
    _cap_long_sessions(run)  # 9
    _drop_short_sessions(run)  # 10
    _remove_rare_items(run)  # 11
    if run.n_sessions == 0:
        raise no_sessions_error(run.report)
    return _build(tables, run.current, run.report), raw


def _map_columns(run: _Run) -> None:
    """Step 1: the canonical view of the source (``{_PREFIX}canon``), ids as text."""
    # Text timestamps without an offset, and TIMESTAMPTZ arithmetic, are read as UTC.
    run.con.execute("SET TimeZone = 'UTC'")
    log.info(
        "columns: %s",
        ", ".join(f"{k} <- {v}" for k, v in run.resolved.describe().items()),
    )
    exprs = canonical_select(run.resolved, run.types, run.config.ts_unit)
    run.relation.create_view(f"{_PREFIX}src", replace=True)
    run.con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_PREFIX}canon AS SELECT {', '.join(exprs)} FROM {_PREFIX}src"
    )


def _event_types(run: _Run) -> dict[str, str]:
    """Step 2: only the events of ``event_types`` (when set)."""
    # coalesce: an event without a type is dropped here and counted, not lost to NULL logic
    keep = "coalesce(list_contains(?::VARCHAR[], event_type), false)"
    return {"event_type": keep if run.config.event_types else "true"}


def _unusable_rows(run: _Run) -> dict[str, str]:
    """Step 3: rows without a usable item id, session (or user), or order."""
    # Ids the API could not accept (engine/ids.py) are dropped here, with their reason.
    run.bad_ids = invalid_ids(run.con, f"{_PREFIX}canon", "item_id")
    keep_id = "true"
    if run.bad_ids:
        bad = run.tables.create("SELECT unnest(?::VARCHAR[]) AS item_id", [sorted(run.bad_ids)])
        keep_id = f"coalesce(item_id NOT IN (SELECT item_id FROM {bad}), true)"
    key, has_ts = run.key, run.has_ts
    return {
        "null_item": "item_id IS NOT NULL",
        "invalid_item_id": keep_id,
        f"null_{'session' if run.has_session else 'user'}": f"{key} IS NOT NULL",
        f"null_{'ts' if has_ts else 'position'}": (
            "(ts IS NOT NULL OR ts_raw_bad)" if has_ts else "position IS NOT NULL"
        ),
        "bad_ts": "NOT ts_raw_bad" if has_ts else "true",
    }


def _time_window(run: _Run) -> dict[str, str]:
    """Step 4: only the events of ``start <= ts < end``."""
    bounds = [f"ts {op} {epoch!r}" for _, op, epoch in window_bounds(run.config.window)]
    return {"window": " AND ".join(bounds) or "true"}


def window_bounds(window: TimeWindow) -> list[tuple[str, str, float]]:
    """The bounds of step 4 that are set: (name, operator, unix seconds)."""
    bounds = [("start", ">=", window.start_epoch), ("end", "<", window.end_epoch)]
    return [(name, op, epoch) for name, op, epoch in bounds if epoch is not None]


def _apply_row_filters(run: _Run, keep: dict[str, str]) -> str:
    """Steps 2-4 in one scan: each row is counted by the first condition it fails, in
    order; the unit of the timestamps and the event types asked for are checked on the way.
    Returns the table of the rows kept."""
    config, tables, report = run.config, run.tables, run.report
    params: list[Any] = [list(config.event_types)] if config.event_types else []
    names = [f"k{n}" for n in range(len(run.row_steps))]
    conditions = ", ".join(f"{keep[s.step]} AS k{n}" for n, s in enumerate(run.row_steps))
    flags = f"SELECT *, {conditions} FROM {_PREFIX}canon"
    failed_first = [" AND ".join([*names[:n], f"NOT {k}"]) for n, k in enumerate(names)]
    counts = tables.one(
        "SELECT "
        + ", ".join(f"count(*) FILTER (WHERE {cond})" for cond in failed_first)
        # the types asked for that occur at all, and the timestamps' median (for the unit)
        + ", count(DISTINCT event_type) FILTER (WHERE k0), approx_quantile(ts, 0.5), count(*)"
        + f" FROM ({flags})",
        params,
    )
    *dropped_by, types_found, median_ts, n_input = counts
    report.input_events = n_input
    if n_input == 0:
        raise no_events_error()
    ts_kind = _kind(run.types[run.resolved["ts"]]) if run.has_ts else None
    if ts_kind in ("integer", "number") and median_ts is not None:
        check_ts_unit(float(median_ts), config.ts_unit)
    if config.event_types and types_found < len(config.event_types):
        check_event_types(
            run.con.execute(EVENT_TYPES_SQL.format(events=f"{_PREFIX}canon")).fetchall(),
            config.event_types,
            types_found,
        )
    report_row_steps(
        report, run.row_steps, dropped_by, invalid_ids_detail(run.bad_ids, len(run.bad_ids))
    )
    return tables.create(
        f"SELECT {run.key} AS k, item_id, category_id, ts, position FROM ({flags}) "
        f"WHERE {' AND '.join(names)}",
        params,
    )


def _drop_duplicates(run: _Run, kept: str) -> str:
    """Step 5: the same visit, item, timestamp and position count once."""
    if not run.config.drop_duplicates:
        return kept
    tables = run.tables
    (before,) = tables.one(f"SELECT count(*) FROM {kept}")
    kept = tables.create(
        f"SELECT k, item_id, min(category_id) AS category_id, ts, position FROM {kept} GROUP BY ALL"
    )
    (after,) = tables.one(f"SELECT count(*) FROM {kept}")
    run.report.steps.append(
        StepCount("duplicates", step_description("duplicates", run.config), before - after)
    )
    return kept


def _cut_sessions(run: _Run, kept: str) -> None:
    """Step 6: sessions from the session id, or cut from each user's events at gaps longer
    than ``session_gap_s``; events numbered in order within each (``seq``)."""
    tables, config = run.tables, run.config
    if run.has_session:
        cut, session_expr = kept, "k"
    else:
        cut = tables.create(
            f"SELECT *, sum(new) OVER (PARTITION BY k ORDER BY {_ORDER} "
            "ROWS UNBOUNDED PRECEDING) AS session_no FROM ("
            f"SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY {_ORDER}) > "
            f"{float(config.session_gap_s)!r} THEN 1 ELSE 0 END AS new FROM {kept})"
        )
        session_expr = "k || chr(31) || CAST(session_no AS VARCHAR)"
    run.current = tables.create(
        f"SELECT {session_expr} AS session, item_id, category_id, ts, "
        f"row_number() OVER (PARTITION BY {session_expr} ORDER BY {_ORDER}) AS seq FROM {cut}"
    )
    run.n_events, run.n_sessions = tables.size(run.current)
    users = 0
    if not run.has_session:
        (users,) = tables.one(f"SELECT count(DISTINCT k) FROM {kept}")
    run.report.notes.append(sessions_note(run.n_sessions, users, config, run.has_session))
    log.info(run.report.notes[-1])


def _drop_short_dwell(run: _Run) -> None:
    """Step 7 (off by default): a view the next one follows within ``min_dwell_s``."""
    dwell = run.config.min_dwell_s
    if dwell <= 0:
        return
    if not run.has_ts:
        run.report.notes.append(DWELL_SKIPPED)
        log.warning(DWELL_SKIPPED)
        return
    run.step(
        "short_dwell",
        step_description("short_dwell", run.config),
        f"SELECT * FROM {run.current} "
        f"QUALIFY NOT coalesce(lead(ts) {_BY_SEQ} - ts < {float(dwell)!r}, false)",
    )


def _collapse_repeats(run: _Run) -> None:
    """Step 8: A A B becomes A B."""
    if run.config.collapse_repeats:
        run.step("repeats", step_description("repeats", run.config),
                 _REPEATS_SQL.format(t=run.current))  # fmt: skip


def _cap_long_sessions(run: _Run) -> None:
    """Step 9: a session keeps its last ``max_session_length`` views."""
    cap = run.config.max_session_length
    if not cap:
        return
    (capped,) = run.tables.one(
        f"SELECT count(*) FROM (SELECT session FROM {run.current} GROUP BY session "
        f"HAVING count(*) > {cap})"
    )
    run.step(
        "long_sessions",
        step_description("long_sessions", run.config),
        f"SELECT * FROM {run.current} "
        f"QUALIFY row_number() OVER (PARTITION BY session ORDER BY seq DESC) <= {cap}",
        detail=CAPPED_DETAIL.format(capped),
    )


def _short_sessions_sql(run: _Run) -> str:
    return (
        f"SELECT * FROM {run.current} QUALIFY count(*) OVER (PARTITION BY session) >= "
        f"{run.config.min_session_length}"
    )


def _drop_short_sessions(run: _Run) -> None:
    """Step 10: sessions shorter than ``min_session_length`` hold no pair."""
    description = step_description("short_sessions", run.config)
    run.step("short_sessions", description, _short_sessions_sql(run))


def _remove_rare_items(run: _Run) -> None:
    """Step 11: items seen fewer than ``min_item_count`` times; the repeats and short
    sessions that this makes are dropped again (one pass)."""
    config, tables, report = run.config, run.tables, run.report
    if config.min_item_count <= 1:
        return
    (items_before,) = tables.one(f"SELECT count(DISTINCT item_id) FROM {run.current}")
    run.step(
        "rare_items",
        step_description("rare_items", config),
        f"SELECT * FROM {run.current} "
        f"QUALIFY count(*) OVER (PARTITION BY item_id) >= {config.min_item_count}",
    )
    (items_after,) = tables.one(f"SELECT count(DISTINCT item_id) FROM {run.current}")
    report.steps[-1] = replace(
        report.steps[-1], detail=RARE_DETAIL.format(items_before - items_after)
    )
    if not report.steps[-1].events_dropped:
        return
    if config.collapse_repeats:
        run.step(
            "repeats_after_rare",
            step_description("repeats_after_rare", config),
            _REPEATS_SQL.format(t=run.current),
        )
    run.step(
        "short_sessions_after_rare",
        step_description("short_sessions_after_rare", config),
        _short_sessions_sql(run),
    )


#: Timestamps a shop's events plausibly carry (1990-01-01 .. 2100-01-01 UTC, unix seconds);
#: a median outside, that another --ts-unit would bring inside, is a unit mistake.
_PLAUSIBLE_TS = (631_152_000.0, 4_102_444_800.0)
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}


def check_ts_unit(median_s: float, unit: str) -> None:
    """Refuse numeric timestamps whose median is no plausible date in ``unit`` but is one in
    another unit (e.g. milliseconds read as seconds: the year 55,800); the error names the
    option that fixes it. Timestamps plausible in no unit (relative times) pass."""
    low, high = _PLAUSIBLE_TS
    if low <= median_s < high:
        return
    raw = median_s * TS_UNITS[unit]
    for other, per_second in TS_UNITS.items():
        if other != unit and low <= raw / per_second < high:
            year = 1970 + median_s / 31_556_952
            raise ConfigError(
                f"the timestamps look like {_UNIT_NAMES[other]}: their median, {raw:.0f}, read "
                f"as {_UNIT_NAMES[unit]} is the year {year:.0f}; use --ts-unit {other}"
            )


#: The events' types and their counts, most frequent first, for :func:`check_event_types`
#: (DuckDB and GoogleSQL alike).
EVENT_TYPES_SQL = (
    "SELECT event_type, COUNT(*) AS n FROM {events} GROUP BY event_type "
    "ORDER BY n DESC, event_type NULLS LAST LIMIT 21"
)


def check_event_types(rows: list[tuple], wanted: tuple[str, ...], found: int) -> None:
    """``--event-types`` values that no event has: an error when none matches (nothing would
    be trained), a warning otherwise; both list the types the events do have (``rows``: the
    result of :data:`EVENT_TYPES_SQL`)."""
    have = {t for t, _ in rows}
    listing = ", ".join(f"{t if t is not None else 'NULL'} ({n:,})" for t, n in rows[:20])
    if len(rows) > 20:
        listing += ", ..."
    missing = [t for t in wanted if t not in have]
    if found == 0:
        raise ConfigError(
            f"--event-types {','.join(wanted)} matches no event; the events' types are "
            f"{listing or 'none'} (pick from those, or name another column with --event-type-col)"
        )
    log.warning(
        "--event-types: no event has the type %s; the events' types are %s",
        ", ".join(repr(t) for t in missing), listing,
    )  # fmt: skip


def _build(tables: _Tables, final: str, report: SessionizeReport) -> Sessions:
    """Vocabulary, categories and CSR arrays from the final table."""
    con = tables.con
    # Most frequent category per item; ties go to the smallest id (stable across runs).
    item_cat = tables.create(
        "SELECT item_id, category_id FROM ("
        f"SELECT item_id, category_id, count(*) AS n FROM {final} "
        "WHERE category_id IS NOT NULL GROUP BY ALL) "
        "QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY n DESC, category_id) = 1"
    )
    (multi,) = tables.one(
        "SELECT count(*) FROM (SELECT item_id FROM "
        f"{final} WHERE category_id IS NOT NULL GROUP BY item_id "
        "HAVING count(DISTINCT category_id) > 1)"
    )
    if multi:
        report.notes.append(
            f"{multi:,} items were seen under more than one category; the most frequent is kept"
        )
    vocab = tables.create(
        "SELECT row_number() OVER (ORDER BY count DESC, item_id) - 1 AS idx, item_id, "
        f"category_id, count FROM (SELECT item_id, count(*) AS count FROM {final} "
        f"GROUP BY item_id) LEFT JOIN {item_cat} USING (item_id)"
    )
    sess = tables.create(  # sno: the session's place in time order (its corpus index)
        "SELECT session, row_number() OVER (ORDER BY min(ts) NULLS LAST, "
        "TRY_CAST(session AS BIGINT) NULLS LAST, session) - 1 AS sno, count(*) AS len "
        f"FROM {final} GROUP BY session"
    )
    items = con.execute(
        f"SELECT item_id, category_id, count FROM {vocab} ORDER BY idx"
    ).to_arrow_table()
    items = items.cast(
        pa.schema([(c, ITEM_COLUMNS[c]) for c in ("item_id", "category_id", "count")])
    )
    lengths = con.execute(f"SELECT len FROM {sess} ORDER BY sno").fetchnumpy()["len"]
    indices = con.execute(
        f"SELECT v.idx FROM {final} f JOIN {sess} s USING (session) "
        f"JOIN {vocab} v USING (item_id) ORDER BY s.sno, f.seq"
    ).fetchnumpy()["idx"]
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=indptr[1:])

    item_ids = np.array(items.column("item_id").to_pylist(), dtype=object)
    categories = index_categories(items.column("category_id").to_pylist())
    corpus = SessionCorpus(
        item_ids=item_ids,
        item_counts=np.asarray(items.column("count").to_numpy(), dtype=np.int64),
        item_categories=categories.codes,
        category_names=np.array(categories.names, dtype=object),
        indptr=indptr,
        indices=np.asarray(indices, dtype=np.int32),
    )
    report.sessions = corpus.n_sessions
    report.events = corpus.n_tokens
    report.items = corpus.n_items
    report.categories = len(categories.names)
    tables.session_numbers = sess
    return Sessions(corpus=corpus, items=items, report=report)


def _raw_newest(tables: _Tables, raw: str, share: float) -> list[list[str]]:
    """Step 12: every view (table ``raw``) of the newest ``share`` of the final sessions."""
    sess = tables.session_numbers
    (n,) = tables.one(f"SELECT count(*) FROM {sess}")
    first = n - newest_count(n, share)
    rows = tables.con.execute(
        f"SELECT list(r.item_id ORDER BY r.seq) AS views FROM {raw} r JOIN {sess} s "
        "USING (session) WHERE s.sno >= ? GROUP BY s.sno ORDER BY s.sno",
        [first],
    ).to_arrow_table()
    return rows.column("views").to_pylist()


def finished_corpus(
    con: duckdb.DuckDBPyConnection,
    finished: pa.Table,
    report: SessionizeReport,
    newest_share: float = 0.0,
) -> tuple[Sessions, list[str]]:
    """The corpus of sessions cut elsewhere (in BigQuery), built by the same SQL as local
    sessions: vocabulary, categories, session order, and so the same arrays.

    Args:
        con: a DuckDB connection for the temporary tables.
        finished: one row per finished session: ``session`` (its key, as step 6 names it),
            ``start`` (its first view's time, NULL without timestamps) and ``views`` (a list
            of ``item_id``, ``category_id`` structs in order).
        report: the report so far; the result's counts are added.
        newest_share: also return the keys of the newest share of the sessions (step 12).

    Returns:
        The sessions (``raw_newest`` empty), and the keys of the newest sessions, oldest first.
    """
    tables = _Tables(con)
    view = f"{_PREFIX}finished"
    con.register(view, finished)
    try:
        final = tables.create(
            "SELECT session, start AS ts, v.item_id AS item_id, v.category_id AS category_id, "
            f"seq FROM (SELECT session, start, unnest(views) AS v, "
            f"generate_subscripts(views, 1) AS seq FROM {view})"
        )
        sessions = _build(tables, final, report)
        if newest_share <= 0:
            return sessions, []
        n = sessions.corpus.n_sessions
        rows = con.execute(
            f"SELECT session FROM {tables.session_numbers} WHERE sno >= ? ORDER BY sno",
            [n - newest_count(n, newest_share)],
        ).fetchall()
        return sessions, [key for (key,) in rows]
    finally:
        con.unregister(view)
        tables.drop_all()
