"""A loaded bundle's arrays are memory-mapped, not copied; benchmarks/recommend_latency.py
reports the API process's memory and which files it maps."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from benchmarks.support.memory import ProcessMemory
from engine.bundle import Bundle, resolve_bundle_dir
from engine.model import RecommenderModel
from tests.process_support import ROOT

#: the big arrays of a bundle: vectors, co-visitation rows, the session neighbourhood
BIG_ARRAYS = {
    "vectors_input.npy", "vectors_output.npy", "related_indices.npy", "related_weights.npy",
    "successors_indices.npy", "sessions_indices.npy", "knn_inv_sessions.npy",
    "knn_inv_positions.npy",
}  # fmt: skip


def test_a_loaded_model_maps_its_arrays_and_reads_its_hnsw_graphs(tiny_artifacts, tmp_path):
    bundle_dir = tmp_path / "bundle"  # a copy no other test has mapped in this process
    shutil.copytree(resolve_bundle_dir(tiny_artifacts), bundle_dir)
    model = RecommenderModel.load(Bundle.load(bundle_dir))
    memory = ProcessMemory.of(os.getpid(), bundle_dir)
    assert set(memory.mapped) >= BIG_ARRAYS, sorted(memory.mapped)
    # hnswlib reads a graph into its own memory: there is no way to map one
    assert not {"hnsw_next.bin", "hnsw_similar.bin"} & set(memory.mapped)
    assert memory.anonymous + memory.file_backed <= memory.rss + 4096 <= memory.peak + 4096
    assert model.catalog.n_trained > 0


def test_recommend_latency_reports_the_api_process_memory(tiny_artifacts):
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "recommend_latency.py"), "--skip-43k",
        "--bundle-1m", str(tiny_artifacts), "--calls", "20",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    api = re.search(
        r"API ready in [\d.]+ s \(model load [\d.]+ s\); resident ([\d.]+) GB: anonymous "
        r"([\d.]+), file-backed ([\d.]+)",
        out,
    )
    assert api, out
    mapped = re.search(r"memory-mapped: (\d+) of (\d+) \.npy arrays", out)
    assert mapped and int(mapped[1]) >= len(BIG_ARRAYS), out
    assert "recommender p50" in out  # and the latency, measured after
