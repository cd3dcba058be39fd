"""The product topic read by an API (in process) on a real broker (Tansu): records written by
other pods are applied, and anything else on the topic is skipped with its reason, never
applied and never fatal."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer

from engine.catalog import ProductMetadata
from serving.product_updates.record import ProductUpdate, encode
from tests.api_support import AUTH, api_client, metric_value, write_bundle
from tests.fixtures_kafka import unique_name
from tests.process_support import wait_until

pytestmark = pytest.mark.integration


def test_the_topic_is_validated_record_by_record(kafka_broker, tmp_path, request):
    write_bundle(tmp_path, "v1")
    topic = kafka_broker.create_topic(
        unique_name("products", request), configs={"cleanup.policy": "compact"}
    )
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", linger_ms=0)

    def send(key: bytes | None, value: bytes | None) -> None:
        producer.send(topic, key=key, value=value).get(10)

    other = encode(ProductUpdate.of("c0_i8", ProductMetadata("sofas", "b", 7.0, "t", False)))
    record = json.loads(other)
    send(b"c0_i8", other)  # another pod's update, written before this one started
    send(b"junk", b"\x00\xffnot json")
    send(b"c0_i9", json.dumps(record | {"product_id": "c0_i9", "price": -3}).encode())
    send(b"c0_i2", other)  # a key that is not its product id
    send(b"huge", b"{" + b" " * 20_000 + b"}")
    send(b"c0_i3", None)  # a tombstone: not written by nowrec, skipped
    try:
        with api_client(
            tmp_path,
            product_updates="kafka",
            product_updates_topic=topic,
            kafka_bootstrap_servers=kafka_broker.bootstrap,
            new_products_capacity=0,  # no room for new products
        ) as client:

            def ready() -> dict | None:
                r = client.get("/readyz")
                return r.json() if r.status_code == 200 else None

            body = wait_until(ready, "the API to read the whole topic", timeout_s=60)
            assert body["checks"]["product_updates"]["detail"].startswith("following topic")
            assert client.get("/v1/products/c0_i8").json()["available"] is False
            assert client.get("/v1/products/c0_i9").json()["price"] != -3
            assert client.get("/v1/products/c0_i2").json()["available"] is True
            # a new product another pod added, with no room here: skipped, counted
            send(b"new-1", json.dumps(record | {"product_id": "new-1"}).encode())
            # and then a valid update arrives while following
            send(b"c0_i5", json.dumps(record | {"product_id": "c0_i5", "price": 55.0}).encode())
            wait_until(
                lambda: client.get("/v1/products/c0_i5").json()["price"] == 55.0,
                "an update written while following",
            )
            assert client.get("/v1/products/new-1").status_code == 404
            text = client.get("/metrics").text
            skipped = {
                reason: metric_value(text, f'nowrec_product_log_skipped_total{{reason="{reason}"}}')
                for reason in ("not_json", "invalid", "key_mismatch", "too_long", "does_not_fit")
            }
            assert skipped == {
                "not_json": 2,  # the junk and the tombstone
                "invalid": 1,
                "key_mismatch": 1,
                "too_long": 1,
                "does_not_fit": 1,
            }
            assert metric_value(text, "nowrec_product_log_applied_total") == 2
            # its own write: applied at once, and not applied again when read back
            r = client.put("/v1/products/c0_i6", json={"price": 66.0}, headers=AUTH)
            assert r.status_code == 200 and r.json()["price"] == 66.0
            send(b"c0_i7", json.dumps(record | {"product_id": "c0_i7", "price": 77.0}).encode())
            wait_until(lambda: client.get("/v1/products/c0_i7").json()["price"] == 77.0, "c0_i7")
            text = client.get("/metrics").text
            assert metric_value(text, "nowrec_product_log_applied_total") == 3
    finally:
        producer.close()
