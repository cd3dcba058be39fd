"""When does --keep-repeats matter? RSC15 (yoochoose clicks, session-rec's 100k sample),
trained with the defaults (immediate repeats collapsed) and with --keep-repeats, scored in the
same run with session-rec's own V-SKNN lists as the peer.

Test pairs: session-rec's 387 predictions (the first 100 test sessions; the target is the
view at Position+1, ``peer_recs_vsknn.csv``), and every pair of all 3,417 test sessions. A
quarter of RSC15's next views are the same item again (a reload, a second click): under the
papers' protocol (every next view) a model trained without repeats cannot predict them; under
the product page's (next different product) they are not asked for. V-SKNN's lists are scored
under the product page's protocol by dropping the session's items from them, as the API does.

    python benchmarks/rsc15_repeats.py [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import ROOT  # noqa: F401  (puts the project on sys.path)
from support.corpora import SHARED_CANDIDATES

from engine.bundle import Bundle
from engine.metrics import hit_rate_and_mrr, rank_in_top
from engine.model import RecommenderModel
from engine.prod2vec import Prod2VecConfig
from engine.recommender import SessionRecommender
from pipelines.evaluate import NEXT_DIFFERENT, NEXT_VIEW, evaluate_protocols, protocol_pairs
from pipelines.holdout import pairs_table
from pipelines.sessionize import SessionizeConfig
from pipelines.sources.local import LocalFileSource
from pipelines.train import TrainJob, train


def rsc15_dir() -> Path | None:
    for base in SHARED_CANDIDATES:
        if (base / "rsc15_100k" / "peer_recs_vsknn.csv").is_file():
            return base / "rsc15_100k"
    return None


def test_sessions(folder: Path) -> dict[int, list[str]]:
    """Each test session's views in time order."""
    views = defaultdict(list)
    for r in pq.read_table(folder / "test.parquet").to_pylist():
        views[r["session_id"]].append((r["ts"], str(r["item_id"])))
    return {s: [i for _, i in sorted(v)] for s, v in views.items()}


def peer_pairs(folder: Path, sessions: dict[int, list[str]]):
    """session-rec's predictions: (prefix, target) pairs and V-SKNN's list for each."""
    with open(folder / "peer_recs_vsknn.csv") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    prefixes, targets, lists = [], [], []
    for r in rows:
        views, pos = sessions[int(r["SessionId"])], int(r["Position"])
        prefixes.append(views[: pos + 1])
        targets.append(views[pos + 1])
        lists.append(r["Recommendations"].split(","))
    return prefixes, targets, lists


def peer_scores(prefixes, targets, lists, k: int) -> dict[str, tuple[float, float, int]]:
    """V-SKNN's HR@k and MRR@k under both protocols (its lists, seen items dropped on the
    product page)."""
    out = {}
    for protocol in (NEXT_VIEW, NEXT_DIFFERENT):
        ranks = []
        for prefix, target, recs in zip(prefixes, targets, lists, strict=True):
            if protocol == NEXT_DIFFERENT:
                if target == prefix[-1]:
                    continue
                recs = [r for r in recs if r not in set(prefix)]
            ranks.append(rank_in_top(recs, target, k))
        hr, mrr = hit_rate_and_mrr(np.asarray(ranks), k)
        out[protocol] = (hr, mrr, len(ranks))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    folder = rsc15_dir()
    if folder is None:
        print(f"skipped: rsc15_100k not found in {', '.join(map(str, SHARED_CANDIDATES))}")
        return
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    sessions = test_sessions(folder)
    prefixes, targets, lists = peer_pairs(folder, sessions)
    peer_table = pa.table({"prefix": prefixes, "target": targets})
    all_table = pairs_table(list(sessions.values()))
    repeats = np.mean([t == p[-1] for p, t in zip(prefixes, targets, strict=True)])
    print(
        f"RSC15 100k: {len(prefixes)} session-rec predictions ({repeats:.0%} of them the same "
        f"item again), {all_table.num_rows:,} pairs of all {len(sessions):,} test sessions; "
        f"HR@{args.k} / MRR@{args.k}\n"
    )
    k = args.k
    print(f"{'':<26} {'387 predictions':^35}   {'all test sessions':^35}")
    print(
        f"{'':<26} {'next view':^17} {'product page':^17}   {'next view':^17} {'product page':^17}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, keep in (("defaults", False), ("--keep-repeats", True)):
            job = TrainJob(
                source=LocalFileSource(str(folder / "train_full.parquet")),
                out=Path(tmp) / name,
                sessionize=SessionizeConfig(collapse_repeats=not keep),
                model=Prod2VecConfig(threads=args.threads),
            )
            bundle_dir = train(job).bundle_dir
            rec = SessionRecommender(RecommenderModel.load(Bundle.load(bundle_dir)))
            results[name] = [
                evaluate_protocols(rec, table, k, progress=False)
                for table in (peer_table, all_table)
            ]
            cells = [
                f"{r.get(p).hit_rate:>8.3f} {r.get(p).mrr:>8.3f}"
                for r in results[name]
                for p in (NEXT_VIEW, NEXT_DIFFERENT)
            ]
            print(f"nowrec, {name:<18} {cells[0]} {cells[1]}   {cells[2]} {cells[3]}", flush=True)
    peer = peer_scores(prefixes, targets, lists, k)
    cells = [f"{peer[p][0]:>8.3f} {peer[p][1]:>8.3f}" for p in (NEXT_VIEW, NEXT_DIFFERENT)]
    print(f"{'V-SKNN (session-rec)':<26} {cells[0]} {cells[1]}   {'(lists for 387 only)':^35}")
    n_page = len(protocol_pairs(peer_table, NEXT_DIFFERENT)[1])
    d, kr = (results[n][0].get(NEXT_VIEW).hit_rate for n in ("defaults", "--keep-repeats"))
    print(
        f"\n({n_page} of the 387 predictions are product-page pairs.)\n"
        f"summary: RSC15 387 predictions, next view HR@{k}: defaults {d:.3f}, --keep-repeats "
        f"{kr:.3f} ({kr / d:.2f}x), V-SKNN {peer[NEXT_VIEW][0]:.3f}; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
