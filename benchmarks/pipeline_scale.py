"""The whole batch pipeline at the size of a large shop: time and memory per stage, and how
they grow with the number of sessions.

    python benchmarks/pipeline_scale.py [--sessions 1M 3M 10M] [--cache data/scale]
                                        [--train-args "--threads 2"]

For each size N (default the ladder 1M, 3M, 10M sessions):

- the demo shop of N sessions, 0.3 x N products (at most 1M) and 0.4 x N visitors
  (``python -m pipelines demo-data``), generated once into ``--cache`` and reused while its
  ``demo_shop.json`` names the same configuration;
- ``python -m pipelines train`` with default settings on its events, products and test pairs
  (``--train-args`` adds options), in a subprocess, into ``--cache/runs/art-<N>`` (replaced
  on each run, kept afterwards for ``benchmarks/recommend_latency.py``).

Measured here: each subprocess's wall time and peak resident memory; per stage, the wall time
and peak memory that the run keeps in its bundle manifest (``stages``, pipelines/stages.py),
checked against the ``stage ...`` lines of its log (kept beside the bundle as
``train-<N>.log``). The process's peak is the largest of its stages' peaks, of its high-water
mark sampled from /proc every 0.2 s, and of what ``os.wait4`` reports at its end: the pipeline
resets the kernel's high-water mark at the start of each stage (so that each stage reports its
own), and that is the counter wait4 (and ``/usr/bin/time``) read, so on its own it tells only
the peak of the last stages. Between
consecutive sizes it prints the growth exponent k of each figure, log(b/a) / log(N_b/N_a):
k = 1 grows linearly with the sessions, k < 1 sub-linearly. The yardsticks are the targets of
a 10M-session shop on 2 cores (30 minutes, 8 GB peak: issue 9), as ratios for the largest size.

Memory is in GB of 10^9 bytes, as the pipeline logs it. Small sizes (``--sessions 20k``) run the
same code in seconds. The last line is
``pipeline_scale: <sessions> sessions, <events> events, <products> products: <s> s, peak <g> GB``
for the largest size run (the train subprocess's wall time and peak memory).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT  # noqa: E402
from engine.bundle import resolve_bundle_dir  # noqa: E402
from engine.errors import BundleError  # noqa: E402
from pipelines.demo_shop import (  # noqa: E402
    EVENTS_FILE,
    INFO_FILE,
    PRODUCTS_FILE,
    TEST_PAIRS_FILE,
    DemoShopConfig,
)

LADDER = (1_000_000, 3_000_000, 10_000_000)
#: products and visitors per session, as in issue 9's 1M-session shop (300k products, 400k users)
PRODUCTS_PER_SESSION, USERS_PER_SESSION, MAX_PRODUCTS = 0.3, 0.4, 1_000_000
#: the targets for 10M sessions on 2 cores (issue 9)
TARGET_SECONDS, TARGET_BYTES = 30 * 60, 8e9
STAGE_LINE = re.compile(r"^stage (?P<name>.+): (?P<seconds>[\d.]+) s, peak (?P<gb>[\d.]+) GB$")
#: lines of a child's output echoed while it runs: stages, progress lines, errors
ECHO = re.compile(r"^stage |\(\d+%\)|^error|^demo shop:|^trained |Traceback")


@dataclass(frozen=True)
class Measured:
    seconds: float
    sampled_bytes: int  # the largest high-water mark read from /proc while it ran
    wait4_bytes: int  # the high-water mark at its end (since its last reset)

    @property
    def peak_bytes(self) -> int:
        return max(self.sampled_bytes, self.wait4_bytes)


@dataclass(frozen=True)
class StageRow:
    name: str
    seconds: float
    peak_bytes: int


@dataclass(frozen=True)
class SizeResult:
    sessions: int
    events: int
    products: int
    trained_sessions: int
    trained_items: int
    generation: Measured | None  # None: the shop came from the cache
    train: Measured
    stages: list[StageRow]

    @property
    def peak_bytes(self) -> int:
        """The train process's peak: the largest of its stages' and of the measured ones."""
        return max([self.train.peak_bytes, *(s.peak_bytes for s in self.stages)])


# -- sizes and the cached shop -----------------------------------------------------------------


def parse_size(text: str) -> int:
    """``1M``, ``3m``, ``20k`` or ``20000`` -> sessions."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write 20000, 20k or 1M")
    n = round(float(match[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()])
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least one session")
    return n


def label(sessions: int) -> str:
    """``1m``, ``20k`` or the number: names of the cache's folders."""
    if sessions % 1_000_000 == 0:
        return f"{sessions // 1_000_000}m"
    if sessions % 1_000 == 0:
        return f"{sessions // 1_000}k"
    return str(sessions)


def shop_config(sessions: int) -> DemoShopConfig:
    products = max(200, min(MAX_PRODUCTS, round(PRODUCTS_PER_SESSION * sessions)))
    users = max(1, round(USERS_PER_SESSION * sessions))
    return DemoShopConfig(n_products=products, n_users=users, n_sessions=sessions)


def cached_shop_info(shop: Path, config: DemoShopConfig) -> dict | None:
    """The cached shop's ``demo_shop.json`` when it is complete and of ``config``."""
    files = (EVENTS_FILE, PRODUCTS_FILE, TEST_PAIRS_FILE, INFO_FILE)
    if not all((shop / f).is_file() for f in files):
        return None
    try:
        info = json.loads((shop / INFO_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return info if info.get("config") == asdict(config) else None


# -- subprocesses ------------------------------------------------------------------------------


class _PeakSampler(threading.Thread):
    """Reads a process's high-water mark (VmHWM) every ``every_s`` and keeps the largest."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.status, self.every_s = Path(f"/proc/{pid}/status"), every_s
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            try:
                text = self.status.read_text()
            except OSError:  # ended (or no /proc): wait4 has the rest
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)


def run_measured(cmd: list[str], log_path: Path, tag: str) -> Measured:
    """Run ``cmd`` from the repository root, its output into ``log_path`` (stage and progress
    lines echoed), and measure its wall time and peak resident memory (module docstring)."""
    print(f"[{tag}] $ {shlex.join(cmd)}", flush=True)
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        sampler = _PeakSampler(proc.pid)
        sampler.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if ECHO.search(line):
                print(f"[{tag}] {line.rstrip()}", flush=True)
        proc.stdout.close()
        sampler.stopped.set()  # before the wait: its /proc entry goes with the wait
        sampler.join()
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        sys.exit(f"[{tag}] failed with exit status {proc.returncode} (log: {log_path}):\n{tail}")
    return Measured(seconds, sampler.peak, usage.ru_maxrss * 1024)  # ru_maxrss: KiB on Linux


def ensure_shop(cache: Path, sessions: int) -> tuple[Path, dict, Measured | None]:
    config = shop_config(sessions)
    shop = cache / f"s{label(sessions)}"
    info = cached_shop_info(shop, config)
    if info is not None:
        print(f"[{label(sessions)}] demo shop cached in {shop}", flush=True)
        return shop, info, None
    cmd = [
        sys.executable, "-m", "pipelines", "demo-data", "--out", str(shop),
        "--seed", str(config.seed), "--products", str(config.n_products),
        "--sessions", str(config.n_sessions), "--users", str(config.n_users),
    ]  # fmt: skip
    shop.mkdir(parents=True, exist_ok=True)
    measured = run_measured(cmd, cache / f"demo-data-{label(sessions)}.log", label(sessions))
    info = cached_shop_info(shop, config)
    if info is None:
        sys.exit(f"demo-data wrote no complete shop of {config} into {shop}")
    return shop, info, measured


# -- reading the run ----------------------------------------------------------------------------


def stages_from_log(text: str) -> list[StageRow]:
    """The ``stage NAME: S s, peak G GB`` lines of a train log (pipelines/stages.py)."""
    rows = []
    for line in text.splitlines():
        match = STAGE_LINE.match(line.strip())
        if match:
            gb = float(match["gb"])
            rows.append(StageRow(match["name"], float(match["seconds"]), round(gb * 1e9)))
    return rows


def stages_from_manifest(manifest: dict) -> list[StageRow]:
    """The manifest's ``stages`` (an empty list for a bundle written before they were kept)."""
    kept = manifest.get("stages") or {}
    return [
        StageRow(str(s["name"]), float(s["seconds"]), int(s["peak_bytes"]))
        for s in kept.get("stages", [])
    ]


def read_stages(manifest: dict, log_text: str, tag: str) -> list[StageRow]:
    """The stages as the manifest keeps them, checked against the log; the log's when the
    manifest has none (it keeps the stages up to the writing of the files)."""
    kept, logged = stages_from_manifest(manifest), stages_from_log(log_text)
    if not kept and not logged:
        sys.exit(
            f"[{tag}] neither the manifest nor the log has any stage: this pipeline predates "
            "the stage timings (pipelines/stages.py)"
        )
    if not kept:
        print(f"[{tag}] note: the manifest keeps no stages; reading them from the log")
        return logged
    names = [s.name for s in kept]
    if names != [s.name for s in logged][: len(names)]:
        print(f"[{tag}] note: the log's stages differ from the manifest's: {names}")
    return kept


def train(
    cache: Path, shop: Path, sessions: int, train_args: list[str]
) -> tuple[dict, list, Measured]:
    tag = label(sessions)
    out = cache / "runs" / f"art-{tag}"
    if out.exists():
        shutil.rmtree(out)  # the benchmark's own folder: a fresh root publishes without guards
    out.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "pipelines", "train", "--source", "parquet",
        "--path", str(shop / EVENTS_FILE), "--products", str(shop / PRODUCTS_FILE),
        "--test-pairs", str(shop / TEST_PAIRS_FILE), "--out", str(out), *train_args,
    ]  # fmt: skip
    log_path = out.parent / f"train-{tag}.log"
    measured = run_measured(cmd, log_path, tag)
    try:
        bundle = resolve_bundle_dir(out)
    except BundleError:  # not published (--no-publish in --train-args): the one version
        versions = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(versions) != 1:
            sys.exit(f"[{tag}] train wrote no bundle into {out}")
        bundle = versions[0]
    manifest = json.loads((bundle / "manifest.json").read_text())
    stages = read_stages(manifest, log_path.read_text(errors="replace"), tag)
    print(f"[{tag}] bundle {bundle}, log {log_path}", flush=True)
    return manifest, stages, measured


# -- printing ----------------------------------------------------------------------------------


def gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f}"


def exponent(a: float, b: float, n_a: int, n_b: int) -> float | None:
    """k in b / a = (n_b / n_a) ** k; None when a figure is zero (nothing to compare)."""
    if a <= 0 or b <= 0 or n_a == n_b:
        return None
    return math.log(b / a) / math.log(n_b / n_a)


def print_size(r: SizeResult) -> None:
    print(
        f"\n{label(r.sessions)}: {r.sessions:,} sessions ({r.trained_sessions:,} after "
        f"sessionization), {r.events:,} events, {r.products:,} products "
        f"({r.trained_items:,} with views)"
    )
    if r.generation is not None:
        print(
            f"demo shop generated in {r.generation.seconds:.1f} s, "
            f"peak {gb(r.generation.peak_bytes)} GB"
        )
    total = sum(s.seconds for s in r.stages)
    print(f"{'stage':<36} {'time s':>8} {'share':>6} {'peak GB':>8}")
    print("-" * 61)
    for s in r.stages:
        share = s.seconds / total if total else 0.0
        print(f"{s.name:<36} {s.seconds:>8.1f} {share:>6.0%} {gb(s.peak_bytes):>8}")
    print("-" * 61)
    peak = max((s.peak_bytes for s in r.stages), default=0)
    print(f"{'stages':<36} {total:>8.1f} {'':>6} {gb(peak):>8}")
    print(f"{'train process':<36} {r.train.seconds:>8.1f} {'':>6} {gb(r.peak_bytes):>8}")
    print(
        f"(the process's peak is the largest of its stages' {gb(peak)} GB, its high-water mark "
        f"sampled from /proc {gb(r.train.sampled_bytes)} GB and wait4's "
        f"{gb(r.train.wait4_bytes)} GB, which sees only the peak since the last stage began)"
    )


def print_growth(results: list[SizeResult]) -> None:
    """The run's time and peak at each size and their growth exponents between consecutive
    sizes; the same for each stage that takes at least 1% of the largest run's time (and for
    memory, each stage within half of its peak): exponents of shorter figures are noise."""
    sizes = [label(r.sessions) for r in results]
    ns = [r.sessions for r in results]
    steps = [f"k {a}->{b}" for a, b in zip(sizes, sizes[1:], strict=False)]
    print("\ngrowth with the sessions: k in figure ~ sessions^k (1 linear, below 1 sub-linear)")
    print(f"{'':<38}" + "".join(f"{s:>9}" for s in sizes) + "".join(f"{s:>12}" for s in steps))

    def row(name: str, values: list[float | None], fmt, floor: float) -> None:
        cells = "".join(f"{'-' if v is None else fmt(v):>9}" for v in values)
        ks = []
        for i in range(len(values) - 1):
            a, b = values[i], values[i + 1]
            k = (
                None
                if a is None or b is None or min(a, b) < floor
                else exponent(a, b, *ns[i : i + 2])
            )
            ks.append(f"{'-' if k is None else f'{k:.2f}':>12}")
        print(f"{name:<38}{cells}{''.join(ks)}")

    def per_stage(name: str) -> list[StageRow | None]:
        return [next((s for s in r.stages if s.name == name), None) for r in results]

    row("train wall s", [r.train.seconds for r in results], lambda v: f"{v:.0f}", 1.0)
    row("train peak GB", [r.peak_bytes for r in results], gb, 0)
    top = results[-1]
    total = sum(s.seconds for s in top.stages)
    peak = max((s.peak_bytes for s in top.stages), default=0)
    for s in top.stages:
        if s.seconds >= 0.01 * total:
            row(f"{s.name} s", [x and x.seconds for x in per_stage(s.name)], _seconds, 1.0)
    for s in top.stages:
        if s.peak_bytes >= 0.5 * peak:
            row(f"{s.name} peak GB", [x and x.peak_bytes for x in per_stage(s.name)], gb, 0)


def _seconds(value: float) -> str:
    return f"{value:.1f}"


def summary(r: SizeResult) -> str:
    return (
        f"pipeline_scale: {r.sessions} sessions, {r.events} events, {r.products} products: "
        f"{r.train.seconds:.0f} s, peak {gb(r.peak_bytes)} GB"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--sessions", nargs="+", type=parse_size, default=list(LADDER),
        help="sizes in sessions: 20000, 20k, 1M (default the ladder 1M 3M 10M)",
    )  # fmt: skip
    ap.add_argument(
        "--cache", type=Path, default=ROOT / "data" / "scale",
        help="where the shops, bundles and logs go (default data/scale, ignored by git)",
    )  # fmt: skip
    ap.add_argument(
        "--train-args", default="", help="more options for every train run, e.g. '--threads 2'"
    )
    args = ap.parse_args(argv)
    sizes = sorted(set(args.sessions))
    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    print(
        f"pipeline_scale: {', '.join(label(n) for n in sizes)} sessions; {os.cpu_count()} "
        f"cores; cache {cache}", flush=True,
    )  # fmt: skip
    results = []
    for n in sizes:
        shop, info, generation = ensure_shop(cache, n)
        manifest, stages, measured = train(cache, shop, n, shlex.split(args.train_args))
        counts = manifest.get("counts", {})
        result = SizeResult(
            sessions=n,
            events=int(info["events"]),
            products=int(info["products"]),
            trained_sessions=int(counts.get("sessions", 0)),
            trained_items=int(counts.get("items", 0)),
            generation=generation,
            train=measured,
            stages=stages,
        )
        results.append(result)
        print_size(result)
    if len(results) > 1:
        print_growth(results)
    top = results[-1]
    print(
        f"\nagainst the 10M-session targets (30 min, 8 GB on 2 cores), at {label(top.sessions)}: "
        f"time {top.train.seconds / TARGET_SECONDS:.2f}x, peak {top.peak_bytes / TARGET_BYTES:.2f}x"
    )  # fmt: skip
    print(summary(top))


if __name__ == "__main__":
    main()
