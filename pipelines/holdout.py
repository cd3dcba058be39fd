"""Held-out sessions and test pairs: how a run measures itself on data it did not learn from.

The newest sessions (by start time; by session id when the source has only positions) are
held out. Each held-out session of views ``v0 v1 ... vn`` gives the pairs ``(v0 -> v1)``,
``(v0 v1 -> v2)``, ..., every view as the visitor made it (repeats included, whatever the
training's ``--keep-repeats``), so that both protocols of :mod:`pipelines.evaluate` can be
scored from one set of pairs. The same pairs, written to Parquet by ``python -m pipelines
test-pairs``, are what ``evaluate --test-pairs`` and ``train --test-pairs`` read.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.errors import ConfigError

#: Columns of a test-pairs file (extra columns are ignored by the readers).
PAIRS_SCHEMA = pa.schema([("prefix", pa.list_(pa.string())), ("target", pa.string())])


def newest_count(n_sessions: int, share: float) -> int:
    """How many of ``n_sessions`` the newest ``share`` is: at least one, at most all."""
    if not 0 < share <= 1:
        raise ConfigError(f"a held-out share must be in (0, 1], got {share}")
    return min(max(int(n_sessions * share), 1), n_sessions)


def pairs_table(sessions: list[list[str]], max_pairs: int | None = None, seed: int = 0) -> pa.Table:
    """Every (prefix -> next view) pair of ``sessions`` (oldest view first), as a table of
    :data:`PAIRS_SCHEMA`; at most ``max_pairs`` of them, drawn uniformly with ``seed`` and kept
    in session order."""
    prefixes: list[list[str]] = []
    targets: list[str] = []
    for views in sessions:
        for cut in range(1, len(views)):
            prefixes.append(views[:cut])
            targets.append(views[cut])
    if max_pairs is not None and len(targets) > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(len(targets), max_pairs, replace=False))
        prefixes = [prefixes[i] for i in pick]
        targets = [targets[i] for i in pick]
    return pa.table({"prefix": prefixes, "target": targets}, schema=PAIRS_SCHEMA)


def count_pairs(sessions: list[list[str]]) -> int:
    return sum(max(len(s) - 1, 0) for s in sessions)
