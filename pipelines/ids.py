"""Training's side of the one id policy (:mod:`engine.ids`): which ids of a source the API
could not accept.

Sessionization drops the events of such items, and the metadata reader the products, each with
a counted reason: an item the service would refuse to hear about must not be trained.

The check runs over a DuckDB relation. Ids of printable ASCII (the usual case: numbers, SKUs)
within the length are valid by the policy's definition and stay in DuckDB; only the distinct
other ones (non-ASCII, long) reach Python, where :func:`engine.ids.id_problem` decides.
"""

from __future__ import annotations

import duckdb

from engine.ids import MAX_ID_CHARS, id_problem

# Printable ASCII with at least one non-space: a subset of what the policy accepts.
_PLAIN_ASCII = "'[ -~]*[!-~][ -~]*'"


def invalid_ids(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> dict[str, str]:
    """``{id: what is wrong}`` for every distinct non-NULL ``column`` value of ``relation`` (a
    table or view name) that breaks the id policy; empty when all are valid."""
    rows = con.execute(
        f"SELECT DISTINCT {column} FROM {relation} WHERE {column} IS NOT NULL "
        f"AND NOT (length({column}) <= {MAX_ID_CHARS} "
        f"AND regexp_full_match({column}, {_PLAIN_ASCII}))"
    ).fetchall()
    return {value: problem for (value,) in rows if (problem := id_problem(value)) is not None}


def examples(bad: dict[str, str], n: int = 3, total: int | None = None) -> str:
    """A few of ``bad``'s ids with their problem, for a log line or a report detail;
    ``total``: how many bad ids there are in all, when ``bad`` holds only some of them."""
    shown = sorted(bad)[:n]
    total = len(bad) if total is None else total
    more = f" and {total - len(shown):,} more" if total > len(shown) else ""
    return "; ".join(f"{_short(i)} {bad[i]}" for i in shown) + more


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")
