"""Category indexes: how category ids (text) become the small integers every model uses.

One definition for the corpus (training), the product metadata and the served catalogue, so a
category has the same index wherever it is read from the same items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

NO_CATEGORY = -1
"""Category index of an item whose category is unknown."""


class CategoryIndex(NamedTuple):
    """Categories of a list of items: ``codes[i]`` is item ``i``'s category index (int32,
    :data:`NO_CATEGORY` when it has none), ``names[c]`` the id of category ``c`` and
    ``index`` its inverse."""

    codes: np.ndarray
    names: list[str]
    index: dict[str, int]


def sort_ids(ids: Iterable[str]) -> list[str]:
    """Ids sorted numerically when they all are integers, else as text (stable, readable)."""
    ids = list(ids)
    try:
        return sorted(ids, key=int)
    except ValueError:
        return sorted(ids)


def index_categories(categories: Sequence[str | None]) -> CategoryIndex:
    """Number the categories of items (``None``: no category) in :func:`sort_ids` order."""
    names = sort_ids({c for c in categories if c is not None})
    index = {c: k for k, c in enumerate(names)}
    codes = np.array([NO_CATEGORY if c is None else index[c] for c in categories], np.int32)
    return CategoryIndex(codes, names, index)


def first_per_group(order: np.ndarray, groups: np.ndarray, n: int) -> dict[int, np.ndarray]:
    """The first ``n`` rows of ``order`` (e.g. rows by falling popularity) of every group,
    ``groups`` holding a code per row (a category or a brand index; :data:`NO_CATEGORY`, -1,
    for none: those rows are left out)."""
    codes = groups[order]
    return {int(g): order[codes == g][:n] for g in np.unique(groups) if g != NO_CATEGORY}
