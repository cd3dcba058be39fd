"""Fixtures for the public data sets in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# NOWREC_SHARED_DATA points elsewhere (e.g. from a git worktree, where ../shared is not next to
# the checkout).
SHARED_DATA = Path(
    os.environ.get("NOWREC_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (only on the team's machines)")
    return SHARED_DATA
