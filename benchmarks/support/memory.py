"""Resident memory (Linux /proc), native allocations included: of this process, and of another
one with the files of a folder it maps (:class:`ProcessMemory`).

tracemalloc only sees Python's allocator; numba's and gensim's arrays and buffers are native, so
the benchmarks read the kernel's resident-set counters instead.
"""

from __future__ import annotations

import re
import resource
from dataclasses import dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib() -> float:
    """Current resident set size in MiB."""
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else float("nan")


def reset_peak() -> bool:
    """Reset the process' peak RSS (VmHWM) to the current RSS; False where not supported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    """Peak resident set size in MiB since start or since the last :func:`reset_peak`."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


@dataclass(frozen=True)
class ProcessMemory:
    """Another process's resident memory (bytes), and how much of it maps files of one folder
    (a bundle: which of its files are memory-mapped, and how much of each is resident)."""

    rss: int
    anonymous: int
    file_backed: int
    peak: int
    mapped: dict[str, int]  # file of the folder -> resident bytes of its mappings

    @classmethod
    def of(cls, pid: int, folder: Path | None) -> ProcessMemory:
        """Read from /proc (Linux); ``folder`` None: no file is looked for."""
        status = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                status[key] = int(value.split()[0]) * 1024
        mapped: dict[str, int] = {}
        current = None
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            fields = line.split(maxsplit=5)  # the sixth field, a mapping's path, may hold spaces
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                path = Path(fields[5]) if len(fields) > 5 else None
                inside = folder is not None and path is not None and path.parent == folder
                current = path.name if inside else None
            elif current is not None and fields[0] == "Rss:":
                mapped[current] = mapped.get(current, 0) + int(fields[1].split()[0]) * 1024
        return cls(status["VmRSS"], status["RssAnon"], status["RssFile"], status["VmHWM"], mapped)
