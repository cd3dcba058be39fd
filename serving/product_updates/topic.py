"""The product log of Kafka mode: a compacted topic that every API pod writes and reads.

``PUT /v1/products/{id}`` produces the product's whole metadata after the update
(serving/product_updates/record.py), keyed by the product id, and answers once the broker
acknowledged it (``acks=all``). Every pod follows the topic in a thread of its own with no
consumer group (each pod must see every update, and none commits anything): it reads the
whole topic from the beginning at start, then each new record as it arrives. With
``cleanup.policy=compact`` the broker keeps the newest record of each product, which is all
that matters, so the topic stays as large as the set of products ever updated.

Records are validated like any input; one that does not decode (or whose key is not its
product id) is skipped, logged and counted by reason, never applied and never fatal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from serving.errors import BrokerUnavailableError, MalformedUpdateError
from serving.producer import EventProducer
from serving.product_updates.record import MAX_RECORD_BYTES, ProductUpdate, decode, encode
from serving.settings import Settings

log = logging.getLogger("nowrec.products")

#: Where a record is: (partition, offset).
Position = tuple[int, int]


class TopicProductLog:
    """Writes product updates to the topic and follows it (see the module docstring).

    Args:
        settings: the topic (``product_updates_topic``), the brokers and the Kafka timeouts.
        on_skip: called with the reason of every record skipped.

    Thread-safety: :meth:`append` may be called from any thread; :meth:`follow` runs in one
    thread until :meth:`close`.
    """

    def __init__(self, settings: Settings, on_skip: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.topic = settings.product_updates_topic
        self._on_skip = on_skip or (lambda reason: None)
        self._producer: EventProducer | None = None
        self._producer_lock = threading.Lock()
        self._stop = threading.Event()
        self.caught_up = threading.Event()  #: set once the whole topic was read at start
        self.problem: str | None = None  #: what keeps the follower from reading, if anything
        self.skipped = 0  #: records skipped

    @property
    def where(self) -> str:
        return f"topic {self.topic!r} on {self.settings.kafka_bootstrap_servers}"

    # ------------------------------------------------------------------ writing
    def _connected(self) -> EventProducer:
        with self._producer_lock:
            if self._producer is None:
                self._producer = EventProducer(
                    self.settings.kafka_client_options(),
                    self.topic,
                    timeout_s=self.settings.kafka_request_timeout_ms / 1000,
                    linger_ms=0,
                    client_id="nowrec-products",
                )
            return self._producer

    def append(self, update: ProductUpdate) -> Position:
        """Produce one update and wait for the broker's acknowledgement.

        Raises:
            BrokerUnavailableError: not acknowledged in time (or Kafka cannot be reached);
                the update must not be applied, and sending it again is safe.
        """
        try:
            (sent,) = self._connected().send_records(
                [(update.product_id.encode(), encode(update))], "product update"
            )
        except BrokerUnavailableError as exc:
            raise BrokerUnavailableError(
                f"the update of product {update.product_id!r} was not written to {self.where}, "
                f"so it was not applied: {exc}; retry the request"
            ) from exc
        return sent.partition, sent.offset

    # ------------------------------------------------------------------ following
    def follow(self, apply: Callable[[ProductUpdate, Position], None]) -> None:
        """Apply every record of the topic, from the beginning, until :meth:`close`.

        Connection problems are retried (and reported in :attr:`problem`), never raised.
        """
        consumer: KafkaConsumer | None = None
        partitions: list[TopicPartition] = []
        delay = 0.5
        try:
            while not self._stop.is_set():
                try:
                    if consumer is None:
                        consumer = self._consumer()
                    if not partitions:
                        partitions = self._assign(consumer)
                        if not partitions:
                            self._stop.wait(delay)
                            delay = min(delay * 2, 10.0)
                            continue
                    records = consumer.poll(
                        timeout_ms=self.settings.consumer_poll_timeout_ms, max_records=500
                    )
                except KafkaError as exc:
                    self._report(f"cannot read {self.where} ({type(exc).__name__}: {exc})")
                    self._stop.wait(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                delay = 0.5
                if self.caught_up.is_set():
                    self.problem = None  # reading again after an outage
                for batch in records.values():
                    for record in batch:
                        self._handle(record, apply)
                if not self.caught_up.is_set() and self._at_end(consumer, partitions):
                    self.problem = None
                    self.caught_up.set()
                    log.info("read the whole %s; following it", self.where)
        finally:
            if consumer is not None:
                try:
                    consumer.close(autocommit=False)
                except Exception as exc:  # closing must not hide why we stopped
                    log.warning("closing the product topic consumer: %s", exc)

    def _consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            group_id=None,  # every pod reads every update; nothing is committed
            client_id="nowrec-products",
            **self.settings.kafka_consumer_options(),
        )

    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        found = consumer.partitions_for_topic(self.topic)
        if not found:
            self._report(
                f"{self.where} does not exist: create it with cleanup.policy=compact "
                "(see the README's Operate section)"
            )
            return []
        partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        log.info("reading %s from the beginning (%d partitions)", self.where, len(partitions))
        return partitions

    @staticmethod
    def _at_end(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
        # The high watermark comes with every fetch response (see serving/consumer/loop.py on why
        # not end_offsets()); unknown until the first fetch of a partition has answered.
        for tp in partitions:
            end = consumer.highwater(tp)
            if end is None or consumer.position(tp, timeout_ms=0) < end:
                return False
        return True

    def _handle(self, record: ConsumerRecord, apply: Callable[[ProductUpdate, Position], None]):
        where = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            if record.value is None:
                raise MalformedUpdateError("a record with no value", "not_json")
            update = decode(record.value)
            if record.key != update.product_id.encode():
                raise MalformedUpdateError(
                    f"its key {record.key[:MAX_RECORD_BYTES]!r} is not its product id "
                    f"{update.product_id!r}", "key_mismatch",
                )  # fmt: skip
        except MalformedUpdateError as exc:
            self.skipped += 1
            self._on_skip(exc.reason)
            log.warning("product update %s skipped (%s): %s", where, exc.reason, exc)
            return
        apply(update, (record.partition, record.offset))

    def _report(self, problem: str) -> None:
        if problem != self.problem:
            log.warning("%s; retrying", problem)
        self.problem = problem

    def close(self) -> None:
        """Stop following (the thread ends within a poll) and close the producer."""
        self._stop.set()
        if self._producer is not None:
            self._producer.close()
