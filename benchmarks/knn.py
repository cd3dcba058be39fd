"""HNSW (hnswlib) against exact numpy search: queries/s (one query at a time, one thread) and
recall@k, on the output vectors of the Diginetica bundle and of a generated 1M-product bundle.

    python benchmarks/knn.py [--bundle-43k DIR] [--bundle-1m DIR] [--skip-1m]

Bundles default to artifacts/bench/{diginetica,generated-1m}, built through the pipeline when
missing (the 1M one: a 1M-product demo shop, trained once; it takes a while). Queries are
session vectors, as the recommender sends them: recency-weighted means of the input vectors of
1-10 random items. The index is searched with the ef stored in the bundle.
"""

from __future__ import annotations

import argparse

from _common import Timer, single_thread

single_thread()

import numpy as np  # noqa: E402
from _bundles import bundle_or_build  # noqa: E402

from engine.bundle import Bundle  # noqa: E402
from engine.index import ExactIndex, HnswIndex  # noqa: E402
from engine.model import MODEL_FILE  # noqa: E402


def session_queries(vin: np.ndarray, n: int, rng) -> np.ndarray:
    out = np.empty((n, vin.shape[1]), np.float32)
    for i in range(n):
        rows = rng.integers(len(vin), size=int(rng.integers(1, 11)))
        w = 0.5 ** np.arange(len(rows))[::-1]
        out[i] = (w / w.sum()) @ vin[rows]
    return out


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


def measure_bundle(name: str, bundle_dir, n_queries: int, k: int, rng) -> None:
    bundle = Bundle.load(bundle_dir, verify=False)
    spec = bundle.json(MODEL_FILE)
    vin, vout = bundle.array("vectors_input"), bundle.array("vectors_output")
    index = HnswIndex.load(bundle.file("hnsw_next.bin"), spec["next_index"], *vout.shape)
    queries = session_queries(np.asarray(vin), n_queries, rng)
    measure(f"{name} ({len(vout):,} items, ef {index.params.ef})", index,
            ExactIndex(vout, "ip"), queries, k)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle-43k")
    ap.add_argument("--bundle-1m")
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("one query per call, one thread; exact = one numpy matrix-vector product + partition")
    small = bundle_or_build(args.bundle_43k, "diginetica")
    if small:
        measure_bundle("Diginetica", small, args.queries, args.k, rng)
    if not args.skip_1m:
        big = bundle_or_build(args.bundle_1m, "generated-1m")
        measure_bundle("generated", big, args.queries, args.k, rng)


if __name__ == "__main__":
    main()
