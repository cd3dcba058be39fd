"""A small hand-made impression and outcome log with a known attribution (see EXPECTED).

Used by the DuckDB test (local files) and the BigQuery emulator test: the one query must give
the same per-session table from both.
"""

from __future__ import annotations

import json
from pathlib import Path


def _imp(rec, session, ts, items, variant="A", experiment="exp", probability=0.5):
    return {
        "v": 1, "type": "impression", "recommendation_id": rec, "session_id": session,
        "experiment": experiment, "variant": variant, "probability": probability,
        "model_version": "v1", "strategy": "session", "route": "recommendations",
        "product_id": "page", "ts": ts,
        "items": [{"product_id": p, "position": i + 1, "score": 1.0 / (i + 1)}
                  for i, p in enumerate(items)],
    }  # fmt: skip


def _ev(event_id, session, product, ts, kind, rec=None, price=None, quantity=None):
    return {
        "v": 1, "event_id": event_id, "session_id": session, "product_id": product, "ts": ts,
        "event_type": kind, "recommendation_id": rec, "price": price, "quantity": quantity,
    }  # fmt: skip


T = 1_764_000_000.0
IMPRESSIONS = [
    # s1 (A): an answer delivered twice (at least once), clicked by id, the product bought
    _imp("r1", "s1", T, ["a", "b", "c"]),
    _imp("r1", "s1", T, ["a", "b", "c"]),
    _imp("r2", "s1", T + 60, ["d", "e"]),
    # s2 (B): a click without id matches the newest answer showing it; one too late
    _imp("r3", "s2", T, ["x", "y"], variant="B"),
    _imp("r4", "s2", T + 100, ["y", "z"], variant="B"),
    # s3 (B): a holdout-like empty answer, an unknown recommendation id clicked
    _imp("r5", "s3", T, [], variant="B"),
    # s4 (A): forgotten later: left out entirely
    _imp("r6", "s4", T, ["a"]),
    {"v": 1, "type": "forget", "session_id": "s4", "ts": T + 500},
    # another experiment and an answer outside the window: not counted
    _imp("r7", "s5", T, ["a"], experiment="other"),
    _imp("r8", "s6", T - 10_000, ["a"]),
]
EVENTS = [
    _ev("e1", "s1", "b", T + 5, "click", rec="r1"),
    _ev("e1", "s1", "b", T + 5, "click", rec="r1"),  # the same event delivered twice
    _ev("e2", "s1", "b", T + 30, "cart"),
    _ev("e3", "s1", "b", T + 40, "purchase", price=10.0, quantity=3),
    _ev("e4", "s1", "q", T + 50, "purchase", price=7.0),  # not from a recommendation
    _ev("e5", "s2", "y", T + 120, "click"),  # newest answer with y: r4
    _ev("e6", "s2", "x", T + 2000, "click"),  # shown at T, beyond the 30-minute window
    _ev("e7", "s3", "a", T + 10, "click", rec="nosuchid"),  # unknown id: unattributed
    _ev("e8", "s4", "a", T + 10, "click", rec="r6"),  # forgotten session
    _ev("e9", "s2", "y", T + 130, "view"),  # views are not outcomes
]
#: session -> (variant, impressions, clicks, unattributed, carts, purchases, revenue,
#:             purchases_all, revenue_all)
EXPECTED = {
    "s1": ("A", 2, 1, 0, 1, 1, 30.0, 2, 37.0),
    "s2": ("B", 2, 1, 1, 0, 0, 0.0, 0, 0.0),
    "s3": ("B", 1, 0, 1, 0, 0, 0.0, 0, 0.0),
}
WINDOW = {"start": T - 1000, "end": T + 1000}


def as_tuples(table) -> dict[str, tuple]:
    rows = table.to_pylist()
    keys = ("variant", "impressions", "clicks", "unattributed_clicks", "carts", "purchases",
            "revenue", "purchases_all", "revenue_all")  # fmt: skip
    return {r["session_id"]: tuple(r[k] for k in keys) for r in rows}


def write_logs(root: Path) -> Path:
    """The log as the files sink writes it, with a half-written last line (a crash)."""
    (root / "impressions").mkdir(parents=True)
    (root / "events").mkdir()
    text = "".join(json.dumps(r) + "\n" for r in IMPRESSIONS) + '{"v": 1, "type": "impr'
    (root / "impressions" / "impressions-1.jsonl").write_text(text)
    (root / "events" / "events-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in EVENTS))
    return root
