"""Per-call latency of the whole recommender (candidates, features, ranking, filters) for a
10-item session, on one core, at 43k items (Diginetica) and 1M items (a generated shop),
next to the naive peer measured on the same sessions in the same run: exact scoring of every
item (session vector . all output vectors, then top-k). CPU/call is the recommender's own
thread CPU time per call (the engine's cost, whatever else the machine runs).

    python benchmarks/recommend_latency.py [--bundle-43k DIR] [--bundle-1m DIR] [--calls 2000]

Bundles default to artifacts/bench/{diginetica,generated-1m}, built through the pipeline when
missing (the 1M one takes a while, once). Target: p99 <= 2 ms at 43k items.
"""

from __future__ import annotations

import argparse
import time

from _common import percentiles, single_thread

single_thread()

import numpy as np  # noqa: E402
from _bundles import bundle_or_build  # noqa: E402

from engine.bundle import Bundle  # noqa: E402
from engine.model import RecommenderModel  # noqa: E402
from engine.recommender import SessionRecommender  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle-43k")
    ap.add_argument("--bundle-1m")
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    print("one thread, 10-item sessions from the training data, k =", args.k)
    small = bundle_or_build(args.bundle_43k, "diginetica")
    if small:
        measure("Diginetica (43k items)", small, args.calls, args.k)
    if not args.skip_1m:
        big = bundle_or_build(args.bundle_1m, "generated-1m")
        measure("generated (1M items)", big, args.calls, args.k)


if __name__ == "__main__":
    main()
