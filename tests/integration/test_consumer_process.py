"""`python -m serving.consumer` as its own process: Kafka (Tansu) -> Redis, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from serving.events import ViewEvent, encode
from tests.fixtures_kafka import unique_name
from tests.process_support import free_port, start_process, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def metric(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None


def test_consumer_process_writes_redis_and_stops_cleanly(
    kafka_broker, kafka_topic, redis_server, redis_key_prefix, tmp_path, record_property
):
    n = 4000
    sent = [ViewEvent(session_id=f"s{i % 200}", product_id=f"p{i}", ts=T0 + i) for i in range(n)]
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", linger_ms=5)
    futures = [producer.send(kafka_topic, encode(e), key=e.session_id.encode()) for e in sent]
    by_offset = {f.get(10).offset: e for f, e in zip(futures, sent, strict=True)}
    producer.close()

    group = unique_name("group")
    metrics_port = free_port()
    env = os.environ | {
        "NOWREC_STORE_BACKEND": "redis",
        "NOWREC_REDIS_URL": redis_server.url,
        "NOWREC_REDIS_KEY_PREFIX": redis_key_prefix,
        "NOWREC_SESSION_MAX_ITEMS": "1000",
        "NOWREC_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "NOWREC_KAFKA_TOPIC": kafka_topic,
        "NOWREC_KAFKA_GROUP_ID": group,
        # Small batches: the first process is still mid-stream when it is told to stop.
        "NOWREC_CONSUMER_BATCH_SIZE": "10",
        "NOWREC_CONSUMER_METRICS_PORT": str(metrics_port),
    }
    r = redis.Redis.from_url(redis_server.url)

    def visible() -> int:
        pipe = r.pipeline(transaction=False)
        for s in range(200):
            pipe.zcard(f"{redis_key_prefix}s{s}")
        return sum(pipe.execute())

    def start(log_name: str) -> subprocess.Popen:
        return start_process(["-m", "serving.consumer"], env, tmp_path / log_name)

    def stop(process: subprocess.Popen, log_name: str) -> float:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)  # a hang guard: it finishes one small batch and commits
        elapsed = time.monotonic() - started
        log = (tmp_path / log_name).read_text()
        assert code == 0, log
        assert "consumer stopped after" in log
        return elapsed

    def committed() -> int:
        reader = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group)
        try:
            return reader.committed(TopicPartition(kafka_topic, 0)) or 0
        finally:
            reader.close()

    # 1. Stopped mid-stream: everything below the committed offset is in Redis.
    first = start("first.log")
    try:
        wait_until(lambda: visible() > 0, "the first events in Redis", process=first,
                   log=tmp_path / "first.log")  # fmt: skip
        text = scrape(metrics_port)
        assert metric(text, 'nowrec_events_applied_total{source="kafka"}') > 0
    finally:
        stop_s = stop(first, "first.log")
    record_property("sigterm_to_exit_ms", round(stop_s * 1000))
    print(f"SIGTERM -> the consumer process ended in {stop_s:.2f} s")
    done = committed()
    assert done > 0
    for offset in range(done):
        e = by_offset[offset]
        member = f"{e.event_id}|{e.event_type}|{e.product_id}"
        assert r.zscore(f"{redis_key_prefix}{e.session_id}", member) == e.ts, offset

    # 2. A new process resumes from the commit and finishes the topic.
    second = start("second.log")
    try:
        wait_until(lambda: visible() == n, f"all {n} events in Redis", process=second)
        wait_until(
            lambda: (
                metric(
                    scrape(metrics_port),
                    f'nowrec_consumer_lag{{partition="0",topic="{kafka_topic}"}}',
                )
                == 0
            ),
            "lag 0 on /metrics",
            process=second,
        )
    finally:
        stop(second, "second.log")
    assert committed() == n
    r.close()
