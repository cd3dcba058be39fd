"""Live attribution of clicks, carts and purchases to recommendations, for the metrics.

The experiment report (pipelines/experiment_report.py) attributes outcomes from the logs, and
is the reference. This is its live approximation for Prometheus, with the same rules:

- a click carrying a ``recommendation_id`` this process served is attributed to it; a click
  without one is attributed to the newest answer that showed the product to the same session
  within ``window_s`` (30 minutes by default);
- a cart or purchase of a product the session clicked from a recommendation is attributed to
  that recommendation (last touch).

It only knows the answers this process gave, so with several pods each counts its own share
(the shares are what the sample-ratio check and the rates need). Memory is bounded: at most
``max_sessions`` sessions (least recently active evicted), a few answers and clicks each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

#: Answers kept per session (older ones cannot be clicked within the window anyway).
ANSWERS_PER_SESSION = 16
#: Clicked products kept per session, for cart and purchase attribution.
CLICKS_PER_SESSION = 64
#: An outcome stamped up to this long before the answer still matches it (device clocks).
CLOCK_SKEW_S = 60.0


@dataclass(frozen=True, slots=True)
class Arm:
    """The experiment and variant an outcome is attributed to."""

    experiment: str
    variant: str


@dataclass(slots=True)
class _Trail:
    answers: deque = field(default_factory=lambda: deque(maxlen=ANSWERS_PER_SESSION))
    clicked: OrderedDict = field(default_factory=OrderedDict)  # product -> (ts, Arm)


class LiveAttribution:
    """Recent answers and attributed clicks per session (thread-safe, bounded)."""

    def __init__(self, window_s: float = 1800.0, max_sessions: int = 100_000) -> None:
        self.window_s = window_s
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, _Trail] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def _trail(self, session_id: str, create: bool) -> _Trail | None:
        trail = self._sessions.get(session_id)
        if trail is not None:
            self._sessions.move_to_end(session_id)
        elif create:
            trail = self._sessions[session_id] = _Trail()
            if len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return trail

    def shown(self, session_id: str, recommendation_id: str, arm: Arm, items, ts: float) -> None:
        """An answer was given to the session."""
        with self._lock:
            self._trail(session_id, True).answers.append(
                (ts, recommendation_id, arm, tuple(items))  # a click looks in it, rarely
            )

    def click(
        self, session_id: str, product_id: str, recommendation_id: str | None, ts: float
    ) -> Arm | None:
        """The arm a click is attributed to, or None (remembered for later carts)."""
        with self._lock:
            trail = self._trail(session_id, False)
            if trail is None:
                return None
            arm = None
            for shown_ts, rec_id, shown_arm, items in reversed(trail.answers):
                if recommendation_id is not None:
                    if rec_id == recommendation_id:
                        arm = shown_arm
                        break
                elif product_id in items and -CLOCK_SKEW_S <= ts - shown_ts <= self.window_s:
                    arm = shown_arm
                    break
            if arm is not None:
                trail.clicked[product_id] = (ts, arm)
                trail.clicked.move_to_end(product_id)
                if len(trail.clicked) > CLICKS_PER_SESSION:
                    trail.clicked.popitem(last=False)
            return arm

    def conversion(self, session_id: str, product_id: str, ts: float) -> Arm | None:
        """The arm a cart or purchase of ``product_id`` is attributed to (last touch)."""
        with self._lock:
            trail = self._trail(session_id, False)
            if trail is None:
                return None
            found = trail.clicked.get(product_id)
            return found[1] if found is not None and found[0] <= ts + CLOCK_SKEW_S else None

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
