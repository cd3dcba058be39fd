"""The closed loop through the API: answers carry their id and variant, experiments assign and
serve variants, impressions and outcomes are logged and attributed, and the report adds up."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from engine.errors import ConfigError
from serving.app import create_app
from tests.api_support import (
    AUTH,
    api_client,
    api_settings,
    logs_dir_for,
    metric_value,
    write_bundle,
)

EXPERIMENT = """
[[experiments]]
name = "exp"
control = "popular"
variants = [
  {{ name = "popular", weight = 1, strategy = "popular" }},
  {{ name = "engine", weight = 1 {extra} }},
]
"""


@pytest.fixture
def artifacts(tmp_path) -> Path:
    root = tmp_path / "artifacts"
    write_bundle(root, "v1")
    return root


def experiments_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiments.toml"
    path.write_text(text)
    return path


def impressions(artifacts: Path) -> list[dict]:
    files = sorted((logs_dir_for(artifacts) / "impressions").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def flush(client) -> None:
    loop = client.app.state.nowrec.loop
    for record_log in (loop.impressions, loop.outcome_log):
        assert record_log is None or record_log.flush(30)


def recommend(client, session: str | None, product: str = "c0_i2", **params) -> dict:
    query = {"product_id": product, "k": 5, **params}
    if session is not None:
        query["session_id"] = session
    r = client.get("/v1/recommendations", params=query)
    assert r.status_code == 200, r.text
    return r.json()


def test_every_answer_has_an_id_and_a_variant_and_is_logged(artifacts):
    with api_client(artifacts) as client:
        first = recommend(client, "s1")
        second = recommend(client, "s1")
        similar = client.get("/v1/products/c0_i2/similar", params={"k": 3, "session_id": "s1"})
        assert similar.status_code == 200
        flush(client)
    assert first["variant"] == "default" and first["experiment"] is None
    ids = {first["recommendation_id"], second["recommendation_id"],
           similar.json()["recommendation_id"]}  # fmt: skip
    assert len(ids) == 3
    logged = {r["recommendation_id"]: r for r in impressions(artifacts)}
    assert set(logged) == ids
    record = logged[first["recommendation_id"]]
    assert record["session_id"] == "s1" and record["product_id"] == "c0_i2"
    assert record["route"] == "recommendations" and record["variant"] == "default"
    assert [i["product_id"] for i in record["items"]] == [i["product_id"] for i in first["items"]]
    assert [i["position"] for i in record["items"]] == [1, 2, 3, 4, 5]
    assert logged[similar.json()["recommendation_id"]]["route"] == "similar"
    assert "ip" not in json.dumps(record).lower().replace("ship", "")  # no address, no agent


def test_variants_are_sticky_split_and_serve_what_they_declare(artifacts, tmp_path):
    config = experiments_file(tmp_path, EXPERIMENT.format(extra=""))
    with api_client(artifacts, experiments_file=str(config)) as client:
        answers = {f"s{n}": recommend(client, f"s{n}") for n in range(200)}
        again = {s: recommend(client, s)["variant"] for s in list(answers)[:50]}
        no_session = recommend(client, None)
    variants = Counter(a["variant"] for a in answers.values())
    assert set(variants) == {"popular", "engine"} and 60 < variants["popular"] < 140
    assert all(again[s] == answers[s]["variant"] for s in again)  # sticky
    assert all(a["experiment"] == "exp" for a in answers.values())
    for a in answers.values():
        assert a["strategy"] == ("popular" if a["variant"] == "popular" else "item")
    assert no_session["variant"] == "default" and no_session["experiment"] is None


@pytest.mark.parametrize(
    ("strategy", "check"),
    [
        ("holdout", lambda a: a["items"] == [] and a["strategy"] == "holdout"),
        ("item", lambda a: a["strategy"] == "item" and len(a["items"]) == 5),
    ],
)
def test_baselines(artifacts, tmp_path, strategy, check):
    config = experiments_file(
        tmp_path,
        '[[experiments]]\nname = "b"\nvariants = [\n'
        f'  {{ name = "base", weight = 1, strategy = "{strategy}" }},\n'
        '  { name = "other", weight = 0.000001, strategy = "popular" },\n]\n',
    )
    with api_client(artifacts, experiments_file=str(config)) as client:
        client.post("/v1/events", json={"events": [
            {"session_id": "v", "product_id": "c1_i3", "ts": time.time() - 5}]}, headers=AUTH)  # fmt: skip
        answer = recommend(client, "v")
    assert answer["variant"] == "base" and check(answer)


def test_a_variant_can_pin_an_older_bundle_and_override_the_ranking(artifacts, tmp_path):
    write_bundle(artifacts, "v2")  # latest moves on; the experiment keeps serving v1 to B
    config = experiments_file(
        tmp_path,
        '[[experiments]]\nname = "pin"\nvariants = [\n'
        '  { name = "new", weight = 1 },\n'
        '  { name = "old", weight = 1, bundle = "v1", '
        "ranking = { weights = { log_popularity = 1.0 } } },\n]\n",
    )
    with api_client(artifacts, experiments_file=str(config)) as client:
        answers = [recommend(client, f"p{n}") for n in range(40)]
        client.put("/v1/products/fresh-1", json={"category": "sofas", "price": 50.0},
                   headers=AUTH)  # fmt: skip
        pinned = client.app.state.nowrec.loop.experiments.pinned["v1"]
        assert pinned.current.model.catalog.state.row_of("fresh-1") is not None  # upserts reach it
    versions = {a["variant"]: a["model_version"] for a in answers}
    assert versions == {"new": "v2", "old": "v1"}
    by_variant = {a["variant"]: a["items"] for a in answers}
    assert by_variant["new"] != by_variant["old"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (EXPERIMENT.format(extra=', bundle = "nope"'), "bundle version 'nope' is not in the artifacts"),
        (EXPERIMENT.format(extra=", weight = -2").replace("weight = 1 ,", ""), "weight must be a positive"),
        (EXPERIMENT.format(extra="").replace('"engine"', '"popular"'), "variant name 'popular' is used twice"),
        (EXPERIMENT.format(extra="") * 2, "is used twice; names must be unique"),
        ("[[experiments]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_config_is_refused_at_start(artifacts, tmp_path, text, problem):
    config = experiments_file(tmp_path, text)
    with pytest.raises(ConfigError, match=problem):
        create_app(api_settings(artifacts, experiments_file=str(config)),
                   registry=CollectorRegistry())  # fmt: skip


def test_a_bad_config_on_reload_keeps_the_previous_one(artifacts, tmp_path):
    config = experiments_file(tmp_path, EXPERIMENT.format(extra=""))
    with api_client(artifacts, experiments_file=str(config)) as client:
        before = {s: recommend(client, s)["variant"] for s in ("a", "b", "c", "d")}
        config.write_text(EXPERIMENT.format(extra=', bundle = "nope"'))
        r = client.post("/v1/admin/reload", headers=AUTH)
        assert r.status_code == 409 and "bundle version 'nope'" in r.json()["message"]
        assert {s: recommend(client, s)["variant"] for s in before} == before
        described = client.get("/v1/admin/experiments", headers=AUTH).json()
        assert "nope" in described["last_error"] and "running" in described["running"]
        text = client.get("/metrics").text
        assert metric_value(text, 'nowrec_experiment_config_reloads_total{result="refused"}') == 1
        config.write_text(EXPERIMENT.format(extra="").replace('name = "exp"', 'name = "exp2"'))
        assert client.post("/v1/admin/reload", headers=AUTH).json()["experiments"] == "loaded"
        assert recommend(client, "a")["experiment"] == "exp2"


def test_outcomes_are_attributed_and_counted(artifacts, tmp_path):
    config = experiments_file(tmp_path, EXPERIMENT.format(extra=""))
    with api_client(artifacts, experiments_file=str(config)) as client:
        answer = recommend(client, "buyer")
        arm = answer["variant"]
        shown = [i["product_id"] for i in answer["items"]]
        now = time.time()
        events = [
            {"session_id": "buyer", "product_id": shown[0], "ts": now, "event_type": "click",
             "recommendation_id": answer["recommendation_id"]},
            {"session_id": "buyer", "product_id": shown[1], "ts": now + 1, "event_type": "click"},
            {"session_id": "buyer", "product_id": "c0_i1", "ts": now + 2, "event_type": "click",
             "recommendation_id": "0000nosuchid"},
            {"session_id": "buyer", "product_id": shown[0], "ts": now + 3,
             "event_type": "add_to_cart"},
            {"session_id": "buyer", "product_id": shown[0], "ts": now + 4,
             "event_type": "purchase", "price": 12.5, "quantity": 2},
        ]  # fmt: skip
        r = client.post("/v1/events", json={"events": events}, headers=AUTH)
        assert r.status_code == 200 and r.json()["accepted"] == 5
        bad = dict(events[-1], price=-1.0)
        assert client.post("/v1/events", json={"events": [bad]}, headers=AUTH).status_code == 422
        text = client.get("/metrics").text
        labels = f'experiment="exp",variant="{arm}"'
        assert (
            metric_value(text, f'nowrec_experiment_clicks_total{{attributed="true",{labels}}}') == 2
        )
        assert (
            metric_value(text, f'nowrec_experiment_clicks_total{{attributed="false",{labels}}}')
            == 1
        )
        assert metric_value(text, f"nowrec_experiment_carts_total{{{labels}}}") == 1
        assert metric_value(text, f"nowrec_experiment_purchases_total{{{labels}}}") == 1
        assert metric_value(text, f"nowrec_experiment_revenue_total{{{labels}}}") == 25.0
        assert metric_value(text, f"nowrec_experiment_impressions_total{{{labels}}}") == 1
        # the session remembers clicks like views
        assert recommend(client, "buyer")["session_events"] == 5
        report = client.get("/v1/admin/experiments/exp", headers=AUTH)
        assert report.status_code == 200, report.text
    variants = {v["name"]: v for v in report.json()["variants"]}
    assert variants[arm]["sessions"] == 1 and variants[arm]["clicks"] == 2
    assert variants[arm]["metrics"]["revenue_per_session"]["value"] == 25.0
    assert report.json()["verdict"].startswith("not enough data")


def test_thompson_shares_come_from_the_allocation_file_and_sessions_keep_theirs(
    artifacts, tmp_path
):
    config = experiments_file(
        tmp_path,
        '[[experiments]]\nname = "ts"\nallocation = "thompson"\nfloor = 0.05\nvariants = [\n'
        '  { name = "A", weight = 1, strategy = "popular" },\n  { name = "B", weight = 1 },\n]\n',
    )
    now = time.time()
    allocation = {"experiment": "ts", "history": [
        {"since": now - 3600, "shares": {"A": 0.5, "B": 0.5}},
        {"since": now - 60, "shares": {"A": 0.1, "B": 0.9}},
    ]}  # fmt: skip
    (tmp_path / "allocation.json").write_text(json.dumps(allocation))
    with api_client(artifacts, experiments_file=str(config)) as client:
        fresh = [recommend(client, f"new-{n}") for n in range(200)]
        # sessions that started before the shares moved keep the shares they started with
        old = {}
        for n in range(200):
            client.post("/v1/events", json={"events": [
                {"session_id": f"old-{n}", "product_id": "c0_i1", "ts": now - 600}]},
                headers=AUTH)  # fmt: skip
            old[n] = recommend(client, f"old-{n}")
        flush(client)
    assert 0.8 < sum(a["variant"] == "B" for a in fresh) / 200 < 0.97
    assert 0.35 < sum(a["variant"] == "B" for a in old.values()) / 200 < 0.65
    logged = {r["recommendation_id"]: r for r in impressions(artifacts)}
    probabilities = {logged[a["recommendation_id"]]["probability"] for a in fresh}
    assert probabilities == {0.1, 0.9}
    assert {logged[a["recommendation_id"]]["probability"] for a in old.values()} == {0.5}


def test_the_sample_ratio_check_runs_on_the_sessions_served(artifacts, tmp_path):
    config = experiments_file(tmp_path, EXPERIMENT.format(extra=""))
    with api_client(artifacts, experiments_file=str(config)) as client:
        for n in range(400):
            recommend(client, f"srm-{n}")
        loop = client.app.state.nowrec.loop
        p = loop.update_srm()
        assert p is not None and p > 0.001  # a fair hash splits them as configured
        text = client.get("/metrics").text
        assert metric_value(text, 'nowrec_experiment_srm_p_value{experiment="exp"}') == p
        loop._sessions[("exp", "engine")] += 200  # what a broken split would look like
        assert loop.update_srm() < 0.001


def test_forgetting_a_session(artifacts, tmp_path):
    config = experiments_file(tmp_path, EXPERIMENT.format(extra=""))
    with api_client(artifacts, experiments_file=str(config)) as client:
        client.post("/v1/events", json={"events": [
            {"session_id": "gdpr", "product_id": "c0_i1", "ts": time.time() - 5}]}, headers=AUTH)  # fmt: skip
        recommend(client, "gdpr")
        recommend(client, "kept")
        assert client.delete("/v1/sessions/gdpr").status_code == 401
        r = client.delete("/v1/sessions/gdpr", headers=AUTH)
        assert r.json() == {"session_id": "gdpr", "found": True, "log_marked": True}
        assert recommend(client, "gdpr")["session_events"] == 0
        # the answer just given counts, as a new session; the one before is forgotten
        report = client.get("/v1/admin/experiments/exp", headers=AUTH).json()
    assert sum(v["sessions"] for v in report["variants"]) == 1  # only "kept"
    assert any(r["type"] == "forget" and r["session_id"] == "gdpr" for r in impressions(artifacts))
