"""HNSW (hnswlib) against exact numpy search: queries/s (one query at a time, one thread) and
recall@k, on the Diginetica bundle's output vectors and on a generated 1M-item catalogue.

    python benchmarks/knn.py [--bundle artifacts/diginetica] [--items 1000000] [--dim 100]

Queries are session vectors: recency-weighted means of the input vectors of 1-10 random items
(generated data: points near the item vectors), as the recommender sends them.
"""

from __future__ import annotations

import argparse

from _common import ROOT, Timer, single_thread

single_thread()

import numpy as np  # noqa: E402

from engine.bundle import Bundle  # noqa: E402
from engine.errors import BundleError  # noqa: E402
from engine.index import ExactIndex, HnswIndex, HnswParams  # noqa: E402
from engine.model import MODEL_FILE  # noqa: E402


def session_queries(vin: np.ndarray, n: int, rng) -> np.ndarray:
    out = np.empty((n, vin.shape[1]), np.float32)
    for i in range(n):
        rows = rng.integers(len(vin), size=int(rng.integers(1, 11)))
        w = 0.5 ** np.arange(len(rows))[::-1]
        out[i] = (w / w.sum()) @ vin[rows]
    return out


def generated(n_items: int, dim: int, rng):
    clusters = max(n_items // 500, 1)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    which = rng.integers(clusters, size=n_items)
    vout = centres[which] + 0.5 * rng.normal(size=(n_items, dim)).astype(np.float32)
    vout *= rng.lognormal(0, 0.3, size=(n_items, 1)).astype(np.float32)  # norms vary
    vin = vout + 0.3 * rng.normal(size=(n_items, dim)).astype(np.float32)
    return vin, vout


def measure(name, index, exact, queries, k):
    # one query at a time: this is what a request does
    with Timer() as t_h:
        got = [index.query(q, k)[0] for q in queries]
    with Timer() as t_e:
        want = [exact.query(q, k)[0] for q in queries]
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(got, want, strict=True)])
    qps_h, qps_e = len(queries) / t_h.seconds, len(queries) / t_e.seconds
    print(
        f"{name:<28} recall@{k} {recall:.4f}   HNSW {qps_h:9.0f} q/s   exact {qps_e:8.1f} q/s"
        f"   ratio {qps_h / qps_e:7.1f}x"
    )
    return recall, qps_h / qps_e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", default=str(ROOT / "artifacts" / "diginetica"))
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--build-threads", type=int, default=0, help="threads to build (0 = all)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("one query per call, one thread; exact = one numpy matrix-vector product + partition")
    try:
        bundle = Bundle.load(args.bundle, verify=False)
        spec = bundle.json(MODEL_FILE)
        vin, vout = bundle.array("vectors_input"), bundle.array("vectors_output")
        index = HnswIndex.load(bundle.file("hnsw_next.bin"), spec["next_index"])
        queries = session_queries(np.asarray(vin), args.queries, rng)
        measure(f"bundle ({len(vout):,} items)", index, ExactIndex(vout, "ip"), queries, args.k)
    except BundleError as exc:
        print(f"skipping the bundle: {exc}")
    vin, vout = generated(args.items, args.dim, rng)
    with Timer() as t:
        index = HnswIndex.build(vout, "ip", HnswParams(), threads=args.build_threads)
    print(f"built HNSW over {args.items:,} generated items (dim {args.dim}) in {t.seconds:.0f} s")
    queries = session_queries(vin, args.queries, rng)
    measure(f"generated ({args.items:,} items)", index, ExactIndex(vout, "ip"), queries, args.k)


if __name__ == "__main__":
    main()
