"""The one interface every session store has, and the event encoding they share.

A session is the list of recent events of one visitor, ordered by event time. Both stores keep
the same thing with the same rules, so the API behaves the same on either:

- an event's identity is its *member* ``"{event_id}|{event_type}|{product_id}"``: appending an
  event already stored changes nothing (idempotent, as Kafka delivers at least once);
- events are ordered by ``ts`` (ties by member), wherever they arrive in the stream, so a late
  event is placed where it belongs;
- a session keeps its newest ``max_items`` events (the oldest are dropped);
- a session expires ``ttl_seconds`` after the last append that touched it (inactivity).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self

from engine.errors import ConfigError
from engine.session import SessionEvent
from serving.errors import StoreUnavailableError
from serving.events import ViewEvent

#: Separator of the member's parts: never in an event id (engine.ids.EVENT_ID_CHARSET) nor an
#: event type; the product id comes last, so it may hold one (the split stops before it).
MEMBER_SEP = "|"


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: ``applied`` events were new, ``duplicates`` were already stored."""

    applied: int
    duplicates: int

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(self.applied + other.applied, self.duplicates + other.duplicates)


def member_of(event: ViewEvent) -> str:
    """The identity of an event inside its session (the Redis sorted-set member)."""
    return f"{event.event_id}{MEMBER_SEP}{event.event_type}{MEMBER_SEP}{event.product_id}"


def session_event(member: str, ts: float) -> SessionEvent:
    """Inverse of :func:`member_of`, with the event time: the session's event as the
    recommender reads it (the only conversion on the read path)."""
    _event_id, event_type, product_id = member.split(MEMBER_SEP, 2)
    return SessionEvent(product_id, ts, event_type)


def group_by_session(events: Iterable[ViewEvent]) -> tuple[dict[str, dict[str, float]], int]:
    """``({session_id: {member: ts}}, number of events)``.

    Within a batch the last copy of a member wins (as ZADD does); the count includes every
    copy, so a store reports copies inside one batch as duplicates too.
    """
    groups: dict[str, dict[str, float]] = {}
    count = 0
    for event in events:
        groups.setdefault(event.session_id, {})[member_of(event)] = event.ts
        count += 1
    return groups, count


def check_limits(ttl_seconds: float, max_items: int) -> None:
    """Refuse store limits that would make sessions useless or unbounded."""
    if not ttl_seconds > 0:
        raise ConfigError(f"session ttl_seconds must be > 0, got {ttl_seconds!r}")
    if not 1 <= max_items <= 10_000:
        raise ConfigError(f"session max_items must be in 1..10000, got {max_items!r}")


class SessionStore(abc.ABC):
    """Recent events per session. Safe to call from several threads at once.

    Attributes:
        backend: ``"memory"`` or ``"redis"``, for logs, metrics and readiness.
        ttl_seconds: inactivity after which a session is forgotten.
        max_items: events kept per session (the newest by ``ts``).
    """

    backend: str
    ttl_seconds: float
    max_items: int

    @abc.abstractmethod
    def append(self, events: Iterable[ViewEvent]) -> AppendResult:
        """Add a batch of events idempotently (one round trip for a remote store).

        Raises:
            StoreUnavailableError: the store cannot be reached; nothing may have been applied,
                or part of the batch: applying the whole batch again is always safe.
        """

    @abc.abstractmethod
    def recent(self, session_id: str, limit: int | None = None) -> list[SessionEvent]:
        """The newest ``limit`` (default ``max_items``) events of a session, oldest first.

        An unknown or expired session is an empty list.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abc.abstractmethod
    def forget(self, session_id: str) -> bool:
        """Remove a session and its events (a visitor's request to be forgotten); True when
        there was one.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abc.abstractmethod
    def ping(self) -> None:
        """Return when the store answers; raise :class:`StoreUnavailableError` otherwise."""

    def healthy(self) -> bool:
        """``True`` when :meth:`ping` succeeds (for readiness probes)."""
        try:
            self.ping()
        except (StoreUnavailableError, ConfigError):  # down, or refusing this client
            return False
        return True

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        return None

    def _limit(self, limit: int | None) -> int:
        if limit is None:
            return self.max_items
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit!r}")
        return min(limit, self.max_items)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
