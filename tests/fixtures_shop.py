"""A tiny generated demo shop (300 products, 500 visits) and fast trainer options, shared by
the tests that run the train command end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main

#: gensim, 1 epoch, 8 dimensions: a bundle in a second or two
FAST = ["--backend", "gensim", "--epochs", "1", "--threads", "1", "--dim", "8"]
#: publishing guards low enough for a handful of test sessions (the guards have their tests)
TINY_DATA = ["--min-sessions", "1", "--min-items", "1"]


@pytest.fixture(scope="session")
def tiny_shop(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("shop")
    args = ["demo-data", "--out", str(d), "--products", "300", "--sessions", "500"]
    assert main([*args, "--users", "150"]) == 0
    return d


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_shop, tmp_path_factory) -> Path:
    """An artifacts root with one bundle of the tiny shop, written by the train command (its
    projection and report.html included). Read it; copy it to change it."""
    out = tmp_path_factory.mktemp("tiny-artifacts")
    args = ["train", "--path", str(tiny_shop), "--out", str(out), *FAST, *TINY_DATA]
    assert main(args) == 0
    return out
