"""Event sources: each one turns "where the events are" into a DuckDB relation.

A source never materialises rows in Python: local files are scanned by DuckDB, BigQuery results
arrive as Arrow and are wrapped by DuckDB without a copy. Sessionization then runs as SQL over
that relation, the same for every source; or, for BigQuery with ``--sessionize-in warehouse``,
as GoogleSQL inside BigQuery, to the same contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import duckdb

if TYPE_CHECKING:
    from pipelines.sessionize import WarehouseEvents


class EventSource(Protocol):
    """Something that yields raw events as a relation on a given DuckDB connection."""

    def relation(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation | WarehouseEvents:
        """The raw events (source column names; mapping happens in sessionize); or events
        left where they are, which sessionize has cut into sessions there (BigQuery with
        ``--sessionize-in warehouse``)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What was read, for logs and the bundle manifest (no secrets)."""
        ...
