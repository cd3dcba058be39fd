"""Reading a visitor's session for a recommendation, degrading when the store is down.

A recommendation must never fail because Redis is unreachable: :class:`SessionReader` answers
"no session, degraded" instead, and after a failure it does not try the store again for
``retry_after_s`` seconds, so an outage costs one store timeout every few seconds instead of
one per request (a small circuit breaker). Readiness pings the store itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import ConfigError
from engine.session import SessionEvent
from serving.errors import StoreUnavailableError
from serving.metrics import LiveMetrics
from serving.session_store import SessionStore

log = logging.getLogger("nowrec.sessions")

#: Why an answer was degraded, as the API reports it.
STORE_UNAVAILABLE = "session store unavailable"


@dataclass(frozen=True, slots=True)
class SessionRead:
    """The session's events (oldest first) and, when degraded, the reason."""

    events: list[SessionEvent]
    degraded: str | None = None


class SessionReader:
    """Reads recent session events for the recommender.

    Args:
        store: the session store.
        metrics: counts store failures (``nowrec_session_store_errors``).
        retry_after_s: after a failure, requests skip the store for this long (0: never skip).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        store: SessionStore,
        metrics: LiveMetrics,
        *,
        retry_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._skip_until = 0.0
        self._failing = False
        self._lock = threading.Lock()

    def recent(self, session_id: str | None) -> SessionRead:
        """The session's recent events; no events (degraded) when the store cannot answer."""
        if session_id is None:
            return SessionRead([])
        if self._failing and self._clock() < self._skip_until:
            return SessionRead([], STORE_UNAVAILABLE)
        try:
            stored = self.store.recent(session_id)
        except (StoreUnavailableError, ConfigError) as exc:
            self._failed(exc)
            return SessionRead([], STORE_UNAVAILABLE)
        if self._failing:
            with self._lock:
                if self._failing:
                    self._failing = False
                    log.warning("session store %s answers again", self.store.backend)
        return SessionRead(stored)

    def _failed(self, exc: Exception) -> None:
        self.metrics.store_errors.labels(self.store.backend).inc()
        with self._lock:
            first = not self._failing
            self._failing = True
            self._skip_until = self._clock() + self.retry_after_s
        if first:
            log.warning(
                "session store failed, answering from the current product only "
                "(retrying every %.1f s): %s",
                self.retry_after_s,
                exc,
            )
