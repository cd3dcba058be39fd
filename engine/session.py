"""A visitor's current session as the recommender sees it, and how its items are weighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from engine.errors import ConfigError


class SessionEvent(NamedTuple):
    """One interaction of the current session (oldest first in a session list).

    The one definition: session stores build it straight from what they hold
    (serving/session_store/base.py), and the recommender reads it as it comes.
    """

    item_id: str
    ts: float = 0.0
    event_type: str = "view"


@dataclass(frozen=True)
class SessionWeights:
    """How much each session item counts.

    Args:
        recency_decay: the newest item weighs 1, the one before ``recency_decay``, then
            ``recency_decay**2``... (a repeated item counts once, at its newest position).
        event_weights: multiplier per event type (e.g. an add-to-cart says more than a view);
            unknown types weigh 1.
        max_items: only the newest ``max_items`` distinct items are used.
    """

    recency_decay: float = 0.5
    event_weights: Mapping[str, float] = field(
        default_factory=lambda: {"view": 1.0, "cart": 1.5, "purchase": 0.5}
    )
    max_items: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.recency_decay <= 1:
            raise ConfigError(f"recency_decay must be in (0, 1], got {self.recency_decay}")
        if self.max_items < 1:
            raise ConfigError("max_items must be >= 1")

    def to_dict(self) -> dict:
        return {
            "recency_decay": self.recency_decay,
            "event_weights": dict(self.event_weights),
            "max_items": self.max_items,
        }


def as_events(session: Sequence[SessionEvent | str]) -> list[SessionEvent]:
    """Accept plain item ids as views, for callers that only know ids."""
    return [e if isinstance(e, SessionEvent) else SessionEvent(str(e)) for e in session]


@dataclass(frozen=True)
class WeighedSession:
    """Distinct known session rows, newest first.

    ``steps``: each row's distance from the newest event (0 = newest); ``event_weight``: the
    multiplier of the row's newest event type; ``recency``: ``recency_decay**steps *
    event_weight``, the weight most signals use.
    """

    rows: np.ndarray
    steps: np.ndarray
    event_weight: np.ndarray
    recency: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def decayed(self, scale: float) -> np.ndarray:
        """``exp(-steps / scale) * event_weight``, for signals with a decay of their own."""
        return (np.exp(-self.steps / scale) * self.event_weight).astype(np.float32)


def weigh_session(
    rows: Sequence[int], event_types: Sequence[str], weights: SessionWeights
) -> WeighedSession:
    """Weigh the known rows of a session (``rows`` oldest first, unknown items dropped)."""
    out_rows: list[int] = []
    out_steps: list[int] = []
    out_event: list[float] = []
    seen: set[int] = set()
    ew = weights.event_weights
    for step, (row, kind) in enumerate(zip(reversed(rows), reversed(event_types), strict=True)):
        if row in seen:
            continue
        seen.add(row)
        out_rows.append(row)
        out_steps.append(step)
        out_event.append(ew.get(kind, 1.0))
        if len(out_rows) == weights.max_items:
            break
    steps = np.asarray(out_steps, dtype=np.int64)
    event = np.asarray(out_event, dtype=np.float32)
    return WeighedSession(
        rows=np.asarray(out_rows, dtype=np.int64),
        steps=steps,
        event_weight=event,
        recency=(weights.recency_decay**steps * event).astype(np.float32),
    )
