"""RecommenderModel: everything the recommender needs, built in batch, loaded by serving.

The batch pipeline builds one with :func:`engine.build.build_model` (statistics and indexes
from the training sessions and the trained vectors) and writes it into a bundle with
:func:`engine.build.write_model`; the service calls :meth:`RecommenderModel.load`. Neither the
builder nor the trainer (nor scipy) is imported here: this module is what serving needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from engine.bundle import Bundle
from engine.bundle_checks import BundleArrays
from engine.catalog import (
    Catalog,
    CatalogState,
    ColdVectors,
    ProductMetadata,
    require_description,
)
from engine.coldstart import ColdStart, ColdStartParams
from engine.covisitation import CoVisitation, CoVisitationParams, SparseRows
from engine.errors import BundleError, ConfigError, IncompatibleBundleError
from engine.index import ExactIndex, HnswIndex, HnswParams
from engine.item_table import checked_items
from engine.kernel_arrays import model_arrays
from engine.popularity import popularity_scores, recent_counts, top_by_category
from engine.ranking import RankerParams
from engine.session import SessionWeights, WeighedSession
from engine.session_knn import SessionKnn, SessionKnnParams
from engine.vectors import ItemVectors

MODEL_FILE = "model"  # model.json: parameters and index metadata
SPARSE_PARTS = ("indptr", "indices", "weights")


@dataclass(frozen=True)
class ModelParams:
    """All tunable parameters of the served model (stored in the bundle)."""

    covisitation: CoVisitationParams = field(default_factory=CoVisitationParams)
    session_knn: SessionKnnParams = field(default_factory=SessionKnnParams)
    hnsw: HnswParams = field(default_factory=HnswParams)
    ranking: RankerParams = field(default_factory=RankerParams)
    session: SessionWeights = field(default_factory=SessionWeights)
    cold_start: ColdStartParams = field(default_factory=ColdStartParams)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelParams:
        kinds = {
            "covisitation": CoVisitationParams,
            "session_knn": SessionKnnParams,
            "hnsw": HnswParams,
            "ranking": RankerParams,
            "session": SessionWeights,
            "cold_start": ColdStartParams,
        }
        parts = {}
        for k, kind in kinds.items():
            if k not in d:
                continue
            try:
                parts[k] = kind(**d[k])
            except TypeError as exc:
                raise IncompatibleBundleError(
                    f"the bundle's {k} parameters do not fit this engine ({exc}): it was "
                    "written by another nowrec version; upgrade, or re-train with this one"
                ) from None
        return cls(**parts)

    def replace(self, **parts: Any) -> ModelParams:
        return ModelParams(**{**{k: getattr(self, k) for k in self.__dataclass_fields__}, **parts})


def _declared_shape(arrays: BundleArrays, spec: dict, n_table: int) -> dict[str, int]:
    """The counts every array is checked against: model.json's ``shape`` (derived from the
    arrays for bundles written before it was recorded), which must agree with the item table
    and with the manifest's counts."""
    bundle = arrays.bundle
    shape = spec.get("shape")
    if shape is None:
        vin = bundle.array("vectors_input")
        shape = {
            "items": n_table,
            "dim": int(vin.shape[-1]) if vin.ndim == 2 else -1,
            "sessions": len(bundle.array("sessions_indptr")) - 1,
            "cold_items": bundle.table("cold_items").num_rows
            if bundle.has("cold_items.parquet")
            else 0,
        }
    keys = ("items", "dim", "sessions", "cold_items")
    if not isinstance(shape, dict) or any(
        type(shape.get(k)) is not int or shape[k] < 0 for k in keys
    ):
        arrays.fail(MODEL_FILE + ".json", f"has no valid shape {keys} (got {shape!r})")
    if shape["items"] != n_table:
        arrays.fail("items.parquet", f"has {n_table} rows, expected {shape['items']} items")
    counts = dict(bundle.manifest.get("counts") or {})
    if "indexed_sessions" in counts:
        # the session neighbourhood keeps the newest max_sessions of the training sessions
        counts["sessions"] = counts.pop("indexed_sessions")
    for key in ("items", "sessions", "dim"):
        if key in counts and counts[key] != shape[key]:
            arrays.fail("manifest.json", f"counts {counts[key]} {key}, the model {shape[key]}")
    return {k: shape[k] for k in keys}


def _cold_products(
    arrays: BundleArrays, shape: dict[str, int]
) -> list[tuple[str, ProductMetadata, ColdVectors]]:
    """Products with metadata and no views saved with the bundle, with their vectors."""
    m, n, dim = shape["cold_items"], shape["items"], shape["dim"]
    if m == 0:
        return []
    t = checked_items(arrays, "cold_items")
    if len(t["item_id"]) != m:
        arrays.fail("cold_items.parquet", f"has {len(t['item_id'])} rows, expected {m}")
    vin = arrays.finite("cold_vectors_input", (m, dim))
    vout = arrays.finite("cold_vectors_output", (m, dim))
    ptr, rows, weights = arrays.csr(
        ("cold_neighbours_indptr", "cold_neighbours_rows", "cold_neighbours_weights"), m, n,
        np.int64,
    )  # fmt: skip
    return [
        (item_id, meta, ColdVectors(vin[k], vout[k], rows[ptr[k]:ptr[k + 1]],
                                    weights[ptr[k]:ptr[k + 1]]))
        for k, (item_id, meta) in enumerate(
            zip(t["item_id"], ProductMetadata.from_columns(t), strict=True)
        )
    ]  # fmt: skip


class RecommenderModel:
    """Vectors, catalogue, statistics and indexes of one model version (read-only parts)."""

    def __init__(
        self,
        catalog: Catalog,
        vectors: ItemVectors,
        counts: np.ndarray,
        covisitation: CoVisitation,
        session_knn: SessionKnn,
        next_index: HnswIndex | None,
        similar_index: HnswIndex | None,
        params: ModelParams,
        version: str = "dev",
    ) -> None:
        self.catalog = catalog
        self.vectors = vectors
        self.counts = np.asarray(counts, dtype=np.int64)
        self.covisitation = covisitation
        self.session_knn = session_knn
        self.next_index = next_index
        self.similar_index = similar_index
        self.params = params
        self.version = version
        self.popularity = popularity_scores(self.counts)
        self.log_popularity = np.log1p(self.counts).astype(np.float32)
        recent = recent_counts(session_knn.indptr, session_knn.indices, catalog.n_trained,
                               params.ranking.recent_share)  # fmt: skip
        self.log_recent_popularity = np.log1p(recent).astype(np.float32)
        state = catalog.state
        self.popular, self.popular_by_category = top_by_category(
            self.popularity, state.categories[: catalog.n_trained]
        )
        self.popular_rows = self.popular.astype(np.int64)
        self.kernel = model_arrays(self)  #: what the request kernel reads, grouped once
        self.no_vectors = np.empty((0, vectors.dim), np.float32)
        n = catalog.n_trained
        meta = [state.metadata_of(r) or ProductMetadata() for r in range(n)]
        self.cold_start = ColdStart(
            categories=state.categories[:n],
            category_index=state.category_index,
            brands=[m.brand for m in meta],
            prices=np.array([m.price if m.price is not None else np.nan for m in meta]),
            titles=[m.title for m in meta],
            popularity=self.popularity,
            vectors_in=vectors.input,
            vectors_out=vectors.output,
            params=params.cold_start,
        )

    # ------------------------------------------------------------------ IO
    def add_cold_products(self, products: list[tuple[str, ProductMetadata]]) -> int:
        """Give products with no views cold-start vectors (batch); returns how many were new."""
        state = self.catalog.state
        todo = [(str(i), m) for i, m in products if state.row_of(str(i)) is None]
        return self.catalog.add_new_many([(i, m, self.cold_start.vectors_for(m)) for i, m in todo])

    @classmethod
    def load(cls, bundle: Bundle, new_items_capacity: int = 100_000) -> RecommenderModel:
        """Load a verified bundle; vectors and tables are memory-mapped read-only.

        Every array is checked (dtype, shape, index ranges, row pointers) against the model's
        declared shape before anything uses it (engine/bundle_checks.py).

        Raises:
            BundleError: a part is missing or inconsistent with the others.
            IncompatibleBundleError: the parameters were written by another engine version.
        """
        try:
            spec = bundle.json(MODEL_FILE)
        except BundleError as exc:
            raise BundleError(
                f"{exc}: this bundle has no recommender model (written by an older pipeline?); "
                "re-train it with `make train`"
            ) from None
        arrays = BundleArrays(bundle)
        shape = _declared_shape(arrays, spec, bundle.table("items").num_rows)
        n, dim, n_sessions = shape["items"], shape["dim"], shape["sessions"]
        try:
            params = ModelParams.from_dict(spec["params"])
            indexes = [
                HnswIndex.load(bundle.file(f"hnsw_{name}.bin"), spec[f"{name}_index"], n, dim)
                for name in ("next", "similar")
            ]
        except IncompatibleBundleError:
            raise
        except (BundleError, ConfigError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            arrays.fail(MODEL_FILE + ".json", f"does not describe a servable model ({exc})")
        items = checked_items(arrays, "items")
        ids = items["item_id"]
        metadata = dict(zip(ids, ProductMetadata.from_columns(items), strict=True))
        catalog = Catalog(
            ids, items["category_id"], metadata, capacity=new_items_capacity + shape["cold_items"]
        )
        vectors = ItemVectors(
            np.array(ids, dtype=object),
            arrays.finite("vectors_input", (n, dim)),
            arrays.finite("vectors_output", (n, dim)),
        )
        sessions_ptr, sessions = arrays.csr(
            ("sessions_indptr", "sessions_indices", None), n_sessions, n, np.int32
        )
        inv_ptr, inv_sessions = arrays.csr(
            ("knn_inv_ptr", "knn_inv_sessions", None), n, n_sessions, np.int32
        )
        longest = int(np.diff(sessions_ptr).max()) if n_sessions else 0
        inv_positions = arrays.indices(
            "knn_inv_positions", np.int32, len(inv_sessions), max(longest, 1)
        )
        model = cls(
            catalog=catalog,
            vectors=vectors,
            counts=np.asarray(items["count"], dtype=np.int64),
            covisitation=CoVisitation(
                *(
                    SparseRows(
                        *arrays.csr(tuple(f"{name}_{p}" for p in SPARSE_PARTS), n, n, np.int32)
                    )
                    for name in ("related", "successors")
                ),
                params.covisitation,
            ),  # fmt: skip
            session_knn=SessionKnn(
                sessions_ptr, sessions, inv_ptr, inv_sessions, inv_positions, params.session_knn
            ),
            next_index=indexes[0],
            similar_index=indexes[1],
            params=params,
            version=bundle.version,
        )
        model.catalog.add_new_many(_cold_products(arrays, shape))
        return model

    # ------------------------------------------------------------------ lookups
    @cached_property
    def next_exact(self) -> ExactIndex:
        """Exact inner-product search over output vectors (ground truth; built on first use)."""
        return ExactIndex(self.vectors.output, "ip")

    @cached_property
    def similar_exact(self) -> ExactIndex:
        return ExactIndex(self.vectors.input, "cosine")

    @property
    def next_index_ef(self) -> int:
        return self.params.hnsw.ef

    @property
    def similar_index_ef(self) -> int:
        return self.params.hnsw.ef

    def _gather(self, trained: np.ndarray, new: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        n = self.catalog.n_trained
        rows = np.asarray(rows, dtype=np.int64)
        if new is None or len(rows) == 0 or rows.max() < n:
            return trained[rows]
        out = np.empty((len(rows), trained.shape[1]), np.float32)
        old = rows < n
        out[old] = trained[rows[old]]
        out[~old] = new[rows[~old] - n]
        return out

    def input_vectors(self, rows: np.ndarray, state: CatalogState) -> np.ndarray:
        return self._gather(self.vectors.input, state.new_vectors_in, rows)

    def output_vectors(self, rows: np.ndarray, state: CatalogState) -> np.ndarray:
        return self._gather(self.vectors.output, state.new_vectors_out, rows)

    def input_vector(self, row: int, state: CatalogState) -> np.ndarray:
        return self.input_vectors(np.array([row]), state)[0]

    def session_vector(self, ws: WeighedSession, state: CatalogState) -> np.ndarray:
        """Recency-weighted mean of the session's input vectors."""
        w = ws.recency / max(float(ws.recency.sum()), 1e-12)
        return w @ self.input_vectors(ws.rows, state)

    def _per_trained(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``values[rows]``, 0 for products added after training."""
        rows = np.asarray(rows, dtype=np.int64)
        n = self.catalog.n_trained
        if len(rows) == 0 or rows.max() < n:
            return values[rows]
        out = np.zeros(len(rows), np.float32)
        old = rows < n
        out[old] = values[rows[old]]
        return out

    def popularity_of(self, rows: np.ndarray) -> np.ndarray:
        return self._per_trained(self.popularity, rows)

    def add_product(self, item_id: str, meta: ProductMetadata) -> tuple[int, bool]:
        """Add or update a product; a new one gets a cold-start vector at once.

        Raises:
            DataError: a new product without any metadata (nothing to place it by).
            ConfigError: a new product and the catalogue is full until the next training.
        """
        if self.catalog.state.row_of(str(item_id)) is None:
            require_description(str(item_id), meta)
            return self.catalog.upsert(item_id, meta, self.cold_start.vectors_for(meta))
        return self.catalog.upsert(item_id, meta)

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "items": self.catalog.n_trained,
            "dim": self.vectors.dim,
            "sessions": self.session_knn.n_sessions,
            **self.catalog.describe(),
        }


__all__ = ["ModelParams", "RecommenderModel"]
