"""Fixtures for the real redis-server (see tests/conftest.py).

The server is the Debian package's ``redis-server`` binary (installed by ``.ci/run``), started
on a free loopback port without persistence. Tests that need it skip, with the reason, only
where the binary is absent. ``redis_server`` is shared by the session (tests isolate themselves
with their own key prefix); ``fault_redis_server`` is a test's own, to stop, restart or pause.
A server may require a password (``requirepass``) and speak TLS only (certificates made by
:func:`tls_files` with the ``openssl`` command, a CA of the test's own).

``RedisServer`` is a plain class so benchmarks can start a server too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.process_support import free_port, spawn, terminate, wait_for_port


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` ($NOWREC_TEST_REDIS_SERVER, else found on PATH or /usr/bin)."""
    override = os.environ.get("NOWREC_TEST_REDIS_SERVER")
    if override:
        return override
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )


@dataclass(frozen=True)
class TlsFiles:
    """A CA of a test's own and a server certificate it signed, for 127.0.0.1 (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def tls_files(where: Path) -> TlsFiles:
    """Make a CA and a server certificate for 127.0.0.1 under ``where`` (``openssl``; the
    calling test skips, with the reason, where it is absent)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (Debian: apt-get install openssl)")
    where.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(where / "ca.pem", where / "server.pem", where / "server.key")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=where)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=nowrec test CA",
        "-keyout", "ca.key", "-out", files.ca.name,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        files.key.name, "-out", "server.csr")  # fmt: skip
    (where / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", files.ca.name, "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", files.cert.name)  # fmt: skip
    return files


class RedisServer:
    """A redis-server process on ``127.0.0.1:port`` with persistence off.

    Args:
        binary: the redis-server executable (default: :func:`redis_server_binary`).
        port: loopback port (default: a free one, kept across restarts).
        work_dir: the server's working directory and log (default: a temporary directory).
        password: required of every client (``requirepass``); default: none.
        tls: serve TLS only, with these certificates (clients are not asked for one).
    """

    def __init__(
        self,
        binary: str | None = None,
        port: int | None = None,
        work_dir: Path | None = None,
        password: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.binary = binary or redis_server_binary()
        if self.binary is None:
            raise FileNotFoundError("redis-server not found (Debian: apt-get install redis-server)")
        self.port = port or free_port()
        self._own_dir = work_dir is None  # a temporary directory of ours, removed on exit
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="redis-"))
        self.password = password
        self.tls = tls
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Its URL, without the password (``rediss://`` when it speaks TLS)."""
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start the process and wait until it accepts connections."""
        log = self.work_dir / "redis.log"
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            t = self.tls
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(t.cert),
                      "--tls-key-file", str(t.key), "--tls-ca-cert-file", str(t.ca),
                      "--tls-auth-clients", "no"]  # fmt: skip
        if self.password is not None:
            listen += ["--requirepass", self.password]
        self.process = spawn(
            [self.binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.work_dir), "--logfile", str(log)],
            None,
        )  # fmt: skip
        try:
            wait_for_port(self.port, timeout_s, self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server did not start: {exc}; log: {tail}") from exc
        return self

    def stop(self) -> None:
        """Terminate the server (killed if it does not exit within 5 s); data is lost."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        terminate(process, grace_s=5)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds, start again on the same port (empty)."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _require_redis() -> str:
    binary = redis_server_binary()
    if binary is None:
        pytest.skip(
            "redis-server not installed (Debian: apt-get install redis-server; .ci/run does it)"
        )
    return binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole test session (do not stop it; use fault_redis_server)."""
    server = RedisServer(_require_redis(), work_dir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fault_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to stop, restart or pause."""
    server = RedisServer(_require_redis(), work_dir=tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_key_prefix() -> str:
    """A key prefix unique to this test, so tests share the session server safely."""
    return f"test:{uuid.uuid4().hex[:12]}:"
