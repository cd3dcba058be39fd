"""The model bundle: the one contract between the batch pipeline and the live service.

A bundle is a directory per model version::

    artifacts/
      20261122T141500Z-3f2a9c/
        manifest.json      schema version, created_at, source, counts, parameters, metrics,
                           and a sha256 for every other file
        items.parquet      item table (id, category, count, metadata)
        *.npy              numeric arrays (vectors, CSR tables), loaded read-only / mmap-able
        *.bin              other files (hnswlib indexes)
      latest -> 20261122T141500Z-3f2a9c     (switched atomically, last)

No pickle anywhere: arrays are plain ``.npy`` (object dtype refused), tables are Parquet,
everything else is JSON. A bundle is written to a hidden temporary directory, verified, renamed
into place, and only then does ``latest`` move; a crash leaves at most a ``.tmp-*`` entry, never
a half-written version. A later writer, or ``python -m pipelines prune``, removes such entries
once they are :data:`STALE_TMP_S` old (:func:`remove_stale_temporaries`), so that a writer at
work beside them is never disturbed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import BundleError, IncompatibleBundleError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
LATEST = "latest"
_TMP_PREFIX = ".tmp-"
STALE_TMP_S = 3600.0
"""Age (since the last change to it or anything in it) after which a ``.tmp-*`` entry belongs
to no running writer. A writer changes its directory every few seconds to minutes (one file
after another, then the rename), so an hour leaves a wide margin."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def new_version() -> str:
    """A sortable, unique version name: UTC time plus a short random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def resolve_bundle_dir(path: str | os.PathLike) -> Path:
    """Accept a bundle directory, or an artifacts root holding ``latest``; return the bundle dir."""
    p = Path(path)
    if (p / MANIFEST).is_file():
        return p
    if (p / LATEST / MANIFEST).is_file():
        return (p / LATEST).resolve()
    if not p.exists():
        raise BundleError(
            f"no model bundle at {p}: the path does not exist; run `make train` first"
        )
    raise BundleError(
        f"no model bundle at {p}: expected {MANIFEST} there or a '{LATEST}' link to a bundle; "
        "run `make train` (or `python -m pipelines train --out DIR`) first"
    )


class BundleWriter:
    """Writes one bundle version into ``root`` and publishes it atomically.

    Use as a context manager; leaving the block with an exception removes the temporary
    directory, so nothing half-written is ever visible::

        with BundleWriter("artifacts") as w:
            w.add_array("vectors_input", vin)
            w.add_table("items", items)
            w.update_manifest(source={...}, hyperparameters={...})
            bundle_dir = w.commit()
    """

    def __init__(self, root: str | os.PathLike, version: str | None = None) -> None:
        self.root = Path(root)
        self.version = version or new_version()
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.root)  # what crashed writers left; never a running one's
        self.tmp = self.root / f"{_TMP_PREFIX}{self.version}"
        self.tmp.mkdir()
        self._manifest: dict[str, Any] = {}
        self._committed: Path | None = None

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._committed is None:
            self.abort()

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def add_array(self, name: str, array: np.ndarray) -> Path:
        array = np.asarray(array)
        if array.dtype == object:
            raise BundleError(f"array {name!r} has object dtype; bundles hold numeric arrays only")
        path = self.tmp / f"{name}.npy"
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        return path

    def add_table(self, name: str, table: pa.Table) -> Path:
        path = self.tmp / f"{name}.parquet"
        pq.write_table(table, path)
        return path

    def add_json(self, name: str, obj: Any) -> Path:
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))
        return path

    def path_for(self, filename: str) -> Path:
        """A path inside the bundle for a file written by someone else (e.g. an hnswlib index)."""
        if "/" in filename or filename in (MANIFEST, ""):
            raise BundleError(f"invalid bundle file name {filename!r}")
        return self.tmp / filename

    def update_manifest(self, **fields: Any) -> None:
        self._manifest.update(fields)

    def commit(self, make_latest: bool = True) -> Path:
        """Write the manifest, verify the bundle, move it into place and switch ``latest``."""
        files = {
            p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size}
            for p in sorted(self.tmp.iterdir())
            if p.is_file() and p.name != MANIFEST
        }
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "version": self.version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **self._manifest,
            "files": files,
        }
        (self.tmp / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=True, default=_json_default)
        )
        Bundle.load(self.tmp)  # verify before anyone can see it
        final = self.root / self.version
        os.rename(self.tmp, final)
        _fsync_dir(self.root)
        if make_latest:
            switch_latest(self.root, self.version)
        self._committed = final
        return final


def switch_latest(root: str | os.PathLike, version: str) -> None:
    """Point ``root/latest`` at ``version`` atomically (rename of a new symlink over the old)."""
    root = Path(root)
    if not (root / version / MANIFEST).is_file():
        raise BundleError(f"cannot point latest at {version!r}: no bundle there")
    tmp_link = root / f"{_TMP_PREFIX}latest-{uuid.uuid4().hex[:6]}"
    os.symlink(version, tmp_link)
    os.replace(tmp_link, root / LATEST)
    _fsync_dir(root)


def list_versions(root: str | os.PathLike) -> list[str]:
    """Bundle versions under an artifacts root, oldest first (names sort by time)."""
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"no artifacts root at {root}")
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        and (p / MANIFEST).is_file()
    )  # fmt: skip


def prune_versions(root: str | os.PathLike, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` versions, never the one ``latest`` points at.
    Returns the removed version names."""
    if keep < 1:
        raise BundleError("keep at least one version")
    root = Path(root)
    current = os.readlink(root / LATEST) if (root / LATEST).is_symlink() else None
    versions = list_versions(root)
    doomed = [v for v in versions[:-keep] if v != current]
    for v in doomed:
        shutil.rmtree(root / v)
    return doomed


def remove_stale_temporaries(
    root: str | os.PathLike, older_than_s: float = STALE_TMP_S, now: float | None = None
) -> list[str]:
    """Remove the ``.tmp-*`` entries of an artifacts root (bundles of crashed writers, link
    switches cut short) that nothing has changed for ``older_than_s`` seconds: the entry itself
    and everything inside it. Returns the names removed."""
    root = Path(root)
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(root.glob(_TMP_PREFIX + "*")):
        try:
            if now - _newest_change(entry) < older_than_s:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # its writer finished (renamed it) meanwhile
            continue
        removed.append(entry.name)
    return removed


def _newest_change(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


@dataclass(frozen=True)
class Bundle:
    """A verified, read-only view of one bundle directory."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> Bundle:
        """Open a bundle (or an artifacts root's ``latest``), checking schema and checksums.

        Raises:
            IncompatibleBundleError: the bundle was written by a newer schema version.
            BundleError: missing or unreadable manifest, missing file, checksum mismatch.
        """
        bundle_dir = resolve_bundle_dir(path)
        try:
            manifest = json.loads((bundle_dir / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"unreadable manifest in {bundle_dir}: {exc}") from exc
        version = manifest.get("schema_version")
        if not isinstance(version, int):
            raise BundleError(f"manifest in {bundle_dir} has no integer schema_version")
        if version > SCHEMA_VERSION:
            raise IncompatibleBundleError(
                f"bundle {bundle_dir} has schema version {version}, newer than this code reads "
                f"({SCHEMA_VERSION}); upgrade nowrec or re-train with this version"
            )
        bundle = cls(path=bundle_dir, manifest=manifest)
        if verify:
            bundle.verify(*manifest.get("files", {}))
        return bundle

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", self.path.name))

    def has(self, filename: str) -> bool:
        return filename in self.manifest.get("files", {})

    def file(self, filename: str) -> Path:
        if not self.has(filename):
            raise BundleError(f"bundle {self.path} has no {filename}")
        return self.path / filename

    def verify(self, *filenames: str) -> None:
        """Check these files' checksums again (e.g. small files read long after loading).

        Raises:
            BundleError: a file is not in the manifest, missing or changed.
        """
        for name in filenames:
            f = self.file(name)
            if not f.is_file():
                raise BundleError(f"bundle {self.path} is missing {name}; re-train it")
            if _sha256(f) != self.manifest["files"][name]["sha256"]:
                raise BundleError(
                    f"checksum mismatch for {name} in {self.path}: the file is corrupt; "
                    "re-train or restore the bundle"
                )

    def array(self, name: str, mmap: bool = True) -> np.ndarray:
        """A ``.npy`` array, memory-mapped read-only by default (never unpickled)."""
        arr = np.load(self.file(f"{name}.npy"), mmap_mode="r" if mmap else None, allow_pickle=False)
        # a plain ndarray view of the map: np.memmap's subclass hooks cost on every indexing
        arr = np.asarray(arr)
        arr.flags.writeable = False
        return arr

    def table(self, name: str) -> pa.Table:
        return pq.read_table(self.file(f"{name}.parquet"))

    def json(self, name: str) -> Any:
        return json.loads(self.file(f"{name}.json").read_text())
