"""The impression and outcome logs: never block an answer, lose nothing through a short
outage, count what a full queue drops; files rotate, expire and stay readable."""

from __future__ import annotations

import json
import os
import threading
import time

from serving.log_sinks import JsonLinesFiles
from serving.record_log import RecordLog
from tests.process_support import wait_until


class Outage:
    """A sink whose writes fail while ``down`` is set and block while ``stuck`` is set: the
    two faults of a real sink (broker or disk unavailable, broker hanging) on demand."""

    name = "test"

    def __init__(self) -> None:
        self.down = threading.Event()
        self.stuck = threading.Event()
        self.received: list[dict] = []

    def write(self, records):
        while self.stuck.is_set():
            time.sleep(0.005)
        if self.down.is_set():
            raise ConnectionError("sink unavailable")
        self.received.extend(records)

    def close(self):
        pass


def test_a_failing_sink_is_retried_and_nothing_is_lost():
    sink = Outage()
    sink.down.set()
    log = RecordLog(sink, max_queue=1000, retry_s=0.01)
    for n in range(300):
        assert log.record({"n": n})
    wait_until(lambda: log.failures >= 3, "some failed writes")
    sink.down.clear()
    assert log.flush(30)
    assert [json.loads(value)["n"] for _key, value in sink.received] == list(range(300))
    assert log.dropped == 0 and log.written == 300
    log.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    sink = Outage()
    sink.stuck.set()
    dropped = []
    log = RecordLog(sink, max_queue=10, on_drop=dropped.append, max_batch=1)
    accepted = [log.record({"n": n}) for n in range(100)]  # returns at once, stuck sink or not
    assert accepted.count(False) >= 89 and sum(dropped) == log.dropped == accepted.count(False)
    sink.stuck.clear()
    assert log.flush(30)
    assert len(sink.received) == accepted.count(True)
    log.close()


def test_files_rotate_expire_and_read_back(tmp_path):
    files = JsonLinesFiles(tmp_path, "impressions", rotate_bytes=200, retention_days=1)
    old = tmp_path / "impressions-20200101T000000Z-1-0.jsonl"
    old.write_text('{"n": -1}\n')
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    for n in range(20):
        files.write([(b"", json.dumps({"n": n, "pad": "x" * 20}).encode())])
    files.close()
    written = sorted(tmp_path.glob("impressions-*.jsonl"))
    assert len(written) > 1 and old not in written  # rotated, and the expired file removed
    lines = [json.loads(line) for f in written for line in f.read_text().splitlines()]
    assert sorted(r["n"] for r in lines) == list(range(20))
