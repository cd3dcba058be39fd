"""Processes the tests start, and waiting on them: the one place for both.

Servers (Tansu, moto's S3, redis-server, tests/fixtures_kafka.py and tests/fixtures_redis.py)
and the service's own processes (``python -m serving``, ``python -m serving.consumer``, run
from the worktree root as a container runs them) are started by :func:`spawn` and stopped by
:func:`terminate`, as Kubernetes stops a pod. :func:`wait_until` polls a condition with a
generous hang guard (never a speed assertion) and fails at once, with the log's tail, when a
process it waits on has died.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""


def wait_until[T](
    predicate: Callable[[], T],
    what: str,
    timeout_s: float = 30.0,
    *,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    interval_s: float = 0.02,
) -> T:
    """Poll ``predicate`` until it returns something true, and return that.

    A guard against hangs, not a speed assertion: ``timeout_s`` is generous. When
    ``process`` exits first, fail at once with its status and the tail of ``log``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the process exited ({process.returncode}) before {what}: {_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Return once ``127.0.0.1:port`` accepts connections; raise if it does not in time."""

    def accepts() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        return False

    try:
        wait_until(accepts, f"127.0.0.1:{port} to accept connections", timeout_s,
                   process=process)  # fmt: skip
    except AssertionError as exc:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"server exited with status {process.returncode} while starting"
            ) from None
        raise TimeoutError(str(exc)) from None


def spawn(
    argv: list[str], log_path: Path | None, env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:  # fmt: skip
    """A process in a session of its own, its output (both streams) to ``log_path`` (or
    dropped)."""
    with open(log_path or os.devnull, "wb") as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def terminate(process: subprocess.Popen, grace_s: float = 10.0) -> int:
    """SIGTERM (as Kubernetes stops a pod); killed if it has not ended after ``grace_s``.
    Returns the exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def start_process(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """``python <args>`` in the repository root (``-m serving``, ``-m serving.consumer``)."""
    return spawn([sys.executable, *args], log, env, cwd=ROOT)


def stop_process(process: subprocess.Popen) -> int:
    """Stop a service process as Kubernetes stops a pod; its exit status."""
    return terminate(process, grace_s=20)


def consumer_refusal(env: dict[str, str]) -> str:
    """Run ``python -m serving.consumer`` with ``env`` (over this environment; Kafka on a port
    nobody listens on, no metrics port) until it exits, which it must do with status 2 (a
    setting refused at start) and no traceback; returns its log."""
    base = {"NOWREC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "NOWREC_CONSUMER_METRICS_PORT": "0"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "serving.consumer"],
        cwd=ROOT, env=os.environ | base | env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stderr


def is_ready(http: httpx.Client, process: subprocess.Popen, log: Path) -> bool:
    """Whether the API process answers /readyz with 200 (it must still be running)."""
    assert process.poll() is None, _tail(log)
    try:
        return http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False
