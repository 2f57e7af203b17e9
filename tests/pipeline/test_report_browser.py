"""The report in a real browser: Debian's chromium, headless, offline. No JavaScript errors, every
chart rendered, the overview showing what the published table holds, a page per municipality,
markers that agree with the intervals; screenshots are kept in build/test-artifacts/ for people
to look at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import sync_playwright
from plotly.offline import get_plotlyjs_version

from utfall.report import (
    ALLA,
    HEADLINE,
    SUPPRESSED_SHORT,
    compare_with_alla,
    format_value,
    kommun_name,
)

pytestmark = pytest.mark.pipeline
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OVERVIEW_CELLS = """els => els.map(td => ({kpi: td.dataset.kpi, kommun: td.dataset.kommun,
    marker: td.dataset.marker, text: td.querySelector('.v').textContent}))"""


@pytest.fixture(scope="module")
def browser_page(sample_run):
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
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield page, errors, summary
        browser.close()


def test_report_renders_every_chart_without_errors(browser_page):
    page, errors, _ = browser_page
    page.screenshot(path=str(ARTIFACTS / "report-overview.png"), full_page=False)
    page.evaluate("utfallDrawAll()")  # charts are drawn as they scroll into view
    charts = page.locator("div.plotly-graph-div")
    n_charts = charts.count()
    rendered = page.locator("div.plotly-graph-div .main-svg").evaluate_all(
        "els => new Set(els.map(e => e.closest('.plotly-graph-div').id)).size")
    page.locator("#kpi-AME_ARB_STUD_6M-total").screenshot(path=str(ARTIFACTS / "report-chart.png"))
    assert errors == []
    assert n_charts > 10
    assert rendered == n_charts


def _published(db: Path, year: str) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "select kpi_id, kommun_kod, value, ci_low, ci_high, suppressed from marts.kpi_published "
        "where period = ? and dimension = 'TOTAL'", [year]).fetchall()
    units = dict(con.execute("select kpi_id, unit from marts.kpi").fetchall())
    con.close()
    return {(r[0], r[1]): r for r in rows}, units


class _Row:
    def __init__(self, r):
        _, self.kommun_kod, self.value, self.ci_low, self.ci_high, self.suppressed = r


def test_overview_shows_the_published_values_and_markers_agree(browser_page):
    page, errors, summary = browser_page
    year = page.locator("#oversikt h2").inner_text().split()[-1]
    published, units = _published(summary.db_path, year)
    cells = page.locator("#oversiktstabell td.val").evaluate_all(OVERVIEW_CELLS)
    kommuner = {c["kommun"] for c in cells} - {ALLA}
    assert len(cells) == len(HEADLINE) * (len(kommuner) + 1)
    checked = marked = 0
    for cell in cells:
        if cell["kpi"] not in units:
            assert cell["text"] == "—"
            continue
        row = published.get((cell["kpi"], cell["kommun"]))
        if row is None:
            assert cell["text"] == "saknas"
        elif row[5]:
            assert cell["text"] == SUPPRESSED_SHORT
        elif row[2] is None:
            assert cell["text"] == "inget värde"
        else:
            assert cell["text"] == format_value(row[2], units[cell["kpi"]]), cell
            checked += 1
        alla = published.get((cell["kpi"], ALLA))
        expected = compare_with_alla(_Row(row), _Row(alla)) if row and alla else ""
        assert cell["marker"] == expected, cell
        marked += bool(expected)
    assert checked > 20 and marked > 0
    assert errors == []


def test_every_municipality_has_a_page(browser_page):
    page, errors, summary = browser_page
    con = duckdb.connect(str(summary.db_path), read_only=True)
    codes = {c for (c,) in con.execute(
        "select distinct kommun_kod from marts.kpi_published where kommun_kod <> 'ALLA' union "
        "select distinct kommun_kod from meta.delivery where kommun_kod is not null").fetchall()}
    con.close()
    pages = set(page.locator("article.kommun-page").evaluate_all(
        "els => els.map(e => e.dataset.kommun)"))
    assert pages == codes
    links = page.locator("#oversiktstabell tbody th a").evaluate_all(
        "els => els.map(a => a.getAttribute('href'))")
    assert sorted(links) == sorted(f"#kommun-{c}" for c in codes)
    page.goto(page.url.split("#")[0] + "#kommun-1480")
    goteborg = page.locator("#kommun-1480")
    assert goteborg.is_visible()
    assert page.locator("#kommun-1440").is_hidden()  # one municipality at a time
    assert goteborg.locator("h3").inner_text().startswith(kommun_name("1480"))
    page.wait_for_timeout(300)
    assert goteborg.locator("div[data-chart] .main-svg").count() > 0
    page.screenshot(path=str(ARTIFACTS / "report-kommun-1480.png"), full_page=False)
    # Kungsbacka's damaged workbook, said in Swedish on its page
    assert ("Deltagare AME 2020.xlsx: arbetsboken är skadad (trasigt zip-arkiv)"
            in page.locator("#kommun-1384").text_content())
    assert errors == []


def _page_trace_types(report: Path) -> set[str]:
    """The trace types of every chart in the page's JSON block (no type draws as scatter)."""
    text = report.read_text(encoding="utf-8")
    block = text[text.index('<script type="application/json" id="utfall-data">'):]
    charts = json.loads(block[block.index(">") + 1:block.index("</script>")])["charts"]
    return {t.get("type", "scatter") for c in charts.values() for t in c["data"]}


def test_the_basic_bundle_draws_every_trace_the_page_has(browser_page):
    """plotly.js's basic bundle (vendored) holds bar, pie and scatter only: a trace of another
    type would not be drawn, without an error, so the types are checked against what it holds."""
    page, errors, summary = browser_page
    assert page.evaluate("Plotly.version") == get_plotlyjs_version()
    registered = set(page.evaluate("Object.keys(Plotly.PlotSchema.get().traces)"))
    assert registered == {"bar", "pie", "scatter"}
    assert _page_trace_types(summary.report_path) == {"bar", "scatter"}
    assert errors == []
