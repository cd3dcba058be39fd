"""Next-item evaluation through the served path: HR@k, MRR@k, coverage, two protocols.

Every (prefix -> target) pair is answered by :class:`engine.recommender.SessionRecommender`,
the very object the HTTP service calls, with the prefix as the session (oldest first). The
target's rank is its position in the top-k list; a target outside it (or unknown) is a miss.
The recommender ranks every item of the catalogue that any of its candidate generators
reaches, and pads with popular items, so HR@k and MRR@k are those of a full ranking truncated
at k, as in the papers.

Two protocols, from the same pairs:

``next_view`` (the papers')
    every pair: the target is the next view, whatever it is; already-seen items may be
    recommended (a fifth of Diginetica's targets are repeats, and the published numbers count
    them).
``next_different`` (the product page's)
    only pairs whose target differs from the current product (the prefix's last item),
    answered as the API answers by default: the current product is the page's product and
    items already seen in the session are never shown. A visitor going back to a product seen
    earlier is a miss: the page could not have shown it.

And three systems, so that a number has something to be compared with:

``nowrec``   the whole session, as served;
``item``     the current product only (the ``item`` strategy: its co-visitation, session
             neighbourhood and embedding neighbours, ranked), what a "related products" box
             without the session shows;
``popular``  the most viewed products of the training data.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.bundle import Bundle
from engine.errors import ConfigError, DataError, SchemaError
from engine.metrics import hit_rate_and_mrr, rank_in_top
from engine.model import RecommenderModel
from engine.progress import progress as report_progress
from engine.recommender import Filters, Recommendation, SessionRecommender, check_k

log = logging.getLogger(__name__)

NEXT_VIEW = "next_view"
NEXT_DIFFERENT = "next_different"
PROTOCOLS = {
    NEXT_VIEW: "next view, repeats included (the papers')",
    NEXT_DIFFERENT: "next different product, seen ones excluded (the product page's)",
}
SYSTEMS = {
    "nowrec": "the session, as served",
    "item": "the current product's neighbours only",
    "popular": "most popular products",
}
EVALUATION_FILTERS = Filters(exclude_seen=False)


@dataclass(frozen=True)
class EvaluationResult:
    """Ranking quality of one system under one protocol.

    ``coverage``: share of the catalogue (products with views or cold-start vectors)
    recommended at least once;
    ``strategies``: share of the answers given by each strategy (session, item, popular...);
    ``unknown_targets``: targets the model has no row for (counted as misses).
    """

    k: int
    pairs: int
    hit_rate: float
    mrr: float
    unknown_targets: int
    coverage: float
    strategies: dict[str, float] = field(default_factory=dict)
    exact: bool = False
    ms_per_pair: float = 0.0
    protocol: str = NEXT_VIEW
    system: str = "nowrec"

    def to_dict(self) -> dict:
        d = asdict(self)
        d[f"hr@{self.k}"] = d.pop("hit_rate")
        d[f"mrr@{self.k}"] = d.pop("mrr")
        return d

    def line(self) -> str:
        shares = ", ".join(f"{k} {v:.1%}" for k, v in sorted(self.strategies.items()))
        return (
            f"HR@{self.k} {self.hit_rate:.4f}  MRR@{self.k} {self.mrr:.4f}  coverage "
            f"{self.coverage:.1%}  on {self.pairs:,} pairs ({self.unknown_targets:,} unknown "
            f"targets counted as misses; strategies: {shares}; "
            f"{'exact' if self.exact else 'HNSW'} candidates, {self.ms_per_pair:.2f} ms/pair)"
        )


@dataclass(frozen=True)
class QualityReport:
    """Results per protocol and system, measured on the same pairs in the same run."""

    k: int
    results: dict[str, dict[str, EvaluationResult]]

    def get(self, protocol: str, system: str = "nowrec") -> EvaluationResult:
        return self.results[protocol][system]

    def to_dict(self) -> dict:
        return {
            p: {s: r.to_dict() for s, r in by_system.items()}
            for p, by_system in self.results.items()
        }

    def table(self) -> str:
        """A fixed-width table: one row per protocol and system."""
        k = self.k
        rows = [("protocol", "system", f"HR@{k}", f"MRR@{k}", "coverage", "pairs")]
        for p, by_system in self.results.items():
            for n, (s, r) in enumerate(by_system.items()):
                rows.append((
                    PROTOCOLS[p].split(" (")[0] if n == 0 else "", s, f"{r.hit_rate:.4f}",
                    f"{r.mrr:.4f}", f"{r.coverage:.1%}", f"{r.pairs:,}",
                ))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                f"{c:<{w}}" if i < 2 else f"{c:>{w}}"
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
            for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)


def read_test_pairs(path: str | os.PathLike) -> pa.Table:
    """Test pairs: ``prefix`` (list of item ids, oldest first) and ``target`` (item id)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"test pairs file {p} does not exist; check --test-pairs")
    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise DataError(f"cannot read test pairs {p} as Parquet: {exc}") from exc
    missing = {"prefix", "target"} - set(table.column_names)
    if missing:
        raise SchemaError(
            f"test pairs {p} lack column(s) {sorted(missing)}; columns are "
            f"{', '.join(table.column_names)} (expected prefix: list of item ids, target)"
        )
    if not pa.types.is_list(table.schema.field("prefix").type) and not pa.types.is_large_list(
        table.schema.field("prefix").type
    ):
        raise SchemaError(f"test pairs column 'prefix' must be a list, got {table['prefix'].type}")
    if table.num_rows == 0:
        raise DataError(f"test pairs file {p} is empty")
    return table


def protocol_pairs(pairs: pa.Table, protocol: str) -> tuple[list[list[str]], list[str]]:
    """The (prefix, target) pairs a protocol scores, ids as text; see the module docstring."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    prefixes = [[str(i) for i in p or []] for p in pairs.column("prefix").to_pylist()]
    targets = [str(t) for t in pairs.column("target").to_pylist()]
    if protocol == NEXT_DIFFERENT:
        keep = [
            n for n, (p, t) in enumerate(zip(prefixes, targets, strict=True)) if p and p[-1] != t
        ]
        prefixes, targets = [prefixes[n] for n in keep], [targets[n] for n in keep]
    return prefixes, targets


def answer(
    recommender: SessionRecommender, prefix: list[str], k: int, protocol: str, system: str
) -> Recommendation:
    """What ``system`` shows for ``prefix`` under ``protocol`` (module docstring)."""
    page = protocol == NEXT_DIFFERENT
    current = prefix[-1] if page and prefix else None
    filters = Filters() if page else EVALUATION_FILTERS
    if system == "nowrec":
        return recommender.recommend(prefix, current_item=current, k=k, filters=filters)
    # The baselines never show what the session holds either on the product page, so that the
    # comparison isolates what the session's other items add.
    if page:
        filters = Filters(exclude=frozenset(prefix))
    if system == "item":
        return recommender.recommend(prefix[-1:], current_item=current, k=k, filters=filters)
    if system == "popular":
        return recommender.recommend([], k=k, filters=filters)
    raise ConfigError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")


def evaluate_recommender(
    recommender: SessionRecommender,
    pairs: pa.Table,
    k: int = 20,
    progress: bool = True,
    protocol: str = NEXT_VIEW,
    system: str = "nowrec",
) -> EvaluationResult:
    """HR@k, MRR@k, coverage and strategy shares of one system under one protocol."""
    check_k(k)
    prefixes, targets = protocol_pairs(pairs, protocol)
    state = recommender.model.catalog.state
    ranks = np.empty(len(targets), dtype=np.int64)
    strategies: Counter[str] = Counter()
    recommended: set[str] = set()
    started = time.perf_counter()
    rows = zip(prefixes, targets, strict=True)
    desc = f"{system}, {protocol.replace('_', ' ')}"
    for n, (prefix, target) in enumerate(
        report_progress(rows, total=len(targets), desc=desc, unit="pair", enabled=progress)
    ):
        rec = answer(recommender, prefix, k, protocol, system)
        strategies[rec.strategy] += 1
        recommended.update(rec.item_ids)
        ranks[n] = rank_in_top(rec.item_ids, target, k)
    seconds = time.perf_counter() - started
    hr, mrr = hit_rate_and_mrr(ranks, k)
    n_pairs = max(len(targets), 1)
    return EvaluationResult(
        k=k,
        pairs=len(targets),
        hit_rate=hr,
        mrr=mrr,
        unknown_targets=sum(state.row_of(t) is None for t in targets),
        coverage=len(recommended) / max(recommender.model.catalog.n_rows, 1),
        strategies={s: c / n_pairs for s, c in strategies.items()},
        exact=recommender.exact,
        ms_per_pair=1e3 * seconds / n_pairs,
        protocol=protocol,
        system=system,
    )


def evaluate_protocols(
    recommender: SessionRecommender,
    pairs: pa.Table,
    k: int = 20,
    systems: Iterable[str] = ("nowrec",),
    progress: bool = True,
) -> QualityReport:
    """Every protocol for every system in ``systems``, on the same pairs."""
    systems = tuple(systems)
    for s in systems:
        if s not in SYSTEMS:
            raise ConfigError(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
    results = {
        p: {s: evaluate_recommender(recommender, pairs, k, progress, p, s) for s in systems}
        for p in PROTOCOLS
    }
    return QualityReport(k=k, results=results)


def evaluate_bundle(
    bundle_path: str | os.PathLike,
    test_pairs: str | os.PathLike,
    k: int = 20,
    exact: bool = False,
    progress: bool = True,
    systems: Iterable[str] = ("nowrec",),
) -> QualityReport:
    """Load a bundle (or an artifacts root's ``latest``) and evaluate it on a pairs file."""
    bundle = Bundle.load(bundle_path)
    pairs = read_test_pairs(test_pairs)
    model = RecommenderModel.load(bundle)
    return evaluate_protocols(SessionRecommender(model, exact=exact), pairs, k, systems, progress)
