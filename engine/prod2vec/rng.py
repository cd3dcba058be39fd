"""A tiny counter-based random number generator usable inside numba kernels.

The kernel gives every chunk of sessions its own stream, derived from the seed, the epoch and the
chunk's index, so that results do not depend on which thread runs which chunk (with one thread
training is exactly reproducible). SplitMix64 is small, fast, passes BigCrush, and keeps its
whole state in one ``uint64`` that can live in a register.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)


@njit(inline="always", cache=True)
def next_u64(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """Advance ``state`` and return ``(new_state, 64 random bits)`` (SplitMix64)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(inline="always", cache=True)
def below(bits: np.uint64, n: np.uint64) -> np.uint64:
    """An integer uniform in ``[0, n)`` from the high 32 bits of ``bits`` (multiply-shift, no %)."""
    return ((bits >> _S32) * n) >> _S32


@njit(inline="always", cache=True)
def low32(bits: np.uint64) -> np.uint64:
    """The low 32 bits of ``bits``: an independent uniform ``uint32`` for accept/reject tests."""
    return bits & _LOW32


def stream_seed(seed: int, *keys: int) -> np.uint64:
    """A well-mixed 64-bit stream seed for ``seed`` and ``keys`` (epoch, chunk...)."""
    state = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    for key in (*keys, len(keys)):
        state, bits = _mix_py(state ^ np.uint64(key & 0xFFFFFFFFFFFFFFFF))
        state = bits
    return state


def _mix_py(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    with np.errstate(over="ignore"):
        return next_u64.py_func(state)
