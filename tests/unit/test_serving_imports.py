"""Serving loads what it serves, never what builds it (gensim's KeyedVectors never import the
trainer): a fresh process that starts the app and answers requests has not imported the
builder (engine/build/), the trainer, the batch pipeline or scipy's libraries."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.api_support import TOKEN, write_bundle

ROOT = Path(__file__).resolve().parents[2]

#: Modules (and their submodules) the service must not import. numba imports the top-level
#: ``scipy`` package itself (to check its version), so scipy's libraries are named instead.
FORBIDDEN = (
    "engine.build",
    "engine.corpus",
    "engine.prod2vec",
    "pipelines",
    "scipy.sparse",
    "scipy.optimize",
    "scipy.stats",
    "gensim",
    "duckdb",
)

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numba  # what numba itself imports (scipy's top package) is not the service's
    before = set(sys.modules)
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry
    from serving.app import create_app
    from serving.settings import Settings

    artifacts, logs, token = sys.argv[1:4]
    settings = Settings(
        artifacts=artifacts, logs_dir=logs, product_log=logs + "/products.jsonl",
        reload_interval_s=0, api_token=token, store_backend="memory", events_mode="embedded",
    )
    auth = {"Authorization": "Bearer " + token}
    statuses = []
    with TestClient(create_app(settings, registry=CollectorRegistry())) as client:
        events = [{"session_id": "s", "product_id": p, "ts": 1700000000 + n}
                  for n, p in enumerate(["c0_i3", "c0_i4"])]
        statuses.append(client.post("/v1/events", json={"events": events}, headers=auth))
        statuses.append(client.get("/v1/recommendations?session_id=s&product_id=c0_i5&k=5"))
        statuses.append(client.get("/v1/products/c0_i3/similar?k=5"))
        statuses.append(client.put("/v1/products/new-1", json={"category": "sofas"},
                                   headers=auth))
        statuses.append(client.get("/v1/recommendations?session_id=s&product_id=new-1"))
        statuses.append(client.get("/readyz"))
    print(json.dumps({
        "statuses": [r.status_code for r in statuses],
        "loaded": sorted(set(sys.modules) - before),
    }))
    """
)


def test_the_service_imports_no_builder_trainer_pipeline_or_scipy_library(tmp_path):
    write_bundle(tmp_path / "artifacts", "v1")
    (tmp_path / "logs").mkdir()
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "artifacts"), str(tmp_path / "logs"),
         TOKEN],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["statuses"] == [200, 200, 200, 201, 200, 200], out["statuses"]
    loaded = out["loaded"]
    assert "engine.model" in loaded and "engine.recommender" in loaded  # it did serve
    found = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert found == [], f"the service imported {found}"
