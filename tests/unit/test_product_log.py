"""The file product log of embedded mode: durable appends, a validated replay that skips (and
counts) every unreadable line, compaction, one process per file; and the API on top of it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.catalog import ProductMetadata
from engine.errors import ConfigError
from serving.product_updates.file_log import FileProductLog
from serving.product_updates.record import MAX_RECORD_BYTES, ProductUpdate, decode, encode
from tests.api_support import AUTH, api_client, metric_value, write_bundle

ROOT = Path(__file__).resolve().parents[2]


def update(product_id: str, price: float, **fields) -> ProductUpdate:
    meta = ProductMetadata(category=fields.pop("category", "toys"), price=price, **fields)
    return ProductUpdate.of(product_id, meta, ts=1_700_000_000.0)


def opened(path: Path, **kwargs) -> tuple[FileProductLog, list[ProductUpdate], Counter]:
    skipped: Counter = Counter()
    product_log = FileProductLog(path, on_skip=lambda reason: skipped.update([reason]), **kwargs)
    return product_log, product_log.open(), skipped


def test_appended_updates_come_back_newest_per_product(tmp_path):
    path = tmp_path / "logs" / "products.jsonl"  # the directory is created
    product_log, replayed, _ = opened(path)
    assert replayed == []
    for u in (update("a", 1.0), update("b", 2.0), update("a", 3.0, available=False)):
        product_log.append(u)
    product_log.close()
    assert len(path.read_bytes().splitlines()) == 3  # appended, one line each
    again, replayed, skipped = opened(path)
    assert [(u.product_id, u.price, u.available) for u in replayed] == [
        ("b", 2.0, True),
        ("a", 3.0, False),  # in the order they were last updated
    ]
    assert not skipped
    again.close()


def test_every_unreadable_line_is_skipped_with_its_reason(tmp_path, caplog):
    path = tmp_path / "products.jsonl"
    good = encode(update("good-1", 5.0))
    record = json.loads(good)
    lines = [
        good,
        b"not json at all",
        b"[1, 2, 3]",
        json.dumps(record | {"price": -1}).encode(),  # out of range
        json.dumps(record | {"v": 2}).encode(),  # a newer schema
        json.dumps({k: v for k, v in record.items() if k != "category"}).encode(),
        json.dumps(record | {"product_id": "bad\tid with a tab"}).encode(),  # not an id
        b"x" * (MAX_RECORD_BYTES * 3),  # far too long (read in bounded pieces)
        b"",
        encode(update("good-2", 6.0)),
    ]
    # and a last line cut short by a crash in the middle of a write
    path.write_bytes(b"\n".join(lines) + b"\n" + good[:20])
    product_log, replayed, skipped = opened(path)
    assert [u.product_id for u in replayed] == ["good-1", "good-2"]
    assert skipped == Counter(invalid=4, not_json=3, too_long=1, incomplete=1)
    assert product_log.skipped == 9
    assert "line 2 skipped (not_json)" in caplog.text
    assert "line 11 skipped (incomplete)" in caplog.text
    # the next update starts on a line of its own, after the torn one
    product_log.append(update("good-3", 7.0))
    product_log.close()
    _, replayed, skipped = opened(path)
    assert [u.product_id for u in replayed] == ["good-1", "good-2", "good-3"]
    assert skipped["incomplete"] == 0 and skipped["not_json"] == 4  # the torn line, ended


def test_the_log_is_compacted_as_it_grows_and_keeps_unreadable_lines_aside(tmp_path):
    path = tmp_path / "products.jsonl"
    path.write_bytes(b"garbage\n")
    product_log, _, _ = opened(path, compact_min_lines=10)
    for n in range(30):
        product_log.append(update(f"p{n % 3}", float(n)))
        assert len(path.read_bytes().splitlines()) < 10  # rewritten before it grows past it
    product_log.close()
    lines = path.read_bytes().splitlines()
    assert sorted(decode(line).product_id for line in lines) == ["p0", "p1", "p2"]
    (aside,) = tmp_path.glob("products.jsonl.skipped-*")  # the unreadable line is not lost
    assert b"garbage" in aside.read_bytes()
    _, replayed, skipped = opened(path)
    assert {u.product_id: u.price for u in replayed} == {"p0": 27.0, "p1": 28.0, "p2": 29.0}
    assert not skipped


def test_one_process_per_log(tmp_path):
    path = tmp_path / "products.jsonl"
    first = FileProductLog(path)
    with pytest.raises(
        ConfigError, match="in use by another process.*NOWREC_PRODUCT_UPDATES=kafka"
    ):
        FileProductLog(path)
    first.close()
    FileProductLog(path).close()  # free again


def test_a_write_that_fails_is_reported_and_leaves_the_log_readable(tmp_path):
    """A real failed write: the process may not grow files past a size (RLIMIT_FSIZE)."""
    path = tmp_path / "products.jsonl"
    script = f"""
import resource, signal
from serving.errors import ProductLogError
from serving.product_updates.file_log import FileProductLog
from tests.unit.test_product_log import update
log = FileProductLog({str(path)!r}); log.open()
log.append(update("kept", 1.0))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
size = {str(path)!r}
import os
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(size) + 30, resource.RLIM_INFINITY))
try:
    log.append(update("lost", 2.0))
except ProductLogError as exc:
    print("refused:", exc)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "refused: cannot write the product log" in out.stdout
    assert "the update was not applied" in out.stdout
    _, replayed, skipped = opened(path)
    assert [u.product_id for u in replayed] == ["kept"]  # the cut write is skipped, counted
    assert sum(skipped.values()) == 1


# -- the API on the file log -----------------------------------------------------------------


def test_updates_survive_a_restart_of_the_app(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    new = {"category": "toys", "brand": "brand1", "price": 12.5, "title": "toys item new"}
    with api_client(artifacts, product_log=None) as client:  # the default: beside `latest`
        assert client.put("/v1/products/fresh-1", json=new, headers=AUTH).status_code == 201
        assert (
            client.put("/v1/products/c1_i4", json={"available": False}, headers=AUTH).status_code
            == 200
        )
        assert (
            client.put("/v1/products/c1_i5", json={"price": 99.0}, headers=AUTH).status_code == 200
        )
    assert (artifacts / "product-updates.jsonl").is_file()
    with api_client(artifacts, product_log=None) as client:
        fresh = client.get("/v1/products/fresh-1").json()
        assert (fresh["price"], fresh["trained"], fresh["category"]) == (12.5, False, "toys")
        assert client.get("/v1/products/c1_i4").json()["available"] is False
        assert client.get("/v1/products/c1_i5").json()["price"] == 99.0
        similar = client.get("/v1/products/c1_i6/similar", params={"k": 100}).json()
        ids = [i["product_id"] for i in similar["items"]]
        assert "fresh-1" in ids and "c1_i4" not in ids
        ready = client.get("/readyz").json()
        assert ready["checks"]["product_updates"] == {
            "ok": True,
            "detail": f"3 updates applied from {artifacts / 'product-updates.jsonl'}",
        }
        text = client.get("/metrics").text
        assert metric_value(text, "nowrec_product_log_applied_total") == 3
        # and again to every model loaded afterwards
        write_bundle(artifacts, "v2")
        assert client.post("/v1/admin/reload", headers=AUTH).json()["version"] == "v2"
        fresh = client.get("/v1/products/fresh-1").json()
        assert (fresh["model_version"], fresh["price"]) == ("v2", 12.5)
        assert client.get("/v1/products/c1_i4").json()["available"] is False


def test_a_corrupt_log_never_stops_the_service(tmp_path):
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    path = tmp_path / "products.jsonl"
    path.write_bytes(
        encode(update("fresh-2", 3.0)) + b"\n{broken\n" + encode(update("c0_i9", 4.0))[:-5]
    )
    with api_client(artifacts, product_log=str(path)) as client:
        assert client.get("/v1/products/fresh-2").json()["price"] == 3.0
        assert client.get("/v1/products/c0_i9").json()["price"] != 4.0  # the torn line
        text = client.get("/metrics").text
        assert metric_value(text, 'nowrec_product_log_skipped_total{reason="not_json"}') == 1
        assert metric_value(text, 'nowrec_product_log_skipped_total{reason="incomplete"}') == 1
        ready = client.get("/readyz").json()["checks"]["product_updates"]
        assert ready["ok"] and "(2 unreadable lines skipped)" in ready["detail"]
        # and it keeps accepting updates
        r = client.put("/v1/products/c0_i9", json={"price": 5.0}, headers=AUTH)
        assert r.status_code == 200 and r.json()["price"] == 5.0


def test_what_cannot_be_applied_is_refused_before_it_is_logged(tmp_path):
    """The products updates may name are bounded: new ones by the new-products capacity, the
    others by the catalogue; a refused update leaves no line in the log."""
    artifacts = tmp_path / "artifacts"
    write_bundle(artifacts, "v1")
    path = tmp_path / "products.jsonl"
    new = {"category": "toys", "price": 10.0}
    with api_client(artifacts, product_log=str(path), new_products_capacity=2) as client:
        assert client.put("/v1/products/new-a", json=new, headers=AUTH).status_code == 201
        assert client.put("/v1/products/new-b", json=new, headers=AUTH).status_code == 201
        full = client.put("/v1/products/new-c", json=new, headers=AUTH)
        assert full.status_code == 409
        assert "catalogue is full" in full.json()["message"]
        assert "NOWREC_NEW_PRODUCTS_CAPACITY" in full.json()["message"]
        bare = client.put("/v1/products/new-d", json={"available": True}, headers=AUTH)
        assert bare.status_code == 422
        # updates of products already there are still accepted
        assert (
            client.put("/v1/products/new-a", json={"price": 11.0}, headers=AUTH).status_code == 200
        )
        assert (
            client.put("/v1/products/c0_i1", json={"price": 1.0}, headers=AUTH).status_code == 200
        )
    logged = [decode(line).product_id for line in path.read_bytes().splitlines()]
    assert logged == ["new-a", "new-b", "new-a", "c0_i1"]
