"""The product log of embedded mode: an append-only JSON-lines file of one API process.

Each accepted ``PUT /v1/products`` appends one line (serving/product_updates/record.py) and
fsyncs it before the answer, so an acknowledged update survives a crash or a power cut. At
start the file is read back line by line, every line validated: a line that is cut short (a
crash in the middle of a write), too long, not JSON or not a valid record is skipped, logged
with its line number and counted by reason (``nowrec_product_log_skipped_total``); it never
stops the service. Only the newest line of each product matters (each holds the whole
metadata), so when the file holds more than twice as many lines as products (and at least
``compact_min_lines``) it is rewritten with those lines only: to a temporary file, fsync'd,
renamed over the log, the directory fsync'd. A rewrite that drops unreadable lines keeps the
old file beside it (``<name>.skipped-<unix time>``) for inspection.

One process per file: a second one is refused at start (an exclusive lock on
``<name>.lock``). Several API processes share their updates through the Kafka topic instead
(serving/product_updates/topic.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from engine.errors import ConfigError
from serving.errors import MalformedUpdateError, ProductLogError
from serving.product_updates.record import MAX_RECORD_BYTES, ProductUpdate, decode, encode

log = logging.getLogger("nowrec.products")

#: Unreadable lines logged one by one at start; beyond, one line says how many more.
_LOGGED_SKIPS = 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_lines(f: BinaryIO) -> Iterator[tuple[bytes, bool, bool]]:
    """``(line, complete, too_long)`` per line; a line over the record limit is passed over
    in bounded reads (never held whole)."""
    while True:
        line = f.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line[:-1], True, False
            continue
        if len(line) <= MAX_RECORD_BYTES:  # end of file without a newline
            yield line, False, False
            continue
        while line and not line.endswith(b"\n"):  # the rest of a line too long to keep
            line = f.readline(MAX_RECORD_BYTES + 1)
        yield b"", True, True


class FileProductLog:
    """The product updates of one API process, in a file (see the module docstring).

    Args:
        path: the log file (created, with its directory, when missing).
        compact_min_lines: lines the file may hold before a rewrite is considered.
        on_skip: called with the reason (record.py's ``SKIP_REASONS``) of every line skipped.

    Raises:
        ConfigError: the file is used by another process, or cannot be created.

    Thread-safety: the caller serialises :meth:`append` (serving/product_updates/updater.py).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        compact_min_lines: int = 1000,
        on_skip: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.compact_min_lines = compact_min_lines
        self._on_skip = on_skip or (lambda reason: None)
        self._latest: dict[str, bytes] = {}  # product id -> its newest line (with "\n")
        self._lines = 0  # lines in the file, readable or not
        self._fd: int | None = None
        self._needs_newline = False  # a torn last line must be ended before the next append
        self.skipped = 0  #: unreadable lines skipped when the file was read
        self._unreadable = 0  # unreadable lines still in the file
        self._lock_fd = self._lock()

    @property
    def where(self) -> str:
        return str(self.path)

    def _fail(self, doing: str, exc: OSError) -> ConfigError:
        return ConfigError(
            f"cannot {doing} the product log {self.path} ({exc.strerror or exc}); point "
            "NOWREC_PRODUCT_LOG at a writable file"
        )

    def _lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise self._fail("create", exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"the product log {self.path} is in use by another process: every API process "
                "needs a log of its own (NOWREC_PRODUCT_LOG), and several API processes share "
                "their product updates through Kafka (NOWREC_PRODUCT_UPDATES=kafka)"
            ) from None
        return fd

    # ------------------------------------------------------------------ reading
    def open(self) -> list[ProductUpdate]:
        """Read the file back (every line validated), then open it for appending.

        Returns:
            the newest valid update of each product, in the order they were last updated.
        """
        latest: dict[str, ProductUpdate] = {}
        try:
            with open(self.path, "ab+") as f:  # created when missing
                f.seek(0)
                for number, (line, complete, too_long) in enumerate(_read_lines(f), 1):
                    self._lines += 1
                    update = self._check(number, line, complete, too_long)
                    if update is None:
                        continue
                    latest.pop(update.product_id, None)  # keep last-updated order
                    latest[update.product_id] = update
                    self._latest.pop(update.product_id, None)
                    self._latest[update.product_id] = line + b"\n"
                self._needs_newline = not complete if self._lines else False
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise self._fail("read", exc) from None
        if self.skipped > _LOGGED_SKIPS:
            log.warning(
                "product log %s: %d more unreadable lines skipped", self.path,
                self.skipped - _LOGGED_SKIPS,
            )  # fmt: skip
        log.info(
            "product log %s: %d lines, %d products, %d unreadable lines skipped",
            self.path, self._lines, len(latest), self.skipped,
        )  # fmt: skip
        if self._due():
            try:
                self.compact()
            except OSError as exc:  # the file as it is serves; compaction waits
                log.warning("compacting the product log %s failed: %s", self.path, exc)
        return list(latest.values())

    def _check(self, number: int, line: bytes, complete: bool, too_long: bool):
        try:
            if not complete:
                raise MalformedUpdateError(
                    "the last line has no end (a write cut short)", "incomplete"
                )
            if too_long:
                raise MalformedUpdateError(
                    f"longer than the {MAX_RECORD_BYTES}-byte limit of a record", "too_long"
                )
            return decode(line)
        except MalformedUpdateError as exc:
            self.skipped += 1
            self._unreadable += 1
            self._on_skip(exc.reason)
            if self.skipped <= _LOGGED_SKIPS:
                log.warning(
                    "product log %s line %d skipped (%s): %s", self.path, number, exc.reason, exc
                )
            return None

    # ------------------------------------------------------------------ writing
    def append(self, update: ProductUpdate) -> None:
        """Append one update and fsync it; compact the file when it is due.

        Raises:
            ProductLogError: it could not be written (the update must not be applied).
        """
        if self._fd is None:
            raise ProductLogError(f"the product log {self.path} is not open")
        line = encode(update) + b"\n"
        try:
            _write_all(self._fd, (b"\n" if self._needs_newline else b"") + line)
            self._needs_newline = False
            os.fsync(self._fd)
        except OSError as exc:
            self._needs_newline = True  # whatever part was written ends before the next line
            raise ProductLogError(
                f"cannot write the product log {self.path} ({exc.strerror or exc}); the "
                "update was not applied: free space or fix the file, then retry"
            ) from None
        self._lines += 1
        self._latest.pop(update.product_id, None)
        self._latest[update.product_id] = line
        if self._due():
            try:
                self.compact()
            except OSError as exc:  # the update is safe in the log; compaction waits
                log.warning("compacting the product log %s failed: %s", self.path, exc)

    def _due(self) -> bool:
        return self._lines >= max(self.compact_min_lines, 2 * len(self._latest) + 1)

    def compact(self) -> None:
        """Rewrite the file with the newest line of each product (atomically)."""
        tmp = self.path.with_name(f".{self.path.name}.compact")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            _write_all(fd, b"".join(self._latest.values()))
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._unreadable:
            aside = self.path.with_name(f"{self.path.name}.skipped-{int(time.time())}")
            try:
                os.link(self.path, aside)
            except OSError:  # a file system without hard links
                shutil.copyfile(self.path, aside)
            log.warning(
                "product log %s: %d unreadable lines left out of the rewrite; the old file is "
                "kept as %s", self.path, self._unreadable, aside,
            )  # fmt: skip
            self._unreadable = 0
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        before, self._lines = self._lines, len(self._latest)
        old, self._fd = self._fd, os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._needs_newline = False
        if old is not None:
            os.close(old)
        log.info("compacted the product log %s: %d lines -> %d", self.path, before, self._lines)

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)  # closing the lock file releases the lock
        self._fd = None
        self._lock_fd = None
