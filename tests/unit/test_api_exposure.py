"""What the API exposes besides its routes: the API description (/docs, /redoc,
/openapi.json) and the Prometheus metrics, each of which production may turn off or move."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from engine.errors import ConfigError
from tests.api_support import api_client, write_bundle
from tests.process_support import free_port

DESCRIPTION = ("/docs", "/redoc", "/openapi.json")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    write_bundle(root, "v1")
    return root


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_the_description_is_served_by_default(artifacts):
    with api_client(artifacts) as client:
        for path in DESCRIPTION:
            assert client.get(path).status_code == 200, path


def test_the_description_can_be_turned_off(artifacts):
    with api_client(artifacts, docs=False) as client:
        for path in DESCRIPTION:
            r = client.get(path)
            assert r.status_code == 404, path
            assert "described in the README" in r.json()["message"]  # not at a missing /docs
        assert client.get("/v1/recommendations", params={"product_id": "c0_i2"}).status_code == 200


def test_metrics_on_their_own_port_and_not_on_the_api_port(artifacts):
    port = free_port()
    with api_client(artifacts, metrics_port=port) as client:
        client.get("/v1/recommendations", params={"product_id": "c0_i2"})
        assert client.get("/metrics").status_code == 404
        text = scrape(port)
        # the app's own registry: its model, and the request it just answered
        assert 'nowrec_model_info{bundle="v1",version="v1"} 1.0' in text
        assert 'route="/v1/recommendations"' in text
        assert "/metrics" not in client.get("/openapi.json").json()["paths"]
    assert refuses_connections(port), "the metrics server outlived the app"


def test_metrics_can_be_turned_off(artifacts):
    with api_client(artifacts, metrics_port=0) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_a_metrics_port_in_use_stops_the_start_with_a_clear_error(artifacts):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*NOWREC_METRICS_PORT"),
            api_client(artifacts, metrics_port=port),
        ):
            pass
