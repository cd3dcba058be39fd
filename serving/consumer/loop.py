"""Kafka consumer that keeps the session store up to date (at least once, idempotent).

The loop is thin (faust's habit): poll a batch, decode it (:func:`split_batch`, pure), apply the
good events to the store in one call, send the malformed ones to the dead-letter topic, and only
then commit the batch's offsets. A crash anywhere before the commit means the batch is
delivered again, which changes nothing because the store's append is idempotent. When the store
is down the consumer rewinds to the batch start and tries again after a pause, still polling so
it keeps its partitions; a malformed event never stops the loop.

Run it inside the API process (``SessionEventConsumer(...).start_in_thread()``) or on its own
(``python -m serving.consumer``, serving/consumer/__main__.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
)
from kafka.structs import OffsetAndMetadata

from serving.errors import BrokerUnavailableError, MalformedEventError, StoreUnavailableError
from serving.events import MAX_EVENT_BYTES, ViewEvent, clamp_future, decode
from serving.metrics import LiveMetrics, default_metrics
from serving.session_store import SessionStore
from serving.settings import Settings, get_settings

log = logging.getLogger("nowrec.consumer")

#: Dead-letter headers: why the event was refused and where it came from.
HEADER_ERROR = "nowrec-error"
HEADER_SOURCE = "nowrec-source"  # "topic/partition/offset"
HEADER_SIZE = "nowrec-size"  # bytes of the original value
HEADER_TRUNCATED = "nowrec-truncated"  # "true" when the copy holds only the first bytes
_MAX_ERROR_CHARS = 1000


@dataclass(slots=True)
class Rejected:
    """A record that did not decode, with the reason that goes into the dead-letter header."""

    record: ConsumerRecord
    error: str


def split_batch(
    records: Iterable[ConsumerRecord], *, max_bytes: int = MAX_EVENT_BYTES
) -> tuple[list[ViewEvent], list[Rejected]]:
    """Decode a batch: the valid events in order, and the rejected records with their error.

    Pure: no I/O, no state. Any exception while decoding one record rejects that record only.
    """
    events: list[ViewEvent] = []
    rejected: list[Rejected] = []
    for record in records:
        try:
            events.append(decode(record.value, max_bytes=max_bytes))
        except MalformedEventError as exc:
            rejected.append(Rejected(record, str(exc)))
        except Exception as exc:  # a decoder bug must not stop the loop either
            rejected.append(Rejected(record, f"cannot decode ({type(exc).__name__}: {exc})"))
    return events, rejected


def _size(value: bytes | None) -> int:
    return 0 if value is None else len(value)


def dead_letter(
    rejected: Rejected, max_bytes: int
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """The dead-letter copy of a rejected record: ``(value, key, headers)``.

    Value and key are kept whole up to ``max_bytes`` each and cut to their first
    ``max_bytes`` beyond; the headers say why the record was refused, where it came from
    (``topic/partition/offset``), its value's size, and whether the copy was cut. Pure.
    """
    record = rejected.record
    value, key = record.value, record.key
    cut = _size(value) > max_bytes or _size(key) > max_bytes
    headers = [
        (HEADER_ERROR, rejected.error[:_MAX_ERROR_CHARS].encode()),
        (HEADER_SOURCE, f"{record.topic}/{record.partition}/{record.offset}".encode()),
        (HEADER_SIZE, str(_size(value)).encode()),
    ]
    if cut:
        headers.append((HEADER_TRUNCATED, b"true"))
        value = None if value is None else value[:max_bytes]
        key = None if key is None else key[:max_bytes]
    return value, key, headers


@dataclass(slots=True)
class ConsumerStats:
    """Running totals of one consumer (plain numbers, for tests, logs and readiness)."""

    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    clamped: int = 0
    batches: int = 0
    store_errors: int = 0
    commit_failures: int = 0


class SessionEventConsumer:
    """Applies the event topic to a session store.

    Args:
        store: where sessions live (memory for embedded, Redis for the standalone process).
        settings: topic, group, dead-letter topic, batch size and Kafka timeouts.
        metrics: Prometheus metrics to update (default: the process registry).

    Thread-safety: :meth:`run` owns the Kafka clients and runs in one thread; :meth:`stop`,
    :attr:`stats`, :attr:`lag` and :attr:`assigned` may be read from any thread.
    """

    def __init__(
        self,
        store: SessionStore,
        settings: Settings | None = None,
        *,
        metrics: LiveMetrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or get_settings()
        self.metrics = metrics or default_metrics()
        self.stats = ConsumerStats()
        self.assigned = threading.Event()  #: set once the group gave this consumer partitions
        self.error: BaseException | None = None  #: what ended the loop, if it crashed
        self._stop = threading.Event()
        self._lag: dict[TopicPartition, int] = {}
        self._applied: dict[TopicPartition, OffsetAndMetadata] = {}  # applied, maybe uncommitted
        self._applied_lock = threading.Lock()  # the rebalance listener runs on kafka's thread
        self._dead_letters: KafkaProducer | None = None
        self._thread: threading.Thread | None = None

    # -- public ----------------------------------------------------------------------------

    @property
    def lag(self) -> int | None:
        """Records not yet applied over the assigned partitions; ``None`` before it is known."""
        lag = dict(self._lag)
        return sum(lag.values()) if lag else None

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit, and return."""
        self._stop.set()

    def start_in_thread(self) -> threading.Thread:
        """Run the loop in a daemon thread (embedded mode); :meth:`stop` then ``join`` it."""
        self._thread = threading.Thread(target=self.run, name="nowrec-consumer", daemon=True)
        self._thread.start()
        return self._thread

    def run(self) -> None:
        """Consume until :meth:`stop`. Connection problems are retried, never raised."""
        consumer = self._connect()
        if consumer is None:
            return
        try:
            self._loop(consumer)
        except Exception as exc:
            # Only a bug gets here (every expected failure is handled in the loop); record it
            # so readiness can report it, and let the thread or process end loudly.
            self.error = exc
            log.exception("the consumer loop stopped on an unexpected error")
            raise
        finally:
            self._close(consumer)

    def _loop(self, consumer: KafkaConsumer) -> None:
        consumer.subscribe([self.settings.kafka_topic], listener=_AssignmentListener(self))
        while not self._stop.is_set():
            try:
                records = consumer.poll(
                    timeout_ms=self.settings.consumer_poll_timeout_ms,
                    max_records=self.settings.consumer_batch_size,
                )
            except KafkaError as exc:
                # The client recovers from broker trouble by itself; whatever it reports
                # here must not end the loop. Nothing of a failed poll was applied.
                log.warning("poll failed (%s); polling again", exc)
                self._stop.wait(self.settings.consumer_store_retry_s)
                continue
            if records:
                self._handle(consumer, records)
            self._update_lag(consumer)

    # -- the loop's steps ------------------------------------------------------------------

    def _connect(self) -> KafkaConsumer | None:
        s = self.settings
        delay = 0.5
        while not self._stop.is_set():
            try:
                return KafkaConsumer(
                    group_id=s.kafka_group_id,
                    client_id=f"nowrec-consumer-{s.kafka_group_id}",
                    max_poll_records=s.consumer_batch_size,
                    session_timeout_ms=s.kafka_session_timeout_ms,
                    heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
                    max_poll_interval_ms=s.kafka_max_poll_interval_ms,
                    **s.kafka_consumer_options(),
                )
            except KafkaError as exc:
                log.warning(
                    "cannot reach Kafka at %s (%s); retrying in %.1f s",
                    s.kafka_bootstrap_servers,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        return None

    def _handle(
        self, consumer: KafkaConsumer, records: Mapping[TopicPartition, Sequence[ConsumerRecord]]
    ) -> None:
        started = time.perf_counter()
        events, rejected = split_batch(
            (r for batch in records.values() for r in batch),
            max_bytes=self.settings.max_event_bytes,
        )
        # The producer was acknowledged long ago: refusing would lose the event; a clock
        # ahead of ours gets our time instead (counted, and logged once per batch).
        events, clamped = clamp_future(events, time.time(), self.settings.max_event_ahead_s)
        if clamped:
            log.warning(
                "%d events were stamped more than %g s after this consumer's clock; stored "
                "with the consumer's time instead (check the producers' clocks)",
                clamped, self.settings.max_event_ahead_s,
            )  # fmt: skip
        try:
            result = self.store.append(events)
        except StoreUnavailableError as exc:
            self.stats.store_errors += 1
            self.metrics.store_errors.labels(self.store.backend).inc()
            log.warning("session store unavailable, batch will be retried: %s", exc)
            self._retry_later(consumer, records)
            return
        try:
            self._send_dead_letters(rejected)
        except BrokerUnavailableError as exc:
            # The store already holds the batch; applying it again is harmless.
            log.warning("dead-letter topic unavailable, batch will be retried: %s", exc)
            self._retry_later(consumer, records)
            return
        self._commit(consumer, records)
        self.stats.applied += result.applied
        self.stats.duplicates += result.duplicates
        self.stats.dead_lettered += len(rejected)
        self.stats.clamped += clamped
        self.stats.batches += 1
        m = self.metrics
        m.events_applied.labels("kafka").inc(result.applied)
        m.events_duplicate.labels("kafka").inc(result.duplicates)
        m.events_dead_lettered.inc(len(rejected))
        m.events_clamped.inc(clamped)
        m.consumer_batches.inc()
        m.consumer_batch_seconds.observe(time.perf_counter() - started)

    def _send_dead_letters(self, rejected: Sequence[Rejected]) -> None:
        """Forward the rejected records, each as :func:`dead_letter` copies it; a copy the
        broker still finds too large goes again with its headers only, so no record can stop
        the partition. Raises BrokerUnavailableError only when the broker does not answer."""
        if not rejected:
            return
        try:
            producer = self._dead_letter_producer()
            too_large = self._produce(producer, rejected, self.settings.kafka_dead_letter_max_bytes)
            if too_large:
                log.warning(
                    "%d dead letters too large for the broker even when cut to %d bytes; "
                    "sending their headers only (lower NOWREC_KAFKA_DEAD_LETTER_MAX_BYTES)",
                    len(too_large), self.settings.kafka_dead_letter_max_bytes,
                )  # fmt: skip
                if self._produce(producer, too_large, 0):
                    raise KafkaError("the broker refused even an empty dead letter")
        except KafkaError as exc:
            raise BrokerUnavailableError(
                f"could not write {len(rejected)} malformed events to "
                f"{self.settings.kafka_dead_letter_topic!r}: {exc}"
            ) from exc
        for r in rejected:
            log.info(
                "dead-lettered %s/%s/%s (%d bytes): %s",
                r.record.topic, r.record.partition, r.record.offset, _size(r.record.value),
                r.error,
            )  # fmt: skip

    def _produce(
        self, producer: KafkaProducer, rejected: Sequence[Rejected], max_bytes: int
    ) -> list[Rejected]:
        """Send a copy of each of at most ``max_bytes``; return those refused as too large."""
        topic = self.settings.kafka_dead_letter_topic
        too_large: list[Rejected] = []
        futures = []
        for r in rejected:
            value, key, headers = dead_letter(r, max_bytes)
            try:
                futures.append((r, producer.send(topic, value=value, key=key, headers=headers)))
            except MessageSizeTooLargeError:  # over the producer's own max_request_size
                too_large.append(r)
        producer.flush(timeout=self.settings.kafka_request_timeout_ms / 1000)
        for r, future in futures:
            try:
                future.get(timeout=0)
            except MessageSizeTooLargeError:  # over the broker's (or the topic's) limit
                too_large.append(r)
        return too_large

    def _commit(
        self, consumer: KafkaConsumer, records: Mapping[TopicPartition, Sequence[ConsumerRecord]]
    ) -> None:
        # Called only once the batch is in the store. Asynchronous, so the next fetch overlaps
        # the commit's round trip; a commit that fails is covered by the next one (commits are
        # cumulative), and close() commits synchronously what was applied.
        offsets = {
            tp: OffsetAndMetadata(batch[-1].offset + 1, "", -1)
            for tp, batch in records.items()
            if batch
        }
        with self._applied_lock:
            self._applied.update(offsets)
        try:
            consumer.commit_async(offsets, callback=self._on_commit)
        except KafkaError as exc:
            self._on_commit(offsets, exc)

    def _on_commit(self, offsets: Any, response: Any) -> None:
        if isinstance(response, Exception):
            # The batch is in the store; if this member lost the partition, its new owner
            # reads it again from the last commit (harmless), else the next commit covers it.
            self.stats.commit_failures += 1
            self.metrics.consumer_commit_failures.inc()
            log.warning("offset commit failed (%s); the next commit covers it", response)

    def _forget_applied(self, partitions: Iterable[TopicPartition]) -> None:
        with self._applied_lock:
            for tp in partitions:
                self._applied.pop(tp, None)

    def _commit_applied(
        self, consumer: KafkaConsumer, partitions: Iterable[TopicPartition]
    ) -> None:
        """Commit synchronously what was applied on ``partitions`` (at shutdown)."""
        with self._applied_lock:
            offsets = {tp: self._applied.pop(tp) for tp in partitions if tp in self._applied}
        if not offsets:
            return
        try:
            consumer.commit(offsets, timeout_ms=self.settings.kafka_request_timeout_ms)
        except (CommitFailedError, KafkaError) as exc:
            self._on_commit(offsets, exc)

    def _retry_later(
        self, consumer: KafkaConsumer, records: Mapping[TopicPartition, Sequence[ConsumerRecord]]
    ) -> None:
        for tp, batch in records.items():
            if batch:
                # IllegalStateError: the partition moved to another member, which reads it
                # again from the last commit.
                with contextlib.suppress(IllegalStateError):
                    consumer.seek(tp, batch[0].offset)
        self._update_lag(consumer)
        self._stop.wait(self.settings.consumer_store_retry_s)

    def _update_lag(self, consumer: KafkaConsumer) -> None:
        # The high watermark comes with every fetch response, so this needs no request. (Tansu
        # 0.6 answers ListOffsets(latest) with the last batch's base offset + 1, which would
        # make end_offsets() under-report the lag.)
        lag: dict[TopicPartition, int] = {}
        for tp in consumer.assignment():
            try:
                end = consumer.highwater(tp)
                position = consumer.position(tp, timeout_ms=0) if end is not None else None
            except (IllegalStateError, KafkaError):
                continue
            if end is not None and position is not None:
                lag[tp] = max(0, end - position)
        for tp in self._lag.keys() - lag.keys():
            self._forget_lag(tp)
        for tp, value in lag.items():
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(value)
        self._lag = lag

    def _dead_letter_producer(self) -> KafkaProducer:
        if self._dead_letters is None:
            s = self.settings
            self._dead_letters = KafkaProducer(
                **s.kafka_client_options(),
                client_id=f"nowrec-dead-letters-{s.kafka_group_id}",
                acks="all",
                enable_idempotence=False,  # see serving/producer.py
                linger_ms=0,
                request_timeout_ms=s.kafka_request_timeout_ms,
                max_block_ms=s.kafka_request_timeout_ms,
                bootstrap_timeout_ms=s.kafka_request_timeout_ms,
            )
        return self._dead_letters

    def _close(self, consumer: KafkaConsumer) -> None:
        try:
            self._commit_applied(consumer, consumer.assignment())
        except Exception as exc:  # closing must not hide the reason we stopped
            log.warning("final offset commit: %s", exc)
        try:
            consumer.close(autocommit=False, timeout_ms=self.settings.kafka_request_timeout_ms)
        except Exception as exc:  # closing must not hide the reason we stopped
            log.warning("closing the Kafka consumer: %s", exc)
        if self._dead_letters is not None:
            try:
                self._dead_letters.close(timeout=self.settings.kafka_request_timeout_ms / 1000)
            except Exception as exc:
                log.warning("closing the dead-letter producer: %s", exc)
        for tp in self._lag:
            self._forget_lag(tp)
        self._lag = {}

    def _forget_lag(self, tp: TopicPartition) -> None:
        with contextlib.suppress(KeyError):
            self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))


class _AssignmentListener(ConsumerRebalanceListener):
    """Tells the consumer when the group has given it partitions (readiness, tests)."""

    def __init__(self, owner: SessionEventConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        # kafka-python runs this on its I/O thread, where a blocking commit is refused; what
        # was applied but not committed yet is read again by the next owner (harmless). Only
        # forget it here, so close() does not commit a stale offset for a partition it lost.
        self._owner._forget_applied(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned partitions: %s", sorted((tp.topic, tp.partition) for tp in assigned))
        self._owner.assigned.set()
