"""The consumer's pure step: a batch of records -> valid events and rejected records."""

from __future__ import annotations

import json

from kafka.consumer.fetcher import ConsumerRecord

from serving.consumer import (
    HEADER_ERROR,
    HEADER_SIZE,
    HEADER_SOURCE,
    HEADER_TRUNCATED,
    dead_letter,
    split_batch,
)


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


def test_dead_letter_copies_are_cut_to_the_limit_with_their_origin():
    (small,) = split_batch([record(b"{oops", 7)])[1]
    value, key, headers = dead_letter(small, max_bytes=100)
    h = dict(headers)
    assert (value, key) == (b"{oops", b"k") and HEADER_TRUNCATED not in h
    assert h[HEADER_SOURCE] == b"events/0/7" and h[HEADER_SIZE] == b"5"

    (big,) = split_batch([record(b"y" * 5000, 8)], max_bytes=4096)[1]
    value, key, headers = dead_letter(big, max_bytes=100)
    h = dict(headers)
    assert value == b"y" * 100 and key == b"k"
    assert h[HEADER_TRUNCATED] == b"true" and h[HEADER_SIZE] == b"5000"
    assert b"over the 4096-byte limit" in h[HEADER_ERROR]
    value, _, headers = dead_letter(big, max_bytes=0)  # headers only: always fits
    assert value == b"" and dict(headers)[HEADER_SOURCE] == b"events/0/8"
