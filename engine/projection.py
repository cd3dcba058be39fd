"""The product space's projection in a bundle: two small arrays, and what the map draws.

The batch pipeline computes it (pipelines/projection.py: sampling, PCA) and stores:

- ``projection_rows.npy`` (int64, increasing): the catalogue rows drawn, trained products first
  and then the products without views that got cold-start vectors (the rows the served model
  gives them when it loads the bundle);
- ``projection_xy.npy`` (float32, (points, 2)): their coordinates.

The console's map and the bundle's ``report.html`` read it through :func:`read_projection`,
checked like every other bundle array (engine/bundle_checks.py); a bundle without these arrays
(written before them) still loads, and the map says it has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.bundle import Bundle, BundleWriter
from engine.bundle_checks import BundleArrays
from engine.catalog import ProductMetadata
from engine.model import RecommenderModel

ROWS = "projection_rows"
XY = "projection_xy"
#: Points stored at most (see pipelines/projection.py for how they are drawn).
MAX_POINTS = 20_000


@dataclass(frozen=True)
class Projection:
    """2-D coordinates of some catalogue rows.

    Attributes:
        rows: catalogue rows drawn (int64, increasing).
        xy: their coordinates (float32, one row per drawn product).
        info: what the manifest records: method, products, points, sampling, explained variance.
    """

    rows: np.ndarray
    xy: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def write_projection(writer: BundleWriter, projection: Projection) -> None:
    writer.add_array(ROWS, projection.rows.astype(np.int64))
    writer.add_array(XY, projection.xy.astype(np.float32))


def read_projection(bundle: Bundle, n_rows: int) -> Projection | None:
    """The bundle's projection, checked, or ``None`` for a bundle written without one.

    Args:
        n_rows: catalogue rows the bundle's model has (trained plus cold-start products).

    Raises:
        BundleError: the arrays are inconsistent (dtype, shape, a row out of range or
            repeated, a coordinate NaN or infinite), naming the array.
    """
    if not (bundle.has(f"{ROWS}.npy") and bundle.has(f"{XY}.npy")):
        return None
    bundle.verify(f"{ROWS}.npy", f"{XY}.npy")  # read long after the bundle was loaded
    arrays = BundleArrays(bundle)
    m = len(bundle.array(ROWS))
    if m > MAX_POINTS * 5:  # a bound on what a page is sent, whatever a bundle claims
        arrays.fail(f"{ROWS}.npy", f"has {m} rows, more than the {MAX_POINTS * 5} a page can draw")
    rows = arrays.indices(ROWS, np.int64, m, max(n_rows, 1))
    if m > 1 and not (np.diff(rows) > 0).all():
        arrays.fail(f"{ROWS}.npy", "is not strictly increasing (rows repeated or unordered)")
    xy = arrays.finite(XY, (m, 2))
    info = bundle.manifest.get("projection")
    return Projection(rows, xy, info if isinstance(info, dict) else {})


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 2)


def map_payload(model: RecommenderModel, projection: Projection | None) -> dict[str, Any]:
    """What the map draws, as JSON columns: one entry per point (id, category index, title,
    price, x, y) and the category names. ``points`` is 0 without a projection."""
    if projection is None:
        return {"points": 0, "note": "this bundle has no projection (trained before it existed)"}
    catalog = model.catalog
    state = catalog.state
    rows = [int(r) for r in projection.rows]
    names: dict[str, int] = {}
    cats, titles, prices = [], [], []
    for r in rows:
        c = catalog.category_of(r)
        cats.append(-1 if c is None else names.setdefault(c, len(names)))
        meta = state.metadata_of(r) or ProductMetadata()
        titles.append(meta.title)
        prices.append(_number(meta.price))
    return {
        "points": len(rows),
        **{k: projection.info.get(k) for k in ("method", "products", "sampling")},
        "explained_variance": projection.info.get("explained_variance"),
        "categories": list(names),
        "id": [state.id_of(r) for r in rows],
        "cat": cats,
        "title": titles,
        "price": prices,
        "x": [round(float(v), 5) for v in projection.xy[:, 0]],
        "y": [round(float(v), 5) for v in projection.xy[:, 1]],
    }
