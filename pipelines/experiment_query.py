"""Attribution of outcomes to answers, as one GoogleSQL query run by BigQuery or by DuckDB.

The query reads two tables, ``impressions`` (serving/impressions.py) and ``events`` (the live
event schema, serving/events.py), and returns one row per session of an experiment: its
variant (that of its first answer), the probability it had of it, its answers, and what
came of them:

- duplicates (at-least-once delivery) count once: answers by recommendation id, events by
  event id; sessions marked forgotten are left out;
- a click with a recommendation id counts for that answer when the answer showed the product
  to the session; a click without one counts for the newest answer that showed the product
  to the same session within the attribution window; a click with an id the log does not know
  counts as unattributed;
- a cart or purchase of a product the session clicked from an answer counts for it (last
  touch); revenue is price x quantity (1 when absent);
- ``purchases_all`` and ``revenue_all`` count every purchase of the session (attributed or
  not): the guard that a higher click-through did not cost sales elsewhere.

The one query text is written in GoogleSQL with query parameters (``@experiment``, ``@start``,
``@end``, ``@window``, ``@skew``); BigQuery runs it as it is, and for local JSON-lines logs
DuckDB runs it as sqlglot translates it. Table names are the only thing put into the text,
and they are validated first.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.errors import ConfigError, DataError

log = logging.getLogger("nowrec.report")

QUERY = """
WITH forgotten AS (
  SELECT DISTINCT session_id FROM {impressions} WHERE type = 'forget' AND session_id IS NOT NULL
),
imp AS (
  SELECT recommendation_id,
         ANY_VALUE(session_id) AS session_id,
         ANY_VALUE(variant) AS variant,
         ANY_VALUE(probability) AS probability,
         ANY_VALUE(ts) AS ts
  FROM {impressions}
  WHERE type = 'impression' AND experiment = @experiment
    AND ts >= @start AND ts < @end
    AND session_id IS NOT NULL AND recommendation_id IS NOT NULL
    AND session_id NOT IN (SELECT session_id FROM forgotten)
  GROUP BY recommendation_id
),
shown AS (
  SELECT DISTINCT i.recommendation_id, i.session_id, i.ts, it.product_id
  FROM {impressions} AS i, UNNEST(i.items) AS it
  WHERE i.type = 'impression' AND i.experiment = @experiment
    AND i.ts >= @start AND i.ts < @end
    AND i.recommendation_id IN (SELECT recommendation_id FROM imp)
),
first_answer AS (
  SELECT session_id, variant, probability FROM (
    SELECT session_id, variant, probability,
           ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY ts, recommendation_id) AS rn
    FROM imp
  ) AS ranked
  WHERE rn = 1
),
answers AS (
  SELECT session_id, COUNT(*) AS impressions FROM imp GROUP BY session_id
),
ev AS (
  SELECT event_id,
         ANY_VALUE(session_id) AS session_id,
         ANY_VALUE(product_id) AS product_id,
         ANY_VALUE(ts) AS ts,
         ANY_VALUE(event_type) AS event_type,
         ANY_VALUE(recommendation_id) AS recommendation_id,
         ANY_VALUE(price) AS price,
         ANY_VALUE(quantity) AS quantity
  FROM {events}
  WHERE event_type IN ('click', 'cart', 'purchase')
    AND ts >= @start - @skew AND ts < @end + @window
    AND event_id IS NOT NULL
    AND session_id IN (SELECT session_id FROM first_answer)
  GROUP BY event_id
),
click_by_id AS (
  SELECT e.event_id, s.recommendation_id, e.session_id, e.product_id, e.ts
  FROM ev AS e
  JOIN shown AS s
    ON s.recommendation_id = e.recommendation_id
   AND s.session_id = e.session_id AND s.product_id = e.product_id
  WHERE e.event_type = 'click'
),
click_by_match AS (
  SELECT event_id, recommendation_id, session_id, product_id, ts FROM (
    SELECT e.event_id, s.recommendation_id, e.session_id, e.product_id, e.ts,
           ROW_NUMBER() OVER (PARTITION BY e.event_id
                              ORDER BY s.ts DESC, s.recommendation_id DESC) AS rn
    FROM ev AS e
    JOIN shown AS s ON s.session_id = e.session_id AND s.product_id = e.product_id
    WHERE e.event_type = 'click' AND e.recommendation_id IS NULL
      AND s.ts <= e.ts + @skew AND e.ts - s.ts <= @window
  ) AS ranked
  WHERE rn = 1
),
clicks AS (
  SELECT * FROM click_by_id
  UNION ALL
  SELECT * FROM click_by_match
),
conversions AS (
  SELECT event_id, session_id, event_type, revenue FROM (
    SELECT e.event_id, e.session_id, e.event_type,
           COALESCE(e.price, 0) * COALESCE(e.quantity, 1) AS revenue,
           ROW_NUMBER() OVER (PARTITION BY e.event_id ORDER BY c.ts DESC) AS rn
    FROM ev AS e
    JOIN clicks AS c
      ON c.session_id = e.session_id AND c.product_id = e.product_id AND c.ts <= e.ts + @skew
    WHERE e.event_type IN ('cart', 'purchase')
  ) AS ranked
  WHERE rn = 1
),
per_click AS (
  SELECT session_id, COUNT(*) AS clicks FROM clicks GROUP BY session_id
),
per_conversion AS (
  SELECT session_id,
         COUNTIF(event_type = 'cart') AS carts,
         COUNTIF(event_type = 'purchase') AS purchases,
         SUM(IF(event_type = 'purchase', revenue, 0)) AS revenue
  FROM conversions GROUP BY session_id
),
per_event AS (
  SELECT session_id,
         COUNTIF(event_type = 'click') AS clicks_all,
         COUNTIF(event_type = 'purchase') AS purchases_all,
         SUM(IF(event_type = 'purchase', COALESCE(price, 0) * COALESCE(quantity, 1), 0))
           AS revenue_all
  FROM ev GROUP BY session_id
)
SELECT f.session_id, f.variant, f.probability,
       CAST(a.impressions AS INT64) AS impressions,
       CAST(COALESCE(k.clicks, 0) AS INT64) AS clicks,
       CAST(COALESCE(x.clicks_all, 0) - COALESCE(k.clicks, 0) AS INT64) AS unattributed_clicks,
       CAST(COALESCE(v.carts, 0) AS INT64) AS carts,
       CAST(COALESCE(v.purchases, 0) AS INT64) AS purchases,
       CAST(COALESCE(v.revenue, 0) AS FLOAT64) AS revenue,
       CAST(COALESCE(x.purchases_all, 0) AS INT64) AS purchases_all,
       CAST(COALESCE(x.revenue_all, 0) AS FLOAT64) AS revenue_all
FROM first_answer AS f
JOIN answers AS a ON a.session_id = f.session_id
LEFT JOIN per_click AS k ON k.session_id = f.session_id
LEFT JOIN per_conversion AS v ON v.session_id = f.session_id
LEFT JOIN per_event AS x ON x.session_id = f.session_id
ORDER BY f.session_id
"""

#: Columns of the local JSON-lines logs, as DuckDB reads them (a line that does not parse,
#: e.g. half-written before a crash, becomes a row of NULLs and is filtered out).
IMPRESSION_COLUMNS = {
    "type": "VARCHAR",
    "recommendation_id": "VARCHAR",
    "session_id": "VARCHAR",
    "experiment": "VARCHAR",
    "variant": "VARCHAR",
    "probability": "DOUBLE",
    "ts": "DOUBLE",
    "items": "STRUCT(product_id VARCHAR, position INTEGER, score DOUBLE)[]",
}
EVENT_COLUMNS = {
    "event_id": "VARCHAR",
    "session_id": "VARCHAR",
    "product_id": "VARCHAR",
    "ts": "DOUBLE",
    "event_type": "VARCHAR",
    "recommendation_id": "VARCHAR",
    "price": "DOUBLE",
    "quantity": "BIGINT",
}


@dataclass(frozen=True)
class ReportWindow:
    """Which answers count (``start <= ts < end``, unix seconds) and how outcomes attach.

    Args:
        window_s: a click without a recommendation id counts for an answer this recent.
        skew_s: an outcome stamped this much before its answer still counts (device clocks).
    """

    start: float = 0.0
    end: float = 4_102_444_800.0
    window_s: float = 1800.0
    skew_s: float = 60.0

    def __post_init__(self) -> None:
        values = (self.start, self.end, self.window_s, self.skew_s)
        if not all(math.isfinite(v) for v in values) or self.start >= self.end:
            raise ConfigError(f"the report window needs finite start < end, got {self}")
        if self.window_s <= 0 or self.skew_s < 0:
            raise ConfigError("the attribution window must be > 0 and the skew >= 0")

    def parameters(self, experiment: str) -> dict[str, Any]:
        return {"experiment": experiment, "start": self.start, "end": self.end,
                "window": self.window_s, "skew": self.skew_s}  # fmt: skip


def duckdb_query() -> str:
    """The query as DuckDB runs it (translated from GoogleSQL by sqlglot)."""
    import sqlglot

    text = QUERY.format(impressions="impressions", events="events")
    return sqlglot.transpile(text, read="bigquery", write="duckdb")[0]


def _local_table(con, name: str, files: list[Path], columns: dict[str, str]) -> None:
    if not files:
        cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items())
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT {cols} LIMIT 0")
        return
    relation = con.read_json(
        [str(f) for f in files], columns=columns, format="newline_delimited", ignore_errors=True
    )
    relation.create_view(name, replace=True)


def sessions_from_logs(logs_dir: str | Path, experiment: str, window: ReportWindow) -> pa.Table:
    """The per-session table of ``experiment`` from the local logs (files sink).

    Args:
        logs_dir: the service's ``NOWREC_LOGS_DIR`` (``impressions/`` and ``events/`` in it).

    Raises:
        DataError: no impression log there.
    """
    root = Path(logs_dir)
    impressions = sorted((root / "impressions").glob("*.jsonl"))
    if not impressions:
        raise DataError(
            f"no impression logs in {root / 'impressions'}: point --logs at the service's "
            "NOWREC_LOGS_DIR (the files sink writes impressions/ and events/ there)"
        )
    con = duckdb.connect()
    try:
        _local_table(con, "impressions", impressions, IMPRESSION_COLUMNS)
        _local_table(con, "events", sorted((root / "events").glob("*.jsonl")), EVENT_COLUMNS)
        return con.execute(duckdb_query(), window.parameters(experiment)).to_arrow_table()
    finally:
        con.close()


def sessions_from_bigquery(
    client,
    impressions_table: str,
    events_table: str,
    experiment: str,
    window: ReportWindow,
    *,
    bqstorage_client=None,
    use_storage_api: bool = True,
) -> pa.Table:
    """The per-session table of ``experiment`` from BigQuery tables with the logs' columns
    (e.g. the impression and event topics sunk into BigQuery)."""
    from google.cloud import bigquery

    from pipelines.sources.bigquery import parse_table_id, query_arrow

    tables = {
        key: "`{}.{}.{}`".format(*parse_table_id(name, client.project))
        for key, name in (("impressions", impressions_table), ("events", events_table))
    }
    kinds = {"experiment": "STRING", "start": "FLOAT64", "end": "FLOAT64",
             "window": "FLOAT64", "skew": "FLOAT64"}  # fmt: skip
    params = [
        bigquery.ScalarQueryParameter(name, kinds[name], value)
        for name, value in window.parameters(experiment).items()
    ]
    arrow, _ = query_arrow(
        client, QUERY.format(**tables), params, f"experiment report of {experiment!r}",
        bqstorage_client=bqstorage_client, use_storage_api=use_storage_api,
    )  # fmt: skip
    return arrow
