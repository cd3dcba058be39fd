"""The closed loop in Kafka mode, through a real broker (Tansu, durable storage) and Redis.

The API answers recommendations (impressions produced to their topic), the shop posts views,
clicks and purchases (produced to the event topic), the session consumer applies them to
Redis, and the log sink writes both topics into the report's files. The broker crashes in the
middle. The report's counts must equal what was sent: no impression lost, duplicates (records
re-sent around the crash) counted once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from engine.experiments.config import parse_experiments
from pipelines.experiment_query import ReportWindow, sessions_from_logs
from pipelines.experiment_report import build_report
from serving.consumer import SessionEventConsumer
from serving.log_sink import LogSink
from serving.session_store.redis import RedisSessionStore
from tests.api_support import AUTH, api_client, write_bundle
from tests.fixtures_kafka import FAST_GROUP, unique_name
from tests.process_support import wait_until

pytestmark = pytest.mark.integration

EXPERIMENTS = """
[[experiments]]
name = "loop"
control = "popular"
variants = [ { name = "popular", weight = 1, strategy = "popular" }, { name = "engine", weight = 1 } ]
"""


@contextlib.contextmanager
def in_thread(worker, ready) -> Iterator[None]:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(ready, f"{type(worker).__name__} to get its partitions", 60)
        yield
    finally:
        worker.stop()
        thread.join(30)


def post_until_accepted(client, events) -> None:
    """What a shop's backend does in Kafka mode: retry a 503 (the broker is down)."""
    deadline = time.monotonic() + 60
    while True:
        r = client.post("/v1/events", json={"events": events}, headers=AUTH)
        if r.status_code == 202:
            return
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline, "the broker never came back"
        time.sleep(0.2)


def test_the_report_counts_what_was_sent_across_a_broker_crash(
    durable_kafka_broker, redis_server, redis_key_prefix, tmp_path
):
    broker = durable_kafka_broker
    events_topic = broker.create_topic(unique_name("events"))
    impressions_topic = broker.create_topic(unique_name("impressions"))
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    experiments = tmp_path / "experiments.toml"
    experiments.write_text(EXPERIMENTS)
    logs = tmp_path / "sunk"
    settings = {
        "events_mode": "kafka",
        "store_backend": "redis",
        "redis_url": redis_server.url,
        "redis_key_prefix": redis_key_prefix,
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_topic": events_topic,
        "kafka_impressions_topic": impressions_topic,
        "kafka_group_id": unique_name("group"),
        "kafka_request_timeout_ms": 2000,
        "experiments_file": str(experiments),
        **{f"kafka_{k}": v for k, v in FAST_GROUP.items()},
    }
    sent_clicks: Counter = Counter()
    sent_purchases: Counter = Counter()
    revenue: Counter = Counter()
    answers: Counter = Counter()
    variant_of: dict[str, str] = {}
    with api_client(artifacts, **settings) as client:
        s = client.app.state.nowrec.settings
        store = RedisSessionStore.from_url(redis_server.url, key_prefix=redis_key_prefix)
        consumer = SessionEventConsumer(store, s)
        sink = LogSink(s.model_copy(update={"logs_dir": str(logs)}), group_id=unique_name("sink"))
        with in_thread(consumer, consumer.assigned.is_set), in_thread(sink, sink.assigned.is_set):
            for n in range(60):
                if n == 30:
                    broker.restart(down_s=1.0)  # a crash mid-stream
                session = f"visitor-{n}"
                now = time.time()
                post_until_accepted(client, [{"session_id": session, "product_id": "c0_i2",
                                              "ts": now - 2}])  # fmt: skip
                r = client.get("/v1/recommendations",
                               params={"session_id": session, "product_id": "c0_i2", "k": 4})  # fmt: skip
                assert r.status_code == 200
                answer = r.json()
                variant_of[session] = answer["variant"]
                answers[answer["variant"]] += 1
                if n % 3 == 2:
                    continue  # no click
                first = answer["items"][0]["product_id"]
                outcome = [{"session_id": session, "product_id": first, "ts": now,
                            "event_type": "click",
                            "recommendation_id": answer["recommendation_id"] if n % 2 else None}]  # fmt: skip
                sent_clicks[answer["variant"]] += 1
                if n % 4 == 0:
                    outcome.append({"session_id": session, "product_id": first, "ts": now + 1,
                                    "event_type": "purchase", "price": 10.0, "quantity": n % 3 + 1})  # fmt: skip
                    sent_purchases[answer["variant"]] += 1
                    revenue[answer["variant"]] += 10.0 * (n % 3 + 1)
                post_until_accepted(client, outcome)
            loop = client.app.state.nowrec.loop
            assert loop.impressions.flush(60), "impressions still waiting for the broker"
            assert loop.impressions.dropped == 0
            wait_until(lambda: sink.written["impressions"] >= 60, "every impression sunk", 60)
            expected_events = sum(sent_clicks.values()) + sum(sent_purchases.values())
            wait_until(lambda: sink.written["events"] >= expected_events, "every outcome sunk", 60)
            # the sessions were consumed into Redis too: the answers saw them
            wait_until(
                lambda: len(store.recent("visitor-59")) >= 1, "the last session in Redis", 60
            )
        store.close()

    experiment = parse_experiments({"experiments": [{
        "name": "loop", "control": "popular",
        "variants": [{"name": "popular", "weight": 1, "strategy": "popular"},
                     {"name": "engine", "weight": 1}]}]}).running  # fmt: skip
    table = sessions_from_logs(logs, "loop", ReportWindow())
    report = build_report(table, experiment, min_sessions=1)
    by_name = {v.name: v for v in report.variants}
    assert {v: by_name[v].sessions for v in by_name} == dict(answers)
    assert {v: by_name[v].impressions for v in by_name} == dict(answers)  # each exactly once
    assert {v: by_name[v].clicks for v in by_name} == {v: sent_clicks[v] for v in by_name}
    rows = table.to_pylist()
    purchases = Counter()
    got_revenue = Counter()
    for row in rows:
        purchases[row["variant"]] += row["purchases"]
        got_revenue[row["variant"]] += row["revenue"]
        assert row["variant"] == variant_of[row["session_id"]]
    assert purchases == sent_purchases and got_revenue == revenue
    assert sum(row["unattributed_clicks"] for row in rows) == 0
