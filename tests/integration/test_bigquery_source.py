"""The BigQuery source end to end against the real emulator (local-bigquery)."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from engine.bundle import Bundle
from engine.errors import ConfigError, SourceError
from pipelines.cli import main
from pipelines.metadata import read_metadata
from pipelines.schema import ColumnMapping
from pipelines.sessionize import SessionizeConfig, sessionize
from pipelines.sources.bigquery import BigQuerySource, BigQueryTable
from pipelines.timewindow import TimeWindow
from tests.fixtures_bigquery import BIGQUERY_EXPECTED_SESSIONS

pytestmark = pytest.mark.integration

WINDOW = TimeWindow.parse("2024-01-01", "2024-01-03")


def _sessions(source, mapping=None, **rules):
    con = duckdb.connect()
    try:
        config = SessionizeConfig(window=source.window, **rules)
        result = sessionize(con, source.relation(con), mapping, config)
    finally:
        con.close()
    c = result.corpus
    return [[str(c.item_ids[i]) for i in c.session(s)] for s in range(c.n_sessions)], result


def test_table_with_time_window_and_event_types_through_the_storage_api(
    bigquery_client, bigquery_storage_client, bigquery_events_table, caplog
):
    source = BigQuerySource(
        client=bigquery_client,
        table=bigquery_events_table,
        window=WINDOW,
        event_types=("view",),
        bqstorage_client=bigquery_storage_client,
    )
    sql, params = source.build_query()
    # values travel as parameters; the SQL holds only validated, quoted names
    assert "2024" not in sql and "'view'" not in sql
    assert f"FROM `{bigquery_events_table}`" in sql
    assert {p.name for p in params} == {"start", "end", "event_types"}

    arrow = source.read_arrow()
    assert isinstance(arrow, pa.Table)
    # 13 rows: cart, two outside the window filtered in the query; the NULL-ts row kept
    assert arrow.num_rows == 10
    with caplog.at_level(logging.WARNING, logger="pipelines.sessionize"):
        sessions, result = _sessions(source)
    assert sessions == BIGQUERY_EXPECTED_SESSIONS
    report = result.report
    assert report.dropped("null_item") == 1 and report.dropped("null_ts") == 1
    assert "NULL or empty item id" in caplog.text and "NULL timestamp" in caplog.text
    assert report.step("short_sessions").sessions_dropped == 1  # u3's lone view
    assert source.describe()["rows"] == 10 and source.describe()["job_id"]


def test_rest_path_gives_the_same_sessions(bigquery_client, bigquery_events_table):
    source = BigQuerySource(
        client=bigquery_client,
        table=bigquery_events_table,
        window=WINDOW,
        event_types=("view",),
        use_storage_api=False,
    )
    sessions, _ = _sessions(source)
    assert sessions == BIGQUERY_EXPECTED_SESSIONS


def test_sql_file_with_parameters(bigquery_client, bigquery_storage_client, bigquery_events_table):
    sql = (
        "SELECT user_id AS visitor, item_id AS product, ts AS event_time\n"
        f"FROM `{bigquery_events_table}`\n"
        "WHERE event_type IN UNNEST(@event_types) AND ts >= @start AND ts < @end"
    )
    source = BigQuerySource(
        client=bigquery_client,
        sql=sql,
        sql_name="events.sql",
        window=WINDOW,
        event_types=("view",),
        bqstorage_client=bigquery_storage_client,
    )
    sessions, result = _sessions(source, ColumnMapping(user_id="visitor", item_id="product"))
    assert sessions == BIGQUERY_EXPECTED_SESSIONS
    assert result.report.columns == {"user_id": "visitor", "item_id": "product", "ts": "event_time"}
    assert source.describe()["sql"] == "events.sql"
    with pytest.raises(ConfigError, match="uses @start: give --start"):
        BigQuerySource(client=bigquery_client, sql=sql, event_types=("view",)).build_query()


def test_missing_table_and_dataset_are_clear_source_errors(bigquery_client, bigquery_dataset):
    missing = f"{bigquery_client.project}.{bigquery_dataset.dataset_id}.no_such_table"
    with pytest.raises(SourceError, match=r"no_such_table: not found .* check the project"):
        BigQuerySource(client=bigquery_client, table=missing, use_storage_api=False).read_arrow()
    sql = f"SELECT * FROM `{bigquery_client.project}.no_such_dataset.t`"
    with pytest.raises(SourceError, match="not found"):
        BigQuerySource(client=bigquery_client, sql=sql, use_storage_api=False).read_arrow()


def test_permission_denied_names_the_roles(bigquery_client):
    # The emulator answers 403 accessDenied for a project it does not host: a real Forbidden.
    source = BigQuerySource(
        client=bigquery_client,
        sql="SELECT * FROM `someone-else.shop.events`",
        use_storage_api=False,
    )
    with pytest.raises(SourceError, match=r"permission denied .*roles/bigquery.dataViewer"):
        source.read_arrow()


def test_products_table_as_metadata(bigquery_client, bigquery_dataset, bigquery_storage_client):
    from google.cloud import bigquery

    table_id = f"{bigquery_client.project}.{bigquery_dataset.dataset_id}.products"
    schema = [
        bigquery.SchemaField("product_id", "INT64"),
        bigquery.SchemaField("category", "STRING"),
        bigquery.SchemaField("brand", "STRING"),
        bigquery.SchemaField("price", "FLOAT64"),
    ]
    table = bigquery_client.create_table(bigquery.Table(table_id, schema=schema))
    rows = [(1, "c1", "acme", 9.5), (2, "c1", None, 3.0), (3, "c2", "bolt", None)]
    assert not bigquery_client.insert_rows(
        table,
        [dict(zip(["product_id", "category", "brand", "price"], r, strict=True)) for r in rows],
    )
    source = BigQueryTable(bigquery_client, table_id, bigquery_storage_client)
    con = duckdb.connect()
    meta, report = read_metadata(con, source.relation(con))
    con.close()
    assert meta.column("item_id").to_pylist() == ["1", "2", "3"]
    assert meta.column("brand").to_pylist() == ["acme", None, "bolt"]
    assert report.products == 3


def test_train_command_against_the_emulator(
    bigquery_emulator, bigquery_client, bigquery_events_table, tmp_path: Path, capsys
):
    def args(table: str, out: Path) -> list[str]:
        return [
            "train",
            *["--source", "bigquery", "--table", table],
            *["--start", "2024-01-01", "--end", "2024-01-03", "--event-types", "view"],
            *["--bigquery-endpoint", bigquery_emulator.rest_url],
            *["--bigquery-storage-endpoint", bigquery_emulator.grpc_address],
            *["--project", bigquery_client.project, "--out", str(out)],
            *["--backend", "gensim", "--epochs", "1", "--threads", "1", "--dim", "4"],
            *["--min-sessions", "1", "--min-items", "1"],  # three sessions: a wiring test
        ]

    out = tmp_path / "artifacts"
    rc = main(args(bigquery_events_table, out))
    err = capsys.readouterr().err
    assert rc == 0, err
    m = Bundle.load(out).manifest
    assert m["source"]["kind"] == "bigquery" and m["source"]["table"] == bigquery_events_table
    assert m["source"]["start"].startswith("2024-01-01")
    assert m["counts"]["sessions"] == len(BIGQUERY_EXPECTED_SESSIONS)

    bad = tmp_path / "bad"
    rc = main(args(bigquery_events_table.replace(".events", ".nothing"), bad))
    err = capsys.readouterr().err
    assert rc == 1 and "not found" in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert not bad.exists()
