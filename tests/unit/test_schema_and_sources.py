"""Column mapping, the canonical schema's errors, the local file source, the time window."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from engine.errors import ConfigError, SchemaError, SourceError
from pipelines.schema import ColumnMapping
from pipelines.sessionize import sessionize
from pipelines.sources.bigquery import parse_table_id
from pipelines.sources.local import LocalFileSource
from pipelines.timewindow import TimeWindow, parse_time


def test_defaults_and_aliases_are_found_and_explicit_names_win():
    cols = ["event_time", "event_type", "product_id", "category_id", "user_id", "user_session"]
    r = ColumnMapping().resolve(cols)
    assert r.describe() == {
        "session_id": "user_session",
        "user_id": "user_id",
        "item_id": "product_id",
        "category_id": "category_id",
        "event_type": "event_type",
        "ts": "event_time",
    }
    # case-insensitive match, explicit choice, and '' to ignore a column
    r = ColumnMapping(item_id="PRODUCT_ID", session_id="").resolve(cols)
    assert r["item_id"] == "product_id" and not r.has("session_id")


def test_one_column_cannot_play_two_roles():
    # 'ts' found by default for the timestamp; naming it as the position takes it away
    r = ColumnMapping(position="ts").resolve(["session_id", "item_id", "ts"])
    assert r["position"] == "ts" and not r.has("ts")
    with pytest.raises(SchemaError, match="mapped to both"):
        ColumnMapping(ts="x", position="x").resolve(["session_id", "item_id", "x"])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["session_id", "ts"], r"no item id column .* columns are session_id, ts; name it"),
        (["session_id", "item_id"], r"no order column.*columns are session_id, item_id"),
        (["item_id", "ts"], r"no session id and no user id column"),
        (["user_id", "item_id", "position"], r"cut from a user id with a timestamp"),
    ],
)
def test_unusable_column_sets_say_what_is_missing(columns, message):
    with pytest.raises(SchemaError, match=message):
        ColumnMapping().resolve(columns)


def test_missing_explicit_column_names_the_option():
    with pytest.raises(SchemaError, match=r"--event-type-col option"):
        ColumnMapping(event_type="kind").resolve(["session_id", "item_id", "ts"])


def _write_events(path, n=4, offset=0):
    table = pa.table(
        {
            "session_id": [f"s{k // 2 + offset}" for k in range(n)],
            "item_id": list(range(n)),
            "ts": [float(k) for k in range(n)],
        }
    )
    if str(path).endswith(".csv"):
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return table


def _read(source: LocalFileSource) -> int:
    con = duckdb.connect()
    result = sessionize(con, source.relation(con))
    con.close()
    return result.corpus.n_sessions


def test_local_source_reads_a_file_a_directory_and_a_glob(tmp_path):
    _write_events(tmp_path / "a.parquet")
    sub = tmp_path / "day2"
    sub.mkdir()
    _write_events(sub / "b.parquet", offset=10)
    (tmp_path / "_SUCCESS").write_text("")
    assert _read(LocalFileSource(str(tmp_path / "a.parquet"))) == 2
    assert _read(LocalFileSource(str(tmp_path))) == 4  # recursive, markers ignored
    assert _read(LocalFileSource(str(tmp_path / "**" / "*.parquet"))) == 4
    assert LocalFileSource(str(tmp_path)).describe()["files"] == 2


def test_local_source_reads_csv(tmp_path):
    _write_events(tmp_path / "e.csv")
    assert _read(LocalFileSource(str(tmp_path / "e.csv"))) == 2
    assert _read(LocalFileSource(str(tmp_path / "e.csv"), format="csv")) == 2


def test_local_source_errors_name_the_path(tmp_path):
    with pytest.raises(SourceError, match="does not exist; check --path"):
        LocalFileSource(str(tmp_path / "nope.parquet")).files()
    with pytest.raises(SourceError, match="no parquet or csv files in directory"):
        LocalFileSource(str(tmp_path)).files()
    with pytest.raises(SourceError, match="no files match"):
        LocalFileSource(str(tmp_path / "*.parquet")).files()
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="--source parquet or --source csv"):
        _read(LocalFileSource(str(tmp_path / "x.json")))
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(SourceError, match="cannot read parquet"):
        _read(LocalFileSource(str(tmp_path / "bad.parquet")))


def test_time_window_parsing():
    assert parse_time("2024-01-31") == datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_time("2024-01-31T12:00:00+02:00") == datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert parse_time("2024-01-31 12:00:00 UTC") == datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_time("2024-01-31T12:00Z").hour == 12
    with pytest.raises(ConfigError, match="--start 'yesterday' is not a date"):
        TimeWindow.parse("yesterday", None)
    with pytest.raises(ConfigError, match="is not before --end"):
        TimeWindow.parse("2024-02-01", "2024-01-01")


@pytest.mark.parametrize(
    "bad",
    ["p.d.t; DROP TABLE x", "p.d.`t`", "d", "p.d.t.u", "p.d.t'", "p.d.t OR 1=1", "P-.d.t"],
)
def test_bigquery_table_names_are_validated(bad):
    with pytest.raises(ConfigError, match="invalid BigQuery table"):
        parse_table_id(bad, "proj")


def test_bigquery_table_names_accept_real_forms():
    assert parse_table_id("my-proj.shop_1.events", None) == ("my-proj", "shop_1", "events")
    assert parse_table_id("shop.events_2024", "dflt") == ("dflt", "shop", "events_2024")
    assert parse_table_id("example.com:proj.ds.t", None)[0] == "example.com:proj"
