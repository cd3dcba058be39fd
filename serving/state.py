"""Everything the API's requests share, built once per process by the app's lifespan."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from engine.errors import BundleError
from serving.api_metrics import ApiMetrics
from serving.closed_loop import ClosedLoop
from serving.consumer import SessionEventConsumer
from serving.metrics import LiveMetrics
from serving.model_manager import ModelManager, ReloadWatcher
from serving.producer import EventProducer
from serving.product_updates.updater import ProductUpdates, make_product_updates
from serving.session_store import SessionStore, make_session_store
from serving.sessions import SessionReader
from serving.settings import Settings

log = logging.getLogger("nowrec.api")


@dataclass
class AppState:
    """The service's long-lived parts.

    Attributes:
        settings: the settings the app was created with.
        models: the served model and its reloads.
        store: the session store (memory or Redis).
        sessions: reads sessions for recommendations, degrading when the store is down.
        live_metrics, api_metrics, registry: Prometheus metrics and the registry /metrics shows.
        product_updates: PUT /v1/products, and the product log every process applies.
        consumer: the embedded Kafka consumer, when ``settings.embedded_consumer``.
        watcher: the thread that polls ``latest``, when ``settings.reload_interval_s > 0``.
        loop: experiments, impression and outcome logs, attribution (serving/closed_loop.py).
    """

    settings: Settings
    models: ModelManager
    store: SessionStore
    sessions: SessionReader
    live_metrics: LiveMetrics
    api_metrics: ApiMetrics
    registry: CollectorRegistry
    product_updates: ProductUpdates
    loop: ClosedLoop | None = None
    consumer: SessionEventConsumer | None = None
    watcher: ReloadWatcher | None = None
    consumer_thread: threading.Thread | None = None
    _producer: EventProducer | None = field(default=None, repr=False)
    _producer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        live_metrics: LiveMetrics,
        api_metrics: ApiMetrics,
        registry: CollectorRegistry,
    ) -> AppState:
        """Load the model and open the store (slow: verifies and maps the bundle).

        Raises:
            BundleError: no servable bundle at ``settings.artifacts``.
            ConfigError: inconsistent settings, or a product log that cannot be used.
        """
        models = ModelManager(
            settings.artifacts,
            api_metrics,
            new_products_capacity=settings.new_products_capacity,
            freshness_boost=settings.freshness_boost,
        )
        try:
            models.load_initial()
        except BundleError as exc:
            if not settings.wait_for_model or settings.reload_interval_s <= 0:
                raise
            log.warning("no model yet (%s); waiting for the first bundle to be published", exc)
        product_updates = make_product_updates(settings, models, api_metrics)
        loop = ClosedLoop(settings, models, api_metrics)
        try:
            if models.loaded:
                loop.experiments.load_initial()
            store = make_session_store(settings)
        except BaseException:
            loop.close()
            product_updates.close()
            raise
        sessions = SessionReader(store, live_metrics, retry_after_s=settings.store_retry_after_s)
        return cls(
            settings, models, store, sessions, live_metrics, api_metrics, registry,
            product_updates, loop,
        )  # fmt: skip

    def reload(self, force: bool = False):
        """Check for a new bundle and a changed experiments file (the watcher, admin)."""
        result = self.models.reload(force=force)
        if self.loop is not None and self.models.loaded:
            self.loop.reload()
        return result

    def start(self) -> None:
        """Start the background threads the settings ask for."""
        s = self.settings
        self.product_updates.start()
        if s.reload_interval_s > 0:
            self.watcher = ReloadWatcher(self.reload, s.reload_interval_s).start()
        if s.embedded_consumer:
            self.consumer = SessionEventConsumer(self.store, s, metrics=self.live_metrics)
            self.consumer_thread = self.consumer.start_in_thread()

    def producer(self) -> EventProducer:
        """The Kafka producer of POST /v1/events, connected on first use.

        Raises:
            BrokerUnavailableError: Kafka cannot be reached (the next call tries again).
        """
        producer = self._producer
        if producer is None:
            with self._producer_lock:
                if self._producer is None:
                    self._producer = EventProducer.from_settings(self.settings)
                producer = self._producer
        return producer

    def close(self) -> None:
        """Stop the threads and close the clients (at shutdown); never raises."""
        if self.watcher is not None:
            self.watcher.stop()
        self.product_updates.close()
        if self.consumer is not None:
            self.consumer.stop()
            if self.consumer_thread is not None:
                self.consumer_thread.join(self.settings.kafka_request_timeout_ms / 1000 + 5)
        if self._producer is not None:
            self._producer.close()
        if self.loop is not None:
            self.loop.close()
        try:
            self.store.close()
        except Exception as exc:  # closing must not hide the reason we stopped
            log.warning("closing the session store: %s", exc)
