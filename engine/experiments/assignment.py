"""Which variant a session sees: a deterministic hash, sticky across requests and pods.

``u = hash(salt, session_id)`` is a uniform number in [0, 1) that never changes for a session,
and the session sees the variant whose slice of [0, 1) holds ``u`` under the experiment's
traffic shares. Every pod computes the same answer with no shared state; a new salt
re-shuffles the sessions.

Thompson sampling (``allocation = "thompson"``) moves traffic towards the variant with the
better session click-through: each variant's share is the posterior probability that it is the
best (Beta(1 + clicking sessions, 1 + other sessions), by Monte Carlo), mixed with a floor so
that every variant keeps learning. Shares change over time, so every assignment is logged with
the probability it had; the report weighs sessions by the inverse of it, which keeps its
estimates unbiased (a variant that got more traffic while it looked good is not favoured).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

import numpy as np

from engine.errors import ConfigError
from engine.experiments.config import Experiment, Variant


def unit_hash(salt: str, session_id: str) -> float:
    """A uniform number in [0, 1), fixed for (salt, session)."""
    digest = hashlib.blake2b(f"{salt}\x1f{session_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign(
    experiment: Experiment, session_id: str, shares: Sequence[float] | None = None
) -> tuple[Variant, float]:
    """The variant of ``session_id`` and the probability it had of getting it.

    Args:
        shares: traffic share of each variant, in order (default: the fixed weights).
    """
    shares = tuple(shares) if shares is not None else experiment.shares
    if len(shares) != len(experiment.variants):
        raise ConfigError(f"{len(shares)} shares for {len(experiment.variants)} variants")
    bounds = list(accumulate(shares))
    u = unit_hash(experiment.salt, session_id) * bounds[-1]
    k = min(bisect_right(bounds, u), len(shares) - 1)
    return experiment.variants[k], shares[k] / bounds[-1]


def thompson_shares(
    sessions: Sequence[int],
    clicking: Sequence[int],
    floor: float,
    *,
    draws: int = 20_000,
    seed: int = 0,
) -> tuple[float, ...]:
    """Traffic shares by Thompson sampling on session click-through, with a floor.

    Args:
        sessions: sessions of each variant so far.
        clicking: of those, sessions with at least one attributed click.
        floor: every variant keeps at least this share.
        draws: Monte Carlo draws of the posteriors (seeded: the same counts give the same
            shares on every pod).
    """
    n = np.asarray(sessions, dtype=np.float64)
    c = np.asarray(clicking, dtype=np.float64)
    if n.shape != c.shape or n.ndim != 1 or len(n) < 2 or (c > n).any() or (c < 0).any():
        raise ConfigError("need per-variant session and clicking-session counts, clicking <= all")
    if not 0 <= floor * len(n) < 1:
        raise ConfigError(f"floor {floor} leaves nothing to allocate for {len(n)} variants")
    rng = np.random.default_rng(seed)
    samples = rng.beta(1 + c, 1 + n - c, size=(draws, len(n)))
    best = np.bincount(samples.argmax(axis=1), minlength=len(n)) / draws
    shares = floor + (1 - floor * len(n)) * best
    return tuple(float(s) for s in shares)
