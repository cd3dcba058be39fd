"""The event producer behind POST /v1/events (Kafka mode), against a real broker."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from serving.errors import BrokerUnavailableError
from serving.events import ViewEvent, decode
from serving.producer import EventProducer
from tests.fixtures_kafka import unique_name
from tests.process_support import free_port

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


def test_a_sessions_events_stay_in_one_partition_in_order(kafka_broker, request):
    topic = kafka_broker.create_topic(unique_name("events", request), partitions=4)
    sent = [ViewEvent(session_id=f"s{i % 6}", product_id=f"p{i}", ts=T0 + i) for i in range(120)]
    producer = EventProducer({"bootstrap_servers": [kafka_broker.bootstrap]}, topic)
    assert producer.send(sent) == 120
    producer.close()

    reader = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    reader.assign([TopicPartition(topic, p) for p in range(4)])
    records = [r for _, r in zip(range(120), reader, strict=False)]
    reader.close()
    partitions: dict[str, set[int]] = {}
    order: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode(r.value)
        assert r.key == event.session_id.encode()
        partitions.setdefault(event.session_id, set()).add(r.partition)
        order.setdefault(event.session_id, []).append(event.event_id)
    assert all(len(p) == 1 for p in partitions.values())
    assert len(set().union(*partitions.values())) > 1  # sessions spread over partitions
    for session, ids in order.items():
        assert ids == [e.event_id for e in sent if e.session_id == session]


def test_the_wire_carries_the_event_id(kafka_broker, kafka_topic):
    event = ViewEvent(session_id="s", product_id="p", ts=T0)
    producer = EventProducer({"bootstrap_servers": [kafka_broker.bootstrap]}, kafka_topic)
    producer.send([event])
    producer.close()
    reader = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    reader.assign([TopicPartition(kafka_topic, 0)])
    received = decode(next(reader).value)
    reader.close()
    assert received == event and received.event_id == event.event_id


def test_unreachable_broker_is_a_clear_error_not_a_hang():
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="NOWREC_KAFKA_BOOTSTRAP_SERVERS"):
        EventProducer({"bootstrap_servers": [f"127.0.0.1:{free_port()}"]}, "events", timeout_s=1.0)
    assert time.monotonic() - started < 10


def test_broker_gone_after_start_fails_the_send_within_its_timeout(fault_kafka_broker):
    topic = fault_kafka_broker.create_topic("events")
    producer = EventProducer(
        {"bootstrap_servers": [fault_kafka_broker.bootstrap]}, topic, timeout_s=1.0
    )
    producer.send([ViewEvent(session_id="s", product_id="p", ts=T0)])
    fault_kafka_broker.stop()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="did not acknowledge 1 events"):
        producer.send([ViewEvent(session_id="s", product_id="q", ts=T0 + 1)])
    assert time.monotonic() - started < 10
    producer.close(timeout_s=0)
