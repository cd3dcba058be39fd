"""The API on a real Redis: sessions shared through it, and answers while it is down."""

from __future__ import annotations

import pytest

from tests.api_support import AUTH, api_client, metric_value, write_bundle
from tests.process_support import wait_until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    write_bundle(root, "v1")
    return root


def recommend(client, session: str) -> dict:
    r = client.get(
        "/v1/recommendations", params={"session_id": session, "product_id": "c0_i3", "k": 5}
    )
    assert r.status_code == 200, r.text
    return r.json()


def post_views(client, session: str, *products: str):
    events = [
        {"session_id": session, "product_id": p, "ts": T0 + n} for n, p in enumerate(products)
    ]
    return client.post("/v1/events", json={"events": events}, headers=AUTH)


def test_redis_outage_degrades_and_recovers(artifacts, fault_redis_server, redis_key_prefix):
    with api_client(
        artifacts,
        store_backend="redis",
        redis_url=fault_redis_server.url,
        redis_key_prefix=redis_key_prefix,
        store_retry_after_s=0.2,
    ) as client:
        assert post_views(client, "s1", "c0_i30", "c0_i31").status_code == 200
        healthy = recommend(client, "s1")
        assert healthy["strategy"] == "session" and healthy["session_events"] == 2
        assert healthy["degraded"] is False

        fault_redis_server.stop()
        for _ in range(3):  # the first meets the dead store, the next skip it
            down = recommend(client, "s1")
            assert down["degraded"] is True
            assert down["degraded_reason"] == "session store unavailable"
            assert down["strategy"] == "item" and down["session_events"] == 0
            assert len(down["items"]) == 5  # still an answer, from the current product
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["session_store"]["ok"] is False
        assert "unavailable" in ready.json()["checks"]["session_store"]["detail"]
        state = client.app.state.nowrec
        strict = state.settings
        state.settings = strict.model_copy(update={"ready_requires_store": False})
        lenient = client.get("/readyz")  # the Kubernetes choice: stay in the Service, degraded
        assert lenient.status_code == 200 and lenient.json()["ready"] is True
        assert lenient.json()["checks"]["session_store"]["ok"] is False
        state.settings = strict
        refused = post_views(client, "s1", "c0_i32")
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert "retry the request" in refused.json()["message"]
        text = client.get("/metrics").text
        assert metric_value(text, 'nowrec_session_store_errors_total{backend="redis"}') >= 1
        assert metric_value(text, 'nowrec_recommendations_total{degraded="true",strategy="item"}')

        fault_redis_server.start()  # empty: an in-memory Redis lost its sessions
        wait_until(lambda: client.get("/readyz").status_code == 200, "readiness again")
        wait_until(lambda: not recommend(client, "s1")["degraded"], "an answer from the store")
        assert post_views(client, "s1", "c0_i30", "c0_i31").status_code == 200
        back = recommend(client, "s1")
        assert back["strategy"] == "session" and back["session_events"] == 2


def test_paused_redis_costs_one_timeout_then_degrades_fast(
    artifacts, fault_redis_server, redis_key_prefix
):
    with api_client(
        artifacts,
        store_backend="redis",
        redis_url=fault_redis_server.url,
        redis_key_prefix=redis_key_prefix,
        redis_socket_timeout_s=0.2,
        store_retry_after_s=30,
    ) as client:
        assert post_views(client, "s2", "c1_i1", "c1_i2").status_code == 200
        assert recommend(client, "s2")["session_events"] == 2
        fault_redis_server.pause()
        try:
            answers = [recommend(client, "s2") for _ in range(5)]
            assert all(a["degraded"] for a in answers)
            text = client.get("/metrics").text
            # only the first request waited for Redis; the others skipped it
            assert metric_value(text, 'nowrec_session_store_errors_total{backend="redis"}') == 1
        finally:
            fault_redis_server.resume()
