"""Impression records: what one answer showed, to whom, from which variant (schema v1).

One JSON object per answer of ``GET /v1/recommendations`` and ``GET /v1/products/{id}/similar``::

    {"v": 1, "type": "impression", "recommendation_id": "18bd...", "session_id": "s-42",
     "experiment": "ranker-2026-12", "variant": "engine", "probability": 0.5,
     "model_version": "20261130T...", "strategy": "session", "route": "recommendations",
     "product_id": "1234", "ts": 1764498000.123,
     "items": [{"product_id": "991", "position": 1, "score": 2.11}, ...]}

``experiment`` is null outside experiments (variant ``default``); ``probability`` is the chance
the session had of its variant (1 outside experiments), which the report uses to weigh
sessions under adaptive allocation. A holdout answer is recorded with no items, so its
sessions count. Only what attribution needs is kept: no IP address, no user agent.

``{"v": 1, "type": "forget", "session_id": ..., "ts": ...}`` marks a session for removal
(``DELETE /v1/sessions/{id}``): the report leaves it out from then on.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

SCHEMA_VERSION = 1


#: 48 random bits drawn once per process, then a counter: unique across processes and pods
#: without a random draw per answer (os.urandom is a system call, ~6 us here).
_PROCESS = os.urandom(6).hex()
_COUNTER = itertools.count()


def new_recommendation_id(now: float | None = None) -> str:
    """A unique, opaque id that sorts by time: milliseconds, this process's random prefix and
    a counter (hex)."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:011x}{_PROCESS}{next(_COUNTER) & 0xFFFFFF:06x}"


def impression_record(
    *,
    recommendation_id: str,
    session_id: str | None,
    experiment: str | None,
    variant: str,
    probability: float,
    model_version: str,
    strategy: str,
    route: str,
    product_id: str | None,
    item_ids: list[str],
    scores: list[float],
    ts: float,
) -> dict[str, Any]:
    return {
        "v": SCHEMA_VERSION,
        "type": "impression",
        "recommendation_id": recommendation_id,
        "session_id": session_id,
        "experiment": experiment,
        "variant": variant,
        "probability": probability,
        "model_version": model_version,
        "strategy": strategy,
        "route": route,
        "product_id": product_id,
        "ts": ts,
        "items": [
            {"product_id": p, "position": i, "score": s}
            for i, (p, s) in enumerate(zip(item_ids, scores, strict=True), 1)
        ],
    }


def forget_record(session_id: str, ts: float) -> dict[str, Any]:
    return {"v": SCHEMA_VERSION, "type": "forget", "session_id": session_id, "ts": ts}
