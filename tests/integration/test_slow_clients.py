"""Slow clients against a real API process (``python -m serving``, uvicorn) over real sockets:
connections that send their request a byte at a time, or nothing, must not hold the
connection slots (``NOWREC_MAX_CONNECTIONS``) for longer than ``NOWREC_HTTP_REQUEST_TIMEOUT_S``.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api_support import write_bundle
from tests.process_support import free_port, start_process, stop_process, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SLOTS = 6
TIMEOUT_S = 2.0
#: A request head that takes minutes at one byte per 0.1 s: it never completes in a test.
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: nowrec\r\n" + b"X-Pad: " + b"a" * 2000


class SlowClient:
    """One connection sending ``prefix`` at once, then ``data`` a byte every ``pause_s``,
    until the server closes it (or the data ends: then it waits).

    ``closed_after`` is how long after connecting the server closed it (``None`` while it is
    open), ``answer`` what the server sent before closing.
    """

    def __init__(self, port: int, data: bytes, *, prefix: bytes = b"", pause_s: float = 0.1):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.opened = time.monotonic()
        if prefix:
            self.sock.sendall(prefix)
        self.data = data
        self.pause_s = pause_s
        self.answer = b""
        self.closed_after: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(self.pause_s)
        sent = 0
        while not self._stop.is_set():
            try:
                if sent < len(self.data):
                    self.sock.sendall(self.data[sent : sent + 1])
                    sent += 1
                chunk = self.sock.recv(4096)  # waits pause_s unless the server answers
            except TimeoutError:
                continue
            except OSError:  # reset or broken pipe: closed by the server
                break
            if not chunk:
                break
            self.answer += chunk
        else:
            return
        self.closed_after = time.monotonic() - self.opened

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def api(tmp_path):
    """A real API process with few connection slots and a short request deadline."""
    write_bundle(tmp_path / "artifacts", "v1")
    port = free_port()
    env = os.environ | {
        "NOWREC_MAX_CONNECTIONS": str(SLOTS),
        "NOWREC_HTTP_REQUEST_TIMEOUT_S": str(TIMEOUT_S),
        "NOWREC_RELOAD_INTERVAL_S": "0",
        "NOWREC_MODE": "development",
    }
    log = tmp_path / "api.log"
    process = start_process(
        ["-m", "serving", "--port", str(port), "--artifacts", str(tmp_path / "artifacts")],
        env, log,
    )  # fmt: skip

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, "the API process to start", timeout_s=120)
        yield port, log
    finally:
        stop_process(process)


def test_slow_clients_are_closed_after_the_deadline_and_others_are_served(api):
    """Slow connections in every slot but one: headers a byte at a time, a body a byte at a
    time, and one that sends nothing. The limit counts the connection of the request it
    admits too, so without a deadline every other request gets 503 ("Exceeded concurrency
    limit") for as long as they like; with it the server closes each once the deadline has
    passed, and a normal client is served."""
    port, log = api
    body = b'{"events": [{"session_id": "s", "product_id": "c0_i1", "ts": 1700000000}]}'
    body += b" " * 1000
    body_head = (
        b"POST /v1/events HTTP/1.1\r\nHost: nowrec\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    heads = [SlowClient(port, SLOW_HEAD) for _ in range(SLOTS - 3)]
    slow_body = SlowClient(port, body, prefix=body_head)
    silent = SlowClient(port, b"")
    slow = [*heads, slow_body, silent]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            during = client.get("/healthz")
        if time.monotonic() - heads[0].opened < TIMEOUT_S / 2:  # surely before the deadline
            assert during.status_code == 503, "the slow connections did not take every slot"
        wait_until(
            lambda: all(c.closed_after is not None for c in slow),
            "the server to close the slow connections",
            timeout_s=30,  # a hang guard: without the deadline they are never closed
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            r = client.get("/v1/recommendations", params={"product_id": "c0_i2"})
            assert r.status_code == 200, r.text
    finally:
        for c in slow:
            c.close()
    times = sorted(c.closed_after for c in slow)
    print(
        f"slow connections closed after {times[0]:.2f} to {times[-1]:.2f} s (deadline {TIMEOUT_S} s)"
    )
    assert times[0] >= TIMEOUT_S * 0.9  # not before their time
    for c in heads:
        assert c.answer.startswith(b"HTTP/1.1 408 "), c.answer[:200]
    assert silent.answer == b""  # it sent nothing, so it is only closed
    assert slow_body.answer == b"", "its request was admitted, then cut: no answer"
    assert "Traceback" not in log.read_text()


def test_a_kept_alive_connection_is_not_cut_between_requests(api):
    """The deadline covers receiving a request, not the time between two requests on one
    connection (that is the keep-alive timeout's, 5 s)."""
    port, _log = api
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"status":"ok"}'
        sock = connection.sock
        time.sleep(TIMEOUT_S * 1.5)  # longer than the deadline, shorter than keep-alive
        connection.request("GET", "/healthz")  # on the same socket: a cut one would fail
        response = connection.getresponse()
        assert response.status == 200 and response.read() == b'{"status":"ok"}'
        assert connection.sock is sock
    finally:
        connection.close()
