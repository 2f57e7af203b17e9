"""The report in a real browser: Debian's chromium, headless, offline. No JavaScript errors, every
chart rendered; a screenshot is kept in test-artifacts/ for people to look at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.pipeline
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_renders_every_chart_without_errors(sample_run):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium package")
    summary, _ = sample_run
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.route("http*://**", lambda route: route.abort())  # offline: nothing may be fetched
        page.goto(summary.report_path.as_uri())
        page.wait_for_load_state("load")
        charts = page.locator("div.plotly-graph-div")
        n_charts = charts.count()
        rendered = page.locator("div.plotly-graph-div .main-svg").evaluate_all(
            "els => new Set(els.map(e => e.closest('.plotly-graph-div').id)).size")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
        charts.nth(3).screenshot(path=str(ARTIFACTS / "report-chart.png"))
        browser.close()
    assert errors == []
    assert n_charts > 10
    assert rendered == n_charts
