"""Sessionization rules on small hand-made tables, each with its count in the report."""

from __future__ import annotations

import json
import logging
import math

import duckdb
import pyarrow as pa
import pytest

from engine.categories import NO_CATEGORY
from engine.errors import ConfigError, DataError, SchemaError
from pipelines.schema import ColumnMapping
from pipelines.sessionize import SessionizeConfig, sessionize
from pipelines.timewindow import TimeWindow


def run(columns: dict, mapping: ColumnMapping | None = None, **config):
    con = duckdb.connect()
    try:
        return sessionize(
            con, con.from_arrow(pa.table(columns)), mapping, SessionizeConfig(**config)
        )
    finally:
        con.close()


def as_ids(result) -> list[list[str]]:
    c = result.corpus
    return [[str(c.item_ids[i]) for i in c.session(s)] for s in range(c.n_sessions)]


def events(rows: list[tuple], names: str) -> dict:
    """Column dict from rows; ``names`` like 'session_id item_id ts'."""
    cols = names.split()
    return {name: [r[k] for r in rows] for k, name in enumerate(cols)}


def test_sessions_from_session_id_are_time_ordered_whatever_the_row_order():
    rows = [("s1", 3, 30.0), ("s2", 9, 5.0), ("s1", 1, 10.0), ("s1", 2, 20.0), ("s2", 8, 1.0)]
    result = run(events(rows, "session_id item_id ts"))
    assert sorted(as_ids(result)) == [["1", "2", "3"], ["8", "9"]]
    # sessions are ordered by start time: s2 starts at t=1
    assert as_ids(result)[0] == ["8", "9"]
    assert result.report.input_events == 5
    assert result.report.events_dropped == 0
    assert result.report.sessions == 2 and result.report.events == 5


def test_item_ids_become_strings_and_vocabulary_is_ordered_by_count():
    rows = [("a", 7, 1.0), ("a", 5, 2.0), ("b", 5, 1.0), ("b", 7, 2.0), ("c", 5, 1.0), ("c", 6, 2)]
    result = run(events(rows, "session_id item_id ts"))
    assert list(result.corpus.item_ids) == ["5", "7", "6"]  # 3, 2, 1 views; ties by id
    assert list(result.corpus.item_counts) == [3, 2, 1]
    assert result.items.column("item_id").to_pylist() == ["5", "7", "6"]
    assert result.items.schema.field("item_id").type == pa.string()


def test_inactivity_gap_cuts_sessions_per_user():
    rows = [
        ("u1", "a", 0.0),
        ("u1", "b", 100.0),
        ("u1", "c", 100.0 + 1800.0),  # exactly 30 min: same session
        ("u1", "d", 100.0 + 1800.0 + 1801.0),  # longer than 30 min: new session
        ("u1", "e", 100.0 + 1800.0 + 1801.0 + 60.0),
        ("u2", "x", 50.0),
        ("u2", "y", 60.0),
    ]
    result = run(events(rows, "user_id item_id ts"))
    assert sorted(as_ids(result)) == [["a", "b", "c"], ["d", "e"], ["x", "y"]]
    assert any("3 sessions cut from 2 users" in n for n in result.report.notes)
    # configurable: with a 60 s gap, a-b and b-c split too
    short = run(events(rows, "user_id item_id ts"), session_gap_s=60.0, min_session_length=1)
    assert sorted(as_ids(short)) == [["a"], ["b"], ["c"], ["d", "e"], ["x", "y"]]


def test_session_id_wins_over_gaps():
    rows = [("s", "u", "a", 0.0), ("s", "u", "b", 10_000.0)]
    result = run(events(rows, "session_id user_id item_id ts"))
    assert as_ids(result) == [["a", "b"]]


def test_minimum_dwell_drops_quick_clicks_only_when_asked():
    rows = [("s", "a", 0.0), ("s", "b", 1.0), ("s", "c", 30.0), ("s", "d", 31.5)]
    cols = events(rows, "session_id item_id ts")
    assert as_ids(run(cols)) == [["a", "b", "c", "d"]]  # default: off
    result = run(cols, min_dwell_s=2.0)
    # a (next view 1 s later) and c (1.5 s later) are dropped; the last view always stays
    assert as_ids(result) == [["b", "d"]]
    assert result.report.dropped("short_dwell") == 2


def test_minimum_dwell_without_timestamps_is_skipped_with_a_note():
    rows = [("s", "a", 0), ("s", "b", 1)]
    result = run(events(rows, "session_id item_id position"), min_dwell_s=5.0)
    assert as_ids(result) == [["a", "b"]]
    assert any("minimum dwell skipped" in n for n in result.report.notes)


def test_immediate_repeats_collapse_but_returns_do_not():
    rows = [("s", "a", 1.0), ("s", "a", 2.0), ("s", "b", 3.0), ("s", "a", 4.0), ("s", "a", 5.0)]
    cols = events(rows, "session_id item_id ts")
    result = run(cols)
    assert as_ids(result) == [["a", "b", "a"]]
    assert result.report.dropped("repeats") == 2
    kept = run(cols, collapse_repeats=False)
    assert as_ids(kept) == [["a", "a", "b", "a", "a"]]
    assert kept.report.dropped("repeats") == 0


def test_duplicate_events_are_dropped_and_counted():
    rows = [
        ("s", "a", 1.0, "view"),
        ("s", "a", 1.0, "view"),  # exported twice
        ("s", "b", 2.0, "view"),
        ("s", "b", 2.0, "cart"),  # same visit, item and time: one event
        ("s", "c", 3.0, "view"),
    ]
    cols = events(rows, "session_id item_id ts event_type")
    result = run(cols, collapse_repeats=False)
    assert as_ids(result) == [["a", "b", "c"]]
    assert result.report.dropped("duplicates") == 2
    kept = run(cols, collapse_repeats=False, drop_duplicates=False)
    assert as_ids(kept) == [["a", "a", "b", "b", "c"]]


def test_long_sessions_keep_their_last_views():
    rows = [("s", f"i{k}", float(k)) for k in range(10)] + [("t", "x", 0.0), ("t", "y", 1.0)]
    result = run(events(rows, "session_id item_id ts"), max_session_length=4)
    assert sorted(as_ids(result)) == [["i6", "i7", "i8", "i9"], ["x", "y"]]
    step = result.report.step("long_sessions")
    assert step.events_dropped == 6
    assert "1 sessions capped" in step.detail


def test_short_sessions_are_dropped_with_their_count():
    rows = [("s", "a", 1.0), ("t", "b", 1.0), ("t", "c", 2.0), ("u", "d", 1.0)]
    result = run(events(rows, "session_id item_id ts"))
    assert as_ids(result) == [["b", "c"]]
    step = result.report.step("short_sessions")
    assert (step.events_dropped, step.sessions_dropped) == (2, 2)


def test_rare_items_are_removed_then_repeats_and_lengths_rechecked():
    rows = [
        ("s1", "a", 1.0),
        ("s1", "r", 2.0),  # rare: removing it makes a-a, collapsed, and s1 too short
        ("s1", "a", 3.0),
        ("s2", "a", 1.0),
        ("s2", "b", 2.0),
        ("s3", "b", 1.0),
        ("s3", "a", 2.0),
        ("s3", "q", 3.0),  # rare, at the end
    ]
    result = run(events(rows, "session_id item_id ts"), min_item_count=2)
    assert as_ids(result) == [["a", "b"], ["b", "a"]]
    assert result.report.dropped("rare_items") == 2
    assert "2 items removed" in result.report.step("rare_items").detail
    assert result.report.dropped("repeats_after_rare") == 1
    assert result.report.step("short_sessions_after_rare").sessions_dropped == 1
    assert set(result.corpus.item_ids) == {"a", "b"}


def test_unusable_rows_are_counted_and_warned_about(caplog):
    rows = [
        ("s", "a", 1.0),
        ("s", None, 2.0),
        ("s", "", 2.5),  # empty text id: as good as NULL
        ("s", "b", None),
        ("s", "c", math.nan),
        ("s", "d", math.inf),
        (None, "e", 3.0),
        ("s", "f", 4.0),
    ]
    with caplog.at_level(logging.WARNING, logger="pipelines.sessionize"):
        result = run(events(rows, "session_id item_id ts"))
    assert as_ids(result) == [["a", "f"]]
    report = result.report
    assert report.dropped("null_item") == 2
    assert report.dropped("null_ts") == 1
    assert report.dropped("bad_ts") == 2
    assert report.dropped("null_session") == 1
    text = caplog.text
    assert "2 events with NULL or empty item id" in text
    assert "1 events with NULL timestamp" in text
    assert "2 events with NaN, infinite or unreadable timestamp" in text


def test_item_ids_the_api_would_refuse_are_dropped_with_the_reason(caplog):
    rows = [
        ("s", "Café 03", 1.0),  # any script, a space inside: fine
        ("s", "商品/17|b", 2.0),
        ("s", "tab\there", 3.0),
        ("s", "zero\u200bwidth", 4.0),
        ("s", "line\u2028sep", 5.0),
        ("s", "\u3000", 5.5),  # only a (wide) space: trimmed to nothing, a NULL id
        ("s", "x" * 201, 6.0),
        ("s", "x" * 200, 7.0),
        ("s", "tab\there", 8.0),
    ]
    with caplog.at_level(logging.WARNING, logger="pipelines.sessionize"):
        result = run(events(rows, "session_id item_id ts"))
    assert as_ids(result) == [["Café 03", "商品/17|b", "x" * 200]]
    step = result.report.step("invalid_item_id")
    assert step.events_dropped == 5 and step.description == "item id the API would refuse"
    assert step.detail.startswith("4 items: ")
    assert "'tab\\there' contains U+0009 (a control character) at position 3" in step.detail
    assert "'line\\u2028sep' contains U+2028 (LINE SEPARATOR) at position 4" in step.detail
    assert "is 201 characters long; the limit is 200" in step.detail
    assert step.detail.endswith(" and 1 more")  # the zero-width space
    assert result.report.dropped("null_item") == 1
    assert "dropped 5 events with item id the API would refuse" in caplog.text
    assert "ids are 1-200 characters of any script" in caplog.text


def test_text_timestamps_parse_and_unreadable_ones_are_counted():
    rows = [
        ("s", "a", "2019-10-01 00:00:05 UTC"),
        ("s", "b", "2019-10-01T00:00:01Z"),
        ("s", "c", "2019-10-01 02:00:03+02:00"),  # 00:00:03 UTC
        ("s", "d", "not a time"),
    ]
    result = run(events(rows, "session_id item_id ts"))
    assert as_ids(result) == [["b", "c", "a"]]
    assert result.report.dropped("bad_ts") == 1


def test_millisecond_timestamps_need_the_unit_for_gaps():
    # 20 minutes apart in ms: one session with ts_unit=ms
    rows = [("u", "a", 0), ("u", "b", 20 * 60 * 1000)]
    assert as_ids(run(events(rows, "user_id item_id ts"), ts_unit="ms")) == [["a", "b"]]


@pytest.mark.parametrize(
    ("scale", "unit", "hint"),
    [(1000, "s", "--ts-unit ms"), (10**6, "s", "--ts-unit us"), (1, "ms", "--ts-unit s")],
)
def test_timestamps_in_another_unit_are_refused_with_the_option(scale, unit, hint):
    rows = [("u", "a", 1_700_000_000 * scale), ("u", "b", 1_700_000_060 * scale)]
    with pytest.raises(ConfigError, match=f"; use {hint}$"):
        run(events(rows, "user_id item_id ts"), ts_unit=unit)
    assert run(events(rows, "user_id item_id ts"), ts_unit=hint[-2:].strip()).report.sessions == 1


def test_position_orders_sessions_without_timestamps():
    rows = [(1, 2, 30), (1, 0, 10), (1, 1, 20), (2, 0, 5), (2, 1, 6)]
    result = run(events(rows, "session_id position item_id"))
    assert as_ids(result) == [["10", "20", "30"], ["5", "6"]]
    nulls = run(events([*rows, (2, None, 7)], "session_id position item_id"))
    assert nulls.report.dropped("null_position") == 1


def test_event_type_filter_and_time_window():
    day = 86400.0
    rows = [
        ("u", "a", "view", 0.0),
        ("u", "b", "cart", 10.0),
        ("u", "c", "view", 20.0),
        ("u", "d", "view", 40.0),
        ("u", "z", "view", 5 * day),
    ]
    window = TimeWindow.parse("1970-01-01", "1970-01-03")
    result = run(
        events(rows, "user_id item_id event_type ts"), event_types=("view",), window=window
    )
    assert as_ids(result) == [["a", "c", "d"]]
    assert result.report.dropped("event_type") == 1
    assert result.report.dropped("window") == 1


def test_events_without_a_type_are_counted_by_the_event_type_filter():
    # a NULL type is not a type asked for: dropped, and counted (not lost from the report)
    rows = [("s", "a", "view", 1.0), ("s", "b", None, 2.0), ("s", "c", "view", 3.0)]
    result = run(events(rows, "session_id item_id event_type ts"), event_types=("view",))
    assert as_ids(result) == [["a", "c"]]
    report = result.report
    assert report.dropped("event_type") == 1
    assert report.input_events - report.events_dropped == report.events == 2


def test_event_type_filter_needs_the_column():
    rows = [("s", "a", 1.0), ("s", "b", 2.0)]
    with pytest.raises(ConfigError, match="--event-type-col"):
        run(events(rows, "session_id item_id ts"), event_types=("view",))


def test_categories_most_frequent_wins_and_missing_is_no_category():
    rows = [
        ("s", "a", "c1", 1.0),
        ("s", "b", None, 2.0),
        ("t", "a", "c1", 1.0),
        ("t", "c", "c2", 2.0),
        ("u", "a", "c9", 1.0),  # a disagreement: c1 seen twice, c9 once
        ("u", "c", "c2", 2.0),
    ]
    result = run(events(rows, "session_id item_id category_id ts"))
    c = result.corpus
    cat = {str(c.item_ids[k]): c.item_categories[k] for k in range(c.n_items)}
    assert c.category_names[cat["a"]] == "c1"
    assert c.category_names[cat["c"]] == "c2"
    assert cat["b"] == NO_CATEGORY
    assert any("more than one category" in n for n in result.report.notes)


def test_report_table_and_manifest_form():
    rows = [("s", "a", 1.0), ("s", "a", 2.0), ("s", "b", 3.0), ("t", "c", 1.0)]
    report = run(events(rows, "session_id item_id ts")).report
    table = report.table()
    for text in ("input", "immediate repeat of the same item", "session shorter than 2", "result"):
        assert text in table
    json.dumps(report.to_dict())  # serialisable as it is
    assert report.to_dict()["steps"][0]["step"] == "null_item"
    assert "4 events into 1 sessions" in report.summary()


def test_empty_source_and_nothing_left_are_errors():
    with pytest.raises(DataError, match="no events"):
        run({"session_id": pa.array([], pa.string()), "item_id": [], "ts": []})
    with pytest.raises(DataError, match="no session left"):
        run(events([("s", "a", 1.0), ("t", "b", 1.0)], "session_id item_id ts"))


def test_missing_columns_list_the_available_ones():
    cols = {"sid": ["s"], "item": ["a"], "when": [1.0]}
    with pytest.raises(SchemaError, match="no item id column.*columns are sid, item, when"):
        run(cols)
    mapping = ColumnMapping(session_id="sid", item_id="item", ts="time")
    with pytest.raises(SchemaError, match=r"ts column 'time' not found; columns are sid, item"):
        run(cols, mapping)
    ok = run(
        {"sid": ["s", "s"], "item": ["a", "b"], "when": [1.0, 2.0]},
        ColumnMapping(session_id="sid", item_id="item", ts="when"),
    )
    assert as_ids(ok) == [["a", "b"]]
    assert ok.report.columns == {"session_id": "sid", "item_id": "item", "ts": "when"}


def test_wrong_types_are_schema_errors_naming_the_column():
    with pytest.raises(SchemaError, match=r"item_id column 'item_id' has type DOUBLE.*pandas"):
        run({"session_id": ["s"], "item_id": [1.0], "ts": [1.0]})
    with pytest.raises(SchemaError, match=r"ts column 'ts' has type BOOLEAN"):
        run({"session_id": ["s"], "item_id": [1], "ts": [True]})
    with pytest.raises(SchemaError, match=r"position column 'position' has type DOUBLE"):
        run({"session_id": ["s"], "item_id": [1], "position": [1.5]})


def test_config_is_validated():
    with pytest.raises(ConfigError, match="session gap"):
        SessionizeConfig(session_gap_s=0)
    with pytest.raises(ConfigError, match="min count"):
        SessionizeConfig(min_item_count=0)
    with pytest.raises(ConfigError, match="max session length"):
        SessionizeConfig(max_session_length=1, min_session_length=2)


def test_every_numbered_step_of_the_contract_has_its_own_function():
    import inspect
    import re

    from pipelines import sessionize as module

    numbered = {int(n) for n in re.findall(r"^(\d+)\. \*\*", module.__doc__, re.M)}
    assert numbered == set(range(1, 13))
    steps: dict[int, list[str]] = {}
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        m = re.match(r"Step (\d+)\b", inspect.getdoc(fn) or "")
        if m and fn.__module__ == module.__name__:
            steps.setdefault(int(m[1]), []).append(name)
    assert {n: len(f) for n, f in steps.items()} == dict.fromkeys(numbered, 1), steps
