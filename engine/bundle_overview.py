"""What a person is shown about a bundle: the console's overview and the bundle's report.html.

:func:`model_overview` picks, from a bundle's manifest, what the overview draws (version,
creation, source, counts, hyper-parameters, the ranker, held-out and test evaluation with
strategy shares, cold-start figures, the sessionization report, the projection) as plain JSON:
non-finite numbers (a NaN training loss) become ``null``, which browsers' JSON parsers accept.
The console (serving/console/) and :mod:`pipelines.bundle_report` draw it with the same script.
"""

from __future__ import annotations

import math
from typing import Any

#: Manifest entries the overview shows.
OVERVIEW_KEYS = (
    "version",
    "created_at",
    "source",
    "counts",
    "hyperparameters",
    "model_params",
    "ranker",
    "metrics",
    "sessionization",
    "metadata",
    "notes",
    "projection",
)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (strict JSON), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def model_overview(manifest: dict[str, Any]) -> dict[str, Any]:
    """The overview of a bundle, from its manifest (see the module docstring)."""
    return json_safe({k: manifest.get(k) for k in OVERVIEW_KEYS if k in manifest})
