"""The attribution query over local logs (DuckDB) and the experiment-report command."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.errors import DataError
from pipelines.cli import main
from pipelines.experiment_query import ReportWindow, sessions_from_logs
from tests.experiment_logs import EXPECTED, WINDOW, as_tuples, write_logs

EXPERIMENTS = """
[[experiments]]
name = "exp"
control = "A"
variants = [ { name = "A", weight = 1, strategy = "popular" }, { name = "B", weight = 1 } ]
"""


def test_attribution_rules_on_local_logs(tmp_path):
    logs = write_logs(tmp_path / "logs")
    table = sessions_from_logs(logs, "exp", ReportWindow(**WINDOW))
    assert as_tuples(table) == EXPECTED


def test_a_shorter_window_attributes_less(tmp_path):
    logs = write_logs(tmp_path / "logs")
    table = sessions_from_logs(logs, "exp", ReportWindow(**WINDOW, window_s=10))
    got = as_tuples(table)
    assert got["s2"][2] == 0 and got["s2"][3] == 1  # the click 20 s after r4 is too late now
    assert got["s1"] == EXPECTED["s1"]  # a click by id does not need the window


def test_no_logs_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no impression logs"):
        sessions_from_logs(tmp_path, "exp", ReportWindow())


def test_the_command_prints_the_report_and_writes_json(tmp_path, capsys):
    logs = write_logs(tmp_path / "logs")
    config = tmp_path / "experiments.toml"
    config.write_text(EXPERIMENTS)
    out = tmp_path / "report.json"
    start, end = (datetime.fromtimestamp(WINDOW[k], UTC).isoformat() for k in ("start", "end"))
    args = ["experiment-report", "--experiment", "exp", "--experiments", str(config),
            "--logs", str(logs), "--start", start, "--end", end, "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "verdict: not enough data" in text and "sample-ratio check: p = " in text
    report = json.loads(out.read_text())
    assert [v["sessions"] for v in report["variants"]] == [1, 2]
    assert report["variants"][0]["metrics"]["revenue_per_session"]["value"] == 30.0
    assert main([*args[:-2], "--experiment", "nope"]) == 2  # not declared: a config error
    assert main(["experiment-report", "--experiment", "exp", "--experiments", str(config)]) == 2
