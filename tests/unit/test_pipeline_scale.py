"""benchmarks/pipeline_scale.py: sizes, growth exponents, the stages it reads, and a whole run
at a tiny size (the same code as the 10M-session ladder, in seconds)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from benchmarks import pipeline_scale as bench
from tests.fixtures_shop import FAST, TINY_DATA
from tests.process_support import ROOT

SUMMARY = re.compile(
    r"^pipeline_scale: (\d+) sessions, (\d+) events, (\d+) products: (\d+) s, peak (\d+\.\d\d) GB$"
)


def test_sizes_read_as_written_and_shops_scale_with_them():
    assert [bench.parse_size(s) for s in ("20000", "20k", "1M", "2.5m")] == [
        20_000, 20_000, 1_000_000, 2_500_000,
    ]  # fmt: skip
    assert [bench.label(n) for n in (1_000_000, 10_000_000, 20_000, 700)] == [
        "1m", "10m", "20k", "700",
    ]  # fmt: skip
    with pytest.raises(Exception, match="not a size"):
        bench.parse_size("ten")
    one = bench.shop_config(1_000_000)  # issue 9's shop: 300k products, 400k visitors
    assert (one.n_products, one.n_users, one.n_sessions) == (300_000, 400_000, 1_000_000)
    ten = bench.shop_config(10_000_000)
    assert (ten.n_products, ten.n_users) == (1_000_000, 4_000_000)  # products capped at 1M
    assert bench.shop_config(100).n_products == 200  # the generator's smallest catalogue


def test_growth_exponent_is_one_for_linear_and_below_for_sub_linear():
    assert bench.exponent(10.0, 30.0, 1_000_000, 3_000_000) == pytest.approx(1.0)
    assert bench.exponent(10.0, 10.0, 1, 10) == pytest.approx(0.0)
    assert bench.exponent(2.0, 8.0, 1, 2) == pytest.approx(2.0)
    assert bench.exponent(0.0, 8.0, 1, 2) is None


def test_stages_come_from_the_manifest_or_else_from_the_log(capsys):
    log = "reading\nstage sessionize: 12.5 s, peak 1.20 GB\nnoise\nstage prod2vec: 100.0 s, peak 2.00 GB\n"
    logged = bench.stages_from_log(log)
    assert logged == [
        bench.StageRow("sessionize", 12.5, 1_200_000_000),
        bench.StageRow("prod2vec", 100.0, 2_000_000_000),
    ]
    manifest = {"stages": {"stages": [{"name": "sessionize", "seconds": 12.49, "peak_bytes": 7}]}}
    assert bench.read_stages(manifest, log, "t") == [bench.StageRow("sessionize", 12.49, 7)]
    assert bench.read_stages({}, log, "t") == logged  # a manifest without stages
    assert "reading them from the log" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="predates the stage timings"):
        bench.read_stages({}, "no stages here", "t")


def test_a_cached_shop_is_reused_only_for_the_same_configuration(tmp_path):
    config = bench.shop_config(700)
    for name in ("events.parquet", "products.parquet", "test_pairs.parquet"):
        (tmp_path / name).write_bytes(b"x")
    assert bench.cached_shop_info(tmp_path, config) is None  # no info file: incomplete
    info = {"config": bench.asdict(config), "events": 5}
    (tmp_path / "demo_shop.json").write_text(json.dumps(info))
    assert bench.cached_shop_info(tmp_path, config) == info
    assert bench.cached_shop_info(tmp_path, bench.shop_config(1000)) is None


@pytest.mark.slow
def test_a_tiny_ladder_runs_the_pipeline_and_ends_with_the_summary_line(tmp_path):
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "pipeline_scale.py"),
        "--sessions", "700", "1k", "--cache", str(tmp_path),
        "--train-args", " ".join([*FAST, *TINY_DATA]),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    match = SUMMARY.match(lines[-1])
    assert match, lines[-1]
    info = json.loads((tmp_path / "s1k" / "demo_shop.json").read_text())
    assert [int(g) for g in match.groups()[:3]] == [1000, info["events"], info["products"]]
    assert info["products"] == 300  # 0.3 x sessions
    # every stage the run kept in its manifest is a row of the 1k table, with its time
    manifest = json.loads(next((tmp_path / "runs" / "art-1k").glob("*/manifest.json")).read_text())
    kept = manifest["stages"]["stages"]
    assert {"sessionize", "prod2vec", "evaluation"} <= {s["name"] for s in kept}
    table = done.stdout[done.stdout.index("\n1k: ") : done.stdout.index("\ngrowth")]
    for stage in kept:
        row = f"{stage['name']:<36} {stage['seconds']:>8.1f}"
        assert row in table, row
    assert "k 700->1k" in done.stdout
    assert re.search(r"^train wall s +\d+ +\d+ +-?\d+\.\d\d$", done.stdout, re.M)
    assert (tmp_path / "runs" / "train-1k.log").read_text().count("stage ") >= len(kept)


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux /proc")
def test_the_peak_survives_the_pipelines_reset_of_the_high_water_mark(tmp_path):
    # pipelines/stages.py resets the kernel's high-water mark at each stage; wait4 (and
    # /usr/bin/time) read that counter, so alone they miss a peak before the last reset.
    child = (
        "import time, numpy as np\n"
        "block = np.ones(300_000_000 // 8)\n"
        "time.sleep(1.0)\n"
        "del block\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "time.sleep(0.5)\n"
    )
    # Measured from a small parent: a child's wait4 figure also counts the high-water mark of
    # the process it was forked from (pytest's, here), up to its exec.
    parent = (
        "import sys\n"
        "from benchmarks import pipeline_scale as bench\n"
        f"m = bench.run_measured([sys.executable, '-c', {child!r}], "
        f"bench.Path({str(tmp_path / 'log')!r}), 't')\n"
        "print(m.wait4_bytes, m.peak_bytes)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", parent], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wait4_bytes, peak_bytes = map(int, done.stdout.split()[-2:])
    assert wait4_bytes < 250e6  # the counter after the reset (or the small parent's)
    assert peak_bytes >= 300e6  # the block, sampled while it was held
