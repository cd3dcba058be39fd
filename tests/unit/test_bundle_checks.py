"""A bundle whose checksums match but whose arrays disagree is refused, never served.

Each case breaks one part of a real bundle, re-computes its checksum (so only the new checks
can catch it) and expects loading to refuse it with a message naming the part. Without the
checks an out-of-range co-visitation index made the warm-up query write out of bounds and the
process died (SIGSEGV); the subprocess test shows the service refuses such a bundle and keeps
serving the old one.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from engine.build import write_model

from engine.bundle import Bundle, BundleWriter, switch_latest
from engine.catalog import ProductMetadata
from engine.errors import BundleError
from engine.index import HnswIndex
from engine.model import RecommenderModel
from engine.recommender import SessionRecommender
from tests.api_support import write_bundle

ROOT = Path(__file__).resolve().parents[2]


def _rehash(bundle_dir: Path, filename: str) -> None:
    """Make the manifest agree with a file that was changed (what a faulty writer does)."""
    manifest_path = bundle_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = (bundle_dir / filename).read_bytes()
    manifest["files"][filename] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest_path.write_text(json.dumps(manifest))


def _edit_array(bundle_dir: Path, name: str, edit: Callable[[np.ndarray], np.ndarray]) -> None:
    arr = np.load(bundle_dir / f"{name}.npy")
    np.save(bundle_dir / f"{name}.npy", edit(arr.copy()), allow_pickle=False)
    _rehash(bundle_dir, f"{name}.npy")


def _edit_json(bundle_dir: Path, name: str, edit: Callable[[dict], None]) -> None:
    spec = json.loads((bundle_dir / f"{name}.json").read_text())
    edit(spec)
    (bundle_dir / f"{name}.json").write_text(json.dumps(spec))
    _rehash(bundle_dir, f"{name}.json")


def _edit_table(bundle_dir: Path, name: str, edit: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(
        edit(pq.read_table(bundle_dir / f"{name}.parquet")), bundle_dir / f"{name}.parquet"
    )
    _rehash(bundle_dir, f"{name}.parquet")


def _set(arr: np.ndarray, where: int, value) -> np.ndarray:
    arr[where] = value
    return arr


def _swap_hnsw_for_a_smaller_one(bundle_dir: Path) -> None:
    vout = np.load(bundle_dir / "vectors_output.npy")
    HnswIndex.build(vout[:-3], "ip", threads=1).save(bundle_dir / "hnsw_next.bin")
    _rehash(bundle_dir, "hnsw_next.bin")


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory) -> Path:
    """A real bundle with every optional part: cold-start products included."""
    root = tmp_path_factory.mktemp("good")
    model = RecommenderModel.load(Bundle.load(write_bundle(root, "plain")))
    model.add_cold_products(
        [(f"new-{k}", ProductMetadata(category="sofas", brand="brand1", price=50.0 + k))
         for k in range(3)]
    )  # fmt: skip
    with BundleWriter(root, version="good") as w:
        write_model(model, w)
        w.update_manifest(counts={"items": model.catalog.n_trained, "dim": model.vectors.dim})
        return w.commit()


N_ITEMS = 80  # the synthetic shop of tests/api_support.py

BREAKS: dict[str, tuple[str, Callable[[Path], None]]] = {
    # the crash that was seen: a co-visitation index past the end of the catalogue
    "related index out of range": (
        "related_indices",
        lambda d: _edit_array(d, "related_indices", lambda a: _set(a, 0, N_ITEMS + 1000)),
    ),
    "negative successor index": (
        "successors_indices",
        lambda d: _edit_array(d, "successors_indices", lambda a: _set(a, -1, -7)),
    ),
    "related pointers decrease": (
        "related_indptr",
        lambda d: _edit_array(d, "related_indptr", lambda a: _set(a, 5, a[7] + 1)),
    ),
    "related pointers end early": (
        "related_indptr",
        lambda d: _edit_array(d, "related_indptr", lambda a: _set(a, -1, a[-1] - 1)),
    ),
    "related weights not finite": (
        "related_weights",
        lambda d: _edit_array(d, "related_weights", lambda a: _set(a, 3, np.nan)),
    ),
    "related indices of another dtype": (
        "related_indices",
        lambda d: _edit_array(d, "related_indices", lambda a: a.astype(np.int64)),
    ),
    "session item out of range": (
        "sessions_indices",
        lambda d: _edit_array(d, "sessions_indices", lambda a: _set(a, 10, N_ITEMS)),
    ),
    "session pointers of the wrong length": (
        "sessions_indptr",
        lambda d: _edit_array(d, "sessions_indptr", lambda a: a[:-1]),
    ),
    "inverted index names a session that does not exist": (
        "knn_inv_sessions",
        lambda d: _edit_array(d, "knn_inv_sessions", lambda a: _set(a, 0, 10**6)),
    ),
    "inverted index pointers decrease": (
        "knn_inv_ptr",
        lambda d: _edit_array(d, "knn_inv_ptr", lambda a: _set(a, 1, a[-1])),
    ),
    "inverted index position out of range": (
        "knn_inv_positions",
        lambda d: _edit_array(d, "knn_inv_positions", lambda a: _set(a, 2, 10**6)),
    ),
    "vectors missing a row": (
        "vectors_input",
        lambda d: _edit_array(d, "vectors_input", lambda a: a[:-1]),
    ),
    "vectors in float64": (
        "vectors_output",
        lambda d: _edit_array(d, "vectors_output", lambda a: a.astype(np.float64)),
    ),
    "vectors with NaN": (
        "vectors_output",
        lambda d: _edit_array(d, "vectors_output", lambda a: _set(a, (4, 2), np.nan)),
    ),
    "cold-start neighbour out of range": (
        "cold_neighbours_rows",
        lambda d: _edit_array(d, "cold_neighbours_rows", lambda a: _set(a, 0, N_ITEMS + 5)),
    ),
    "cold-start pointers end beyond the rows": (
        "cold_neighbours_indptr",
        lambda d: _edit_array(d, "cold_neighbours_indptr", lambda a: _set(a, -1, a[-1] + 4)),
    ),
    "cold-start vectors of another dimension": (
        "cold_vectors_input",
        lambda d: _edit_array(d, "cold_vectors_input", lambda a: a[:, :-1]),
    ),
    "repeated item id": (
        "items.parquet",
        lambda d: _edit_table(
            d, "items", lambda t: t.set_column(0, "item_id", pa.array(["x"] * t.num_rows))
        ),
    ),
    "item table one row short": (
        "items.parquet",
        lambda d: _edit_table(d, "items", lambda t: t.slice(0, t.num_rows - 1)),
    ),
    "declared shape disagrees": (
        "items.parquet",
        lambda d: _edit_json(d, "model", lambda s: s["shape"].update(items=N_ITEMS + 1)),
    ),
    "manifest counts disagree": (
        "manifest.json",
        lambda d: _edit_manifest_counts(d),
    ),
    "HNSW metadata of another dimension": (
        "model.json",
        lambda d: _edit_json(d, "model", lambda s: s["next_index"].update(dim=3)),
    ),
    "HNSW graph over fewer items": ("hnsw_next.bin", _swap_hnsw_for_a_smaller_one),
    # read into the compiled request path (the boost's candidates and scores)
    "freshness boost out of range": (
        "model.json",
        lambda d: _edit_json(
            d, "model", lambda s: s["params"]["ranking"].update(freshness_boost=1e9)
        ),
    ),
    "fresh candidates not an integer": (
        "model.json",
        lambda d: _edit_json(
            d, "model", lambda s: s["params"]["ranking"].update(fresh_candidates="all")
        ),
    ),
}


def _edit_manifest_counts(bundle_dir: Path) -> None:
    path = bundle_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["counts"]["items"] = N_ITEMS + 2
    path.write_text(json.dumps(manifest))


def _broken_copy(good: Path, tmp_path: Path, case: str) -> Path:
    copy = tmp_path / "broken"
    copy.mkdir()
    for f in good.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    BREAKS[case][1](copy)
    return copy


def test_the_good_bundle_loads_and_serves(good_bundle):
    model = RecommenderModel.load(Bundle.load(good_bundle))
    assert model.catalog.n_trained == N_ITEMS and model.catalog.n_rows == N_ITEMS + 3
    rec = SessionRecommender(model).recommend(["c0_i1", "new-0"], current_item="c0_i2", k=5)
    assert len(rec) == 5


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_an_inconsistent_bundle_is_refused(good_bundle, tmp_path, case):
    broken = _broken_copy(good_bundle, tmp_path, case)
    bundle = Bundle.load(broken)  # the checksums match: only the array checks can refuse it
    with pytest.raises(BundleError, match="is inconsistent") as info:
        RecommenderModel.load(bundle)
    part = BREAKS[case][0]
    assert part.split(".")[0] in str(info.value), str(info.value)
    assert "re-train" in str(info.value)


def test_the_service_refuses_it_and_keeps_serving(good_bundle, tmp_path):
    """In a separate process: without the checks this one died with SIGSEGV."""
    root = tmp_path / "artifacts"
    root.mkdir()
    write_bundle(root, "v1")
    broken = _broken_copy(good_bundle, tmp_path, "related index out of range")
    broken.rename(root / "v2")
    switch_latest(root, "v2")
    script = textwrap.dedent(
        f"""
        from prometheus_client import CollectorRegistry
        from engine.bundle import switch_latest
        from serving.api_metrics import ApiMetrics
        from serving.model_manager import ModelManager

        manager = ModelManager({str(root)!r}, ApiMetrics(CollectorRegistry()))
        switch_latest({str(root)!r}, "v1")
        manager.load_initial()
        switch_latest({str(root)!r}, "v2")
        result = manager.reload()
        rec = manager.current.recommender.recommend(["c0_i1"], current_item="c0_i2", k=5)
        print(result.status, manager.current.version, len(rec))
        print(result.error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status, error = done.stdout.splitlines()[:2]
    assert status == "refused v1 5"
    assert "related_indices holds values from" in error


def test_a_bundle_written_before_the_shape_was_recorded_still_loads(good_bundle, tmp_path):
    copy = tmp_path / "older"
    copy.mkdir()
    for f in good_bundle.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    _edit_json(copy, "model", lambda s: s.pop("shape"))
    model = RecommenderModel.load(Bundle.load(copy))
    assert model.catalog.n_rows == N_ITEMS + 3
    _edit_array(copy, "related_indices", lambda a: _set(a, 0, N_ITEMS))
    with pytest.raises(BundleError, match="related_indices holds values"):
        RecommenderModel.load(Bundle.load(copy))
