"""The canonical event schema, and how a source's column names map onto it.

Every source (Parquet/CSV through DuckDB, BigQuery through Arrow) is read as a DuckDB relation
and projected onto these canonical columns before sessionization:

========== ================================================================================
column     meaning
========== ================================================================================
session_id a visit; optional (without it, sessions are cut from ``user_id`` + ``ts``)
user_id    a visitor; needed only when there is no ``session_id``
item_id    the product viewed; required; integers or text, always handled as text
category_id the product's category; optional (without it: global negatives only)
event_type view, cart, purchase, ...; optional, used by the event-type filter
ts         when it happened: unix seconds (number), TIMESTAMP/DATE, or text such as
           ``2019-10-01 00:00:00 UTC``
position   order within a session (integers), for sources without timestamps
========== ================================================================================

At least one order column (``ts`` or ``position``) is required.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

from engine.errors import ConfigError, SchemaError

log = logging.getLogger(__name__)

# Well-known names of the same fields in public data sets and analytics exports, tried in this
# order when no explicit name is given (REES46: product_id, user_session, event_time; RetailRocket:
# visitorid, itemid, timestamp; yoochoose: SessionId, ItemId, Time). The chosen column is logged.
ALIASES: dict[str, tuple[str, ...]] = {
    "session_id": ("session_id", "user_session", "sessionid", "session"),
    "user_id": ("user_id", "userid", "visitor_id", "visitorid", "customer_id"),
    "item_id": ("item_id", "itemid", "product_id", "productid", "sku"),
    "category_id": ("category_id", "categoryid", "category"),
    "event_type": ("event_type", "eventtype", "event", "behavior", "behaviour"),
    "ts": ("ts", "timestamp", "event_time", "event_timestamp", "time"),
    "position": ("position", "pos", "seq", "step"),
}

#: Numeric timestamp units (``--ts-unit``) and how many of each make a second.
TS_UNITS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000}

INTEGER_TYPES = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    }
)
FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})
TEXT_TYPES = frozenset({"VARCHAR", "UUID"})
TIME_TYPES = frozenset(
    {
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP_S",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
        "TIMESTAMP WITH TIME ZONE",
    }
)


def quote_ident(name: str) -> str:
    """A DuckDB identifier, double-quoted, so any column name is safe in generated SQL."""
    return '"' + name.replace('"', '""') + '"'


def _kind(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t in INTEGER_TYPES:
        return "integer"
    if t in FLOAT_TYPES or t.startswith("DECIMAL"):
        return "number"
    if t in TEXT_TYPES:
        return "text"
    if t in TIME_TYPES:
        return "time"
    if t == "BOOLEAN":
        return "boolean"
    return "other"  # lists, structs, maps, blobs, intervals...


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column holds each canonical field.

    A field left as ``None`` means "the column of that name (or a well-known alias, see
    :data:`ALIASES`) if the source has one"; a name given explicitly must exist, otherwise
    :class:`~engine.errors.SchemaError` lists the columns that do. ``""`` means "ignore this
    field even if a column of that name exists".

    Args:
        session_id, user_id, item_id, category_id, event_type, ts, position: source column
            names of the canonical fields.
    """

    session_id: str | None = None
    user_id: str | None = None
    item_id: str | None = None
    category_id: str | None = None
    event_type: str | None = None
    ts: str | None = None
    position: str | None = None

    def resolve(self, available: Sequence[str]) -> ResolvedColumns:
        """Match the mapping against the source's columns.

        Raises:
            SchemaError: an explicitly named column is missing, there is no item column, no
                order column (``ts``/``position``), or neither a session nor a user column.
        """
        available = list(available)
        by_lower: dict[str, list[str]] = {}
        for name in available:
            by_lower.setdefault(name.lower(), []).append(name)
        listing = ", ".join(available) if available else "(none)"
        chosen: dict[str, str] = {}
        for f in fields(self):
            wanted = getattr(self, f.name)
            if wanted == "":
                continue
            if wanted is not None:
                if wanted in available:
                    chosen[f.name] = wanted
                elif len(by_lower.get(wanted.lower(), [])) == 1:
                    chosen[f.name] = by_lower[wanted.lower()][0]
                else:
                    raise SchemaError(
                        f"{f.name} column {wanted!r} not found; columns are {listing} "
                        f"(fix the --{f.name.replace('_id', '').replace('_', '-')}-col option)"
                    )
                continue
            for alias in ALIASES[f.name]:
                if alias in available:
                    chosen[f.name] = alias
                    break
                if len(by_lower.get(alias, [])) == 1:
                    chosen[f.name] = by_lower[alias][0]
                    break
        # One column cannot play two roles (e.g. ``ts`` found as alias and ``--position-col ts``).
        used: dict[str, str] = {}
        for field_name, col in list(chosen.items()):
            if col in used:
                explicit = getattr(self, field_name) is not None
                if explicit and getattr(self, used[col]) is None:
                    del chosen[used[col]]
                    used[col] = field_name
                elif not explicit:
                    del chosen[field_name]
                    continue
                else:
                    raise SchemaError(
                        f"column {col!r} is mapped to both {used[col]} and {field_name}"
                    )
            used[col] = field_name
        resolved = ResolvedColumns(chosen, tuple(available))
        resolved.check_usable()
        return resolved


@dataclass(frozen=True)
class ResolvedColumns:
    """The canonical fields a source actually provides: canonical name -> source column."""

    columns: Mapping[str, str]
    available: tuple[str, ...]

    def has(self, field: str) -> bool:
        return field in self.columns

    def __getitem__(self, field: str) -> str:
        return self.columns[field]

    def check_usable(self) -> None:
        listing = ", ".join(self.available) if self.available else "(none)"
        if not self.has("item_id"):
            raise SchemaError(
                f"no item id column (looked for {', '.join(ALIASES['item_id'])}); columns are "
                f"{listing}; name it with --item-col"
            )
        if not (self.has("ts") or self.has("position")):
            raise SchemaError(
                f"no order column: need a timestamp (--ts-col) or a position (--position-col); "
                f"columns are {listing}"
            )
        if not self.has("session_id"):
            if not self.has("user_id"):
                raise SchemaError(
                    "no session id and no user id column: name one with --session-col, or "
                    f"--user-col together with --ts-col to cut sessions; columns are {listing}"
                )
            if not self.has("ts"):
                raise SchemaError(
                    "sessions can only be cut from a user id with a timestamp column (--ts-col); "
                    f"a position alone cannot tell where a visit ends; columns are {listing}"
                )

    def describe(self) -> dict[str, str]:
        """canonical -> source column, for logs and the manifest."""
        return dict(self.columns)


def field_kinds(
    resolved: ResolvedColumns, types: Mapping[str, str], kind_of: Callable[[str], str] = _kind
) -> dict[str, str]:
    """The kind of each mapped field's column (``integer``, ``number``, ``text``, ``time``,
    ``boolean``), checked against what the field can hold.

    Args:
        types: source column -> its type name in the source's own terms (DuckDB's here,
            BigQuery's for the warehouse sessionization).
        kind_of: that type name -> its kind (``other`` for lists, structs, blobs, ...).

    Raises:
        SchemaError: a column has a type that cannot hold the field (e.g. a DOUBLE item id).
    """
    kinds: dict[str, str] = {}

    def bad_type(field: str, expected: str, hint: str = "") -> SchemaError:
        return SchemaError(
            f"{field} column {resolved[field]!r} has type {types[resolved[field]]}; expected "
            f"{expected}" + (f" ({hint})" if hint else "")
        )

    for field in resolved.columns:
        kind = kinds[field] = kind_of(types[resolved[field]])
        if field in ("item_id", "category_id") and kind not in ("integer", "text"):
            hint = (
                "a float column often holds integer ids with missing values, as pandas writes "
                "them; store them as integers or text"
                if kind == "number"
                else "cast it to integer or text in the source"
            )
            raise bad_type(field, "integers or text", hint)
        if field == "ts" and kind not in ("integer", "number", "time", "text"):
            raise bad_type("ts", "unix seconds (a number), a TIMESTAMP/DATE, or timestamp text")
        if field == "position" and kind != "integer":
            raise bad_type("position", "integers")
        if kind == "other":
            raise bad_type(field, "a plain value (text, integer, ...)")
    return kinds


def canonical_select(
    resolved: ResolvedColumns, types: Mapping[str, str], ts_unit: str = "s"
) -> list[str]:
    """SQL expressions projecting a source relation onto the canonical columns.

    Every canonical column is present in the result (NULL when the source lacks it):
    ``session_id, user_id, item_id, category_id, event_type`` as VARCHAR (empty text becomes
    NULL), ``ts`` as DOUBLE unix seconds (NULL for NULL, NaN, infinite or unparseable values),
    ``position`` as BIGINT, and ``ts_raw_bad`` (true where a non-NULL timestamp could not be
    read: counted separately from NULLs in the report).

    Raises:
        SchemaError: a column has a type that cannot hold the field (see :func:`field_kinds`).
    """
    if ts_unit not in TS_UNITS:
        raise ConfigError(f"ts unit must be s, ms or us, got {ts_unit!r}")
    divisor = TS_UNITS[ts_unit]
    kinds = field_kinds(resolved, types)
    out: list[str] = []

    def col(field: str) -> str:
        return quote_ident(resolved[field])

    for field in ("session_id", "user_id", "item_id", "category_id", "event_type"):
        if not resolved.has(field):
            out.append(f"CAST(NULL AS VARCHAR) AS {field}")
            continue
        out.append(f"NULLIF(TRIM(CAST({col(field)} AS VARCHAR)), '') AS {field}")

    if resolved.has("ts"):
        kind = kinds["ts"]
        c = col("ts")
        if kind in ("integer", "number"):
            raw = f"CAST({c} AS DOUBLE)"
            scaled = f"{raw} / {divisor}" if divisor != 1 else raw
        elif kind == "time":
            if types[resolved["ts"]].upper() == "DATE":
                raw = scaled = f"epoch(CAST({c} AS TIMESTAMP))"
            else:
                raw = scaled = f"epoch({c})"
        else:  # text
            num = f"TRY_CAST({c} AS DOUBLE)"
            raw = f"coalesce(epoch(TRY_CAST({c} AS TIMESTAMPTZ)), {num})"
            scaled = f"coalesce(epoch(TRY_CAST({c} AS TIMESTAMPTZ)), {num} / {divisor})"
        out.append(f"CASE WHEN isfinite({raw}) THEN {scaled} END AS ts")
        out.append(f"({c} IS NOT NULL AND NOT coalesce(isfinite({raw}), false)) AS ts_raw_bad")
    else:
        out.append("CAST(NULL AS DOUBLE) AS ts")
        out.append("false AS ts_raw_bad")

    if resolved.has("position"):
        out.append(f"CAST({col('position')} AS BIGINT) AS position")
    else:
        out.append("CAST(NULL AS BIGINT) AS position")
    return out
