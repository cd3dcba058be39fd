"""A/B experiments on a simulated shop, driven through the running service over HTTP.

    python benchmarks/ab_simulation.py [--sessions 2000] [--aa-runs 20] [--aa-sessions 300]

Visitors replay held-out demo-shop sessions (sessions the model never saw). On each product
page a visitor posts the view, asks GET /v1/recommendations for its session and page (k=10),
and clicks: with probability 0.5 the product it really viewed next when the answer shows it,
else with probability 0.02 a random shown product (a curious click). A click on the real next
product goes to the cart with probability 0.3 and is bought with probability 0.5. Half the
visitors send the recommendation id with the click, half do not (matched by the service's
attribution window). The seeded simulation is the same for every variant, so a variant wins
only by showing better products.

It runs (a) A = the `popular` baseline against B = the engine, then (b) A/A experiments whose
two arms are the same engine (each with a new salt), and reads each report from
GET /v1/admin/experiments/{name} (the same query and statistics as the batch report).
Expected: B wins with p < 0.01; at most 2 of 20 A/A runs name a winner at the 5% level.

Last line: ``ab_simulation: B/A click lift <x> p <p>; A/A winners <n>/<m>``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from _bundles import bundle_or_build, demo_data  # noqa: E402
from _common import ROOT  # noqa: E402

from tests.process_support import free_port, wait_for_port  # noqa: E402

TOKEN = "ab-simulation-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
K = 10
P_CLICK_NEXT = 0.5
P_CLICK_OTHER = 0.02
P_CART = 0.3
P_BUY = 0.5


def held_out_sessions(data: Path) -> list[list[str]]:
    """The demo shop's test sessions, rebuilt from its (prefix -> next) pairs."""
    t = pq.read_table(data / "test_pairs.parquet").to_pydict()
    sessions: list[list[str]] = []
    for prefix, target in zip(t["prefix"], t["target"], strict=True):
        if len(prefix) == 1:
            sessions.append([str(prefix[0])])
        sessions[-1].append(str(target))
    return [s for s in sessions if len(s) >= 2]


def prices(data: Path) -> dict[str, float]:
    t = pq.read_table(data / "products.parquet", columns=["item_id", "price"]).to_pydict()
    return {str(i): float(p or 0.0) for i, p in zip(t["item_id"], t["price"], strict=True)}


def experiment_toml(name: str, salt: str, a: str, b: str) -> str:
    def variant(n: str, kind: str) -> str:
        return (
            f'{{ name = "{n}", weight = 1'
            + (f', strategy = "{kind}"' if kind != "engine" else "")
            + " }"
        )

    return (
        f'[[experiments]]\nname = "{name}"\nsalt = "{salt}"\ncontrol = "A"\nmin_sessions = 100\n'
        f"variants = [ {variant('A', a)}, {variant('B', b)} ]\n"
    )


def visit(client: httpx.Client, rng, name: str, session: list[str],
          price: dict[str, float]) -> None:  # fmt: skip
    """One visitor replays its session through the service (in real time, so that clicks
    without a recommendation id fall in the attribution window of what was shown)."""
    sid = f"{name}-{rng.integers(1 << 62):x}"
    with_id = rng.random() < 0.5
    for step, product in enumerate(session[:-1]):
        ts = time.time()
        r = client.post("/v1/events", headers=AUTH, json={"events": [
            {"session_id": sid, "product_id": product, "ts": ts}]})  # fmt: skip
        r.raise_for_status()
        answer = client.get("/v1/recommendations",
                            params={"session_id": sid, "product_id": product, "k": K}).json()  # fmt: skip
        shown = [i["product_id"] for i in answer["items"]]
        nxt = session[step + 1]
        clicked = None
        if nxt in shown and rng.random() < P_CLICK_NEXT:
            clicked = nxt
        elif shown and rng.random() < P_CLICK_OTHER:
            clicked = shown[rng.integers(len(shown))]
        if clicked is None:
            continue
        ts = time.time()
        events = [{"session_id": sid, "product_id": clicked, "ts": ts, "event_type": "click",
                   "recommendation_id": answer["recommendation_id"] if with_id else None}]  # fmt: skip
        if clicked == nxt and rng.random() < P_CART:
            events.append({"session_id": sid, "product_id": clicked, "ts": ts + 0.001,
                           "event_type": "cart"})  # fmt: skip
            if rng.random() < P_BUY:
                events.append({"session_id": sid, "product_id": clicked, "ts": ts + 0.002,
                               "event_type": "purchase", "price": price.get(clicked, 0.0)})  # fmt: skip
        client.post("/v1/events", headers=AUTH, json={"events": events}).raise_for_status()


def run_experiment(client, config: Path, name: str, a: str, b: str, sessions, price, n: int,
                   seed: int) -> dict:  # fmt: skip
    config.write_text(experiment_toml(name, f"{name}-salt", a, b))
    r = client.post("/v1/admin/reload", headers=AUTH)
    r.raise_for_status()
    assert r.json()["experiments"] == "loaded", r.text
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(sessions), size=n, replace=len(sessions) < n)
    for i in picks:
        visit(client, rng, name, sessions[i], price)
    report = client.get(f"/v1/admin/experiments/{name}", headers=AUTH)
    report.raise_for_status()
    return report.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2000, help="visitors of the A/B run")
    parser.add_argument("--aa-runs", type=int, default=20, help="A/A experiments")
    parser.add_argument("--aa-sessions", type=int, default=300, help="visitors per A/A run")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    data = demo_data()
    bundle = bundle_or_build(None, "demo")
    sessions = held_out_sessions(data)
    price = prices(data)
    print(f"{len(sessions)} held-out demo-shop sessions; bundle {bundle}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ab-simulation-"))
    config = work / "experiments.toml"
    config.write_text(experiment_toml("warmup", "w", "popular", "popular"))
    port = free_port()
    env = os.environ | {
        "NOWREC_API_TOKEN": TOKEN, "NOWREC_EXPERIMENTS_FILE": str(config),
        "NOWREC_LOGS_DIR": str(work / "logs"), "NOWREC_RELOAD_INTERVAL_S": "3600",
        "NOWREC_LOG_LEVEL": "warning",
    }  # fmt: skip
    with open(work / "server.log", "wb") as server_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "serving", "--port", str(port), "--artifacts", str(bundle)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=server_log,
        )  # fmt: skip
    try:
        wait_for_port(port, 120, server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            started = time.perf_counter()
            ab = run_experiment(client, config, "ab", "popular", "engine", sessions, price,
                                args.sessions, args.seed)  # fmt: skip
            variants = {v["name"]: v for v in ab["variants"]}
            for name, v in variants.items():
                m = v["metrics"]
                print(f"  {name}: {v['sessions']} sessions, ctr {m['ctr']['value']:.4f}, "
                      f"click sessions {m['click_sessions']['value']:.3f}, purchase rate "
                      f"{m['purchase_rate']['value']:.4f}, revenue/session "
                      f"{m['revenue_per_session']['value']:.2f}")  # fmt: skip
            b = variants["B"]["metrics"]["ctr"]
            print(f"  verdict: {ab['verdict']} ({time.perf_counter() - started:.0f} s)")
            winners = 0
            for run in range(args.aa_runs):
                aa = run_experiment(client, config, f"aa{run}", "engine", "engine", sessions,
                                    price, args.aa_sessions, args.seed + 1 + run)  # fmt: skip
                p = {v["name"]: v for v in aa["variants"]}["B"]["metrics"]["ctr"]["p_value"]
                named = " beats " in aa["verdict"] or " loses to " in aa["verdict"]
                winners += named
                print(f"  A/A {run + 1}: p {p:.3f}; {aa['verdict']}", flush=True)
    finally:
        server.terminate()
        server.wait(30)
    print(f"ab_simulation: B/A click lift {b['lift']:+.1%} p {b['p_value']:.2g}; "
          f"A/A winners {winners}/{args.aa_runs}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
