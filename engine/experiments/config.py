"""Experiments as the shop declares them, validated before anything serves them.

An experiment splits sessions between variants. A variant serves:

- a model bundle (``bundle``: a version, or ``latest``, the default), optionally with
  ``ranking`` overrides (any :class:`~engine.ranking.RankerParams` field);
- or a baseline ``strategy``: ``popular`` (the most popular products), ``item`` (neighbours
  of the current product only, the session ignored) or ``holdout`` (nothing shown: the
  no-recommendations control).

Declared as data (the service reads a TOML file, see serving/experiments.py)::

    [[experiments]]
    name = "ranker-2026-12"
    salt = "ranker-2026-12"        # a new salt re-shuffles sessions between variants
    control = "popular"            # the variant the others are compared with
    variants = [
      { name = "popular", weight = 50, strategy = "popular" },
      { name = "engine",  weight = 50 },
    ]

Names end up in metric labels and log records: they are short and of a closed charset, and
the config itself is the closed set. Every problem is reported at once, each with its fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from engine.errors import ConfigError
from engine.ranking import RankerParams

BASELINES = ("popular", "item", "holdout")
ALLOCATIONS = ("fixed", "thompson")
LATEST = "latest"
#: The variant of answers outside any experiment (no running experiment, no session id).
DEFAULT_VARIANT = "default"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_RANKING_FIELDS = frozenset(f.name for f in fields(RankerParams))


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment (see the module docstring)."""

    name: str
    weight: float
    bundle: str = LATEST
    strategy: str | None = None
    ranking: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``engine`` (a bundle, maybe with ranking overrides) or the baseline's name."""
        return self.strategy or "engine"


@dataclass(frozen=True)
class Experiment:
    """An experiment: variants, the salt of their assignment, and how traffic is allocated.

    Args:
        allocation: ``fixed`` (the weights) or ``thompson`` (traffic moves towards the variant
            with the better session click-through, never below ``floor`` per variant).
        running: only a running experiment gets traffic; a stopped one stays for its report.
        min_sessions: sessions per variant before the report names a winner.
    """

    name: str
    salt: str
    variants: tuple[Variant, ...]
    control: str
    allocation: str = "fixed"
    floor: float = 0.1
    running: bool = True
    min_sessions: int = 1000

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def shares(self) -> tuple[float, ...]:
        """The fixed traffic share of each variant (weights normalised)."""
        total = sum(v.weight for v in self.variants)
        return tuple(v.weight / total for v in self.variants)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ConfigError(f"experiment {self.name!r} has no variant {name!r}")

    @property
    def bundles(self) -> frozenset[str]:
        """Bundle versions its engine variants serve (``latest`` included)."""
        return frozenset(v.bundle for v in self.variants if v.strategy is None)


@dataclass(frozen=True)
class ExperimentsConfig:
    """Every declared experiment; at most one is running."""

    experiments: tuple[Experiment, ...] = ()

    @property
    def running(self) -> Experiment | None:
        return next((e for e in self.experiments if e.running), None)

    def get(self, name: str) -> Experiment | None:
        return next((e for e in self.experiments if e.name == name), None)

    @property
    def labels(self) -> frozenset[tuple[str, str]]:
        """Every (experiment, variant) pair: the closed set of metric labels."""
        return frozenset((e.name, v.name) for e in self.experiments for v in e.variants)


def parse_experiments(
    data: Mapping[str, Any], bundle_exists: Callable[[str], bool] | None = None
) -> ExperimentsConfig:
    """Validate experiments declared as data (a parsed TOML/JSON document).

    Args:
        data: ``{"experiments": [...]}``.
        bundle_exists: tells whether a bundle version can be served (``latest`` always can);
            None skips that check (e.g. for a report).

    Raises:
        ConfigError: every problem found, one per line, each saying what to fix.
    """
    problems: list[str] = []
    raw = data.get("experiments", [])
    unknown = set(data) - {"experiments"}
    if unknown:
        problems.append(f"unknown top-level keys {sorted(unknown)}; only [[experiments]]")
    if not isinstance(raw, list):
        raise ConfigError("experiments must be a list of tables ([[experiments]] in TOML)")
    experiments = []
    for k, item in enumerate(raw):
        where = f"experiments[{k}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        exp = _experiment(item, where, problems, bundle_exists)
        if exp is not None:
            experiments.append(exp)
    names = [e.name for e in experiments]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"experiment name {name!r} is used twice; names must be unique")
    running = [e.name for e in experiments if e.running]
    if len(running) > 1:
        problems.append(
            f"experiments {running} are all running; only one may run at a time "
            "(set running = false on the others)"
        )
    if problems:
        raise ConfigError("invalid experiments config:\n- " + "\n- ".join(problems))
    return ExperimentsConfig(tuple(experiments))


_EXPERIMENT_KEYS = {"name", "salt", "variants", "control", "allocation", "floor", "running",
                    "min_sessions"}  # fmt: skip
_VARIANT_KEYS = {"name", "weight", "bundle", "strategy", "ranking"}


def _named(item, keys, where, problems) -> str | None:
    """The name of a table with only ``keys``; None (and a problem) when it has none."""
    for key in sorted(set(item) - keys):
        problems.append(f"{where}: unknown key {key!r}; keys are {sorted(keys)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}: name must be 1-64 characters of letters, digits and . _ -")
        return None
    return name


def _experiment(item, where, problems, bundle_exists) -> Experiment | None:
    name = _named(item, _EXPERIMENT_KEYS, where, problems)
    if name is None:
        return None
    where = f"experiment {name!r}"
    salt = item.get("salt", name)
    if not isinstance(salt, str) or not salt:
        problems.append(f"{where}: salt must be a non-empty string")
    allocation = item.get("allocation", "fixed")
    if allocation not in ALLOCATIONS:
        problems.append(f"{where}: allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    raw_variants = item.get("variants")
    if not isinstance(raw_variants, list) or len(raw_variants) < 2:
        problems.append(f"{where}: needs a list of at least two variants")
        return None
    variants = [_variant(v, f"{where} variants[{j}]", problems, bundle_exists)
                for j, v in enumerate(raw_variants)]  # fmt: skip
    if any(v is None for v in variants):
        return None
    names = [v.name for v in variants]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}: variant name {dup!r} is used twice")
    control = item.get("control", names[0])
    if control not in names:
        problems.append(f"{where}: control {control!r} is not one of its variants {names}")
    floor = item.get("floor", 0.1)
    if not _number(floor) or not 0 <= floor < 1 / len(variants):
        problems.append(
            f"{where}: floor must be a share in [0, 1/{len(variants)}) (each variant keeps at "
            f"least this share under thompson allocation), got {floor!r}"
        )
    running = item.get("running", True)
    if not isinstance(running, bool):
        problems.append(f"{where}: running must be true or false")
    min_sessions = item.get("min_sessions", 1000)
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, int) or min_sessions < 1:
        problems.append(f"{where}: min_sessions must be a positive integer")
    return Experiment(name, salt, tuple(variants), control, allocation, floor, running,
                      min_sessions)  # fmt: skip


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _variant(item, where, problems, bundle_exists) -> Variant | None:
    if not isinstance(item, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    name = _named(item, _VARIANT_KEYS, where, problems)
    if name is None:
        return None
    where = f"{where} ({name!r})"
    weight = item.get("weight")
    if not _number(weight) or weight <= 0:
        problems.append(f"{where}: weight must be a positive number, got {weight!r}")
    strategy = item.get("strategy")
    if strategy is not None and strategy not in BASELINES:
        problems.append(
            f"{where}: strategy must be one of {BASELINES} (omit it to serve a model), "
            f"got {strategy!r}"
        )
    bundle = item.get("bundle", LATEST)
    if not isinstance(bundle, str) or not bundle:
        problems.append(f"{where}: bundle must be a version name or 'latest'")
    elif bundle != LATEST and bundle_exists is not None and not bundle_exists(bundle):
        problems.append(
            f"{where}: bundle version {bundle!r} is not in the artifacts; list them with "
            "`ls <artifacts>` (or use 'latest')"
        )
    ranking = item.get("ranking", {})
    if not isinstance(ranking, Mapping):
        problems.append(f"{where}: ranking must be a table of RankerParams fields")
        ranking = {}
    for key in sorted(set(ranking) - _RANKING_FIELDS):
        problems.append(
            f"{where}: unknown ranking parameter {key!r}; known: {sorted(_RANKING_FIELDS)}"
        )
    if strategy is not None and (ranking or "bundle" in item):
        problems.append(f"{where}: a baseline strategy takes no bundle or ranking overrides")
    try:
        if ranking and not set(ranking) - _RANKING_FIELDS:
            RankerParams(**dict(ranking))  # the overrides alone must be valid values
    except (ConfigError, TypeError, ValueError) as exc:
        problems.append(f"{where}: ranking overrides are invalid ({exc})")
    return Variant(name, weight if _number(weight) else 1.0, bundle, strategy, dict(ranking))
