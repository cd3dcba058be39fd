import json
import os
import time

import numpy as np
import pyarrow as pa
import pytest

from engine.bundle import (
    SCHEMA_VERSION,
    STALE_TMP_S,
    Bundle,
    BundleWriter,
    list_versions,
    prune_versions,
    remove_stale_temporaries,
    resolve_bundle_dir,
    switch_latest,
)
from engine.errors import BundleError, IncompatibleBundleError


def _write(root, version=None, value=1.0):
    with BundleWriter(root, version=version) as w:
        w.add_array("vectors", np.full((3, 2), value, dtype=np.float32))
        w.add_table("items", pa.table({"item_id": ["a", "b", "c"]}))
        w.update_manifest(source={"kind": "test"}, hyperparameters={"dim": 2})
        return w.commit()


def test_round_trip_and_latest(tmp_path):
    bundle_dir = _write(tmp_path)
    b = Bundle.load(tmp_path)  # through latest
    assert b.path == bundle_dir.resolve()
    assert b.manifest["schema_version"] == SCHEMA_VERSION
    assert b.manifest["source"] == {"kind": "test"}
    vec = b.array("vectors")
    assert vec.shape == (3, 2) and not vec.flags.writeable
    assert b.table("items").column("item_id").to_pylist() == ["a", "b", "c"]
    assert set(b.manifest["files"]) == {"vectors.npy", "items.parquet"}
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_latest_moves_only_on_commit(tmp_path):
    first = _write(tmp_path, version="v1")
    with pytest.raises(RuntimeError), BundleWriter(tmp_path, version="v2") as w:
        w.add_array("vectors", np.zeros(3))
        raise RuntimeError("training blew up")
    assert resolve_bundle_dir(tmp_path) == first.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "v1"]
    second = _write(tmp_path, version="v2", value=2.0)
    assert resolve_bundle_dir(tmp_path) == second.resolve()
    switch_latest(tmp_path, "v1")  # roll back
    assert Bundle.load(tmp_path).array("vectors")[0, 0] == 1.0


def test_corrupt_file_is_refused(tmp_path):
    bundle_dir = _write(tmp_path)
    with open(bundle_dir / "vectors.npy", "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\x00\x00\x80\x7f")
    with pytest.raises(BundleError, match="checksum mismatch for vectors.npy"):
        Bundle.load(bundle_dir)


def test_newer_schema_is_refused(tmp_path):
    bundle_dir = _write(tmp_path)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IncompatibleBundleError, match="newer than this code reads"):
        Bundle.load(bundle_dir)


def test_missing_bundle_says_what_to_do(tmp_path):
    with pytest.raises(BundleError, match="make train"):
        Bundle.load(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="make train"):
        Bundle.load(tmp_path)


def test_object_arrays_are_refused(tmp_path):
    with BundleWriter(tmp_path) as w, pytest.raises(BundleError, match="object dtype"):
        w.add_array("ids", np.array(["a", "b"], dtype=object))
    assert list(tmp_path.iterdir()) == []


def _age(path, seconds: float) -> None:
    """Make ``path`` and everything in it look last changed ``seconds`` ago."""
    when = time.time() - seconds
    for p in [*path.rglob("*"), path] if path.is_dir() and not path.is_symlink() else [path]:
        os.utime(p, (when, when), follow_symlinks=False)


def test_stale_temp_dirs_are_cleaned_but_not_a_running_writers(tmp_path):
    crashed = tmp_path / ".tmp-crashed"
    (crashed / "sub").mkdir(parents=True)
    (crashed / "sub" / "vectors.npy").write_bytes(b"x")
    _age(crashed, STALE_TMP_S + 60)
    with BundleWriter(tmp_path, version="a") as running:
        running.add_array("vectors", np.zeros((3, 2), dtype=np.float32))
        _write(tmp_path, version="b")  # another writer starts meanwhile
        assert not crashed.exists()
        assert running.tmp.is_dir(), "a second writer removed the first one's work"
        running.update_manifest(source={"kind": "test"})
        running.commit()
    assert list_versions(tmp_path) == ["a", "b"]


def test_temporaries_count_as_stale_by_their_newest_change(tmp_path):
    old_dir, busy_dir = tmp_path / ".tmp-old", tmp_path / ".tmp-busy"
    for d in (old_dir, busy_dir):
        d.mkdir()
        (d / "items.parquet").write_bytes(b"x")
        _age(d, 7200)
    (busy_dir / "vectors.npy").write_bytes(b"x")  # its writer is still at it
    link = tmp_path / ".tmp-latest-1a2b3c"
    link.symlink_to("gone")  # a link switch cut short; its target never existed
    _age(link, 7200)
    (tmp_path / "keep-me").mkdir()
    _age(tmp_path / "keep-me", 7200)
    removed = remove_stale_temporaries(tmp_path, older_than_s=3600)
    assert removed == [".tmp-latest-1a2b3c", ".tmp-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-busy", "keep-me"]


def test_list_and_prune_versions_keep_latest(tmp_path):
    for v in ("v1", "v2", "v3", "v4"):
        _write(tmp_path, version=v)
    switch_latest(tmp_path, "v1")  # rolled back to the oldest
    assert list_versions(tmp_path) == ["v1", "v2", "v3", "v4"]
    assert prune_versions(tmp_path, keep=2) == ["v2"]
    assert list_versions(tmp_path) == ["v1", "v3", "v4"]
    assert resolve_bundle_dir(tmp_path).name == "v1"
