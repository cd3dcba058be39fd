"""Cold start against the same-category-popular baseline, in one run (Airbnb's evaluation):
10% of the products with 20+ views are held out of training, get cold-start vectors from their
metadata, and their true co-viewed products must be recommended (recall@20).

    python benchmarks/cold_start.py [--datasets demo,diginetica] [--epochs 5]

demo: the embedded demo shop (category, brand, price, title); diginetica: categories only.
"""

from __future__ import annotations

import argparse
import os

import duckdb  # noqa: E402
from _common import ROOT, SHARED_DATA

from engine.prod2vec import Prod2VecConfig  # noqa: E402
from pipelines.cold_start_eval import evaluate_cold_start  # noqa: E402
from pipelines.demo_shop import DEFAULT_DIR, demo_shop_exists, write_demo_shop  # noqa: E402
from pipelines.metadata import join_items, read_metadata  # noqa: E402
from pipelines.sessionize import sessionize  # noqa: E402
from pipelines.sources.local import LocalFileSource  # noqa: E402
from pipelines.train import item_metadata  # noqa: E402


def load(events: str, products: str | None):
    con = duckdb.connect()
    sessions = sessionize(con, LocalFileSource(events).relation(con))
    meta = None
    if products:
        meta, _ = read_metadata(con, LocalFileSource(products).relation(con))
    items, corpus, _, _ = join_items(sessions.items, sessions.corpus, meta)
    return corpus, item_metadata(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default="demo,diginetica")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--backend", default="numba")
    args = ap.parse_args()
    trainer = Prod2VecConfig(epochs=args.epochs, backend=args.backend)
    for name in args.datasets.split(","):
        if name == "demo":
            data = ROOT / DEFAULT_DIR
            if not demo_shop_exists(data):
                write_demo_shop(data)
            corpus, meta = load(str(data / "events.parquet"), str(data / "products.parquet"))
        elif name == "diginetica":
            events = SHARED_DATA / "diginetica" / "train_events.parquet"
            if not events.is_file():
                print(f"skipping diginetica: {events} not found")
                continue
            corpus, meta = load(str(events), None)
        else:
            raise SystemExit(f"unknown dataset {name!r}")
        report = evaluate_cold_start(corpus, meta, trainer, progress=False)
        print(f"{name:<12} {report.line()}")


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
