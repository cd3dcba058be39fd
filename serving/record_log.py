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
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import orjson

log = logging.getLogger("nowrec.records")


#: One encoded record: its key (the session id, for a Kafka partition) and its JSON bytes.
Encoded = tuple[bytes, bytes]


class Sink(Protocol):
    """Where batches of encoded records go. ``write`` raises on failure (the batch is
    retried)."""

    name: str

    def write(self, records: list[Encoded]) -> None: ...

    def close(self) -> None: ...


class RecordLog:
    """A bounded queue in front of a sink, drained by one writer thread.

    Args:
        sink: where the records go.
        max_queue: records waiting at most; beyond it new records are dropped and counted.
        on_drop: called with the number of records dropped (a metric).
        on_written: called with the number of records the sink accepted.
        max_batch: records per write.
        linger_s: after the first record of a batch, wait this long for more (one write per
            batch: under load, waking the writer for every record costs the request path more
            CPU than the records themselves).
        retry_s: pause before writing a failed batch again.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue: int = 10_000,
        on_drop: Callable[[int], None] = lambda n: None,
        on_written: Callable[[int], None] = lambda n: None,
        max_batch: int = 2000,
        linger_s: float = 0.25,
        retry_s: float = 1.0,
    ) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.retry_s = retry_s
        self.dropped = 0  #: records dropped because the queue was full
        self.written = 0  #: records the sink accepted
        self.failures = 0  #: failed writes (each retried)
        self._on_drop = on_drop
        self._on_written = on_written
        self.max_queue = max_queue
        # A deque, not a queue.Queue: appending is one atomic call, with no lock to take and
        # no writer to wake (the writer looks every linger_s); each wake would cost the
        # request path a GIL hand-off. It holds bytes, which the garbage collector does not
        # track: records waiting as dicts made its full collections (over the whole model's
        # objects) more frequent.
        self._queue: deque[Encoded] = deque()
        self._in_flight = 0  # records taken by the writer, not yet written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"nowrec-{sink.name}", daemon=True)
        self._thread.start()

    def record(self, item: dict[str, Any]) -> bool:
        """Encode one record (JSON) and queue it; False (and counted) when the queue is full.
        Never blocks."""
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            self._on_drop(1)
            return False
        key = item.get("session_id")
        self._queue.append((b"" if key is None else str(key).encode(), orjson.dumps(item)))
        return True

    @property
    def pending(self) -> int:
        """Records queued or being written."""
        return len(self._queue) + self._in_flight

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record was written (tests, shutdown); True when done."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pending == 0:
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
        queued = self._queue
        while True:
            stopping = self._stop.wait(self.linger_s)
            while queued:
                batch = []
                self._in_flight = n = min(len(queued), self.max_batch)
                for _ in range(n):
                    batch.append(queued.popleft())
                self._write(batch)
                self._in_flight = 0
            if stopping:
                return

    def _write(self, batch: list[Encoded]) -> None:
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
