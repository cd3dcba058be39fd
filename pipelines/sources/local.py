"""Parquet and CSV files (a file, a directory of files, or a glob), read by DuckDB."""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from engine.errors import ConfigError, DataError, SourceError

log = logging.getLogger(__name__)

FileFormat = Literal["parquet", "csv"]

_SUFFIXES: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq", ".parq"),
    "csv": (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt"),
}
_ALL_SUFFIXES = tuple(s for suffixes in _SUFFIXES.values() for s in suffixes)


def _format_of(path: str) -> FileFormat | None:
    name = path.lower()
    for fmt, suffixes in _SUFFIXES.items():
        if name.endswith(suffixes):
            return fmt  # type: ignore[return-value]
    return None


@dataclass(frozen=True)
class LocalFileSource:
    """Events in local Parquet or CSV files.

    Args:
        path: a file, a directory (every Parquet or CSV file below it, recursively; names
            starting with ``.`` or ``_`` are skipped) or a glob pattern
            (``data/events-*.parquet``).
        format: ``parquet`` or ``csv``; ``None`` tells it from the file names (see
            :meth:`resolved_format`).
        option: the command-line option that named ``path``, for error messages.
    """

    path: str
    format: FileFormat | None = None
    option: str = "--path"

    def __post_init__(self) -> None:
        if self.format not in (None, "parquet", "csv"):
            raise ConfigError(f"unknown file format {self.format!r}; use parquet or csv")

    def files(self) -> list[str]:
        """The files this source reads, sorted; raises SourceError when there are none."""
        p = Path(self.path)
        if p.is_file():
            return [str(p)]
        if p.is_dir():
            suffixes = _SUFFIXES[self.format] if self.format else _ALL_SUFFIXES
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if f.is_file()
                and not f.name.startswith((".", "_"))
                and f.name.lower().endswith(suffixes)
            )
            if not found:
                kinds = self.format or "parquet or csv"
                raise SourceError(f"no {kinds} files in directory {p}; check {self.option}")
            return found
        if glob.has_magic(self.path):
            found = sorted(f for f in glob.glob(self.path, recursive=True) if os.path.isfile(f))
            if not found:
                raise SourceError(f"no files match {self.path!r}; check {self.option}")
            return found
        raise SourceError(f"{self.path} does not exist; check {self.option}")

    def resolved_format(self, files: list[str]) -> FileFormat:
        """The format given, or the one every file's name ends with (``.parquet``, ``.csv``,
        ...); :class:`ConfigError` when the names disagree or say nothing."""
        if self.format:
            return self.format
        fmts = {_format_of(f) for f in files}
        if len(fmts) == 1 and None not in fmts:
            return fmts.pop()  # type: ignore[return-value]
        if fmts == {"parquet", "csv"}:
            raise ConfigError(
                f"{self.path} holds both Parquet and CSV files; read one kind with "
                "--source parquet or --source csv"
            )
        unknown = next(f for f in files if _format_of(f) is None)
        raise ConfigError(
            f"cannot tell the file format of {unknown} from its name (Parquet files end in "
            ".parquet, CSV files in .csv or .tsv); use --source parquet or --source csv"
        )

    def relation(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        files = self.files()
        fmt = self.resolved_format(files)
        # A 0-byte file (an export that failed or is still being written) is no table at all:
        # DuckDB would call it a broken Parquet file or a CSV with one column named column0.
        empty = [f for f in files if os.path.getsize(f) == 0]
        if len(empty) == len(files):
            where = files[0] if len(files) == 1 else f"all {len(files)} files of {self.path}"
            raise DataError(
                f"{where} is empty (0 bytes): no events to read; check {self.option} (an "
                "export that failed, or one still being written?)"
            )
        if empty:
            log.warning("skipping %d empty (0-byte) files: %s", len(empty), ", ".join(empty[:3]))
            files = [f for f in files if os.path.getsize(f) > 0]
        try:
            if fmt == "parquet":
                # union_by_name: daily exports gain columns over time; missing ones read as NULL
                return con.read_parquet(files, union_by_name=len(files) > 1)
            return con.read_csv(files, header=True, union_by_name=len(files) > 1)
        except duckdb.Error as exc:
            raise SourceError(f"cannot read {fmt} {self.path}: {_first_line(exc)}") from exc

    def describe(self) -> dict[str, Any]:
        files = self.files()
        digest = hashlib.sha256()
        total = 0
        for f in files:
            st = os.stat(f)
            total += st.st_size
            digest.update(f"{os.path.basename(f)}:{st.st_size}:{int(st.st_mtime)}\n".encode())
        return {
            "kind": self.resolved_format(files),
            "path": str(self.path),
            "files": len(files),
            "bytes": total,
            # Cheap fingerprint (names, sizes, mtimes) to tell two training inputs apart.
            "fingerprint": digest.hexdigest()[:16],
        }


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
