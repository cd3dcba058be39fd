"""Next-item evaluation of a bundle: HR@k and MRR@k over (prefix -> target) pairs.

Every item of the vocabulary is ranked for every pair (no sampled negatives), with the
pessimistic tie rule of :func:`engine.metrics.rank_of`. Scoring, until the retrieval engine's
scorer is merged, is the bundle's own skip-gram geometry: the recency-weighted mean of the
prefix items' *input* vectors dotted with every item's *output* vector.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.bundle import Bundle
from engine.errors import ConfigError, DataError, SchemaError
from engine.metrics import hit_rate_and_mrr
from engine.vectors import ItemVectors

log = logging.getLogger(__name__)

DEFAULT_RECENCY = 0.7
"""Weight decay per step back in the prefix: the last item weighs 1, the one before 0.7..."""


def next_item_scores(
    vectors: ItemVectors, prefix_indices: np.ndarray, recency: float = DEFAULT_RECENCY
) -> np.ndarray:
    """Scores of every item as the next one after ``prefix_indices`` (time order, last = now).

    The session vector is the mean of the prefix's input vectors weighted ``recency**age``
    (age 0 for the last item); the score of item j is its dot product with output vector j.
    An empty prefix scores every item 0.
    """
    prefix = np.asarray(prefix_indices, dtype=np.int64)
    if prefix.size == 0:
        return np.zeros(len(vectors), dtype=np.float32)
    w = recency ** np.arange(len(prefix) - 1, -1, -1, dtype=np.float64)
    session = (w[:, None] * vectors.input[prefix]).sum(axis=0) / w.sum()
    return vectors.output @ session.astype(np.float32)


@dataclass(frozen=True)
class EvaluationResult:
    """Ranking quality on a set of test pairs."""

    k: int
    pairs: int
    hit_rate: float
    mrr: float
    unknown_targets: int
    empty_prefixes: int
    recency: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d[f"hr@{self.k}"] = d.pop("hit_rate")
        d[f"mrr@{self.k}"] = d.pop("mrr")
        return d

    def line(self) -> str:
        return (
            f"HR@{self.k} {self.hit_rate:.4f}  MRR@{self.k} {self.mrr:.4f}  on {self.pairs:,} "
            f"pairs ({self.unknown_targets:,} unknown targets counted as misses, "
            f"{self.empty_prefixes:,} prefixes with no known item)"
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


def evaluate_pairs(
    vectors: ItemVectors,
    pairs: pa.Table,
    k: int = 20,
    recency: float = DEFAULT_RECENCY,
    batch_size: int = 1024,
) -> EvaluationResult:
    """HR@k and MRR@k of ``vectors`` on ``pairs`` (item ids compared as strings).

    A target missing from the vocabulary is a miss; prefix items missing from it are skipped
    (a prefix with none left scores every item equally, so its target ranks last among ties).
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if not 0 < recency <= 1:
        raise ConfigError(f"recency must be in (0, 1], got {recency}")
    index = {str(i): n for n, i in enumerate(vectors.item_ids)}
    prefixes = pairs.column("prefix").to_pylist()
    targets = pairs.column("target").to_pylist()
    n_items = len(vectors)
    vin = np.asarray(vectors.input, dtype=np.float32)
    vout_t = np.ascontiguousarray(np.asarray(vectors.output, dtype=np.float32).T)
    target_idx = np.array([index.get(str(t), -1) for t in targets], dtype=np.int64)
    sess = np.zeros((len(targets), vin.shape[1]), dtype=np.float32)
    empty = 0
    for row, prefix in enumerate(prefixes):
        known = [index[s] for s in map(str, prefix or []) if s in index]
        if not known:
            empty += 1
            continue
        w = recency ** np.arange(len(known) - 1, -1, -1, dtype=np.float64)
        sess[row] = (w[:, None] * vin[known]).sum(axis=0) / w.sum()
    # a miss whatever k is (an unknown target must never count as ranked)
    ranks = np.full(len(targets), max(n_items, k) + 1, dtype=np.int64)
    for lo in range(0, len(targets), batch_size):
        hi = min(lo + batch_size, len(targets))
        t = target_idx[lo:hi]
        ok = t >= 0
        if not ok.any():
            continue
        scores = sess[lo:hi][ok] @ vout_t
        tt = t[ok]
        ts = scores[np.arange(len(tt)), tt][:, None]
        higher = (scores > ts).sum(axis=1)
        equal = scores == ts
        tied_before = np.zeros_like(higher)
        # exact ties are rare with float scores (all-zero rows aside): look only where they are
        for row in np.flatnonzero(equal.sum(axis=1) > 1):
            tied_before[row] = equal[row, : tt[row]].sum()
        ranks[lo:hi][ok] = higher + tied_before + 1
    hr, mrr = hit_rate_and_mrr(ranks, k)
    return EvaluationResult(
        k=k,
        pairs=len(targets),
        hit_rate=hr,
        mrr=mrr,
        unknown_targets=int((target_idx < 0).sum()),
        empty_prefixes=empty,
        recency=recency,
    )


def load_vectors(bundle: Bundle) -> ItemVectors:
    """The item vectors of a bundle (ids from its item table)."""
    ids = np.array(bundle.table("items").column("item_id").to_pylist(), dtype=object)
    return ItemVectors(
        item_ids=ids,
        input=bundle.array("vectors_input", mmap=False),
        output=bundle.array("vectors_output", mmap=False),
    )


def evaluate_bundle(
    bundle_path: str | os.PathLike,
    test_pairs: str | os.PathLike,
    k: int = 20,
    recency: float = DEFAULT_RECENCY,
) -> EvaluationResult:
    """Load a bundle (or an artifacts root's ``latest``) and evaluate it on a pairs file."""
    bundle = Bundle.load(bundle_path)
    return evaluate_pairs(load_vectors(bundle), read_test_pairs(test_pairs), k=k, recency=recency)
