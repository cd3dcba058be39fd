"""A real headless Chromium for the browser tests (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium; no browser is downloaded), one per test session.

:class:`Browser` adds what the tests need: waiting on a condition in the page (never a sleep),
the URLs of every request the pages made (Chrome's performance log), and full-page screenshots
saved under ``test-artifacts/browser/`` (git-ignored; CI keeps them as artifacts).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-artifacts" / "browser"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
#: Flags that work on CI's and the developers' machines (no sandbox as root, no GPU, nothing
#: fetched in the background by the browser itself).
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
    # a request to any other host fails at once instead of leaving the machine (it is still
    # seen in the performance log, which is what the tests check)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)  # fmt: skip
WAIT_S = 30.0  # a guard against hangs, not a speed assertion


def find_chromium() -> tuple[str, str] | str:
    """(browser, driver) paths, or why the browser tests cannot run."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        return "Chromium is not installed: apt-get install chromium chromium-driver (.ci/run does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: make install (the dev extras pin it)"
    return browser, driver


class Browser:
    """One Chromium window (see the module docstring)."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self._requests: list[str] = []

    def visit(self, url: str) -> None:
        self.driver.get(url)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait_for(self, script: str, what: str, *args):
        """Poll ``return <script>`` in the page until it is truthy; its value."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.05).until(
                lambda d: d.execute_script(f"return {script}", *args)
            )
        except TimeoutException:
            shot = self.screenshot("timed-out")
            raise AssertionError(
                f"timed out after {WAIT_S} s waiting for {what}; the page is in {shot}"
            ) from None

    def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def type(self, css: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).send_keys(text)

    def requested(self) -> list[str]:
        """Every URL the browser requested since the last call (pages, scripts, fetches)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self._requests.append(message["params"]["request"]["url"])
        found, self._requests = self._requests, []
        return found

    def outside_requests(self) -> list[str]:
        """Requests to any host but this machine's (chrome:// and data: URLs are the browser's
        own)."""
        return [
            url for url in self.requested()
            if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).hostname not in LOCAL_HOSTS
        ]  # fmt: skip

    def screenshot(self, name: str) -> Path:
        """The whole page (not only the window) as ``test-artifacts/browser/<name>.png``."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        height = self.js("return document.documentElement.scrollHeight") or 1000
        size = self.driver.get_window_size()
        self.driver.set_window_size(size["width"], min(max(int(height), 600), 4000))
        try:
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.set_window_size(size["width"], size["height"])
        print(f"screenshot: {path}")
        return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    found = find_chromium()
    if isinstance(found, str):
        pytest.skip(found)
    binary, driver_path = found
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="nowrec-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # the driver's path given: Selenium Manager is not asked to download anything
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
