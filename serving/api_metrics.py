"""Prometheus metrics of the HTTP API, beside the live-state metrics of serving/metrics.py.

``ApiMetrics(registry)`` creates them in a registry; ``default_api_metrics()`` is the process
default (what ``/metrics`` exposes together with :func:`serving.metrics.default_metrics`).
Labels are bounded: routes are path templates (``/v1/products/{product_id}/similar``), never
raw paths; a path that matches no route and a method outside the standard ones are ``"other"``
(serving/middleware.py).
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

from serving.product_updates.record import SKIP_REASONS

#: Request latency buckets: the target is p99 <= 10 ms, so most resolution sits below it.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
)  # fmt: skip


class ApiMetrics:
    """Counters, gauges and histograms of the API.

    Args:
        registry: where the metrics are registered; one ``ApiMetrics`` per registry.

    Attributes:
        request_seconds: request latency by method and route template.
        requests: requests by method, route template and status code.
        recommendations: recommendation answers by strategy and whether they were degraded.
        model_info: the served model version (an info metric: ``nowrec_model_info{version}``).
        model_loaded_at: unix time the served model was loaded.
        model_reloads: reload attempts by result (``loaded``, ``refused``).
        product_upserts: PUT /v1/products by whether the product was new.
        product_log_applied: updates applied from the product log or topic.
        product_log_skipped: records of the product log or topic skipped, by reason.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.request_seconds = Histogram(
            "nowrec_http_request_duration_seconds",
            "HTTP request latency, from the first byte in to the last byte out.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "nowrec_http_requests",
            "HTTP requests by status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.recommendations = Counter(
            "nowrec_recommendations",
            "Recommendation answers by strategy (session, item, cold_start, popular, similar).",
            ["strategy", "degraded"],
            registry=registry,
        )
        self.model_info = Info("nowrec_model", "The model bundle being served.", registry=registry)
        self.model_loaded_at = Gauge(
            "nowrec_model_loaded_timestamp_seconds",
            "Unix time the served model was loaded.",
            registry=registry,
        )
        self.model_reloads = Counter(
            "nowrec_model_reloads",
            "Model reload attempts: 'loaded' swapped to a new bundle, 'refused' kept the old "
            "model (corrupt, incompatible or unreadable bundle).",
            ["result"],
            registry=registry,
        )
        self.experiment_config_reloads = Counter(
            "nowrec_experiment_config_reloads",
            "Experiments file loads: 'loaded', or 'refused' (the previous config serves).",
            ["result"],
            registry=registry,
        )
        arm = ["experiment", "variant"]
        self.experiment_sessions = Counter(
            "nowrec_experiment_sessions",
            "Sessions this process served for the first time, by assigned variant.",
            arm,
            registry=registry,
        )
        self.experiment_impressions = Counter(
            "nowrec_experiment_impressions",
            "Answers given (impressions), by variant; holdout answers included.",
            arm,
            registry=registry,
        )
        self.experiment_clicks = Counter(
            "nowrec_experiment_clicks",
            "Clicks by the session's variant; attributed='true' when matched to an answer "
            "this process gave (by recommendation id, or shown to the session in the window).",
            [*arm, "attributed"],
            registry=registry,
        )
        self.experiment_carts = Counter(
            "nowrec_experiment_carts",
            "Carts of products clicked from a recommendation (last touch).",
            arm,
            registry=registry,
        )
        self.experiment_purchases = Counter(
            "nowrec_experiment_purchases",
            "Purchases of products clicked from a recommendation (last touch).",
            arm,
            registry=registry,
        )
        self.experiment_revenue = Counter(
            "nowrec_experiment_revenue",
            "Revenue (price x quantity) of those purchases.",
            arm,
            registry=registry,
        )
        self.experiment_srm_p_value = Gauge(
            "nowrec_experiment_srm_p_value",
            "Sample-ratio check of the running experiment on this process's sessions "
            "(chi-square p-value; below 0.001 the split is broken).",
            ["experiment"],
            registry=registry,
        )
        self.records_written = Counter(
            "nowrec_records_written",
            "Impression and outcome records written to their log (files or Kafka).",
            ["stream"],
            registry=registry,
        )
        self.records_dropped = Counter(
            "nowrec_records_dropped",
            "Records dropped because the log's queue was full (the sink is down or slow).",
            ["stream"],
            registry=registry,
        )
        self.product_upserts = Counter(
            "nowrec_product_upserts",
            "Product metadata upserts, by whether the product was new to the model.",
            ["created"],
            registry=registry,
        )
        self.product_log_applied = Counter(
            "nowrec_product_log_applied",
            "Product updates applied from the product log (at start) or topic (at start and "
            "as other pods write them).",
            registry=registry,
        )
        self.product_log_skipped = Counter(
            "nowrec_product_log_skipped",
            "Records of the product log or topic skipped, by reason: incomplete, too_long, "
            "not_json, invalid, key_mismatch, does_not_fit.",
            ["reason"],
            registry=registry,
        )
        for reason in SKIP_REASONS:  # a closed set, shown from the start
            self.product_log_skipped.labels(reason)

        # the per-request ones, found fast (see Children)
        self.request_seconds_of = Children(self.request_seconds)
        self.requests_of = Children(self.requests)
        self.recommendations_of = Children(self.recommendations)
        self.experiment_impressions_of = Children(self.experiment_impressions)
        self.experiment_sessions_of = Children(self.experiment_sessions)

    def set_experiment_labels(self, labels) -> None:
        """Create every (experiment, variant) series at 0, so dashboards see all arms."""
        for experiment, variant in labels:
            for counter in (self.experiment_sessions, self.experiment_impressions,
                            self.experiment_carts, self.experiment_purchases,
                            self.experiment_revenue):  # fmt: skip
                counter.labels(experiment, variant)
            for attributed in ("true", "false"):
                self.experiment_clicks.labels(experiment, variant, attributed)


class Children:
    """The children of a labelled metric by their label values, found with one dict lookup
    (``labels()`` takes a lock and checks its arguments on every call: measurable per
    request). Only for label values from closed sets, and metrics whose children are never
    removed."""

    def __init__(self, metric) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], object] = {}

    def __call__(self, *values: str):
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


@lru_cache(maxsize=1)
def default_api_metrics() -> ApiMetrics:
    """The API metrics in prometheus_client's default registry (created once per process)."""
    return ApiMetrics(REGISTRY)
