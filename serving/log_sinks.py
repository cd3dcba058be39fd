"""Where impression and outcome records go: rotated JSON-lines files or a Kafka topic.

Files (embedded mode) are what DuckDB reads for the experiment report::

    <logs_dir>/impressions/impressions-20261130T101500Z-4711-0.jsonl
    <logs_dir>/events/events-20261130T101500Z-4711-0.jsonl

One JSON object per line, appended and flushed per batch (fsync'd every few seconds), a new file every
``rotate_bytes`` or ``rotate_s``, files older than ``retention_days`` removed. A file is never
rewritten, so readers may read while the writer appends (a half-written last line after a crash
is skipped by the report).

In Kafka mode the records go to a topic, keyed by session id; production sinks the topics into
BigQuery (e.g. a BigQuery sink connector) and runs the same report there.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from serving.producer import EventProducer
from serving.record_log import Encoded

log = logging.getLogger("nowrec.records")


class JsonLinesFiles:
    """Appends records to rotated ``.jsonl`` files in ``directory`` (one writer per process).

    Args:
        directory: created if missing.
        stream: file name prefix (``impressions``, ``events``).
        rotate_bytes, rotate_s: a new file after this many bytes or seconds.
        retention_days: files last written longer ago are removed (0 keeps them all).
        fsync_s: the files are synced to disk at most this often (and when one is closed):
            an fsync per batch cost the request path more CPU than the records themselves.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        stream: str,
        *,
        rotate_bytes: int = 64 << 20,
        rotate_s: float = 3600.0,
        retention_days: float = 0.0,
        fsync_s: float = 5.0,
    ) -> None:
        self.directory = Path(directory)
        self.fsync_s = fsync_s
        self._synced = 0.0
        self.name = stream
        self.rotate_bytes = rotate_bytes
        self.rotate_s = rotate_s
        self.retention_s = retention_days * 86400.0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the log directory {self.directory} ({exc}); set NOWREC_LOGS_DIR "
                "to a writable directory"
            ) from None
        self._file = None
        self._opened = 0.0
        self._seq = 0

    def write(self, records: list[Encoded]) -> None:
        f = self._current()
        f.write(b"".join(value + b"\n" for _key, value in records))
        f.flush()  # in the OS now: a crash of this process loses nothing written
        if time.monotonic() - self._synced >= self.fsync_s:
            os.fsync(f.fileno())  # on disk: a power cut loses at most fsync_s of records
            self._synced = time.monotonic()

    def _current(self):
        f = self._file
        if f is not None and (f.tell() >= self.rotate_bytes
                              or time.time() - self._opened >= self.rotate_s):  # fmt: skip
            self.close()
            f = None
        if f is None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            path = self.directory / f"{self.name}-{stamp}-{os.getpid()}-{self._seq}.jsonl"
            self._seq += 1
            f = self._file = open(path, "ab")  # noqa: SIM115 (kept open)
            self._opened = time.time()
            self.remove_expired()
        return f

    def remove_expired(self) -> list[Path]:
        """Remove this stream's files last written more than ``retention_days`` ago."""
        if not self.retention_s:
            return []
        cutoff = time.time() - self.retention_s
        removed = []
        for path in self.directory.glob(f"{self.name}-*.jsonl"):
            try:
                if path.stat().st_mtime < cutoff and (self._file is None
                                                      or path.name != Path(self._file.name).name):  # fmt: skip
                    path.unlink()
                    removed.append(path)
            except OSError as exc:
                log.warning("cannot remove expired log file %s: %s", path, exc)
        if removed:
            log.info("removed %d %s log files older than the retention", len(removed), self.name)
        return removed

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


class KafkaTopic:
    """Sends records to a Kafka topic, keyed by their ``session_id`` (connects on first use)."""

    def __init__(self, client_options: Mapping[str, Any], topic: str, *, timeout_s: float) -> None:
        self.name = topic
        self._client_options = client_options
        self._timeout_s = timeout_s
        self._producer: EventProducer | None = None

    def write(self, records: list[Encoded]) -> None:
        if self._producer is None:
            self._producer = EventProducer(
                self._client_options, self.name, timeout_s=self._timeout_s
            )
        self._producer.send_records(records, "records")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
