"""The product space as a picture: a 2-D projection of the item vectors, stored in the bundle.

The console's map and the bundle's ``report.html`` draw one point per product, coloured by
category. Computing a projection at page load would cost seconds for a large catalogue, so the
batch pipeline computes it once and stores two small arrays in the bundle:

- ``projection_rows.npy`` (int64, increasing): the catalogue rows drawn, trained products first
  and then the products without views that got cold-start vectors (the rows the served model
  gives them when it loads the bundle);
- ``projection_xy.npy`` (float32, (points, 2)): their coordinates.

**Sampling.** At most ``max_points`` (20,000) points are stored, whatever the catalogue's size,
so the page loads at once even for a million products (about 1.5 MB of JSON, 0.4 MB gzipped).
Beyond that, half the points are the most viewed products (what people search for and what the
recommendations show most) and half are drawn uniformly from the rest (the shape of the
catalogue, the long tail included), with a fixed seed. The manifest's ``projection`` entry says
how many of how many products are drawn.

**Method.** PCA of the L2-normalised input vectors (the "similar products" space, compared by
cosine), fitted on every product (the covariance is accumulated in chunks: a 1M x 100 matrix in
a few seconds and a few MB of temporaries), then applied to the drawn ones. It needs numpy only.
A nonlinear method (UMAP, t-SNE) separates categories more sharply but costs minutes and heavy
dependencies at 20,000 points; it is not offered (see the README's console section).

The arrays, and how the service reads them, are in engine/projection.py.
"""

from __future__ import annotations

import numpy as np

from engine.model import RecommenderModel
from engine.projection import MAX_POINTS, Projection

#: Rows of vectors per chunk of the covariance (bounded temporary memory).
_CHUNK = 65_536


def sample_rows(counts: np.ndarray, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """The rows to draw: all of them when they fit, otherwise the ``max_points // 2`` most
    viewed and a uniform draw from the rest (increasing row order)."""
    n = len(counts)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    top = max_points // 2
    # stable order: ties by row, so the same bundle always draws the same rows
    popular = np.argsort(-np.asarray(counts, np.int64), kind="stable")[:top]
    rest = np.setdiff1d(np.arange(n, dtype=np.int64), popular, assume_unique=True)
    drawn = np.random.default_rng(seed).choice(rest, size=max_points - top, replace=False)
    return np.sort(np.concatenate([popular.astype(np.int64), drawn]))


def _unit(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block, np.float64)
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    return block / np.maximum(norms, 1e-12)


def pca_2d(blocks: list[np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """PCA of the unit-normalised rows of ``blocks`` (stacked), applied to ``rows``.

    Returns the coordinates (float32, (len(rows), 2)) and the share of the variance each of
    the two axes explains.
    """
    dim = blocks[0].shape[1]
    total = np.zeros(dim)
    outer = np.zeros((dim, dim))
    n = 0
    for block in blocks:
        for lo in range(0, len(block), _CHUNK):
            u = _unit(block[lo : lo + _CHUNK])
            total += u.sum(axis=0)
            outer += u.T @ u
            n += len(u)
    mean = total / max(n, 1)
    cov = outer / max(n, 1) - np.outer(mean, mean)
    values, vectors = np.linalg.eigh(cov)  # ascending
    axes = vectors[:, ::-1][:, :2]
    # a sign convention, so that re-training the same data does not mirror the picture
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)
    explained = values[::-1][:2] / max(float(values.sum()), 1e-12)
    stacked_offsets = np.cumsum([0] + [len(b) for b in blocks])
    picked = np.empty((len(rows), dim))
    for k, block in enumerate(blocks):
        lo, hi = stacked_offsets[k], stacked_offsets[k + 1]
        mine = (rows >= lo) & (rows < hi)
        picked[mine] = _unit(block[rows[mine] - lo])
    xy = (picked - mean) @ axes
    if dim < 2:  # a 1-dimensional model: the second axis is flat
        xy = np.column_stack([xy[:, 0], np.zeros(len(rows))])
    return xy.astype(np.float32), [round(float(e), 4) for e in explained]


def project_model(
    model: RecommenderModel, max_points: int = MAX_POINTS, seed: int = 0
) -> Projection:
    """The projection of a model's products (trained ones and those with cold-start vectors)."""
    state = model.catalog.state
    blocks = [model.vectors.input]
    if state.new_vectors_in is not None and len(state.new_vectors_in):
        blocks.append(state.new_vectors_in)
    n_rows = sum(len(b) for b in blocks)
    counts = np.zeros(n_rows, np.int64)
    counts[: len(model.counts)] = model.counts
    rows = sample_rows(counts, max_points, seed)
    xy, explained = pca_2d(blocks, rows)
    if len(rows) < n_rows:
        sampling = (
            f"{len(rows):,} of {n_rows:,} products: the {max_points // 2:,} most viewed and "
            f"{len(rows) - max_points // 2:,} drawn at random from the rest"
        )
    else:
        sampling = f"all {n_rows:,} products"
    info = {
        "method": "pca",
        "vectors": "input vectors, unit length (the cosine space of similar products)",
        "products": n_rows,
        "points": len(rows),
        "sampling": sampling,
        "explained_variance": explained,
        "seed": seed,
    }
    return Projection(rows, xy, info)
