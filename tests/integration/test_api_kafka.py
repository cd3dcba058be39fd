"""One process with Kafka (Tansu): POST /v1/events produces, the embedded consumer applies."""

from __future__ import annotations

import pytest

from tests.api_support import AUTH, api_client, metric_value, write_bundle
from tests.fixtures_kafka import unique_name
from tests.process_support import wait_until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000


def test_kafka_mode_with_the_embedded_consumer(kafka_broker, kafka_topic, tmp_path):
    write_bundle(tmp_path, "v1")
    with api_client(
        tmp_path,
        events_mode="kafka",
        embedded_consumer=True,
        kafka_bootstrap_servers=kafka_broker.bootstrap,
        kafka_topic=kafka_topic,
        kafka_group_id=unique_name("group"),
        kafka_dead_letter_topic=kafka_broker.create_topic(unique_name("dead")),
    ) as client:

        def ready() -> dict | None:
            r = client.get("/readyz")
            return r.json() if r.status_code == 200 else None

        body = wait_until(ready, "the embedded consumer to join its group", timeout_s=60)
        assert body["checks"]["consumer"]["ok"] is True
        assert body["checks"]["consumer"]["detail"].startswith("lag ")

        events = [
            {"session_id": "k1", "product_id": p, "ts": T0 + n}
            for n, p in enumerate(("c1_i10", "c1_i11"))
        ]
        r = client.post("/v1/events", json={"events": events}, headers=AUTH)
        assert r.status_code == 202
        assert r.json() == {"mode": "kafka", "accepted": 2, "applied": None, "duplicates": None}

        def applied() -> dict | None:
            rec = client.get(
                "/v1/recommendations", params={"session_id": "k1", "product_id": "c1_i12"}
            ).json()
            return rec if rec["session_events"] == 2 else None

        rec = wait_until(applied, "the produced events in the session store")
        assert rec["strategy"] == "session"
        assert not {"c1_i10", "c1_i11"} & {i["product_id"] for i in rec["items"]}
        text = client.get("/metrics").text
        assert metric_value(text, 'nowrec_events_applied_total{source="kafka"}') == 2
        assert f'nowrec_consumer_lag{{partition="0",topic="{kafka_topic}"}}' in text
    # the consumer thread was stopped with the app
    state = client.app.state.nowrec
    assert state.consumer_thread is not None and not state.consumer_thread.is_alive()
