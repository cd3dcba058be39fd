"""Training speed and memory: our numba prod2vec kernel against gensim Word2Vec, same input.

Both train skip-gram with negative sampling on the same corpus with the same dimension, window,
epochs, threads, subsampling and total negatives per pair (ours: G global + C same-category;
gensim: G + C global). Each run is a fresh subprocess, ours and gensim alternately, so that peak
memory is measured per run and a noisy shared machine hits both alike; the ratio printed is the
median of the per-repeat ratios.

What is timed: only the training loop (gensim's ``train()``, our block loop). Not timed: numba
compilation (each of our runs first trains a three-session corpus, which compiles the kernel or
loads it from numba's cache), gensim's ``build_vocab`` and our table building.

Memory: peak resident set size during ``fit`` (native allocations included), and its growth
over the resident size just before ``fit`` (the corpus is already loaded in both).

    python benchmarks/train_speed.py [--threads 1,2] [--dim 100] [--epochs 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.corpora import diginetica_dir, load_corpus, missing_diginetica  # noqa: E402
from support.memory import peak_mib, reset_peak, rss_mib  # noqa: E402


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(args: argparse.Namespace) -> None:
    """One training run; prints one JSON line with its measurements."""
    from engine.prod2vec import Prod2VecConfig, make_trainer

    corpus = load_corpus(args.corpus)
    if args.backend == "numba":
        from engine.prod2vec.trainer import warm_up

        warm_up()
    else:
        import gensim.models.word2vec  # noqa: F401  (import cost outside the measurement)
    config = Prod2VecConfig(
        dim=args.dim,
        window=args.window,
        epochs=args.epochs,
        negatives=args.negatives,
        category_negatives=args.category_negatives,
        threads=args.threads,
        backend=args.backend,
    )
    trainer = make_trainer(config, progress=False)
    before = rss_mib()
    exact_peak = reset_peak()
    cpu0 = _cpu_seconds()
    trainer.fit(corpus)
    cpu = _cpu_seconds() - cpu0
    peak = peak_mib()
    print(
        json.dumps(
            {
                "tokens_per_s": trainer.stats["tokens_per_s"],
                "seconds": trainer.stats["seconds"],
                "cpu_seconds": cpu,
                "tokens": trainer.stats["tokens"],
                "rss_before_mib": before,
                "peak_mib": peak,
                "peak_is_fit_only": exact_peak,
                "negatives_per_pair": trainer.stats.get("negatives_per_pair"),
            }
        )
    )


def run_one(args: argparse.Namespace, corpus: str, backend: str, threads: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--backend",
        backend,
        "--corpus",
        corpus,
        "--threads",
        str(threads),
        "--dim",
        str(args.dim),
        "--window",
        str(args.window),
        "--epochs",
        str(args.epochs),
        "--negatives",
        str(args.negatives),
        "--category-negatives",
        str(args.category_negatives),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{backend} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--negatives", type=int, default=5, help="ours: global negatives (G)")
    p.add_argument(
        "--category-negatives",
        type=int,
        default=5,
        help="ours: same-category negatives (C); gensim draws G + C global negatives",
    )
    p.add_argument("--repeats", type=int, default=2, help="runs of each backend per setting")
    p.add_argument(
        "--corpora",
        default="diginetica,synthetic:5000000",
        help="comma-separated: diginetica, synthetic[:N_TOKENS] (default both, 5M tokens)",
    )
    p.add_argument(
        "--quick", action="store_true", help="1 epoch, 1 repeat, synthetic corpus of 1M tokens"
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="numba", help=argparse.SUPPRESS)
    p.add_argument("--corpus", default="diginetica", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        worker(args)
        return
    if args.quick:
        args.epochs, args.repeats = 1, 1
        args.corpora = args.corpora.replace("synthetic:5000000", "synthetic:1000000")

    threads = [int(t) for t in args.threads.split(",")]
    corpora = args.corpora.split(",")
    if "diginetica" in corpora and diginetica_dir() is None:
        print(f"skipping the Diginetica corpus: {missing_diginetica()}")
        corpora.remove("diginetica")
    print(
        f"prod2vec training speed, ours (numba, {args.negatives} global + "
        f"{args.category_negatives} same-category negatives) vs gensim "
        f"({args.negatives + args.category_negatives} global negatives); dim {args.dim}, "
        f"window {args.window}, {args.epochs} epochs, {args.repeats} repeat(s).\n"
        "Timed: the training loop only; numba compile time excluded (warm-up on a tiny corpus "
        "first), gensim build_vocab excluded. Ratio = median over repeats of ours/gensim.\n"
        "Memory: peak RSS during fit, and its growth over the RSS just before fit."
    )
    header = (
        f"{'corpus':<20} {'thr':>3} {'ours tok/s':>11} {'gensim tok/s':>12} {'ratio':>6} "
        f"{'cpu ratio':>9} {'peak MiB ours/gensim':>21} {'ratio':>6} {'growth MiB ours/gensim':>23}"
    )
    started = time.perf_counter()
    rows = []
    for corpus in corpora:
        for t in threads:
            runs: dict[str, list[dict]] = {"numba": [], "gensim": []}
            for rep in range(args.repeats):
                order = ("numba", "gensim") if rep % 2 == 0 else ("gensim", "numba")
                for backend in order:
                    runs[backend].append(run_one(args, corpus, backend, t))
            ours, peer = runs["numba"], runs["gensim"]
            ratio = statistics.median(
                a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(ours, peer, strict=True)
            )
            cpu_ratio = statistics.median(
                (a["tokens"] / a["cpu_seconds"]) / (b["tokens"] / b["cpu_seconds"])
                for a, b in zip(ours, peer, strict=True)
            )

            def med(rs: list[dict], key: str) -> float:
                return statistics.median(r[key] for r in rs)

            growth = [med(rs, "peak_mib") - med(rs, "rss_before_mib") for rs in (ours, peer)]
            row = (
                f"{corpus:<20} {t:>3} {med(ours, 'tokens_per_s'):>11,.0f} "
                f"{med(peer, 'tokens_per_s'):>12,.0f} {ratio:>6.2f} {cpu_ratio:>9.2f} "
                f"{med(ours, 'peak_mib'):>10,.0f} / {med(peer, 'peak_mib'):>8,.0f} "
                f"{med(ours, 'peak_mib') / med(peer, 'peak_mib'):>6.2f} "
                f"{growth[0]:>11,.0f} / {growth[1]:>9,.0f}"
            )
            used = med(ours, "negatives_per_pair")
            row += f"   (ours used {used:.2f} negatives a pair)"
            rows.append(row)
            print(("\n" + header + "\n" if len(rows) == 1 else "") + row, flush=True)
    exact = all(r["peak_is_fit_only"] for r in ours + peer)
    if not exact:
        print("note: could not reset the peak RSS; peaks include loading the corpus")
    print(
        f"summary: {len(rows)} settings in {time.perf_counter() - started:.0f} s; tokens/s ratio "
        "ours/gensim >= 1.0 is the target (cpu ratio: tokens per CPU-second, less sensitive to "
        "other load on the machine)"
    )


if __name__ == "__main__":
    main()
