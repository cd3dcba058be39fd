"""The browser-facing parts of the API, through its HTTP interface: who may open the console
(tokens, the login cookie), what its calls answer, the public browser token of the page script,
CORS for shops' pages, ``/``, ``/nowrec.js`` and the API's description without a CDN."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.bundle import Bundle
from engine.errors import ConfigError
from serving.settings import Settings
from tests.api_support import AUTH, TOKEN, api_client

CONSOLE_TOKEN = "console-token-0123456789abcdef01234"
BROWSER_TOKEN = "browser-token-0123456789abcdef"
SHOP = "http://shop.example:8080"


@pytest.fixture(scope="module")
def artifacts(tiny_artifacts, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("console") / "artifacts"
    shutil.copytree(tiny_artifacts, root, symlinks=True)
    return root


@pytest.fixture(scope="module")
def client(artifacts):
    with api_client(
        artifacts, console_token=CONSOLE_TOKEN, browser_token=BROWSER_TOKEN, cors_origins=SHOP
    ) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def some_product(client) -> str:
    return client.get("/console/api/projection", headers=AUTH).json()["id"][0]


def test_the_console_asks_for_a_token_and_opens_with_either(client):
    page = client.get("/console")
    assert page.status_code == 401 and "<form" in page.text and 'type="password"' in page.text
    assert "nowrec console" in client.get("/console", headers=AUTH).text
    assert client.get("/console", headers=bearer(CONSOLE_TOKEN)).status_code == 200
    assert client.get("/console", headers=bearer("x" * 40)).status_code == 401
    for path in ("/console/api/overview", "/console/api/projection", "/console/api/live",
                 "/console/api/experiments"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 401 and "log in at /console" in r.json()["message"], path


def test_the_login_cookie_opens_the_console_only_and_is_not_the_token(artifacts):
    with api_client(artifacts, console_token=CONSOLE_TOKEN) as client:
        refused = client.post("/console/login", json={"token": "not-the-token-at-all"})
        assert refused.status_code == 403 and "not a console token" in refused.json()["message"]
        r = client.post("/console/login", json={"token": TOKEN})  # the admin token
        assert r.status_code == 204
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert TOKEN not in cookie and CONSOLE_TOKEN not in cookie
        assert client.get("/console").status_code == 200  # the cookie, no header
        assert client.get("/console/api/live").status_code == 200
        # the cookie gives nothing beyond the console, even made from the admin token
        assert client.post("/v1/admin/reload").status_code == 401
        client.post("/console/logout")
        assert client.get("/console/api/live").status_code == 401


def test_the_console_token_cannot_write_or_administer(client):
    token = bearer(CONSOLE_TOKEN)
    assert client.post("/v1/admin/reload", headers=token).status_code == 403
    assert client.get("/v1/admin/model", headers=token).status_code == 403
    body = {"category": "sofas", "title": "x", "brand": "b", "price": 1.0}
    assert client.put("/v1/products/new-1", json=body, headers=token).status_code == 403
    event = {"session_id": "s-1", "product_id": some_product(client), "ts": time.time()}
    assert client.post("/v1/events", json={"events": [event]}, headers=token).status_code == 403


def test_a_console_can_be_turned_off(artifacts):
    with api_client(artifacts, console=False) as client:
        for path in ("/console", "/console/api/overview", "/console/static/console.js"):
            assert client.get(path, headers=AUTH).status_code == 404, path
        assert "/console" not in client.get("/").text


def test_without_tokens_the_console_is_open_like_the_admin_routes(artifacts):
    with api_client(artifacts, api_token=None) as client:
        assert client.get("/console").status_code == 200
        assert client.get("/console/api/live").status_code == 200


def test_the_overview_is_the_served_bundle_s_manifest_in_strict_json(client, artifacts):
    bundle = Bundle.load(artifacts / "latest")
    r = client.get("/console/api/overview", headers=AUTH)
    assert r.status_code == 200
    overview = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert overview["version"] == bundle.version
    assert overview["counts"] == bundle.manifest["counts"]
    assert (
        overview["metrics"]["holdout"]["results"]
        == bundle.manifest["metrics"]["holdout"]["results"]
    )
    assert overview["sessionization"]["report"]["steps"]


def test_the_map_is_the_bundle_s_projection_gzipped_once(client, artifacts):
    bundle = Bundle.load(artifacts / "latest")
    r = client.get("/console/api/projection", headers=AUTH)  # TestClient accepts gzip
    assert r.headers["content-encoding"] == "gzip"
    data = r.json()
    assert data["points"] == bundle.manifest["projection"]["points"] == len(data["id"])
    assert len(data["x"]) == len(data["y"]) == len(data["cat"]) == data["points"]
    assert all(-1 <= c < len(data["categories"]) for c in data["cat"])
    product = client.get(f"/v1/products/{data['id'][0]}").json()
    assert data["title"][0] == product["title"]
    plain = client.get("/console/api/projection", headers={**AUTH, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == data


def test_live_figures_count_this_process_s_requests(client):
    product = some_product(client)
    before = client.get("/console/api/live", headers=AUTH).json()
    for _ in range(5):
        assert client.get("/v1/recommendations", params={"product_id": product}).status_code == 200
    live = client.get("/console/api/live", headers=AUTH).json()
    assert live["requests"]["total"] >= before["requests"]["total"] + 5
    route = next(r for r in live["latency"] if r["route"] == "GET /v1/recommendations")
    assert route["requests"] >= 5 and 0 < route["p50_ms"] <= route["p95_ms"] <= route["p99_ms"]
    assert live["answers"]["total"] >= 5 and live["answers"]["degraded"] == 0
    assert live["store"]["ok"] and live["store"]["backend"] == "memory"
    assert live["model"]["version"] == client.get("/readyz").json()["model_version"]


def test_the_try_out_writes_its_own_sessions_only(client):
    product = some_product(client)
    view = {"session_id": "console-abc", "product_id": product, "ts": time.time()}
    r = client.post("/console/api/events", json={"events": [view]}, headers=AUTH)
    assert r.status_code == 200 and r.json()["applied"] == 1
    answer = client.get("/v1/recommendations", params={"session_id": "console-abc", "k": 3})
    assert answer.json()["session_events"] == 1
    visitor = {**view, "session_id": "a-real-visitor"}
    refused = client.post("/console/api/events", json={"events": [visitor]}, headers=AUTH)
    assert refused.status_code == 422 and "console-" in refused.json()["message"]
    purchase = {**view, "event_type": "purchase"}
    assert (
        client.post("/console/api/events", json={"events": [purchase]}, headers=AUTH).status_code
        == 422
    )
    assert client.post("/console/api/events", json={"events": [view]}).status_code == 401


def test_the_browser_token_posts_events_and_nothing_else(client):
    product = some_product(client)
    event = {"session_id": "w-1", "product_id": product, "ts": time.time()}
    token = bearer(BROWSER_TOKEN)
    assert client.post("/v1/events", json={"events": [event]}, headers=token).status_code == 200
    assert client.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 200
    body = {"category": "sofas", "title": "x", "brand": "b", "price": 1.0}
    assert client.put("/v1/products/new-2", json=body, headers=token).status_code == 403
    assert client.post("/v1/admin/reload", headers=token).status_code == 403
    assert client.get("/console", headers=token).status_code == 401
    missing = client.post("/v1/events", json={"events": [event]})
    assert missing.status_code == 401 and "NOWREC_BROWSER_TOKEN" in missing.json()["message"]


def test_products_are_looked_up_together(client):
    ids = client.get("/console/api/projection", headers=AUTH).json()["id"][:3]
    r = client.get("/v1/products", params={"product_id": [ids[1], "nope", ids[0], ids[1]]})
    assert r.status_code == 200
    body = r.json()
    assert [p["product_id"] for p in body["products"]] == [ids[1], ids[0]]
    assert body["unknown"] == ["nope"]
    too_many = client.get("/v1/products", params={"product_id": [str(i) for i in range(101)]})
    assert too_many.status_code == 422


PREFLIGHT = {"Origin": SHOP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip


def test_cors_answers_the_shop_s_preflight_and_marks_its_answers(client):
    r = client.options("/v1/events", headers=PREFLIGHT)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    product = some_product(client)
    answer = client.get(
        "/v1/recommendations", params={"product_id": product}, headers={"Origin": SHOP}
    )
    assert answer.headers["access-control-allow-origin"] == SHOP
    error = client.get("/v1/recommendations", params={"k": 0}, headers={"Origin": SHOP})
    assert error.status_code == 422 and error.headers["access-control-allow-origin"] == SHOP
    other = client.options("/v1/events", headers={**PREFLIGHT, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    plain = client.options("/v1/events")  # not a preflight: the app's own answer
    assert plain.status_code == 204 and plain.headers["allow"] == "OPTIONS, POST"


def test_cors_is_off_by_default(artifacts):
    with api_client(artifacts) as client:
        r = client.options("/v1/events", headers=PREFLIGHT)
        assert r.status_code == 204 and "access-control-allow-origin" not in r.headers
        answer = client.get("/healthz", headers={"Origin": SHOP})
        assert "access-control-allow-origin" not in answer.headers


def test_bad_origins_and_short_production_console_tokens_are_refused(artifacts):
    with pytest.raises(ValidationError, match="not an origin: write scheme://host"):
        Settings(cors_origins="https://shop.example/products")
    with (
        pytest.raises(ConfigError, match="console token of at least 32"),
        api_client(artifacts, mode="production", api_token="p" * 32, console_token="c" * 20),
    ):
        pass


def test_the_root_points_to_the_console_and_the_docs(client, artifacts):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/console"' in page.text and 'href="/docs"' in page.text
    assert Bundle.load(artifacts / "latest").version in page.text
    with api_client(artifacts, console=False, docs=False) as bare:
        text = bare.get("/").text
        assert "/console" not in text and "/docs" not in text and "/nowrec.js" in text


def test_the_docs_load_their_assets_from_the_service_itself(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
        assert assets, page
        for url in assets:
            assert url.startswith("/docs/static/"), f"{page} loads {url}"
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 1000, url
        assert "fonts.googleapis" not in html and "cdn." not in html
    assert '"validatorUrl": null' in client.get("/docs").text
    assert client.get("/docs/static/../settings.py").status_code == 404
    assert client.get("/docs/static/nope.js").status_code == 404


def test_the_page_script_is_small_and_public(client):
    r = client.get("/nowrec.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) < 8_000 and "recommendation_id" in r.text
    assert "max-age" in r.headers["cache-control"]


def test_the_console_s_static_files_are_a_closed_set(client):
    assert client.get("/console/static/console.js").status_code == 200
    assert client.get("/console/static/..%2Froutes.py").status_code == 404
    assert client.get("/console/static/routes.py").status_code == 404


def _experiment(tmp_path: Path) -> Path:
    experiments = tmp_path / "experiments.toml"
    experiments.write_text(
        '[[experiments]]\nname = "exp"\ncontrol = "popular"\nvariants = [\n'
        '  { name = "popular", weight = 1, strategy = "popular" },\n'
        '  { name = "engine", weight = 1 },\n]\n'
    )
    return experiments


def test_try_out_sessions_are_served_outside_any_experiment(artifacts, tmp_path):
    settings = {"experiments_file": str(_experiment(tmp_path)), "logs_dir": str(tmp_path / "logs")}
    with api_client(artifacts, **settings) as client:
        product = some_product(client)
        answers = [
            client.get(
                "/v1/recommendations", params={"session_id": f"{prefix}{s}", "product_id": product}
            ).json()
            for prefix in ("console-", "visitor-")
            for s in range(20)
        ]
    console, visitors = answers[:20], answers[20:]
    assert {(a["experiment"], a["variant"]) for a in console} == {(None, "default")}
    assert {a["experiment"] for a in visitors} == {"exp"}  # the others are in it


def test_the_experiments_call_lists_each_experiment_with_its_report_or_why_not(artifacts, tmp_path):
    experiments = _experiment(tmp_path)
    with api_client(
        artifacts, experiments_file=str(experiments), logs_dir=str(tmp_path / "logs")
    ) as client:
        product = some_product(client)
        for s in range(20):
            answer = client.get(
                "/v1/recommendations", params={"session_id": f"s{s}", "product_id": product}
            ).json()
            click = {"session_id": f"s{s}", "product_id": answer["items"][0]["product_id"],
                     "ts": time.time(), "event_type": "click",
                     "recommendation_id": answer["recommendation_id"]}  # fmt: skip
            assert (
                client.post("/v1/events", json={"events": [click]}, headers=AUTH).status_code == 200
            )
        data = client.get("/console/api/experiments", headers=AUTH).json()
    assert data["experiments"] == ["exp"] and "exp" in data["running"]
    report = data["reports"]["exp"]["report"]
    assert {v["name"] for v in report["variants"]} == {"popular", "engine"}
    assert sum(v["sessions"] for v in report["variants"]) == 20
    assert sum(v["clicks"] for v in report["variants"]) == 20
