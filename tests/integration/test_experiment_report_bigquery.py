"""The experiment report's one query on the BigQuery emulator gives what DuckDB gives."""

from __future__ import annotations

import pytest

from pipelines.experiment_query import ReportWindow, sessions_from_bigquery, sessions_from_logs
from tests.experiment_logs import EVENTS, EXPECTED, IMPRESSIONS, WINDOW, as_tuples, write_logs

pytestmark = pytest.mark.integration


def _tables(client, dataset) -> tuple[str, str]:
    from google.cloud import bigquery

    f = bigquery.SchemaField
    item = [f("product_id", "STRING"), f("position", "INT64"), f("score", "FLOAT64")]
    impressions = [
        f("v", "INT64"), f("type", "STRING"), f("recommendation_id", "STRING"),
        f("session_id", "STRING"), f("experiment", "STRING"), f("variant", "STRING"),
        f("probability", "FLOAT64"), f("model_version", "STRING"), f("strategy", "STRING"),
        f("route", "STRING"), f("product_id", "STRING"), f("ts", "FLOAT64"),
        f("items", "RECORD", mode="REPEATED", fields=item),
    ]  # fmt: skip
    events = [
        f("v", "INT64"), f("event_id", "STRING"), f("session_id", "STRING"),
        f("product_id", "STRING"), f("ts", "FLOAT64"), f("event_type", "STRING"),
        f("recommendation_id", "STRING"), f("price", "FLOAT64"), f("quantity", "INT64"),
    ]  # fmt: skip
    ids = []
    for name, schema, rows in (("impressions", impressions, IMPRESSIONS),
                               ("events", events, EVENTS)):  # fmt: skip
        table_id = f"{client.project}.{dataset.dataset_id}.{name}"
        table = client.create_table(bigquery.Table(table_id, schema=schema))
        errors = client.insert_rows(table, rows)
        assert not errors, errors
        ids.append(table_id)
    return ids[0], ids[1]


def test_the_same_query_gives_the_same_sessions_on_bigquery(
    bigquery_client, bigquery_dataset, bigquery_storage_client, tmp_path
):
    impressions, events = _tables(bigquery_client, bigquery_dataset)
    window = ReportWindow(**WINDOW)
    remote = sessions_from_bigquery(
        bigquery_client, impressions, events, "exp", window,
        bqstorage_client=bigquery_storage_client,
    )  # fmt: skip
    local = sessions_from_logs(write_logs(tmp_path / "logs"), "exp", window)
    assert as_tuples(remote) == as_tuples(local) == EXPECTED
