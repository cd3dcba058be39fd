"""The console, the API's description, report.html and a shop's product page with the page
script, seen in a real headless Chromium, as a person would use them: open, click, see. Every
page is checked to ask no host but this machine, and each leaves a screenshot in
test-artifacts/browser/.

One real ``python -m serving`` (tokens, CORS for the shop, an experiment running) serves the
tiny shop's bundle written by the train command; the shop's page comes from a second server on
another port, so its calls to the API are cross-origin as on a real shop.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest

from engine.bundle import Bundle
from tests.process_support import ROOT, free_port, is_ready, start_process, stop_process, wait_until

pytestmark = pytest.mark.integration

TOKEN = "browser-test-admin-token-0123456789abcdef"
CONSOLE_TOKEN = "browser-test-console-token-0123456789"
BROWSER_TOKEN = "browser-test-public-token-0123"
EXAMPLE = ROOT / "serving" / "console" / "example"
EXPERIMENT = """
[[experiments]]
name = "strip-2026"
control = "popular"
variants = [
  { name = "popular", weight = 1, strategy = "popular" },
  { name = "engine", weight = 1 },
]
"""


@dataclass
class Site:
    api: str
    shop: str
    http: httpx.Client
    bundle: Bundle
    points: int


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output is for its own lines
        pass


@pytest.fixture(scope="module")
def site(tiny_artifacts, tmp_path_factory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("browser")
    artifacts = work / "artifacts"
    shutil.copytree(tiny_artifacts, artifacts, symlinks=True)
    (work / "experiments.toml").write_text(EXPERIMENT)
    shop = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=EXAMPLE))
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    shop_origin = f"http://127.0.0.1:{shop.server_address[1]}"
    port = free_port()
    env = {
        **os.environ,
        "NOWREC_MODE": "production",
        "NOWREC_API_TOKEN": TOKEN,
        "NOWREC_CONSOLE_TOKEN": CONSOLE_TOKEN,
        "NOWREC_BROWSER_TOKEN": BROWSER_TOKEN,
        "NOWREC_CORS_ORIGINS": shop_origin,
        "NOWREC_RELOAD_INTERVAL_S": "0",
        "NOWREC_EXPERIMENTS_FILE": str(work / "experiments.toml"),
        "NOWREC_LOGS_DIR": str(work / "logs"),
        "NOWREC_PRODUCT_LOG": str(work / "product-updates.jsonl"),
    }
    log = work / "api.log"
    process = start_process(
        ["-m", "serving", "--port", str(port), "--artifacts", str(artifacts)], env, log
    )
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_until(lambda: is_ready(http, process, log), "the API ready", 120)
        bundle = Bundle.load(artifacts / "latest")
        yield Site(f"http://127.0.0.1:{port}", shop_origin, http, bundle,
                   bundle.manifest["projection"]["points"])  # fmt: skip
    finally:
        http.close()
        stop_process(process)
        shop.shutdown()


@pytest.fixture(scope="module")
def console(site, browser) -> Site:
    """The browser logged in to the console (with the read-only console token)."""
    browser.visit(f"{site.api}/console")
    browser.wait_for("document.getElementById('token')", "the login page")
    browser.screenshot("console-login")
    browser.type("#token", CONSOLE_TOKEN)
    browser.click("#login button[type=submit]")
    browser.wait_for("document.getElementById('version')?.textContent", "the console after login")
    return site


def _no_outside(browser) -> None:
    outside = browser.outside_requests()
    assert not outside, f"requests to other hosts: {outside}"


def test_the_overview_shows_the_served_model_and_live_figures(console, browser):
    browser.visit(f"{console.api}/console#overview")
    shown = browser.wait_for(
        "document.querySelector('[data-field=version]')?.textContent", "the model card"
    )
    assert shown == console.bundle.version
    live = browser.wait_for(
        "document.querySelector('[data-field=live-version]')?.textContent", "the live figures"
    )
    assert live == console.bundle.version
    text = browser.js("return document.body.innerText")
    for heading in (
        "Evaluation",
        "Cold start",
        "Sessionization",
        "Hyper-parameters",
        "Latency since start",
    ):
        assert heading in text, heading
    assert re.search(r"HR@20", text) and "memory answers" in text
    browser.screenshot("console-overview")
    _no_outside(browser)


def test_the_map_draws_every_sampled_product_and_a_search_highlights_its_neighbours(
    console, browser
):
    browser.visit(f"{console.api}/console#map")
    drawn = browser.wait_for("document.querySelector('#map-view canvas')?.dataset.drawn", "the map")
    assert int(drawn) == console.points
    product = console.http.get(
        "/console/api/projection", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()
    title = product["title"][0]
    browser.type("#map-view input[type=search]", title)
    browser.wait_for("document.querySelector('#map-view .matches button')", "search matches")
    browser.click("#map-view .matches button")
    found = browser.wait_for(
        "[...document.querySelectorAll('#map-view h3')].map(h => h.textContent).find(t => t.startsWith('Most similar'))",
        "the product's neighbours",
    )
    assert "(10," in found
    browser.screenshot("console-map")
    _no_outside(browser)


def test_try_it_changes_the_recommendations_with_every_click(console, browser):
    browser.visit(f"{console.api}/console#try")
    browser.wait_for("document.querySelector('#try-view input[type=search]')", "the try-out")
    session = browser.js("return document.querySelector('[data-field=session]').textContent")
    assert session.startswith("console-")
    first_product = console.http.get(
        "/console/api/projection", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["id"][0]
    browser.type("#try-view input[type=search]", first_product + "\n")
    first = browser.wait_for(
        "document.querySelector('ol.recs')?.dataset.recommendationId", "the first answer"
    )
    before = browser.js(
        "return [...document.querySelectorAll('ol.recs li')].map(li => li.dataset.productId)"
    )
    clicked = before[0]
    browser.click("ol.recs li button")
    second = browser.wait_for(
        "(e => e && e.dataset.recommendationId !== arguments[0] && e.dataset.recommendationId)(document.querySelector('ol.recs'))",
        "the answer after the click",
        first,
    )
    after = browser.js(
        "return [...document.querySelectorAll('ol.recs li')].map(li => li.dataset.productId)"
    )
    assert second != first and after != before and clicked not in after  # seen products leave
    reasons = browser.js(
        "return [...document.querySelectorAll('ol.recs .because')].map(b => b.textContent)"
    )
    assert any(re.fullmatch(r"because you (are viewing|viewed) .+", r) for r in reasons), reasons
    # each "because" names a product of this visit
    because = [r.rsplit(" ", 1)[1] for r in reasons if r.startswith("because")]
    assert because and set(because) <= {first_product, clicked}, reasons
    # the visit is in the store under the tab's session: two views and the click
    answer = console.http.get("/v1/recommendations", params={"session_id": session, "k": 1}).json()
    assert answer["session_events"] == 3
    browser.screenshot("console-try-it")
    _no_outside(browser)


def test_the_experiments_page_charts_each_variant_with_its_interval(console, browser):
    product = console.http.get(
        "/console/api/projection", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["id"][0]
    for s in range(30):  # visitors of both variants, some of whom click
        answer = console.http.get(
            "/v1/recommendations", params={"session_id": f"x{s}", "product_id": product}
        ).json()
        if s % 3 and answer["items"]:
            click = {"session_id": f"x{s}", "product_id": answer["items"][0]["product_id"], "ts": time.time(),
                     "event_type": "click", "recommendation_id": answer["recommendation_id"]}  # fmt: skip
            r = console.http.post(
                "/v1/events", json={"events": [click]}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert r.status_code == 200
    browser.visit(f"{console.api}/console#experiments")
    dots = browser.wait_for(
        "(n => n.length && [...n].map(c => c.dataset.variant))(document.querySelectorAll('[data-experiment=strip-2026] svg.intervals circle'))",
        "the experiment's charts",
    )
    assert {"popular", "engine"} <= set(dots)
    text = browser.js("return document.querySelector('[data-experiment=strip-2026]').innerText")
    assert "sample-ratio check" in text and "lift" in text and "p-value" in text
    browser.screenshot("console-experiments")
    _no_outside(browser)


def test_the_docs_render_without_internet(site, browser):
    browser.requested()
    browser.visit(f"{site.api}/docs")
    browser.wait_for("document.querySelectorAll('.opblock').length > 5", "Swagger UI's operations")
    browser.screenshot("docs-swagger")
    browser.visit(f"{site.api}/redoc")
    browser.wait_for(
        "document.querySelector('h1')?.textContent.includes('nowrec')", "ReDoc's title"
    )
    browser.wait_for(
        "document.body.innerText.includes('/v1/recommendations')", "ReDoc's operations"
    )
    browser.screenshot("docs-redoc")
    _no_outside(browser)


def test_report_html_opens_from_the_file_system(site, browser):
    browser.requested()
    browser.visit((site.bundle.path / "report.html").as_uri())
    assert (
        browser.wait_for(
            "document.querySelector('[data-field=version]')?.textContent", "the report"
        )
        == site.bundle.version
    )
    assert (
        int(browser.wait_for("document.querySelector('#map canvas')?.dataset.drawn", "its map"))
        == site.points
    )
    browser.screenshot("report-html")
    assert not [u for u in browser.requested() if not u.startswith(("file:", "data:", "chrome:"))]


def test_a_shop_page_with_the_script_follows_a_visitor_through_three_products(site, browser):
    first = site.http.get(
        "/console/api/projection", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["id"][0]
    browser.visit(f"{site.shop}/")  # the shop's origin, before any product page
    browser.js("localStorage.clear()")  # a new visitor
    browser.visit(
        f"{site.shop}/product.html?id={quote(first)}&api={quote(site.api)}&token={BROWSER_TOKEN}"
    )
    strips = []
    for step in range(3):
        rec_id = browser.wait_for(
            "(s => s && s.dataset.recommendationId !== arguments[0] && s.querySelector('li') && s.dataset.recommendationId)(document.querySelector('.nowrec-strip'))",
            f"the strip on product page {step + 1}",
            strips[-1][0] if strips else "",
        )
        items = browser.js(
            "return [...document.querySelectorAll('.nowrec-strip a')].map(a => a.dataset.productId)"
        )
        assert browser.js(
            "return document.querySelector('.nowrec-strip').getAttribute('aria-labelledby')"
        )
        strips.append((rec_id, items))
        if step == 0:
            browser.screenshot("shop-product-page")
        if step < 2:
            nxt = items[0]
            browser.click(".nowrec-strip li a")
            browser.wait_for(
                "location.search.includes(arguments[0])",
                "the next product page",
                f"id={quote(nxt)}",
            )
    assert len({r for r, _ in strips}) == 3  # a new answer on each page
    assert strips[0][1] != strips[1][1] != strips[2][1]  # and what it shows changes
    # the views and the clicks reached the API, each click with the answer that showed it
    session = browser.js("return JSON.parse(localStorage.getItem('nowrec.session')).id")
    answer = site.http.get("/v1/recommendations", params={"session_id": session, "k": 1}).json()
    assert answer["session_events"] == 5  # three views and two clicks
    metrics = site.http.get("/metrics").text
    attributed = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                     if line.startswith("nowrec_experiment_clicks_total{") and 'attributed="true"' in line)  # fmt: skip
    assert attributed >= 2
    _no_outside(browser)
