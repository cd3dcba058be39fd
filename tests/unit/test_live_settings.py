"""Settings of the live service: environment names, defaults, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.settings import Settings, get_settings
from tests.process_support import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_set_up(monkeypatch):
    for name in list(os.environ):
        if name.startswith("NOWREC_"):
            monkeypatch.delenv(name)
    s = Settings()
    assert s.store_backend == "memory"
    assert (s.session_ttl_s, s.session_max_items, s.max_sessions) == (1800.0, 50, 100_000)
    assert (s.kafka_topic, s.kafka_group_id) == ("nowrec.events", "nowrec-sessions")
    assert s.kafka_dead_letter_topic == "nowrec.events.dead-letter"
    assert s.kafka_check_crcs is True


def test_environment_overrides_with_prefix(monkeypatch):
    monkeypatch.setenv("NOWREC_STORE_BACKEND", "redis")
    monkeypatch.setenv("NOWREC_REDIS_URL", "redis://cache:6380/2")
    monkeypatch.setenv("NOWREC_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    monkeypatch.setenv("NOWREC_SESSION_MAX_ITEMS", "20")
    s = Settings()
    assert (s.store_backend, s.redis_url, s.session_max_items) == (
        "redis",
        "redis://cache:6380/2",
        20,
    )
    assert s.bootstrap_servers() == ["k1:9092", "k2:9092"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("store_backend", "mongo"),
        ("kafka_topic", "bad topic"),
        ("session_max_items", 0),
        ("session_ttl_s", -1),
        ("consumer_batch_size", 100_000),
    ],
)
def test_out_of_range_settings_are_refused(field, value):
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_settings_are_read_once():
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_consumer_process_refuses_bad_settings_with_a_clear_message():
    env = {"NOWREC_STORE_BACKEND": "mongo", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "serving.consumer"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid NOWREC_* settings" in done.stderr
    assert "NOWREC_STORE_BACKEND: Input should be 'memory' or 'redis'" in done.stderr


def test_consumer_help_answers_without_connecting():
    # Kafka and Redis on ports nobody listens on: a consumer that started would wait for them.
    env = os.environ | {
        "NOWREC_STORE_BACKEND": "redis",
        "NOWREC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "NOWREC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "NOWREC_CONSUMER_METRICS_PORT": "0",
    }
    run = [sys.executable, "-m", "serving.consumer"]
    out = subprocess.run(
        [*run, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m serving.consumer")
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "STORE_BACKEND", "REDIS_URL"):
        assert f"NOWREC_{name} (default" in out.stdout
    assert "NOWREC_API_TOKEN" not in out.stdout  # the API's settings are not the consumer's
    wrong = subprocess.run(
        [*run, "--topic", "x"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 2 and "unrecognized arguments: --topic x" in wrong.stderr
