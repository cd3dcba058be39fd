"""The CLI: help texts, bad input (exit code, one-line message, nothing written), and a full
bundle round trip through `train` and `evaluate` on a tiny generated shop (gensim, 1 epoch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.bundle import Bundle
from engine.errors import DataError
from pipelines import train as train_module
from pipelines.cli import build_parser, main
from pipelines.metadata import CATALOGUE_SCHEMA, ITEM_SCHEMA
from tests.fixtures_shop import FAST

ROOT = Path(__file__).resolve().parents[2]

# The options the issue asks `train --help` to document.
REQUIRED_TRAIN_OPTIONS = [
    "--source",
    "--path",
    "--session-col",
    "--user-col",
    "--item-col",
    "--category-col",
    "--event-type-col",
    "--ts-col",
    "--position-col",
    "--event-types",
    "--table",
    "--start",
    "--end",
    "--sql",
    "--project",
    "--products",
    "--products-table",
    "--session-gap",
    "--min-dwell",
    "--keep-repeats",
    "--keep-duplicates",
    "--max-session-length",
    "--min-session-length",
    "--min-count",
    "--dim",
    "--window",
    "--epochs",
    "--alpha",
    "--min-alpha",
    "--negatives",
    "--category-negatives",
    "--ns-exponent",
    "--sample",
    "--threads",
    "--seed",
    "--backend",
    "--test-pairs",
    "--k",
    "--out",
]


def _subparser(name: str):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


@pytest.mark.parametrize("command", ["train", "evaluate", "demo-data", "test-pairs", "publish"])
def test_help_documents_every_option(command):
    sub = _subparser(command)
    text = sub.format_help()
    for action in sub._actions:
        for option in action.option_strings:
            assert option in text
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help text"
    if command == "train":
        for option in REQUIRED_TRAIN_OPTIONS:
            assert option in text, option
        assert "(default: demo)" in text and "(default: 1800.0)" in text


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "pipelines", "train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0
    assert "--category-negatives" in out.stdout


# -- bad input ---------------------------------------------------------------------------------


def _events_file(path: Path, **columns) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _fails(args: list[str], capsys, code: int, *messages: str) -> str:
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == code, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for m in messages:
        assert m in last, (m, last)
    assert "Traceback" not in err
    return err


def test_usage_errors_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "artifacts"
    _fails(["train", "--source", "parquet", "--out", str(out)], capsys, 2, "needs --path")
    _fails(
        ["train", "--source", "csv", "--path", "x.csv", "--table", "p.d.t", "--out", str(out)],
        capsys,
        2,
        "--table is for --source bigquery",
    )
    f = _events_file(tmp_path / "e.parquet", session_id=["s", "s"], item_id=[1, 2], ts=[1, 2])
    base = ["train", "--source", "parquet", "--path", str(f), "--out", str(out)]
    _fails([*base, "--alpha", "2"], capsys, 2, "alpha must be in (0, 1]")
    _fails([*base, "--start", "soon"], capsys, 2, "--start 'soon' is not a date")
    _fails([*base, "--source", "bigquery"], capsys, 2, "exactly one of --table and --sql")
    with pytest.raises(SystemExit) as exc:
        main([*base, "--dim", "0"])
    assert exc.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err
    assert not out.exists()


def test_data_errors_exit_1_with_the_fix_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "artifacts"
    base = ["train", "--source", "parquet", "--out", str(out), *FAST, "--path"]
    missing = _events_file(tmp_path / "a.parquet", sid=["s"], product=[1], ts=[1.0])
    _fails([*base, str(missing)], capsys, 1, "no item id column", "columns are sid, product, ts")
    _fails(
        [*base, str(missing), "--item-col", "product", "--session-col", "session"],
        capsys,
        1,
        "session_id column 'session' not found; columns are sid, product, ts",
    )
    _fails([*base, str(tmp_path / "nope.parquet")], capsys, 1, "does not exist; check --path")
    wrong = _events_file(tmp_path / "b.parquet", session_id=["s"], item_id=[1.5], ts=[1.0])
    _fails([*base, str(wrong)], capsys, 1, "item_id column 'item_id' has type DOUBLE")
    empty = _events_file(
        tmp_path / "c.parquet",
        session_id=pa.array([], pa.string()),
        item_id=pa.array([], pa.int64()),
        ts=pa.array([], pa.float64()),
    )
    _fails([*base, str(empty)], capsys, 1, "the source has no events")
    nan = _events_file(
        tmp_path / "d.parquet", session_id=["s", "s"], item_id=[1, 2], ts=[float("nan")] * 2
    )
    err = _fails([*base, str(nan)], capsys, 1, "no session left")
    assert "dropped 2 events with NaN, infinite or unreadable timestamp" in err  # the warning
    assert not out.exists()


def test_a_failure_while_training_leaves_the_artifacts_root_as_it_was(
    tmp_path, capsys, monkeypatch, tiny_shop
):
    out = tmp_path / "artifacts"
    assert main(["train", "--path", str(tiny_shop), "--out", str(out), *FAST]) == 0
    before = sorted(p.name for p in out.iterdir())
    latest = os.readlink(out / "latest")
    capsys.readouterr()

    class Broken:
        stats: dict = {}

        def fit(self, corpus):
            raise DataError("the trainer gave up")

    monkeypatch.setattr(train_module, "make_trainer", lambda config: Broken())
    _fails(["train", "--path", str(tiny_shop), "--out", str(out), *FAST], capsys, 1, "gave up")
    assert sorted(p.name for p in out.iterdir()) == before
    assert os.readlink(out / "latest") == latest
    fresh = tmp_path / "fresh"
    _fails(["train", "--path", str(tiny_shop), "--out", str(fresh), *FAST], capsys, 1, "gave up")
    assert not fresh.exists()


# -- the bundle round trip ---------------------------------------------------------------------


def test_train_writes_a_complete_bundle_and_evaluate_reads_it(tmp_path, capsys, tiny_shop):
    out = tmp_path / "artifacts"
    rc = main(["train", "--path", str(tiny_shop), "--out", str(out), *FAST, "--k", "10"])
    stdout, stderr = capsys.readouterr()
    assert rc == 0, stderr
    bundle_dir = Path(stdout.strip().splitlines()[-1])
    assert bundle_dir.parent == out
    assert (out / "latest").resolve() == bundle_dir.resolve()
    assert "trained" in stderr.strip().splitlines()[-1]  # the one-line summary comes last

    bundle = Bundle.load(out)  # verifies every checksum
    m = bundle.manifest
    for name in (
        "items.parquet",
        "catalogue.parquet",
        "vectors_input.npy",
        "vectors_output.npy",
        "sessions_indptr.npy",
        "sessions_indices.npy",
    ):
        assert bundle.has(name), name
    items = bundle.table("items")
    assert items.schema == ITEM_SCHEMA
    vin, vout = bundle.array("vectors_input"), bundle.array("vectors_output")
    assert vin.shape == vout.shape == (items.num_rows, 8)
    assert np.isfinite(vin).all() and np.abs(vout).sum() > 0
    assert bundle.table("catalogue").schema == CATALOGUE_SCHEMA
    assert bundle.table("catalogue").num_rows == 300
    indptr, indices = bundle.array("sessions_indptr"), bundle.array("sessions_indices")
    assert indptr[-1] == len(indices) and indices.max() < items.num_rows
    # item counts in the table are the views in the stored sessions
    np.testing.assert_array_equal(
        np.bincount(indices, minlength=items.num_rows), items.column("count").to_numpy()
    )
    assert items.column("brand").null_count == 0  # demo products carry metadata

    assert m["source"]["kind"] == "parquet" and m["source"]["columns"]["ts"] == "ts"
    steps = {s["step"]: s for s in m["sessionization"]["report"]["steps"]}
    assert {"duplicates", "repeats", "short_sessions"} <= set(steps)
    assert m["sessionization"]["config"]["session_gap_s"] == 1800.0
    assert m["hyperparameters"]["backend"] == "gensim" and m["hyperparameters"]["dim"] == 8
    assert m["counts"]["items"] == items.num_rows
    assert m["counts"]["sessions"] == len(indptr) - 1
    assert m["metrics"]["training"]["tokens"] > 0
    test = m["metrics"]["test"]["results"]
    for protocol in ("next_view", "next_different"):
        assert test[protocol]["nowrec"]["pairs"] > 0 and 0 <= test[protocol]["nowrec"]["hr@10"] <= 1

    # evaluate reads the same bundle (through the artifacts root) and finds the same numbers
    rc = main(
        ["evaluate", "--bundle", str(out), "--test-pairs", str(tiny_shop / "test_pairs.parquet")]
        + ["--k", "10", "--json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert rc == 0
    for protocol in ("next_view", "next_different"):
        for metric in ("hr@10", "mrr@10", "coverage", "pairs"):
            got, stored = result[protocol]["nowrec"][metric], test[protocol]["nowrec"][metric]
            assert got == pytest.approx(stored), (protocol, metric)


def test_a_second_run_adds_a_version_and_moves_latest(tmp_path, capsys, tiny_shop):
    out = tmp_path / "artifacts"
    args = ["train", "--path", str(tiny_shop), "--out", str(out), *FAST]
    assert main([*args, "--version", "v1"]) == 0
    assert main([*args, "--version", "v2", "--event-types", "view"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["latest", "v1", "v2"]
    assert os.readlink(out / "latest") == "v2"
    steps = Bundle.load(out).manifest["sessionization"]["report"]["steps"]
    assert next(s for s in steps if s["step"] == "event_type")["events_dropped"] > 0


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    _fails(
        ["evaluate", "--bundle", str(tmp_path / "none"), "--test-pairs", "x.parquet"],
        capsys,
        1,
        "no model bundle",
    )


def test_publish_rolls_back_and_prune_keeps_latest(tmp_path, capsys, tiny_shop):
    out = tmp_path / "artifacts"
    args = ["train", "--path", str(tiny_shop), "--out", str(out), *FAST]
    assert main([*args, "--version", "v1"]) == 0
    assert main([*args, "--version", "v2"]) == 0
    assert main([*args, "--version", "v3"]) == 0
    assert os.readlink(out / "latest") == "v3"
    assert main(["publish", "--out", str(out), "--version", "v1"]) == 0
    assert os.readlink(out / "latest") == "v1"
    _fails(["publish", "--out", str(out), "--version", "v9"], capsys, 1, "no model bundle")
    assert os.readlink(out / "latest") == "v1"
    assert main(["prune", "--out", str(out), "--keep", "1"]) == 0
    # the newest is kept, and so is the one latest points at
    assert sorted(p.name for p in out.iterdir()) == ["latest", "v1", "v3"]
