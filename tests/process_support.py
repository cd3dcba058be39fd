"""Real service processes for the integration tests: ``python -m serving`` (and the consumer)
started from the worktree root, as a container runs them, and stopped as Kubernetes stops a
pod."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def start_process(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """``python <args>`` in the repository root, its output (both streams) into ``log``."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
    )


def stop_process(process: subprocess.Popen) -> int:
    """SIGTERM, as Kubernetes stops a pod (killed if it does not end); the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def is_ready(http: httpx.Client, process: subprocess.Popen, log: Path) -> bool:
    """Whether the API process answers /readyz with 200 (it must still be running)."""
    assert process.poll() is None, log.read_text()[-3000:]
    try:
        return http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False
