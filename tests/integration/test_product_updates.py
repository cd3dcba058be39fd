"""Product updates are shared by every API process and survive restarts, with real processes
(``python -m serving`` on loopback ports, as pods run it): Kafka mode on a real broker
(Tansu), where two processes follow the compacted topic, and embedded mode, where one process
keeps its file log across a crash."""

from __future__ import annotations

import os
import signal
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.api_support import write_bundle
from tests.fixtures_kafka import unique_name
from tests.process_support import free_port, is_ready, start_process, stop_process, wait_until

pytestmark = pytest.mark.integration

TOKEN = "products-token-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW = {"category": "toys", "brand": "brand1", "price": 12.5, "title": "toys item new"}
#: A guard against hangs, not a speed requirement (the delays are printed).
VISIBLE_WITHIN_S = 30


class Api:
    """One ``python -m serving`` process and an HTTP client of it."""

    def __init__(self, name: str, artifacts: Path, env: dict, logs: Path) -> None:
        self.name, self.artifacts, self.env, self.logs = name, artifacts, env, logs
        self.port = free_port()
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        self.starts = 0
        self.process = None

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}-{self.starts}.log"

    def start(self) -> Api:
        self.starts += 1
        args = ["-m", "serving", "--port", str(self.port), "--artifacts", str(self.artifacts)]
        self.process = start_process(args, self.env, self.log)
        return self

    def wait_ready(self) -> None:
        wait_until(lambda: is_ready(self.http, self.process, self.log), f"{self.name} ready", 120)

    def stop(self) -> int:
        return stop_process(self.process)

    def product(self, product_id: str) -> dict | None:
        r = self.http.get(f"/v1/products/{product_id}")
        return r.json() if r.status_code == 200 else None

    def put(self, product_id: str, body: dict, status: int = 200) -> float:
        """PUT and return when it answered (monotonic)."""
        r = self.http.put(f"/v1/products/{product_id}", json=body, headers=AUTH)
        assert r.status_code == status, r.text
        return time.monotonic()

    def similar(self, product_id: str) -> list[str]:
        r = self.http.get(f"/v1/products/{product_id}/similar", params={"k": 100})
        return [i["product_id"] for i in r.json()["items"]]


def _visible(api: Api, product_id: str, since: float, check) -> float:
    """Seconds from ``since`` until ``check(product)`` holds on ``api``."""
    wait_until(
        lambda: check(api.product(product_id)), f"{product_id} on {api.name}", VISIBLE_WITHIN_S
    )
    return time.monotonic() - since


def _env(**settings: str) -> dict:
    return os.environ | {
        "NOWREC_RELOAD_INTERVAL_S": "0",
        "NOWREC_MODE": "production",
        "NOWREC_API_TOKEN": TOKEN,
        **{f"NOWREC_{k.upper()}": v for k, v in settings.items()},
    }


def test_updates_reach_every_api_process_and_survive_restarting_them(
    kafka_broker, tmp_path, request
):
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    topic = kafka_broker.create_topic(
        unique_name("products", request), configs={"cleanup.policy": "compact"}
    )
    env = _env(
        product_updates="kafka",
        product_updates_topic=topic,
        kafka_bootstrap_servers=kafka_broker.bootstrap,
    )
    a, b = Api("api-a", artifacts, env, tmp_path), Api("api-b", artifacts, env, tmp_path)
    delays: dict[str, float] = {}
    with ExitStack() as stack:
        for api in (a, b):
            stack.callback(api.http.close)
            stack.callback(lambda api=api: api.process and api.stop())
            api.start()
        for api in (a, b):
            api.wait_ready()

        # a new product, written through A: A has it at once, B as it reads the topic
        put = a.put("fresh-1", NEW, status=201)
        assert a.product("fresh-1")["price"] == 12.5
        delays["new product"] = _visible(b, "fresh-1", put, lambda p: p and p["price"] == 12.5)
        assert "fresh-1" in b.similar("c1_i6")
        # sold out through A: gone from B's answers
        put = a.put("c1_i4", {"available": False})
        delays["sold out"] = _visible(b, "c1_i4", put, lambda p: p["available"] is False)
        assert "c1_i4" not in b.similar("c1_i6")
        # a price through B reaches A
        put = b.put("c1_i5", {"price": 99.0})
        delays["price"] = _visible(a, "c1_i5", put, lambda p: p["price"] == 99.0)
        # two quick updates of one product: the writer never goes back to the first
        a.put("c0_i7", {"price": 1.0})
        a.put("c0_i7", {"price": 2.0})
        _visible(b, "c0_i7", time.monotonic(), lambda p: p["price"] == 2.0)
        assert a.product("c0_i7")["price"] == 2.0
        print("update through one process -> visible through the other: "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in delays.items()))  # fmt: skip

        # both restart (the broker keeps the topic): every update is read back
        for api in (a, b):
            assert api.stop() in (0, -signal.SIGTERM), api.log.read_text()[-3000:]
            api.start()
        for api in (a, b):
            api.wait_ready()
            assert api.product("fresh-1")["price"] == 12.5
            assert api.product("fresh-1")["trained"] is False
            assert api.product("c1_i4")["available"] is False
            assert api.product("c1_i5")["price"] == 99.0
            assert api.product("c0_i7")["price"] == 2.0
            assert "c1_i4" not in api.similar("c1_i6")
        ready = a.http.get("/readyz").json()["checks"]["product_updates"]
        assert ready["ok"] and ready["detail"].startswith(f"following topic {topic!r}")
    # well under a second on loopback; the guard above only catches a hang
    assert all(d < VISIBLE_WITHIN_S for d in delays.values())


def test_embedded_updates_survive_a_crash_of_the_one_process(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    api = Api("api", artifacts, _env(), tmp_path)  # the file log beside `latest` (default)
    with ExitStack() as stack:
        stack.callback(api.http.close)
        stack.callback(lambda: api.process and api.stop())
        api.start().wait_ready()
        api.put("fresh-2", NEW, status=201)
        api.put("c1_i4", {"available": False})
        api.put("c1_i5", {"price": 99.0})
        # a second process on the same log is refused with the reason, the first serves on
        other = Api("other", artifacts, _env(), tmp_path).start()
        assert other.process.wait(120) == 2
        assert "in use by another process" in other.log.read_text()
        other.http.close()
        api.process.kill()  # a crash: no shutdown, nothing flushed but what was fsync'd
        api.process.wait(10)
        api.start().wait_ready()
        assert api.product("fresh-2")["price"] == 12.5
        assert api.product("c1_i4")["available"] is False
        assert api.product("c1_i5")["price"] == 99.0
        assert "c1_i4" not in api.similar("c1_i6") and "fresh-2" in api.similar("c1_i6")
    assert (artifacts / "product-updates.jsonl").is_file()
