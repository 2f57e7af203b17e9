"""The comparison report: one offline HTML file, suppressed values never drawn as zero, the data
quality of the deliveries, everything escaped. On a small hand-made database."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs_version

from utfall.marts.catalogue import CATALOGUE
from utfall.report import (
    DEMO_BANNER,
    NO_VALUES_NOTE,
    PERTURBATION_SENTENCE,
    PLOTLY_BASIC,
    SUPPRESSED_TEXT,
    breakdown_figure,
    chart_year,
    format_value,
    kpi_figure,
    order_kommuner,
    plotly_basic_version,
    write_report,
)

pytestmark = pytest.mark.unit
DDL = Path(__file__).resolve().parents[1] / "schemas" / "ddl"
NBSP = "\u00a0"

SHARE = ("AME_AVSLUT_ARB_STUD", "Avslut till arbete eller studier", "Exits to work or studies",
         "Andel avslut med arbete eller studier (A&O <test>).", "Share of exits.", "share", True,
         "exit")
COUNT = ("AME_STARTADE", "Påbörjade deltagarperioder", "Spells started",
         "Antal deltagarperioder som startade.", "Spells started.", "count", None, "start")
FS = ("FS_LANGVARIGT", "Långvarigt försörjningsstöd", "Long-term social assistance",
      "Andel vuxna med stöd 10-12 månader.", "Share.", "share", False, "year")

# kpi_id, kommun, period, dimension, its value, numerator, denominator, value, ci_low, ci_high,
# suppressed
VALUES = [
    ("AME_AVSLUT_ARB_STUD", "1480", "2023", "TOTAL", "ALLA", 12, 20, 0.6, 0.3866, 0.7812, False),
    ("AME_AVSLUT_ARB_STUD", "1440", "2023", "TOTAL", "ALLA", None, None, None, None, None, True),
    ("AME_AVSLUT_ARB_STUD", "ALLA", "2023", "TOTAL", "ALLA", 14, 24, 14 / 24, 0.3887, 0.7554,
     False),
    ("AME_AVSLUT_ARB_STUD", "1480", "2023", "KON", "K", 5, 9, 5 / 9, 0.2667, 0.8113, False),
    ("AME_AVSLUT_ARB_STUD", "1480", "2023", "KON", "M", 7, 11, 7 / 11, 0.3538, 0.8483, False),
    ("AME_AVSLUT_ARB_STUD", "1440", "2023", "KON", "K", None, None, None, None, None, True),
    ("AME_AVSLUT_ARB_STUD", "ALLA", "2023", "KON", "K", 6, 12, 0.5, 0.2538, 0.7462, False),
    ("AME_AVSLUT_ARB_STUD", "ALLA", "2023", "KON", "M", 8, 12, 8 / 12, 0.3906, 0.8619, False),
    # 2024 is not over on as_of 2024-06-30: the charts show 2023, the table both
    ("AME_AVSLUT_ARB_STUD", "1480", "2024", "TOTAL", "ALLA", 3, 6, 0.5, 0.1876, 0.8124, False),
    ("AME_STARTADE", "1480", "2023", "TOTAL", "ALLA", 30, None, 30, None, None, False),
    ("AME_STARTADE", "1440", "2023", "TOTAL", "ALLA", 8, None, 8, None, None, False),
    ("AME_STARTADE", "ALLA", "2023", "TOTAL", "ALLA", 38, None, 38, None, None, False),
    ("AME_STARTADE", "ALLA", "2023-Q1", "TOTAL", "ALLA", 9, None, 9, None, None, False),
]


CATALOGUE_BY_ID = {k.kpi_id: k for k in CATALOGUE}


def insert_kpis(con: duckdb.DuckDBPyConnection, rows) -> None:
    """KPI rows (kpi_id ... cohort_basis, texts of the test's own) into marts.kpi, with each
    KPI's kind and left-out breakdowns from the catalogue (marts/catalogue.py)."""
    full = [(*row, CATALOGUE_BY_ID[row[0]].kind, list(CATALOGUE_BY_ID[row[0]].published_without))
            for row in rows]
    con.executemany("insert into marts.kpi values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", full)


def _db(values=VALUES, key_label="DEMO") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ("10_meta.sql", "40_marts.sql"):
        con.execute((DDL / name).read_text())
    insert_kpis(con, [FS, SHARE, COUNT])
    for v in values:
        period_type = "QUARTER" if "-Q" in v[2] else "YEAR"
        con.execute("insert into marts.kpi_published values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [v[0], v[1], v[2], period_type, *v[3:]])
    con.execute("insert into meta.run values ('old', '2024-01-02 08:00', '2024-01-02 08:10', "
                "'2023-12-31', 'INSTALLATION', 'inbox', '0.1.0', 5)")
    con.execute("insert into meta.run values ('new', '2024-07-01 09:00', '2024-07-01 09:12', "
                "'2024-06-30', ?, 'inbox', '0.1.0', 5)", [key_label])
    _deliveries(con)
    return con


def _deliveries(con) -> None:
    rows = [
        ("d1", "1480/procapita/fs_2023.csv", "1480", "procapita", "procapita_fs", "LOADED", None,
         "2023-01-01", "2023-12-31", 120, 112, 4, 4, None),
        ("d2", "1440/excel/deltagare.xlsx", "1440", "excel", "excel_participants", "REJECTED",
         "1440/excel/deltagare.xlsx: filen är lösenordsskyddad <krypterad>", None, None, None,
         None, None, None, None),
        ("d0", "1480/skapa/bedomningar.csv", "1480", "skapa", "skapa", "REPLACED", None,
         "2023-01-01", "2023-06-30", 50, 45, 5, 0, "d3"),
        ("d3", "1480/skapa/bedomningar.csv", "1480", "skapa", "skapa", "LOADED", None,
         "2023-01-01", "2023-06-30", 50, 49, 1, 0, None),
    ]
    con.executemany(
        "insert into meta.delivery (delivery_id, path, kommun_kod, system, kind, status, message, "
        "period_start, period_end, rows_read, rows_loaded, rows_quarantined, rows_skipped, "
        "replaced_by, file_hash) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'h')", rows)
    quarantine = [("d1", "1480/procapita/fs_2023.csv", "1480", None, n, reason, "pnr", "rad")
                  for n, reason in ((3, "PNR_INVALID"), (7, "PNR_INVALID"), (9, "PNR_INVALID"),
                                    (11, "DATE_INVALID"))]
    # the replaced delivery's rows were taken out of the run: they must not be counted
    quarantine += [("d0", "1480/skapa/bedomningar.csv", "1480", None, n, "SCORE_INVALID", "poang",
                    "rad") for n in range(2, 7)]
    quarantine += [("d3", "1480/skapa/bedomningar.csv", "1480", None, 4, "SCORE_INVALID", "poang",
                    "rad")]
    con.executemany("insert into meta.quarantine values (?, ?, ?, ?, ?, ?, ?, ?)", quarantine)
    con.executemany("insert into meta.unmapped_value values (?, ?, ?, ?, ?, ?)", [
        ("d1", "1480", "procapita", "status", "Jobbar lite", 7),
        ("d0", "1480", "skapa", "dimension", "Gammal dimension", 5),
    ])


@pytest.fixture
def page(tmp_path) -> str:
    out = write_report(_db(), tmp_path / "rapport.html")
    return out.read_text(encoding="utf-8")


def _charts(page: str) -> dict:
    """The figures of the page's one JSON block, by chart id."""
    block = page[page.index('<script type="application/json" id="utfall-data">'):]
    return json.loads(block[block.index(">") + 1:block.index("</script>")])["charts"]


def _frame(kpi_id: str) -> pd.DataFrame:
    cols = ["kpi_id", "kommun_kod", "period", "dimension", "dimension_value", "numerator",
            "denominator", "value", "ci_low", "ci_high", "suppressed"]
    frame = pd.DataFrame([v for v in VALUES if v[0] == kpi_id and v[2] == "2023"], columns=cols)
    return frame.astype({c: "float64" for c in cols[5:10]})


def _kpi_row(kpi) -> dict:
    return dict(zip(["kpi_id", "title_sv", "title_en", "description_sv", "description_en", "unit",
                     "higher_is_better", "cohort_basis"], kpi))


def test_file_written_owner_only_and_opens_offline(tmp_path):
    out = write_report(_db(), tmp_path / "sub" / "rapport.html")
    assert out == tmp_path / "sub" / "rapport.html"
    assert out.exists()
    assert out.stat().st_mode & 0o777 == 0o600
    text = out.read_text(encoding="utf-8")
    assert text.count(f"plotly.js (basic - minified) v{get_plotlyjs_version()}") == 1
    assert "<script src" not in text  # nothing fetched from a CDN
    # share KPI: total + breakdown + trend (two years); count KPI: total only; FS KPI: no values
    assert set(_charts(text)) == {"kpi-AME_AVSLUT_ARB_STUD-total", "kpi-AME_AVSLUT_ARB_STUD-uppdelning",
                                  "kpi-AME_AVSLUT_ARB_STUD-trend", "kpi-AME_STARTADE-total"}
    # one empty div per chart, drawn by the page's script from the one JSON block
    assert text.count('class="plotly-graph-div chart"') == 4
    assert text.count('<script type="application/json" id="utfall-data">') == 1


def test_header(page):
    assert "<h1>utfall – jämförelse av AME-resultat i Göteborgsregionen</h1>" in page
    assert "Data till och med <strong>2024-06-30</strong> · körd 2024-07-01 09:12" in page
    assert f'<div class="demo" role="alert">{DEMO_BANNER}</div>' in page
    marks = [a["text"] for spec in _charts(page).values() for a in spec["layout"]["annotations"]
             if "DEMODATA" in a["text"]]
    assert marks == ["DEMODATA – inte riktiga personer"] * 4  # inside each chart


def test_no_demo_banner_with_an_installation_key(tmp_path):
    text = write_report(_db(key_label="INSTALLATION"), tmp_path / "r.html").read_text()
    assert DEMO_BANNER not in text and "DEMODATA" not in text


def test_kpis_in_order_ame_then_fs_with_escaped_descriptions(page):
    starts = [page.index(f'<article id="kpi-{k}" class="kpi">')
              for k in ("AME_STARTADE", "AME_AVSLUT_ARB_STUD", "FS_LANGVARIGT")]
    assert starts == sorted(starts)
    assert "(A&amp;O &lt;test&gt;)" in page and "<test>" not in page
    fs = page[page.index('<article id="kpi-FS_LANGVARIGT" class="kpi">'):]
    assert "Inga värden för det här nyckeltalet." in fs[:fs.index("</article>")]


def test_chart_shows_the_last_whole_year_and_table_every_year(page):
    section = page[page.index('<article id="kpi-AME_AVSLUT_ARB_STUD" class="kpi">'):]
    section = section[:section.index("</article>")]
    assert "<h4>2023</h4>" in section
    assert "<h4>Uppdelat 2023 – välj uppdelning i menyn</h4>" in section
    assert (f'<th scope="row">Alla kommuner</th><td>58,3{NBSP}% (n{NBSP}={NBSP}24)</td><td>–</td>'
            in section)
    assert f'<th scope="row">Ale</th><td>{SUPPRESSED_TEXT}</td><td>–</td>' in section
    assert (f'<th scope="row">Göteborg</th><td>60,0{NBSP}% (n{NBSP}={NBSP}20)</td>'
            f'<td>50,0{NBSP}% (n{NBSP}={NBSP}6)</td>') in section


def test_suppressed_value_is_no_bar_but_a_marker_that_says_so():
    fig = kpi_figure(_frame("AME_AVSLUT_ARB_STUD"), _kpi_row(SHARE))
    kommuner, alla, gap = fig.data
    assert kommuner.name == "Kommuner" and kommuner.orientation == "h"
    assert kommuner.y == ("Ale", "Göteborg")
    assert kommuner.x == (None, 60.0)  # Ale suppressed: no bar, not a bar of 0
    assert kommuner.error_x.array == (None, 18.12)
    assert kommuner.error_x.arrayminus == (None, 21.34)
    assert alla.name == "Alla kommuner" and alla.y == ("Alla kommuner",) and alla.x == (58.333,)
    assert gap.name == SUPPRESSED_TEXT
    assert gap.y == ("Ale",) and gap.x == (0,)
    assert gap.text == (f"  {SUPPRESSED_TEXT}",)
    assert gap.hovertext == (
        f"<b>Ale</b> 2023<br>{SUPPRESSED_TEXT} (för få personer i underlaget)",)
    # Alla kommuner as a dashed reference line at its value
    assert fig.layout.shapes[0].x0 == 58.333 and fig.layout.shapes[0].line.dash == "dash"
    assert fig.layout.annotations[0].text == f"Alla kommuner: 58,3{NBSP}%"
    assert fig.layout.xaxis.range == (0, 100) and fig.layout.xaxis.ticksuffix == " %"


def test_municipality_without_a_row_is_shown_as_no_data():
    fig = kpi_figure(_frame("AME_STARTADE"), _kpi_row(COUNT), kommuner={"1480", "1440", "1415"})
    kommuner, gap = fig.data
    assert kommuner.y == ("Ale", "Göteborg", "Stenungsund")
    assert kommuner.x == (8.0, 30.0, None)
    assert kommuner.error_x.array is None  # counts have no interval
    assert gap.y == ("Stenungsund",) and gap.text == ("  inga uppgifter",)


def test_count_states_the_sum_instead_of_drawing_it():
    fig = kpi_figure(_frame("AME_STARTADE"), _kpi_row(COUNT))
    assert [t.name for t in fig.data] == ["Kommuner"]
    assert fig.layout.shapes == ()
    assert fig.layout.annotations[0].text == "Alla kommuner tillsammans: 38"
    assert fig.layout.xaxis.range == (0, 34.5)  # the largest municipality, not the sum


def test_breakdown_dropdown_and_suppressed_cell():
    fig = breakdown_figure(_frame("AME_AVSLUT_ARB_STUD"), _kpi_row(SHARE))
    bars = [t for t in fig.data if t.type == "bar"]
    markers = [t for t in fig.data if t.type == "scatter"]
    assert [b.name for b in bars] == ["Kvinnor", "Män"]
    assert bars[0].y == ("Alla kommuner", "Ale", "Göteborg")
    assert bars[0].x == (50.0, None, 55.556)
    assert markers[0].x == (None, 0, None)
    assert markers[0].text == ("", f"  {SUPPRESSED_TEXT}", "")
    assert markers[0].offsetgroup == bars[0].offsetgroup == "KON:K"
    assert bars[1].x == (66.667, None, 63.636)  # no male row for Ale: nobody, so no marker
    assert markers[1].x == (None, None, None)
    menu = fig.layout.updatemenus[0]
    assert [b.label for b in menu.buttons] == ["Kön"]
    assert menu.buttons[0].args[0]["visible"] == [True, True, True, True]


def test_breakdown_absent_for_a_kpi_without_breakdowns():
    assert breakdown_figure(_frame("AME_STARTADE"), _kpi_row(COUNT)) is None


def test_data_quality_section(page):
    quality = page[page.index('<section id="datakvalitet"'):]
    assert ("<td>Ale (1440)</td><td>1440/excel/deltagare.xlsx</td>"
            "<td>1440/excel/deltagare.xlsx: filen är lösenordsskyddad &lt;krypterad&gt;</td>"
            ) in quality
    assert "<krypterad>" not in page
    assert ('<td>Göteborg (1480)</td><td>1480/procapita/fs_2023.csv</td><td>procapita</td>'
            '<td>Inläst</td><td>2023-01-01 – 2023-12-31</td><td class="num">120</td>'
            '<td class="num">112</td><td class="num">4</td><td class="num">4</td><td>ja</td>'
            ) in quality
    assert "<td>Ersatt av ny leverans</td>" in quality
    # per reason and municipality; the replaced delivery's five rows are not counted
    assert ('<td>Göteborg (1480)</td><td>Ogiltigt personnummer (PNR_INVALID)</td>'
            '<td class="num">3</td>') in quality
    assert ('<td>Göteborg (1480)</td><td>Ogiltig bedömningspoäng (SCORE_INVALID)</td>'
            '<td class="num">1</td>') in quality
    assert ('<td>Göteborg (1480)</td><td>procapita</td><td>Status</td><td>Jobbar lite</td>'
            '<td class="num">7</td>') in quality
    assert "Gammal dimension" not in quality


def test_method_section(page):
    method = page[page.index('<section id="sa-raknas">'):]
    assert "(nämnaren, för antal antalet självt) är under 5" in method
    assert "0 % eller 100 % när underlaget är under 10" in method
    assert PERTURBATION_SENTENCE in method
    assert "<dd>Antal deltagarperioder som startade.</dd>" in method


def test_empty_kpi_value_gives_a_clear_note(tmp_path):
    text = write_report(_db(values=[]), tmp_path / "r.html").read_text(encoding="utf-8")
    assert NO_VALUES_NOTE in text
    assert text.count("Inga värden för det här nyckeltalet.") == 3
    assert text.count(f"plotly.js (basic - minified) v{get_plotlyjs_version()}") == 1
    assert _charts(text) == {}


def test_empty_database_does_not_crash(tmp_path):
    con = duckdb.connect()
    for name in ("10_meta.sql", "40_marts.sql"):
        con.execute((DDL / name).read_text())
    text = write_report(con, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Ingen körning är registrerad" in text
    assert "Inga filer har avvisats." in text and "Inga leveranser är registrerade." in text
    assert "Inga rader i karantän." in text


@pytest.mark.parametrize("years, as_of, expected", [
    (["2023", "2024"], date(2024, 6, 30), "2023"),
    (["2023", "2024"], date(2024, 12, 31), "2024"),
    (["2024"], date(2024, 6, 30), "2024"),
    (["2022", "2023"], None, "2023"),
    ([], date(2024, 6, 30), None),
])
def test_chart_year(years, as_of, expected):
    assert chart_year(years, as_of) == expected


def test_format_value_and_order():
    assert format_value(0.6, "share") == f"60,0{NBSP}%"
    assert format_value(1234.0, "count") == f"1{NBSP}234"
    assert format_value(3.46, "months") == f"3,5{NBSP}mån"
    assert format_value(None, "share") == "–"
    assert order_kommuner({"9999", "1407", "ALLA", "1440"}) == ["ALLA", "1440", "1407", "9999"]


def test_quality_checks_that_failed_are_listed(tmp_path):
    con = duckdb.connect()
    for name in ("10_meta.sql", "40_marts.sql"):
        con.execute((DDL / name).read_text(encoding="utf-8"))
    con.execute("insert into meta.quality_check values "
                "('insats_episode_end_before_start', 'core.insats_episode', '1480', null, "
                "'episodes do not end before they start', 'ERROR', 120, 2, false, null), "
                "('person_key_unique', 'core.person', null, null, 'one row per person', 'ERROR', "
                "50, 0, true, null)")
    html = write_report(con, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "2 kontroller körda, 1 visar avvikelser" in html
    assert "episodes do not end before they start" in html and "Göteborg (1480)" in html


def test_trend_has_a_line_per_municipality_and_leaves_suppressed_years_out():
    from utfall.report import trend_spec

    rows = [("AME_ARB_STUD_6M", k, y, "TOTAL", "ALLA", n, d, v, None, None, s)
            for k, y, n, d, v, s in [("1480", "2022", 3, 10, 0.3, False),
                                     ("1480", "2023", None, None, None, True),
                                     ("1480", "2024", 5, 10, 0.5, False),
                                     ("ALLA", "2022", 8, 20, 0.4, False),
                                     ("ALLA", "2023", 9, 20, 0.45, False)]]
    frame = pd.DataFrame(rows, columns=["kpi_id", "kommun_kod", "period", "dimension",
                                        "dimension_value", "numerator", "denominator", "value",
                                        "ci_low", "ci_high", "suppressed"])
    spec = trend_spec(frame, {"unit": "share"})
    go_fig = __import__("plotly.graph_objects", fromlist=["Figure"]).Figure(spec)  # validates
    lines = {t.name: list(t.y) for t in go_fig.data}
    assert lines == {"Göteborg": [30.0, None, 50.0], "Alla kommuner": [40.0, 45.0, None]}
    assert trend_spec(frame[frame["period"] == "2022"], {"unit": "share"}) is None


def test_no_output_for_the_network_reads_the_exact_table():
    """The report, the export and the charts read marts.kpi_published only (metrics.md): the
    exact marts.kpi_value never leaves the analysts."""
    root = Path(__file__).resolve().parents[1]
    modules = {"utfall/report/__init__.py", "utfall/export.py"}
    # and the report's templates
    modules |= {p.relative_to(root).as_posix() for p in (root / "utfall" / "report" / "templates").rglob("*.*")}
    # and any chart code: every module or notebook that draws with plotly
    for folder in ("utfall", "pipelines", "notebooks"):
        modules |= {path.relative_to(root).as_posix() for path in (root / folder).rglob("*.py")
                    if "plotly" in path.read_text(encoding="utf-8")}
    assert {"utfall/report/__init__.py", "notebooks/02_time_on_fs.py"} <= modules
    for module in sorted(modules):
        assert "kpi_value" not in (root / module).read_text(encoding="utf-8"), module


def test_the_report_says_why_sums_do_not_add_up(tmp_path):
    text = write_report(_db(), tmp_path / "r.html").read_text(encoding="utf-8")
    header = text[:text.index("</header>")]
    assert PERTURBATION_SENTENCE in header  # no character in it that HTML escapes


# --- The overview, expected against actual, quarters and the municipalities' pages -----------

ARB6 = ("AME_ARB_STUD_6M", "I arbete eller studier 6 månader efter avslut",
        "In work or studies 6 months after exit", "Andel avslut.", "Share.", "share", True, "exit")
OKAND6 = ("AME_OKAND_6M", "Okänd status 6 månader efter avslut", "Unknown status", "Andel.",
          "Share.", "share", False, "exit")
EXPECTED6 = ("AME_ARB_STUD_6M_FORVANTAT", "Förväntad andel 6 månader", "Expected", "E/n.", "E/n.",
             "share", None, "exit")
DEVIATION6 = ("AME_ARB_STUD_6M_AVVIKELSE", "Avvikelse 6 månader", "Deviation", "(O-E)/n.",
              "(O-E)/n.", "share", True, "exit")
HEADLINE_VALUES = [
    # Göteborg's interval lies wholly above Alla kommuner (0.4), Ale's wholly below, Partille's
    # covers it, Stenungsund is suppressed
    ("AME_ARB_STUD_6M", "ALLA", "2023", "TOTAL", "ALLA", 40, 100, 0.4, 0.3094, 0.4980, False),
    ("AME_ARB_STUD_6M", "1480", "2023", "TOTAL", "ALLA", 30, 50, 0.6, 0.4618, 0.7239, False),
    ("AME_ARB_STUD_6M", "1440", "2023", "TOTAL", "ALLA", 2, 20, 0.1, 0.0279, 0.3010, False),
    ("AME_ARB_STUD_6M", "1402", "2023", "TOTAL", "ALLA", 8, 20, 0.4, 0.2188, 0.6134, False),
    ("AME_ARB_STUD_6M", "1415", "2023", "TOTAL", "ALLA", None, None, None, None, None, True),
    ("AME_ARB_STUD_6M", "1480", "2023", "REMITTERAD", "AF", 10, 20, 0.5, 0.2993, 0.7007, False),
    ("AME_ARB_STUD_6M", "1480", "2023", "REMITTERAD", "IFO", 20, 30, 2 / 3, 0.4878, 0.8077,
     False),
    ("AME_ARB_STUD_6M", "ALLA", "2023", "REMITTERAD", "IFO", 25, 60, 25 / 60, 0.2986, 0.5448,
     False),
    # unknown status: lower is better, so below Alla kommuner is better
    ("AME_OKAND_6M", "ALLA", "2023", "TOTAL", "ALLA", 20, 100, 0.2, 0.1333, 0.2888, False),
    ("AME_OKAND_6M", "1480", "2023", "TOTAL", "ALLA", 1, 50, 0.02, 0.0035, 0.1050, False),
    ("AME_ARB_STUD_6M_FORVANTAT", "1480", "2023", "TOTAL", "ALLA", None, None, 0.55, None, None,
     False),
    ("AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "TOTAL", "ALLA", None, None, 0.05, -0.0123,
     0.1123, False),
    ("AME_ARB_STUD_6M_FORVANTAT", "1440", "2023", "TOTAL", "ALLA", None, None, 0.3, None, None,
     False),
    ("AME_ARB_STUD_6M_AVVIKELSE", "1440", "2023", "TOTAL", "ALLA", None, None, -0.2, -0.35,
     -0.05, False),
    ("AME_ARB_STUD_6M_AVVIKELSE", "1402", "2023", "TOTAL", "ALLA", None, None, None, None, None,
     True),
    ("AME_ARB_STUD_6M", "1480", "2024-Q1", "TOTAL", "ALLA", 3, 10, 0.3, 0.1078, 0.6032, False),
    ("AME_ARB_STUD_6M", "ALLA", "2024-Q1", "TOTAL", "ALLA", 5, 20, 0.25, 0.1119, 0.4687, False),
    ("AME_ARB_STUD_6M", "1480", "2024-Q2", "TOTAL", "ALLA", None, None, None, None, None, True),
]


def _headline_db() -> duckdb.DuckDBPyConnection:
    con = _db(values=VALUES + HEADLINE_VALUES)
    insert_kpis(con,
                    [ARB6, OKAND6, EXPECTED6, DEVIATION6])
    con.execute("create schema codes")
    con.execute("create table codes.breakdown (dimension varchar, dimension_value varchar, "
                "sort_order integer, spell_only boolean)")
    con.executemany("insert into codes.breakdown values (?, ?, ?, true)",
                    [("REMITTERAD", v, i) for i, v in enumerate(
                        ["IFO", "AF", "FK", "EGEN", "OVRIGT", "OKAND"], 1)])
    con.execute("insert into meta.delivery (delivery_id, path, kommun_kod, system, kind, status, "
                "message, file_hash) values ('d4', '1415/excel/lista.xlsx', '1415', 'excel', "
                "'excel_participants', 'REJECTED', "
                "'1415/excel/lista.xlsx: the workbook is password-protected', 'h')")
    return con


@pytest.fixture
def full_page(tmp_path) -> str:
    return write_report(_headline_db(), tmp_path / "r.html").read_text(encoding="utf-8")


def _section(page: str, start: str, end: str = "</section>") -> str:
    part = page[page.index(start):]
    return part[:part.index(end)]


def test_overview_comes_first_and_marks_intervals_against_alla(full_page):
    assert full_page.index('<section id="oversikt"') < full_page.index('<section id="nyckeltal"')
    overview = _section(full_page, '<section id="oversikt"')
    assert "<h2>Översikt 2023</h2>" in overview
    rows = [m for m in overview.split('<tr data-kommun="')[1:]]
    assert [r[:4] for r in rows] == ["ALLA", "1440", "1480", "1402", "1415"]
    assert ('<td class="val better" data-kpi="AME_ARB_STUD_6M" data-kommun="1480" '
            'data-marker="over"><span class="marker" aria-hidden="true">▲</span> '
            f'<span class="v">60,0{NBSP}%</span><span class="sr-only"> (tydligt högre än Alla '
            'kommuner, bättre)</span></td>') in overview
    assert ('<td class="val worse" data-kpi="AME_ARB_STUD_6M" data-kommun="1440" '
            'data-marker="under"><span class="marker" aria-hidden="true">▼</span> '
            f'<span class="v">10,0{NBSP}%</span><span class="sr-only"> (tydligt lägre än Alla '
            'kommuner, sämre)</span></td>') in overview
    assert ('<td class="val" data-kpi="AME_ARB_STUD_6M" data-kommun="1402" data-marker="">'
            f'<span class="v">40,0{NBSP}%</span></td>') in overview
    assert ('<td class="val" data-kpi="AME_ARB_STUD_6M" data-kommun="1415" data-marker="">'
            '<span class="v">för få</span><span class="sr-only"> (för få personer i underlaget '
            'för att visa)</span></td>') in overview
    # lower is better for unknown status: below Alla kommuner is marked as better
    assert ('<td class="val better" data-kpi="AME_OKAND_6M" data-kommun="1480" '
            'data-marker="under">') in overview
    # headline KPIs the database does not hold yet: a dash and a footnote naming them
    assert ('<td class="val" data-kpi="AME_ATERKOMST_12M" data-kommun="1480" data-marker="">'
            '<span class="v">—</span><sup aria-hidden="true">1</sup>') in overview
    assert ("<sup>1</sup> Arbete/studier 12 mån efter avslut, Arbete/studier 6 mån efter start, "
            "Utan försörjningsstöd 6 mån efter avslut, Tillbaka till AME inom 12 mån, "
            "Mediantid med försörjningsstöd: nyckeltalet finns inte i databasen än") in overview


def test_expected_against_actual(full_page):
    expected = _section(full_page, '<section id="forvantat"')
    assert "Förväntad andel är den andel kommunen skulle ha haft" in expected
    assert "en fråga att ställa, inte ett betyg." in expected
    goteborg = _section(expected, '<tr data-kommun="1480">', "</tr>")
    assert f'<span class="v">60,0{NBSP}%</span>' in goteborg
    assert f'<span class="v">55,0{NBSP}%</span>' in goteborg
    assert '<span class="v">+5,0</span>' in goteborg
    assert '<td class="num">\u22121,2 till +11,2</td>' in goteborg
    assert 'data-marker="over"' not in goteborg  # the interval covers zero
    ale = _section(expected, '<tr data-kommun="1440">', "</tr>")
    assert ('<td class="val worse" data-kpi="AME_ARB_STUD_6M_AVVIKELSE" data-kommun="1440" '
            'data-marker="under"><span class="marker" aria-hidden="true">▼</span> '
            '<span class="v">\u221220,0</span>') in ale
    assert '<td class="num">\u221235,0 till \u22125,0</td>' in ale
    partille = _section(expected, '<tr data-kommun="1402">', "</tr>")
    assert '<span class="v">för få (under 15 avslut)</span>' in partille


def test_quarters_of_the_current_year(full_page):
    quarters = _section(full_page, '<section id="kvartal"')
    assert "<h2>Kvartal 2024: hur går det i år?</h2>" in quarters
    assert "data finns till och med 2024-06-30" in quarters
    assert ('<thead><tr><th scope="col">Kommun</th><th scope="col">Kvartal 1</th>'
            '<th scope="col">Kvartal 2</th></tr></thead>') in quarters
    goteborg = _section(quarters, '<tr><th scope="row">Göteborg</th>', "</tr>")
    assert f'<span class="v">30,0{NBSP}%</span>' in goteborg
    assert '<span class="v">för få</span>' in goteborg


def test_a_page_per_municipality_with_what_to_fix(full_page):
    pages = _section(full_page, '<section id="kommuner"')
    for code in ("1440", "1480", "1402", "1415"):
        assert f'<article class="kommun-page" id="kommun-{code}" data-kommun="{code}"' in pages
        assert f'<li><a href="#kommun-{code}">' in pages
    stenungsund = _section(pages, 'id="kommun-1415"', "</article>")
    # its only file was rejected: the reason in Swedish
    assert ("<td>1415/excel/lista.xlsx</td><td>1415/excel/lista.xlsx: arbetsboken är "
            "lösenordsskyddad</td>") in stenungsund
    assert "0 filer inlästa, 1 avvisade, 0 rader i karantän, 0 värden utan översättning." in (
        stenungsund)
    goteborg = _section(pages, 'id="kommun-1480"', "</article>")
    assert ('<td>Ogiltigt personnummer (PNR_INVALID)</td><td class="num">3</td>') in goteborg
    assert "Fullständigheten per fält mäts inte i den här databasen." in goteborg
    # its years beside the region, and its breakdown in the code list's order
    assert (f'<span class="v">60,0{NBSP}%</span><span class="sr-only"> (tydligt högre än Alla '
            f'kommuner, bättre)</span><span class="alla">Alla kommuner: 40,0{NBSP}%</span>'
            ) in goteborg
    breakdown = _section(goteborg, '<table class="kommun-breakdown">', "</table>")
    assert breakdown.index("Socialtjänsten (IFO)") < breakdown.index("Arbetsförmedlingen")
    assert '<th scope="rowgroup" rowspan="2">Remitterad från</th>' in breakdown
    assert f'<span class="alla">Alla kommuner: 41,7{NBSP}%</span>' in breakdown


def test_new_breakdowns_come_from_the_code_list(full_page):
    spec = _charts(full_page)["kpi-AME_ARB_STUD_6M-uppdelning"]
    menu = spec["layout"]["updatemenus"][0]
    assert [b["label"] for b in menu["buttons"]] == ["Remitterad från"]
    assert [t["name"] for t in spec["data"] if t["type"] == "bar"] == [
        "Socialtjänsten (IFO)", "Arbetsförmedlingen"]


@pytest.mark.parametrize("message, swedish", [
    ("1384/excel/D.xlsx: the workbook is damaged (broken zip archive)",
     "1384/excel/D.xlsx: arbetsboken är skadad (trasigt zip-arkiv)"),
    ("same content as 1384/procapita/ekb_2024.txt: not loaded twice",
     "samma innehåll som 1384/procapita/ekb_2024.txt: inte inläst två gånger"),
    ("1480/procapita/x.csv: no Personnummer column (headers seen: Namn, Belopp)",
     "1480/procapita/x.csv: ingen kolumn Personnummer (rubriker i filen: Namn, Belopp)"),
    ("sheet 'Pivot' skipped: not among the configured sheets; sheet 'Info' skipped: no header "
     "row with a personnummer column and a start date column within the first 15 rows",
     "bladet 'Pivot' hoppades över: inte bland de konfigurerade bladen; bladet 'Info' hoppades "
     "över: ingen rubrikrad med personnummer och startdatum bland de första 15 raderna"),
    ("something new", "something new"),
    (None, ""),
])
def test_delivery_messages_in_swedish(message, swedish):
    from utfall.report import message_sv

    assert message_sv(message) == swedish


def test_overview_cells_without_an_interval_are_never_marked():
    from utfall.report import compare_with_alla

    row = pd.Series({"kommun_kod": "1480", "suppressed": False, "value": 9.0, "ci_low": None,
                     "ci_high": None})
    alla = pd.Series({"kommun_kod": "ALLA", "suppressed": False, "value": 12.0, "ci_low": None,
                      "ci_high": None})
    assert compare_with_alla(row, alla) == ""


def test_every_quarantine_reason_has_a_swedish_label():
    from utfall.adapters.base import Reason
    from utfall.report import REASON_LABELS

    assert sorted(set(Reason) - set(REASON_LABELS)) == []


@pytest.mark.parametrize("value, unit, text", [
    (0.4235, "share", "42,4\u00a0%"), (1234, "count", "1\u00a0234"), (3.45, "months", "3,5\u00a0mån"),
    (-0.021, "share_difference", "\u22122,1\u00a0procentenheter"),
    (0.0004, "share_difference", "0,0\u00a0procentenheter"),
])
def test_values_are_formatted_for_their_unit(value, unit, text):
    from utfall.report import format_value

    assert format_value(value, unit) == text


def test_run_warnings_and_what_the_inbox_skipped_are_shown(tmp_path):
    con = _headline_db()
    con.execute("insert into meta.run_warning values ('as_of 2000-01-01 is before every insats', "
                "'Datum för data (2000-01-01) ligger före alla insatser: inga nyckeltal.')")
    con.execute("insert into meta.inbox_problem values ('1420/excel/lista.xlsx', "
                "'1420 is not a municipality code; did you mean 1402 (Partille)?')")
    page = write_report(con, tmp_path / "r.html").read_text(encoding="utf-8")
    header = page[:page.index("</header>")]
    assert ('<div class="demo" role="alert">Datum för data (2000-01-01) ligger före alla '
            'insatser: inga nyckeltal.</div>') in header
    quality = _section(page, '<section id="datakvalitet"')
    assert "<td>1420/excel/lista.xlsx</td>" in quality


def _bundle_traces() -> set[str]:
    """The trace types the vendored bundle registers (each trace module names itself)."""
    text = PLOTLY_BASIC.read_text(encoding="utf-8")
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', text))


def _trace_types(page: str) -> set[str]:
    # plotly.js draws a trace without a type as scatter
    return {t.get("type", "scatter") for c in _charts(page).values() for t in c["data"]}


def test_vendored_plotly_is_the_version_the_plotly_package_ships():
    """An upgrade of plotly must bring the bundle of its plotly.js along (vendor/README.md)."""
    assert plotly_basic_version() == get_plotlyjs_version()
    readme = (PLOTLY_BASIC.parent / "README.md").read_text(encoding="utf-8")
    assert f"`plotly.js-basic-dist-min@{get_plotlyjs_version()}`" in readme
    assert (PLOTLY_BASIC.parent / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_the_page_inlines_the_basic_bundle_not_the_full_one(full_page):
    bundle = PLOTLY_BASIC.read_text(encoding="utf-8")
    assert full_page.count(bundle) == 1
    assert f"* plotly.js v{get_plotlyjs_version()}" not in full_page  # the full bundle's header
    assert len(full_page.encode()) < len(bundle.encode()) + 300_000


def test_every_trace_the_report_draws_is_in_the_basic_bundle(full_page):
    assert _bundle_traces() == {"bar", "pie", "scatter"}
    assert _trace_types(full_page) == {"bar", "scatter"}


def test_above_the_breakdown_table_limit_the_page_is_written_without_those_tables(
        tmp_path, monkeypatch):
    """The national inbox (290 municipalities) is over the limit; the charts stay."""
    monkeypatch.setattr("utfall.report.BREAKDOWN_TABLE_MAX_KOMMUNER", 2)
    page = write_report(_headline_db(), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Uppdelningarna i tabellform" not in page
    assert "kpi-AME_AVSLUT_ARB_STUD-uppdelning" in _charts(page)


# --- Issue 23: a report a manager can act on ------------------------------------------------

OSUB6 = ("AME_OSUB_ARB_STUD_6M", "Arbete eller studier utan subvention 6 mån", "Unsubsidised",
         "Andel.", "Share.", "share", True, "exit")
KAND6 = ("AME_ARB_STUD_KAND_6M", "Arbete eller studier bland kända 6 mån", "Among known",
         "Andel.", "Share.", "share", True, "exit")
MEDIAN = ("FS_MEDIAN_MAN", "Mediantid med försörjningsstöd", "Median time on FS", "KM-median.",
          "KM median.", "months", False, "start")


def _variant_db(replace: dict | None = None, extra=(), kpis=()) -> duckdb.DuckDBPyConnection:
    """_headline_db with some of its rows replaced (by kpi_id, kommun, period, dimension,
    value) and more rows and KPIs added."""
    def key(v):
        return v[:5]
    replace = replace or {}
    values = [replace.get(key(v), v) for v in VALUES + HEADLINE_VALUES]
    con = _db(values=values + list(extra))
    insert_kpis(con,
                    [ARB6, OKAND6, EXPECTED6, DEVIATION6, *kpis])
    return con


def _render(con, tmp_path) -> str:
    return write_report(con, tmp_path / "r.html").read_text(encoding="utf-8")


GBG_OKAND6 = ("AME_OKAND_6M", "1480", "2023", "TOTAL", "ALLA")


def test_mostly_unknown_status_gets_a_note_and_no_marker(tmp_path):
    """Göteborg's interval lies wholly above Alla kommuner, but 95 % of its statuses are
    unknown: no ▲, a note instead (the unknown share itself is still compared)."""
    okand = ("AME_OKAND_6M", "1480", "2023", "TOTAL", "ALLA", 62, 65, 62 / 65, 0.79, 0.991, False)
    page = _render(_variant_db({GBG_OKAND6: okand}), tmp_path)
    overview = _section(page, '<section id="oversikt"')
    assert ('<td class="val" data-kpi="AME_ARB_STUD_6M" data-kommun="1480" data-marker="">'
            f'<span class="v">60,0{NBSP}%</span><span class="okand">status okänd för '
            f'95,4{NBSP}%</span></td>') in overview
    # Ale (its unknown share is not published above the threshold) keeps its ▼
    assert ('data-kpi="AME_ARB_STUD_6M" data-kommun="1440" data-marker="under"') in overview
    assert 'data-kpi="AME_OKAND_6M" data-kommun="1480" data-marker="over"' in overview
    # on Göteborg's page too, beside the region
    goteborg = _section(page, 'id="kommun-1480"', "</article>")
    years = _section(goteborg, '<table class="kommun-years">', "</table>")
    assert "tydligt högre än" not in _section(years, 'data-kpi="AME_ARB_STUD_6M"', "</tr>")
    assert f'<span class="okand">status okänd för 95,4{NBSP}%</span>' in goteborg


def test_unknown_status_of_the_same_breakdown_and_of_the_deviation(tmp_path):
    extra = [
        # Göteborg's IFO-referred exits: 80 % unknown; its AF-referred ones are not published
        ("AME_OKAND_6M", "1480", "2023", "REMITTERAD", "IFO", 24, 30, 0.8, 0.6, 0.9, False),
        # Ale's deviation is clearly below expected, but its status is 70 % unknown
        ("AME_OKAND_6M", "1440", "2023", "TOTAL", "ALLA", 14, 20, 0.7, 0.45, 0.87, False),
    ]
    page = _render(_variant_db(extra=extra), tmp_path)
    breakdown = _section(_section(page, 'id="kommun-1480"', "</article>"),
                         '<table class="kommun-breakdown">', "</table>")
    ifo = _section(breakdown, "Socialtjänsten (IFO)", "</tr>")
    assert f'<span class="okand">status okänd för 80,0{NBSP}%</span>' in ifo
    assert "okand" not in _section(breakdown, "Arbetsförmedlingen", "</tr>")
    ale = _section(_section(page, '<section id="forvantat"'), '<tr data-kommun="1440">', "</tr>")
    assert 'data-marker="under"' not in ale
    assert f'<span class="okand">status okänd för 70,0{NBSP}%</span>' in ale


def test_no_marker_against_a_region_whose_status_is_mostly_unknown(tmp_path):
    alla = ("AME_OKAND_6M", "ALLA", "2023", "TOTAL", "ALLA", 60, 100, 0.6, 0.5, 0.69, False)
    page = _render(_variant_db(extra=[alla]), tmp_path)
    overview = _section(page, '<section id="oversikt"')
    assert 'data-kpi="AME_ARB_STUD_6M" data-kommun="1440" data-marker="">' in overview
    assert (f'<span class="okand">jämförs inte: status okänd för 60,0{NBSP}% i Alla '
            'kommuner</span>') in overview


@pytest.mark.parametrize("kpi_id, unknown", [
    ("AME_ARB_STUD_6M", "AME_OKAND_6M"), ("AME_OSUB_ARB_STUD_12M", "AME_OKAND_12M"),
    ("AME_ARB_STUD_KAND_3M", "AME_OKAND_3M"), ("AME_ARB_STUD_6M_AVVIKELSE", "AME_OKAND_6M"),
    ("AME_ARB_STUD_START_6M", "AME_OKAND_START_6M"), ("AME_ARB_STUD_6M_FORVANTAT", None),
    ("AME_OKAND_6M", None), ("AME_EJ_FS_6M", None), ("AME_AVSLUT_ARB_STUD", None),
    ("FS_MEDIAN_MAN", None),
])
def test_which_kpis_are_status_kpis(kpi_id, unknown):
    from utfall.report import unknown_kpi

    assert unknown_kpi(kpi_id) == unknown


def test_the_threshold_is_stated_in_the_method_section(tmp_path):
    from utfall.report import UNKNOWN_THRESHOLD

    assert UNKNOWN_THRESHOLD == 0.5
    method = _section(_render(_variant_db(), tmp_path), '<section id="sa-raknas">')
    assert f"okänd för mer än 50{NBSP}% av avsluten" in method
    assert "även andelen bland dem med känd status" in method


def test_markers_come_from_the_published_noise_aware_interval_only():
    """metrics.md's example: 15 of 50 has the noise-aware interval 17.5-46.5 % (plain Wilson
    19.1-43.8 %). Against 45 % the plain interval would say "lower"; the published one does
    not, and a row without a published interval is never marked."""
    from utfall.report import compare_with_alla

    row = pd.Series({"kommun_kod": "1480", "suppressed": False, "value": 0.3, "numerator": 15,
                     "denominator": 50, "ci_low": 0.175, "ci_high": 0.465})
    alla = pd.Series({"kommun_kod": "ALLA", "suppressed": False, "value": 0.45})
    assert compare_with_alla(row, alla) == ""
    assert compare_with_alla(row.copy().replace({0.465: 0.44}), alla) == "under"
    assert compare_with_alla(row.copy().replace({0.175: None}), alla) == ""


def _numbers(row_html: str) -> list[Decimal]:
    texts = re.findall(r'<span class="v">([^<]*)</span>', row_html)
    return [Decimal(t.replace(NBSP, "").replace("%", "").replace("\u2212", "-")
                    .replace("+", "").replace(",", ".")) for t in texts]


def test_expected_plus_difference_is_the_actual_share_on_the_page(tmp_path):
    """The published rows add up (expected = 1.4 %, difference = 1/16 - 0.014); so must the
    page, where each is rounded to one decimal: 6,3 = 1,4 + 4,9 (not 6,2)."""
    replace = {
        ("AME_ARB_STUD_6M", "1480", "2023", "TOTAL", "ALLA"):
            ("AME_ARB_STUD_6M", "1480", "2023", "TOTAL", "ALLA", 1, 16, 1 / 16, 0.01, 0.3, False),
        ("AME_ARB_STUD_6M_FORVANTAT", "1480", "2023", "TOTAL", "ALLA"):
            ("AME_ARB_STUD_6M_FORVANTAT", "1480", "2023", "TOTAL", "ALLA", None, None, 0.014,
             None, None, False),
        ("AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "TOTAL", "ALLA"):
            ("AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "TOTAL", "ALLA", None, None,
             1 / 16 - 0.014, 0.01 - 0.014, 0.3 - 0.014, False),
    }
    page = _render(_variant_db(replace), tmp_path)
    expected = _section(page, '<section id="forvantat"')
    for code in ("1480", "1440"):
        actual, exp, diff = _numbers(_section(expected, f'<tr data-kommun="{code}">', "</tr>"))
        assert actual == exp + diff, code
    goteborg = _section(expected, '<tr data-kommun="1480">', "</tr>")
    assert f'<span class="v">6,3{NBSP}%</span>' in goteborg
    assert '<td class="num">\u22120,4 till +28,6</td>' in goteborg
    assert "går inte jämnt ihop" not in expected


def test_rounding_keeps_expected_plus_difference_equal_to_actual():
    """Every share x/m and every expected value of three decimals: the three texts add up."""
    from utfall.report import format_points

    def number(text):
        return Decimal(text.replace(NBSP, "").replace("%", "").replace("\u2212", "-")
                       .replace("+", "").replace(",", "."))
    for m in range(15, 70):
        for x in range(m + 1):
            for f in range(0, 1001, 13):
                share, expected = x / m, f / 1000
                assert number(format_value(share, "share")) == (
                    number(format_value(expected, "share"))
                    + number(format_points(share - expected))), (x, m, expected)


def test_rows_that_do_not_add_up_are_said_to_come_from_an_older_database(tmp_path):
    page = _render(_variant_db(), tmp_path)
    assert "går inte jämnt ihop" not in page
    wrong = ("AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "TOTAL", "ALLA", None, None, 0.07,
             -0.01, 0.15, False)
    page = _render(_variant_db({wrong[:5]: wrong}), tmp_path)
    assert "går inte jämnt ihop för alla kommuner" in _section(page, '<section id="forvantat"')


def test_a_median_not_reached_reads_ej_uppnadd(tmp_path):
    extra = [
        ("FS_MEDIAN_MAN", "ALLA", "2023", "TOTAL", "ALLA", 40, 90, 7.0, None, None, False),
        ("FS_MEDIAN_MAN", "1480", "2023", "TOTAL", "ALLA", 20, 38, None, None, None, False),
        ("FS_MEDIAN_MAN", "1440", "2023", "TOTAL", "ALLA", None, None, None, None, None, True),
        ("FS_MEDIAN_MAN", "1480", "2022", "TOTAL", "ALLA", 30, 40, 9.0, None, None, False),
    ]
    page = _render(_variant_db(extra=extra, kpis=[MEDIAN]), tmp_path)
    overview = _section(page, '<section id="oversikt"')
    assert ('<td class="val" data-kpi="FS_MEDIAN_MAN" data-kommun="1480" data-marker="">'
            '<span class="v">ej uppnådd</span>') in overview
    assert ('data-kpi="FS_MEDIAN_MAN" data-kommun="1440" data-marker=""><span class="v">för få'
            '</span>') in overview
    assert "inget värde" not in overview
    detail = _section(page, '<article id="kpi-FS_MEDIAN_MAN" class="kpi">', "</article>")
    assert f'<th scope="row">Göteborg</th><td>9,0{NBSP}mån (n{NBSP}={NBSP}40)</td><td>ej uppnådd</td>' in detail
    gaps = [t for t in _charts(page)["kpi-FS_MEDIAN_MAN-total"]["data"]
            if t.get("mode") == "markers+text" and "Göteborg" in t["y"]]
    assert gaps[0]["name"].startswith("ej uppnådd")  # the legend says what the circles mean
    i = gaps[0]["y"].index("Göteborg")
    assert gaps[0]["text"][i] == "  ej uppnådd"
    assert "medianen är längre än den tid som har gått" in gaps[0]["hovertext"][i]


def test_quarters_without_any_value_give_no_section(tmp_path):
    """Only a median not reached and suppressed cells in the quarters: nothing to show."""
    quarters = [("FS_MEDIAN_MAN", k, "2024-Q1", "TOTAL", "ALLA", n, d, None, None, None, s)
                for k, n, d, s in (("ALLA", 5, 40, False), ("1480", None, None, True))]
    values = [v for v in VALUES + HEADLINE_VALUES if "-Q" not in v[2]] + quarters
    con = _db(values=values)
    insert_kpis(con,
                    [ARB6, OKAND6, EXPECTED6, DEVIATION6, MEDIAN])
    page = _render(con, tmp_path)
    assert '<section id="kvartal"' not in page
    assert 'href="#kvartal"' not in page


def test_quarters_show_the_kpis_that_have_values(tmp_path):
    extra = [("FS_MEDIAN_MAN", "ALLA", "2024-Q1", "TOTAL", "ALLA", 5, 40, None, None, None, False),
             ("AME_STARTADE", "1480", "2024-Q1", "TOTAL", "ALLA", 12, None, 12, None, None, False),
             ("AME_STARTADE", "ALLA", "2024-Q1", "TOTAL", "ALLA", 20, None, 20, None, None, False)]
    page = _render(_variant_db(extra=extra, kpis=[MEDIAN]), tmp_path)
    quarters = _section(page, '<section id="kvartal"')
    tables = re.findall(r'<table class="quarter-table" data-kpi="(\w+)">', quarters)
    assert tables == ["AME_ARB_STUD_6M", "AME_STARTADE"]  # not the median, never reached
    assert "inget värde" not in quarters and "ej uppnådd" not in quarters


def _coverage_db(as_of: str = "2024-07-31") -> duckdb.DuckDBPyConnection:
    """Göteborg delivered payments through July, Ale its participants through June."""
    con = _variant_db()
    con.execute("update meta.run set as_of = ? where run_id = 'new'", [as_of])
    con.execute("insert into meta.delivery (delivery_id, path, kommun_kod, system, kind, status, "
                "period_start, period_end, file_hash) values "
                "('d5', '1480/procapita/fs_2024.csv', '1480', 'procapita', 'procapita_fs', "
                "'LOADED', '2024-01-01', '2024-07-01', 'h'), "
                "('d6', '1440/excel/deltagare_2024.xlsx', '1440', 'excel', 'excel_participants', "
                "'LOADED', '2024-01-03', '2024-06-20', 'h')")
    return con


def test_data_till_och_med_per_municipality_where_coverage_differs(tmp_path):
    page = _render(_coverage_db(), tmp_path)
    header = page[:page.index("</header>")]
    assert ('Data till och med <strong>2024-06-30</strong> för alla kommuner; längre för '
            'Göteborg (2024-07-31) (se kommunens sida) · körd 2024-07-01 09:12') in header
    goteborg = _section(page, 'id="kommun-1480"', "</article>")
    assert ('<p class="meta data-end">Data till och med <strong>2024-07-31</strong> för '
            'Göteborg') in goteborg
    assert "data-end" not in _section(page, 'id="kommun-1440"', "</article>")


def test_data_end_is_the_run_date_when_every_municipality_reaches_the_same_month():
    from utfall.report import data_end

    deliveries = pd.DataFrame({
        "kommun_kod": ["1480", "1440", "1440", "1402"],
        "status": ["LOADED", "LOADED", "REJECTED", "LOADED"],
        "period_end": pd.to_datetime(["2024-06-01", "2024-06-25", "2024-09-30", None])})
    ends = data_end(deliveries, date(2024, 6, 30))
    assert ends == {"common": date(2024, 6, 30), "later": [], "own": {}}
    # never past as_of, even where a file holds a later date
    assert data_end(deliveries, date(2024, 5, 31))["common"] == date(2024, 5, 31)


@pytest.mark.parametrize("message, swedish", [
    ("replaced by a corrected version of 1480/procapita/fs_2023.csv",
     "ersatt av en rättad version av 1480/procapita/fs_2023.csv"),
    ("1480/procapita/fs_2023.csv is no longer in the inbox",
     "1480/procapita/fs_2023.csv finns inte längre i inkorgen"),
    ("moved to 1402/excel/lista.xlsx", "flyttad till 1402/excel/lista.xlsx"),
    ("1480/procapita/x.csv: counts do not reconcile (read 10 != loaded 8 + quarantined 1 + "
     "skipped 0); nothing loaded", "1480/procapita/x.csv: antalen stämmer inte (lästa 10 ≠ "
     "inlästa 8 + i karantän 1 + överhoppade 0); inget inläst"),
    ("1420 is not a municipality code; did you mean 1402 (Partille)?",
     "1420 är inte en kommunkod; menade du 1402 (Partille)?"),
    ("Excel is not a system folder; did you mean excel? (folder names are lower case)",
     "Excel är inte en systemmapp; menade du excel? (mappnamn skrivs med små bokstäver)"),
    ("1480/procapita/a.txt: no header row with at least two known columns in the first 20 "
     "lines (headers seen: 'Namn')", "1480/procapita/a.txt: ingen rubrikrad med minst två "
     "kända kolumner bland de första 20 raderna (rubriker i filen: 'Namn')"),
    ("b.xlsx: a sheet spans 9 rows x 2 columns, more than 5 cells (limits.sheet_cells): not "
     "read; save the sheet again with only its used range, or raise the limit in the "
     "municipality's configuration", "b.xlsx: ett blad med 9 rader x 2 kolumner, fler än 5 "
     "celler (limits.sheet_cells): inte läst; spara bladet igen med bara det använda området, "
     "eller höj gränsen i kommunens konfiguration"),
])
def test_every_delivery_and_inbox_message_in_swedish(message, swedish):
    from utfall.report import message_sv

    assert message_sv(message) == swedish


@pytest.mark.parametrize("description, swedish", [
    ("birth_year is not null", "birth_year saknas aldrig"),
    ("sex is one of K, M", "sex är ett av K, M"),
    ("every assessed participant is linked to a person_key (unexpected = distinct unlinked "
     "participant_ref)", "varje bedömd deltagare är kopplad till en person_key (avvikande = "
     "antal olika participant_ref utan koppling)"),
    ("start_date between 1990-01-01 and as_of + 1 year (2025-06-30)",
     "start_date mellan 1990-01-01 och datum för data + 1 år (2025-06-30)"),
])
def test_check_descriptions_in_swedish(description, swedish):
    from utfall.report import check_sv

    assert check_sv(description) == swedish


def test_a_replaced_delivery_is_explained_in_swedish(tmp_path):
    con = _variant_db()
    con.execute("update meta.delivery set message = 'replaced by a corrected version of "
                "1480/skapa/bedomningar.csv' where delivery_id = 'd0'")
    quality = _section(_render(con, tmp_path), '<section id="datakvalitet"')
    assert "<td>ersatt av en rättad version av 1480/skapa/bedomningar.csv</td>" in quality
    assert "replaced by" not in quality


def test_every_table_scrolls_inside_its_own_box(full_page):
    """A phone (375 px) never scrolls the page sideways: a wide table scrolls in its box."""
    tables = full_page.count("<table")
    assert tables > 10
    assert len(re.findall(r'<div class="scroll">\s*<table', full_page)) == tables


def test_print_is_a4_with_headings_kept_with_their_text():
    css = (PLOTLY_BASIC.parents[1] / "report.css").read_text(encoding="utf-8")
    assert "@page { size: A4;" in css
    assert re.search(r"h1, h2, h3, h4, h5, summary, caption \{ break-after: avoid;", css)


def test_each_quarter_table_has_the_quarters_its_kpi_has(tmp_path):
    """Starts are counted for Q2 already; exits 6 months on are not: no column of "saknas"."""
    extra = [("AME_STARTADE", k, q, "TOTAL", "ALLA", n, None, n, None, None, False)
             for k, q, n in (("1480", "2024-Q1", 12), ("1480", "2024-Q2", 9),
                             ("1480", "2024-Q3", 7), ("ALLA", "2024-Q3", 20))]
    quarters = _section(_render(_variant_db(extra=extra), tmp_path), '<section id="kvartal"')
    starts = _section(quarters, 'data-kpi="AME_STARTADE"', "</thead>")
    assert starts.count('<th scope="col">Kvartal') == 3
    arb = _section(quarters, 'data-kpi="AME_ARB_STUD_6M"', "</thead>")
    assert arb.count('<th scope="col">Kvartal') == 2  # Q1 and Q2, not Q3
