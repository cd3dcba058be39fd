"""Server CPU per recommendation against a plain FastAPI route, on loopback, in one run.

    python benchmarks/serve_load.py [--bundle artifacts/diginetica] [--sessions 2000]
                                    [--seconds 5] [--repeat 3] [--connections 16]

Starts three servers on the same CPU, one at a time under load:

- the yardstick (benchmarks/support/yardstick.py): a plain FastAPI app, one route returning a
  constant list of 20 items, on uvicorn with its pure-Python parser and loop pinned (h11,
  asyncio), so that no choice of ours moves it;
- ``python -m serving`` with the bundle (default artifacts/diginetica when present, else
  artifacts), live sessions posted through POST /v1/events (up to 5 views each, taken from the
  bundle's training sessions), impressions recorded to files;
- the same service with impression recording off (what recording costs).

It measures server CPU per request (the process's user + system time over the requests it
answered, closed loop, --connections keep-alive connections) for the yardstick and for
GET /v1/recommendations (each request a different live session and its current product,
k=20), the saturated throughput, and the p99 latency at half of that throughput (open loop:
requests sent on a fixed schedule, latency counted from the scheduled time). Targets: CPU per
recommendation <= 2.5x the yardstick's, p99 <= 10 ms.

The load generator is a minimal asyncio HTTP/1.1 client (pre-encoded requests, keep-alive),
because a full client library would saturate its CPU before the server. Servers and load
generator are pinned to different CPUs (os.sched_setaffinity) when there are two; each figure
is the best of --repeat interleaved rounds.

Last line: ``serve_load: recommendation CPU/request <x>x the plain FastAPI route; saturation
<r> req/s; p99 at half load <p> ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, percentiles, single_thread  # noqa: E402

single_thread()

import numpy as np  # noqa: E402

from engine.bundle import Bundle  # noqa: E402
from tests.fixtures_kafka import free_port, wait_for_port  # noqa: E402

TOKEN = "bench-token-0123456789"
T0 = 1_700_000_000.0


def default_bundle() -> Path:
    for candidate in (ROOT / "artifacts" / "diginetica", ROOT / "artifacts"):
        if (candidate / "latest" / "manifest.json").is_file():
            return candidate
    raise SystemExit("no bundle: run `make train` (or pass --bundle DIR)")


def live_sessions(bundle_dir: Path, n: int, seed: int = 0) -> list[tuple[list[str], str]]:
    """``n`` sessions of the bundle's training data: (up to 5 earlier views, current product)."""
    bundle = Bundle.load(bundle_dir, verify=False)
    ids = bundle.table("items").column("item_id").to_pylist()
    indptr, indices = bundle.array("sessions_indptr"), bundle.array("sessions_indices")
    lengths = np.diff(indptr)
    usable = np.flatnonzero(lengths >= 2)
    rng = np.random.default_rng(seed)
    picked = rng.choice(usable, size=min(n, len(usable)), replace=False)
    out = []
    for s in picked:
        items = [ids[int(r)] for r in indices[indptr[s] : indptr[s + 1]]]
        cut = int(rng.integers(1, len(items)))
        out.append((items[max(0, cut - 5) : cut], items[cut]))
    return out


# -- the load generator ---------------------------------------------------------------------


def request_bytes(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> int:
    """Send one request, read the whole response; return the status code."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    await reader.readexactly(length)
    return status


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One measured phase."""

    name: str
    latencies: list[float]
    seconds: float
    errors: int
    server_cpu_s: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per request: what throughput a dedicated core would give, measured in a
        way that other processes on a shared machine barely disturb."""
        return self.server_cpu_s / max(1, len(self.latencies)) * 1e3

    def pct(self) -> dict[str, float]:
        return percentiles(self.latencies, (50, 99))


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float) -> Run:
    """``connections`` connections sending back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while (start := time.perf_counter()) < deadline:
                status = await exchange(reader, writer, requests[i % len(requests)])
                latencies.append(time.perf_counter() - start)
                errors += status != 200
                i += connections
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in range(connections)))
    return Run("closed", latencies, time.perf_counter() - started, errors)


async def open_loop(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int
) -> Run:
    """Requests scheduled at ``rate`` per second; latency from the scheduled time."""
    queue: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []
    errors = 0
    count = int(rate * seconds)

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (item := await queue.get()) is not None:
                scheduled, req = item
                status = await exchange(reader, writer, req)
                latencies.append(time.perf_counter() - scheduled)
                errors += status != 200
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections open before the clock starts
    start = time.perf_counter()
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            queue.put_nowait((start + sent / rate, requests[sent % len(requests)]))
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return Run("open", latencies, time.perf_counter() - start, errors)


# -- the server -----------------------------------------------------------------------------


def start_server(
    bundle: Path, port: int, cpu: int | None, workers: int, log: Path, **settings: str
) -> subprocess.Popen:
    env = (
        os.environ
        | {f"NOWREC_{k.upper()}": v for k, v in settings.items()}
        | {
            "NOWREC_API_TOKEN": TOKEN,
            "NOWREC_RELOAD_INTERVAL_S": "0",
            "NOWREC_STORE_BACKEND": "memory",
            "NOWREC_EVENTS_MODE": "embedded",
            "NOWREC_WORKER_THREADS": str(workers),
            "NOWREC_LOG_LEVEL": "warning",
        }
    )
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "serving", "--port", str(port), "--artifacts", str(bundle)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(server.pid, {cpu})
    try:
        wait_for_port(port, 300, server)
    except (RuntimeError, TimeoutError) as exc:
        server.kill()
        raise SystemExit(f"the server did not start: {exc}\n{log.read_text()[-3000:]}") from None
    return server


def post_sessions(port: int, sessions: list[tuple[list[str], str]]) -> int:
    events = [
        {"session_id": f"bench-{s}", "product_id": p, "ts": T0 + n}
        for s, (views, _) in enumerate(sessions)
        for n, p in enumerate(views)
    ]
    for i in range(0, len(events), 500):
        body = json.dumps({"events": events[i : i + 500]}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/events",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=30) as response:
            assert response.status == 200
    return len(events)


def start_yardstick(port: int, cpu: int | None, log: Path) -> subprocess.Popen:
    """The plain FastAPI app of benchmarks/support/yardstick.py, on the server's CPU."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "support" / "yardstick.py"), str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(process.pid, {cpu})
    wait_for_port(port, 60, process)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="artifacts root or bundle directory")
    parser.add_argument("--sessions", type=int, default=2000, help="live sessions")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is kept")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--workers", type=int, default=4, help="server worker threads")
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    bundle = args.bundle or default_bundle()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    sessions = live_sessions(bundle, args.sessions)
    log_dir = Path(tempfile.mkdtemp(prefix="serve-load-"))
    ports = {"yardstick": free_port(), "recommend": free_port(), "unrecorded": free_port()}
    processes = {
        "yardstick": start_yardstick(ports["yardstick"], server_cpu, log_dir / "yardstick.log"),
        "recommend": start_server(
            bundle, ports["recommend"], server_cpu, args.workers, log_dir / "server.log",
            logs_dir=str(log_dir / "logs"), record_sink="files",
            product_log=str(log_dir / "products.jsonl"),
        ),
        # the same service with impression recording off: what recording costs, in this run
        "unrecorded": start_server(
            bundle, ports["unrecorded"], server_cpu, args.workers, log_dir / "quiet.log",
            record_sink="off", product_log=str(log_dir / "quiet-products.jsonl"),
        ),
    }  # fmt: skip
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    where = (
        f"servers on CPU {server_cpu}, load generator on CPU {client_cpu}"
        if server_cpu is not None
        else "servers and load generator share the CPUs"
    )
    try:
        posted = post_sessions(ports["recommend"], sessions)
        post_sessions(ports["unrecorded"], sessions)
        requests = {
            name: [
                request_bytes(
                    f"/v1/recommendations?session_id=bench-{s}&product_id={cur}&k={args.k}", port
                )
                for s, (_, cur) in enumerate(sessions)
            ]
            for name, port in ports.items()
            if name != "yardstick"
        }
        requests["yardstick"] = [request_bytes("/items", ports["yardstick"])]
        version = json.loads(
            urllib.request.urlopen(
                f"http://127.0.0.1:{ports['recommend']}/v1/recommendations"
                f"?product_id={sessions[0][1]}"
            ).read()
        )["model_version"]
        print(
            f"serve_load: bundle {bundle} (model {version}), {len(sessions):,} live sessions "
            f"({posted:,} events posted), k={args.k}, {args.connections} connections, "
            f"{args.seconds:.0f} s phases, best of {args.repeat}; {where}"
        )
        for name, reqs in requests.items():  # warm-up
            asyncio.run(closed_loop(ports[name], reqs, args.connections, 2.0))
        best: dict[str, Run] = {}
        cpu: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, reqs in requests.items():
                before = cpu_seconds(processes[name].pid)
                run = asyncio.run(closed_loop(ports[name], reqs, args.connections, args.seconds))
                run.server_cpu_s = cpu_seconds(processes[name].pid) - before
                cpu[name] = min(cpu.get(name, float("inf")), run.cpu_ms_per_request)
                if name not in best or run.throughput > best[name].throughput:
                    best[name] = run
        saturation = best["recommend"].throughput
        half = [
            asyncio.run(
                open_loop(ports["recommend"], requests["recommend"], saturation / 2,
                          args.seconds, 64)
            )
            for _ in range(args.repeat)
        ]  # fmt: skip
        at_half = min(half, key=lambda r: r.pct()["p99_ms"])
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(log_dir, ignore_errors=True)

    def row(label: str, run: Run, extra: str = "") -> None:
        p = run.pct()
        print(
            f"  {label:<58} {run.throughput:>8,.0f} req/s  p50 {p['p50_ms']:6.2f} ms  "
            f"p99 {p['p99_ms']:6.2f} ms  errors {run.errors}  {extra}"
        )

    ratio = cpu["recommend"] / cpu["yardstick"]
    recording = cpu["recommend"] / cpu["unrecorded"] - 1
    row("plain FastAPI route, constant list (h11, asyncio), saturated", best["yardstick"],
        f"server CPU {cpu['yardstick']:.3f} ms/req")  # fmt: skip
    row("GET /v1/recommendations, saturated", best["recommend"],
        f"server CPU {cpu['recommend']:.3f} ms/req = {ratio:.2f}x the plain route")  # fmt: skip
    row("GET /v1/recommendations, impression recording off", best["unrecorded"],
        f"server CPU {cpu['unrecorded']:.3f} ms/req: recording impressions costs "
        f"{recording:+.1%} CPU per request")  # fmt: skip
    p99 = at_half.pct()["p99_ms"]
    row(f"GET /v1/recommendations at {saturation / 2:,.0f} req/s (half its saturation)", at_half)
    errors = sum(r.errors for r in best.values()) + at_half.errors
    ok = ratio <= 2.5 and p99 <= 10.0 and errors == 0
    print(f"targets: CPU per request <= 2.5x the plain route, p99 <= 10 ms at half load, no "
          f"errors ({errors}): {'all met' if ok else 'MISSED'}")  # fmt: skip
    print(
        f"serve_load: recommendation CPU/request {ratio:.2f}x the plain FastAPI route; "
        f"saturation {saturation:,.0f} req/s; p99 at half load {p99:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
