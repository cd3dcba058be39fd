"""The GoogleSQL sessionization query as text, and what it relies on in DuckDB's behaviour.

That the query gives the same sessions as DuckDB is tested on the BigQuery emulator
(tests/integration/test_bigquery_sessionize.py); these are the fast checks around it.
"""

from __future__ import annotations

import inspect
import re
import unicodedata

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from engine.errors import ConfigError, DataError, SchemaError
from pipelines import sessionize_sql
from pipelines.schema import ColumnMapping
from pipelines.sessionize import SessionizeConfig
from pipelines.sessionize_sql import SPACES, sessionize_query
from pipelines.sources.bigquery import BigQuerySource
from pipelines.sources.bigquery_sessionize import BigQueryEvents, every_view
from pipelines.timewindow import TimeWindow

TYPES = {"user_id": "STRING", "item_id": "INTEGER", "event_type": "STRING", "ts": "TIMESTAMP"}


def _query(types=TYPES, mapping=None, **rules):
    resolved = (mapping or ColumnMapping()).resolve(list(types))
    return sessionize_query("SELECT * FROM `p.d.events`;", types, resolved,
                            SessionizeConfig(**rules), keep_removed=True)  # fmt: skip


def test_every_numbered_step_has_its_own_function():
    from pipelines import sessionize

    numbered = {int(n) for n in re.findall(r"^(\d+)\. \*\*", sessionize.__doc__, re.M)}
    steps: dict[int, list[str]] = {}
    for name, fn in inspect.getmembers(sessionize_sql, inspect.isfunction):
        m = re.match(r"Step (\d+)\b", inspect.getdoc(fn) or "")
        if m and fn.__module__ == sessionize_sql.__name__:
            steps.setdefault(int(m[1]), []).append(name)
    assert {n: len(f) for n, f in steps.items()} == dict.fromkeys(numbered, 1), steps


def test_values_travel_as_parameters_and_only_used_steps_are_written():
    q = _query(
        window=TimeWindow.parse("2024-01-01", "2024-02-01"), event_types=("view", "o'clock"),
        session_gap_s=1234.5, min_dwell_s=2.5, max_session_length=77, min_item_count=3,
    )  # fmt: skip
    values = {p.name: p.value for p in q.parameters}
    assert values["nowrec_event_types"] == ["view", "o'clock"]
    assert values["nowrec_gap"] == 1234.5 and values["nowrec_max_length"] == 77
    assert values["nowrec_start"] == TimeWindow.parse("2024-01-01", None).start_epoch
    for text in ("o'clock", "1234.5", "2.5", "77", "1704067200"):
        assert text not in q.sql, text
    assert q.sql.count("FROM `p.d.events`") == 1 and "`p.d.events`;" not in q.sql
    assert q.event_types_sql.endswith("LIMIT 21") and "grouped" not in q.event_types_sql
    for cte in ("short_dwell AS", "long_sessions AS", "rare_items AS", "gaps AS"):
        assert cte in q.sql

    plain = _query(collapse_repeats=False, max_session_length=0)
    for cte in ("short_dwell AS", "repeats AS", "long_sessions AS", "rare_items AS"):
        assert cte not in plain.sql
    assert {p.name for p in plain.parameters} == {"nowrec_gap", "nowrec_min_length"}


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ({**TYPES, "user_id": "FLOAT"}, "user_id column 'user_id' has type FLOAT; the warehouse "
         "sessionization reads ids as STRING or INT64"),
        ({**TYPES, "event_type": "TIMESTAMP"}, "CAST(`event_type` AS STRING)"),
        ({**TYPES, "ts": "NUMERIC"}, "reads numeric timestamps as INT64 or FLOAT64"),
        ({**TYPES, "ts": "TIME"}, "ts column 'ts' has type TIME; expected unix seconds"),
        ({**TYPES, "item_id": "BYTES"}, "item_id column 'item_id' has type BYTES; expected "
         "integers or text"),
        ({**TYPES, "item_id": "ARRAY<STRING>"}, "has type ARRAY<STRING>"),
    ],
)  # fmt: skip
def test_types_the_warehouse_cannot_read_as_duckdb_does_are_refused_with_the_fix(types, message):
    with pytest.raises(SchemaError) as caught:
        _query(types)
    assert message in str(caught.value)
    if "warehouse" in message:
        assert "--sessionize-in local" in str(caught.value)


def test_rules_needing_a_column_the_source_lacks_are_refused_first():
    with pytest.raises(ConfigError, match="--event-types needs an event type column"):
        _query({"session_id": "STRING", "item_id": "STRING", "ts": "TIMESTAMP"},
               event_types=("view",))  # fmt: skip
    with pytest.raises(ConfigError, match="--start/--end need a timestamp column"):
        _query({"session_id": "STRING", "item_id": "STRING", "position": "INT64"},
               window=TimeWindow.parse("2024-01-01", None))  # fmt: skip


def test_duckdb_trims_exactly_the_unicode_space_separators():
    # the query trims ids as DuckDB does: what it removes is what SPACES lists
    listed = {chr(int(h, 16)) for h in re.findall(r"\\u([0-9a-f]{4})", SPACES)}
    assert listed == {chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) == "Zs"}
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    table = pa.table({"x": [f"{c}a{c}" for c in chars]})
    trimmed = duckdb.connect().from_arrow(table).project("trim(x) = 'a' AS t").fetchnumpy()["t"]
    assert {c for c, t in zip(chars, trimmed, strict=True) if t} == listed


def test_duckdb_epoch_of_a_zoned_time_is_milliseconds_then_microseconds():
    # the query computes a TIMESTAMP's seconds as DuckDB's epoch() of TIMESTAMPTZ does
    micros = np.random.default_rng(0).integers(-(2 * 10**15), 4 * 10**15, 100_000)
    con = duckdb.connect()
    table = pa.table({"t": pa.array(micros, pa.timestamp("us", tz="UTC"))})
    got = con.from_arrow(table).project("epoch(t) AS e").fetchnumpy()["e"]
    ms, us = np.divmod(micros, 1000)
    np.testing.assert_array_equal(got, ms / 1e3 + us / 1e6)
    assert (got != micros / 1e6).any()  # the plain division would differ


def test_every_view_puts_the_removed_views_back_in_their_places():
    finished = pa.table({
        "session": ["a", "b", "c"],
        "views": [[{"item_id": "x"}, {"item_id": "y"}], [{"item_id": "z"}, {"item_id": "w"}],
                  [{"item_id": "v"}]],
        "removed": [[{"raw_index": 0, "item_id": "x"}, {"raw_index": 3, "item_id": "q"}], [],
                    [{"raw_index": 1, "item_id": "v"}]],
    })  # fmt: skip
    assert every_view(finished, ["c", "a"]) == [["v", "v"], ["x", "x", "y", "q"]]
    with pytest.raises(DataError, match="did not return every newest session"):
        every_view(finished, ["a", "missing"])
    broken = finished.set_column(
        2, "removed", pa.array([[{"raw_index": 9, "item_id": "x"}], [], []])
    )
    with pytest.raises(DataError, match="removed view at 9 does not fit"):
        every_view(broken, ["a"])


def test_the_source_chooses_where_and_says_so():
    with pytest.raises(ConfigError, match="unknown --sessionize-in 'bigquery': use local"):
        BigQuerySource(client=None, table="my-project.shop.events", sessionize_in="bigquery")
    source = BigQuerySource(client=None, table="my-project.shop.events", sessionize_in="warehouse")
    events = source.relation(duckdb.connect())  # nothing is read yet
    assert isinstance(events, BigQueryEvents) and events.source is source
    assert source.describe()["sessionize_in"] == "warehouse"
    assert (
        "sessionize_in"
        not in BigQuerySource(client=None, table="my-project.shop.events").describe()
    )
