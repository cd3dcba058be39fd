"""In-process session store: the embedded default (one API process, no Redis).

Thread-safety: every public method takes one lock, so the API's request threads may read while
the consumer thread writes.

Memory is bounded twice, and the least recently updated sessions are evicted to keep both:

- ``max_sessions``: the number of sessions;
- ``max_bytes``: the bytes the sessions hold, checked after each batch. A count alone does
  not bound memory: an event costs about 210 bytes with short ids (tracemalloc, CPython 3.13)
  and about 370 with the longest, so 100,000 sessions of 50 events are about 1 GB, more than
  an API pod has beside its model.

The accounting costs about 1 µs an event (appends run at about 480k events/s instead of
830k on one core): small beside the consumer's 17 µs an event from Kafka.

How bytes are counted: the store's own accounting, kept up to date on every change, of the
objects it holds: each event's member string, its time (a float) and the ``(time, member)``
tuple of the order list, each rounded up to the 16-byte blocks CPython's allocator hands out;
each session's id, its object and its ``members`` dict and ``order`` list as ``sys.getsizeof``
reports them (their tables, spare room included); and the ``OrderedDict`` of sessions itself
(its ``__sizeof__`` includes its linked-list nodes). tests/unit/test_memory_store.py checks
with tracemalloc that the memory the sessions really take never exceeds it.
"""

from __future__ import annotations

import bisect
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from engine.errors import ConfigError
from engine.session import SessionEvent
from serving.events import ViewEvent
from serving.session_store.base import (
    AppendResult,
    SessionStore,
    check_limits,
    group_by_session,
    session_event,
)

#: The smallest byte bound accepted: room for one session of long ids at the largest
#: ``max_items`` would need more, but a store this small holds a few sessions at least.
MIN_STORE_BYTES = 1 << 20


def _allocated(size: int) -> int:
    """``size`` rounded up to CPython's 16-byte allocation blocks."""
    return -(-size // 16) * 16


# Per event, beside its member string: the float of its time and the (time, member) tuple.
_EVENT_FIXED = _allocated(sys.getsizeof(0.0)) + _allocated(sys.getsizeof((0.0, "")))


def _event_bytes(member: str) -> int:
    return -(-sys.getsizeof(member) // 16) * 16 + _EVENT_FIXED  # _allocated, inlined: hot


class _Session:
    """Sorted-set semantics of Redis: members with a score, ordered by (score, member)."""

    __slots__ = ("accounted", "event_bytes", "fixed_bytes", "members", "order", "touched")

    def __init__(self, session_id: str) -> None:
        self.members: dict[str, float] = {}
        self.order: list[tuple[float, str]] = []
        self.touched = 0.0
        self.event_bytes = 0  #: what the events hold (see _event_bytes)
        self.accounted = 0  #: nbytes() when the store last added it to its total
        # the id string, this object and the float of `touched`
        self.fixed_bytes = (
            _allocated(sys.getsizeof(session_id))
            + _allocated(sys.getsizeof(self))
            + _allocated(sys.getsizeof(0.0))
        )

    def nbytes(self) -> int:
        """Bytes this session holds (the containers as they are allocated now)."""
        return (
            self.fixed_bytes
            + sys.getsizeof(self.members)
            + sys.getsizeof(self.order)
            + self.event_bytes
        )

    def add(self, member: str, ts: float) -> bool:
        """Insert or move a member; ``True`` when it was new (as ZADD counts)."""
        old = self.members.get(member)
        if old == ts:
            return False
        if old is not None:
            del self.order[bisect.bisect_left(self.order, (old, member))]
        else:
            self.event_bytes += _event_bytes(member)
        self.members[member] = ts
        bisect.insort(self.order, (ts, member))
        return old is None

    def trim(self, max_items: int) -> None:
        excess = len(self.order) - max_items
        if excess > 0:
            for _ts, member in self.order[:excess]:
                del self.members[member]
                self.event_bytes -= _event_bytes(member)
            del self.order[:excess]


class MemorySessionStore(SessionStore):
    """Recent events per session in this process.

    Args:
        ttl_seconds: a session is forgotten this long after the last append that touched it.
        max_items: events kept per session (the newest by event time).
        max_sessions: sessions kept at most; beyond it the least recently updated is evicted.
        max_bytes: bytes the sessions may hold (see the module's note on how they are
            counted); beyond it the least recently updated sessions are evicted, and a single
            session larger than the whole bound keeps only its newest events that fit.
        clock: monotonic seconds; injectable so tests can move time.
    """

    backend = "memory"

    def __init__(
        self,
        *,
        ttl_seconds: float = 1800.0,
        max_items: int = 50,
        max_sessions: int = 100_000,
        max_bytes: int = 256 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limits(ttl_seconds, max_items)
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be >= 1, got {max_sessions!r}")
        if max_bytes < MIN_STORE_BYTES:
            raise ConfigError(
                f"max_bytes must be >= {MIN_STORE_BYTES} (1 MiB), got {max_bytes!r}: "
                "raise NOWREC_MAX_STORE_BYTES"
            )
        self.ttl_seconds = float(ttl_seconds)
        self.max_items = int(max_items)
        self.max_sessions = int(max_sessions)
        self.max_bytes = int(max_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        # Ordered by last update (oldest first): expiry and eviction both pop from the front.
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._session_bytes = 0  # sum of the sessions' `accounted`
        self.evicted = 0  #: sessions dropped for the memory bound (not for expiry)

    @property
    def nbytes(self) -> int:
        """Bytes the sessions hold now, as the store counts them (at most ``max_bytes``)."""
        with self._lock:
            return self._nbytes()

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
                        self._evict_oldest()
                    session = self._sessions[session_id] = _Session(session_id)
                else:
                    self._sessions.move_to_end(session_id)
                for member, ts in members.items():
                    applied += session.add(member, ts)
                session.trim(self.max_items)
                session.touched = now
                self._account(session)
            self._keep_byte_bound()
        return AppendResult(applied, count - applied)

    def recent(self, session_id: str, limit: int | None = None) -> list[SessionEvent]:
        limit = self._limit(limit)
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return []
            if self._clock() - session.touched >= self.ttl_seconds:
                self._drop(session_id)
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
            session_id, oldest = next(iter(sessions.items()))
            if now - oldest.touched < self.ttl_seconds:
                break
            self._drop(session_id)

    def _nbytes(self) -> int:
        return self._session_bytes + sys.getsizeof(self._sessions)

    def _account(self, session: _Session) -> None:
        """Bring the total up to date with a session that changed."""
        size = session.nbytes()
        self._session_bytes += size - session.accounted
        session.accounted = size

    def _drop(self, session_id: str) -> None:
        self._session_bytes -= self._sessions.pop(session_id).accounted

    def _evict_oldest(self) -> None:
        self._drop(next(iter(self._sessions)))
        self.evicted += 1

    def _keep_byte_bound(self) -> None:
        """After a batch: evict the least recently updated sessions while the bytes exceed
        the bound; the last one left, if still too large, keeps its newest events that fit."""
        while self._nbytes() > self.max_bytes and len(self._sessions) > 1:
            self._evict_oldest()
        if self._nbytes() > self.max_bytes:
            last = next(iter(self._sessions.values()))
            while self._nbytes() > self.max_bytes and len(last.order) > 1:
                last.trim(len(last.order) - 1)
                self._account(last)
