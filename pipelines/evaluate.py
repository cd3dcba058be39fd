"""Next-item evaluation of a bundle through the served path: HR@k, MRR@k, coverage.

Every (prefix -> target) pair is answered by :class:`engine.recommender.SessionRecommender`,
the very object the HTTP service calls, with the prefix as the session (oldest first), no
separate current product, and already-seen items allowed (a fifth of Diginetica's targets are
repeats; the published protocol counts them). The target's rank is its position in the
top-k list; a target outside it (or unknown) is a miss. The recommender ranks every item of
the catalogue that any of its candidate generators reaches, and pads with popular items, so
HR@k and MRR@k are those of a full ranking truncated at k, as in the papers.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.bundle import Bundle
from engine.errors import DataError, SchemaError
from engine.metrics import hit_rate_and_mrr
from engine.model import RecommenderModel
from engine.progress import progress as report_progress
from engine.recommender import Filters, SessionRecommender, check_k

log = logging.getLogger(__name__)

EVALUATION_FILTERS = Filters(exclude_seen=False)


@dataclass(frozen=True)
class EvaluationResult:
    """Ranking quality on a set of test pairs.

    ``coverage``: share of the trained catalogue recommended at least once;
    ``strategies``: share of the answers given by each strategy (session, item, popular...).
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


def evaluate_recommender(
    recommender: SessionRecommender, pairs: pa.Table, k: int = 20, progress: bool = True
) -> EvaluationResult:
    """HR@k, MRR@k, coverage and strategy shares of ``recommender`` on ``pairs``."""
    check_k(k)
    prefixes = pairs.column("prefix").to_pylist()
    targets = [str(t) for t in pairs.column("target").to_pylist()]
    state = recommender.model.catalog.state
    ranks = np.full(len(targets), k + 1, dtype=np.int64)
    strategies: Counter[str] = Counter()
    recommended: set[str] = set()
    started = time.perf_counter()
    rows = zip(prefixes, targets, strict=True)
    for n, (prefix, target) in enumerate(
        report_progress(rows, total=len(targets), desc="evaluating", unit="pair", enabled=progress)
    ):
        rec = recommender.recommend([str(i) for i in prefix or []], k=k, filters=EVALUATION_FILTERS)
        strategies[rec.strategy] += 1
        recommended.update(rec.item_ids)
        if target in rec.item_ids:
            ranks[n] = rec.item_ids.index(target) + 1
    seconds = time.perf_counter() - started
    hr, mrr = hit_rate_and_mrr(ranks, k)
    n_pairs = max(len(targets), 1)
    return EvaluationResult(
        k=k,
        pairs=len(targets),
        hit_rate=hr,
        mrr=mrr,
        unknown_targets=sum(state.row_of(t) is None for t in targets),
        coverage=len(recommended) / max(recommender.model.catalog.n_trained, 1),
        strategies={s: c / n_pairs for s, c in strategies.items()},
        exact=recommender.exact,
        ms_per_pair=1e3 * seconds / n_pairs,
    )


def evaluate_bundle(
    bundle_path: str | os.PathLike,
    test_pairs: str | os.PathLike,
    k: int = 20,
    exact: bool = False,
    progress: bool = True,
) -> EvaluationResult:
    """Load a bundle (or an artifacts root's ``latest``) and evaluate it on a pairs file."""
    bundle = Bundle.load(bundle_path)
    pairs = read_test_pairs(test_pairs)
    model = RecommenderModel.load(bundle)
    return evaluate_recommender(SessionRecommender(model, exact=exact), pairs, k, progress)
