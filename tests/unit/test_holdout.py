"""Held-out evaluation: the newest sessions, every view kept, are answered by a model that
learned nothing from them (statistics, vectors and ranker), against two baselines under two
protocols; `test-pairs` writes the same pairs from any events file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.bundle import Bundle
from engine.corpus import SessionCorpus
from engine.errors import ConfigError
from engine.prod2vec import Prod2VecConfig
from pipelines.cli import main
from pipelines.holdout import newest_count, pairs_table
from pipelines.ranker import CandidateFeatures, validation_split
from pipelines.sessionize import SessionizeConfig, sessionize
from pipelines.sources.local import LocalFileSource
from pipelines.train import TrainJob, train
from tests.fixtures_shop import FAST, TINY_DATA
from tests.synthetic import category_sessions

N_BASE, N_NEW = 1500, 100


def test_pairs_table_is_every_next_view_and_caps_uniformly():
    table = pairs_table([["a", "b", "b", "c"], ["x"], ["d", "e"]])
    assert table.column("prefix").to_pylist() == [["a"], ["a", "b"], ["a", "b", "b"], ["d"]]
    assert table.column("target").to_pylist() == ["b", "b", "c", "e"]
    capped = pairs_table([["a", "b", "c", "d", "e"]], max_pairs=2, seed=1)
    assert capped.num_rows == 2
    full = pairs_table([["a", "b", "c", "d", "e"]]).to_pylist()
    assert all(pair in full for pair in capped.to_pylist())
    lengths = [len(p) for p in capped.column("prefix").to_pylist()]
    assert lengths == sorted(lengths)  # kept in session order
    assert newest_count(10, 0.05) == 1 and newest_count(10, 1.0) == 10
    assert newest_count(1000, 0.05) == 50
    with pytest.raises(ConfigError):
        newest_count(10, 0)


def test_sessionize_returns_every_view_of_the_newest_sessions():
    rows = [
        ("s1", "a", 1.0), ("s1", "b", 2.0),
        ("s2", "b", 3.0), ("s2", "c", 4.0), ("s2", "a", 4.5),
        ("s3", "c", 5.0), ("s3", "c", 6.0), ("s3", "rare", 7.0), ("s3", "a", 8.0),
    ]  # fmt: skip
    table = pa.table(
        {k: [r[i] for r in rows] for i, k in enumerate(["session_id", "item_id", "ts"])}
    )
    con = duckdb.connect()
    result = sessionize(con, con.from_arrow(table), config=SessionizeConfig(min_item_count=2),
                        raw_newest_share=0.34)  # fmt: skip
    con.close()
    c = result.corpus
    # training: repeats collapsed, the rare item gone
    assert [c.item_ids[i] for i in c.session(2)] == ["c", "a"]
    # held out: every view as it happened
    assert result.raw_newest == [["c", "c", "rare", "a"]]


def test_the_ranker_scored_on_the_test_sessions_is_fitted_without_their_pairs():
    sessions = [["a", "b"], ["b", "c"], ["a", "c", "b"], ["c", "a"], ["a", "b", "c"]]
    corpus = SessionCorpus.from_sequences(sessions)
    split = validation_split(corpus, share=0.6)
    assert split.first_session == 2 and split.held_out_sessions == 3
    assert split.sessions.tolist() == [2, 2, 3, 4, 4]  # the session of each pair
    features = CandidateFeatures(
        offsets=np.array([0, 2, 3, 5, 6, 8]),
        x=np.arange(16, dtype=np.float32).reshape(8, 2),
        labels=np.array([1, 0, -1, 0, 1]),
    )
    before = features.subset(split.sessions < 4)  # what train fits when session 4 is a test one
    assert before.offsets.tolist() == [0, 2, 3, 5]
    assert before.x[:, 0].tolist() == [0, 2, 4, 6, 8]
    assert before.labels.tolist() == [1, 0, -1]


@pytest.fixture(scope="module")
def planted_shop(tmp_path_factory) -> Path:
    """Ring walks inside two categories, then N_NEW newest sessions that each jump from one
    category to the other (c0_iJ -> c1_iJ): transitions that occur nowhere else. A model that
    saw the newest sessions answers them; one that did not, cannot."""
    base, item_category = category_sessions(
        n_categories=2, items_per_category=150, n_sessions=N_BASE, seed=3, planted=None
    )
    rng = np.random.default_rng(4)
    jumps = [[f"c0_i{j}", f"c1_i{j}"] for j in rng.integers(0, 10, N_NEW)]  # ten jumps, often
    rows = {"session_id": [], "item_id": [], "category_id": [], "ts": []}
    for s, views in enumerate(base + jumps):
        for p, item in enumerate(views):
            rows["session_id"].append(f"s{s}")
            rows["item_id"].append(item)
            rows["category_id"].append(item_category[item])
            rows["ts"].append(1_700_000_000.0 + 100 * s + p)
    path = tmp_path_factory.mktemp("planted") / "events.parquet"
    pq.write_table(pa.table(rows), path)
    return path


def _train(path: Path, out: Path, *extra: str) -> dict:
    share = str(N_NEW / (N_BASE + N_NEW))
    args = ["train", "--source", "parquet", "--path", str(path), "--out", str(out), *FAST]
    assert main([*args, "--holdout-share", share, "--k", "5", *extra]) == 0
    return Bundle.load(out).manifest


@pytest.mark.parametrize("ranker", ["learned", "default"])
def test_the_held_out_sessions_are_answered_by_a_model_that_never_saw_them(
    planted_shop, tmp_path, capsys, ranker
):
    m = _train(planted_shop, tmp_path / "a", "--ranker", ranker)
    err = capsys.readouterr().err
    h = m["metrics"]["holdout"]
    assert h["sessions"] == N_NEW and h["pairs"] == h["pairs_available"] == N_NEW
    assert h["trained_sessions"] <= N_BASE
    learned = ranker == "learned"
    assert ("ranker's weights on the next" in h["model"]) == learned
    if learned:  # statistics on the oldest 90%, the ranker's weights up to the held-out 100
        assert h["trained_sessions"] == N_BASE + N_NEW - 160
        assert h["model"].endswith(f"the next {160 - N_NEW}")
    assert m["ranker"].get("learned", True) == (ranker == "learned")
    results = h["results"]
    assert set(results) == {"next_view", "next_different"}
    for protocol in results.values():
        assert set(protocol) == {"nowrec", "item", "popular"}
        for r in protocol.values():
            assert r["pairs"] == N_NEW and 0 <= r["coverage"] <= 1
    # never seen: the jumps cannot be predicted from the older sessions
    assert results["next_different"]["nowrec"]["hr@5"] < 0.1
    assert "held-out evaluation (HR@5, MRR@5, coverage)" in err
    assert "popular" in err.strip().splitlines()[-1]  # the summary line names the baselines

    # the published model (trained on everything) has seen them: the same pairs, in-sample
    pairs = tmp_path / "pairs.parquet"
    share = str(N_NEW / (N_BASE + N_NEW))
    args = ["test-pairs", "--source", "parquet", "--path", str(planted_shop), "--out", str(pairs)]
    assert main([*args, "--holdout-share", share]) == 0
    written = pq.read_table(pairs)
    assert written.num_rows == N_NEW
    assert all(p[0].startswith("c0_") and t.startswith("c1_") for p, t in
               zip(written["prefix"].to_pylist(), written["target"].to_pylist(), strict=True))  # fmt: skip
    capsys.readouterr()
    rc = main(["evaluate", "--bundle", str(tmp_path / "a"), "--test-pairs", str(pairs),
               "--k", "5", "--json", "--baselines"])  # fmt: skip
    assert rc == 0
    in_sample = json.loads(capsys.readouterr().out)
    assert in_sample["next_different"]["nowrec"]["hr@5"] > 0.5
    assert set(in_sample["next_view"]) == {"nowrec", "item", "popular"}


def test_no_holdout_and_share_checks(tiny_shop, tmp_path, capsys):
    out = tmp_path / "artifacts"
    base = ["train", "--path", str(tiny_shop), "--out", str(out), *FAST]
    assert main([*base, "--no-holdout"]) == 0
    assert "holdout" not in Bundle.load(out).manifest["metrics"]
    capsys.readouterr()
    assert main([*base, "--holdout-share", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "--holdout-share 0.1 must be below --validation-share 0.1" in err
    with pytest.raises(SystemExit):
        main([*base, "--holdout-share", "0"])
    assert "must be in (0, 1]" in capsys.readouterr().err


def test_test_pairs_errors(tmp_path, capsys):
    events = tmp_path / "e.parquet"
    pq.write_table(pa.table({"session_id": ["s"], "item_id": ["a"], "ts": [1.0]}), events)
    args = ["test-pairs", "--source", "parquet", "--path", str(events)]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "p.parquet")]) == 1
    assert "no session left" in capsys.readouterr().err
    assert not (tmp_path / "p.parquet").exists()


def test_a_holdout_larger_than_the_ranker_block_trains_its_own_model(planted_shop, tmp_path):
    # (the CLI refuses it; the Python API gets a held-out model that is still out of sample)
    job = TrainJob(
        source=LocalFileSource(str(planted_shop)),
        out=tmp_path / "a",
        model=Prod2VecConfig(backend="gensim", epochs=1, threads=1, dim=8),
        validation_share=0.2,  # enough pairs to learn a ranker on the newest 320 sessions
        holdout_share=0.25,  # the newest 400
        k=5,
    )
    m = train(job).manifest
    assert m["ranker"]["pairs"] >= 200  # learned, on pairs the held-out model must not use
    h = m["metrics"]["holdout"]
    assert h["model"].startswith("trained on the 1,200 sessions before them")
    assert h["trained_sessions"] == 1200


def test_prod2vec_trains_once_and_continues_on_the_newest_sessions(planted_shop, tmp_path):
    """With a learned ranker, the published vectors continue the ranker model's (which never
    saw the newest sessions) on those sessions, instead of a second training from scratch:
    they know the jumps that only the newest sessions make."""
    args = ["train", "--source", "parquet", "--path", str(planted_shop), "--out", str(tmp_path)]
    fast = ["--epochs", "3", "--threads", "1", "--dim", "16", "--k", "5"]
    assert main([*args, *fast, "--no-holdout", *TINY_DATA]) == 0
    bundle = Bundle.load(tmp_path)
    m = bundle.manifest
    stages = [s["name"] for s in m["stages"]["stages"]]
    assert "ranker prod2vec" in stages and "prod2vec, newest sessions" in stages
    assert "prod2vec" not in stages  # no training from scratch on everything
    t = m["metrics"]["training"]
    newest = 160  # the validation share, 10% of 1,600
    assert t["older_sessions"] == N_BASE + N_NEW - newest
    assert newest < t["continued_sessions"] < newest + 0.4 * t["older_sessions"]
    ids = {
        item: row for row, item in enumerate(bundle.table("items").column("item_id").to_pylist())
    }
    vin, vout = bundle.array("vectors_input"), bundle.array("vectors_output")
    c1 = np.array([row for item, row in ids.items() if item.startswith("c1_")])
    ranks = []
    for j in range(10):  # each jump c0_iJ -> c1_iJ among the 150 products of c1
        scores = vout[c1] @ vin[ids[f"c0_i{j}"]]
        ranks.append(int((scores > scores[list(c1).index(ids[f"c1_i{j}"])]).sum()))
    assert np.median(ranks) < 15, ranks  # a random ranking would put them near 75


def test_a_large_corpus_gets_fewer_epochs_within_the_token_budget():
    from pipelines.train import prod2vec_config

    corpus = SessionCorpus.from_sequences([["a", "b", "c", "d"]] * 100)  # 400 tokens
    config = Prod2VecConfig(epochs=10, negatives=10, category_negatives=0)
    notes: list[str] = []
    assert prod2vec_config(config, corpus, notes, max_tokens=4000).epochs == 10
    assert prod2vec_config(config, corpus, notes, None).epochs == 10 and not notes
    assert prod2vec_config(config, corpus, notes, max_tokens=2000).epochs == 5
    assert "5 prod2vec epochs instead of 10" in notes[-1]
    assert prod2vec_config(config, corpus, notes, max_tokens=10).epochs == 3  # the floor


def test_the_cli_caps_default_epochs_only(tmp_path):
    from engine.prod2vec.config import MAX_TRAINING_TOKENS
    from pipelines.cli import build_parser, train_job_from_args

    f = tmp_path / "e.parquet"
    pq.write_table(pa.table({"session_id": ["s", "s"], "item_id": ["a", "b"], "ts": [1, 2]}), f)
    base = ["train", "--path", str(f), "--out", str(tmp_path / "a")]
    job = train_job_from_args(build_parser().parse_args(base))
    assert job.model.epochs == 10 and job.max_training_tokens == MAX_TRAINING_TOKENS
    job = train_job_from_args(build_parser().parse_args([*base, "--epochs", "12"]))
    assert job.model.epochs == 12 and job.max_training_tokens is None
    job = train_job_from_args(build_parser().parse_args([*base, "--max-training-tokens", "0"]))
    assert job.max_training_tokens is None


def test_a_bundle_whose_neighbourhood_keeps_fewer_sessions_than_trained_loads(
    planted_shop, tmp_path
):
    """A shop with more sessions than the neighbourhood keeps (max_sessions): the manifest
    counts the training sessions and the indexed ones, and the bundle loads (it was refused
    as inconsistent before)."""
    from engine.model import ModelParams, RecommenderModel
    from engine.session_knn import SessionKnnParams

    job = TrainJob(
        source=LocalFileSource(str(planted_shop)),
        out=tmp_path,
        model=Prod2VecConfig(backend="gensim", epochs=1, threads=1, dim=8),
        params=ModelParams(session_knn=SessionKnnParams(max_sessions=500)),
        holdout_share=0.05,
        k=5,
    )
    counts = train(job).manifest["counts"]
    assert counts["sessions"] == N_BASE + N_NEW and counts["indexed_sessions"] == 500
    model = RecommenderModel.load(Bundle.load(tmp_path))
    assert model.session_knn.n_sessions == 500
