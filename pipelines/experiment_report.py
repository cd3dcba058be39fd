"""``python -m pipelines experiment-report``: how an experiment's variants compare.

Reads the impression and outcome logs (local JSON-lines files through DuckDB, or BigQuery
tables; the same query, pipelines/experiment_query.py), attributes outcomes to answers, and
prints per variant: sessions, impressions, click-through, share of sessions with a click,
cart and purchase rates, revenue per session, each with a 95% interval (the session as the
unit), the lift against the control with its p-value, a sample-ratio check, and a verdict
that waits for enough data (engine/experiments/stats.py).

``--allocate FILE`` also writes the next traffic shares of a Thompson experiment, which the
service reads (serving/experiments.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from engine.errors import ConfigError
from engine.experiments.assignment import thompson_shares
from engine.experiments.config import Experiment, parse_experiments
from engine.experiments.stats import DESCRIPTIONS, METRICS, Report, compare
from pipelines.experiment_query import ReportWindow, sessions_from_bigquery, sessions_from_logs
from pipelines.timewindow import parse_time

log = logging.getLogger("nowrec.report")


def experiment_from_file(path: str | Path, name: str) -> Experiment:
    """Experiment ``name`` as declared in the service's experiments file (TOML)."""
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the experiments file {path}: {exc}") from None
    experiment = parse_experiments(data).get(name)
    if experiment is None:
        raise ConfigError(f"the experiments file {path} declares no experiment {name!r}")
    return experiment


def build_report(
    sessions: pa.Table,
    experiment: Experiment,
    *,
    primary: str = "ctr",
    alpha: float = 0.05,
    min_sessions: int | None = None,
) -> Report:
    """The report of ``experiment`` from its per-session table."""
    columns = sessions.to_pydict()
    return compare(
        columns,
        experiment=experiment.name,
        variants=experiment.names,
        control=experiment.control,
        shares=experiment.shares if experiment.allocation == "fixed" else None,
        min_sessions=experiment.min_sessions if min_sessions is None else min_sessions,
        primary=primary,
        alpha=alpha,
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _num(x: float | None, name: str) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if name.startswith("revenue") else f"{x:.4f}"


def format_report(report: Report) -> str:
    """The report as text: a table per metric, then the checks and the verdict."""
    lines = [
        f"experiment {report.experiment!r}: control {report.control!r}, unit: "
        f"{report.unit} (intervals 95%, p-values of Welch's t-test, delta method)",
        "",
        "variant          sessions  impressions    clicks",
    ]
    for v in report.variants:
        lines.append(f"{v.name:<16} {v.sessions:>8} {v.impressions:>12} {v.clicks:>9}")
    for name in METRICS:
        lines += ["", f"{name}: {DESCRIPTIONS[name]}"]
        for v in report.variants:
            e = v.metrics[name]
            text = f"  {v.name:<16} {_num(e.value, name):>9}  [{_num(e.low, name)}, " \
                   f"{_num(e.high, name)}]"  # fmt: skip
            if e.p_value is not None or e.diff is not None:
                p = "-" if e.p_value is None else f"{e.p_value:.3g}"
                text += f"   lift {_pct(e.lift)}  p {p}"
            lines.append(text)
    srm = (
        "not checked (adaptive allocation: sessions are weighed by their probability)"
        if report.srm_p_value is None
        else f"p = {report.srm_p_value:.3g} ({'ok' if report.srm_ok else 'MISMATCH'})"
    )
    lines += ["", f"sample-ratio check: {srm}", f"verdict: {report.verdict}"]
    return "\n".join(lines)


def allocation_history(path: Path, experiment: Experiment, sessions: pa.Table,
                       now: float) -> dict[str, Any]:  # fmt: skip
    """The allocation file with the next Thompson shares appended (from the sessions and
    the sessions with a click of each variant)."""
    columns = sessions.to_pydict()
    counts = {v: 0 for v in experiment.names}
    clicking = {v: 0 for v in experiment.names}
    for variant, clicks in zip(columns["variant"], columns["clicks"], strict=True):
        if variant in counts:
            counts[variant] += 1
            clicking[variant] += clicks > 0
    shares = thompson_shares(
        [counts[v] for v in experiment.names],
        [clicking[v] for v in experiment.names],
        experiment.floor,
    )
    history = []
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("experiment") == experiment.name:
                history = list(old.get("history", []))
        except (OSError, ValueError) as exc:
            log.warning("starting a new allocation history: %s is not readable (%s)", path, exc)
    history.append({"since": now, "shares": dict(zip(experiment.names, shares, strict=True)),
                    "sessions": counts, "clicking_sessions": clicking})  # fmt: skip
    return {"experiment": experiment.name, "history": history}


# -- command line -------------------------------------------------------------------------


def add_parser(sub, formatter) -> None:
    r = sub.add_parser(
        "experiment-report",
        help="compare an experiment's variants from the impression and outcome logs",
        description="Attribute clicks, carts and purchases to the answers that showed them "
        "and compare the variants with the session as the unit: rates with 95%% intervals, "
        "lift against the control with p-values, a sample-ratio check and a verdict.",
        formatter_class=formatter,
    )
    r.add_argument("--experiment", required=True, help="the experiment's name")
    r.add_argument(
        "--experiments",
        metavar="FILE",
        required=True,
        help="the service's experiments file (variants, control, shares, minimum sample)",
    )
    src = r.add_argument_group("where the logs are")
    src.add_argument(
        "--logs", metavar="DIR", help="the service's NOWREC_LOGS_DIR (files sink), read by DuckDB"
    )
    src.add_argument("--impressions-table", help="bigquery: project.dataset.table of impressions")
    src.add_argument("--events-table", help="bigquery: project.dataset.table of the events")
    src.add_argument("--project", help="bigquery: project that runs (and pays for) the query")
    src.add_argument("--no-storage-api", action="store_true", help="bigquery: page over REST")
    src.add_argument("--bigquery-endpoint", metavar="URL", help="bigquery: an emulator's URL")
    src.add_argument("--bigquery-storage-endpoint", metavar="HOST:PORT",
                     help="bigquery: the emulator's Storage Read API")  # fmt: skip
    r.add_argument("--start", help="answers at or after this UTC date/time count")
    r.add_argument("--end", help="answers before this UTC date/time count")
    r.add_argument("--window-minutes", type=float, default=30.0,
                   help="a click without a recommendation id counts for an answer this recent")  # fmt: skip
    r.add_argument("--primary", choices=list(METRICS), default="ctr",
                   help="the metric the verdict is about")  # fmt: skip
    r.add_argument("--alpha", type=float, default=0.05, help="significance level")
    r.add_argument("--min-sessions", type=int, help="override the experiment's min_sessions")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument("--out", metavar="FILE", help="also write the JSON report there")
    r.add_argument("--allocate", metavar="FILE",
                   help="thompson: append the next traffic shares to this allocation file")  # fmt: skip
    r.set_defaults(func=cmd_experiment_report)


def cmd_experiment_report(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise ConfigError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.min_sessions is not None and args.min_sessions < 1:
        raise ConfigError("--min-sessions must be >= 1")
    experiment = experiment_from_file(args.experiments, args.experiment)
    window = ReportWindow(
        start=parse_time(args.start, "--start").timestamp() if args.start else 0.0,
        end=parse_time(args.end, "--end").timestamp() if args.end else 4_102_444_800.0,
        window_s=args.window_minutes * 60,
    )
    bigquery = args.impressions_table or args.events_table
    if bool(args.logs) == bool(bigquery):
        raise ConfigError(
            "give the logs either as --logs DIR (local files) or as --impressions-table and "
            "--events-table (BigQuery)"
        )
    if args.logs:
        sessions = sessions_from_logs(args.logs, experiment.name, window)
    else:
        if not (args.impressions_table and args.events_table):
            raise ConfigError("BigQuery needs both --impressions-table and --events-table")
        from pipelines.cli import _bigquery_clients

        client, storage, use_storage = _bigquery_clients(args)
        sessions = sessions_from_bigquery(
            client, args.impressions_table, args.events_table, experiment.name, window,
            bqstorage_client=storage, use_storage_api=use_storage,
        )  # fmt: skip
    report = build_report(sessions, experiment, primary=args.primary, alpha=args.alpha,
                          min_sessions=args.min_sessions)  # fmt: skip
    text = json.dumps(report.to_dict(), indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text if args.json else format_report(report))
    if args.allocate:
        if experiment.allocation != "thompson":
            raise ConfigError(f"experiment {experiment.name!r} has fixed allocation; "
                              "--allocate is for allocation = \"thompson\"")  # fmt: skip
        path = Path(args.allocate)
        data = allocation_history(path, experiment, sessions, time.time())
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)  # atomic: the service never reads half a file
        log.info("next shares of %r: %s", experiment.name, data["history"][-1]["shares"])
    return 0
