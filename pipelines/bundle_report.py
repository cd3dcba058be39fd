"""``report.html``: a bundle's overview and its product space, for people who never start the
service.

One self-contained file in each bundle: the console's own styles and drawing scripts
(serving/console/static/) inlined with the data (the overview of the manifest and the map's
points, as JSON), so it opens from a file system, a mail attachment or an object store's
browser, with no request to any host. The map's neighbours are the nearest points on the map
(there is no service to ask for the model's).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from engine.bundle import BundleWriter

REPORT = "report.html"
#: The console's files the report inlines, in this order.
_STYLES = ("console.css",)
_SCRIPTS = ("common.js", "overview.js", "map.js")


def _static() -> Path:
    """The console's static folder (found without importing the web service)."""
    spec = importlib.util.find_spec("serving.console")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "static"


_BOOT = """
"use strict";
(function (N) {
  const data = JSON.parse(document.getElementById("nowrec-data").textContent);
  N.renderOverview(document.getElementById("overview"), data.overview);
  N.createMap(document.getElementById("map"), data.map, { neighbours: N.mapNeighbours(data.map) });
})(window.Nowrec);
"""


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element (no "</" to end it, no "<!--")."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def report_html(overview: dict[str, Any], map_data: dict[str, Any]) -> str:
    """The page, given the overview (engine/bundle_overview.py) and the map payload
    (pipelines/projection.py)."""
    static = _static()
    styles = "\n".join((static / name).read_text(encoding="utf-8") for name in _STYLES)
    scripts = "\n".join((static / name).read_text(encoding="utf-8") for name in _SCRIPTS)
    version = str(overview.get("version", ""))
    data = _script_json({"overview": overview, "map": map_data})
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nowrec model {json.dumps(version)[1:-1].replace("<", "")}</title>
<link rel="icon" href="data:,">
<style>
{styles}
</style>
</head>
<body>
<header class="top"><h1>nowrec model report</h1></header>
<main>
<div id="overview"></div>
<section class="card wide" style="margin-top:1em"><h2>Product space</h2><div id="map"></div></section>
</main>
<script id="nowrec-data" type="application/json">{data}</script>
<script>
{scripts}
{_BOOT}
</script>
</body>
</html>
"""


def write_report(writer: BundleWriter, overview: dict[str, Any], map_data: dict[str, Any]) -> None:
    """Add ``report.html`` to a bundle being written (its checksum goes in the manifest)."""
    writer.path_for(REPORT).write_text(report_html(overview, map_data), encoding="utf-8")
