"""The live event schema: what is accepted, how it is normalised, what is refused and why."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import DataError
from serving.errors import MalformedEventError
from serving.events import (
    MAX_EVENT_BYTES,
    ViewEvent,
    ahead_of,
    clamp_future,
    decode,
    derive_event_id,
    encode,
)


def raw(**fields) -> bytes:
    return json.dumps(fields).encode()


GOOD = {"session_id": "s-1", "product_id": "p1", "ts": 1_700_000_000.25}


def test_minimal_event_gets_defaults_and_a_derived_id():
    event = decode(raw(**GOOD))
    assert (event.v, event.session_id, event.product_id) == (1, "s-1", "p1")
    assert event.ts == 1_700_000_000.25
    assert event.event_type == "view"
    assert event.event_id == derive_event_id("s-1", "p1", 1_700_000_000.25, "view")
    assert len(event.event_id) == 32


def test_derived_id_is_deterministic_and_depends_on_every_part():
    base = decode(raw(**GOOD)).event_id
    assert decode(raw(**GOOD)).event_id == base
    for change in (
        {"session_id": "s-2"},
        {"product_id": "p2"},
        {"ts": 1_700_000_000.5},
        {"event_type": "cart"},
    ):
        assert decode(raw(**(GOOD | change))).event_id != base


def test_client_event_id_is_kept():
    assert decode(raw(**GOOD, event_id="abc-1")).event_id == "abc-1"


def test_integer_ids_are_converted_to_strings():
    event = decode(raw(session_id=77, product_id=1234, ts=1_700_000_000))
    assert (event.session_id, event.product_id) == ("77", "1234")
    assert event.event_id == decode(raw(session_id="77", product_id="1234", ts=1.7e9)).event_id


@pytest.mark.parametrize(
    "ts",
    ["2023-11-14T22:13:20Z", "2023-11-14T23:13:20+01:00", "1700000000", 1_700_000_000],
)
def test_iso_and_numeric_timestamps_mean_the_same_instant(ts):
    event = decode(raw(session_id="s", product_id="p", ts=ts))
    assert event.ts == 1_700_000_000.0
    assert event.event_id == derive_event_id("s", "p", 1_700_000_000.0, "view")


def test_iso_with_microseconds_matches_float():
    a = decode(raw(session_id="s", product_id="p", ts="2023-11-14T22:13:20.123456Z"))
    b = decode(raw(session_id="s", product_id="p", ts=1_700_000_000.123456))
    assert a.ts == b.ts
    assert a.event_id == b.event_id


def test_timestamps_are_kept_to_the_microsecond_inside_the_range():
    assert decode(raw(**(GOOD | {"ts": 1_700_000_000.1234567}))).ts == 1_700_000_000.123457
    with pytest.raises(MalformedEventError, match="outside"):
        decode(raw(**(GOOD | {"ts": 4_102_444_799.9999999})))


def test_encode_then_decode_is_the_same_event():
    event = decode(raw(**GOOD, event_type="purchase"))
    assert decode(encode(event)) == event


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty message"),
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe\x00", "not valid UTF-8 JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (raw(product_id="p", ts=1.7e9), "session_id: required and missing"),
        (raw(session_id="s", ts=1.7e9), "product_id: required and missing"),
        (raw(session_id="s", product_id="p"), "ts: required and missing"),
        (raw(**GOOD, productId="x"), "productId: unknown field; remove it"),
        (raw(**GOOD, v=2), "unsupported schema version 2"),
        (raw(**GOOD, event_type="hover"), "event_type"),
        (raw(**(GOOD | {"session_id": "tab\there"})), "session_id: contains U+0009"),
        (raw(**(GOOD | {"product_id": "\u200bp"})), "product_id: contains U+200B (ZERO WIDTH"),
        (raw(**(GOOD | {"product_id": "\u3000 "})), "product_id: is only spaces; ids are"),
        (raw(**(GOOD | {"session_id": ""})), "session_id"),
        (raw(**(GOOD | {"session_id": "s" * 201})), "session_id"),
        (raw(**(GOOD | {"product_id": "p" * 201})), "product_id"),
        (raw(**(GOOD | {"product_id": True})), "not a boolean"),
        (raw(**(GOOD | {"product_id": 12.0})), "send 1234, not 1234.0"),
        (raw(**(GOOD | {"product_id": None})), "product_id"),
        (raw(**(GOOD | {"event_id": "x y"})), "event_id: may contain only"),
        # only event ids have that charset: a recommendation id says its own pattern
        (raw(**(GOOD | {"recommendation_id": "a b"})), "recommendation_id: String should match"),
        (raw(**(GOOD | {"ts": 1_700_000_000_000})), "looks like milliseconds"),
        (raw(**(GOOD | {"ts": 12})), "outside 2000-01-01..2100-01-01"),
        (raw(**(GOOD | {"ts": -1})), "outside"),
        (raw(**(GOOD | {"ts": "2023-11-14T22:13:20"})), "has no timezone"),
        (raw(**(GOOD | {"ts": "yesterday"})), "neither unix seconds nor ISO-8601"),
        (raw(**(GOOD | {"ts": "nan"})), "finite"),
        (raw(**(GOOD | {"ts": [1]})), "ts: must be unix seconds"),
        (raw(**(GOOD | {"ts": True})), "not a boolean"),
        (b'{"session_id": "s", "product_id": "p", "ts": NaN}', "finite"),
        (b'{"session_id": "s", "product_id": "p", "ts": 1e400}', "finite"),
    ],
)
def test_malformed_events_are_refused_with_the_reason(payload, message):
    with pytest.raises(MalformedEventError, match="malformed event") as info:
        decode(payload)
    assert message in str(info.value)
    assert isinstance(info.value, DataError)
    assert isinstance(info.value, ValueError)


def test_oversize_event_is_refused_before_parsing():
    big = raw(**GOOD, pad="x" * MAX_EVENT_BYTES)
    with pytest.raises(MalformedEventError, match=r"bytes is over the 4096-byte limit"):
        decode(big)
    assert decode(raw(**GOOD), max_bytes=100).product_id == "p1"
    with pytest.raises(MalformedEventError, match="over the 20-byte limit"):
        decode(raw(**GOOD), max_bytes=20)


def test_every_error_is_listed_in_one_message():
    with pytest.raises(MalformedEventError) as info:
        decode(raw(session_id="a\nb", product_id=True, ts="soon"))
    text = str(info.value)
    assert "session_id:" in text and "product_id:" in text and "ts:" in text


def test_model_validates_python_input_the_same_way():
    event = ViewEvent.model_validate(
        {"session_id": 5, "product_id": 6, "ts": "2023-11-14T22:13:20Z"}
    )
    assert (event.session_id, event.product_id, event.ts) == ("5", "6", 1_700_000_000.0)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(payload):
    try:
        event = decode(payload)
    except MalformedEventError:
        return
    assert isinstance(event, ViewEvent)


@given(
    session=st.from_regex(r"[A-Za-z0-9._:@=+/-]{1,20}", fullmatch=True),
    product=st.one_of(
        st.integers(0, 10**12), st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
    ),
    ts=st.floats(946_684_800, 4_102_444_799),
)
def test_valid_events_survive_encoding(session, product, ts):
    event = decode(raw(session_id=session, product_id=product, ts=ts))
    assert event.product_id == str(product)
    again = decode(encode(event))
    assert again == event
    # Without the id on the wire, the receiver derives the same one.
    assert (
        decode(raw(session_id=session, product_id=product, ts=event.ts)).event_id == event.event_id
    )


def test_events_from_the_future_are_found_and_clamped_keeping_their_id():
    now = 1_700_000_000.0
    events = [
        decode(raw(**GOOD | {"ts": now - 10})),
        decode(raw(**GOOD | {"product_id": "p2", "ts": now + 200})),  # within the margin
        decode(raw(**GOOD | {"product_id": "p3", "ts": now + 3600})),
    ]
    assert ahead_of(events, now, max_ahead_s=300) == [2]
    fixed, clamped = clamp_future(events, now, max_ahead_s=300)
    assert clamped == 1
    assert [e.ts for e in fixed] == [now - 10, now + 200, now]
    assert fixed[2].event_id == events[2].event_id  # a redelivery is still the same event
    assert clamp_future(events[:2], now, 300) == (events[:2], 0)


def test_outcomes_carry_recommendation_price_and_quantity():
    click = decode(raw(**GOOD, event_type="click", recommendation_id="18bd0a1f2c3e4d5f6a7b8c9d0e"))
    assert click.event_type == "click" and click.recommendation_id.startswith("18bd")
    bought = decode(raw(**GOOD, event_type="purchase", price=19.5, quantity=2))
    assert (bought.price, bought.quantity) == (19.5, 2)
    assert decode(raw(**GOOD, event_type="add_to_cart")).event_type == "cart"  # an alias
    assert decode(raw(**GOOD, event_type="cart", price=3)).price == 3.0


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"event_type": "purchase", "price": -1}, "price"),
        ({"event_type": "purchase", "quantity": 0}, "quantity"),
        ({"event_type": "purchase", "quantity": -2}, "quantity"),
        ({"event_type": "purchase", "price": False}, "price"),
        ({"event_type": "purchase", "quantity": 1.5}, "quantity"),
        ({"event_type": "click", "recommendation_id": "has space"}, "recommendation_id"),
    ],
)
def test_bad_outcome_fields_are_refused(fields, where):
    with pytest.raises(MalformedEventError, match=where):
        decode(raw(**GOOD | fields))
