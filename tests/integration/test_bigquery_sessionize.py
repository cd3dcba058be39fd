"""Sessionization inside BigQuery (--sessionize-in warehouse) gives what DuckDB gives.

The same events, in tables of the real emulator, are sessionized both ways through the same
BigQuerySource: read and cut by DuckDB (``local``), and cut by the one GoogleSQL query with
only the finished sessions read back (``warehouse``). The corpus, the item table, the report
and the held-out views must be equal, for events that exercise every step of the contract.
One dataset for the module: the emulator is slow to create tables in.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.bundle import Bundle
from engine.errors import ConfigError, DataError
from pipelines.cli import main
from pipelines.schema import ColumnMapping
from pipelines.sessionize import SessionizeConfig, sessionize
from pipelines.sources.bigquery import BigQuerySource
from pipelines.timewindow import TimeWindow

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
WINDOW = TimeWindow.parse("2024-03-01", "2024-03-04")
# ids the API would refuse (engine/ids.py), one of each kind, and valid ones that look odd
REFUSED = ["tab\there", "bell\x07", "del\x7f", "c1\x85", "zero\u200bwidth", "mark\u200e",
           "line\u2028sep", "iso\u2066late", "bom\ufeff", "\u00a0\u3000", "x" * 201]  # fmt: skip
ODD_BUT_VALID = ["Café 03", "商品-17", "a/b", "a|b", "🛒 cart", "y" * 200]


def _mixed_events() -> list[dict]:
    """Sessions with ids and time (micro-second stamps, out of order), built so that every
    step drops something: event types, unusable rows, the window, duplicates, short dwell,
    repeats, the length cap, short sessions and rare items (and what they bring together)."""
    rng = np.random.default_rng(7)
    items = [f"p{i}" for i in range(24)] + ODD_BUT_VALID
    weights = np.array([8.0] * 12 + [2.0] * 12 + [3.0] * len(ODD_BUT_VALID))
    rows: list[dict] = []

    def add(session, item, seconds, event="view", category="auto"):
        if category == "auto":  # most items one category, p5 two, p7 none
            category = None if item == "p7" else f"c{sum(map(ord, item or '')) % 4}"
            if item == "p5" and seconds % 2 < 1:
                category = "c9"
        ts = T0 + timedelta(seconds=seconds) if seconds is not None else None
        rows.append(dict(session_id=session, item_id=item, category_id=category,
                         event_type=event, ts=ts))  # fmt: skip

    for s in range(60):
        start = float(rng.uniform(0, 2.2 * 86400))
        t = start
        for _ in range(int(rng.integers(1, 9))):
            t += (
                float(rng.choice([0.0, 0.4, 1.5, 30.0, 95.25, 600.0]))
                + rng.integers(0, 10**6) / 1e6
            )
            add(f"s{s:02d}", str(rng.choice(items, p=weights / weights.sum())), t)

    def special(session, item, seconds, **kw):  # the newest sessions: held out, with their views
        add(session, item, None if seconds is None else 2.5 * 86400 + seconds, **kw)

    special("rep", "p1", 10.0)  # repeats: p1 p1 p2 p2 p2 p1
    special("rep", "p1", 20.0)
    for k in range(3):
        special("rep", "p2", 30.0 + k)
    special("rep", "p1", 60.0)
    for k in range(9):  # beyond the cap of 5
        special("long", f"p{k % 4}", 100.0 + 7 * k)
    special("dup", "p3", 200.0)  # the export wrote it twice
    special("dup", "p3", 200.0)
    special("dup", "p4", 300.0)
    special("dwell", "p8", 400.0)  # p8 -> p9 in 0.5 s: a click-through
    special("dwell", "p9", 400.5)
    special("dwell", "p10", 500.0)
    special("rare", "only-once", 600.0)  # a rare item between repeats: p11 only-once p11
    special("rare", "p11", 590.0)
    special("rare", "p11", 610.0)
    special("lone", "p12", 700.0)  # too short
    for k, item in enumerate(REFUSED):
        special("bad", item, 800.0 + k)
    special("bad", "p13", 900.0)
    special("bad", "p14", 901.0)
    special("types", "p15", 1000.0, event="cart")
    special("types", "p16", 1001.0, event=None)
    special("types", "p17", 1002.0)
    special("types", "p18", 1003.0)
    special(None, "p1", 1100.0)  # no session
    special("nots", "p1", None)  # no time
    special("nots", "", 1200.0)  # empty and blank item ids
    special("nots", "   ", 1201.0)
    special("nots", None, 1202.0)
    add("late", "p2", 5 * 86400.0)  # after --end
    add("late", "p3", 5 * 86400.0 + 1)
    add("early", "p2", -86400.0)  # before --start
    return rows


def _user_events() -> list[dict]:
    """No session id: sessions cut at gaps longer than 30 minutes, with timestamps as FLOAT64
    seconds, NaN and infinite ones among them."""
    base = T0.timestamp()
    rows = []
    for user, gaps in {
        "u1": [0, 60, 1800, 60],  # exactly 30 minutes: one session
        "u2": [0, 60, 1800.5, 60, 0.2, 7200],  # longer: cut, then a lone view
        "u3": [0, 5, 5, 5],
        "u4": [0],
    }.items():
        t = base
        for k, gap in enumerate(gaps):
            t += gap
            rows.append(dict(user_id=user, item_id=k % 3 + 10 * len(user), ts=t))
    rows += [dict(user_id="u5", item_id=1, ts=float("nan")),
             dict(user_id="u5", item_id=2, ts=float("inf")),
             dict(user_id=None, item_id=3, ts=base)]  # fmt: skip
    return rows


TABLES = {
    "mixed": (
        {"session_id": "STRING", "item_id": "STRING", "category_id": "STRING",
         "event_type": "STRING", "ts": "TIMESTAMP"},
        _mixed_events(),
    ),
    "users": ({"user_id": "STRING", "item_id": "INT64", "ts": "FLOAT64"}, _user_events()),
    "positions": (  # no timestamp: order by position (NULL last), sessions by id
        {"session_id": "INT64", "item_id": "INT64", "position": "INT64"},
        [dict(session_id=s, item_id=(s * p) % 7, position=p if p != 3 else None)
         for s in (3, 12, 100, 7) for p in range(5)],
    ),
    "civil": (  # DATETIME and DATE timestamps
        {"session_id": "STRING", "item_id": "STRING", "dt": "DATETIME", "day": "DATE"},
        [dict(session_id=f"c{s}", item_id=f"i{(s + k) % 5}",
              dt=(datetime(2024, 3, 1, 9) + timedelta(seconds=s * 7000 + k * 33.5)).isoformat(),
              day=(date(2024, 3, 1) + timedelta(days=(s + k) // 3)).isoformat())
         for s in range(6) for k in range(4)],
    ),
    "texts": (  # timestamps as text: times in three forms, numbers, unreadable
        {"session_id": "STRING", "item_id": "STRING", "ts": "STRING"},
        [dict(session_id="t1", item_id="a", ts="2024-03-01 10:00:00"),
         dict(session_id="t1", item_id="b", ts="2024-03-01T10:00:05Z"),
         dict(session_id="t1", item_id="c", ts="2024-03-01 10:00:10 UTC"),
         dict(session_id="t2", item_id="a", ts="1709287200"),
         dict(session_id="t2", item_id="c", ts="1709287260.5"),
         dict(session_id="t2", item_id="b", ts="garbage"),
         dict(session_id="t2", item_id="d", ts="")],
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def tables(bigquery_client) -> dict[str, str]:
    """The tables above in one dataset for the module: name -> project.dataset.table."""
    from google.cloud import bigquery

    dataset = bigquery_client.create_dataset(f"sessionize_{uuid.uuid4().hex[:8]}")
    ids = {}
    for name, (schema, rows) in TABLES.items():
        table_id = f"{bigquery_client.project}.{dataset.dataset_id}.{name}"
        table = bigquery.Table(table_id, [bigquery.SchemaField(c, t) for c, t in schema.items()])
        errors = bigquery_client.insert_rows(bigquery_client.create_table(table), rows)
        assert not errors, errors
        ids[name] = table_id
    yield ids
    bigquery_client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def _both(client, storage, table, mapping=None, share=0.0, sql=False, **rules):
    """(local, warehouse) results of the same source and rules; ``sql``: read the table with a
    query of its own (the window and event types are then not pushed into the source query,
    so the sessionization's own steps 2 and 4 see every event)."""
    config = SessionizeConfig(**rules)
    out = []
    for where in ("local", "warehouse"):
        source = BigQuerySource(
            client=client, table=None if sql else table,
            sql=f"SELECT * FROM `{table}`" if sql else None, window=config.window,
            mapping=mapping or ColumnMapping(), event_types=config.event_types,
            bqstorage_client=storage, sessionize_in=where,
        )  # fmt: skip
        con = duckdb.connect()
        try:
            out.append(sessionize(con, source.relation(con), mapping, config, share))
        finally:
            con.close()
    return out


def _assert_same(local, warehouse) -> None:
    a, b = local.corpus, warehouse.corpus
    for name in ("item_ids", "item_counts", "item_categories", "category_names", "indptr",
                 "indices"):  # fmt: skip
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    assert warehouse.items.equals(local.items)
    assert warehouse.report.to_dict() == local.report.to_dict()
    assert warehouse.raw_newest == local.raw_newest


def test_every_step_gives_the_same_sessions_and_report(
    bigquery_client, bigquery_storage_client, tables, caplog
):
    rules = dict(window=WINDOW, event_types=("view",), min_dwell_s=1.0, max_session_length=5,
                 min_item_count=2)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="pipelines.sessionize"):
        local, warehouse = _both(
            bigquery_client,
            bigquery_storage_client,
            tables["mixed"],
            share=0.2,
            sql=True,
            **rules,
        )
    _assert_same(local, warehouse)
    report = warehouse.report
    # the events do exercise every step (else equality would prove little)
    for step in ("event_type", "null_item", "invalid_item_id", "null_session", "null_ts",
                 "window", "duplicates", "short_dwell", "repeats", "long_sessions",
                 "short_sessions", "rare_items", "short_sessions_after_rare"):  # fmt: skip
        assert report.dropped(step) > 0, step
    # all but the one of spaces only, which trimming makes empty (a NULL item id)
    assert report.dropped("invalid_item_id") == len(REFUSED) - 1
    assert report.step("invalid_item_id").detail.startswith(f"{len(REFUSED) - 1} items: ")
    assert any("more than one category" in n for n in report.notes)
    assert (warehouse.corpus.item_categories < 0).any()  # p7 has no category
    assert set(ODD_BUT_VALID[:5]) <= set(warehouse.corpus.item_ids)
    held, indptr = warehouse.raw_newest, warehouse.corpus.indptr
    assert len(held) >= 5
    assert sum(map(len, held)) > indptr[-1] - indptr[-len(held) - 1]  # with views steps 8-11 drop
    assert caplog.text.count("item id the API would refuse") == 2  # once per path


def test_repeats_and_duplicates_kept_no_cap(bigquery_client, bigquery_storage_client, tables):
    local, warehouse = _both(  # the window and event types pushed into the table's query
        bigquery_client, bigquery_storage_client, tables["mixed"], share=0.5, window=WINDOW,
        event_types=("view",), collapse_repeats=False, drop_duplicates=False,
        max_session_length=0, min_item_count=3,
    )  # fmt: skip
    _assert_same(local, warehouse)
    steps = [s.step for s in warehouse.report.steps]
    assert "repeats" not in steps and "duplicates" not in steps and "long_sessions" not in steps
    assert "repeats_after_rare" not in steps and warehouse.report.dropped("rare_items") > 0


def test_sessions_cut_from_users_at_30_minutes(bigquery_client, bigquery_storage_client, tables):
    local, warehouse = _both(
        bigquery_client, bigquery_storage_client, tables["users"], share=0.3, min_dwell_s=0.5
    )
    _assert_same(local, warehouse)
    report = warehouse.report
    assert report.notes[0] == "6 sessions cut from 4 users at gaps > 1800 s"
    assert report.dropped("bad_ts") == 2 and report.dropped("null_user") == 1
    assert report.dropped("short_dwell") == 1
    assert warehouse.corpus.n_sessions == 4  # u2's last view and u4's: too short


@pytest.mark.parametrize(
    ("table", "mapping"),
    [("positions", None), ("civil", ColumnMapping(ts="dt")), ("civil", ColumnMapping(ts="day")),
     ("texts", None)],
)  # fmt: skip
def test_positions_civil_times_and_text_times(
    bigquery_client, bigquery_storage_client, tables, table, mapping
):
    local, warehouse = _both(
        bigquery_client, bigquery_storage_client, tables[table], mapping, share=0.5,
        min_dwell_s=10.0,
    )  # fmt: skip
    _assert_same(local, warehouse)
    if table == "texts":
        assert warehouse.report.dropped("bad_ts") == 2
    if table == "positions":
        assert "minimum dwell skipped" in warehouse.report.notes[-1]


def test_checks_on_the_way_say_the_same(bigquery_client, bigquery_storage_client, tables):
    def error(table="mixed", **rules):
        messages = []
        for where in ("local", "warehouse"):
            source = BigQuerySource(
                client=bigquery_client, sql=f"SELECT * FROM `{tables[table]}`",
                bqstorage_client=bigquery_storage_client, sessionize_in=where,
            )  # fmt: skip
            con = duckdb.connect()
            with pytest.raises((ConfigError, DataError)) as caught:
                sessionize(con, source.relation(con), None, SessionizeConfig(**rules))
            con.close()
            # the timestamps' median is approximate (and quoted) in both: not compared
            text = re.sub(r"median, \d+", "median, N", str(caught.value))
            messages.append(f"{type(caught.value).__name__}: {text}")
        assert messages[0] == messages[1]
        return messages[0]

    assert "matches no event; the events' types are view (" in error(event_types=("buy",))
    assert "look like seconds" in error("users", ts_unit="ms")
    assert "no session left" in error(min_session_length=50, max_session_length=60)
    assert "no session left" in error(window=TimeWindow.parse("2030-01-01", None))


def test_the_training_and_test_pairs_commands_run_it(
    bigquery_emulator, bigquery_client, tables, tmp_path: Path, capsys
):
    emulator = ["--bigquery-endpoint", bigquery_emulator.rest_url,
                "--bigquery-storage-endpoint", bigquery_emulator.grpc_address,
                "--project", bigquery_client.project]  # fmt: skip
    source = ["--source", "bigquery", "--table", tables["mixed"], "--event-types", "view"]
    pairs = {}
    for where in ("local", "warehouse"):
        out = tmp_path / f"{where}.parquet"
        rc = main(["test-pairs", *source, *emulator, "--sessionize-in", where,
                   "--holdout-share", "0.5", "--out", str(out)])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        pairs[where] = pq.read_table(out)
    assert pairs["warehouse"].num_rows > 20 and pairs["warehouse"].equals(pairs["local"])

    rc = main(["train", *source, *emulator, "--sessionize-in", "warehouse",
               "--out", str(tmp_path / "artifacts"), "--backend", "gensim", "--epochs", "1",
               "--threads", "1", "--dim", "4", "--min-sessions", "1", "--min-items", "1"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    manifest = Bundle.load(tmp_path / "artifacts").manifest
    assert manifest["source"]["sessionize_in"] == "warehouse"
    assert manifest["source"]["job_id"]
    report = manifest["sessionization"]["report"]
    assert report["sessions"] == manifest["counts"]["sessions"] > 30
    assert {s["step"] for s in report["steps"]} >= {"invalid_item_id", "short_sessions"}
