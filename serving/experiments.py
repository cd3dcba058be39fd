"""Experiments in the service: the config file, what serves each variant, which one a session sees.

The config (``NOWREC_EXPERIMENTS_FILE``, TOML, see engine/experiments/config.py) is read at
start and again whenever it changes (the reload watcher, ``POST /v1/admin/reload``). A config
with an error is refused with every problem listed: at start the service does not start (exit
2), on reload the previous config keeps serving and the refusal is logged and counted.

Variants that pin a bundle version get a model manager of their own (memory-mapped, so a
second version costs little beyond its files); ``latest`` variants use the service's main
model and follow its reloads. Product upserts reach every served model.

Thompson allocation reads its traffic shares from an allocation file written by
``python -m pipelines experiment-report --allocate`` (a history of shares with the time each
took effect). A session sees the shares in force when it started (its first stored event), so
it keeps its variant across requests and pods while the shares move.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.experiments.assignment import assign
from engine.experiments.config import (
    DEFAULT_VARIANT,
    LATEST,
    Experiment,
    ExperimentsConfig,
    Variant,
    parse_experiments,
)
from engine.recommender import Filters, Recommendation, SessionRecommender
from serving.api_metrics import ApiMetrics
from serving.model_manager import ModelManager, ServedModel

log = logging.getLogger("nowrec.experiments")


@dataclass(frozen=True, slots=True)
class Choice:
    """What serves one request: the variant and its model.

    ``kind`` is ``engine`` (the recommender, maybe with a variant's ranking overrides), or a
    baseline: ``popular``, ``item``, ``holdout``. ``probability`` is the chance the session had
    of getting this variant (logged with every impression).
    """

    experiment: str | None
    variant: str
    probability: float
    kind: str
    served: ServedModel
    recommender: SessionRecommender

    def recommend(self, session, current_item, k: int, filters: Filters) -> Recommendation:
        """The answer of this variant for a product page."""
        rec = self.recommender
        if self.kind == "holdout":
            return Recommendation([], np.empty(0, np.float32), [], "holdout")
        if self.kind == "popular" or (self.kind == "item" and current_item is None):
            return rec.popular(k, filters, current_item)
        if self.kind == "item":
            return rec.recommend([], current_item, k, filters)
        return rec.recommend(session, current_item, k, filters)

    def similar(self, item_id: str, k: int) -> Recommendation:
        """The answer of this variant for "similar products" (UnknownItemError if unknown)."""
        rec = self.recommender
        rec.model.catalog.row_of(item_id)  # unknown products are a 404 in every variant
        if self.kind == "holdout":
            return Recommendation([], np.empty(0, np.float32), [], "holdout")
        if self.kind == "popular":
            return rec.popular(k, Filters(exclude_seen=False), item_id)
        return rec.similar_items(item_id, k)


def read_config(path: Path, bundle_exists) -> ExperimentsConfig:
    """Parse and validate an experiments file.

    Raises:
        ConfigError: unreadable, not TOML, or an invalid experiment (every problem listed).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the experiments file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the experiments file {path} is not valid TOML: {exc}") from None
    return parse_experiments(data, bundle_exists)


def read_allocation(path: Path, experiment: Experiment) -> list[tuple[float, tuple[float, ...]]]:
    """The share history of a Thompson experiment: ``[(since_ts, shares)]``, oldest first.

    A missing file means the fixed weights; a malformed one is an error (ConfigError).
    """
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("experiment") != experiment.name:
            return []
        history = []
        for entry in data["history"]:
            shares = tuple(float(entry["shares"][v]) for v in experiment.names)
            if any(not s >= 0 for s in shares) or not sum(shares) > 0:
                raise ValueError(f"shares {shares} are not a distribution")
            history.append((float(entry["since"]), shares))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the allocation file {path} is not usable ({exc}); rewrite it with "
                          "`python -m pipelines experiment-report --allocate`") from None  # fmt: skip
    return sorted(history)


class Experiments:
    """The declared experiments and what serves the running one's variants.

    Args:
        models: the service's main model (``latest``).
        path: the experiments file; None: no experiments (every answer is ``default``).
        metrics: where config refusals are counted.
        allocation_path: Thompson shares (default: ``allocation.json`` beside the config).

    Thread-safety: :meth:`choose` may run in any thread; :meth:`reload` is serialised.
    """

    def __init__(
        self,
        models: ModelManager,
        path: str | Path | None,
        metrics: ApiMetrics,
        *,
        allocation_path: str | Path | None = None,
    ) -> None:
        self.models = models
        self.path = Path(path) if path else None
        self.allocation_path = (
            Path(allocation_path)
            if allocation_path
            else (self.path.parent / "allocation.json" if self.path else None)
        )
        self.metrics = metrics
        self.config = ExperimentsConfig()
        self.pinned: dict[str, ModelManager] = {}
        self.last_error: str | None = None
        self._allocation: list[tuple[float, tuple[float, ...]]] = []
        self._fingerprint: tuple | None = None
        self._recommenders: dict[tuple[str, str], SessionRecommender] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    def load_initial(self) -> None:
        """Read the config at start; raise ConfigError when it is invalid."""
        if self.path is None:
            return
        self._apply(*self._read())

    def reload(self) -> str:
        """Read the config again if it changed: ``loaded``, ``unchanged`` or ``refused``
        (the previous config keeps serving; :attr:`last_error` says why)."""
        if self.path is None or self._fingerprint == self._stat():
            return "unchanged"
        try:
            self._apply(*self._read())
        except ConfigError as exc:
            self._fingerprint = self._stat()  # not again until it changes
            self.last_error = str(exc)
            self.metrics.experiment_config_reloads.labels("refused").inc()
            log.error("refused the experiments file %s, the previous config keeps serving: %s",
                      self.path, exc)  # fmt: skip
            return "refused"
        log.info("experiments file %s loaded: %s", self.path, self.describe_running())
        return "loaded"

    def _stat(self) -> tuple:
        def fp(p: Path | None):
            try:
                st = p.stat() if p else None
            except OSError:
                return None
            return None if st is None else (st.st_mtime_ns, st.st_size)

        return fp(self.path), fp(self.allocation_path)

    def _read(self):
        fingerprint = self._stat()
        root = self.models.artifacts
        config = read_config(self.path, lambda v: (root / v / "manifest.json").is_file())
        running = config.running
        allocation = []
        if running is not None and running.allocation == "thompson" and self.allocation_path:
            allocation = read_allocation(self.allocation_path, running)
        pinned = {}
        for version in sorted({b for e in config.experiments for b in e.bundles} - {LATEST}):
            manager = self.pinned.get(version)
            if manager is None:
                manager = ModelManager(
                    root / version, self.metrics,
                    new_products_capacity=self.models.new_products_capacity, primary=False,
                )  # fmt: skip
                try:
                    manager.load_initial()
                except Exception as exc:
                    raise ConfigError(f"bundle {version!r} of the experiments cannot be "
                                      f"served: {exc}") from None  # fmt: skip
                self.models.share_upserts_with(manager)
            pinned[version] = manager
        return config, allocation, pinned, fingerprint

    def _apply(self, config, allocation, pinned, fingerprint) -> None:
        with self._lock:
            self.config = config
            self._allocation = allocation
            self.pinned = pinned
            self._recommenders = {}
            self._fingerprint = fingerprint
            self.last_error = None
        self.metrics.experiment_config_reloads.labels("loaded").inc()
        self.metrics.set_experiment_labels(config.labels)

    def describe_running(self) -> str:
        e = self.config.running
        if e is None:
            return "no experiment running"
        return f"experiment {e.name!r} running: " + ", ".join(
            f"{v.name} ({v.kind}, {s:.0%})" for v, s in zip(e.variants, e.shares, strict=True)
        )

    # ------------------------------------------------------------------ serving
    def shares_at(self, experiment: Experiment, when: float) -> tuple[float, ...]:
        """Traffic shares in force at ``when`` (fixed weights, or the Thompson history)."""
        shares = experiment.shares
        for since, s in self._allocation:
            if since <= when:
                shares = s
        return shares

    def choose(self, session_id: str | None, session_start: float | None = None) -> Choice:
        """The variant of a request, and what serves it.

        Without a running experiment or a session id, the main model serves (``default``).
        """
        experiment = self.config.running
        if experiment is None or session_id is None:
            served = self.models.current
            return Choice(None, DEFAULT_VARIANT, 1.0, "engine", served, served.recommender)
        when = session_start if session_start is not None else time.time()
        variant, probability = assign(experiment, session_id, self.shares_at(experiment, when))
        served = self._served(variant)
        return Choice(experiment.name, variant.name, probability, variant.kind, served,
                      self._recommender(variant, served))  # fmt: skip

    def _served(self, variant: Variant) -> ServedModel:
        if variant.strategy is None and variant.bundle != LATEST:
            return self.pinned[variant.bundle].current
        return self.models.current

    def _recommender(self, variant: Variant, served: ServedModel) -> SessionRecommender:
        if not variant.ranking:
            return served.recommender
        key = (variant.name, served.version)
        rec = self._recommenders.get(key)
        if rec is None:
            ranking = replace(served.model.params.ranking, **dict(variant.ranking))
            with self._lock:
                rec = self._recommenders.setdefault(
                    key, SessionRecommender(served.model, ranking=ranking)
                )
        return rec

    def variant_of(self, session_id: str, when: float | None = None) -> tuple[str, str] | None:
        """(experiment, variant) of a session in the running experiment, or None."""
        experiment = self.config.running
        if experiment is None:
            return None
        when = time.time() if when is None else when
        variant, _ = assign(experiment, session_id, self.shares_at(experiment, when))
        return experiment.name, variant.name

    def close(self) -> None:
        self.pinned = {}

    def describe(self) -> dict[str, Any]:
        return {
            "file": str(self.path) if self.path else None,
            "running": self.describe_running(),
            "experiments": [e.name for e in self.config.experiments],
            "pinned_bundles": sorted(self.pinned),
            "last_error": self.last_error,
        }
