"""Production connectivity settings: Kafka over TLS and SASL, Redis with a password and TLS.

How the clients reach Kafka is said once (``Settings.kafka_client_options``) and every Kafka
client the service creates takes it; settings that cannot connect are refused at start (a
ConfigError, exit status 2) with the variable to set, never at the first request.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.errors import ConfigError
from serving.app import create_app
from serving.settings import Settings
from tests.api_support import api_settings, write_bundle
from tests.process_support import ROOT, consumer_refusal

SASL = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "nowrec",
    "kafka_sasl_password": "s3cret-from-a-secret",
}


def test_every_kafka_client_reaches_the_brokers_through_the_one_helper():
    """Each KafkaProducer/KafkaConsumer the service creates takes ``**`` the options of
    kafka_client_options (directly, through kafka_consumer_options, or handed down as
    ``client_options``): none is left on plain text when the brokers need TLS and SASL."""
    helpers = {"kafka_client_options", "kafka_consumer_options"}
    calls = []
    for path in sorted((ROOT / "serving").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                "KafkaProducer", "KafkaConsumer",
            ):  # fmt: skip
                spread = [k.value for k in node.keywords if k.arg is None]
                given = [
                    getattr(v.func, "attr", None) if isinstance(v, ast.Call) else getattr(v, "id", None)
                    for v in spread
                ]  # fmt: skip
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                calls.append(where)
                assert set(given) & (helpers | {"client_options"}), where
                assert not any(k.arg == "bootstrap_servers" for k in node.keywords), where
    # the events producer, the dead-letter producer, the consumer, the product topic's
    # consumer and the log sink's consumer (the producers of the product topic and of the
    # impressions are the events producer's class)
    assert len(calls) >= 5, calls


def test_plaintext_by_default_and_sasl_ssl_with_everything_it_needs(tmp_path):
    assert Settings(kafka_bootstrap_servers="k1:9092, k2:9092").kafka_client_options() == {
        "bootstrap_servers": ["k1:9092", "k2:9092"],
        "security_protocol": "PLAINTEXT",
    }
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings(**SASL, kafka_ssl_cafile=str(ca))
    options = settings.kafka_client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "nowrec"
    assert options["sasl_plain_password"] == "s3cret-from-a-secret"
    assert options["ssl_cafile"] == str(ca)
    # consumers share it, plus their own
    consumer = settings.kafka_consumer_options()
    assert consumer.items() >= options.items() and consumer["enable_auto_commit"] is False
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({**SASL, "kafka_sasl_username": None}, "SASL_SSL needs NOWREC_KAFKA_SASL_USERNAME"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT"},
            "needs NOWREC_KAFKA_SASL_MECHANISM and NOWREC_KAFKA_SASL_USERNAME and "
            "NOWREC_KAFKA_SASL_PASSWORD",
        ),
        (
            {**SASL, "kafka_security_protocol": "PLAINTEXT"},
            "are for SASL, which NOWREC_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nowhere/ca.pem"},
            "NOWREC_KAFKA_SSL_CAFILE /nowhere/ca.pem is not a file",
        ),
        (
            {**SASL, "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_ssl_cafile": "ca.pem"},
            "NOWREC_KAFKA_SSL_CAFILE is for TLS",
        ),
    ],
)
def test_kafka_settings_that_cannot_connect_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**settings).kafka_client_options()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"redis_url": "redis://:inline@r:6379/0", "redis_password": "secret"},
            "given twice, in NOWREC_REDIS_URL and in NOWREC_REDIS_PASSWORD",
        ),
        ({"redis_ssl_cafile": "ca.pem"}, "NOWREC_REDIS_SSL_CAFILE is for TLS: use a rediss://"),
        (
            {"redis_url": "rediss://r:6379/0", "redis_ssl_cafile": "/nowhere/ca.pem"},
            "NOWREC_REDIS_SSL_CAFILE /nowhere/ca.pem is not a file",
        ),
    ],
)
def test_redis_settings_that_cannot_connect_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        Settings(store_backend="redis", **settings).check_clients(kafka=False)
    Settings(store_backend="memory", **settings).check_clients(kafka=False)  # not used: fine


def test_redis_password_has_its_own_setting(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    settings = Settings(
        redis_url="rediss://r:6380/0", redis_password="secret", redis_ssl_cafile=str(ca)
    )
    assert settings.redis_client_options() == {
        "url": "rediss://r:6380/0",
        "password": "secret",
        "ssl_ca_certs": str(ca),
    }


def test_the_api_refuses_kafka_settings_at_start_only_when_it_uses_kafka(tmp_path):
    write_bundle(tmp_path / "artifacts", "v1")
    broken = {"kafka_security_protocol": "SASL_SSL"}
    with pytest.raises(ConfigError, match="needs NOWREC_KAFKA_SASL_MECHANISM"):
        create_app(api_settings(tmp_path / "artifacts", events_mode="kafka", **broken))
    with pytest.raises(ConfigError, match="needs NOWREC_KAFKA_SASL_MECHANISM"):
        create_app(api_settings(tmp_path / "artifacts", product_updates="kafka", **broken))
    create_app(api_settings(tmp_path / "artifacts", **broken))  # embedded: no Kafka client


def test_the_consumer_process_exits_2_with_the_setting_to_fix(tmp_path):
    missing = tmp_path / "missing-ca.pem"
    log = consumer_refusal(
        {"NOWREC_KAFKA_SECURITY_PROTOCOL": "SSL", "NOWREC_KAFKA_SSL_CAFILE": str(missing)}
    )
    assert f"NOWREC_KAFKA_SSL_CAFILE {missing} is not a file" in log


def test_the_settings_are_documented(tmp_path):
    readme = (Path(ROOT) / "README.md").read_text()
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
                 "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE", "REDIS_PASSWORD",
                 "REDIS_SSL_CAFILE"):  # fmt: skip
        assert f"NOWREC_{name}" in readme, name
