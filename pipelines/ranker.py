"""Learning the ranking stage's weights on a validation split carved from the training sessions.

The newest ``share`` of the training sessions (sessions are stored in time order) is held out;
the model's statistics, vectors and indexes are built on the rest; every (prefix -> next item)
pair of the held-out sessions is answered by the recommender's own candidate stage, and a
linear model over the candidates' features is fitted by listwise softmax regression (the
target's log-probability among its candidates, L2-regularised, L-BFGS). The test pairs are never
looked at. The fitted weights go into the bundle; the final model is then built on all
sessions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize

from engine.corpus import SessionCorpus
from engine.errors import ConfigError, DataError
from engine.metrics import hit_rate_and_mrr, rank_of
from engine.progress import progress as report_progress
from engine.ranking import FEATURES, RankerParams
from engine.recommender import SessionRecommender
from pipelines.holdout import newest_count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationSplit:
    """Training sessions without the held-out ones, and the held-out (prefix, next) pairs."""

    train: SessionCorpus
    prefixes: list[np.ndarray]
    targets: np.ndarray
    held_out_sessions: int
    sessions: np.ndarray | None = None  #: the corpus session of each pair

    @property
    def first_session(self) -> int:
        return self.train.n_sessions


def validation_split(
    corpus: SessionCorpus, share: float = 0.1, max_pairs: int = 20_000, seed: int = 0
) -> ValidationSplit:
    """Hold out the newest ``share`` of the sessions and turn them into next-item pairs.

    Items of held-out sessions that never occur in the remaining sessions are dropped from them
    (nothing could recommend them), as are sessions left shorter than 2. At most ``max_pairs``
    pairs are kept, drawn uniformly with ``seed``.
    """
    if not 0 < share < 1:
        raise ConfigError(f"validation share must be in (0, 1), got {share}")
    n = corpus.n_sessions
    first = n - newest_count(n, share)
    keep = np.zeros(n, dtype=bool)
    keep[:first] = True
    train = corpus.subset_sessions(keep)
    known = train.item_counts > 0
    prefixes: list[np.ndarray] = []
    targets: list[int] = []
    owners: list[int] = []
    for s in range(first, n):
        session = corpus.session(s)
        session = session[known[session]]
        for cut in range(1, len(session)):
            prefixes.append(session[:cut])
            targets.append(int(session[cut]))
            owners.append(s)
    if len(targets) > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(len(targets), max_pairs, replace=False))
        prefixes = [prefixes[i] for i in pick]
        targets = [targets[i] for i in pick]
        owners = [owners[i] for i in pick]
    return ValidationSplit(
        train, prefixes, np.asarray(targets, dtype=np.int64), n - first,
        np.asarray(owners, dtype=np.int64),
    )  # fmt: skip


@dataclass(frozen=True)
class RankerReport:
    """What learning the ranker did (stored in the bundle manifest)."""

    pairs: int
    held_out_sessions: int
    candidates_per_pair: float
    candidate_recall: float
    default_hr: float
    default_mrr: float
    learned_hr: float
    learned_mrr: float
    k: int
    seconds: float
    weights: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (
            f"ranker learned on {self.pairs:,} validation pairs: HR@{self.k} "
            f"{self.default_hr:.4f} -> {self.learned_hr:.4f}, MRR@{self.k} {self.default_mrr:.4f} "
            f"-> {self.learned_mrr:.4f} (in-sample; candidate recall {self.candidate_recall:.3f}, "
            f"{self.candidates_per_pair:.0f} candidates per pair)"
        )


@dataclass(frozen=True)
class CandidateFeatures:
    """Features of every candidate of every pair: pair ``q``'s candidates are rows
    ``offsets[q]:offsets[q + 1]`` of ``x``; ``labels[q]`` is the target's position among
    them, or -1 when it is not a candidate."""

    offsets: np.ndarray
    x: np.ndarray
    labels: np.ndarray

    def subset(self, keep: np.ndarray) -> CandidateFeatures:
        """Only the pairs where ``keep`` is true."""
        pairs = np.flatnonzero(keep)
        lengths = np.diff(self.offsets)[pairs]
        rows = [np.arange(self.offsets[q], self.offsets[q + 1]) for q in pairs]
        take = np.concatenate(rows) if rows else np.empty(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return CandidateFeatures(offsets, self.x[take], self.labels[pairs])


def candidate_features(
    recommender: SessionRecommender, split: ValidationSplit, progress: bool = True
) -> CandidateFeatures:
    """The features the served candidate stage computes for every pair of ``split``."""
    state = recommender.model.catalog.state
    ids = state.item_ids  # the corpus's vocabulary, in the same order (engine/build/model.py)
    blocks, labels, offsets = [], [], [0]
    for prefix, target in report_progress(
        zip(split.prefixes, split.targets, strict=True), total=len(split.targets),
        desc="ranker features", unit="pair", enabled=progress,
    ):  # fmt: skip
        found = recommender.session_candidates([ids[r] for r in prefix], state=state)
        hit = np.flatnonzero(found.rows == target)
        labels.append(int(hit[0]) if len(hit) else -1)
        blocks.append(found.features)
        offsets.append(offsets[-1] + len(found.rows))
    return CandidateFeatures(np.asarray(offsets), np.concatenate(blocks), np.asarray(labels))


def _ranks(offsets: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1-based rank of each labelled candidate within its pair (ties count against it)."""
    ranks = np.full(len(labels), np.iinfo(np.int64).max)
    for q in np.flatnonzero(labels >= 0):
        ranks[q] = rank_of(scores[offsets[q] : offsets[q + 1]], labels[q])
    return ranks


def fit_listwise(
    offsets: np.ndarray, x: np.ndarray, labels: np.ndarray, l2: float = 1e-4
) -> np.ndarray:
    """Weights (raw feature scale) maximising the mean log-softmax of the targets."""
    queries = np.flatnonzero(labels >= 0)
    if len(queries) < 10:
        raise DataError(
            f"only {len(queries)} validation pairs have their target among the candidates; "
            "too few to learn the ranker (use --ranker default, or more data)"
        )
    # keep only pairs with a target; rebuild contiguous offsets over them
    lengths = np.diff(offsets)[queries]
    take = np.concatenate([np.arange(offsets[q], offsets[q + 1]) for q in queries])
    xs = x[take].astype(np.float64)
    mu, sd = xs.mean(axis=0), xs.std(axis=0) + 1e-6
    xs = (xs - mu) / sd
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    owner = np.repeat(np.arange(len(queries)), lengths)
    target_rows = starts + labels[queries]
    x_target_sum = xs[target_rows].sum(axis=0)
    n_q = len(queries)

    def loss_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = xs @ w
        top = np.maximum.reduceat(s, starts)
        e = np.exp(s - top[owner])
        z = np.add.reduceat(e, starts)
        loss = -(s[target_rows] - top - np.log(z)).sum()
        p = e / z[owner]
        grad = xs.T @ p - x_target_sum
        return loss / n_q + l2 * w @ w, grad / n_q + 2 * l2 * w

    result = minimize(
        loss_grad, np.zeros(xs.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 300}
    )
    return result.x / sd


def learn_ranker(
    recommender: SessionRecommender,
    split: ValidationSplit,
    params: RankerParams,
    k: int = 20,
    progress: bool = True,
    without: frozenset[str] = frozenset(),
) -> tuple[RankerParams, RankerReport]:
    """Fit the ranker on ``split`` with ``recommender`` (built on ``split.train``)."""
    started = time.perf_counter()
    features = candidate_features(recommender, split, progress)
    return fit_ranker(features, params, split.held_out_sessions, k, without, started)


def fit_ranker(
    features: CandidateFeatures,
    params: RankerParams,
    held_out_sessions: int,
    k: int = 20,
    without: frozenset[str] = frozenset(),
    started: float | None = None,
) -> tuple[RankerParams, RankerReport]:
    """Fit the ranker's weights on candidate features (of ``held_out_sessions`` sessions).

    ``without``: features the ranker must not use (their weights stay 0), e.g. to measure
    what a signal adds (benchmarks/ablation.py).
    """
    unknown = set(without) - set(FEATURES)
    if unknown:
        raise ConfigError(f"unknown ranking features {sorted(unknown)}; known: {FEATURES}")
    started = time.perf_counter() if started is None else started
    offsets, x, labels = features.offsets, features.x, features.labels
    if without:
        x = x.copy()
        for f in without:
            x[:, FEATURES.index(f)] = 0.0  # a constant column: its standardized weight stays 0
    default_ranks = _ranks(offsets, x @ params.weight_vector, labels)
    w = fit_listwise(offsets, x, labels)
    learned = {f: float(v) for f, v in zip(FEATURES, w, strict=True)}
    learned_ranks = _ranks(offsets, x @ w, labels)
    d_hr, d_mrr = hit_rate_and_mrr(default_ranks, k)
    l_hr, l_mrr = hit_rate_and_mrr(learned_ranks, k)
    report = RankerReport(
        pairs=len(labels),
        held_out_sessions=held_out_sessions,
        candidates_per_pair=float(np.diff(offsets).mean()),
        candidate_recall=float((labels >= 0).mean()),
        default_hr=d_hr,
        default_mrr=d_mrr,
        learned_hr=l_hr,
        learned_mrr=l_mrr,
        k=k,
        seconds=time.perf_counter() - started,
        weights=learned,
    )
    return params.with_weights(learned), report
