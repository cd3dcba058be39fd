"""Hyper-parameters of prod2vec training, shared by every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from engine.errors import ConfigError

Backend = Literal["numba", "gensim"]


MAX_TRAINING_TOKENS = 150_000_000
"""The batch job's default budget of prod2vec tokens (epochs x tokens per epoch): 10 epochs up
to 15M tokens per epoch (about 3M sessions), fewer beyond; see the README's Scale section."""

MIN_EPOCHS = 3
"""Fewest epochs that budget may leave."""


@dataclass(frozen=True)
class Prod2VecConfig:
    """Skip-gram with negative sampling over sessions.

    Args:
        dim: embedding dimension.
        window: maximum distance between a centre item and a context item in a session;
            the effective window is drawn uniformly in ``1..window`` per centre (word2vec).
        epochs: passes over the corpus.
        alpha: initial learning rate; decays linearly to ``min_alpha`` over all epochs.
        min_alpha: final learning rate.
        negatives: negatives per positive pair drawn from the global unigram**ns_exponent table.
        category_negatives: extra negatives per positive pair drawn from the positive item's
            own category (same table, restricted to the category); items in a category of one,
            or with no category, fall back to global negatives.
        ns_exponent: exponent of the counts in the negative-sampling distribution (word2vec:
            0.75; 1 is the unigram distribution, 0 uniform).
        sample: frequent-item subsampling threshold (word2vec's ``sample``); 0 disables it.
        threads: worker threads; 0 means all cores.
        seed: random seed; with ``threads=1`` training is deterministic for a given seed.
        backend: ``numba`` (our compiled kernel, category-aware) or ``gensim`` (reference,
            global negatives only).
    """

    # Defaults tuned on Diginetica (benchmarks/train_quality.py, dim 100, window 3, 10 epochs):
    # alpha 0.15 and ns_exponent 0.5 lift HR@20 from 0.336 (word2vec's 0.025 / 0.75) to 0.448;
    # alpha 0.3 and above diverge. 10 negatives beat 5 (+2 points HR@20) at twice the cost.
    # One of the 10 negatives comes from the positive's own category: on Diginetica that costs
    # about a point of all-item HR@20 of the vectors alone (0.448 -> 0.438) and gains five
    # points of within-category HR@20 (0.519 -> 0.571): the vectors learn to tell apart the
    # products a shopper actually compares, which "similar products" and the ranker use.
    # --category-negatives 0 turns it off.
    dim: int = 100
    window: int = 3
    epochs: int = 10
    alpha: float = 0.15
    min_alpha: float = 0.0001
    negatives: int = 9
    category_negatives: int = 1
    ns_exponent: float = 0.5
    sample: float = 1e-3
    threads: int = 0
    seed: int = 42
    backend: Backend = "numba"

    def __post_init__(self) -> None:
        checks = [
            (self.dim >= 1, f"dim must be >= 1, got {self.dim}"),
            (self.window >= 1, f"window must be >= 1, got {self.window}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (0 < self.alpha <= 1, f"alpha must be in (0, 1], got {self.alpha}"),
            (0 <= self.min_alpha <= self.alpha, "min_alpha must be in [0, alpha]"),
            (self.negatives >= 0, f"negatives must be >= 0, got {self.negatives}"),
            (self.category_negatives >= 0, "category_negatives must be >= 0"),
            (self.negatives + self.category_negatives >= 1, "need at least one negative"),
            (self.sample >= 0, f"sample must be >= 0, got {self.sample}"),
            (self.threads >= 0, f"threads must be >= 0 (0 = all cores), got {self.threads}"),
            (0 <= self.seed < 2**32, f"seed must be in 0..4294967295, got {self.seed}"),
            (self.backend in ("numba", "gensim"), f"unknown backend {self.backend!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict:
        return asdict(self)
