"""The sessionizer and the train command on the public data sets in ../shared/data.

Each check compares with an independent plain-Python computation on the same rows, or runs
the train command on a small file (gensim, 1 epoch, tiny vectors)."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from engine.bundle import Bundle
from pipelines.cli import main
from pipelines.sessionize import SessionizeConfig, sessionize
from tests.fixtures_shop import FAST

pytestmark = pytest.mark.shared_data


def _collapse(seq: list[str]) -> list[str]:
    return [x for k, x in enumerate(seq) if k == 0 or x != seq[k - 1]]


def _as_ids(result) -> list[list[str]]:
    c = result.corpus
    return [[str(c.item_ids[i]) for i in c.session(s)] for s in range(c.n_sessions)]


def test_diginetica_slice_sessions_follow_position(shared_data: Path):
    path = shared_data / "diginetica" / "train_events.parquet"
    con = duckdb.connect()
    rel = con.read_parquet(str(path)).filter("session_id <= 3000")
    result = sessionize(con, rel)
    con.close()

    rows = pq.read_table(path, filters=[("session_id", "<=", 3000)]).to_pylist()
    rows.sort(key=lambda r: (r["session_id"], r["position"]))
    expected = []
    for _, group in groupby(rows, key=lambda r: r["session_id"]):
        seq = _collapse([str(r["item_id"]) for r in group])
        if len(seq) >= 2:
            expected.append(seq)
    assert _as_ids(result) == expected  # sessions in id order (no timestamps), views by position
    assert result.report.columns["position"] == "position"
    assert result.corpus.has_categories
    assert (result.corpus.item_categories >= 0).all()


def test_taobao_sessions_are_cut_from_user_and_time(shared_data: Path):
    path = shared_data / "taobao_sample" / "events.parquet"
    con = duckdb.connect()
    rules = SessionizeConfig(event_types=("pv",), collapse_repeats=False, drop_duplicates=False)
    result = sessionize(con, con.read_parquet(str(path)), config=rules)
    con.close()

    rows = [r for r in pq.read_table(path).to_pylist() if r["event_type"] == "pv"]
    rows.sort(key=lambda r: (r["user_id"], r["ts"], str(r["item_id"])))
    sessions, current, last = [], [], None
    for r in rows:
        if last is not None and (r["user_id"] != last["user_id"] or r["ts"] - last["ts"] > 1800):
            sessions.append(current)
            current = []
        current.append(str(r["item_id"]))
        last = r
    sessions.append(current)
    expected = sorted(s for s in sessions if len(s) >= 2)
    assert sorted(_as_ids(result)) == expected
    dropped = sum(len(s) for s in sessions if len(s) < 2)
    assert result.report.dropped("event_type") == pq.read_table(path).num_rows - len(rows)
    assert result.report.dropped("short_sessions") == dropped
    assert any(f"{len(sessions):,} sessions cut" in n for n in result.report.notes)


def test_rsc15_trains_without_categories_with_a_note(shared_data: Path, tmp_path, capsys):
    out = tmp_path / "artifacts"
    path = shared_data / "rsc15_100k" / "train_full.parquet"
    rc = main(["train", "--source", "parquet", "--path", str(path), "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "global negatives only" in err
    m = Bundle.load(out).manifest
    assert m["counts"]["categories"] == 0
    assert m["counts"]["items_without_category"] == m["counts"]["items"]
    # the same-category share of negatives went global, and the manifest says so
    assert m["hyperparameters"]["category_negatives"] == 0
    assert m["hyperparameters"]["negatives"] == 10
    assert "global negatives only" in m["notes"][0]
    assert m["sessionization"]["report"]["input_events"] == 70_278


def test_rees46_raw_csv_with_its_own_product_columns(shared_data: Path, tmp_path, capsys):
    out = tmp_path / "artifacts"
    csv = shared_data / "rees46" / "events_sample_1000.csv"
    args = ["train", "--source", "csv", "--path", str(csv), "--products", str(csv)]
    rc = main([*args, "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert rc == 0, err
    bundle = Bundle.load(out)
    columns = bundle.manifest["source"]["columns"]
    assert columns["session_id"] == "user_session" and columns["ts"] == "event_time"
    assert columns["item_id"] == "product_id"
    items = bundle.table("items").to_pylist()
    assert all(r["price"] is not None and r["price"] > 0 for r in items)
    assert sum(r["brand"] is not None for r in items) > len(items) / 2
    assert bundle.manifest["metadata"]["duplicate_rows"] > 0  # events as metadata: merged
