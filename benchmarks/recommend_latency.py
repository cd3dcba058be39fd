"""Per-call latency of the whole recommender (candidates, features, ranking, filters) for a
10-item session, on one core, at 43k items (Diginetica) and 1M items (a generated shop),
next to the naive peer measured on the same sessions in the same run: exact scoring of every
item (session vector . all output vectors, then top-k). CPU/call is the recommender's own
thread CPU time per call (the engine's cost, whatever else the machine runs).

And what the API process holds for each bundle: ``python -m serving`` is started on it, and
once it is ready the benchmark reads the process's resident memory from /proc (anonymous,
file-backed, of which the bundle's mapped files, and the peak), the time from start to ready,
and the model's load time from the service's log (checksums, array checks, HNSW graphs,
warm-up). The yardsticks, in the same run: the bundle's size on disk, and the plain FastAPI
process of benchmarks/support/yardstick.py (what any Python web service holds). It lists which bundle files
are memory-mapped (every ``.npy`` array: numpy's ``mmap_mode``) and which are read into
memory: the two HNSW graphs (hnswlib loads a graph whole; it has no way to map one), and the
item tables (Parquet, read through Arrow). Mapped pages are resident only once touched (the
load's checks touch them all), and are shared page cache the kernel can drop and read again.

    python benchmarks/recommend_latency.py [--bundle-43k DIR] [--bundle-1m DIR] [--calls 2000]
                                           [--skip-43k] [--skip-1m] [--skip-api]

Bundles default to artifacts/bench/{diginetica,generated-1m}, built through the pipeline when
missing (the 1M one takes a while, once); ``benchmarks/pipeline_scale.py`` leaves its bundles in
``data/scale/runs/art-<size>/latest``. Target: p99 <= 2 ms at 43k items.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT, percentiles, single_thread

#: the API process runs with the environment this benchmark was started with, not single_thread's
API_ENV = dict(os.environ)
single_thread()

import numpy as np  # noqa: E402
from _bundles import bundle_or_build  # noqa: E402
from support.memory import ProcessMemory  # noqa: E402

from engine.bundle import Bundle, resolve_bundle_dir  # noqa: E402
from engine.model import RecommenderModel  # noqa: E402
from engine.recommender import SessionRecommender  # noqa: E402
from tests.process_support import (  # noqa: E402
    free_port,
    start_process,
    stop_process,
    wait_until,
)

GB = 1e9
#: the service's line when a model is loaded (serving/model_manager.py)
LOADED = re.compile(r"serving model \S+ from \S+ \((?P<items>\d+) items.*after (?P<s>[\d.]+) s")


def sessions_from(model: RecommenderModel, n: int, length: int, rng) -> list[list[str]]:
    """Real sessions of the training data, extended to ``length`` with their neighbours."""
    kn = model.session_knn
    ids = model.catalog.state.item_ids
    out = []
    while len(out) < n:
        s = int(rng.integers(kn.n_sessions))
        rows = kn.indices[kn.indptr[s] : kn.indptr[s + 1]].tolist()
        while len(rows) < length:
            rows += kn.indices[kn.indptr[s] : kn.indptr[s + 1]].tolist()
            s = (s + 1) % kn.n_sessions
        out.append([ids[r] for r in rows[-length:]])
    return out


def naive(model: RecommenderModel, session: list[str], k: int) -> np.ndarray:
    rows = model.vectors.indices_of(session)
    w = (0.5 ** np.arange(len(rows))[::-1]).astype(np.float32)
    q = (w / w.sum()) @ model.vectors.input[rows]  # float32 throughout, as the BLAS likes it
    scores = model.vectors.output @ q
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


# -- the API process's memory ------------------------------------------------------------------


@dataclass(frozen=True)
class ApiRun:
    ready_s: float  # from the process's start to /readyz answering 200
    load_s: float | None  # the model's load as the service logs it
    memory: ProcessMemory


def run_api(bundle: Path, work: Path) -> ApiRun:
    """Start ``python -m serving`` on ``bundle``, wait until it is ready, read its memory."""
    port = free_port()
    log = work / f"api-{port}.log"
    env = API_ENV | {
        "NOWREC_ARTIFACTS": str(bundle),
        "NOWREC_PORT": str(port),
        "NOWREC_RELOAD_INTERVAL_S": "0",
        "NOWREC_STORE_BACKEND": "memory",
        "NOWREC_EVENTS_MODE": "embedded",
        "NOWREC_RECORD_SINK": "off",
        "NOWREC_PRODUCT_LOG": str(work / f"product-updates-{port}.jsonl"),  # not in the bundle
        "NOWREC_LOG_LEVEL": "info",
    }
    started = time.perf_counter()
    process = start_process(["-m", "serving"], env, log)
    try:
        _wait_ok(port, "/readyz", process, log)
        ready_s = time.perf_counter() - started
        memory = ProcessMemory.of(process.pid, resolve_bundle_dir(bundle).resolve())
    finally:
        stop_process(process)
    match = LOADED.search(log.read_text(errors="replace"))
    return ApiRun(ready_s, float(match["s"]) if match else None, memory)


def yardstick_memory(work: Path) -> ProcessMemory:
    """The plain FastAPI process of benchmarks/support/yardstick.py, once it answers."""
    port = free_port()
    log = work / "yardstick.log"
    process = start_process([str(ROOT / "benchmarks" / "support" / "yardstick.py"), str(port)],
                            API_ENV, log)  # fmt: skip
    try:
        _wait_ok(port, "/items", process, log)
        return ProcessMemory.of(process.pid, None)
    finally:
        stop_process(process)


def _wait_ok(port: int, route: str, process, log: Path) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

        def ok() -> bool:
            try:
                return http.get(route).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ok, f"{route} on port {port}", 600, process=process, log=log, interval_s=0.05)


def api_memory(name: str, bundle: Path, plain: ProcessMemory, work: Path) -> None:
    bundle_dir = resolve_bundle_dir(bundle).resolve()
    run = run_api(bundle, work)
    m = run.memory
    files = json.loads((bundle_dir / "manifest.json").read_text())["files"]
    size = {f: (bundle_dir / f).stat().st_size for f in files}
    on_disk = sum(size.values())
    npy = [f for f in files if f.endswith(".npy")]
    mapped_npy = [f for f in npy if f in m.mapped]
    in_memory = sorted(f for f in files if f not in m.mapped and size[f] >= 1 << 20)
    load = f"model load {run.load_s:.2f} s" if run.load_s is not None else "load time not logged"
    print(
        f"{name:<30} API ready in {run.ready_s:.1f} s ({load}); resident {m.rss / GB:.2f} GB: "
        f"anonymous {m.anonymous / GB:.2f}, file-backed {m.file_backed / GB:.2f} (the bundle's "
        f"maps {sum(m.mapped.values()) / GB:.2f}); peak {m.peak / GB:.2f} GB | bundle "
        f"{on_disk / GB:.2f} GB on disk: resident {m.rss / on_disk:.2f}x it; plain FastAPI "
        f"process {plain.rss / GB:.2f} GB: {m.rss / plain.rss:.1f}x it"
    )
    read = ", ".join(f"{f} ({size[f] / 1e6:.0f} MB)" for f in in_memory) or "no file of 1 MB"
    print(
        f"{'':<30} memory-mapped: {len(mapped_npy)} of {len(npy)} .npy arrays "
        f"({sum(size[f] for f in mapped_npy) / GB:.2f} GB on disk); read into memory: {read} "
        "(hnswlib loads a graph whole: it cannot map one)"
    )
    unmapped = [f for f in npy if f not in m.mapped and size[f] >= 1 << 20]
    if unmapped:
        print(f"{'':<30} note: arrays of 1 MB or more that are not mapped: {', '.join(unmapped)}")


# -- latency -------------------------------------------------------------------------------------


def measure(name: str, bundle_dir, calls: int, k: int) -> None:
    model = RecommenderModel.load(Bundle.load(bundle_dir, verify=False))
    rec = SessionRecommender(model)
    rng = np.random.default_rng(0)
    sessions = sessions_from(model, calls, 10, rng)
    for s in sessions[:50]:  # warm up: JIT, caches, scratch buffers
        rec.recommend(s, k=k)
        naive(model, s, k)
    ours, peer, cpu = [], [], []
    for s in sessions:
        c = time.thread_time()
        t = time.perf_counter()
        rec.recommend(s, k=k)
        ours.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        t = time.perf_counter()
        naive(model, s, k)
        peer.append(time.perf_counter() - t)
    o, p = percentiles(ours), percentiles(peer)
    print(
        f"{name:<30} recommender p50 {o['p50_ms']:.3f} ms  p99 {o['p99_ms']:.3f} ms  "
        f"CPU/call {1e3 * sum(cpu) / len(cpu):.3f} ms | "
        f"naive exact p50 {p['p50_ms']:.3f} ms  p99 {p['p99_ms']:.3f} ms | "
        f"p99 ratio naive/ours {p['p99_ms'] / o['p99_ms']:.2f}x"
    )


def items_of(bundle: Path) -> int:
    manifest = json.loads((resolve_bundle_dir(bundle) / "manifest.json").read_text())
    return int(manifest["counts"]["items"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle-43k", help="a Diginetica bundle (default artifacts/bench/diginetica)")
    ap.add_argument("--bundle-1m", help="a large bundle (default artifacts/bench/generated-1m)")
    ap.add_argument("--skip-43k", action="store_true", help="leave the Diginetica bundle out")
    ap.add_argument("--skip-1m", action="store_true", help="leave the large bundle out")
    ap.add_argument("--skip-api", action="store_true", help="no API process, latency only")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    bundles = []
    if not args.skip_43k and (small := bundle_or_build(args.bundle_43k, "diginetica")):
        bundles.append(("Diginetica (43k items)", Path(small)))
    if not args.skip_1m:
        big = Path(bundle_or_build(args.bundle_1m, "generated-1m"))
        bundles.append((f"generated ({items_of(big):,} items)", big))
    if not args.skip_api and bundles:
        print("the API process (python -m serving) on each bundle, once it is ready:")
        with tempfile.TemporaryDirectory(prefix="nowrec-api-") as tmp:
            work = Path(tmp)
            plain = yardstick_memory(work)
            for name, bundle in bundles:
                api_memory(name, bundle, plain, work)
    print("one thread, 10-item sessions from the training data, k =", args.k)
    for name, bundle in bundles:
        measure(name, bundle, args.calls, args.k)


if __name__ == "__main__":
    main()
