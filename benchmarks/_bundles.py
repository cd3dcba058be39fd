"""Bundles the benchmarks run on, built through the real pipeline when missing (cached)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import ROOT, SHARED_DATA

from engine.bundle import Bundle
from engine.errors import BundleError

BENCH_ARTIFACTS = ROOT / "artifacts" / "bench"


def _train(out: Path, args: list[str]) -> Path:
    cmd = [sys.executable, "-m", "pipelines", "train", "--out", str(out), *args]
    print("building a bundle:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return out


def demo_data() -> Path:
    """The default demo shop (events, products, held-out test pairs), generated once."""
    data = BENCH_ARTIFACTS / "demo-data"
    if not (data / "test_pairs.parquet").exists():
        subprocess.run([sys.executable, "-m", "pipelines", "demo-data", "--out", str(data)],
                       cwd=ROOT, check=True)  # fmt: skip
    return data


def bundle_or_build(path: str | None, kind: str) -> Path | None:
    """An existing bundle at ``path``, or the cached one of ``kind``, built when missing.

    ``kind``: ``diginetica`` (needs ../shared/data), ``demo`` (the default demo shop) or
    ``generated-1m`` (a 1M-product demo shop: ~3M sessions; building takes a while, once).
    """
    if path:
        return Path(path)
    out = BENCH_ARTIFACTS / kind
    try:
        Bundle.load(out, verify=False)
        return out
    except BundleError:
        pass
    if kind == "diginetica":
        events = SHARED_DATA / "diginetica" / "train_events.parquet"
        if not events.is_file():
            print(f"skipping Diginetica: {events} not found")
            return None
        return _train(out, ["--source", "parquet", "--path", str(events), "--keep-repeats"])
    if kind == "demo":
        data = demo_data()
        return _train(
            out, ["--source", "parquet", "--path", str(data / "events.parquet"),
                  "--products", str(data / "products.parquet")],
        )  # fmt: skip
    if kind == "generated-1m":
        data = BENCH_ARTIFACTS / "demo-1m-data"
        if not (data / "events.parquet").exists():
            subprocess.run(
                [sys.executable, "-m", "pipelines", "demo-data", "--out", str(data),
                 "--products", "1000000", "--sessions", "3000000", "--users", "1200000"],
                cwd=ROOT, check=True,
            )  # fmt: skip
        return _train(
            out, ["--source", "parquet", "--path", str(data / "events.parquet"),
                  "--products", str(data / "products.parquet"), "--epochs", "2",
                  "--ranker", "default"],
        )  # fmt: skip
    raise ValueError(kind)
