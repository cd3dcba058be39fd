"""Co-visitation statistics: what visitors viewed after (and before) viewing an item.

Built once in the batch pipeline from the training sessions (engine/build/covisitation.py)
and stored in the bundle as two sparse matrices, read-only here:

- ``related[a, b]``: how strongly ``b`` is viewed near ``a``. A pair at distance ``d`` in a
  session counts ``forward_decay**(d-1)`` when ``b`` comes after ``a`` and ``backward_weight *
  backward_decay**(d-1)`` when it comes before; row ``a`` is divided by ``rowsum(a) **
  row_norm_power`` (1 would be a probability; lower keeps some of the evidence of busy rows) and
  column ``b`` by ``nnz(b) ** column_penalty`` (items next to everything say little);
- ``successors[a, b]``: the share of views of ``a`` directly followed by ``b``.

Each row keeps its ``top_n`` strongest entries, so a request touches a bounded number of them.
The defaults were tuned on a validation split of Diginetica's training sessions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from engine.errors import ConfigError


@dataclass(frozen=True)
class CoVisitationParams:
    """How pairs are counted.

    Args:
        window: largest distance in a session at which two views count as a pair.
        forward_decay: weight ratio per extra step for "b viewed after a".
        backward_weight: weight of "b viewed before a" relative to after.
        backward_decay: weight ratio per extra step for "before" pairs.
        row_norm_power: each row is divided by its sum to this power.
        column_penalty: each column is divided by its number of non-zeros to this power.
        top_n: neighbours kept per item (the strongest), bounding per-request work.
    """

    window: int = 8
    forward_decay: float = 0.7
    backward_weight: float = 0.7
    backward_decay: float = 0.8
    row_norm_power: float = 0.65
    column_penalty: float = 0.1
    top_n: int = 300

    def __post_init__(self) -> None:
        if self.window < 1 or self.top_n < 1:
            raise ConfigError("co-visitation window and top_n must be >= 1")
        if not (0 < self.forward_decay <= 1 and 0 < self.backward_decay <= 1):
            raise ConfigError("co-visitation decays must be in (0, 1]")
        if self.backward_weight < 0 or self.row_norm_power < 0 or self.column_penalty < 0:
            raise ConfigError("co-visitation weights and powers must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SparseRows:
    """A CSR matrix whose rows are sorted by weight, strongest first (read-only)."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class CoVisitation:
    """The ``related`` and ``successors`` matrices (see the module docstring)."""

    related: SparseRows
    successors: SparseRows
    params: CoVisitationParams
