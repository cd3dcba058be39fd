"""Sessionization inside BigQuery (``--sessionize-in warehouse``).

The events stay in BigQuery: the one GoogleSQL query of :mod:`pipelines.sessionize_sql` cuts
them into sessions there, and only the finished sessions come back (one row each, its views
as an array), read as Arrow through the Storage Read API like every BigQuery read here. On the
training node DuckDB then builds the corpus from them with the same SQL as local
sessionization (:func:`pipelines.sessionize.finished_corpus`), and the report is assembled
from the query's counts with the same step names, wording, checks and warnings. So the same
events give the same :class:`~pipelines.sessionize.Sessions` either way (tested on the
emulator against the local path).

When to use it: the shop's events do not fit on the training node, or reading them all is the
slow part of a run. BigQuery then sorts and windows the events; the node receives the views of
the finished sessions (a fraction of the events: no other event types, user ids, timestamps
or dropped rows).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.ids import id_problem
from pipelines.schema import ColumnMapping
from pipelines.sessionize import (
    CAPPED_DETAIL,
    DWELL_SKIPPED,
    RARE_DETAIL,
    SessionizeConfig,
    SessionizeReport,
    Sessions,
    StepCount,
    check_event_types,
    check_ts_unit,
    finished_corpus,
    invalid_ids_detail,
    no_events_error,
    no_sessions_error,
    report_row_steps,
    sessions_note,
    step_description,
)
from pipelines.sessionize_sql import Parameter, SessionizeQuery, sessionize_query
from pipelines.sources.bigquery import query_arrow

if TYPE_CHECKING:
    from pipelines.sources.bigquery import BigQuerySource

log = logging.getLogger(__name__)


def query_parameters(parameters: list[Parameter]) -> list[Any]:
    """:class:`~pipelines.sessionize_sql.Parameter` as the google client's parameters."""
    from google.cloud import bigquery

    out: list[Any] = []
    for p in parameters:
        if p.type.startswith("ARRAY<"):
            out.append(bigquery.ArrayQueryParameter(p.name, p.type[6:-1], p.value))
        else:
            out.append(bigquery.ScalarQueryParameter(p.name, p.type, p.value))
    return out


@dataclass
class BigQueryEvents:
    """The events of a :class:`~pipelines.sources.bigquery.BigQuerySource`, left in BigQuery
    and sessionized there (what its ``relation`` gives with ``sessionize_in="warehouse"``;
    :func:`pipelines.sessionize.sessionize` calls :meth:`sessionize`)."""

    source: BigQuerySource

    def sessionize(
        self,
        con: duckdb.DuckDBPyConnection,
        mapping: ColumnMapping,
        config: SessionizeConfig,
        raw_newest_share: float,
    ) -> Sessions:
        """Run the query, read the finished sessions and build the corpus and report on
        ``con``; the arguments and errors are :func:`~pipelines.sessionize.sessionize`'s."""
        source = self.source
        source_sql, source_params = source.build_query()
        types = source.result_types(source_sql, source_params)
        resolved = mapping.resolve(list(types))
        log.info("columns: %s", ", ".join(f"{k} <- {v}" for k, v in resolved.describe().items()))
        query = sessionize_query(source_sql, types, resolved, config, raw_newest_share > 0)
        log.info("BigQuery: sessionizing %s in the warehouse", source.what)
        log.debug("BigQuery: %s", query.sql)
        params = source_params + query_parameters(query.parameters)
        arrow, stats = self._query(query.sql, params, f"{source.what}: sessionization")
        source.read_stats(stats)
        counts, sessions = _split(arrow)
        log.info(
            "BigQuery: %d finished sessions read as Arrow (%s MB)",
            sessions.num_rows, f"{sessions.nbytes / 1e6:,.1f}",
        )  # fmt: skip
        report = SessionizeReport(columns=resolved.describe())
        _check_rows(self, report, counts, query, config, params)
        _session_steps(report, counts, config, resolved.has("session_id"), resolved.has("ts"))
        if sessions.num_rows == 0:
            raise no_sessions_error(report)
        result, newest = finished_corpus(con, sessions, report, raw_newest_share)
        if raw_newest_share > 0:
            result = replace(result, raw_newest=every_view(sessions, newest))
        return result

    def _query(self, sql: str, params: list[Any], what: str) -> tuple[pa.Table, dict]:
        s = self.source
        return query_arrow(
            s.client, sql, params, what, bqstorage_client=s.bqstorage_client,
            use_storage_api=s.use_storage_api, log_sql=False,
        )  # fmt: skip


def _split(arrow: pa.Table) -> tuple[dict[str, Any], pa.Table]:
    """The counts (the rows whose session is NULL) and the finished sessions."""
    finished = pc.is_valid(arrow.column("session"))
    counts: dict[str, Any] = {}
    for row in arrow.filter(pc.invert(finished)).to_pylist():
        counts.update((c["name"], int(c["n"])) for c in row["counts"] or [])
        if "input" in {c["name"] for c in row["counts"] or []}:
            counts["bad_examples"] = [i for i in row["bad_examples"] or [] if i][:3]
            counts["median_ts"] = row["median_ts"]
    if "input" not in counts:
        raise DataError("BigQuery's sessionization returned no counts; run it again")
    return counts, arrow.filter(finished)


def _check_rows(events: BigQueryEvents, report, counts, query: SessionizeQuery, config,
                params) -> None:  # fmt: skip
    """Steps 2-4 into the report, after the checks local sessionization makes on the way:
    no events at all, timestamps in another unit, event types no event has."""
    report.input_events = counts["input"]
    if report.input_events == 0:
        raise no_events_error()
    median = counts.get("median_ts")
    if query.ts_kind in ("integer", "number") and median is not None:
        check_ts_unit(float(median), config.ts_unit)
    found = counts["types_found"]
    if config.event_types and found < len(config.event_types):
        listing, _ = events._query(query.event_types_sql, params, "the events' types")
        rows = [(r["event_type"], r["n"]) for r in listing.to_pylist()]
        check_event_types(rows, config.event_types, found)
    bad = {i: id_problem(i) or "breaks the id pattern" for i in counts["bad_examples"]}
    dropped = [counts[s.step] for s in query.row_steps]
    report_row_steps(report, query.row_steps, dropped, invalid_ids_detail(bad, counts["bad_ids"]))


def _session_steps(
    report: SessionizeReport,
    counts: dict[str, Any],
    config: SessionizeConfig,
    has_session: bool,
    has_ts: bool,
) -> None:
    """Steps 5-11 into the report, in the order and with the wording of local runs."""

    def step(name: str, detail: str = "") -> None:
        report.steps.append(
            StepCount(
                name,
                step_description(name, config),
                counts.get(f"events:{name}", 0),
                counts.get(f"sessions:{name}", 0),
                detail,
            )
        )

    if config.drop_duplicates:
        dropped = counts.get("duplicates", 0)
        report.steps.append(
            StepCount("duplicates", step_description("duplicates", config), dropped)
        )
    users = counts.get("users", 0)
    report.notes.append(sessions_note(counts.get("sessions", 0), users, config, has_session))
    log.info(report.notes[-1])
    if config.min_dwell_s > 0:
        if has_ts:
            step("short_dwell")
        else:
            report.notes.append(DWELL_SKIPPED)
            log.warning(DWELL_SKIPPED)
    if config.collapse_repeats:
        step("repeats")
    if config.max_session_length:
        step("long_sessions", CAPPED_DETAIL.format(counts.get("capped", 0)))
    step("short_sessions")
    if config.min_item_count > 1:
        step("rare_items", RARE_DETAIL.format(counts.get("rare_items_removed", 0)))
        if counts.get("events:rare_items", 0):
            if config.collapse_repeats:
                step("repeats_after_rare")
            step("short_sessions_after_rare")


def every_view(finished: pa.Table, keys: list[str]) -> list[list[str]]:
    """Step 12 for the sessions ``keys`` (in that order): every view the visitor made, the
    finished ``views`` with the ``removed`` ones put back in their places.

    Raises:
        DataError: a session is missing, or its removed views do not fit (a result that is
            not what the query writes).
    """
    place = pc.index_in(finished.column("session"), value_set=pa.array(keys, pa.string()))
    chosen = pc.is_valid(place)
    rows = finished.filter(chosen).to_pylist()
    order = place.filter(chosen).to_pylist()
    out: list[list[str] | None] = [None] * len(keys)
    for at, row in zip(order, rows, strict=True):
        views = [v["item_id"] for v in row["views"]]
        removed = row["removed"] or []
        raw: list[str | None] = [None] * (len(views) + len(removed))
        for r in removed:
            i = r["raw_index"]
            if not 0 <= i < len(raw) or raw[i] is not None:
                raise DataError(f"session {row['session']!r}: removed view at {i} does not fit")
            raw[i] = r["item_id"]
        rest = iter(views)
        out[at] = [v if v is not None else next(rest) for v in raw]
    if any(views is None for views in out):
        raise DataError("BigQuery's sessionization did not return every newest session")
    return out  # type: ignore[return-value]
