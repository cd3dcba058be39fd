"""Sessionization as one GoogleSQL query: the contract of :mod:`pipelines.sessionize`, run
where the events are (BigQuery, ``--sessionize-in warehouse``).

The numbered steps are those of :mod:`pipelines.sessionize`, each written by its own function
here; the report's step names, wording and checks are that module's. What differs is how the
counts are kept, so that the whole contract is one query over the events:

- **One query, not a script.** A query's result is a table that the Storage Read API reads in
  parallel; a script's is not (the python client then pages it through REST, see
  googleapis/python-bigquery#1148).
- **No row is removed after steps 2-5.** Each later step marks the rows it drops with its
  number (``gone``), and its windows run over the rows still in (``PARTITION BY session,
  gone IS NULL``), so every step's drops are a ``COUNTIF`` over the same rows at the end.
- **Each row is read twice by the last aggregation** (``CROSS JOIN UNNEST([0, 1])``): copy 0
  builds one row per session that survives; copy 1 adds up the counts, in one row whose
  session is NULL. Sessions that do not survive go to that row too, so the result holds only
  finished sessions.
- **Steps 2-4 are counted over every input row** by a second aggregation of the events (one
  row, session NULL): the source's columns are scanned twice, once for these counts and once
  for the sessions.
- **Step 12 without a global sort.** Which sessions are the newest is decided on the training
  node, where the corpus is ordered; BigQuery returns, for every finished session, the views
  steps 8-11 removed with their place among its views after step 7 (``removed``), so that
  every view the visitor made is ``views`` with ``removed`` put back.

Timestamps become the same doubles as in DuckDB: a TIMESTAMP (read by DuckDB as a TIMESTAMP
WITH TIME ZONE) as milliseconds / 1e3 + microseconds / 1e6, the way DuckDB's ``epoch()``
computes it there; a DATETIME as microseconds / 1e6; a DATE as days x 86400. Ids are STRING or
INT64 (text the same in both); a column of another type that DuckDB would turn into text its
own way is refused with the fix.

The query is built from the source's SQL (:meth:`BigQuerySource.build_query`) and the types of
its result columns; values travel as query parameters (``@nowrec_*``), column names are
backtick-quoted, and the id policy's pattern (:data:`engine.ids.ID_PATTERN`, in RE2's syntax)
is the only literal. Nothing here talks to BigQuery: :mod:`pipelines.sources.bigquery_sessionize`
runs it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import SchemaError
from engine.ids import ID_PATTERN, MAX_ID_CHARS
from pipelines.schema import TS_UNITS, ResolvedColumns, field_kinds
from pipelines.sessionize import (
    EVENT_TYPES_SQL,
    RowStep,
    SessionizeConfig,
    row_steps,
    window_bounds,
)

#: The number each step marks its dropped rows with (``gone``), in the contract's order.
STEP_CODES = {
    "short_dwell": 1,
    "repeats": 2,
    "long_sessions": 3,
    "short_sessions": 4,
    "rare_items": 5,
    "repeats_after_rare": 6,
    "short_sessions_after_rare": 7,
}

_KINDS = {
    "INTEGER": "integer", "INT64": "integer",
    "FLOAT": "number", "FLOAT64": "number", "NUMERIC": "number", "BIGNUMERIC": "number",
    "STRING": "text",
    "TIMESTAMP": "time", "DATETIME": "time", "DATE": "time",
    "BOOLEAN": "boolean", "BOOL": "boolean",
}  # fmt: skip

_ORDER = "ts NULLS LAST, position NULLS LAST, item_id"
_ALIVE = "PARTITION BY session, gone IS NULL"  # windows over the rows no step dropped yet
#: What DuckDB's ``TRIM`` removes from ids: the Unicode space separators (category Zs), as a
#: GoogleSQL string literal.
SPACES = (
    "'"
    + "".join(f"\\u{cp:04x}" for cp in range(0x10000) if unicodedata.category(chr(cp)) == "Zs")
    + "'"
)
#: The id policy in RE2's syntax (BigQuery's): ``\\uhhhh`` escapes become ``\\x{hhhh}``.
ID_PATTERN_RE2 = re.sub(r"\\u([0-9a-fA-F]{4})", r"\\x{\1}", ID_PATTERN)


def bigquery_kind(bigquery_type: str) -> str:
    """A BigQuery column type's kind in :func:`pipelines.schema.field_kinds`' terms."""
    return _KINDS.get(bigquery_type.upper(), "other")


def quote_column(name: str) -> str:
    """A column name of the source's result as a GoogleSQL identifier."""
    if not name or any(c in name for c in "`\\\n\r"):
        raise SchemaError(f"column name {name!r} cannot be quoted in GoogleSQL; rename it")
    return f"`{name}`"


@dataclass(frozen=True)
class Parameter:
    """One query parameter: name (without ``@``), GoogleSQL type, value."""

    name: str
    type: str
    value: Any


@dataclass
class SessionizeQuery:
    """The query, its parameters, and what reading its result needs.

    ``sql``'s result: one row per finished session (``session``, ``start``, ``views``: an
    array of ``item_id``, ``category_id`` structs in order, and with ``keep_removed``
    ``removed``: an array of ``raw_index``, ``item_id`` structs), and two rows with session
    NULL whose ``counts`` (name, n) are the report's; one of them also has ``bad_examples``
    (the first item ids the API would refuse, and '') and ``median_ts``.
    """

    sql: str
    parameters: list[Parameter]
    row_steps: list[RowStep]
    ts_kind: str | None
    event_types_sql: str


def sessionize_query(
    source_sql: str,
    types: Mapping[str, str],
    resolved: ResolvedColumns,
    config: SessionizeConfig,
    keep_removed: bool = False,
) -> SessionizeQuery:
    """The GoogleSQL query that sessionizes the result of ``source_sql``.

    Args:
        source_sql: the events query (one SELECT; its parameters travel with it).
        types: the BigQuery type of each column of its result (``ARRAY<...>`` for repeated).
        resolved: which of those columns hold the canonical fields.
        config: the rules.
        keep_removed: return every finished session's ``removed`` views too (step 12).

    Raises:
        SchemaError: a column's type cannot hold its field, or the warehouse would read it
            differently from DuckDB (the message says how to cast it).
        ConfigError: the rules need a column the source lacks.
    """
    q = _Query(resolved, config, types)
    q.cte("src", source_sql.strip().rstrip(";").strip() + "\n")
    _map_columns(q)  # 1
    keep = _event_types(q) | _unusable_rows(q) | _time_window(q)  # 2, 3, 4
    _flag_rows(q, keep)
    _drop_duplicates(q)  # 5
    _cut_sessions(q)  # 6
    _drop_short_dwell(q)  # 7
    if keep_removed:
        _keep_removed_views(q)  # 12
    _collapse_repeats(q)  # 8
    _cap_long_sessions(q)  # 9
    _drop_short_sessions(q)  # 10
    _remove_rare_items(q)  # 11
    return SessionizeQuery(
        sql=_finish(q, keep_removed),
        parameters=q.parameters,
        row_steps=q.row_steps,
        ts_kind=q.kinds.get("ts"),
        event_types_sql=q.with_clause("canon") + EVENT_TYPES_SQL.format(events="canon"),
    )


@dataclass
class _Query:
    """The query being built: its common table expressions in order, its parameters, and the
    counts the last aggregation adds up (name, aggregate over the rows' second copy)."""

    resolved: ResolvedColumns
    config: SessionizeConfig
    types: Mapping[str, str]
    ctes: list[tuple[str, str]] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    counts: list[tuple[str, str]] = field(default_factory=list)
    row_steps: list[RowStep] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.row_steps = row_steps(self.config, self.resolved)  # checks the columns first
        self.has_session = self.resolved.has("session_id")
        self.has_ts = self.resolved.has("ts")

    @property
    def last(self) -> str:
        return self.ctes[-1][0]

    def cte(self, name: str, sql: str) -> None:
        self.ctes.append((name, sql))

    def param(self, name: str, type_: str, value: Any) -> str:
        if not any(p.name == f"nowrec_{name}" for p in self.parameters):
            self.parameters.append(Parameter(f"nowrec_{name}", type_, value))
        return f"@nowrec_{name}"

    def count(self, name: str, condition: str) -> None:
        """Count the rows that meet ``condition`` (once each: their second copy)."""
        self.counts.append((name, f"COUNTIF(copy_no = 1 AND {condition})"))

    def mark(self, step: str, condition: str, extra: str = "") -> None:
        """A step that drops rows: it marks the rows still in that meet ``condition`` with its
        number, and its drops are counted (events, and the sessions it leaves empty)."""
        code = STEP_CODES[step]
        self.cte(
            step,
            f"SELECT * REPLACE (IF(gone IS NULL AND {condition}, {code}, gone) AS gone){extra} "
            f"FROM {self.last}",
        )
        self.count(f"events:{step}", f"gone = {code}")
        self.count(f"sessions:{step}", f"seq = 1 AND NOT kept_session AND last_gone = {code}")

    def with_clause(self, upto: str | None = None) -> str:
        """``WITH`` and the expressions so far (through ``upto``)."""
        names = [name for name, _ in self.ctes]
        ctes = self.ctes[: names.index(upto) + 1] if upto else self.ctes
        return "WITH " + ",\n".join(f"{name} AS (\n{sql}\n)" for name, sql in ctes) + "\n"


def _map_columns(q: _Query) -> None:
    """Step 1: the canonical columns (``canon``), ids as text, the timestamp as DuckDB's double
    of it, and each item id the API would refuse (``bad_id``)."""
    resolved, types = q.resolved, q.types
    q.kinds = field_kinds(resolved, types, bigquery_kind)
    for name in ("session_id", "user_id", "event_type"):
        if q.kinds.get(name, "text") not in ("integer", "text"):
            column = resolved[name]
            raise SchemaError(
                f"{name} column {column!r} has type {types[column]}; the warehouse "
                "sessionization reads ids as STRING or INT64, whose text BigQuery and DuckDB "
                f"write alike: cast it in --sql (CAST(`{column}` AS STRING)), or use "
                "--sessionize-in local"
            )
    typed = [_text(q, name) for name in
             ("session_id", "user_id", "item_id", "category_id", "event_type")]  # fmt: skip
    typed.append(
        f"{quote_column(resolved['position'])} AS position"
        if resolved.has("position")
        else "CAST(NULL AS INT64) AS position"
    )
    typed += _time_parts(q)
    q.cte("typed", "SELECT " + ",\n  ".join(typed) + " FROM src")
    divisor = TS_UNITS[q.config.ts_unit]
    # DuckDB's epoch() of a TIMESTAMP WITH TIME ZONE: milliseconds / 1e3 + microseconds / 1e6
    # (the first division is exact: a whole number of milliseconds)
    micros = "MOD(MOD(tz_us, 1000) + 1000, 1000)"
    zoned = f"(tz_us - {micros}) / 1000 / 1000 + {micros} / 1000000"
    number = f"number / {divisor}" if divisor != 1 else "number"
    finite = "NOT IS_INF(raw_ts) AND NOT IS_NAN(raw_ts)"
    valid_id = (
        f"CHAR_LENGTH(item_id) <= {MAX_ID_CHARS} AND REGEXP_CONTAINS(item_id, r'{ID_PATTERN_RE2}')"
    )
    q.cte(
        "canon",
        "SELECT session_id, user_id, item_id, category_id, event_type, position,\n"
        f"  IF({finite}, scaled_ts, NULL) AS ts,\n"
        f"  ts_given AND NOT COALESCE({finite}, FALSE) AS ts_raw_bad,\n"
        f"  IF(item_id IS NULL OR ({valid_id}), NULL, item_id) AS bad_id\n"
        "FROM (SELECT *, COALESCE(time_s, zoned_s, number) AS raw_ts,\n"
        f"  COALESCE(time_s, zoned_s, {number}) AS scaled_ts\n"
        f"FROM (SELECT *, {zoned} AS zoned_s FROM typed))",
    )


def _text(q: _Query, name: str) -> str:
    """An id column as text without the spaces around it (as DuckDB's ``TRIM``); empty is NULL."""
    if not q.resolved.has(name):
        return f"CAST(NULL AS STRING) AS {name}"
    column = quote_column(q.resolved[name])
    if q.kinds[name] == "integer":
        return f"CAST({column} AS STRING) AS {name}"
    return f"NULLIF(TRIM({column}, {SPACES}), '') AS {name}"


def _time_parts(q: _Query) -> list[str]:
    """The timestamp's parts, whichever its type: ``time_s`` (seconds, exact), ``tz_us``
    (microseconds of a zoned time), ``number`` (a number, in ``ts_unit``), ``ts_given``."""
    null_parts = ["CAST(NULL AS FLOAT64) AS time_s", "CAST(NULL AS INT64) AS tz_us",
                  "CAST(NULL AS FLOAT64) AS number"]  # fmt: skip
    if not q.has_ts:
        return [*null_parts, "FALSE AS ts_given"]
    column = quote_column(q.resolved["ts"])
    kind, bigquery_type = q.kinds["ts"], q.types[q.resolved["ts"]].upper()
    parts = dict(zip(("time_s", "tz_us", "number"), null_parts, strict=True))
    if kind == "integer" or bigquery_type in ("FLOAT", "FLOAT64"):
        parts["number"] = f"CAST({column} AS FLOAT64) AS number"
    elif kind == "number":
        raise SchemaError(
            f"ts column {q.resolved['ts']!r} has type {bigquery_type}; the warehouse "
            "sessionization reads numeric timestamps as INT64 or FLOAT64: cast it in --sql, or "
            "use --sessionize-in local"
        )
    elif bigquery_type == "TIMESTAMP":
        parts["tz_us"] = f"UNIX_MICROS({column}) AS tz_us"
    elif bigquery_type == "DATETIME":
        parts["time_s"] = f"UNIX_MICROS(TIMESTAMP({column})) / 1000000 AS time_s"
    elif bigquery_type == "DATE":
        parts["time_s"] = f"CAST(UNIX_DATE({column}) * 86400 AS FLOAT64) AS time_s"
    else:  # text: a time BigQuery can read, or a number
        parts["tz_us"] = f"UNIX_MICROS(SAFE_CAST({column} AS TIMESTAMP)) AS tz_us"
        parts["number"] = f"SAFE_CAST({column} AS FLOAT64) AS number"
    return [*parts.values(), f"{column} IS NOT NULL AS ts_given"]


def _event_types(q: _Query) -> dict[str, str]:
    """Step 2: only the events of ``event_types`` (when set)."""
    wanted = q.config.event_types
    if not wanted:
        return {"event_type": "TRUE"}
    types = q.param("event_types", "ARRAY<STRING>", list(wanted))
    return {"event_type": f"COALESCE(event_type IN UNNEST({types}), FALSE)"}


def _unusable_rows(q: _Query) -> dict[str, str]:
    """Step 3: rows without a usable item id, session (or user), or order."""
    key = "session_id" if q.has_session else "user_id"
    return {
        "null_item": "item_id IS NOT NULL",
        "invalid_item_id": "bad_id IS NULL",
        f"null_{'session' if q.has_session else 'user'}": f"{key} IS NOT NULL",
        f"null_{'ts' if q.has_ts else 'position'}": (
            "(ts IS NOT NULL OR ts_raw_bad)" if q.has_ts else "position IS NOT NULL"
        ),
        "bad_ts": "NOT ts_raw_bad" if q.has_ts else "TRUE",
    }


def _time_window(q: _Query) -> dict[str, str]:
    """Step 4: only the events of ``start <= ts < end``."""
    bounds = [f"ts {op} {q.param(name, 'FLOAT64', epoch)}"
              for name, op, epoch in window_bounds(q.config.window)]  # fmt: skip
    return {"window": " AND ".join(bounds) or "TRUE"}


def _flag_rows(q: _Query, keep: dict[str, str]) -> None:
    """Steps 2-4 in one pass: each condition as a column (``keep_n``); the counts of the rows
    that fail each first (``pre``, over every row), and the rows kept (``kept``)."""
    names = [f"keep_{n}" for n in range(len(q.row_steps))]
    flags = ", ".join(f"{keep[s.step]} AS {n}" for s, n in zip(q.row_steps, names, strict=True))
    q.cte("flagged", f"SELECT *, {flags} FROM canon")
    failed_first = [" AND ".join([*names[:n], f"NOT {k}"]) for n, k in enumerate(names)]
    counts = [("input", "COUNT(*)"), ("types_found", f"COUNT(DISTINCT IF({names[0]}, "
              "event_type, NULL))"), ("bad_ids", "COUNT(DISTINCT bad_id)")]  # fmt: skip
    counts += [(s.step, f"COUNTIF({c})") for s, c in zip(q.row_steps, failed_first, strict=True)]
    q.cte(
        "pre",
        "SELECT " + _counts_array(counts) + " AS counts,\n"
        # '' stands for "no bad id" (an empty id is NULL by now): the first four sorted ids
        # hold the first three bad ones (no IGNORE NULLS beside DISTINCT: the emulator drops it)
        "  ARRAY_AGG(DISTINCT IFNULL(bad_id, '') ORDER BY IFNULL(bad_id, '') LIMIT 4)"
        " AS bad_examples,\n"
        "  APPROX_QUANTILES(ts, 2)[OFFSET(1)] AS median_ts\n"
        "FROM flagged",
    )
    key = "session_id" if q.has_session else "user_id"
    q.cte(
        "kept",
        f"SELECT {key} AS k, item_id, category_id, ts, position FROM flagged "
        f"WHERE {' AND '.join(names)}",
    )


def _counts_array(counts: list[tuple[str, str]]) -> str:
    """``[STRUCT('name' AS name, expr AS n), ...]``: counts as (name, n) pairs."""
    items = [f"STRUCT('{name}' AS name, {expr} AS n)" for name, expr in counts]
    return "[" + ",\n    ".join(items) + "]"


def _drop_duplicates(q: _Query) -> None:
    """Step 5: the same visit, item, timestamp and position count once."""
    if not q.config.drop_duplicates:
        q.cte("unique_events", "SELECT *, 0 AS duplicates FROM kept")
    else:
        q.cte(
            "unique_events",
            "SELECT k, item_id, MIN(category_id) AS category_id, ts, position, "
            "COUNT(*) - 1 AS duplicates FROM kept GROUP BY k, item_id, ts, position",
        )
    q.counts.append(("duplicates", "SUM(IF(copy_no = 1, duplicates, 0))"))


def _cut_sessions(q: _Query) -> None:
    """Step 6: sessions from the session id, or cut from each user's events at gaps longer
    than ``session_gap_s``; events numbered in order within each (``seq``)."""
    if q.has_session:
        q.cte("cut", "SELECT *, k AS session, FALSE AS first_of_user FROM unique_events")
    else:
        gap = q.param("gap", "FLOAT64", float(q.config.session_gap_s))
        by_user = f"OVER (PARTITION BY k ORDER BY {_ORDER}"
        q.cte(
            "gaps",
            f"SELECT *, IF(ts - LAG(ts) {by_user}) > {gap}, 1, 0) AS new_session "
            "FROM unique_events",
        )
        q.cte(
            "cut",
            "SELECT * EXCEPT (new_session, session_no), "
            r"CONCAT(k, '\x1f', CAST(session_no AS STRING)) AS session, "
            "session_no = 0 AS first_of_user FROM (\n"
            f"SELECT *, SUM(new_session) {by_user} ROWS UNBOUNDED PRECEDING) AS session_no "
            "FROM gaps)",
        )
    q.cte(
        "numbered",
        f"SELECT *, ROW_NUMBER() OVER (PARTITION BY session ORDER BY {_ORDER}) AS seq, "
        "CAST(NULL AS INT64) AS gone FROM cut",
    )
    q.count("events", "TRUE")
    q.count("sessions", "seq = 1")
    q.count("users", "seq = 1 AND first_of_user")


def _drop_short_dwell(q: _Query) -> None:
    """Step 7 (off by default): a view the next one follows within ``min_dwell_s``."""
    dwell = q.config.min_dwell_s
    if dwell <= 0 or not q.has_ts:
        return
    limit = q.param("min_dwell", "FLOAT64", float(dwell))
    q.mark("short_dwell", f"COALESCE(LEAD(ts) OVER ({_ALIVE} ORDER BY seq) - ts < {limit}, FALSE)")


def _keep_removed_views(q: _Query) -> None:
    """Step 12: every view as the visitor made it, in BigQuery's terms: each view's place among
    its session's views after step 7 (``raw_index``); the views a later step drops are
    returned with it (``removed``)."""
    q.cte(
        "raw",
        f"SELECT *, ROW_NUMBER() OVER ({_ALIVE} ORDER BY seq) - 1 AS raw_index FROM {q.last}",
    )


def _collapse_repeats(q: _Query, step: str = "repeats") -> None:
    """Step 8: A A B becomes A B."""
    if q.config.collapse_repeats:
        q.mark(step, f"item_id = LAG(item_id) OVER ({_ALIVE} ORDER BY seq)")


def _cap_long_sessions(q: _Query) -> None:
    """Step 9: a session keeps its last ``max_session_length`` views."""
    if not q.config.max_session_length:
        return
    cap = q.param("max_length", "INT64", q.config.max_session_length)
    q.mark(
        "long_sessions",
        f"ROW_NUMBER() OVER ({_ALIVE} ORDER BY seq DESC) > {cap}",
        f", COUNTIF(gone IS NULL) OVER (PARTITION BY session) > {cap} AS capped",
    )
    q.count("capped", "seq = 1 AND capped")


def _drop_short_sessions(q: _Query, step: str = "short_sessions") -> None:
    """Step 10: sessions shorter than ``min_session_length`` hold no pair."""
    length = q.param("min_length", "INT64", q.config.min_session_length)
    q.mark(step, f"COUNT(*) OVER ({_ALIVE}) < {length}")


def _remove_rare_items(q: _Query) -> None:
    """Step 11: items seen fewer than ``min_item_count`` times; the repeats and short
    sessions that this makes are dropped again (one pass)."""
    if q.config.min_item_count <= 1:
        return
    least = q.param("min_count", "INT64", q.config.min_item_count)
    by_item = "PARTITION BY item_id, gone IS NULL"
    rare = f"COUNT(*) OVER ({by_item}) < {least}"
    q.mark(
        "rare_items",
        rare,
        f", gone IS NULL AND {rare} AND ROW_NUMBER() OVER ({by_item} ORDER BY session, seq) = 1 "
        "AS first_of_rare_item",
    )
    q.count("rare_items_removed", "first_of_rare_item")
    _collapse_repeats(q, "repeats_after_rare")
    _drop_short_sessions(q, "short_sessions_after_rare")


def _finish(q: _Query, keep_removed: bool) -> str:
    """The last aggregation (see the module docstring) and the counts of steps 2-4."""
    q.cte(
        "fate",
        "SELECT *, COUNTIF(gone IS NULL) OVER (PARTITION BY session) > 0 AS kept_session, "
        f"MAX(gone) OVER (PARTITION BY session) AS last_gone FROM {q.last}",
    )
    views = "STRUCT(item_id AS item_id, category_id AS category_id)"
    columns = [
        "IF(copy_no = 0 AND kept_session, session, NULL) AS session",
        "MIN(IF(copy_no = 0 AND gone IS NULL, ts, NULL)) AS start",
        f"ARRAY_AGG(IF(copy_no = 0 AND gone IS NULL, {views}, NULL) IGNORE NULLS ORDER BY seq) "
        "AS views",
    ]
    if keep_removed:  # the rows steps 8-11 dropped (their codes come after step 7's)
        removed = "STRUCT(raw_index AS raw_index, item_id AS item_id)"
        columns.append(
            f"ARRAY_AGG(IF(copy_no = 0 AND gone > {STEP_CODES['short_dwell']}, {removed}, NULL) "
            "IGNORE NULLS ORDER BY seq) AS removed"
        )
    columns.append(_counts_array(q.counts) + " AS counts")
    q.cte(
        "grouped",
        "SELECT " + ",\n  ".join(columns) + f"\nFROM {q.last} CROSS JOIN UNNEST([0, 1]) AS "
        "copy_no\nGROUP BY 1",
    )
    removed = ["removed"] if keep_removed else []
    sessions = ["session", "start", "views", *removed, "IF(session IS NULL, counts, NULL) AS "
                "counts", "CAST(NULL AS ARRAY<STRING>) AS bad_examples",
                "CAST(NULL AS FLOAT64) AS median_ts"]  # fmt: skip
    pre = ["NULL", "NULL", "NULL", *(["NULL"] if keep_removed else []), "counts",
           "bad_examples", "median_ts"]  # fmt: skip
    return (
        q.with_clause()
        + f"SELECT {', '.join(sessions)} FROM grouped\n"
        + f"UNION ALL\nSELECT {', '.join(pre)} FROM pre\n"
    )
