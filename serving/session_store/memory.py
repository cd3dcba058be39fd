"""In-process session store: the embedded default (one API process, no Redis).

Thread-safety: every public method takes one lock, so the API's request threads may read while
the consumer thread writes. Memory is bounded by ``max_sessions * max_items`` events: when a
new session would exceed ``max_sessions`` the least recently updated one is evicted.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from engine.errors import ConfigError
from serving.events import ViewEvent
from serving.session_store.base import (
    AppendResult,
    SessionEvent,
    SessionStore,
    check_limits,
    group_by_session,
    session_event,
)


class _Session:
    """Sorted-set semantics of Redis: members with a score, ordered by (score, member)."""

    __slots__ = ("members", "order", "touched")

    def __init__(self) -> None:
        self.members: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []
        self.touched = 0.0

    def add(self, member: str, ts: float) -> bool:
        """Insert or move a member; ``True`` when it was new (as ZADD counts)."""
        old = self.members.get(member)
        if old == ts:
            return False
        if old is not None:
            del self.order[bisect.bisect_left(self.order, (old, member))]
        self.members[member] = ts
        bisect.insort(self.order, (ts, member))
        return old is None

    def trim(self, max_items: int) -> None:
        excess = len(self.order) - max_items
        if excess > 0:
            for _ts, member in self.order[:excess]:
                del self.members[member]
            del self.order[:excess]


class MemorySessionStore(SessionStore):
    """Recent events per session in this process.

    Args:
        ttl_seconds: a session is forgotten this long after the last append that touched it.
        max_items: events kept per session (the newest by event time).
        max_sessions: sessions kept at most; beyond it the least recently updated is evicted.
        clock: monotonic seconds; injectable so tests can move time.
    """

    backend = "memory"

    def __init__(
        self,
        *,
        ttl_seconds: float = 1800.0,
        max_items: int = 50,
        max_sessions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limits(ttl_seconds, max_items)
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be >= 1, got {max_sessions!r}")
        self.ttl_seconds = float(ttl_seconds)
        self.max_items = int(max_items)
        self.max_sessions = int(max_sessions)
        self._clock = clock
        self._lock = threading.Lock()
        # Ordered by last update (oldest first): expiry and eviction both pop from the front.
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self.evicted = 0  #: sessions dropped for the memory bound (not for expiry)

    def append(self, events: Iterable[ViewEvent]) -> AppendResult:
        groups, count = group_by_session(events)
        applied = 0
        with self._lock:
            now = self._clock()
            self._expire(now)
            for session_id, members in groups.items():
                session = self._sessions.get(session_id)
                if session is None:
                    while len(self._sessions) >= self.max_sessions:
                        self._sessions.popitem(last=False)
                        self.evicted += 1
                    session = self._sessions[session_id] = _Session()
                else:
                    self._sessions.move_to_end(session_id)
                for member, ts in members.items():
                    applied += session.add(member, ts)
                session.trim(self.max_items)
                session.touched = now
        return AppendResult(applied, count - applied)

    def recent(self, session_id: str, limit: int | None = None) -> list[SessionEvent]:
        limit = self._limit(limit)
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return []
            if self._clock() - session.touched >= self.ttl_seconds:
                del self._sessions[session_id]
                return []
            return [session_event(member, ts) for ts, member in session.order[-limit:]]

    def forget(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def ping(self) -> None:
        return None

    def __len__(self) -> int:
        """Sessions held now (expired ones may linger until the next append)."""
        with self._lock:
            return len(self._sessions)

    def _expire(self, now: float) -> None:
        sessions = self._sessions
        while sessions:
            oldest = next(iter(sessions.values()))
            if now - oldest.touched < self.ttl_seconds:
                break
            sessions.popitem(last=False)
