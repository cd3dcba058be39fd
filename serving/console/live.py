"""The service's live figures for the console, read from its own Prometheus metrics.

Nothing is counted twice: requests, latency, degraded answers and events are the metrics that
``/metrics`` exposes (serving/api_metrics.py, serving/metrics.py), summed over their labels in
this process. Latency percentiles are estimated from the histogram's buckets as Prometheus'
``histogram_quantile`` does (linear within a bucket), since this process started.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any

from serving.state import AppState

QUANTILES = (0.5, 0.95, 0.99)


def _samples(metric) -> list:
    return [s for family in metric.collect() for s in family.samples]


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(upper bound, count), ...]`` (sorted,
    ending with +Inf), interpolated within its bucket; None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # beyond the last finite bound: the bound is what is known
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (upper - lower) * share
        lower, below = upper, count
    return lower


def latency(state: AppState) -> list[dict[str, Any]]:
    """Requests and latency percentiles (ms) per API route, busiest first."""
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for s in _samples(state.api_metrics.request_seconds):
        if s.name.endswith("_bucket"):
            key = (s.labels["method"], s.labels["route"])
            buckets[key].append((float(s.labels["le"]), s.value))
    rows = []
    for (method, route), b in buckets.items():
        b.sort()
        count = b[-1][1] if b else 0
        if not count or not route.startswith("/v1/"):
            continue
        row: dict[str, Any] = {"route": f"{method} {route}", "requests": int(count)}
        for q in QUANTILES:
            value = bucket_quantile(q, b)
            row[f"p{round(q * 100)}_ms"] = None if value is None else round(value * 1000, 2)
        rows.append(row)
    rows.sort(key=lambda r: -r["requests"])
    return rows


def _sum_by(metric, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for s in _samples(metric):
        if s.name.endswith("_total"):
            out[s.labels.get(label, "")] += s.value
    return dict(out)


def store_state(state: AppState) -> dict[str, Any]:
    store = state.store
    out: dict[str, Any] = {"backend": store.backend}
    try:
        store.ping()
        out["ok"], out["detail"] = True, f"{store.backend} answers"
    except Exception as exc:  # the figure is the failure itself
        out["ok"], out["detail"] = False, f"{store.backend}: {exc}"
    if store.backend == "memory":
        out["sessions"] = len(store)
        out["bytes"] = store.nbytes
    return out


def consumer_lag(state: AppState) -> dict[str, Any]:
    if state.consumer is not None:
        return {"where": "embedded consumer", "lag": state.consumer.lag}
    if state.settings.events_mode == "kafka":
        return {"where": "the consumer Deployment (its own /metrics)", "lag": None}
    return {"where": "no consumer: events are posted to the API (embedded mode)", "lag": None}


def live_figures(state: AppState) -> dict[str, Any]:
    """Requests, latency, degraded answers, events, consumer lag and the store, now."""
    api = state.api_metrics
    statuses = _sum_by(api.requests, "status")
    degraded = _sum_by(api.recommendations, "degraded")
    strategies = _sum_by(api.recommendations, "strategy")
    answers = sum(degraded.values())
    models = state.models
    served = models.current if models.loaded else None
    return {
        "now": time.time(),
        "model": {
            "version": served.version if served else None,
            "loaded_at": served.loaded_at if served else None,
            "reloads": models.reloads,
            "upserts": models.upserts,
            "last_reload_error": models.last_error,
        },
        "requests": {
            "total": int(sum(statuses.values())),
            "errors_4xx": int(sum(v for k, v in statuses.items() if k.startswith("4"))),
            "errors_5xx": int(sum(v for k, v in statuses.items() if k.startswith("5"))),
        },
        "latency": latency(state),
        "answers": {
            "total": int(answers),
            "degraded": int(degraded.get("true", 0)),
            "degraded_share": degraded.get("true", 0) / answers if answers else None,
            "strategies": {k: int(v) for k, v in sorted(strategies.items())},
        },
        "events": {
            k: int(v) for k, v in _sum_by(state.live_metrics.events_applied, "source").items()
        },
        "consumer": consumer_lag(state),
        "store": store_state(state),
        "experiments": state.loop.experiments.describe_running() if state.loop else None,
    }
