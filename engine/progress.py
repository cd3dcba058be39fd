"""Progress of long loops: a tqdm bar on a terminal, a log line now and then everywhere else.

A bar redraws itself with carriage returns; in a CronJob's log, a CI log or a file that is
hundreds of overwritten lines in one. So :func:`progress` looks at the stream: a terminal gets
the bar, anything else gets :class:`LogProgress`, which logs a line every ``every_s`` seconds
(``prod2vec: 1,310,720/5,242,880 tok (25%), 391,204 tok/s, epoch=2, loss=0.4113``) and one when
the loop ends. Both take the same calls: iterate, ``update(n)``, ``set_postfix(**values)``,
``close()``, or use as a context manager.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from tqdm import tqdm

log = logging.getLogger("nowrec.progress")

LOG_EVERY_S = 30.0
"""Seconds between two progress lines in a log (a 4-hour training job writes about 500)."""


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "it",
    enabled: bool = True,
    stream: IO[str] | None = None,
    every_s: float = LOG_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
) -> tqdm | LogProgress:
    """A progress reporter for a loop of ``total`` steps (or over ``iterable``).

    Args:
        desc, unit: what is counted, e.g. ``"evaluating"`` and ``"pair"``.
        enabled: ``False`` reports nothing (library callers, tests).
        stream: where a bar would be drawn (default stderr); a bar only if it is a terminal.
        every_s: seconds between log lines when it is not.
        clock: time source of the log lines (tests pass their own).
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if _is_terminal(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, every_s=every_s, clock=clock)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LogProgress:
    """tqdm's small interface, reported as log lines (see the module docstring)."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str,
        unit: str = "it",
        every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iterable = iterable
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.every_s, self.clock = every_s, clock
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self.started = self.last = clock()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LogProgress without an iterable cannot be iterated")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            log.info("%s", self._line(now))

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = values

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        now = self.clock()
        log.info("%s in %.1f s", self._line(now), now - self.started)

    def _line(self, now: float) -> str:
        done = f"{self.n:,}"
        if self.total:
            done += f"/{self.total:,} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            done += f" {self.unit}"
        if now > self.started:
            done += f", {self.n / (now - self.started):,.0f} {self.unit}/s"
        extra = "".join(f", {k}={v}" for k, v in self.postfix.items())
        return f"{self.desc}: {done}{extra}"

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
