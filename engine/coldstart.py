"""Cold start: a vector for a product that has metadata but no views yet.

Airbnb's method (Grbovic & Cheng, KDD 2018): find the warm products most similar by metadata
(same category, then same brand, close price, shared title words) and average their
vectors, weighted by similarity and by how well their vectors are estimated (view counts).
The new vector lives in the same space as trained ones, so the product can be recommended
by the same indexes and signals right away.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from engine.catalog import ColdVectors, ProductMetadata
from engine.categories import first_per_group, index_categories
from engine.errors import ConfigError

_WORD = re.compile(r"[a-z0-9]+")


def title_tokens(title: str | None) -> frozenset[str]:
    return frozenset(_WORD.findall(title.lower())) if title else frozenset()


@dataclass(frozen=True)
class ColdStartParams:
    """Args:
    neighbours: warm products averaged into a cold vector.
    pool: most popular warm products of the category considered as neighbours.
    brand_weight, price_weight, title_weight: metadata similarity = brand_weight * same brand
        + price_weight * exp(-|log price ratio| / price_scale) + title_weight * Jaccard(title words)
        + a small popularity prior (well-estimated vectors first).
    """

    neighbours: int = 10
    pool: int = 500
    brand_weight: float = 1.0
    price_weight: float = 1.0
    price_scale: float = 0.5
    title_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.neighbours < 1 or self.pool < self.neighbours:
            raise ConfigError("cold start needs neighbours >= 1 and pool >= neighbours")

    def to_dict(self) -> dict:
        return asdict(self)


class ColdStart:
    """Metadata -> vectors, from the warm (trained) products.

    Args:
        categories: category index per trained row (NO_CATEGORY when unknown).
        category_index: category id -> index.
        brands, prices, titles: metadata per trained row (None when unknown).
        popularity: per trained row, in [0, 1].
        vectors_in, vectors_out: trained input and output vectors.
    """

    def __init__(
        self,
        categories: np.ndarray,
        category_index: dict[str, int],
        brands: list[str | None],
        prices: np.ndarray,
        titles: list[str | None],
        popularity: np.ndarray,
        vectors_in: np.ndarray,
        vectors_out: np.ndarray,
        params: ColdStartParams | None = None,
    ) -> None:
        self.params = p = params or ColdStartParams()
        self.category_index = category_index
        self.popularity = popularity
        self.vectors_in, self.vectors_out = vectors_in, vectors_out
        brand_codes, _, self.brand_index = index_categories([b or None for b in brands])
        self.brand_codes = brand_codes
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_prices = np.where(prices > 0, np.log(prices), np.nan)
        self.titles = titles
        order = np.argsort(-popularity, kind="stable")
        self.pool_all = order[: p.pool]
        self.pool_by_category = first_per_group(order, categories, p.pool)
        self.pool_by_brand = first_per_group(order, self.brand_codes, p.pool)

    def neighbours(self, meta: ProductMetadata) -> tuple[np.ndarray, np.ndarray]:
        """Warm rows most similar to ``meta`` and their similarity weights (> 0)."""
        p = self.params
        cat = self.category_index.get(meta.category) if meta.category else None
        brand = self.brand_index.get(meta.brand) if meta.brand else None
        if cat is not None and cat in self.pool_by_category:
            pool = self.pool_by_category[cat]
        elif brand is not None:
            pool = self.pool_by_brand[brand]
        else:
            pool = self.pool_all
        sim = 0.05 * self.popularity[pool].astype(np.float64)
        if brand is not None:
            sim += p.brand_weight * (self.brand_codes[pool] == brand)
        if meta.price is not None and meta.price > 0:
            diff = np.abs(self.log_prices[pool] - np.log(meta.price))
            sim += p.price_weight * np.nan_to_num(np.exp(-diff / p.price_scale), nan=0.0)
        words = title_tokens(meta.title)
        if words:
            jac = [_jaccard(words, title_tokens(self.titles[r])) for r in pool]
            sim += p.title_weight * np.asarray(jac)
        top = np.argsort(-sim, kind="stable")[: p.neighbours]
        return pool[top], sim[top] + 1e-6

    def vectors_for(self, meta: ProductMetadata) -> ColdVectors:
        """Vectors for a product with metadata ``meta`` and no views, and their sources."""
        rows, weights = self.neighbours(meta)
        w = (weights / weights.sum()).astype(np.float32)
        return ColdVectors(w @ self.vectors_in[rows], w @ self.vectors_out[rows], rows, w)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
