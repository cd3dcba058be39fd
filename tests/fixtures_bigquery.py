"""Fixtures for the real BigQuery emulator (see tests/conftest.py).

local-bigquery's pytest plugin (an entry point of the package) provides ``bigquery_emulator``
(REST + Storage Read API gRPC servers in this process), ``bigquery_client`` (the official
``google.cloud.bigquery.Client`` pointed at it) and ``bigquery_dataset`` (a fresh dataset per
test). The emulator runs on DuckDB, which cannot download its extensions here: they come from
the PyPI packages ``duckdb-extension-*`` (dev extras) and are copied into DuckDB's extension
directory before the emulator starts. This module adds that step, a Storage Read API client
for the emulator, and an events table.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

DUCKDB_EXTENSIONS = ("icu", "json", "parquet", "ducklake", "spatial")


def install_duckdb_extensions(target: Path | None = None) -> Path:
    """Copy the ``*.duckdb_extension`` files of the installed ``duckdb-extension-*`` packages
    into DuckDB's extension directory (``~/.duckdb/extensions/v<version>/<platform>``).

    Idempotent: a file already there with the same size is left alone; copies go through a
    temporary name, so a concurrent run never sees half a file.
    """
    version = f"v{duckdb.__version__}"
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    target = target or Path.home() / ".duckdb" / "extensions" / version / platform
    target.mkdir(parents=True, exist_ok=True)
    for name in DUCKDB_EXTENSIONS:
        spec = importlib.util.find_spec(f"duckdb_extension_{name}")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip(f"duckdb-extension-{name} is not installed (make install adds dev extras)")
        package = Path(next(iter(spec.submodule_search_locations)))
        files = [f for f in package.rglob("*.duckdb_extension") if version in f.parts]
        if not files:
            pytest.skip(f"duckdb-extension-{name} has no build for DuckDB {version}")
        for src in files:
            dest = target / src.name
            if dest.is_file() and dest.stat().st_size == src.stat().st_size:
                continue
            tmp = target / f".{src.name}.{os.getpid()}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
    return target


@pytest.fixture(scope="session")
def duckdb_extensions() -> Path:
    return install_duckdb_extensions()


@pytest.fixture(scope="session")
def bigquery_emulator(duckdb_extensions, bigquery_emulator):  # noqa: F811 - wraps the plugin's
    """The plugin's emulator, started only after the DuckDB extensions are in place."""
    return bigquery_emulator


@pytest.fixture(scope="session")
def bigquery_storage_client(bigquery_emulator):
    """A Storage Read API client talking plain gRPC to the emulator (never to Google)."""
    import grpc
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import (
        BigQueryReadGrpcTransport,
    )

    channel = grpc.insecure_channel(bigquery_emulator.grpc_address)
    yield BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    channel.close()


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Events of three users, no session id, deliberately out of order, with malformed rows.
# Expected sessions (30-minute cut, views only, 2024-01-01 <= ts < 2024-01-03):
#   u1: a b c  (10:00-10:10)   u1: d e  (12:00-12:05)   u2: b c  u3: f alone -> dropped
BIGQUERY_EVENTS = [
    ("u1", 3, "c1", "view", _t("2024-01-01 10:10:00")),
    ("u2", 2, "c1", "view", _t("2024-01-02 08:00:00")),
    ("u1", 1, "c1", "view", _t("2024-01-01 10:00:00")),
    ("u1", 5, "c2", "view", _t("2024-01-01 12:05:00")),
    ("u1", 2, "c1", "view", _t("2024-01-01 10:05:00")),
    ("u1", 2, "c1", "cart", _t("2024-01-01 10:06:00")),  # not a view
    ("u2", 3, "c1", "view", _t("2024-01-02 08:01:00")),
    ("u1", 4, "c2", "view", _t("2024-01-01 12:00:00")),
    ("u3", 6, "c2", "view", _t("2024-01-02 09:00:00")),
    ("u2", 9, "c9", "view", _t("2023-12-31 23:00:00")),  # before --start
    ("u2", 9, "c9", "view", _t("2024-01-05 00:00:00")),  # after --end
    ("u2", None, "c1", "view", _t("2024-01-02 08:00:30")),  # malformed: no item
    ("u3", 7, "c2", "view", None),  # malformed: no timestamp
]
BIGQUERY_EXPECTED_SESSIONS = [["1", "2", "3"], ["4", "5"], ["2", "3"]]


@pytest.fixture
def bigquery_events_table(bigquery_client, bigquery_dataset) -> str:
    """A table ``events`` with :data:`BIGQUERY_EVENTS`; returns ``project.dataset.events``."""
    from google.cloud import bigquery

    table_id = f"{bigquery_client.project}.{bigquery_dataset.dataset_id}.events"
    schema = [
        bigquery.SchemaField("user_id", "STRING"),
        bigquery.SchemaField("item_id", "INT64"),
        bigquery.SchemaField("category_id", "STRING"),
        bigquery.SchemaField("event_type", "STRING"),
        bigquery.SchemaField("ts", "TIMESTAMP"),
    ]
    table = bigquery_client.create_table(bigquery.Table(table_id, schema=schema))
    rows = [
        dict(zip(["user_id", "item_id", "category_id", "event_type", "ts"], r, strict=True))
        for r in BIGQUERY_EVENTS
    ]
    errors = bigquery_client.insert_rows(table, rows)
    assert not errors, errors
    return table_id
