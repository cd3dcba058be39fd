"""The HTTP API in process (TestClient, memory store): every route, its errors and limits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from engine.errors import ConfigError
from pipelines.cli import main as train_main
from serving.api.schemas import MAX_BATCH_EVENTS, RecommendationsOut
from serving.app import create_app
from tests.api_support import (
    AUTH,
    TOKEN,
    api_client,
    api_settings,
    metric_value,
    write_bundle,
)
from tests.fixtures_shop import FAST, TINY_DATA
from tests.process_support import free_port, start_process, terminate, wait_until

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    write_bundle(root, "v1")
    return root


@pytest.fixture
def client(artifacts):
    with api_client(artifacts) as c:
        yield c


def views(session_id: str, *products: str) -> dict:
    return {
        "events": [
            {"session_id": session_id, "product_id": p, "ts": T0 + n}
            for n, p in enumerate(products)
        ]
    }


def error_of(response) -> str:
    body = response.json()
    assert set(body) >= {"error", "message"}, body
    return body["message"]


# -- recommendations ------------------------------------------------------------------------


def test_recommendations_for_the_current_product(client):
    r = client.get("/v1/recommendations", params={"product_id": "c1_i4", "k": 7})
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == "v1"
    assert body["strategy"] == "item" and body["degraded"] is False
    assert len(body["items"]) == 7
    ids = [i["product_id"] for i in body["items"]]
    assert "c1_i4" not in ids and all(i.startswith("c1_") for i in ids)
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert body["items"][0]["reason"] == "because you are viewing c1_i4"


def test_posted_events_shape_the_next_recommendation(client):
    r = client.post("/v1/events", json=views("s1", "c0_i30", "c0_i3"), headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {"mode": "embedded", "accepted": 2, "applied": 2, "duplicates": 0}
    body = client.get("/v1/recommendations", params={"session_id": "s1", "k": 5}).json()
    assert body["strategy"] == "session" and body["session_events"] == 2
    first = body["items"][0]
    assert first["product_id"] == "c0_i17"  # the planted successor of c0_i3
    assert first["because"] == "c0_i3" and first["reason"] == "because you viewed c0_i3"
    assert not {"c0_i30", "c0_i3"} & {i["product_id"] for i in body["items"]}
    kept = client.get(
        "/v1/recommendations", params={"session_id": "s1", "k": 100, "exclude_seen": "false"}
    ).json()
    assert "c0_i30" in {i["product_id"] for i in kept["items"]}
    # the same events again change nothing
    again = client.post("/v1/events", json=views("s1", "c0_i30", "c0_i3"), headers=AUTH).json()
    assert (again["applied"], again["duplicates"]) == (0, 2)


def test_unknown_products_fall_back_to_popular(client):
    body = client.get("/v1/recommendations", params={"product_id": "nope", "k": 3}).json()
    assert body["strategy"] == "popular" and body["unknown_items"] == 1
    assert len(body["items"]) == 3 and body["items"][0]["reason"] == "popular right now"


def test_category_filter(client):
    body = client.get(
        "/v1/recommendations", params={"product_id": "c0_i1", "category": "toys", "k": 10}
    ).json()
    assert body["items"] and all(i["product_id"].startswith("c1_") for i in body["items"])
    none = client.get("/v1/recommendations", params={"category": "no such", "k": 10}).json()
    assert none["items"] == []


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"k": 0}, "query parameter k"),
        ({"k": 10**6}, "query parameter k"),
        ({"k": "ten"}, "query parameter k"),
        ({"product_id": "x" * 201}, "query parameter product_id"),
        ({"session_id": "new\nline"}, "query parameter session_id"),
        ({"session_id": "   "}, "query parameter session_id"),
        ({"product_id": ""}, "query parameter product_id"),
        ({"exclude_seen": "maybe"}, "query parameter exclude_seen"),
        ({"category": ["a"] * 21}, "query parameter category"),
    ],
)
def test_recommendation_inputs_are_bounded(client, params, where):
    r = client.get("/v1/recommendations", params=params)
    assert r.status_code == 422
    assert error_of(r).startswith(where)
    assert r.json()["details"][0]["where"] == where


# -- products -------------------------------------------------------------------------------


def test_similar_products(client):
    body = client.get("/v1/products/c0_i5/similar", params={"k": 4}).json()
    assert body["product_id"] == "c0_i5" and body["model_version"] == "v1"
    ids = [i["product_id"] for i in body["items"]]
    assert len(ids) == 4 and "c0_i5" not in ids and all(i.startswith("c0_") for i in ids)
    assert body["items"][0]["reason"] == "similar to c0_i5"


def test_similar_errors(client):
    r = client.get("/v1/products/nope/similar")
    assert r.status_code == 404
    assert "unknown product 'nope'" in error_of(r) and "PUT /v1/products/nope" in error_of(r)
    assert client.get("/v1/products/c0_i5/similar", params={"k": 0}).status_code == 422
    assert client.get("/v1/products/c0_i5/similar", params={"k": 101}).status_code == 422
    assert client.get("/v1/products/bad%09id/similar").status_code == 422


def test_product_lookup(client):
    body = client.get("/v1/products/c0_i5").json()
    assert body["category"] == "sofas" and body["trained"] is True and body["available"]
    assert client.get("/v1/products/nope").status_code == 404


def test_an_id_ending_in_similar_is_read_back_with_its_slash_encoded(client):
    toy = {"category": "toys", "brand": "brand1", "price": 40.0, "title": "toys item 5"}
    put = client.put("/v1/products/a%2Fsimilar", json=toy, headers=AUTH)
    assert put.status_code == 201 and put.json()["product_id"] == "a/similar"
    for path in ("/v1/products/a%2Fsimilar", "/v1/products/a%2fsimilar"):
        got = client.get(path)
        assert got.status_code == 200, got.text
        assert got.json()["product_id"] == "a/similar" and got.json()["trained"] is False
    similar = client.get("/v1/products/a%2Fsimilar/similar", params={"k": 5})
    assert similar.status_code == 200 and similar.json()["product_id"] == "a/similar"
    assert all(i["product_id"].startswith("c1_") for i in similar.json()["items"])
    # a literal "/similar" is the route, for an id with a slash and for a plain one
    unknown = client.get("/v1/products/a/similar")
    assert unknown.status_code == 404 and "unknown product 'a'" in error_of(unknown)
    assert client.get("/v1/products/c0_i5/similar").json()["product_id"] == "c0_i5"
    # the id put together is checked as a whole
    long = client.get("/v1/products/" + "x" * 195 + "%2Fsimilar")
    assert long.status_code == 422 and "the limit is 200" in error_of(long)


def test_new_product_is_recommended_and_similar_at_once(client):
    put = client.put(
        "/v1/products/new-toy",
        json={"category": "toys", "brand": "brand1", "price": 40.0, "title": "toys item 5"},
        headers=AUTH,
    )
    assert put.status_code == 201
    assert put.json()["created"] is True and put.json()["trained"] is False
    # it has neighbours of its own category
    similar = client.get("/v1/products/new-toy/similar", params={"k": 10}).json()
    assert all(i["product_id"].startswith("c1_") for i in similar["items"])
    current = client.get("/v1/recommendations", params={"product_id": "new-toy"}).json()
    assert current["strategy"] == "cold_start"
    assert all(i["product_id"].startswith("c1_") for i in current["items"])
    # and it is recommended to others: beside its category, never to the other one
    toys = client.get("/v1/products/c1_i5/similar", params={"k": 100}).json()
    assert "new-toy" in [i["product_id"] for i in toys["items"]]
    sofas = client.get("/v1/products/c0_i5/similar", params={"k": 40}).json()
    assert "new-toy" not in [i["product_id"] for i in sofas["items"]]
    # a second PUT updates it: fields sent change, null clears, the others stay
    again = client.put("/v1/products/new-toy", json={"price": 41.5, "brand": None}, headers=AUTH)
    assert again.status_code == 200 and again.json()["created"] is False
    body = again.json()
    assert (body["price"], body["brand"], body["title"]) == (41.5, None, "toys item 5")


@pytest.mark.parametrize("body", [{}, {"available": True}, {"available": False}])
def test_a_new_product_without_metadata_is_refused(client, body):
    r = client.put("/v1/products/bare-1", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    message = error_of(r)
    assert "'bare-1' is new and comes with no metadata" in message
    assert "send at least its category" in message
    assert client.get("/v1/products/bare-1").status_code == 404  # nothing was added
    # a known product may be sent with availability alone (sold out, back in stock)
    assert client.put("/v1/products/c0_i4", json=body, headers=AUTH).status_code == 200
    with_category = client.put("/v1/products/bare-1", json={"category": "toys"}, headers=AUTH)
    assert with_category.status_code == 201


def test_unavailable_product_disappears_at_once(client):
    before = client.get("/v1/recommendations", params={"product_id": "c1_i8", "k": 5}).json()
    gone = before["items"][0]["product_id"]
    r = client.put(f"/v1/products/{gone}", json={"available": False}, headers=AUTH)
    assert r.status_code == 200 and r.json()["available"] is False
    assert r.json()["category"] == "toys"  # what was not sent stays
    assert r.json()["brand"].startswith("brand") and r.json()["title"].startswith("toys item")
    after = client.get("/v1/recommendations", params={"product_id": "c1_i8", "k": 100}).json()
    assert gone not in [i["product_id"] for i in after["items"]]
    similar = client.get("/v1/products/c1_i8/similar", params={"k": 100}).json()
    assert gone not in [i["product_id"] for i in similar["items"]]
    client.put(f"/v1/products/{gone}", json={"available": True}, headers=AUTH)
    back = client.get("/v1/recommendations", params={"product_id": "c1_i8", "k": 100}).json()
    assert gone in [i["product_id"] for i in back["items"]]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"price": -1}, "body price"),
        ({"price": "cheap"}, "body price"),
        ({"category": ""}, "body category"),
        ({"title": "x" * 513}, "body title"),
        ({"available": "sometimes"}, "body available"),
        ({"colour": "red"}, "body colour"),
    ],
)
def test_product_metadata_is_validated(client, body, where):
    r = client.put("/v1/products/p1", json=body, headers=AUTH)
    assert r.status_code == 422 and error_of(r).startswith(where)


@pytest.mark.parametrize(
    "body", [{"price": False}, {"price": "12.5"}, {"available": "no"}, {"available": 0}]
)
def test_metadata_types_are_what_the_schema_says(client, body):
    r = client.put("/v1/products/typed", json=body | {"category": "sofas"}, headers=AUTH)
    assert r.status_code == 422, r.json()
    assert client.get("/v1/products/typed").status_code == 404


def test_non_finite_price_is_refused(client):
    r = client.put(
        "/v1/products/p1",
        content=b'{"price": NaN}',
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422)
    assert client.get("/v1/products/p1").status_code == 404


# -- one id policy for training and the API -------------------------------------------------


@pytest.fixture(scope="module")
def cafe_artifacts(tmp_path_factory) -> Path:
    """A bundle trained by `python -m pipelines train` on a CSV whose ids have accents and
    spaces, as a shop's export would."""
    root = tmp_path_factory.mktemp("cafe")
    items = ["Café 03", "Café 04", "Thé vert", "p/1", "p|2", "p3"]
    rows = ["session_id,item_id,ts"]
    for s in range(40):
        rows += [f"s{s},{items[(s + k) % 6]},{T0 + 60 * s + k}" for k in range(3)]
    (root / "events.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = ["train", "--path", str(root / "events.csv"), "--out", str(root / "artifacts")]
    assert train_main([*argv, *FAST, *TINY_DATA, "--ranker", "default"]) == 0
    return root / "artifacts"


def test_ids_training_accepts_are_ids_the_api_accepts(cafe_artifacts):
    with api_client(cafe_artifacts) as client:
        event = {"session_id": "séance 1", "product_id": "Café 03", "ts": T0}
        posted = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
        assert posted.status_code == 200, posted.text
        assert posted.json()["applied"] == 1
        product = client.get("/v1/products/Caf%C3%A9%2003")
        assert product.status_code == 200, product.text
        assert product.json()["product_id"] == "Café 03" and product.json()["trained"] is True
        similar = client.get("/v1/products/Caf%C3%A9%2003/similar", params={"k": 3})
        assert similar.status_code == 200 and len(similar.json()["items"]) == 3
        recs = client.get("/v1/recommendations", params={"session_id": "séance 1", "k": 3})
        body = recs.json()
        assert body["strategy"] == "session" and body["unknown_items"] == 0
        assert body["items"][0]["because"] == "Café 03"
        for odd in ("p/1", "p|2"):
            assert client.get("/v1/products/" + quote(odd, safe="")).json()["product_id"] == odd


# -- events ---------------------------------------------------------------------------------


def test_event_errors_say_what_is_wrong(client):
    malformed = client.post(
        "/v1/events", content=b'{"events": [', headers=AUTH | {"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and "malformed JSON" in error_of(malformed)
    no_type = client.post("/v1/events", content=b"{}", headers=AUTH)
    assert no_type.status_code == 422 and "Content-Type: application/json" in error_of(no_type)
    empty = client.post("/v1/events", json={"events": []}, headers=AUTH)
    assert empty.status_code == 422 and error_of(empty).startswith("body events")
    bad = client.post(
        "/v1/events",
        json={"events": [{"session_id": "s", "productId": "p", "ts": "2024-01-01"}]},
        headers=AUTH,
    )
    message = error_of(bad)
    assert bad.status_code == 422
    assert "body events.0.product_id: required and missing" in message
    assert "body events.0.productId: unknown field" in message
    assert "has no timezone" in message
    millis = client.post("/v1/events", json=views("s", "p") | {}, headers=AUTH)
    assert millis.status_code == 200
    ms = {"events": [{"session_id": "s", "product_id": "p", "ts": T0 * 1000}]}
    assert "milliseconds" in error_of(client.post("/v1/events", json=ms, headers=AUTH))


def test_oversize_bodies_get_413(artifacts):
    with api_client(artifacts, max_body_bytes=2048) as client:
        big = {"events": [{"session_id": "s", "product_id": "p" * 60, "ts": T0}] * 40}
        r = client.post("/v1/events", json=big, headers=AUTH)
        assert r.status_code == 413 and "2048-byte limit" in error_of(r)

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"events": ['
            for _ in range(100):
                yield b'{"session_id": "s", "product_id": "p", "ts": 1700000000},'

        r = client.post(
            "/v1/events", content=chunks(), headers=AUTH | {"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and "2048-byte limit" in error_of(r)
        metrics = client.get("/metrics").text
        assert (
            metric_value(
                metrics, 'nowrec_http_requests_total{method="POST",route="other",status="413"}'
            )
            + metric_value(
                metrics, 'nowrec_http_requests_total{method="POST",route="/v1/events",status="413"}'
            )
            == 2
        )


def test_one_batch_limit_with_one_status_code_as_the_schema_says(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["EventsIn"]
    limit = schema["properties"]["events"]["maxItems"]
    assert limit == MAX_BATCH_EVENTS
    ok = client.post("/v1/events", json=views("s", *[f"p{i}" for i in range(limit)]), headers=AUTH)
    assert ok.status_code == 200 and ok.json()["accepted"] == limit
    over = client.post(
        "/v1/events", json=views("s", *[f"p{i}" for i in range(limit + 1)]), headers=AUTH
    )
    assert over.status_code == 422
    assert f"at most {limit} items" in error_of(over) and "split the batch" in error_of(over)


def test_the_event_schema_says_what_is_accepted(client):
    event = client.get("/openapi.json").json()["components"]["schemas"]["ViewEvent"]
    ts_types = {s["type"] for s in event["properties"]["ts"]["anyOf"]}
    assert ts_types == {"number", "string"}
    for field in ("product_id", "session_id"):
        assert {s["type"] for s in event["properties"][field]["anyOf"]} == {"string", "integer"}
    # and the API accepts what the schema says: ISO text, numeric text and integer ids
    now = time.time()
    accepted = [
        {"session_id": 42, "product_id": 7, "ts": now - 5},
        {"session_id": "s", "product_id": "p", "ts": "2026-01-01T10:00:00Z"},
        {"session_id": "s", "product_id": "p", "ts": str(T0)},
    ]
    r = client.post("/v1/events", json={"events": accepted}, headers=AUTH)
    assert r.status_code == 200 and r.json()["accepted"] == 3


def test_events_from_the_future_are_refused_with_the_reason(client):
    now = time.time()
    batch = [
        {"session_id": "fut", "product_id": "c0_i1", "ts": now - 1},
        {"session_id": "fut", "product_id": "c0_i2", "ts": now + 3600},
    ]
    r = client.post("/v1/events", json={"events": batch}, headers=AUTH)
    assert r.status_code == 422
    message = error_of(r)
    assert message.startswith("body events.1.ts:") and "s after this server's clock" in message
    assert "check the sending device's clock" in message
    # nothing of the batch was applied, and a few seconds of skew are fine
    assert (
        client.get("/v1/recommendations", params={"session_id": "fut"}).json()["session_events"]
        == 0
    )
    batch[1]["ts"] = now + 60
    assert client.post("/v1/events", json={"events": batch}, headers=AUTH).status_code == 200


def test_kafka_mode_without_a_broker_answers_503(artifacts):
    unreachable = f"127.0.0.1:{free_port()}"
    with api_client(
        artifacts,
        events_mode="kafka",
        kafka_bootstrap_servers=unreachable,
        kafka_request_timeout_ms=1000,
    ) as client:
        r = client.post("/v1/events", json=views("s", "p"), headers=AUTH)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert unreachable in error_of(r)
        # recommendations do not need Kafka
        assert client.get("/v1/recommendations", params={"product_id": "c0_i1"}).status_code == 200


def test_product_updates_without_the_broker_answer_503_and_change_nothing(artifacts):
    unreachable = f"127.0.0.1:{free_port()}"
    with api_client(
        artifacts,
        product_updates="kafka",
        product_updates_topic="products.test",
        kafka_bootstrap_servers=unreachable,
        kafka_request_timeout_ms=1000,
    ) as client:
        r = client.put("/v1/products/c0_i6", json={"available": False}, headers=AUTH)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        message = error_of(r)
        assert "the update of product 'c0_i6' was not written to topic 'products.test'" in message
        assert unreachable in message and "not applied" in message and "retry" in message
        assert client.get("/v1/products/c0_i6").json()["available"] is True  # not applied
        # not ready: the updates other pods wrote cannot be read yet
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["product_updates"]["ok"] is False
        assert client.get("/v1/recommendations", params={"product_id": "c0_i1"}).status_code == 200


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/events", views("s", "p")),
        ("PUT", "/v1/products/p9", {"category": "toys"}),
        ("POST", "/v1/admin/reload", None),
        ("GET", "/v1/admin/model", None),
    ],
)
def test_writes_and_admin_need_the_token(client, method, path, body):
    missing = client.request(method, path, json=body)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in error_of(missing)
    basic = client.request(method, path, json=body, headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and error_of(wrong) == "invalid bearer token"
    right = client.request(method, path, json=body, headers=AUTH)
    assert right.status_code in (200, 201), right.text


def test_development_mode_without_a_token_leaves_writes_open(artifacts):
    with api_client(artifacts, api_token=None) as client:
        assert client.post("/v1/events", json=views("s", "p")).status_code == 200


def test_production_mode_refuses_to_start_without_a_token(artifacts):
    with pytest.raises(ConfigError, match="NOWREC_API_TOKEN"):
        create_app(api_settings(artifacts, mode="production", api_token=None))
    create_app(api_settings(artifacts, mode="production"))  # with the token it starts
    result = subprocess.run(
        [sys.executable, "-m", "serving", "--artifacts", str(artifacts)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "NOWREC_MODE": "production"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "production mode needs a bearer token" in result.stderr


#: uvicorn's access log line, as the README shows it (Operate, Access log).
ACCESS_LINE = r'INFO: +[\d.]+:\d+ - "GET (/v1/\S+) HTTP/1\.1" (\d{3}) [A-Za-z ]+'


@pytest.mark.parametrize("access_log", ["true", "false"])
def test_the_access_log_is_as_the_readme_says(artifacts, tmp_path, access_log):
    documented = re.findall(ACCESS_LINE, (ROOT / "README.md").read_text())
    assert documented, "the README shows no access log line"
    port = free_port()
    env = os.environ | {"NOWREC_ACCESS_LOG": access_log, "NOWREC_RELOAD_INTERVAL_S": "0"}
    log = tmp_path / "api.log"
    api = start_process(["-m", "serving", "--port", str(port), "--artifacts", str(artifacts)],
                        env, log)  # fmt: skip
    try:

        def answered() -> httpx.Response | None:
            assert api.poll() is None, log.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v1/products/nope?k=1", timeout=5)
            except httpx.TransportError:
                return None

        assert wait_until(answered, "the API process to answer", timeout_s=120).status_code == 404
    finally:
        terminate(api, 30)
    lines = re.findall(ACCESS_LINE, log.read_text())
    assert lines == ([("/v1/products/nope?k=1", "404")] if access_log == "true" else [])


def test_short_tokens_are_refused(artifacts):
    with pytest.raises(ValueError, match="api_token"):
        api_settings(artifacts, api_token="short")
    assert len(TOKEN) >= 32


@pytest.mark.parametrize("token", ["x" * 20, " " * 40, "\t" * 35])
def test_production_refuses_a_short_or_blank_token(artifacts, token):
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app(api_settings(artifacts, mode="production", api_token=token))
    create_app(api_settings(artifacts, mode="development", api_token=token))  # 16+ is enough


# -- health, metrics, errors ----------------------------------------------------------------


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["model_version"] == "v1"
    assert ready.json()["checks"]["session_store"]["ok"] is True
    client.get("/v1/recommendations", params={"product_id": "c0_i2"})
    client.get("/v1/products/c0_i2/similar")
    text = client.get("/metrics").text
    assert 'nowrec_model_info{bundle="v1",version="v1"} 1.0' in text
    route = 'route="/v1/recommendations"'
    assert metric_value(text, f'nowrec_http_request_duration_seconds_count{{method="GET",{route}}}')
    assert metric_value(text, 'nowrec_recommendations_total{degraded="false",strategy="item"}')
    assert metric_value(text, 'nowrec_recommendations_total{degraded="false",strategy="similar"}')
    similar = 'method="GET",route="/v1/products/{product_id}/similar",status="200"'
    assert metric_value(text, f"nowrec_http_requests_total{{{similar}}}") == 1
    assert metric_value(text, 'nowrec_model_reloads_total{result="loaded"}') == 1
    assert "nowrec_events_dead_lettered_total" in text and "nowrec_consumer_lag" in text


def test_unknown_routes_and_methods_are_json(client):
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and "/docs" in error_of(r)
    r = client.delete("/v1/recommendations")
    assert r.status_code == 405 and "DELETE" in error_of(r)
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"


def test_options_answers_with_allow(client):
    r = client.options("/v1/recommendations")
    assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS"
    # two routes share this path: both their methods are allowed
    r = client.options("/v1/products/c0_i1")
    assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
    assert client.options("/v1/events").headers["allow"] == "OPTIONS, POST"


def _series(client, metric: str) -> set[str]:
    text = client.get("/metrics").text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith(metric + "{")}


def test_metric_labels_from_requests_come_from_closed_sets(client):
    """Invented methods and paths must not add series: each would cost memory for good."""

    def strange_requests(n: int) -> None:
        for k in range(n):
            client.request(f"INVENT{k}", "/v1/recommendations")
            client.get(f"/no/such/path/{k}")
            client.request(f"X{k}", f"/random-{k}")

    strange_requests(3)
    client.get("/metrics")
    before = {m: _series(client, m) for m in ("nowrec_http_requests_total",
                                               "nowrec_http_request_duration_seconds_count")}  # fmt: skip
    strange_requests(200)
    after = {m: _series(client, m) for m in before}
    assert after == before
    text = client.get("/metrics").text
    assert (
        metric_value(text, 'nowrec_http_requests_total{method="other",route="other",status="404"}')
        == 203
    )
    assert "INVENT" not in text and "/no/such" not in text


def test_openapi_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/v1/recommendations",
        "/v1/products/{product_id}/similar",
        "/v1/products/{product_id}",
        "/v1/events",
        "/v1/admin/reload",
        "/v1/admin/model",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    assert "/_bench/ceiling" not in paths


@pytest.mark.parametrize(
    "query",
    [
        "product_id=c0_i2",
        "session_id=s1&product_id=c0_i2&k=5",
        "session_id=s1&product_id=c0_i2&k=5&exclude_seen=false",
        "product_id=c0_i2&category=sofas&category=toys&k=3",
        "product_id=c0_i2&category=nope",
        "product_id=Caf%C3%A9%2003&session_id=a+b",
        "product_id=unknown-product",
        "",
        "k=0",
        "k=101&product_id=c0_i2",
        "k=abc",
        "exclude_seen=maybe",
        "session_id=" + "s" * 300,
        "product_id=bad%09tab",
        "category=",
        "unrelated=1&product_id=c0_i2",
    ],
)
def test_the_fast_route_answers_as_the_framework_route(artifacts, query):
    """GET /v1/recommendations is answered in front of the router; with the fast path off the
    framework answers. Same status, same body (the answer's id aside), same schema."""
    answers = []
    for fast in (True, False):
        with api_client(artifacts, fast_recommendations=fast) as client:
            client.post("/v1/events", json=views("s1", "c0_i1", "c0_i3"), headers=AUTH)
            r = client.get(f"/v1/recommendations?{query}")
            body = r.json()
            if r.status_code == 200:
                RecommendationsOut.model_validate(body)
                assert body.pop("recommendation_id")
            answers.append((r.status_code, r.headers["content-type"], body))
            text = client.get("/metrics").text
            sample = f'route="/v1/recommendations",status="{r.status_code}"'
            assert metric_value(text, f'nowrec_http_requests_total{{method="GET",{sample}}}') == 1
    assert answers[0] == answers[1]
