"""Checks of a bundle's arrays before any compiled kernel sees them.

Checksums prove that the files are the ones the writer wrote, not that the writer was right.
A faulty pipeline, a hand-edited bundle or one written by another tool can hold an index past
the end of an array, and the compiled request path does not check bounds (numba): one bad
index writes outside a buffer and kills the process, again at every start of every pod that
watches ``latest``. So :class:`BundleArrays` reads each array with its dtype, shape, index
range and monotone pointers checked against the counts the model declares, and refuses the
bundle with a :class:`~engine.errors.BundleError` that names the array; a service keeps serving
the model it has.

Cost: one vectorised pass over each array, in chunks (bounded temporary memory), far less than
the checksums that loading computes anyway.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from engine.bundle import Bundle
from engine.errors import BundleError

#: Elements per chunk of a check (a few MB of temporaries, whatever the array's size).
_CHUNK = 1 << 21


def _chunks(flat: np.ndarray, overlap: int = 0) -> Iterator[np.ndarray]:
    for lo in range(0, max(len(flat) - overlap, 1), _CHUNK):
        yield flat[lo : lo + _CHUNK + overlap]


class BundleArrays:
    """Reads a bundle's arrays, each checked before it is handed out.

    Every method raises :class:`BundleError` naming the array and what is wrong with it.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    def fail(self, what: str, problem: str) -> None:
        raise BundleError(
            f"bundle {self.bundle.path} is inconsistent: {what} {problem}. Its checksums match, "
            "so it was written this way (a faulty pipeline or an edited file); re-train it, or "
            "point latest back at a good version with `python -m pipelines publish`"
        )

    def get(self, name: str, dtype: type, shape: tuple[int | None, ...]) -> np.ndarray:
        """Array ``name`` of exactly ``dtype`` and ``shape`` (``None``: any length there)."""
        arr = self.bundle.array(name)
        if arr.dtype != np.dtype(dtype):
            self.fail(name, f"has dtype {arr.dtype}, expected {np.dtype(dtype)}")
        if arr.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
        ):
            expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            self.fail(name, f"has shape {arr.shape}, expected {expected}")
        return arr

    def pointers(self, name: str, n_rows: int, total: int) -> np.ndarray:
        """CSR row pointers of ``n_rows`` rows over ``total`` entries: int64, starting at 0,
        ending at ``total``, never decreasing."""
        ptr = self.get(name, np.int64, (n_rows + 1,))
        if ptr[0] != 0 or ptr[-1] != total:
            self.fail(name, f"runs from {ptr[0]} to {ptr[-1]}, expected 0 to {total}")
        if any((np.diff(c) < 0).any() for c in _chunks(ptr, overlap=1)):
            self.fail(name, "decreases somewhere (row pointers must never decrease)")
        return ptr

    def indices(self, name: str, dtype: type, length: int, upper: int) -> np.ndarray:
        """``length`` indices of ``dtype``, each in ``0..upper-1``."""
        arr = self.get(name, dtype, (length,))
        for c in _chunks(arr):
            if len(c) and (c.min() < 0 or c.max() >= upper):
                lo, hi = int(c.min()), int(c.max())
                self.fail(name, f"holds values from {lo} to {hi}, outside 0..{upper - 1}")
        return arr

    def finite(self, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
        """A float32 array of ``shape`` with no NaN or infinite value."""
        arr = self.get(name, np.float32, shape)
        if not all(np.isfinite(c).all() for c in _chunks(arr.reshape(-1))):
            self.fail(name, "holds NaN or infinite values")
        return arr

    def csr(
        self, names: tuple[str, str, str | None], n_rows: int, upper: int, index_dtype: type
    ) -> tuple[np.ndarray, ...]:
        """A CSR matrix stored as (pointers, indices[, float32 values]) arrays named ``names``:
        ``n_rows`` rows, indices in ``0..upper-1``."""
        ptr_name, idx_name, val_name = names
        total = len(self.bundle.array(idx_name))
        ptr = self.pointers(ptr_name, n_rows, total)
        idx = self.indices(idx_name, index_dtype, total, upper)
        if val_name is None:
            return ptr, idx
        return ptr, idx, self.finite(val_name, (total,))
