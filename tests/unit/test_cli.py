"""The CLI: help texts, bad input (exit code, one-line message, nothing written), and a full
bundle round trip through `train` and `evaluate` on a tiny generated shop (gensim, 1 epoch)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.bundle import Bundle
from engine.errors import DataError
from engine.item_table import ITEM_SCHEMA
from engine.model import RecommenderModel
from engine.ranking import RankerParams
from pipelines import train as train_module
from pipelines.cli import build_parser, main, open_sources, source_kind, train_job_from_args
from pipelines.demo_shop import demo_shop_exists
from tests.fixtures_shop import FAST, TINY_DATA

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
        assert "without any of them the demo shop in data/demo" in text
        assert "(default: 1800.0)" in text


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
    nope = [*base[:3], "--path", str(tmp_path / "nope.parquet"), "--out", str(out)]
    _fails(nope, capsys, 2, "does not exist; check --path")
    _fails([*base, "--freshness-boost", "31"], capsys, 2, "--freshness-boost", "0 (off) to 30")
    _fails([*base, "--fresh-candidates", "-1"], capsys, 2, "fresh_candidates must be")
    with pytest.raises(SystemExit) as exc:
        main([*base, "--dim", "0"])
    assert exc.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--k", "1000"], "k must be between 1 and 100, got 1000"),
        (["--validation-share", "1.5"], "--validation-share must be in (0, 1), got 1.5"),
        (["--seed", "-1"], "seed must be in 0..4294967295, got -1"),
        (["--session-gap", "0"], "session gap must be > 0 s"),
        (["--negatives", "0", "--category-negatives", "0"], "need at least one negative"),
    ],
)
def test_option_ranges_are_checked_before_any_work(tmp_path, capsys, monkeypatch, option, message):
    monkeypatch.chdir(tmp_path)  # the demo shop would be generated here, in data/demo
    _fails(["train", *option], capsys, 2, message)
    assert list(tmp_path.iterdir()) == []


def test_the_command_not_fitting_the_data_is_a_configuration_error(tmp_path, capsys):
    """Exit 2 (the CronJob does not retry it): a column the source lacks or of the wrong type,
    an --event-types value no event has, timestamps in another unit than --ts-unit."""
    out = tmp_path / "artifacts"
    base = ["train", "--source", "parquet", "--out", str(out), *FAST, *TINY_DATA, "--path"]
    missing = _events_file(tmp_path / "a.parquet", sid=["s"], product=[1], ts=[1.0])
    _fails([*base, str(missing)], capsys, 2, "no item id column", "columns are sid, product, ts")
    _fails(
        [*base, str(missing), "--item-col", "product", "--session-col", "session"],
        capsys,
        2,
        "session_id column 'session' not found; columns are sid, product, ts",
    )
    wrong = _events_file(tmp_path / "b.parquet", session_id=["s"], item_id=[1.5], ts=[1.0])
    _fails([*base, str(wrong)], capsys, 2, "item_id column 'item_id' has type DOUBLE")
    t0 = 1_700_000_000
    typed = _events_file(
        tmp_path / "t.parquet",
        session_id=["s", "s", "u", "u"],
        item_id=[1, 2, 1, 2],
        ts=[t0 * 1000 + k for k in range(4)],
        event_type=["view", "view", "cart", "view"],
    )
    _fails(
        [*base, str(typed), "--ts-unit", "ms", "--event-types", "views,pageview"],
        capsys,
        2,
        "--event-types views,pageview matches no event; the events' types are view (3), cart (1)",
    )
    _fails(
        [*base, str(typed)],
        capsys,
        2,
        "the timestamps look like milliseconds: their median, 170000000000",
        "read as seconds is the year 55841; use --ts-unit ms",
    )
    assert not out.exists()
    # one type of several missing is only a warning, naming the types there are
    assert main([*base, str(typed), "--ts-unit", "ms", "--event-types", "view,purchase"]) == 0
    assert "no event has the type 'purchase'; the events' types are view (3), cart (1)" in (
        capsys.readouterr().err
    )


def test_data_errors_exit_1_with_the_fix_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "artifacts"
    base = ["train", "--source", "parquet", "--out", str(out), *FAST, "--path"]
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
    for name in ("zero.parquet", "zero.csv"):
        (tmp_path / name).write_bytes(b"")
        _fails([*base[:-1], "--path", str(tmp_path / name)], capsys, 1, "is empty (0 bytes)")
    assert not out.exists()


def test_empty_files_beside_others_are_skipped_with_a_warning(tmp_path, capsys):
    own = _own_events(tmp_path / "own")
    (own / "late-export.csv").write_bytes(b"")
    out = tmp_path / "artifacts"
    assert (
        main(
            [
                "train",
                "--path",
                str(own),
                "--out",
                str(out),
                *FAST,
                *TINY_DATA,
                "--ranker",
                "default",
            ]
        )
        == 0
    )
    assert "skipping 1 empty (0-byte) files" in capsys.readouterr().err
    assert Bundle.load(out).manifest["counts"]["items"] == 6


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


# -- where the events are: told from --path, never written into it ---------------------------


def _listing(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _own_events(folder: Path) -> Path:
    """A user's own CSV of 4 sessions over 6 products, in a folder of its own."""
    folder.mkdir()
    rows = ["session_id,item_id,ts"]
    for s in range(4):
        rows += [f"s{s},p{(s + k) % 6},{1_700_000_000 + 100 * s + k}" for k in range(3)]
    (folder / "events.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("where", ["folder", "file", "glob"])
def test_train_without_source_reads_the_path_and_writes_nothing_into_it(tmp_path, capsys, where):
    own = _own_events(tmp_path / "own")
    before = _listing(own)
    path = {"folder": own, "file": own / "events.csv", "glob": own / "*.csv"}[where]
    out = tmp_path / "artifacts"
    rc = main(
        ["train", "--path", str(path), "--out", str(out), *FAST, *TINY_DATA, "--ranker", "default"]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "Traceback" not in err
    assert _listing(own) == before, "train wrote into its input folder"
    m = Bundle.load(out).manifest
    assert m["source"]["kind"] == "csv" and m["source"]["files"] == 1
    assert m["counts"]["items"] == 6  # the user's products, not the demo shop's


def test_a_path_whose_format_cannot_be_told_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "artifacts"
    own = tmp_path / "own"
    own.mkdir()
    (own / "events.json").write_text("{}")
    before = _listing(own)
    for path, message in [
        (own / "events.json", "cannot tell the file format of"),
        (own, "no parquet or csv files in directory"),
        (tmp_path / "missing", "does not exist; check --path"),
    ]:
        _fails(["train", "--path", str(path), "--out", str(out)], capsys, 2, message)
    (own / "more.parquet").write_bytes(b"")
    (own / "more.csv").write_text("")
    _fails(["train", "--path", str(own), "--out", str(out)], capsys, 2, "both Parquet and CSV")
    assert _listing(own) == before | {"more.parquet": b"", "more.csv": b""}
    assert not out.exists()


def test_parsing_bigquery_options_checks_them_and_opens_no_client(tmp_path, capsys):
    # no credentials here: parsing must not need them (open_sources connects)
    args = build_parser().parse_args(
        ["train", "--table", "shop.events", "--products-table", "my-project.shop.products"]
    )
    job = train_job_from_args(args)
    assert job.source.client is None and job.products.client is None
    assert job.source.table == "shop.events"
    bad = ["train", "--table", "shop events", "--out", str(tmp_path / "never")]
    _fails(bad, capsys, 2, "invalid BigQuery table 'shop events'")
    assert not (tmp_path / "never").exists()


def test_sessionize_in_warehouse_is_for_bigquery_and_checked_before_any_work(tmp_path, capsys):
    out = tmp_path / "artifacts"
    f = _events_file(tmp_path / "e.parquet", session_id=["s", "s"], item_id=[1, 2], ts=[1, 2])
    base = ["train", "--path", str(f), "--out", str(out)]
    _fails([*base, "--sessionize-in", "warehouse"], capsys, 2,
           "--sessionize-in warehouse cuts the sessions inside BigQuery: it needs --source "
           "bigquery (--table or --sql); parquet events are read and cut on this machine")  # fmt: skip
    _fails(["test-pairs", "--path", str(f), "--out", str(tmp_path / "p.parquet"),
            "--sessionize-in", "warehouse"], capsys, 2, "it needs --source bigquery")  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main([*base, "--sessionize-in", "bigquery"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--sessionize-in: invalid choice: 'bigquery'" in err and "'warehouse'" in err
    assert not out.exists()
    for extra, where in (([], "local"), (["--sessionize-in", "warehouse"], "warehouse")):
        args = build_parser().parse_args(["train", "--table", "shop.events", *extra])
        assert train_job_from_args(args).source.sessionize_in == where


def test_table_or_sql_without_source_means_bigquery():
    for extra in (["--table", "p.d.t"], ["--sql", "events.sql"]):
        assert source_kind(build_parser().parse_args(["train", *extra])) == "bigquery"


def test_the_demo_shop_is_generated_only_in_the_projects_data_folder(
    tmp_path, capsys, monkeypatch, tiny_shop
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "artifacts"
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(
        ["train", "--source", "demo", "--path", str(empty), "--out", str(out)],
        capsys,
        2,
        "holds no demo shop",
        f"demo-data --out {empty}",
    )
    assert list(empty.iterdir()) == []
    # a folder demo-data wrote is a demo shop without --source; as plain Parquet it would mix
    # products and test pairs into the events, so that is refused
    args = build_parser().parse_args(["train", "--path", str(tiny_shop)])
    assert train_job_from_args(args).test_pairs == tiny_shop / "test_pairs.parquet"
    _fails(
        ["train", "--source", "parquet", "--path", str(tiny_shop), "--out", str(out)],
        capsys,
        2,
        "is a demo shop folder",
    )
    # no --path at all: data/demo under the current directory, generated there when the job
    # is opened (parsing the options writes nothing)
    args = build_parser().parse_args(["train"])
    job = train_job_from_args(args)
    assert job.source.path == str(Path("data") / "demo" / "events.parquet")
    assert not (tmp_path / "data").exists()
    open_sources(job, args)
    assert demo_shop_exists(tmp_path / "data" / "demo")
    assert not out.exists()


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
    # every product of the catalogue is in the bundle: with views in items, the others (cold
    # start) in cold_items; no copy of the catalogue that nothing reads
    assert m["counts"]["catalogue_products"] == 300 and not bundle.has("catalogue.parquet")
    cold = bundle.table("cold_items") if bundle.has("cold_items.parquet") else None
    cold_ids = set(cold.column("item_id").to_pylist()) if cold is not None else set()
    assert not cold_ids & set(items.column("item_id").to_pylist())
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


def test_progress_is_log_lines_when_stderr_is_no_terminal(tmp_path, tiny_shop):
    out = tmp_path / "artifacts"
    args = ["train", "--path", str(tiny_shop), "--out", str(out), *FAST, *TINY_DATA, "--k", "10"]
    args += ["--validation-share", "0.3"]  # enough pairs to learn the ranker
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        capture_output=True,  # a pipe, as in a CronJob's or CI's log; bytes keep any "\r"
        timeout=600,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "\r" not in stderr, "a progress bar was drawn into a log"
    lines = stderr.splitlines()
    assert any(
        re.fullmatch(r"ranker features: ([\d,]+)/\1 pair \(100%\).* in [\d.]+ s", x) for x in lines
    )
    assert any(
        re.fullmatch(r"nowrec, next view: ([\d,]+)/\1 pair \(100%\).* in [\d.]+ s", x)
        for x in lines
    )


def test_a_second_run_adds_a_version_and_moves_latest(tmp_path, capsys, tiny_shop):
    out = tmp_path / "artifacts"
    args = ["train", "--path", str(tiny_shop), "--out", str(out), *FAST]
    assert main([*args, "--version", "v1"]) == 0
    assert (
        main([*args, "--version", "v2", "--event-types", "view", "--freshness-boost", "1.5"]) == 0
    )
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["latest", "v1", "v2"]
    assert os.readlink(out / "latest") == "v2"
    # the boost chosen at training time is in the bundle's ranking parameters
    boosts = [
        RecommenderModel.load(Bundle.load(out / v)).params.ranking.freshness_boost
        for v in ("v1", "v2")
    ]
    assert boosts == [RankerParams().freshness_boost, 1.5]
    steps = Bundle.load(out).manifest["sessionization"]["report"]["steps"]
    assert next(s for s in steps if s["step"] == "event_type")["events_dropped"] > 0


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    args = ["evaluate", "--bundle", str(tmp_path / "none"), "--test-pairs", "x.parquet"]
    _fails(args, capsys, 1, "no model bundle")
    _fails([*args, "--k", "1000"], capsys, 2, "k must be between 1 and 100, got 1000")


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
    crashed, running = out / ".tmp-v0", out / ".tmp-v4"
    for d in (crashed, running):
        d.mkdir()
        (d / "items.parquet").write_bytes(b"")
    hours_ago = time.time() - 2 * 3600
    for p in (crashed / "items.parquet", crashed):
        os.utime(p, (hours_ago, hours_ago))
    capsys.readouterr()
    assert main(["prune", "--out", str(out), "--keep", "1"]) == 0
    assert capsys.readouterr().out.split() == ["v2", ".tmp-v0"]
    # the newest is kept, and so is the one latest points at, and a run writing a bundle now
    assert sorted(p.name for p in out.iterdir()) == [".tmp-v4", "latest", "v1", "v3"]
    assert main(["prune", "--out", str(out), "--keep", "1", "--stale-after", "1"]) == 0
    assert (out / ".tmp-v4").exists()


def test_duckdb_memory_limit_and_spill_directory(tmp_path):
    """The sessionizing DuckDB runs within the limit given, spills into a directory of its own
    under --duckdb-temp-dir and removes it after the run; a size that is not one is refused
    before anything is read."""
    import duckdb

    from pipelines.duckdb_limits import DuckDBLimits, connect

    with connect(DuckDBLimits("300MB", tmp_path)) as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        assert limit.replace(" ", "") in ("286.1MiB", "300.0MB", "300MB")
        assert spill.parent == tmp_path and spill.is_dir()
        # a sort bigger than the limit completes by spilling
        con.execute("SET threads = 1")
        (n,) = con.execute(
            "SELECT count(*) FROM (SELECT i, md5(i::VARCHAR) || repeat('x', 100) AS s "
            "FROM range(3000000) t(i) ORDER BY s)"
        ).fetchone()
        assert n == 3_000_000
    assert not spill.exists() and list(tmp_path.iterdir()) == []
    assert isinstance(con, duckdb.DuckDBPyConnection)


def test_duckdb_options_are_checked_first(tmp_path, capsys):
    f = _events_file(tmp_path / "e.parquet", session_id=["s", "s"], item_id=[1, 2], ts=[1, 2])
    base = ["train", "--path", str(f), "--out", str(tmp_path / "a")]
    _fails([*base, "--duckdb-memory-limit", "lots"], capsys, 2, "is not a size", "4GB")
    _fails([*base, "--duckdb-temp-dir", str(tmp_path / "no")], capsys, 2, "is not a directory")
