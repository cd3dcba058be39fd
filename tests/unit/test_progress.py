"""Progress reports: a bar on a terminal, periodic log lines anywhere else."""

from __future__ import annotations

import io
import logging

from tqdm import tqdm

from engine.progress import LogProgress, progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_anything_else_log_lines():
    assert isinstance(progress(total=3, desc="x", stream=Terminal()), tqdm)
    assert isinstance(progress(total=3, desc="x", stream=io.StringIO()), LogProgress)
    closed = io.StringIO()
    closed.close()
    assert isinstance(progress(total=3, desc="x", stream=closed), LogProgress)


def test_log_lines_come_every_interval_and_at_the_end(caplog):
    clock = Clock()
    bar = progress(total=1000, desc="prod2vec", unit="tok", stream=io.StringIO(), every_s=30,
                   clock=clock)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="nowrec.progress"):
        for _ in range(10):
            clock.now += 10  # one update every 10 s: a line every third one
            bar.set_postfix(epoch=2, loss="0.4113", refresh=False)
            bar.update(100)
        bar.close()
        bar.close()  # closing twice logs once
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "prod2vec: 300/1,000 tok (30%), 10 tok/s, epoch=2, loss=0.4113"
    assert len(lines) == 4  # at 30, 60 and 90 s, and the end
    assert (
        lines[-1] == "prod2vec: 1,000/1,000 tok (100%), 10 tok/s, epoch=2, loss=0.4113 in 100.0 s"
    )


def test_iterating_reports_the_items_and_closes(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="nowrec.progress"):
        items = list(progress(["a", "b"], desc="evaluating", unit="pair", stream=io.StringIO(),
                              clock=clock))  # fmt: skip
        assert list(progress(iter("xy"), desc="off", enabled=False)) == ["x", "y"]
    assert items == ["a", "b"]
    assert [r.getMessage() for r in caplog.records] == ["evaluating: 2/2 pair (100%) in 0.0 s"]
