"""Publishing guards: a useless or broken model is written as a version but never becomes
`latest` (train and publish), each refusal one clear line with exit status 2; --force and
--no-publish; the thresholds themselves on hand-made manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from engine.bundle import Bundle
from engine.errors import ConfigError
from pipelines.cli import main
from pipelines.publish_guard import HOLDOUT_PROTOCOL_VERSION, PublishGuards
from tests.fixtures_shop import FAST


def _refused(args: list[str], capsys, *messages: str) -> str:
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: not published: "), last
    for m in messages:
        assert m in last, (m, last)
    assert "Traceback" not in err
    return last


def _train(shop: Path, out: Path, version: str, *extra: str) -> list[str]:
    return ["train", "--path", str(shop), "--out", str(out), "--version", version, *FAST, *extra]


@pytest.fixture
def published(tmp_path, tiny_shop, capsys) -> Path:
    """An artifacts root whose latest is a sound model (v1) of the tiny shop."""
    out = tmp_path / "artifacts"
    assert main(_train(tiny_shop, out, "v1")) == 0
    capsys.readouterr()
    return out


def _two_line_csv(tmp_path: Path) -> Path:
    path = tmp_path / "two.csv"
    path.write_text("session_id,item_id,ts\ns1,a,1\ns1,b,2\n")
    return path


def test_a_two_line_csv_does_not_replace_the_served_model(published, tmp_path, capsys):
    args = ["train", "--source", "csv", "--path", str(_two_line_csv(tmp_path))]
    line = _refused(
        [*args, "--out", str(published), "--version", "tiny", *FAST],
        capsys,
        "too few training sessions: 1 (--min-sessions 100)",
        "too few products with views: 2 (--min-items 20)",
        "the catalogue shrinks from",
        f"The bundle is in {published / 'tiny'} for inspection; latest still points at v1",
        "--force",
    )
    assert "publish --out" in line
    assert os.readlink(published / "latest") == "v1"
    assert Bundle.load(published / "tiny").manifest["counts"]["items"] == 2  # kept to inspect

    # publishing it by hand meets the same guards, unless forced
    _refused(["publish", "--out", str(published), "--version", "tiny"], capsys, "too few training")
    assert os.readlink(published / "latest") == "v1"
    assert main(["publish", "--out", str(published), "--version", "tiny", "--force"]) == 0
    assert os.readlink(published / "latest") == "tiny"
    assert "published despite the guards (--force)" in capsys.readouterr().err


def test_force_and_no_publish(tmp_path, capsys):
    out = tmp_path / "artifacts"
    base = ["train", "--source", "csv", "--path", str(_two_line_csv(tmp_path)), "--out", str(out)]
    assert main([*base, "--version", "a", "--no-publish", *FAST]) == 0
    err = capsys.readouterr().err
    assert "the guards would refuse it: too few training sessions" in err
    assert not (out / "latest").exists() and (out / "a").is_dir()
    assert main([*base, "--version", "b", "--force", *FAST]) == 0
    assert os.readlink(out / "latest") == "b"
    # the thresholds are options
    args = [*base, "--version", "c", "--min-sessions", "1", "--min-items", "2", *FAST]
    assert main([*args, "--max-catalogue-shrink", "1"]) == 0
    assert os.readlink(out / "latest") == "c"


def test_a_shrunken_catalogue_is_refused(published, tmp_path, tiny_shop, capsys):
    events = pq.read_table(tiny_shop / "events.parquet")
    products = pq.read_table(tiny_shop / "products.parquet")
    categories = sorted(set(products.column("category_id").to_pylist()))
    keep = products.filter(pc.is_in(products["category_id"], value_set=pa.array(categories[:3])))
    part = events.filter(pc.is_in(events["item_id"], value_set=keep["item_id"]))
    pq.write_table(part, tmp_path / "part.parquet")
    args = ["train", "--source", "parquet", "--path", str(tmp_path / "part.parquet")]
    args += ["--out", str(published), "--min-sessions", "5", *FAST]
    _refused([*args, "--version", "p1"], capsys, "the catalogue shrinks from", "shrink 0.5")
    assert os.readlink(published / "latest") == "v1"
    assert main([*args, "--version", "p2", "--max-catalogue-shrink", "1"]) == 0
    assert os.readlink(published / "latest") == "p2"


def _set_holdout_hr(bundle_dir: Path, hr: float, pairs: int, **protocol) -> None:
    """Rewrite a published bundle's held-out numbers (the manifest is not checksummed)."""
    path = bundle_dir / "manifest.json"
    m = json.loads(path.read_text())
    h = m["metrics"]["holdout"]
    h.update(protocol)
    h["results"]["next_different"]["nowrec"].update({f"hr@{h['k']}": hr, "pairs": pairs})
    path.write_text(json.dumps(m))


def test_a_fall_in_held_out_quality_is_refused(published, tiny_shop, capsys):
    ours = Bundle.load(published).manifest["metrics"]["holdout"]["results"]
    assert ours["next_different"]["nowrec"]["pairs"] > 20
    _set_holdout_hr(published / "v1", 0.99, 5000)  # as if v1 had been nearly perfect
    line = _refused(
        _train(tiny_shop, published, "v2"),
        capsys,
        "held-out HR@20 (next different product) 0.9900 ->",
        "--max-quality-drop 0.2",
    )
    assert "lower" in line
    assert os.readlink(published / "latest") == "v1"

    # like with like only: a different k (or share, or protocol) is not compared
    _set_holdout_hr(published / "v1", 0.99, 5000, k=10)
    assert main(_train(tiny_shop, published, "v3")) == 0
    assert "quality not compared: the held-out evaluations differ" in capsys.readouterr().err
    assert os.readlink(published / "latest") == "v3"


def _manifest(sessions=1000, items=500, hr=None, pairs=2000, k=20, share=0.05) -> dict:
    m = {"version": "x", "counts": {"sessions": sessions, "items": items}}
    if hr is not None:
        m["metrics"] = {
            "holdout": {
                "protocol_version": HOLDOUT_PROTOCOL_VERSION, "k": k, "share": share,
                "results": {"next_different": {"nowrec": {f"hr@{k}": hr, "pairs": pairs}}},
            }
        }  # fmt: skip
    return m


def test_guard_thresholds():
    g = PublishGuards()
    assert g.check(_manifest(), None).ok
    assert "nothing to compare" in g.check(_manifest(), None).notes[0]
    assert not g.check(_manifest(sessions=99), None).ok
    assert not g.check(_manifest(items=19), None).ok
    assert g.check(_manifest(items=250), _manifest(items=500)).ok  # exactly half: allowed
    assert not g.check(_manifest(items=249), _manifest(items=500)).ok
    # a 20% fall is allowed, a larger significant one is not, a larger noisy one is
    assert g.check(_manifest(hr=0.40), _manifest(hr=0.50)).ok
    (reason,) = g.check(_manifest(hr=0.35), _manifest(hr=0.50)).refusals
    assert "0.5000 -> 0.3500" in reason and "30% lower" in reason
    noisy = g.check(_manifest(hr=0.30, pairs=15), _manifest(hr=0.50, pairs=15))
    assert noisy.ok and "within the noise" in noisy.notes[-1]
    # only like with like
    for other in (_manifest(hr=0.9, k=10), _manifest(hr=0.9, share=0.1), _manifest()):
        verdict = g.check(_manifest(hr=0.2), other)
        assert verdict.ok and "quality not compared" in verdict.notes[-1]
    assert PublishGuards(max_quality_drop=1).check(_manifest(hr=0.0), _manifest(hr=0.5)).ok
    with pytest.raises(ConfigError, match="must be in"):
        PublishGuards(max_catalogue_shrink=1.5)


def test_guard_options_are_checked_before_any_work(tmp_path, capsys):
    out = tmp_path / "artifacts"
    base = ["train", "--source", "csv", "--path", str(tmp_path / "none.csv"), "--out", str(out)]
    for bad in (["--max-quality-drop", "2"], ["--max-catalogue-shrink", "-0.1"]):
        with pytest.raises(SystemExit) as exc:
            main([*base, *bad])
        assert exc.value.code == 2
        assert "must be in [0, 1]" in capsys.readouterr().err
    assert not out.exists()
