"""Helpers shared by the benchmark scripts (not part of the product)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def single_thread() -> None:
    """Pin BLAS and numba to one thread (call before importing numpy)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"


def percentiles(samples_s, ps=(50, 99)) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(samples_s) * 1e3
    return {f"p{p}_ms": float(np.percentile(arr, p)) for p in ps}


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
