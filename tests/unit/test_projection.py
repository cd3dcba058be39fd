"""The product space in the bundle: which products are drawn, where (PCA), how the arrays are
checked when read, and report.html, the page people open without the service."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.build import write_model
from engine.bundle import Bundle, BundleWriter
from engine.bundle_overview import model_overview
from engine.errors import BundleError
from engine.model import RecommenderModel
from engine.projection import ROWS, XY, map_payload, read_projection, write_projection
from pipelines.bundle_report import REPORT, report_html
from pipelines.projection import pca_2d, project_model, sample_rows
from tests.api_support import CATEGORIES, synthetic_model
from tests.unit.test_bundle_checks import _edit_array


def test_all_products_are_drawn_when_they_fit():
    assert sample_rows(np.array([5, 1, 9]), max_points=3).tolist() == [0, 1, 2]


def test_a_large_catalogue_keeps_the_most_viewed_half_and_a_uniform_draw_of_the_rest():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 1000, size=50_000)
    rows = sample_rows(counts, max_points=2_000, seed=3)
    assert len(rows) == 2_000 and (np.diff(rows) > 0).all()
    top = np.argsort(-counts, kind="stable")[:1_000]
    assert set(top.tolist()) <= set(rows.tolist())
    rest = np.setdiff1d(rows, top)
    # the other half spreads over the whole catalogue, not one end of it
    assert rest.min() < 5_000 and rest.max() > 45_000
    assert np.array_equal(rows, sample_rows(counts, max_points=2_000, seed=3))  # same every run


def test_pca_puts_two_categories_apart_on_its_first_axis():
    rng = np.random.default_rng(0)
    direction = np.zeros(16)
    direction[3] = 1.0
    a = rng.normal(0, 0.3, (300, 16)) + 2 * direction
    b = rng.normal(0, 0.3, (300, 16)) - 2 * direction
    vectors = np.vstack([a, b]).astype(np.float32)
    rows = np.arange(600)
    xy, explained = pca_2d([vectors], rows)
    assert xy.shape == (600, 2) and xy.dtype == np.float32
    assert explained[0] > 0.5 > explained[1]
    first, second = xy[:300, 0].mean(), xy[300:, 0].mean()
    assert abs(first - second) > 1.0 and np.sign(xy[:300, 0]).std() < 0.2
    # the covariance in chunks of several blocks is the same PCA
    xy2, _ = pca_2d([vectors[:250], vectors[250:]], rows)
    assert np.allclose(xy, xy2, atol=1e-5)


def test_a_model_projection_covers_its_products_and_keeps_categories_apart():
    model = synthetic_model()
    projection = project_model(model)
    n = model.catalog.n_rows
    assert projection.rows.tolist() == list(range(n))
    assert projection.info["points"] == n and projection.info["method"] == "pca"
    payload = map_payload(model, projection)
    assert payload["points"] == n and payload["id"][0] == model.catalog.state.id_of(0)
    assert sorted(payload["categories"]) == sorted(CATEGORIES)
    # the synthetic shop's two disjoint categories: nearest map neighbours share a category
    xy, cats = projection.xy, np.array(payload["cat"])
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (cats[d.argmin(axis=1)] == cats).mean() > 0.9


def _bundle_with_projection(root: Path, projection=None) -> Path:
    model = synthetic_model()
    with BundleWriter(root, version="v1") as w:
        write_model(model, w)
        if projection is not False:
            write_projection(w, projection or project_model(model))
        return w.commit()


def test_the_projection_round_trips_and_a_bundle_without_one_still_loads(tmp_path):
    model = synthetic_model()
    bundle_dir = _bundle_with_projection(tmp_path / "a")
    read = read_projection(Bundle.load(bundle_dir), model.catalog.n_rows)
    assert read is not None and np.array_equal(read.xy, project_model(model).xy)
    old = _bundle_with_projection(tmp_path / "b", projection=False)
    assert read_projection(Bundle.load(old), model.catalog.n_rows) is None
    payload = map_payload(RecommenderModel.load(Bundle.load(old)), None)
    assert payload["points"] == 0 and "no projection" in payload["note"]


@pytest.mark.parametrize(
    ("array", "edit", "message"),
    [
        (ROWS, lambda a: a.astype(np.int32), "dtype int32"),
        (ROWS, lambda a: np.where(a == a.max(), 10_000, a), "outside 0..79"),
        (ROWS, lambda a: np.concatenate([a[:1], a[:-1]]), "not strictly increasing"),
        (XY, lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, np.nan, a).astype(np.float32), "NaN"),
        (XY, lambda a: a[:, :1].copy(), "shape"),
    ],
)  # fmt: skip
def test_an_inconsistent_projection_is_refused_naming_the_array(tmp_path, array, edit, message):
    bundle_dir = _bundle_with_projection(tmp_path)
    _edit_array(bundle_dir, array, edit)
    with pytest.raises(BundleError, match=rf"{array}.*{message}|{message}.*{array}"):
        read_projection(Bundle.load(bundle_dir), synthetic_model().catalog.n_rows)


def test_a_projection_file_changed_after_loading_is_refused(tmp_path):
    bundle_dir = _bundle_with_projection(tmp_path)
    bundle = Bundle.load(bundle_dir)
    xy = np.load(bundle_dir / f"{XY}.npy")
    np.save(bundle_dir / f"{XY}.npy", xy + 1, allow_pickle=False)  # no new checksum
    with pytest.raises(BundleError, match=f"checksum mismatch for {XY}.npy"):
        read_projection(bundle, synthetic_model().catalog.n_rows)


def _embedded_data(html: str) -> dict:
    found = re.search(
        r'<script id="nowrec-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, "no data element"
    return json.loads(found.group(1))


def test_the_train_command_writes_the_projection_and_a_self_contained_report(tiny_artifacts):
    bundle = Bundle.load(tiny_artifacts / "latest")
    info = bundle.manifest["projection"]
    catalogue = bundle.manifest["counts"]["catalogue_products"]
    assert info["points"] == info["products"] == catalogue  # every product, cold ones included
    assert bundle.has(REPORT)  # covered by the checksums like every file
    html = bundle.file(REPORT).read_text()
    # nothing to fetch: no external script, style, image or font
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(" not in html and "@import" not in html
    data = _embedded_data(html)
    assert data["overview"]["version"] == bundle.version
    assert data["map"]["points"] == info["points"]
    assert data["overview"]["metrics"]["training"]["loss"] is None  # NaN is not JSON


def test_text_in_the_data_cannot_end_the_report_s_script():
    nasty = "</script><script>alert(1)</script><!--"
    payload = {"points": 1, "id": [nasty], "title": [nasty], "cat": [-1], "price": [None],
               "x": [0.0], "y": [0.0], "categories": []}  # fmt: skip
    html = report_html(model_overview({"version": "v1", "notes": [nasty]}), payload)
    assert html.count("</script>") == 2  # the data's and the scripts' own
    data = _embedded_data(html)
    assert data["map"]["title"] == [nasty] and data["overview"]["notes"] == [nasty]
