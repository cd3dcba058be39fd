"""The served model: loaded from the artifacts, swapped when a new bundle is published.

:class:`ModelManager` holds one :class:`ServedModel` (model, recommender, version) behind a
single reference. A request reads that reference once and uses it to the end, so a swap never
fails a request: the new model and its :class:`~engine.recommender.SessionRecommender` are
built completely (checksums verified, arrays mapped, indexes loaded, a first query run) before
the reference moves, and the old model is freed when its last request finishes.

Product updates (``PUT /v1/products/{id}``, and those of other pods and of earlier runs read
from the product log, serving/product_updates/) are applied to the served model at once and
kept here, so that they are applied again to every model loaded afterwards (a bundle trained
before the update does not know about it). A bundle that cannot be loaded (corrupt, incompatible,
unreadable) is refused, logged and counted; the old model keeps serving.

:class:`ReloadWatcher` polls the artifacts' ``latest`` link in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from engine.bundle import MANIFEST, Bundle, resolve_bundle_dir
from engine.catalog import ProductMetadata, require_description
from engine.errors import BundleError, ConfigError, EngineError
from engine.model import RecommenderModel
from engine.recommender import SessionRecommender
from serving.api_metrics import ApiMetrics

log = logging.getLogger("nowrec.models")


def artifacts_path(location: str) -> Path:
    """The local directory of an ``artifacts`` setting: a path or a ``file://`` URI.

    Raises:
        ConfigError: another URI scheme (object stores are synced to a local directory by the
            deployment, e.g. an init container or a sidecar, and served from there).
    """
    if "://" not in location:
        return Path(location)
    parsed = urlparse(location)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise ConfigError(
            f"artifacts {location!r}: only a local path or a file:// URI can be served; "
            "sync the bundles from object storage into a local directory and point "
            "NOWREC_ARTIFACTS (or --artifacts) at it"
        )
    return Path(unquote(parsed.path))


class NoModelError(BundleError):
    """No bundle has been loaded yet (the service waits for the first one)."""


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One loaded model version and what requests need from it (immutable)."""

    model: RecommenderModel
    recommender: SessionRecommender
    version: str
    bundle_dir: Path
    loaded_at: float  #: unix time


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload check did.

    ``status``: ``loaded`` (swapped to ``version``), ``unchanged`` (already serving the
    bundle ``latest`` points at) or ``refused`` (``error`` says why; ``version`` still serves).
    """

    status: str
    version: str | None
    previous_version: str | None
    bundle: str | None
    error: str | None = None


def _fingerprint(bundle_dir: Path) -> tuple[str, int, int] | None:
    try:
        st = (bundle_dir / MANIFEST).stat()
    except OSError:
        return None
    return (str(bundle_dir), st.st_mtime_ns, st.st_size)


def _warm_up(recommender: SessionRecommender) -> None:
    """One query of each kind, so the first request after a load or swap pays no compiled-code
    loading or buffer allocation (in this thread; request threads allocate theirs once)."""
    model = recommender.model
    if len(model.popular) == 0:
        return
    item = model.catalog.state.id_of(int(model.popular[0]))
    recommender.recommend([item], current_item=item, k=10)
    recommender.similar_items(item, k=10)


class ModelManager:
    """Loads, serves and swaps model versions; keeps product upserts across swaps.

    Args:
        artifacts: an artifacts root holding ``latest``, or one bundle directory.
        metrics: where loads, refusals and the served version are reported.
        new_products_capacity: products that may be added by upserts before re-training.
        freshness_boost: when set, replaces the freshness boost of every bundle loaded.
        clock: unix time, for ``loaded_at``.
        primary: this is the service's main model (its version is what ``nowrec_model_info``
            reports); False for the bundles an experiment pins.

    Thread-safety: :attr:`current` may be read from any thread without locking; reloads are
    serialised, and an upsert and a swap never interleave (the upsert lands in both models).
    """

    def __init__(
        self,
        artifacts: str | Path,
        metrics: ApiMetrics,
        *,
        new_products_capacity: int = 100_000,
        freshness_boost: float | None = None,
        clock=time.time,
        primary: bool = True,
    ) -> None:
        self.artifacts = artifacts_path(str(artifacts))
        self.primary = primary
        self._followers: weakref.WeakSet[ModelManager] = weakref.WeakSet()
        self.metrics = metrics
        self.new_products_capacity = new_products_capacity
        self.freshness_boost = freshness_boost
        self._clock = clock
        self._current: ServedModel | None = None
        self._upserts: dict[str, ProductMetadata] = {}
        self._swap_lock = threading.Lock()  # upserts vs. swap
        self._reload_lock = threading.Lock()  # one reload at a time
        self._refused: tuple[str, int, int] | None = None
        self.last_error: str | None = None  #: why the last refused bundle was refused
        self.reloads = 0  #: models loaded after the first

    # ------------------------------------------------------------------ reading
    @property
    def current(self) -> ServedModel:
        """The model serving now (read it once per request)."""
        served = self._current
        if served is None:
            raise NoModelError(
                f"no model is loaded yet: waiting for the first bundle in {self.artifacts} "
                "(run the training job)"
            )
        return served

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def upserts(self) -> int:
        """Products updated since training that this process knows of (its own updates and
        those read from the product log), re-applied to every model it loads."""
        return len(self._upserts)

    # ------------------------------------------------------------------ loading
    def target(self) -> Path:
        """The bundle directory the artifacts point at now (``latest`` resolved)."""
        return resolve_bundle_dir(self.artifacts).resolve()

    def load_initial(self) -> ServedModel:
        """Load the bundle the artifacts point at; raise if it cannot be served.

        Raises:
            BundleError: no bundle there, or it is corrupt or incompatible.
        """
        result = self.reload(force=True)
        if result.status == "refused":
            raise BundleError(f"cannot serve the model in {self.artifacts}: {result.error}")
        return self.current

    def reload(self, force: bool = False) -> ReloadResult:
        """Swap to the bundle ``latest`` points at, if it is a new one and loads cleanly.

        Args:
            force: try a bundle again even if it was refused before (the admin endpoint);
                without it a refused bundle is not verified again until ``latest`` moves or
                its manifest changes.

        Never raises for a bad bundle: the result says ``refused`` and why.
        """
        with self._reload_lock:
            served = self._current
            previous = served.version if served else None
            try:
                target = self.target()
            except BundleError as exc:
                return self._refuse(None, str(exc), previous, None)
            if served is not None and target == served.bundle_dir:
                return ReloadResult("unchanged", previous, previous, str(target))
            fingerprint = _fingerprint(target)
            if not force and fingerprint is not None and fingerprint == self._refused:
                return ReloadResult("refused", previous, previous, str(target), self.last_error)
            started = time.perf_counter()
            try:
                bundle = Bundle.load(target)
                model = RecommenderModel.load(bundle, new_items_capacity=self.new_products_capacity)
                if self.freshness_boost is not None:
                    ranking = model.params.ranking.with_freshness_boost(self.freshness_boost)
                    model.params = model.params.replace(ranking=ranking)
                recommender = SessionRecommender(model)
                _warm_up(recommender)
            except Exception as exc:  # any failure to load refuses the bundle, never crashes
                return self._refuse(target, f"{type(exc).__name__}: {exc}", previous, fingerprint)
            with self._swap_lock:
                try:
                    self._apply_upserts(model)
                except Exception as exc:
                    return self._refuse(
                        target,
                        f"the products updated since training do not fit: {exc}",
                        previous,
                        fingerprint,
                    )
                self._current = ServedModel(
                    model, recommender, model.version, target, self._clock()
                )
            self._refused = None
            self.last_error = None
            if served is not None:
                self.reloads += 1
            self.metrics.model_reloads.labels("loaded").inc()
            if self.primary:
                self.metrics.model_info.info({"version": model.version, "bundle": target.name})
                self.metrics.model_loaded_at.set(self._current.loaded_at)
            log.info(
                "serving model %s from %s (%d items, %d upserts re-applied) after %.2f s%s",
                model.version,
                target,
                model.catalog.n_trained,
                len(self._upserts),
                time.perf_counter() - started,
                f"; was {previous}" if previous else "",
            )
            return ReloadResult("loaded", model.version, previous, str(target))

    def _refuse(self, target, error: str, previous, fingerprint) -> ReloadResult:
        self._refused = fingerprint
        self.last_error = error
        self.metrics.model_reloads.labels("refused").inc()
        still = f"; still serving {previous}" if previous else ""
        log.error("refused the model bundle %s: %s%s", target or self.artifacts, error, still)
        return ReloadResult("refused", previous, previous, str(target) if target else None, error)

    def _apply_upserts(self, model: RecommenderModel) -> None:
        """Apply every upsert so far to a model that is not served yet (caller holds the lock)."""
        if not self._upserts:
            return
        state = model.catalog.state
        new = [(i, m) for i, m in self._upserts.items() if state.row_of(i) is None]
        known = [(i, m) for i, m in self._upserts.items() if state.row_of(i) is not None]
        # A product updated with availability alone, known to the old model and not to this
        # one, has nothing to place it by (engine/catalog.py's require_description).
        bare = [i for i, m in new if not m.describes]
        if bare:
            log.warning(
                "%d updated products are new to this model and have no metadata; left out "
                "until they are updated with some (e.g. %s)", len(bare), bare[0],
            )  # fmt: skip
        model.add_cold_products([(i, m) for i, m in new if m.describes])
        for item_id, meta in known:
            model.add_product(item_id, meta)

    # ------------------------------------------------------------------ writing
    def prepare(self, product_id: str, changes: Mapping[str, Any]) -> ProductMetadata:
        """The product's metadata after ``changes``, checked to fit the served model (before
        the update is logged; :meth:`apply` then applies it).

        Args:
            product_id: the product.
            changes: ProductMetadata fields to set; the others keep what the model knows
                (nothing, for a new product).

        Raises:
            DataError: a new product without any metadata.
            ConfigError: a new product and the catalogue is full (too many added since
                training): this bounds the products updates may name.
        """
        catalog = self.current.model.catalog
        state = catalog.state
        row = state.row_of(product_id)
        known = state.metadata_of(row) if row is not None else None
        meta = replace(known or ProductMetadata(), **changes)
        if row is None:
            require_description(product_id, meta)
            catalog.require_room(1, state)
        return meta

    def apply(self, product_id: str, meta: ProductMetadata) -> tuple[bool, ServedModel]:
        """Give a product ``meta`` in the served model and in every model loaded later.

        Returns:
            whether the product was new to the served model, and that model.

        Raises:
            DataError, ConfigError: as :meth:`prepare` (nothing applied).
        """
        with self._swap_lock:
            served = self.current
            _row, created = served.model.add_product(product_id, meta)
            self._upserts.pop(product_id, None)  # keep the order of the last update
            self._upserts[product_id] = meta
            followers = list(self._followers)
        for other in followers:  # the bundles an experiment pins get every update too
            other.follow(product_id, meta)
        return created, served

    def share_upserts_with(self, other: ModelManager) -> None:
        """Apply every upsert so far to ``other`` (another served bundle, e.g. one an
        experiment pins), and every later one as it happens."""
        with self._swap_lock:
            done = dict(self._upserts)
            self._followers.add(other)
        for product_id, meta in done.items():
            other.follow(product_id, meta)

    def follow(self, product_id: str, meta: ProductMetadata) -> None:
        """Apply an update the main model took; one this model cannot take (its catalogue is
        full) is logged, never raised into the main model's update."""
        try:
            self.apply(product_id, meta)
        except EngineError as exc:
            log.warning("bundle %s did not take the update of %r: %s", self.artifacts,
                        product_id, exc)  # fmt: skip


class ReloadWatcher:
    """Checks every ``interval_s`` seconds whether ``latest`` moved, and reloads (a thread).

    Args:
        reload: what to call every interval (e.g. ``ModelManager.reload``); an exception is
            logged and the next check runs as usual.
        interval_s: seconds between checks (> 0).
    """

    def __init__(self, reload: Callable[[], object], interval_s: float) -> None:
        if not interval_s > 0:
            raise ConfigError(f"reload interval must be > 0 seconds, got {interval_s!r}")
        self.reload = reload
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReloadWatcher:
        self._thread = threading.Thread(target=self._run, name="nowrec-reload", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop checking; waits for a reload in progress up to ``timeout_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.reload()
            except Exception:  # the watcher must outlive any surprise; the old model serves
                log.exception("model reload check failed")
