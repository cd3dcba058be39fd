"""Kafka producer of the API: events for ``POST /v1/events`` in Kafka mode, and product
updates for ``PUT /v1/products`` (serving/product_updates/topic.py).

Events are keyed by ``session_id``, so all events of a session land in one partition and are
read in order by one consumer; ``acks="all"`` so an acknowledged event survives a broker
failover. Every event is sent with its ``event_id`` (derived when the client gave none), so
an HTTP retry or a producer retry that writes the same event twice is applied once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import RecordMetadata

from serving.errors import BrokerUnavailableError
from serving.events import ViewEvent, encode
from serving.settings import Settings

log = logging.getLogger("nowrec.producer")


class EventProducer:
    """Sends validated events to the event topic; thread-safe (one per process is enough).

    Args:
        client_options: how to reach the brokers (``bootstrap_servers`` and the security
            settings: serving/settings.py ``kafka_client_options``).
        topic: the event topic the consumers read.
        timeout_s: longest wait for the broker to acknowledge a batch (and to connect).
        linger_ms: how long records wait to be batched with others from concurrent requests.
        client_id: how the broker names this client.
    """

    def __init__(
        self,
        client_options: Mapping[str, Any],
        topic: str,
        *,
        timeout_s: float = 5.0,
        linger_ms: int = 2,
        client_id: str = "nowrec-events",
    ) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self._where = client_options["bootstrap_servers"]
        timeout_ms = max(1000, int(timeout_s * 1000))
        try:
            self._producer = KafkaProducer(
                **client_options,
                client_id=client_id,
                acks="all",
                # Event ids make a re-sent event harmless and the store orders by ts, so
                # broker-side idempotence adds nothing here; without it the producer also
                # survives a broker that lost its producer state (a restarted Tansu answers
                # InitProducerId with UnknownError and an idempotent producer never recovers).
                enable_idempotence=False,
                linger_ms=linger_ms,
                request_timeout_ms=timeout_ms,
                delivery_timeout_ms=timeout_ms + linger_ms,
                max_block_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
            )
        except KafkaError as exc:
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self._where} ({exc}); check "
                "NOWREC_KAFKA_BOOTSTRAP_SERVERS (and NOWREC_KAFKA_SECURITY_PROTOCOL)"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> EventProducer:
        """A producer for ``settings.kafka_topic`` on ``settings.kafka_bootstrap_servers``."""
        return cls(
            settings.kafka_client_options(),
            settings.kafka_topic,
            timeout_s=settings.kafka_request_timeout_ms / 1000,
        )

    def send(self, events: Sequence[ViewEvent]) -> int:
        """Send a batch and wait until the broker acknowledged every event.

        Returns:
            the number of events acknowledged (all of them).

        Raises:
            BrokerUnavailableError: some events were not acknowledged in ``timeout_s``; sending
                the whole batch again is safe (events are idempotent).
        """
        self.send_records([(e.session_id.encode(), encode(e)) for e in events], "events")
        return len(events)

    def send_records(
        self, records: Sequence[tuple[bytes, bytes]], what: str = "records"
    ) -> list[RecordMetadata]:
        """Send ``(key, value)`` records and wait until the broker acknowledged every one.

        Returns:
            where each record was written (partition and offset), in order.

        Raises:
            BrokerUnavailableError: some were not acknowledged in ``timeout_s``; the message
                says ``what`` was not sent.
        """
        deadline = time.monotonic() + self.timeout_s
        try:
            futures = [self._producer.send(self.topic, value=v, key=k) for k, v in records]
            return [f.get(timeout=max(0.0, deadline - time.monotonic())) for f in futures]
        except KafkaError as exc:
            raise BrokerUnavailableError(
                f"Kafka at {self._where} did not acknowledge {len(records)} {what} on "
                f"{self.topic!r} ({type(exc).__name__}: {exc}); retry the request"
            ) from exc

    def close(self, timeout_s: float | None = None) -> None:
        """Send what is buffered (up to ``timeout_s``) and disconnect; never raises.

        Events still unacknowledged then were already reported to their callers by
        :meth:`send` as failed, so dropping them here loses nothing that was promised.
        """
        try:
            self._producer.close(timeout=self.timeout_s if timeout_s is None else timeout_s)
        except KafkaError as exc:
            # kafka-python's close() raises before it stops its sender thread while records
            # are pending; they expire after delivery_timeout_ms, so a second close succeeds.
            log.warning("closing the event producer: %s; retrying after delivery timeout", exc)
            try:
                self._producer.close(timeout=self.timeout_s + 1)
            except KafkaError as again:
                log.warning("closing the event producer failed again: %s", again)
