"""Events from BigQuery: a table with a time window, or a whole SQL file.

The query is GoogleSQL with query parameters (``@start``, ``@end``, ``@event_types``); values
are never formatted into the SQL text. The table name is validated and backtick-quoted, and
only columns named in the table's own schema are selected. Results are read as Arrow, through
the BigQuery Storage Read API when a read client is available, and handed to DuckDB as they
are, so sessionization runs the same SQL as for local files. With ``sessionize_in="warehouse"``
the events are not read: BigQuery cuts them into sessions itself, and only the finished
sessions are read (:mod:`pipelines.sources.bigquery_sessionize`).

The google client is created by the caller (the CLI, or a test with the emulator's client):
this module opens no connection of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import duckdb

from engine.errors import ConfigError, SourceError
from pipelines.schema import ColumnMapping
from pipelines.timewindow import TimeWindow

log = logging.getLogger(__name__)

# project (optionally domain-scoped, "example.com:proj"), dataset, table. Anything else (quotes,
# backticks, spaces, semicolons) is refused before it could reach the SQL text.
_TABLE_RE = re.compile(
    r"^(?:(?P<project>(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]*[a-z0-9])\.)?"
    r"(?P<dataset>[A-Za-z0-9_]{1,1024})\.(?P<table>[\w-]{1,1024})$"
)
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_NUMERIC_TS = {"INTEGER", "INT64", "FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC"}
_UNIT_SCALE = {"s": 1, "ms": 1_000, "us": 1_000_000}
#: Where a BigQuery source's events are cut into sessions (``--sessionize-in``).
SESSIONIZE_IN = ("local", "warehouse")


def parse_table_id(table: str, default_project: str | None) -> tuple[str, str, str]:
    """``project.dataset.table`` (project optional) -> its three parts, validated.

    Raises:
        ConfigError: the name is not a plain BigQuery table id.
    """
    m = _TABLE_RE.match(table.strip())
    if not m:
        raise ConfigError(
            f"invalid BigQuery table {table!r}: expected project.dataset.table "
            "(letters, digits, '_' and '-' only)"
        )
    project = m["project"] or default_project
    if not project:
        raise ConfigError(f"table {table!r} has no project; write project.dataset.table")
    return project, m["dataset"], m["table"]


def _check_table_id(table: str, client: Any) -> None:
    """The table id's form; and that it names a project, or the client has one (without a
    client yet, the project may still come with it: checked again once connected)."""
    if client is None:
        parse_table_id(table, "project-of-the-client")
    else:
        parse_table_id(table, getattr(client, "project", None))


@contextlib.contextmanager
def _quiet_arrow_deprecation():
    """google-cloud-bigquery warns (PendingDeprecationWarning) that it reads Storage API pages
    as Arrow itself; nothing a user can act on, and the result is what we want."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Retrieving Arrow record batches directly",
            category=PendingDeprecationWarning,
        )
        yield


def _bq_errors():
    from google.api_core import exceptions

    return exceptions


def _explain(exc: Exception, what: str) -> SourceError:
    """A google API error as a SourceError that says what to do."""
    ex = _bq_errors()
    message = getattr(exc, "message", None) or str(exc)
    message = str(message).strip().splitlines()[0]
    if isinstance(exc, ex.NotFound):
        return SourceError(
            f"{what}: not found ({message}); check the project, dataset and table names "
            "(--table project.dataset.table) and the --project option"
        )
    if isinstance(exc, ex.Forbidden):
        return SourceError(
            f"{what}: permission denied ({message}); the account needs "
            "roles/bigquery.dataViewer on the dataset and roles/bigquery.jobUser on the "
            "project (plus roles/bigquery.readSessionUser for the Storage Read API), or "
            "choose the billing project with --project"
        )
    if isinstance(exc, ex.BadRequest):
        return SourceError(f"{what}: the query was rejected ({message}); fix the SQL")
    return SourceError(f"{what}: {type(exc).__name__}: {message}")


def query_arrow(
    client, sql: str, params: list, what: str, *, bqstorage_client=None, use_storage_api=True,
    log_sql=True,
):  # fmt: skip
    """Run a parameterised GoogleSQL query; ``(result as a pyarrow.Table, job statistics)``.
    ``log_sql``: log the query's text (on one line) before it runs.

    Raises:
        SourceError: the API refused or failed the query (the message says what to do).
    """
    from google.cloud import bigquery

    if log_sql:
        log.info("BigQuery: %s", " ".join(sql.split()))
    try:
        job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
        job.result()
        with _quiet_arrow_deprecation():
            arrow = job.to_arrow(
                bqstorage_client=bqstorage_client,
                create_bqstorage_client=use_storage_api and bqstorage_client is None,
                progress_bar_type=None,
            )
    except Exception as exc:
        if isinstance(exc, _bq_errors().GoogleAPIError):
            raise _explain(exc, what) from exc
        raise
    log.info("BigQuery: %d rows read as Arrow", arrow.num_rows)
    return arrow, {
        "job_id": getattr(job, "job_id", None),
        "rows": arrow.num_rows,
        "bytes_processed": getattr(job, "total_bytes_processed", None),
    }


@dataclass
class BigQuerySource:
    """Events read from BigQuery.

    Args:
        client: a ``google.cloud.bigquery.Client`` (created at the edge, e.g. by the CLI);
            ``None`` until it is connected (``dataclasses.replace`` then checks again).
        table: ``project.dataset.table`` to read; with ``window`` on its timestamp column.
        sql: a full GoogleSQL query instead of ``table``; it may use the parameters ``@start``,
            ``@end`` (TIMESTAMP) and ``@event_types`` (ARRAY<STRING>), bound when it names them.
        sql_name: where ``sql`` came from (file name), for the manifest.
        window: start (inclusive) / end (exclusive) of the events to read.
        mapping: column mapping, to select only the needed columns and to find the timestamp
            and event-type columns for the filters.
        event_types: keep only these event types (pushed into the query).
        ts_unit: unit of a numeric timestamp column (``s``, ``ms``, ``us``).
        bqstorage_client: a ``BigQueryReadClient`` for the Storage Read API (e.g. the
            emulator's); ``None`` lets the library create one when ``use_storage_api``.
        use_storage_api: read results with the Storage Read API (fast, Arrow); ``False`` pages
            them through the REST API.
        sessionize_in: ``local`` reads the events and sessionizes them with DuckDB on this
            machine; ``warehouse`` sessionizes them inside BigQuery and reads only the finished
            sessions (``relation`` then gives
            :class:`~pipelines.sources.bigquery_sessionize.BigQueryEvents`).
    """

    client: Any
    table: str | None = None
    sql: str | None = None
    sql_name: str | None = None
    window: TimeWindow = field(default_factory=TimeWindow)
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    event_types: tuple[str, ...] = ()
    ts_unit: str = "s"
    bqstorage_client: Any = None
    use_storage_api: bool = True
    sessionize_in: str = "local"
    _stats: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if (self.table is None) == (self.sql is None):
            raise ConfigError("the BigQuery source needs exactly one of --table and --sql")
        if self.sessionize_in not in SESSIONIZE_IN:
            raise ConfigError(
                f"unknown --sessionize-in {self.sessionize_in!r}: use local (DuckDB on this "
                "machine reads every event) or warehouse (BigQuery cuts the sessions and only "
                "finished sessions are read)"
            )
        if self.table is not None:
            _check_table_id(self.table, self.client)
        if self.sql is not None and not self.sql.strip():
            raise ConfigError("the SQL file is empty")
        if self.ts_unit not in _UNIT_SCALE:
            raise ConfigError(f"ts unit must be s, ms or us, got {self.ts_unit!r}")

    # -- query building -------------------------------------------------------------------

    def build_query(self) -> tuple[str, list[Any]]:
        """The GoogleSQL text and its query parameters (values never enter the text)."""
        from google.cloud import bigquery

        if self.sql is not None:
            return self.sql, self._sql_file_parameters()
        project, dataset, table = parse_table_id(self.table, self.client.project)  # type: ignore[arg-type]
        table_id = f"{project}.{dataset}.{table}"
        what = f"BigQuery table {table_id}"
        try:
            schema = self.client.get_table(table_id).schema
        except Exception as exc:  # google.api_core errors: explained; others re-raised
            if isinstance(exc, _bq_errors().GoogleAPIError):
                raise _explain(exc, what) from exc
            raise
        types = {f.name: f.field_type.upper() for f in schema}
        resolved = self.mapping.resolve(list(types))
        columns = sorted(set(resolved.columns.values()), key=list(types).index)
        for c in columns:
            if not _COLUMN_RE.match(c):  # BigQuery column names always match; belt and braces
                raise SourceError(f"unexpected column name {c!r} in {table_id}")
        where: list[str] = []
        params: list[Any] = []
        if not self.window.is_open:
            if not resolved.has("ts"):
                raise ConfigError(
                    f"--start/--end need a timestamp column; {table_id} has none "
                    f"(columns: {', '.join(types)}); name it with --ts-col"
                )
            ts_col, ts_type = resolved["ts"], types[resolved["ts"]]
            bounds: list[str] = []
            for name, bound, op in (
                ("start", self.window.start, ">="),
                ("end", self.window.end, "<"),
            ):
                if bound is None:
                    continue
                param = self._time_parameter(name, bound, ts_type)
                if param is None:
                    log.info(
                        "timestamp column %s is %s: the time window is applied after reading",
                        ts_col,
                        ts_type,
                    )
                    continue
                bounds.append(f"`{ts_col}` {op} @{name}")
                params.append(param)
            if bounds:
                # Rows with a NULL (or NaN) timestamp are let through on purpose: sessionize
                # counts them and warns, instead of the query dropping them silently.
                unusable = f"`{ts_col}` IS NULL"
                if ts_type in ("FLOAT", "FLOAT64"):
                    unusable += f" OR IS_NAN(`{ts_col}`)"
                where.append(f"({unusable} OR ({' AND '.join(bounds)}))")
        if self.event_types and resolved.has("event_type"):
            where.append(f"CAST(`{resolved['event_type']}` AS STRING) IN UNNEST(@event_types)")
            params.append(
                bigquery.ArrayQueryParameter("event_types", "STRING", list(self.event_types))
            )
        select = ", ".join(f"`{c}`" for c in columns)
        sql = f"SELECT {select} FROM `{table_id}`"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def _time_parameter(self, name: str, bound, bq_type: str):
        from google.cloud import bigquery

        if bq_type == "TIMESTAMP":
            return bigquery.ScalarQueryParameter(name, "TIMESTAMP", bound)
        if bq_type == "DATETIME":
            return bigquery.ScalarQueryParameter(
                name, "DATETIME", bound.astimezone(UTC).replace(tzinfo=None)
            )
        if bq_type == "DATE":
            if bound.time() != bound.min.time():
                return None  # a DATE column cannot express a time of day; filter after reading
            return bigquery.ScalarQueryParameter(name, "DATE", bound.date())
        if bq_type in _NUMERIC_TS:
            value = bound.timestamp() * _UNIT_SCALE[self.ts_unit]
            if bq_type in ("INTEGER", "INT64"):
                # integer ts: ts >= v <=> ts >= ceil(v), and ts < v <=> ts < ceil(v)
                value = math.ceil(value)
                return bigquery.ScalarQueryParameter(name, "INT64", value)
            return bigquery.ScalarQueryParameter(name, "FLOAT64", float(value))
        return None

    def _sql_file_parameters(self) -> list[Any]:
        from google.cloud import bigquery

        text = self.sql or ""
        params: list[Any] = []
        for name, bound in (("start", self.window.start), ("end", self.window.end)):
            if re.search(rf"@{name}\b", text):
                if bound is None:
                    raise ConfigError(f"the SQL file uses @{name}: give --{name}")
                params.append(bigquery.ScalarQueryParameter(name, "TIMESTAMP", bound))
            elif bound is not None:
                log.info("the SQL file does not use @%s; --%s is applied after reading", name, name)
        if re.search(r"@event_types\b", text):
            if not self.event_types:
                raise ConfigError("the SQL file uses @event_types: give --event-types")
            params.append(
                bigquery.ArrayQueryParameter("event_types", "STRING", list(self.event_types))
            )
        return params

    # -- reading --------------------------------------------------------------------------

    @property
    def what(self) -> str:
        """The source in a few words, for logs and errors."""
        return f"BigQuery query on {self.table}" if self.table else "BigQuery SQL file query"

    def result_types(self, sql: str, params: list[Any]) -> dict[str, str]:
        """Column -> BigQuery type of the events query's result (``ARRAY<T>`` for a repeated
        column), from a dry run: nothing is read or billed."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            dry_run=True, use_query_cache=False, query_parameters=params
        )
        try:
            schema = self.client.query(sql, job_config=config).schema or []
        except Exception as exc:  # google.api_core errors: explained; others re-raised
            if isinstance(exc, _bq_errors().GoogleAPIError):
                raise _explain(exc, self.what) from exc
            raise
        return {
            f.name: f"ARRAY<{f.field_type}>" if f.mode == "REPEATED" else f.field_type
            for f in schema
        }

    def read_stats(self, stats: dict[str, Any]) -> None:
        """Keep a query job's statistics for :meth:`describe`."""
        self._stats = stats

    def read_arrow(self):
        """Run the query and return its result as a ``pyarrow.Table``."""
        sql, params = self.build_query()
        arrow, self._stats = query_arrow(
            self.client, sql, params, self.what,
            bqstorage_client=self.bqstorage_client, use_storage_api=self.use_storage_api,
        )  # fmt: skip
        return arrow

    def relation(self, con: duckdb.DuckDBPyConnection):
        """The events as a DuckDB relation; with ``sessionize_in="warehouse"``, the events left
        in BigQuery (:class:`~pipelines.sources.bigquery_sessionize.BigQueryEvents`), which
        :func:`pipelines.sessionize.sessionize` has BigQuery cut into sessions."""
        if self.sessionize_in == "warehouse":
            from pipelines.sources.bigquery_sessionize import BigQueryEvents

            return BigQueryEvents(self)
        return con.from_arrow(self.read_arrow())

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "bigquery", **self.window.describe()}
        if self.table:
            out["table"] = self.table
        if self.sql is not None:
            out["sql"] = self.sql_name or "<inline>"
            out["sql_sha256"] = hashlib.sha256(self.sql.encode()).hexdigest()
        if self.event_types:
            out["event_types"] = list(self.event_types)
        if self.sessionize_in != "local":
            out["sessionize_in"] = self.sessionize_in
        out.update({k: v for k, v in self._stats.items() if v is not None})
        return out


@dataclass
class BigQueryTable:
    """A whole BigQuery table (product metadata), read without a query job.

    Rows are listed straight from table storage (Storage Read API when a read client is
    available), which costs no query bytes.

    Args:
        client: a ``google.cloud.bigquery.Client`` (``None`` until connected).
        table: ``project.dataset.table``.
        bqstorage_client, use_storage_api: as for :class:`BigQuerySource`.
    """

    client: Any
    table: str
    bqstorage_client: Any = None
    use_storage_api: bool = True

    def __post_init__(self) -> None:
        _check_table_id(self.table, self.client)

    def read_arrow(self):
        project, dataset, table = parse_table_id(self.table, self.client.project)
        table_id = f"{project}.{dataset}.{table}"
        try:
            rows = self.client.list_rows(self.client.get_table(table_id))
            with _quiet_arrow_deprecation():
                return rows.to_arrow(
                    bqstorage_client=self.bqstorage_client,
                    create_bqstorage_client=self.use_storage_api and self.bqstorage_client is None,
                    progress_bar_type=None,
                )
        except Exception as exc:
            if isinstance(exc, _bq_errors().GoogleAPIError):
                raise _explain(exc, f"BigQuery table {table_id}") from exc
            raise

    def relation(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        return con.from_arrow(self.read_arrow())

    def describe(self) -> dict[str, Any]:
        return {"kind": "bigquery", "table": self.table}
