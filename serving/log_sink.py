"""Kafka -> report files: the impression and event topics written as the files sink writes them.

In production the topics are sunk into BigQuery (a BigQuery sink connector, or Pub/Sub) and the
report runs there. Without BigQuery, this small consumer writes them into ``NOWREC_LOGS_DIR``
(``impressions/`` and ``events/``, JSON lines), which ``python -m pipelines experiment-report
--logs`` reads. It commits offsets only after the batch is written and fsync'd (at least
once: a redelivered record is written twice, and the report counts it once, by recommendation
id and event id). Views are not written: the report needs only outcomes. A record that does
not decode is skipped, logged and counted; it never stops the loop.

Run: ``NOWREC_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 NOWREC_LOGS_DIR=/data/logs python -m
serving.log_sink``. SIGTERM finishes the batch, commits and exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from pydantic import ValidationError

from engine.errors import ConfigError
from serving.errors import MalformedEventError
from serving.events import OUTCOME_TYPES, decode
from serving.log_sinks import JsonLinesFiles
from serving.settings import Settings, describe_invalid, get_settings

log = logging.getLogger("nowrec.log_sink")

GROUP_ID = "nowrec-log-sink"


class LogSink:
    """Consumes the impression and event topics into JSON-lines files.

    Args:
        settings: bootstrap servers, topics, ``logs_dir`` and rotation.
        group_id: the consumer group (one group: each record is written once per sink).
    """

    def __init__(self, settings: Settings, group_id: str = GROUP_ID) -> None:
        self.settings = settings
        self.group_id = group_id
        root = Path(settings.logs_dir)
        files = {"rotate_bytes": settings.log_rotate_bytes, "rotate_s": settings.log_rotate_s,
                 "retention_days": settings.log_retention_days}  # fmt: skip
        self.impressions = JsonLinesFiles(root / "impressions", "impressions", **files)
        self.events = JsonLinesFiles(root / "events", "events", **files)
        self.written = {"impressions": 0, "events": 0}
        self.skipped = 0
        self.assigned = threading.Event()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        s = self.settings
        consumer = None
        while consumer is None and not self._stop.is_set():
            try:
                consumer = KafkaConsumer(
                    s.kafka_impressions_topic, s.kafka_topic,
                    **s.kafka_client_options(), group_id=self.group_id,
                    enable_auto_commit=False, auto_offset_reset="earliest",
                    session_timeout_ms=s.kafka_session_timeout_ms,
                    heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
                    max_poll_interval_ms=s.kafka_max_poll_interval_ms,
                    request_timeout_ms=s.kafka_request_timeout_ms,
                    reconnect_backoff_max_ms=1000,
                )  # fmt: skip
            except KafkaError as exc:
                log.warning("cannot reach Kafka (%s); retrying", exc)
                self._stop.wait(1.0)
        try:
            while consumer is not None and not self._stop.is_set():
                try:
                    batch = consumer.poll(timeout_ms=200, max_records=1000)
                except KafkaError as exc:
                    log.warning("poll failed (%s); polling again", exc)
                    self._stop.wait(0.5)
                    continue
                if consumer.assignment():
                    self.assigned.set()
                if batch:
                    self._write(consumer, batch)
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)
            self.impressions.close()
            self.events.close()

    def _write(self, consumer: KafkaConsumer, batch) -> None:
        impressions, events = [], []
        for tp, records in batch.items():
            for r in records:
                try:
                    if tp.topic == self.settings.kafka_impressions_topic:
                        _impression(r.value)  # checked, then written as it came
                        impressions.append((r.key or b"", r.value))
                    else:
                        event = decode(r.value, max_bytes=self.settings.max_event_bytes)
                        if event.event_type in OUTCOME_TYPES:
                            events.append((r.key or b"", event.model_dump_json().encode()))
                except (MalformedEventError, ValueError) as exc:
                    self.skipped += 1
                    log.warning("skipped %s/%s/%s: %s", tp.topic, tp.partition, r.offset, exc)
        while True:  # the files must take the batch before its offsets are committed
            try:
                if impressions:
                    self.impressions.write(impressions)
                if events:
                    self.events.write(events)
                break
            except OSError as exc:
                log.error("cannot write the log files (%s); retrying", exc)
                if self._stop.wait(1.0):
                    return
        self.written["impressions"] += len(impressions)
        self.written["events"] += len(events)
        try:
            consumer.commit()
        except KafkaError as exc:  # written twice after a redelivery: the report dedupes
            log.warning("offset commit failed (%s); the next commit covers it", exc)


def _impression(raw: bytes) -> dict:
    record = json.loads(raw)
    if not isinstance(record, dict) or record.get("type") not in ("impression", "forget"):
        raise ValueError("not an impression record")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m serving.log_sink",
        description="Write the Kafka impression and event topics into NOWREC_LOGS_DIR for "
        "`python -m pipelines experiment-report --logs` (settings from NOWREC_* variables).",
    ).parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        settings = get_settings()
        settings.check_clients(kafka=True)
    except ValidationError as exc:
        log.error("invalid NOWREC_* settings: %s", describe_invalid(exc))
        return 2
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    sink = LogSink(settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sink.stop())
    sink.run()
    log.info("log sink stopped: %s written, %d skipped", sink.written, sink.skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
