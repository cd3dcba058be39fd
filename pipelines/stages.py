"""Where a training run's time and memory go: each stage's wall time and peak memory.

``with stages.stage("co-visitation"): ...`` logs ``stage co-visitation: 41.2 s, peak 2.31 GB``
when the stage ends, and :meth:`Stages.to_dict` is what the bundle manifest keeps
(``stages``), so a slow or large run can be read afterwards. The peak is the process's
resident high-water mark during the stage: Linux resets it on request (``/proc/self/clear_refs``),
so each stage reports its own peak, not the run's; elsewhere it is the run's peak so far.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _reset_peak() -> bool:
    """Reset the resident high-water mark (Linux); False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """The resident high-water mark: since the last reset (Linux) or since start."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    peak_bytes: int

    def line(self) -> str:
        return f"stage {self.name}: {self.seconds:.1f} s, peak {self.peak_bytes / 1e9:.2f} GB"


class Stages:
    """The stages of one run, in order (see the module docstring)."""

    def __init__(self) -> None:
        self.done: list[Stage] = []
        self._run_peak = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        _reset_peak()
        started = time.perf_counter()
        try:
            yield
        finally:
            done = Stage(name, time.perf_counter() - started, peak_rss_bytes())
            self._run_peak = max(self._run_peak, done.peak_bytes)
            self.done.append(done)
            log.info(done.line())

    @property
    def peak_bytes(self) -> int:
        """The run's peak: the largest of its stages'."""
        return self._run_peak

    def to_dict(self) -> dict:
        return {
            "stages": [asdict(s) for s in self.done],
            "seconds": sum(s.seconds for s in self.done),
            "peak_bytes": self.peak_bytes,
        }
