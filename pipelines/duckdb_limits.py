"""The DuckDB connection of the batch job, within a memory limit, spilling to disk beyond it.

Sessionization sorts, groups and windows every event. DuckDB keeps that within
``memory_limit`` and writes the rest to ``temp_dir`` (its out-of-core operators), so events
larger than the training node's memory still sessionize; without a limit DuckDB takes up to
80% of the machine's memory, next to the training that follows. The spill directory is made
for the run and removed after it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError

_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DuckDBLimits:
    """Args:
    memory_limit: DuckDB's memory limit, e.g. ``4GB`` (its buffer manager's; the Arrow
        results handed to Python come on top).
    temp_dir: where it spills beyond that (a fresh directory inside, removed after the run);
        default the system's temporary directory.
    """

    memory_limit: str = "4GB"
    temp_dir: Path | None = None

    def __post_init__(self) -> None:
        if not _SIZE.match(self.memory_limit):
            raise ConfigError(
                f"--duckdb-memory-limit {self.memory_limit!r} is not a size: write it like 4GB "
                "or 512MB"
            )
        if self.temp_dir is not None and not Path(self.temp_dir).is_dir():
            raise ConfigError(f"--duckdb-temp-dir {self.temp_dir} is not a directory")


@contextmanager
def connect(limits: DuckDBLimits | None = None, threads: int = 0) -> Iterator:
    """An in-memory DuckDB connection with ``limits`` and ``threads`` (0: DuckDB's default),
    its spill directory removed when it closes."""
    import duckdb  # here: the CLI's --help does not wait for it

    limits = limits or DuckDBLimits()
    spill = Path(tempfile.mkdtemp(prefix="nowrec-duckdb-", dir=limits.temp_dir))
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{limits.memory_limit.strip()}'")
        con.execute(f"SET temp_directory = '{spill.as_posix()}'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
