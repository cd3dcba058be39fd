"""Event sources: each one turns "where the events are" into a DuckDB relation.

A source never materialises rows in Python: local files are scanned by DuckDB, BigQuery results
arrive as Arrow and are wrapped by DuckDB without a copy. Sessionization then runs as SQL over
that relation, the same for every source.
"""

from __future__ import annotations

from typing import Any, Protocol

import duckdb


class EventSource(Protocol):
    """Something that yields raw events as a relation on a given DuckDB connection."""

    def relation(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        """The raw events (source column names; mapping happens in sessionize)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What was read, for logs and the bundle manifest (no secrets)."""
        ...
