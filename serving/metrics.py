"""Prometheus metrics of the live service, in one place so the API and the consumer share them.

``LiveMetrics(registry)`` creates the metric objects in a registry: the process default
(``default_metrics()``, what ``/metrics`` and the consumer's endpoint expose) or a fresh
``CollectorRegistry`` (tests, several consumers in one process). The API adds its own metrics
(request latency, strategies, model version) here beside these.
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class LiveMetrics:
    """Counters and gauges of the live session state.

    Args:
        registry: where the metrics are registered; one ``LiveMetrics`` per registry.

    Attributes:
        events_applied: events newly added to a session, by ``source`` (kafka | http).
        events_duplicate: events that were already stored (redelivery; changed nothing).
        events_dead_lettered: malformed events sent to the dead-letter topic.
        events_clamped: events from the future (a producer's clock ahead) stored with the
            consumer's time instead.
        consumer_batches: batches applied and committed.
        consumer_commit_failures: offset commits that failed (the next commit covers them).
        store_errors: session store calls that failed, by ``backend``.
        consumer_lag: records between the consumer's position and the partition end.
        consumer_batch_seconds: time to decode, store and commit one batch.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.events_applied = Counter(
            "nowrec_events_applied",
            "Events newly added to a session.",
            ["source"],
            registry=registry,
        )
        self.events_duplicate = Counter(
            "nowrec_events_duplicate",
            "Events already stored (delivered again); applying them changed nothing.",
            ["source"],
            registry=registry,
        )
        self.events_dead_lettered = Counter(
            "nowrec_events_dead_lettered",
            "Malformed events sent to the dead-letter topic.",
            registry=registry,
        )
        self.events_clamped = Counter(
            "nowrec_events_clamped",
            "Events stamped too far after the consumer's clock, stored with its time instead.",
            registry=registry,
        )
        self.consumer_batches = Counter(
            "nowrec_consumer_batches", "Batches applied and committed.", registry=registry
        )
        self.consumer_commit_failures = Counter(
            "nowrec_consumer_commit_failures",
            "Offset commits that failed (the next successful commit covers them).",
            registry=registry,
        )
        self.store_errors = Counter(
            "nowrec_session_store_errors",
            "Session store calls that failed (store unreachable or timed out).",
            ["backend"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "nowrec_consumer_lag",
            "Records between the consumer position and the end of the partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.consumer_batch_seconds = Histogram(
            "nowrec_consumer_batch_seconds",
            "Time to decode, store and commit one batch.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )


@lru_cache(maxsize=1)
def default_metrics() -> LiveMetrics:
    """The metrics in prometheus_client's default registry (created once per process)."""
    return LiveMetrics(REGISTRY)
