"""Model reload: new bundles are swapped in with no failed request, bad ones are refused."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from pydantic import ValidationError

from engine.bundle import switch_latest
from engine.errors import BundleError, ConfigError
from engine.ranking import RankerParams
from serving.app import create_app
from tests.api_support import (
    AUTH,
    api_client,
    api_settings,
    corrupt_copy,
    metric_value,
    write_bundle,
)
from tests.process_support import wait_until

REFUSED = 'nowrec_model_reloads_total{result="refused"}'
LOADED = 'nowrec_model_reloads_total{result="loaded"}'


@pytest.fixture
def artifacts(tmp_path):
    write_bundle(tmp_path, "v1")
    return tmp_path


def served_version(client) -> str:
    return client.get("/v1/recommendations", params={"product_id": "c0_i1"}).json()["model_version"]


def test_admin_reload_swaps_to_the_new_latest(artifacts):
    with api_client(artifacts) as client:
        unchanged = client.post("/v1/admin/reload", headers=AUTH).json()
        assert unchanged["status"] == "unchanged" and unchanged["version"] == "v1"
        write_bundle(artifacts, "v2")
        r = client.post("/v1/admin/reload", headers=AUTH)
        assert r.status_code == 200
        assert r.json() == {
            "status": "loaded",
            "version": "v2",
            "previous_version": "v1",
            "bundle": str((artifacts / "v2").resolve()),
            "experiments": "none",
        }
        assert served_version(client) == "v2"
        text = client.get("/metrics").text
        assert metric_value(text, LOADED) == 2
        assert 'nowrec_model_info{bundle="v2",version="v2"} 1.0' in text
        model = client.get("/v1/admin/model", headers=AUTH).json()
        assert model["version"] == "v2" and model["reloads"] == 1


def test_watcher_follows_latest(artifacts):
    with api_client(artifacts, reload_interval_s=0.05) as client:
        write_bundle(artifacts, "v2")
        wait_until(lambda: served_version(client) == "v2", "the watcher to load v2")
        switch_latest(artifacts, "v1")  # a rollback is a move of latest too
        wait_until(lambda: served_version(client) == "v1", "the watcher to load v1 again")


def test_no_request_fails_during_swaps(artifacts):
    write_bundle(artifacts, "v2", make_latest=False)
    with api_client(artifacts, worker_threads=4) as client:
        stop = threading.Event()
        statuses: Counter = Counter()
        versions: Counter = Counter()
        errors: list[str] = []

        def hammer(session: str) -> None:
            client.post(
                "/v1/events",
                json={"events": [{"session_id": session, "product_id": "c0_i3", "ts": 1.7e9}]},
                headers=AUTH,
            )
            while not stop.is_set():
                r = client.get(
                    "/v1/recommendations",
                    params={"session_id": session, "product_id": "c0_i30", "k": 10},
                )
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    body = r.json()
                    versions[body["model_version"]] += 1
                    if len(body["items"]) != 10 or body["strategy"] != "session":
                        errors.append(r.text)
                else:
                    errors.append(r.text)

        threads = [threading.Thread(target=hammer, args=(f"s{n}",)) for n in range(3)]
        for t in threads:
            t.start()
        try:
            for n in range(8):
                switch_latest(artifacts, ("v2", "v1")[n % 2])
                assert client.post("/v1/admin/reload", headers=AUTH).json()["status"] == "loaded"
                done = statuses.total()
                wait_until(lambda d=done: statuses.total() >= d + 10, "requests on the new model")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert errors == []
        assert set(statuses) == {200}
        assert set(versions) == {"v1", "v2"}


def test_corrupt_bundle_is_refused_and_the_old_model_keeps_serving(artifacts):
    with api_client(artifacts) as client:
        corrupt_copy(artifacts, "v1", "v2-bad")
        r = client.post("/v1/admin/reload", headers=AUTH)
        assert r.status_code == 409
        message = r.json()["message"]
        assert (
            "checksum mismatch for vectors_input.npy" in message and "still serving v1" in message
        )
        assert served_version(client) == "v1"
        state = client.app.state.nowrec
        # the watcher's checks do not verify (or count) the same refused bundle again
        assert state.models.reload().status == "refused"
        text = client.get("/metrics").text
        assert metric_value(text, REFUSED) == 1
        ready = client.get("/readyz").json()
        assert (
            ready["ready"] is True and "last reload refused" in ready["checks"]["model"]["detail"]
        )
        assert (
            "checksum mismatch"
            in client.get("/v1/admin/model", headers=AUTH).json()["last_reload_error"]
        )
        # a good bundle afterwards is taken
        write_bundle(artifacts, "v3")
        assert state.models.reload().status == "loaded"
        assert served_version(client) == "v3"
        assert client.get("/v1/admin/model", headers=AUTH).json()["last_reload_error"] is None


def test_bundle_of_a_newer_schema_is_refused(artifacts):
    with api_client(artifacts, reload_interval_s=0.05) as client:
        newer = write_bundle(artifacts, "v2", make_latest=False)
        manifest = json.loads((newer / "manifest.json").read_text())
        manifest["schema_version"] = 99
        (newer / "manifest.json").write_text(json.dumps(manifest))
        switch_latest(artifacts, "v2")
        wait_until(
            lambda: metric_value(client.get("/metrics").text, REFUSED),
            "the watcher to refuse v2",
        )
        time.sleep(0.2)  # a few more checks of the same bundle: not verified or counted again
        assert metric_value(client.get("/metrics").text, REFUSED) == 1
        assert "newer than this code reads" in client.app.state.nowrec.models.last_error
        assert served_version(client) == "v1"


def test_upserts_survive_a_reload(artifacts):
    with api_client(artifacts) as client:
        put = client.put("/v1/products/fresh", json={"category": "toys"}, headers=AUTH)
        assert put.status_code == 201
        hidden = client.put("/v1/products/c1_i2", json={"available": False}, headers=AUTH)
        assert hidden.status_code == 200
        write_bundle(artifacts, "v2")
        assert client.post("/v1/admin/reload", headers=AUTH).json()["version"] == "v2"
        fresh = client.get("/v1/products/fresh").json()
        assert fresh["model_version"] == "v2" and fresh["trained"] is False
        assert fresh["category"] == "toys"
        assert client.get("/v1/products/c1_i2").json()["available"] is False
        similar = client.get("/v1/products/c1_i3/similar", params={"k": 100}).json()
        ids = [i["product_id"] for i in similar["items"]]
        assert "fresh" in ids and "c1_i2" not in ids


def test_start_up_refuses_a_corrupt_bundle(artifacts):
    corrupt_copy(artifacts, "v1", "v2-bad")
    with pytest.raises(BundleError, match="checksum mismatch"), api_client(artifacts):
        pass


def test_artifacts_uri(artifacts):
    with api_client(f"file://{artifacts}") as client:
        assert served_version(client) == "v1"
    with pytest.raises(ConfigError, match="local path or a file:// URI"):
        create_app(api_settings("gs://bucket/artifacts"))


def test_waits_for_the_first_bundle_when_asked(tmp_path):
    empty = tmp_path / "artifacts"
    empty.mkdir()
    with pytest.raises(BundleError), api_client(empty):  # the default: an error at start-up
        pass
    with api_client(empty, wait_for_model=True, reload_interval_s=0.05) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["model"]["ok"] is False
        r = client.get("/v1/recommendations", params={"product_id": "c0_i1"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "10"
        assert "run the training job" in r.json()["message"]
        write_bundle(empty, "v1")
        wait_until(lambda: client.get("/readyz").status_code == 200, "the first bundle")
        r = client.get("/v1/recommendations", params={"product_id": "c0_i1", "k": 3})
        assert r.status_code == 200 and r.json()["model_version"] == "v1"


def test_the_service_setting_overrides_the_bundles_freshness_boost(artifacts):
    def boost(client) -> float:
        return client.app.state.nowrec.models.current.model.params.ranking.freshness_boost

    with api_client(artifacts) as client:
        assert boost(client) == RankerParams().freshness_boost  # the bundle's own
    with api_client(artifacts, freshness_boost=0.75) as client:
        assert boost(client) == 0.75
        write_bundle(artifacts, "v2")
        assert client.post("/v1/admin/reload", headers=AUTH).json()["version"] == "v2"
        assert boost(client) == 0.75  # every bundle loaded afterwards too
    for bad in (-1, 31, float("nan")):
        with pytest.raises(ValidationError, match="freshness_boost"):
            api_settings(artifacts, freshness_boost=bad)
