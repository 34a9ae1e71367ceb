"""Browser fixtures: a fresh headless Debian Chromium per test (fresh cookies, so a fresh LMS
user), driven by Selenium through /usr/bin/chromedriver (Selenium Manager never runs, nothing
is downloaded), and a screenshot of every test, passed or failed, in test-artifacts/e2e/.

The LMS side is a file: the auto-submitting launch page of ``coursehub.launcher.html_page``,
opened with file:// so the browser posts the signed form itself, as it does from Moodle.
The session `stack` fixture comes from tests/conftest.py; test modules import the harness
(tests/harness.py) by its own name, never a conftest, since every test folder has one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1400,900", "--disable-dev-shm-usage",
)


def new_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail("Chromium is missing: run scripts/install-browser.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # An explicit driver path makes Selenium skip Selenium Manager (no download, no network).
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(90)
    return driver


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def browser(request):
    """A fresh Chromium; at teardown its screenshot (and, on failure, the page's HTML and URL)
    goes to test-artifacts/e2e/<test>-<passed|failed>.*"""
    driver = new_browser()
    yield driver
    report = getattr(request.node, "report_call", None)
    result = "passed" if report is not None and report.passed else "failed"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}-{result}"
    for stale in ARTIFACTS.glob(f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}-*"):
        stale.unlink()
    try:
        driver.save_screenshot(str(stem.with_suffix(".png")))
        if result == "failed":
            stem.with_suffix(".html").write_text(f"<!-- {driver.current_url} -->\n{driver.page_source}")
    finally:
        driver.quit()


@pytest.fixture
def lms_page(tmp_path):
    """Writes a launch as the LMS's auto-submitting page; returns its file:// URL to open."""
    from coursehub.devlms.launcher import html_page

    def write(url: str, fields: dict[str, str] | None = None) -> str:
        page = Path(tmp_path) / "launch.html"
        page.write_text(html_page(url, fields))
        return page.as_uri()

    return write
