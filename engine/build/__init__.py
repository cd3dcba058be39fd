"""Building a model (batch only): co-visitation counting, the session index, HNSW graphs, and
writing the whole into a bundle.

The batch pipeline (pipelines/) imports this package; the service never does. What serving
needs (the model's read-only parts, :meth:`engine.model.RecommenderModel.load`, the request
path) lives beside it in engine/, and imports neither this package nor scipy, the way
gensim's ``KeyedVectors`` never import the trainer that produced them
(tests/unit/test_serving_imports.py checks it).
"""

from __future__ import annotations

from engine.build.model import build_model, write_model

__all__ = ["build_model", "write_model"]
