"""Building a :class:`~engine.model.RecommenderModel` from the training sessions and the
trained vectors, and writing it into a bundle (the layout :meth:`RecommenderModel.load`
reads: ``engine/model.py``'s ``MODEL_FILE`` and ``SPARSE_PARTS``, engine/item_table.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext

import numpy as np

from engine.build.covisitation import build_covisitation
from engine.build.session_index import build_session_index
from engine.bundle import BundleWriter
from engine.catalog import Catalog, ProductMetadata
from engine.categories import NO_CATEGORY
from engine.corpus import SessionCorpus
from engine.errors import BundleError
from engine.index import HnswIndex
from engine.item_table import item_table
from engine.model import MODEL_FILE, SPARSE_PARTS, ModelParams, RecommenderModel
from engine.vectors import ItemVectors


def build_model(
    corpus: SessionCorpus,
    vectors: ItemVectors,
    metadata: Mapping[str, ProductMetadata] | None = None,
    params: ModelParams | None = None,
    threads: int = 0,
    indexes: bool = True,
    stage: Callable[[str], AbstractContextManager] | None = None,
    similar: bool = True,
) -> RecommenderModel:
    """Statistics and indexes from the training sessions and trained vectors.

    ``indexes=False`` skips the HNSW graphs (a model for exact search only);
    ``similar=False`` skips only the graph of "similar products" (cosine of input vectors),
    which recommendations never search: the validation model the batch pipeline learns the
    ranker with needs the other one only. ``stage(name)``: a context
    manager around each part (``co-visitation``, ``session neighbourhood``, ``HNSW``), so
    that a caller can time them (pipelines/stages.py); none by default.
    """
    params = params or ModelParams()
    stage = stage or (lambda name: nullcontext())
    if list(map(str, vectors.item_ids)) != list(map(str, corpus.item_ids)):
        raise BundleError("vectors and corpus must share one vocabulary, in the same order")
    categories = [
        None if c == NO_CATEGORY else str(corpus.category_names[c]) for c in corpus.item_categories
    ]
    catalog = Catalog(list(map(str, corpus.item_ids)), categories, metadata)
    with stage("co-visitation"):
        covisitation = build_covisitation(corpus, params.covisitation)
    with stage("session neighbourhood"):
        session_knn = build_session_index(corpus, params.session_knn)
    next_index = similar_index = None
    if indexes:
        with stage("HNSW"):
            next_index = HnswIndex.build(vectors.output, "ip", params.hnsw, threads)
            if similar:
                similar_index = HnswIndex.build(vectors.input, "cosine", params.hnsw, threads)
    return RecommenderModel(
        catalog=catalog,
        vectors=vectors,
        counts=corpus.item_counts,
        covisitation=covisitation,
        session_knn=session_knn,
        next_index=next_index,
        similar_index=similar_index,
        params=params,
    )


def write_model(model: RecommenderModel, w: BundleWriter) -> None:
    """Write every part of ``model`` into a bundle being written."""
    state = model.catalog.state
    n = model.catalog.n_trained
    meta = [state.metadata_of(r) for r in range(n)]
    categories = [model.catalog.category_of(r) for r in range(n)]
    w.add_table("items", item_table(state.item_ids, categories, model.counts, meta))
    w.add_array("vectors_input", model.vectors.input)
    w.add_array("vectors_output", model.vectors.output)
    kn = model.session_knn
    w.add_array("sessions_indptr", kn.indptr)
    w.add_array("sessions_indices", kn.indices)
    w.add_array("knn_inv_ptr", kn.inv_ptr)
    w.add_array("knn_inv_sessions", kn.inv_sessions)
    w.add_array("knn_inv_positions", kn.inv_positions)
    for name in ("related", "successors"):
        part = getattr(model.covisitation, name)
        for p in SPARSE_PARTS:
            w.add_array(f"{name}_{p}", getattr(part, p))
    _write_new_products(model, w)
    w.add_json(
        MODEL_FILE,
        {
            # what loading checks every array against (engine/bundle_checks.py)
            "shape": {
                "items": n,
                "dim": model.vectors.dim,
                "sessions": kn.n_sessions,
                "cold_items": model.catalog.n_rows - n,
            },
            "params": model.params.to_dict(),
            "next_index": model.next_index.save(w.path_for("hnsw_next.bin")),
            "similar_index": model.similar_index.save(w.path_for("hnsw_similar.bin")),
        },
    )


def _write_new_products(model: RecommenderModel, w: BundleWriter) -> None:
    """Products with metadata and no views, and their cold-start vectors."""
    new = model.catalog.new_products()
    if not new:
        return
    ids = [i for i, _, _ in new]
    meta = [m for _, m, _ in new]
    w.add_table("cold_items", item_table(ids, [m.category for m in meta], [0] * len(ids), meta))
    w.add_array("cold_vectors_input", np.stack([c.input for _, _, c in new]))
    w.add_array("cold_vectors_output", np.stack([c.output for _, _, c in new]))
    lengths = [len(c.neighbours) for _, _, c in new]
    w.add_array("cold_neighbours_indptr", np.concatenate([[0], np.cumsum(lengths)]))
    w.add_array("cold_neighbours_rows", np.concatenate([c.neighbours for _, _, c in new]))
    w.add_array("cold_neighbours_weights", np.concatenate([c.weights for _, _, c in new]))
