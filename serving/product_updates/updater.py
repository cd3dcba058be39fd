"""``ProductUpdates``: what ``PUT /v1/products/{id}`` does, and how every process learns of it.

A PUT merges the changes into what the served model knows (serving/model_manager.py),
refuses what cannot be applied (a new product without metadata, a full catalogue), writes the
product's whole metadata to the product log, and only then applies it here, so the writer sees
its own update at once and an answer never promises an update the log does not hold. Updates
read from the log (the file at start; the topic at start and as other pods write them) are
applied the same way, and the model manager re-applies all of them to every model it loads.

Own writes in Kafka mode come back through the topic: the follower skips a product's records
older than this process's own newest write of it, so a quick second update is never undone,
even for a moment, by the first one coming back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.bundle import MANIFEST
from engine.errors import ConfigError, DataError
from serving.api_metrics import ApiMetrics
from serving.model_manager import ModelManager, ServedModel, artifacts_path
from serving.product_updates.file_log import FileProductLog
from serving.product_updates.record import ProductUpdate
from serving.product_updates.topic import Position, TopicProductLog
from serving.settings import Settings

log = logging.getLogger("nowrec.products")

#: How often a follower waiting for the first model checks for it.
_MODEL_POLL_S = 0.2
#: The file log's name in the artifacts root when NOWREC_PRODUCT_LOG is not set.
DEFAULT_LOG_NAME = "product-updates.jsonl"


class ProductUpdates:
    """Product updates of one API process: written to the log, applied to the models.

    Args:
        models: the model manager the updates are applied to.
        product_log: the file (embedded mode) or the topic (Kafka mode).
        metrics: where updates and skipped records are counted.

    Thread-safety: :meth:`put` may be called from any thread; updates (own and read back)
    are applied one at a time.
    """

    def __init__(
        self,
        models: ModelManager,
        product_log: FileProductLog | TopicProductLog,
        metrics: ApiMetrics,
    ) -> None:
        self.models = models
        self.log = product_log
        self.metrics = metrics
        self.applied = 0  #: updates applied from the log (own writes excluded)
        self._lock = threading.Lock()
        self._pending: dict[str, Position] = {}  # own topic writes the follower has not reached
        self._replayed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ writing
    def put(self, product_id: str, changes: Mapping[str, Any]) -> tuple[bool, ServedModel]:
        """Update a product everywhere: logged (durably, or acknowledged by the broker), then
        applied here.

        Returns:
            whether the product was new to the served model, and that model.

        Raises:
            DataError: a new product without metadata (nothing logged).
            ConfigError: a new product and the catalogue is full (nothing logged).
            ProductLogError, BrokerUnavailableError: it could not be logged (nothing applied;
                sending it again is safe).
            NoModelError: no model is loaded yet.
        """
        # One update at a time, the log write included (updates are rare; the topic follower
        # waits meanwhile), so nothing this process applies comes between the check of
        # prepare() and apply().
        with self._lock:
            meta = self.models.prepare(product_id, changes)
            position = self.log.append(ProductUpdate.of(product_id, meta))
            if position is not None:
                self._pending[product_id] = position
            try:
                created, served = self.models.apply(product_id, meta)
            except (ConfigError, DataError):
                # only a model swapped in since prepare() can refuse it (less room)
                log.warning("product %r was logged but does not fit the new model", product_id)
                raise
        self.metrics.product_upserts.labels(str(created).lower()).inc()
        return created, served

    # ------------------------------------------------------------------ reading
    def _apply_logged(self, update: ProductUpdate, position: Position | None = None) -> None:
        product_id = update.product_id
        with self._lock:
            mine = self._pending.get(product_id)
            if position is not None and mine is not None and mine[0] == position[0]:
                if position[1] < mine[1]:
                    return  # older than this process's own newest write, applied already
                del self._pending[product_id]
                if position[1] == mine[1]:
                    return  # this process's own write, applied when it was written
            try:
                self.models.apply(product_id, update.metadata)
            except (ConfigError, DataError) as exc:
                self.metrics.product_log_skipped.labels("does_not_fit").inc()
                log.warning(
                    "product update of %r from %s skipped: %s", product_id, self.log.where, exc
                )
                return
            self.applied += 1
        self.metrics.product_log_applied.inc()

    def start(self) -> None:
        """Read the log and apply it (the file: now, when a model is loaded; the topic: in a
        thread that then follows it); a follower waits for the first model."""
        if isinstance(self.log, FileProductLog):
            updates = self.log.open()
            if self.models.loaded:
                self._replay(updates)
                return
            target, args = self._replay_when_loaded, (updates,)
        else:
            target, args = self._follow, ()
        self._thread = threading.Thread(
            target=target, args=args, name="nowrec-product-updates", daemon=True
        )
        self._thread.start()

    def _replay(self, updates: list[ProductUpdate]) -> None:
        for update in updates:
            self._apply_logged(update)
        self._replayed.set()
        log.info("applied %d product updates from %s", self.applied, self.log.where)

    def _wait_for_model(self) -> bool:
        while not self.models.loaded:
            if self._stop.wait(_MODEL_POLL_S):
                return False
        return True

    def _replay_when_loaded(self, updates: list[ProductUpdate]) -> None:
        if self._wait_for_model():
            self._replay(updates)

    def _follow(self) -> None:
        assert isinstance(self.log, TopicProductLog)
        if self._wait_for_model():
            self.log.follow(self._apply_logged)

    # ------------------------------------------------------------------ state
    def check(self) -> tuple[bool, str]:
        """Readiness: whether the updates logged before this process started are applied
        (a later broker outage is reported, not failed: pods keep serving)."""
        if isinstance(self.log, FileProductLog):
            if not self._replayed.is_set():
                return False, f"waiting for a model to apply {self.log.where} to"
            return True, (
                f"{self.applied} updates applied from {self.log.where}"
                + (f" ({self.log.skipped} unreadable lines skipped)" if self.log.skipped else "")
            )
        problem = self.log.problem
        if not self.log.caught_up.is_set():
            return False, problem or f"reading {self.log.where} from the beginning"
        detail = f"following {self.log.where}: {self.applied} updates applied"
        return True, f"{detail}; now: {problem}" if problem else detail

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop following, close the log; never raises."""
        self._stop.set()
        try:
            self.log.close()
        except Exception as exc:  # closing must not hide the reason we stopped
            log.warning("closing the product log: %s", exc)
        if self._thread is not None:
            self._thread.join(timeout_s)


def product_log_path(settings: Settings) -> Path:
    """``product_log``, or ``product-updates.jsonl`` in the artifacts root (beside ``latest``;
    beside the bundle when the artifacts setting names one bundle: never inside it)."""
    if settings.product_log:
        return Path(settings.product_log)
    root = artifacts_path(settings.artifacts)
    if (root / MANIFEST).is_file():
        root = root.parent
    return root / DEFAULT_LOG_NAME


def make_product_updates(
    settings: Settings, models: ModelManager, metrics: ApiMetrics
) -> ProductUpdates:
    """The product updates of this process, with the log the settings ask for.

    Raises:
        ConfigError: the file log is used by another process or cannot be created.
    """

    def skipped(reason: str) -> None:
        metrics.product_log_skipped.labels(reason).inc()

    if settings.product_updates == "kafka":
        product_log = TopicProductLog(settings, on_skip=skipped)
    else:
        product_log = FileProductLog(product_log_path(settings), on_skip=skipped)
    return ProductUpdates(models, product_log, metrics)


def check_product_log(settings: Settings) -> None:
    """Refuse at once a file log that another process holds or that cannot be created (the
    app would refuse it when it starts, less readably).

    Raises:
        ConfigError: what is wrong and what to set.
    """
    if settings.product_updates == "file":
        FileProductLog(product_log_path(settings)).close()
