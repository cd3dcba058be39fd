"""End to end, as Kubernetes runs it: Kafka (Tansu) -> the consumer process -> Redis -> a
separate API process (uvicorn) whose recommendations reflect the events. How long that took
is reported (printed, and recorded as the test's ``visible_after_ms`` property), not asserted:
a shared CI machine's timing says nothing about the code."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
from kafka import KafkaProducer

from serving.events import ViewEvent, encode
from tests.api_support import write_bundle
from tests.fixtures_kafka import unique_name
from tests.process_support import free_port, is_ready, start_process, stop_process, wait_until

pytestmark = pytest.mark.integration


def test_events_from_kafka_reach_the_api_process(
    kafka_broker, kafka_topic, redis_server, redis_key_prefix, tmp_path, record_property
):
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    port = free_port()
    env = os.environ | {
        "NOWREC_STORE_BACKEND": "redis",
        "NOWREC_REDIS_URL": redis_server.url,
        "NOWREC_REDIS_KEY_PREFIX": redis_key_prefix,
        "NOWREC_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "NOWREC_KAFKA_TOPIC": kafka_topic,
        "NOWREC_KAFKA_GROUP_ID": unique_name("group"),
        "NOWREC_CONSUMER_METRICS_PORT": "0",
        "NOWREC_RELOAD_INTERVAL_S": "0",
        "NOWREC_MODE": "production",
        "NOWREC_API_TOKEN": "e2e-token-0123456789abcdef0123456789",
    }
    consumer_log, api_log = tmp_path / "consumer.log", tmp_path / "api.log"
    consumer = start_process(["-m", "serving.consumer"], env, consumer_log)
    api = start_process(
        ["-m", "serving", "--port", str(port), "--artifacts", str(artifacts)], env, api_log
    )
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", linger_ms=0)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:

            def ready() -> bool:
                assert consumer.poll() is None, consumer_log.read_text()[-3000:]
                return is_ready(http, api, api_log)

            def session_events(session: str) -> int:
                r = http.get(
                    "/v1/recommendations",
                    params={"session_id": session, "product_id": "c0_i3", "k": 5},
                )
                assert r.status_code == 200, r.text
                return r.json()["session_events"]

            def produce(session: str, *products: str) -> float:
                now = time.time()
                futures = [
                    producer.send(
                        kafka_topic,
                        encode(ViewEvent(session_id=session, product_id=p, ts=now + n / 1000)),
                        key=session.encode(),
                    )
                    for n, p in enumerate(products)
                ]
                for f in futures:
                    f.get(10)
                return time.monotonic()

            wait_until(ready, "the API process to be ready", timeout_s=120)
            # The consumer joins its group first (seconds); a warm-up session shows it is in.
            produce("warm-up", "c0_i1")
            wait_until(lambda: session_events("warm-up") == 1, "the consumer to apply events", 60)

            produced = produce("shopper", "c0_i30", "c0_i31", "c0_i32")
            wait_until(lambda: session_events("shopper") == 3, "the events in the API", 60)
            elapsed = time.monotonic() - produced
            record_property("visible_after_ms", round(elapsed * 1000))
            print(f"produced -> visible in the API: {elapsed * 1000:.0f} ms")
            body = http.get(
                "/v1/recommendations",
                params={"session_id": "shopper", "product_id": "c0_i3", "k": 5},
            ).json()
            assert body["strategy"] == "session" and body["degraded"] is False
            seen = {"c0_i30", "c0_i31", "c0_i32"}
            assert not seen & {i["product_id"] for i in body["items"]}  # seen ones excluded
    finally:
        producer.close()
        codes = {
            "api": stop_process(api),
            "consumer": stop_process(consumer),
        }  # both, whatever happened
    # uvicorn shuts down gracefully, then re-raises the signal it caught (status -15).
    assert codes["api"] in (0, -signal.SIGTERM), api_log.read_text()[-3000:]
    assert codes["consumer"] == 0, consumer_log.read_text()[-3000:]
    assert "Application shutdown complete" in api_log.read_text()
    assert "consumer stopped after" in consumer_log.read_text()
