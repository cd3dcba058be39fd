"""The session consumer against a real broker (Tansu) and a real redis-server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from engine.session import SessionEvent
from serving.consumer import (
    HEADER_ERROR,
    HEADER_SIZE,
    HEADER_SOURCE,
    HEADER_TRUNCATED,
    SessionEventConsumer,
)
from serving.errors import BrokerUnavailableError
from serving.events import ViewEvent
from serving.metrics import LiveMetrics
from serving.producer import EventProducer
from serving.session_store import MemorySessionStore, SessionStore
from serving.session_store.redis import RedisSessionStore
from serving.settings import Settings
from tests.fixtures_kafka import TansuBroker, unique_name
from tests.process_support import wait_until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


def settings_for(broker: TansuBroker, topic: str, **overrides) -> Settings:
    values = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_topic": topic,
        "kafka_group_id": unique_name("group"),
        "kafka_dead_letter_topic": f"{topic}.dead",
        "consumer_poll_timeout_ms": 100,
        "kafka_request_timeout_ms": 3000,
        "consumer_store_retry_s": 0.2,
        "consumer_metrics_port": 0,
        "session_max_items": 1000,
    }
    return Settings(**(values | overrides))


def events(n: int, *, sessions: int = 10, start: int = 0) -> list[ViewEvent]:
    return [
        ViewEvent(session_id=f"s{i % sessions}", product_id=f"p{i}", ts=T0 + i)
        for i in range(start, start + n)
    ]


def expected_sessions(evs: list[ViewEvent]) -> dict[str, list[SessionEvent]]:
    """What the store must hold after ``evs`` (sent at least once each), per session."""
    unique = {e.event_id: e for e in evs}.values()
    out: dict[str, list[SessionEvent]] = {}
    for e in sorted(unique, key=lambda e: e.ts):
        out.setdefault(e.session_id, []).append(SessionEvent(e.product_id, e.ts, e.event_type))
    return out


def store_content(store: SessionStore, session_ids) -> dict[str, list[SessionEvent]]:
    return {s: store.recent(s) for s in session_ids}


def assert_store_holds(store: SessionStore, expected: dict[str, list[SessionEvent]]) -> None:
    """The store's sessions equal ``expected``; on failure, say which events differ."""
    got = store_content(store, expected)
    missing = {s: [e for e in evs if e not in got[s]] for s, evs in expected.items()}
    extra = {s: [e for e in got[s] if e not in evs] for s, evs in expected.items()}
    missing = {s: v for s, v in missing.items() if v}
    extra = {s: v for s, v in extra.items() if v}
    assert not missing and not extra, f"missing {missing}; unexpected {extra}"
    assert got == expected  # and in time order


def total_visible(store: SessionStore, session_ids) -> int:
    return sum(len(store.recent(s)) for s in session_ids)


@contextlib.contextmanager
def running(consumer: SessionEventConsumer) -> Iterator[SessionEventConsumer]:
    thread = consumer.start_in_thread()
    try:
        wait_until(consumer.assigned.is_set, "the consumer group to assign partitions")
        yield consumer
    finally:
        consumer.stop()
        thread.join(20)
        assert not thread.is_alive(), "consumer thread did not stop"
        assert consumer.error is None, f"the consumer loop crashed: {consumer.error!r}"


def committed(broker: TansuBroker, group: str, topic: str) -> int | None:
    reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    try:
        return reader.committed(TopicPartition(topic, 0))
    finally:
        reader.close()


def gauge(metrics: LiveMetrics, name: str, **labels) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


@pytest.fixture
def metrics() -> LiveMetrics:
    return LiveMetrics(CollectorRegistry())


@pytest.fixture(params=["memory", pytest.param("redis")])
def store(request) -> Iterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore(max_items=1000)
    else:
        server = request.getfixturevalue("redis_server")
        prefix = request.getfixturevalue("redis_key_prefix")
        s = RedisSessionStore.from_url(server.url, key_prefix=prefix, max_items=1000)
        yield s
        s.close()


def test_produced_events_become_visible_and_are_committed(
    kafka_broker, kafka_topic, store, metrics
):
    settings = settings_for(kafka_broker, kafka_topic)
    sent = events(200)
    producer = EventProducer.from_settings(settings)
    consumer = SessionEventConsumer(store, settings, metrics=metrics)
    with running(consumer):
        assert producer.send(sent) == 200
        sessions = expected_sessions(sent)
        wait_until(lambda: total_visible(store, sessions) == 200, "200 events in the store")
        assert_store_holds(store, sessions)
        wait_until(lambda: consumer.lag == 0, "lag 0")
    producer.close()
    assert consumer.stats.applied == 200
    assert consumer.stats.duplicates == consumer.stats.dead_lettered == 0
    assert gauge(metrics, "nowrec_events_applied_total", source="kafka") == 200
    assert committed(kafka_broker, settings.kafka_group_id, kafka_topic) == 200


def test_redelivered_events_change_nothing(kafka_broker, kafka_topic, metrics):
    settings = settings_for(kafka_broker, kafka_topic)
    store = MemorySessionStore(max_items=1000)
    sent = events(50)
    producer = EventProducer.from_settings(settings)
    producer.send(sent)
    producer.send(sent[:20])  # a client retry: the same events (same ids) again
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        wait_until(lambda: consumer.stats.applied + consumer.stats.duplicates == 70, "70 records")
    producer.close()
    assert (consumer.stats.applied, consumer.stats.duplicates) == (50, 20)
    assert gauge(metrics, "nowrec_events_duplicate_total", source="kafka") == 20
    sessions = expected_sessions(sent)
    assert_store_holds(store, sessions)


def test_malformed_events_go_to_the_dead_letter_topic(kafka_broker, kafka_topic, metrics):
    settings = settings_for(kafka_broker, kafka_topic, max_event_bytes=512)
    store = MemorySessionStore()
    good = {"session_id": "s", "product_id": "p1", "ts": T0}
    bad = [
        b"{not json",
        json.dumps(good | {"v": 2}).encode(),
        json.dumps(good | {"pad": "x" * 600}).encode(),
        json.dumps(good | {"ts": "tomorrow"}).encode(),
    ]
    raw = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    sends = [raw.send(kafka_topic, json.dumps(good).encode(), key=b"s")]
    sends += [raw.send(kafka_topic, payload, key=b"bad") for payload in bad]
    sends.append(
        raw.send(kafka_topic, json.dumps(good | {"product_id": "p2", "ts": T0 + 1}).encode())
    )
    offsets = [f.get(10).offset for f in sends]
    raw.close()
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        wait_until(lambda: consumer.stats.applied == 2, "the two good events")
    assert [e.item_id for e in store.recent("s")] == ["p1", "p2"]
    assert consumer.stats.dead_lettered == 4
    assert gauge(metrics, "nowrec_events_dead_lettered_total") == 4
    assert committed(kafka_broker, settings.kafka_group_id, kafka_topic) == offsets[-1] + 1

    # The dead-letter topic was auto-created (Tansu: 4 partitions): read them all, in the
    # order of the source offsets.
    reader = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    dlq = settings.kafka_dead_letter_topic
    reader.assign([TopicPartition(dlq, p) for p in reader.partitions_for_topic(dlq)])
    dead = [d for _, d in zip(range(len(bad)), reader, strict=False)]
    reader.close()
    dead.sort(key=lambda d: int(dict(d.headers)[HEADER_SOURCE].rsplit(b"/", 1)[1]))
    assert [d.value for d in dead] == bad
    assert all(d.key == b"bad" for d in dead)
    headers = [dict(d.headers) for d in dead]
    errors = [h[HEADER_ERROR].decode() for h in headers]
    assert "not valid UTF-8 JSON" in errors[0]
    assert "unsupported schema version 2" in errors[1]
    assert "over the 512-byte limit" in errors[2]
    assert "ts:" in errors[3]
    assert [h[HEADER_SOURCE].decode() for h in headers] == [
        f"{kafka_topic}/0/{o}" for o in offsets[1:5]
    ]


def _dead_letters(broker: TansuBroker, topic: str, n: int) -> list:
    """The first ``n`` records of a dead-letter topic, over all its partitions."""
    reader = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        fetch_max_bytes=4 << 20,
        max_partition_fetch_bytes=4 << 20,
    )
    wait_until(lambda: reader.partitions_for_topic(topic), f"the topic {topic}")
    reader.assign([TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)])
    try:
        return [d for _, d in zip(range(n), reader, strict=False)]
    finally:
        reader.close()


def test_a_record_near_the_size_limit_is_dead_lettered_cut_and_committed(
    kafka_broker, kafka_topic, metrics
):
    """It used to stall the partition for good: the record plus the dead-letter headers was
    over the producer's limit, which the consumer took for an unavailable broker."""
    settings = settings_for(kafka_broker, kafka_topic)
    store = MemorySessionStore()
    good = {"session_id": "s", "product_id": "p1", "ts": T0}
    huge = b"x" * 1_048_500
    raw = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", max_request_size=2 << 20
    )
    offsets = [
        raw.send(kafka_topic, huge, key=b"big").get(10).offset,
        raw.send(kafka_topic, json.dumps(good).encode()).get(10).offset,
    ]
    raw.close()
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        wait_until(lambda: consumer.stats.applied == 1, "the event after the huge one")
        wait_until(
            lambda: (
                committed(kafka_broker, settings.kafka_group_id, kafka_topic) == offsets[-1] + 1
            ),
            "the commit past both records",
        )
    assert consumer.stats.dead_lettered == 1
    (dead,) = _dead_letters(kafka_broker, settings.kafka_dead_letter_topic, 1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == huge[: settings.kafka_dead_letter_max_bytes]
    assert dead.key == b"big"
    assert headers[HEADER_SOURCE] == f"{kafka_topic}/0/{offsets[0]}"
    assert headers[HEADER_SIZE] == "1048500"
    assert headers[HEADER_TRUNCATED] == "true"
    assert "over the 4096-byte limit" in headers[HEADER_ERROR]


def test_events_from_a_clock_ahead_are_stored_with_the_consumer_time(
    kafka_broker, kafka_topic, metrics
):
    """The producer was acknowledged, so the event is kept; stamped an hour ahead it would
    stay the session's newest event and hide every real view after it."""
    settings = settings_for(kafka_broker, kafka_topic)
    store = MemorySessionStore()
    now = time.time()
    ahead = ViewEvent(session_id="clock", product_id="ahead", ts=now + 3600)
    producer = EventProducer.from_settings(settings)
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        producer.send([ahead])
        wait_until(lambda: consumer.stats.applied == 1, "the event from the future")
        later = ViewEvent(session_id="clock", product_id="later", ts=time.time() + 1)
        producer.send([later])
        wait_until(lambda: consumer.stats.applied == 2, "the later event")
    producer.close()
    assert [e.item_id for e in store.recent("clock")] == ["ahead", "later"]
    assert store.recent("clock")[0].ts < now + 60
    assert consumer.stats.clamped == 1
    assert gauge(metrics, "nowrec_events_clamped_total") == 1


def test_store_outage_holds_events_in_kafka_and_lag_shows_it(
    kafka_broker, kafka_topic, fault_redis_server, metrics
):
    settings = settings_for(kafka_broker, kafka_topic)
    store = RedisSessionStore.from_url(fault_redis_server.url, max_items=1000)
    producer = EventProducer.from_settings(settings)
    lag = lambda: gauge(metrics, "nowrec_consumer_lag", topic=kafka_topic, partition="0")  # noqa: E731
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        fault_redis_server.stop()
        sent = events(300)
        producer.send(sent)
        wait_until(lambda: (lag() or 0) > 0, "a positive lag while Redis is down")
        assert consumer.stats.store_errors > 0
        assert consumer.stats.applied == 0
        fault_redis_server.start()
        sessions = expected_sessions(sent)
        wait_until(lambda: total_visible(store, sessions) == 300, "300 events after recovery")
        wait_until(lambda: lag() == 0, "lag back to 0")
        assert_store_holds(store, sessions)
        assert gauge(metrics, "nowrec_session_store_errors_total", backend="redis") > 0
    producer.close()
    assert committed(kafka_broker, settings.kafka_group_id, kafka_topic) == 300
    # Closed consumers drop their lag series rather than report a stale value.
    assert lag() is None


class SteadyProducer:
    """Produces numbered events in small batches from a thread, re-sending a batch the broker
    did not acknowledge (what a client of POST /v1/events does), until stopped."""

    def __init__(self, settings: Settings, batch: int = 20) -> None:
        self.producer = EventProducer.from_settings(settings)
        self.batch = batch
        self.sent: list[ViewEvent] = []
        self.resends = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SteadyProducer:
        self._thread.start()
        return self

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            batch = events(self.batch, sessions=25, start=i)
            while not self._stop.is_set():
                try:
                    self.producer.send(batch)
                    break
                except BrokerUnavailableError:
                    self.resends += 1
            else:
                return
            self.sent.extend(batch)
            i += self.batch
            time.sleep(0.01)

    def stop(self) -> list[ViewEvent]:
        self._stop.set()
        self._thread.join(30)
        self.producer.close(timeout_s=1)
        return self.sent


def test_broker_pause_mid_stream_loses_nothing(fault_kafka_broker, metrics):
    topic = fault_kafka_broker.create_topic(unique_name("events"))
    settings = settings_for(fault_kafka_broker, topic, kafka_request_timeout_ms=2000)
    store = MemorySessionStore(max_items=1000)
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        producer = SteadyProducer(settings).start()
        wait_until(lambda: consumer.stats.applied >= 100, "events flowing")
        fault_kafka_broker.pause()
        time.sleep(3)
        fault_kafka_broker.resume()
        applied_at_resume = consumer.stats.applied
        wait_until(lambda: consumer.stats.applied > applied_at_resume + 100, "flow resumed")
        sent = producer.stop()
        assert producer.resends > 0  # the pause hit the stream: a batch was not acknowledged
        sessions = expected_sessions(sent)
        wait_until(lambda: total_visible(store, sessions) == len(sent), "every acknowledged event")
    assert_store_holds(store, sessions)


def _send_until_acknowledged(producer: EventProducer, batch: list[ViewEvent]) -> None:
    """What a client of POST /v1/events does while the broker restarts: send again."""
    deadline = time.monotonic() + 60
    while True:
        try:
            producer.send(batch)
            return
        except BrokerUnavailableError:
            assert time.monotonic() < deadline, "the producer never reconnected"


def test_broker_restart_mid_stream_loses_nothing_acknowledged(durable_kafka_broker, metrics):
    """A broker crash (SIGKILL) and restart loses no acknowledged event, and the group's
    committed offset survives it too.

    The broker keeps its log in S3 (see tests/fixtures_kafka.py), as a production Kafka keeps
    it on disk. Events are acknowledged in three phases: consumed and committed before the
    crash; acknowledged but *not yet consumed* at the crash (the consumer is stopped: these
    live only in the broker's log, and an in-memory broker loses them); and sent around a
    second crash while the consumer runs. Every one must reach the store, and the consumer
    that joins after the first crash must resume at the committed offset (no replay).
    """
    broker = durable_kafka_broker
    topic = broker.create_topic(unique_name("events"))
    settings = settings_for(broker, topic, kafka_request_timeout_ms=2000)
    store = MemorySessionStore(max_items=1000)
    producer = EventProducer.from_settings(settings)
    consumed = events(200, sessions=25)
    pending = events(300, sessions=25, start=200)
    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        producer.send(consumed)
        wait_until(lambda: consumer.stats.applied == 200, "the first events")
    assert committed(broker, settings.kafka_group_id, topic) == 200
    producer.send(pending)  # acknowledged; nobody consumes them before the crash

    broker.restart(down_s=1.0)
    assert committed(broker, settings.kafka_group_id, topic) == 200, "offsets lost"

    with running(SessionEventConsumer(store, settings, metrics=metrics)) as consumer:
        wait_until(lambda: consumer.stats.applied == 300, "the events pending at the crash")
        assert consumer.stats.duplicates == 0  # resumed at the committed offset
        # a second crash, mid-stream: the consumer and a producer both ride it out
        around = events(100, sessions=25, start=500)
        _send_until_acknowledged(producer, around[:50])
        broker.restart(down_s=1.0)
        _send_until_acknowledged(producer, around[50:])
        expected = expected_sessions(consumed + pending + around)
        wait_until(lambda: total_visible(store, expected) == 600, "every event", timeout_s=60)
    producer.close()
    assert_store_holds(store, expected)
    assert committed(broker, settings.kafka_group_id, topic) == 600
