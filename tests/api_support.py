"""Tiny model bundles and app helpers for the API tests (a second or two to build, on disk).

The shop is tests/synthetic.py's two disjoint categories with a planted pattern (``c0_i3`` is
always followed by ``c0_i17``). Item ids can be renamed (``README_IDS`` gives them the demo
shop's ids used in the README's example) and every item has metadata, so cold start works.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from engine.build import build_model, write_model
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from engine.bundle import BundleWriter, switch_latest
from engine.catalog import ProductMetadata
from engine.corpus import SessionCorpus
from engine.model import ModelParams
from engine.prod2vec import Prod2VecConfig, make_trainer
from serving.app import create_app
from serving.model_manager import artifacts_path
from serving.settings import Settings
from tests.synthetic import category_sessions

TOKEN = "test-token-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Category names of the two synthetic categories.
CATEGORIES = ("sofas", "toys")


def synthetic_id(c: int, i: int) -> str:
    return f"c{c}_i{i}"


def readme_id(c: int, i: int) -> str:
    """Ids of the demo shop: 102460..102499 are sofas, 103690..103729 toys (as in the demo)."""
    return str((102460, 103690)[c] + i)


def _parse(item: str) -> tuple[int, int]:
    c, i = item.split("_i")
    return int(c[1:]), int(i)


@lru_cache(maxsize=4)
def synthetic_model(naming: Callable[[int, int], str] = synthetic_id, seed: int = 0):
    """A small trained model of the synthetic shop (cached; the callers only write it)."""
    sessions, item_category = category_sessions(seed=seed)
    rename = {item: naming(*_parse(item)) for item in item_category}
    corpus = SessionCorpus.from_sequences(
        [[rename[i] for i in s] for s in sessions],
        {rename[i]: CATEGORIES[_parse(i)[0]] for i in item_category},
    )
    vectors = make_trainer(
        Prod2VecConfig(backend="gensim", dim=8, epochs=10, alpha=0.025, threads=1, seed=1)
    ).fit(corpus)
    rng = np.random.default_rng(seed)
    meta = {
        rename[item]: ProductMetadata(
            category=CATEGORIES[_parse(item)[0]],
            brand=f"brand{_parse(item)[1] % 4}",
            price=float(np.round(rng.uniform(10, 100), 2)),
            title=f"{CATEGORIES[_parse(item)[0]]} item {_parse(item)[1]}",
        )
        for item in item_category
    }
    return build_model(corpus, vectors, meta, ModelParams(), threads=1)


def write_bundle(
    root: Path,
    version: str,
    *,
    naming: Callable[[int, int], str] = synthetic_id,
    make_latest: bool = True,
) -> Path:
    """Write the small model as bundle ``version`` under ``root`` (and point latest at it)."""
    model = synthetic_model(naming)
    with BundleWriter(root, version=version) as w:
        write_model(model, w)
        w.update_manifest(source={"kind": "synthetic"})
        return w.commit(make_latest=make_latest)


def corrupt_copy(root: Path, source_version: str, version: str) -> Path:
    """A new bundle version whose vectors file has one byte flipped; latest points at it."""
    src, dst = root / source_version, root / version
    shutil.copytree(src, dst)
    target = dst / "vectors_input.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    switch_latest(root, version)
    return dst


def logs_dir_for(artifacts) -> Path:
    """Where a test app's impression and outcome logs go: beside its artifacts."""
    root = artifacts_path(str(artifacts))
    return root.parent / f"{root.name}-logs"


def api_settings(artifacts: Path, **overrides) -> Settings:
    """Settings for a test app: no watcher, a token, the memory store, logs beside the
    artifacts."""
    values = {
        "artifacts": str(artifacts),
        "logs_dir": str(logs_dir_for(artifacts)),
        "reload_interval_s": 0,
        "api_token": TOKEN,
        "store_backend": "memory",
        "events_mode": "embedded",
        "embedded_consumer": False,
        "mode": "development",
    }
    return Settings(**(values | overrides))


@contextmanager
def api_client(artifacts: Path, **overrides) -> Iterator[TestClient]:
    """A TestClient of a fresh app (its own metrics registry), started and stopped.

    Its product log is a file of its own, removed afterwards (apps of one test module share
    the artifacts, and so would share the default log beside them), unless ``product_log``
    is given."""
    with tempfile.TemporaryDirectory(prefix="nowrec-products-") as logs:
        overrides.setdefault("product_log", str(Path(logs) / "product-updates.jsonl"))
        app = create_app(api_settings(artifacts, **overrides), registry=CollectorRegistry())
        with TestClient(app) as client:
            yield client


def metric_value(text: str, sample: str) -> float:
    """The value of one sample line of Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[-1])
    return 0.0
