"""Recording what was shown and what happened, without ever slowing or failing an answer.

A request hands its record to :meth:`RecordLog.record`, which only puts it on a bounded queue
(microseconds; never blocks). One writer thread drains the queue in batches into a sink: local
JSON-lines files (:class:`~serving.log_sinks.JsonLinesFiles`, embedded mode) or a Kafka topic
(:class:`~serving.log_sinks.KafkaTopic`). When the sink fails (broker down, disk full) the writer
keeps the batch and tries again after a pause, so a short outage loses nothing; records that
arrive while the queue is full are dropped and counted (``nowrec_records_dropped_total``),
because an answer must never wait for a log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("nowrec.records")


class Sink(Protocol):
    """Where batches of records go. ``write`` raises on failure (the batch is retried)."""

    name: str

    def write(self, records: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class RecordLog:
    """A bounded queue in front of a sink, drained by one writer thread.

    Args:
        sink: where the records go.
        max_queue: records waiting at most; beyond it new records are dropped and counted.
        on_drop: called with the number of records dropped (a metric).
        on_written: called with the number of records the sink accepted.
        max_batch: records per write.
        retry_s: pause before writing a failed batch again.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue: int = 10_000,
        on_drop: Callable[[int], None] = lambda n: None,
        on_written: Callable[[int], None] = lambda n: None,
        max_batch: int = 500,
        retry_s: float = 1.0,
    ) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self.retry_s = retry_s
        self.dropped = 0  #: records dropped because the queue was full
        self.written = 0  #: records the sink accepted
        self.failures = 0  #: failed writes (each retried)
        self._on_drop = on_drop
        self._on_written = on_written
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"nowrec-{sink.name}", daemon=True)
        self._thread.start()

    def record(self, item: dict[str, Any]) -> bool:
        """Queue one record; False (and counted) when the queue is full. Never blocks."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            self._on_drop(1)
            return False
        return True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record was written (tests, shutdown); True when done."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to ``timeout_s``), stop the writer, close the sink."""
        self.flush(timeout_s)
        self._stop.set()
        self._thread.join(timeout_s)
        try:
            self.sink.close()
        except Exception as exc:  # closing must not hide the reason we stopped
            log.warning("closing the %s sink: %s", self.sink.name, exc)
        if self.pending:
            log.warning("%d %s records were not written before shutdown", self.pending,
                        self.sink.name)  # fmt: skip

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            for _ in batch:
                self._queue.task_done()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """Write one batch, retrying until it is accepted or the log is stopped."""
        while True:
            try:
                self.sink.write(batch)
            except Exception as exc:  # any failure: keep the batch, try again
                self.failures += 1
                if self.failures == 1 or self.failures % 60 == 0:
                    log.warning("cannot write %d %s records (%s); retrying every %.1f s",
                                len(batch), self.sink.name, exc, self.retry_s)  # fmt: skip
                if self._stop.wait(self.retry_s):
                    log.warning("%d %s records were not written: stopped while the sink fails",
                                len(batch), self.sink.name)  # fmt: skip
                    return
                continue
            self.written += len(batch)
            self._on_written(len(batch))
            return
