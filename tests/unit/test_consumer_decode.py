"""The consumer's pure step: a batch of records -> valid events and rejected records."""

from __future__ import annotations

import json

from kafka.consumer.fetcher import ConsumerRecord

from serving.consumer import split_batch


def record(value: bytes | None, offset: int) -> ConsumerRecord:
    return ConsumerRecord(
        "events", 0, 0, offset, 0, 0, b"k", value, [], None, -1, len(value or b""), -1
    )


GOOD = {"session_id": "s", "product_id": "p", "ts": 1_700_000_000}


def test_good_and_bad_records_are_separated_in_order():
    records = [
        record(json.dumps(GOOD).encode(), 0),
        record(b"{oops", 1),
        record(None, 2),  # a tombstone is not an event either
        record(json.dumps(GOOD | {"product_id": 7}).encode(), 3),
        record(json.dumps(GOOD | {"ts": "never"}).encode(), 4),
    ]
    events, rejected = split_batch(records)
    assert [e.product_id for e in events] == ["p", "7"]
    assert [r.record.offset for r in rejected] == [1, 2, 4]
    assert "not valid UTF-8 JSON" in rejected[0].error
    assert "empty message" in rejected[1].error
    assert "ts:" in rejected[2].error


def test_size_limit_applies_per_record():
    big = json.dumps(GOOD | {"event_id": "x" * 100}).encode()
    events, rejected = split_batch([record(big, 0)], max_bytes=100)
    assert events == []
    assert "over the 100-byte limit" in rejected[0].error


def test_empty_batch():
    assert split_batch([]) == ([], [])
