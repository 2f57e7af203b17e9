"""A national report that opens (issue 24): above SINGLE_FILE_MAX_KOMMUNER municipalities the
report is a small overview and a folder of pages beside it (one per municipality, per KPI and
for data quality, one plotly.js), every link relative; at GR's size it stays one file. The
folder is replaced whole with the file, never a folder utfall did not write. On a synthetic
published table of all 290 municipalities (no national build needed)."""

from __future__ import annotations

import json
import random
import re
import stat
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pandas as pd
import pytest

from utfall import files
from utfall.files import REPORT_FOLDER_MARK, FileProblem, report_folder, staged_report
from utfall.marts.catalogue import rows as catalogue_rows
from utfall.report import (
    ALLA,
    HEADLINE,
    PAGES_PLOTLY,
    SINGLE_FILE_MAX_KOMMUNER,
    hover_texts,
    is_split,
    kpi_figure,
    plotly_basic_js,
    title,
    write_report,
)

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[1]
DDL = ROOT / "schemas" / "ddl"
NBSP = "\u00a0"
OVERVIEW_LIMIT = 5_000_000  # bytes: issue 24's bound for the overview at 290 municipalities
COLUMNS = ["kpi_id", "kommun_kod", "period", "period_type", "dimension", "dimension_value",
           "numerator", "denominator", "value", "ci_low", "ci_high", "suppressed"]


def scb_codes() -> list[str]:
    lines = (ROOT / "schemas" / "kommuner.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split(";")[0] for line in lines if line.strip()]


def national_db(n: int = 290, seed: int = 24) -> duckdb.DuckDBPyConnection:
    """A published table like a national build's, for the parts the overview shows: every
    catalogue KPI, the headline KPIs for two years (TOTAL and by sex), expected against actual,
    the quarters of 2024; three deliveries per municipality (one rejected now and then)."""
    rng = random.Random(seed)
    codes = scb_codes()[:n]
    con = duckdb.connect()
    for name in ("10_meta.sql", "40_marts.sql"):
        con.execute((DDL / name).read_text(encoding="utf-8"))
    kpis = catalogue_rows()
    con.executemany(f"insert into marts.kpi values ({', '.join('?' * len(kpis[0]))})", kpis)
    units = dict(con.execute("select kpi_id, unit from marts.kpi").fetchall())
    values = []

    def add(kpi, code, period, dim="TOTAL", dim_value="ALLA", size=None):
        period_type = "QUARTER" if "-Q" in period else "YEAR"
        size = size or rng.randint(3, 400)
        if size < 5:
            values.append([kpi, code, period, period_type, dim, dim_value, *[None] * 5, True])
            return
        unit = units.get(kpi, "share")
        if unit == "count":
            values.append([kpi, code, period, period_type, dim, dim_value, size, None, size,
                           None, None, False])
        elif unit == "months":
            v = None if rng.random() < 0.2 else round(rng.uniform(3, 30), 1)
            values.append([kpi, code, period, period_type, dim, dim_value, None, size, v, None,
                           None, False])
        else:
            k = rng.randint(0, size)
            p, half = k / size, 1.96 * (0.25 / size) ** 0.5
            values.append([kpi, code, period, period_type, dim, dim_value, k, size, p,
                           max(0.0, p - half), min(1.0, p + half), False])

    for code in [ALLA, *codes]:
        for kpi, _ in HEADLINE:
            for year in ("2023", "2024"):
                add(kpi, code, year)
            for sex in ("K", "M"):
                add(kpi, code, "2023", "KON", sex)
            for q in ("2024-Q1", "2024-Q2"):
                add(kpi, code, q)
        if code != ALLA:
            for h in (3, 6, 12):
                actual = next((v for v in values if v[:3] == [f"AME_ARB_STUD_{h}M", code, "2023"]
                               and v[4] == "TOTAL"), None)
                share = actual[8] if actual and actual[8] is not None else 0.4
                expected = round(rng.uniform(0.2, 0.6), 3)
                values.append([f"AME_ARB_STUD_{h}M_FORVANTAT", code, "2023", "YEAR", "TOTAL",
                               "ALLA", None, None, expected, None, None, False])
                values.append([f"AME_ARB_STUD_{h}M_AVVIKELSE", code, "2023", "YEAR", "TOTAL",
                               "ALLA", None, None, share - expected, share - expected - 0.1,
                               share - expected + 0.1, False])
    frame = pd.DataFrame(values, columns=COLUMNS)  # noqa: F841 - read by DuckDB below
    con.execute("insert into marts.kpi_published select * from frame")
    con.execute("insert into meta.run values ('r', '2025-01-02 08:00', '2025-01-02 08:20', "
                "'2024-06-30', 'DEMO', 'inbox', '0.1.0', 5)")
    deliveries = []
    for i, code in enumerate(codes):
        for j, system in enumerate(("procapita", "skapa", "excel")):
            rejected = system == "excel" and i % 7 == 0
            deliveries.append([f"d{i}-{j}", f"{code}/{system}/fil_{j}.csv", code, system,
                               system, "REJECTED" if rejected else "LOADED",
                               "the workbook is password-protected" if rejected else None,
                               None if rejected else "2023-01-01",
                               None if rejected else "2024-06-30", 100, 98, 2, 0])
    frame = pd.DataFrame(deliveries, columns=[  # noqa: F841
        "delivery_id", "path", "kommun_kod", "system", "kind", "status", "message",
        "period_start", "period_end", "rows_read", "rows_loaded", "rows_quarantined",
        "rows_skipped"])
    con.execute("insert into meta.delivery (delivery_id, path, kommun_kod, system, kind, status, "
                "message, period_start, period_end, rows_read, rows_loaded, rows_quarantined, "
                "rows_skipped, file_hash) select *, 'h' from frame")
    return con


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("national") / "utfall-rapport.html"
    write_report(national_db(), out)
    return out


def _hrefs(text: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', text)


def _target(page: Path, href: str) -> Path:
    return (page.parent / unquote(href.split("#")[0])).resolve()


def _charts(text: str) -> dict:
    block = text[text.index('<script type="application/json" id="utfall-data">'):]
    return json.loads(block[block.index(">") + 1:block.index("</script>")])["charts"]


def test_the_threshold_keeps_grs_report_one_file():
    assert 13 < SINGLE_FILE_MAX_KOMMUNER < 290


def test_the_national_overview_is_small_and_has_no_script(national):
    text = national.read_text(encoding="utf-8")
    assert national.stat().st_size < OVERVIEW_LIMIT
    assert national.stat().st_size < 3_000_000  # 290 rows in the overview, expected, quarters
    assert "<script" not in text  # no chart here: no plotly.js and no data block
    assert stat.S_IMODE(national.stat().st_mode) == 0o600
    rows = re.findall(r'<tr data-kommun="(\w+)"', text[:text.index('<section id="forvantat"')])
    assert len(rows) == 291


def test_the_folder_holds_a_page_per_municipality_and_kpi(national):
    folder = national.with_suffix("")
    assert report_folder(national) == folder and folder.name == "utfall-rapport"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = {p.name for p in folder.iterdir()}
    kpis = {r[0] for r in catalogue_rows()}
    assert names == ({f"kommun-{c}.html" for c in scb_codes()}
                     | {f"kpi-{k}.html" for k in kpis}
                     | {"datakvalitet.html", PAGES_PLOTLY, REPORT_FOLDER_MARK})
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    assert (folder / PAGES_PLOTLY).read_text(encoding="utf-8") == plotly_basic_js()
    note = (folder / REPORT_FOLDER_MARK).read_text(encoding="utf-8")
    assert "öppna den filen" in note and "utfall-rapport.html" in note


def test_every_link_of_the_overview_opens_a_file_beside_it(national):
    text = national.read_text(encoding="utf-8")
    outside = [h for h in _hrefs(text) if not h.startswith("#")]
    assert outside and all(h.startswith("utfall-rapport/") for h in outside)
    assert all(_target(national, h).is_file() for h in outside)
    # every municipality of the overview table links its own page; the KPI columns theirs
    table = text[text.index('<table class="overview-table"'):text.index("</table>")]
    links = re.findall(r'<tr data-kommun="(\w+)"[^>]*>\n<th scope="row"><a href="([^"]+)"', table)
    assert len(links) == 290 and all(h == f"utfall-rapport/kommun-{c}.html" for c, h in links)
    assert 'href="utfall-rapport/kpi-AME_ARB_STUD_6M.html"' in table
    assert 'href="utfall-rapport/datakvalitet.html"' in text
    # the sections the contents list names are all in the overview
    for anchor in ("oversikt", "forvantat", "kvartal", "kommuner", "nyckeltal", "datakvalitet",
                   "sa-raknas"):
        assert f'href="#{anchor}"' in text and f'<section id="{anchor}"' in text


def test_every_page_links_back_and_loads_only_the_folders_plotly(national):
    folder = national.with_suffix("")
    for page in folder.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        for href in _hrefs(text):
            if not href.startswith("#"):
                assert _target(page, href).is_file(), (page.name, href)
        assert 'href="../utfall-rapport.html#oversikt"' in text
        assert re.findall(r'<script src="([^"]*)"', text) in ([], [PAGES_PLOTLY])
        assert "http://" not in text and "https://" not in text
        assert "Demodata: byggd med demonyckeln" in text  # every page says so


def test_a_municipality_page_is_the_one_file_reports_article(national, tmp_path):
    """The same article as in the one-file report, shown without its anchor; only its charts."""
    one = tmp_path / "one.html"
    con = national_db(n=4)
    write_report(con, one, split=False)
    split = tmp_path / "split.html"
    write_report(con, split, split=True)
    single = one.read_text(encoding="utf-8")
    page = (tmp_path / "split" / "kommun-0114.html").read_text(encoding="utf-8")

    def article(text):
        part = text[text.index('id="kommun-0114"'):]
        return part[:part.index("</article>")]
    # but for the list of its files, which the one-file report has in its quality section
    alone = article(page)
    files = alone[alone.index("<h5>Leveranser</h5>"):alone.index("<h5>Avvisade filer</h5>")]
    assert files.count("<tr>") == 4 and "0114/skapa/fil_1.csv" in files
    assert alone.replace(files, "") == article(single).replace(
        'href="#oversikt"', 'href="../split.html#oversikt"')
    assert '<article class="kommun-page alone" id="kommun-0114"' in page
    assert set(_charts(page)) == {"kommun-0114-trend"}
    assert _charts(page)["kommun-0114-trend"] == _charts(single)["kommun-0114-trend"]
    kpi = (tmp_path / "split" / "kpi-AME_ARB_STUD_6M.html").read_text(encoding="utf-8")
    assert set(_charts(kpi)) == {"kpi-AME_ARB_STUD_6M-total", "kpi-AME_ARB_STUD_6M-uppdelning",
                                 "kpi-AME_ARB_STUD_6M-trend"}
    # the overview's table is the one-file report's, its links into the folder
    def overview(text):
        return text[text.index('<section id="oversikt"'):text.index('<section id="kommuner"')]
    assert overview(split.read_text(encoding="utf-8")) == re.sub(
        r'href="#((?:kommun|kpi)-[\w-]+)"', r'href="split/\1.html"', overview(single))


def test_the_sample_sized_report_stays_one_file(tmp_path):
    out = tmp_path / "utfall-rapport.html"
    write_report(national_db(n=13), out)
    assert not report_folder(out).exists()
    text = out.read_text(encoding="utf-8")
    assert text.count(plotly_basic_js()) == 1 and "<script src" not in text
    assert 'href="#kommun-0114"' in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utfall-rapport.html"]


def test_above_the_threshold_the_report_gets_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr("utfall.report.SINGLE_FILE_MAX_KOMMUNER", 12)
    out = tmp_path / "utfall-rapport.html"
    write_report(national_db(n=13), out)
    assert (tmp_path / "utfall-rapport" / "kommun-0114.html").is_file()


def test_a_smaller_report_removes_the_folder_of_a_larger_one(tmp_path):
    out = tmp_path / "r.html"
    con = national_db(n=4)
    write_report(con, out, split=True)
    assert (tmp_path / "r" / "kommun-0114.html").is_file()
    write_report(con, out, split=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_the_folder_is_replaced_whole(tmp_path):
    out = tmp_path / "r.html"
    con = national_db(n=4)
    write_report(con, out, split=True)
    (tmp_path / "r" / "kommun-9999.html").write_text("from an earlier run")
    write_report(con, out, split=True)
    assert not (tmp_path / "r" / "kommun-9999.html").exists()
    assert (tmp_path / "r" / REPORT_FOLDER_MARK).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "r.html"]  # nothing left over


@pytest.mark.parametrize("taken", ["folder", "file"])
def test_a_place_utfall_did_not_write_is_never_replaced(tmp_path, taken):
    out = tmp_path / "r.html"
    out.write_text("an earlier report")
    place = tmp_path / "r"
    if taken == "folder":
        place.mkdir()
        (place / "mina anteckningar.txt").write_text("keep me")
    else:
        place.write_text("keep me")
    with pytest.raises(FileProblem, match="move it away and run again; nothing was changed"):
        write_report(national_db(n=4), out, split=True)
    assert out.read_text() == "an earlier report"
    kept = place / "mina anteckningar.txt" if taken == "folder" else place
    assert kept.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "r.html"]
    # a one-file report leaves it alone
    write_report(national_db(n=5), out)
    assert kept.read_text() == "keep me"


def test_staged_pages_are_written_beside_and_moved_in_by_commit(tmp_path):
    """What utfall.run does: write to the staged places while the run works, commit after the
    database is replaced. Before commit the earlier report and folder are untouched."""
    out = tmp_path / "u-rapport.html"
    con = national_db(n=4)
    write_report(con, out, split=True)
    before = {p.name: p.read_bytes() for p in (tmp_path / "u-rapport").iterdir()}
    con.execute("update meta.run set as_of = '2024-05-31'")
    with staged_report(out) as staged:
        write_report(con, out, staged=staged, split=True)
        assert staged.tmp.is_file() and staged.folder_tmp.is_dir()
        assert staged.tmp.name.startswith(".u-rapport.html.") and staged.tmp.name.endswith(".tmp")
        assert {p.name: p.read_bytes() for p in (tmp_path / "u-rapport").iterdir()} == before
        assert "2024-05-31" not in out.read_text(encoding="utf-8")
        staged.commit()
    assert "2024-05-31" in out.read_text(encoding="utf-8")
    assert "2024-05-31" in (tmp_path / "u-rapport" / "kommun-0114.html").read_text("utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u-rapport", "u-rapport.html"]


def test_a_run_that_fails_before_commit_changes_nothing(tmp_path):
    out = tmp_path / "u-rapport.html"
    con = national_db(n=4)
    write_report(con, out, split=True)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(RuntimeError, match="the build failed"):
        with staged_report(out) as staged:
            write_report(con, out, staged=staged, split=True)
            raise RuntimeError("the build failed")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    """files.remove_stale (the run calls it under the lock) clears the staged folder too."""
    db = tmp_path / "u.duckdb"
    leftover = tmp_path / ".u-rapport.html.dead0003.tmp-sidor"
    leftover.mkdir()
    (leftover / "kommun-0114.html").write_text("half")
    aside = tmp_path / ".u-rapport.html.dead0004.tmp-sidor.byte"
    aside.mkdir()
    files.remove_stale(db)
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_put_back_with_its_folder_when_it_cannot_be_moved_in(tmp_path):
    out = tmp_path / "u-rapport.html"
    con = national_db(n=4)
    write_report(con, out, split=True)
    before = (tmp_path / "u-rapport" / "kommun-0114.html").read_bytes()
    con.execute("update meta.run set as_of = '2024-05-31'")
    with staged_report(out) as staged:
        write_report(con, out, staged=staged, split=True)
        staged.tmp.unlink()  # the file cannot be moved in
        with pytest.raises(OSError):
            staged.commit()
    assert (tmp_path / "u-rapport" / "kommun-0114.html").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u-rapport", "u-rapport.html"]


@pytest.mark.parametrize("one_step", [True, False])
def test_exchange_swaps_two_folders(tmp_path, monkeypatch, one_step):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new").write_text("new")
    (b / "old").write_text("old")
    if not one_step:  # a file system without renameat2's exchange
        monkeypatch.setattr(files, "_renameat2", lambda a, b: False)
    files.exchange(a, b)
    assert [p.name for p in b.iterdir()] == ["new"] and [p.name for p in a.iterdir()] == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_hover_texts_are_written_from_the_numbers(tmp_path):
    """The page stores each point's numbers; the texts (here, and in report.js) read as before."""
    frame = pd.DataFrame(
        [["AME_ARB_STUD_6M", "1480", "2023", "TOTAL", "ALLA", 12.0, 20.0, 0.6, 0.3866, 0.7812,
          False],
         ["AME_ARB_STUD_6M", "1440", "2023", "TOTAL", "ALLA", None, None, None, None, None,
          True]], columns=[c for c in COLUMNS if c != "period_type"])
    fig = kpi_figure(frame, {"unit": "share", "kpi_id": "AME_ARB_STUD_6M"})
    assert fig.data[0].hovertext == (
        "", f"<b>Göteborg</b> 2023<br>60,0{NBSP}%<br>95 % konfidensintervall: 38,7–78,1{NBSP}%"
            "<br>12 av 20")
    out = tmp_path / "r.html"
    write_report(national_db(n=4), out, split=False)
    charts = _charts(out.read_text(encoding="utf-8"))
    stored = [t for c in charts.values() for t in c["data"] if "hovertext" in t]
    assert all(t.get("mode") == "markers+text" and "customdata" not in t for t in stored)
    texts = [h for c in charts.values() for t in c["data"] for h in hover_texts(t) or []]
    assert any("konfidensintervall" in h for h in texts)
    assert any(f"{NBSP}mån<br>underlag: " in h for h in texts)


def test_a_run_not_yet_passing_staged_still_gets_one_whole_file(tmp_path, monkeypatch):
    """utfall.run before it passes `staged`: it writes files.staged's hidden name and moves
    that file alone, so a folder beside it would be left behind: the report stays one file."""
    monkeypatch.setattr("utfall.report.SINGLE_FILE_MAX_KOMMUNER", 2)
    with files.staged(tmp_path / "u-rapport.html") as report:
        assert files.is_staged_name(report.tmp)
        write_report(national_db(n=4), report.tmp)
        report.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u-rapport.html"]
    assert (tmp_path / "u-rapport.html").read_text(encoding="utf-8").count(
        plotly_basic_js()) == 1


def test_a_national_report_is_not_titled_goteborgsregionen(national):
    """Göteborgsregionen's 13 keep their title; 290 municipalities are named by their number,
    on the overview and on every page beside it."""
    assert "<h1>utfall – jämförelse av AME-resultat i 290 kommuner</h1>" in national.read_text(
        encoding="utf-8")
    page = national.with_suffix("") / "kommun-0114.html"
    assert "Göteborgsregionen" not in page.read_text(encoding="utf-8")
    assert title(["1480", "1402"]) == "utfall – jämförelse av AME-resultat i Göteborgsregionen"
    assert title(["1480", "0114"]) == "utfall – jämförelse av AME-resultat i 2 kommuner"


def test_is_split_counts_the_municipalities_as_the_report_does(tmp_path):
    """utfall run's "nothing to do" asks whether a report has pages beside it without writing
    one: the same answer as write_report's."""
    for n in (SINGLE_FILE_MAX_KOMMUNER, SINGLE_FILE_MAX_KOMMUNER + 1):
        con = national_db(n=n)
        out = tmp_path / f"r{n}.html"
        write_report(con, out)
        assert is_split(con) == report_folder(out).is_dir() == (n > SINGLE_FILE_MAX_KOMMUNER)


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    return text[start:text.index("<h3>", start + len(heading))]


def test_the_national_quality_page_counts_deliveries_per_municipality(national):
    """Every file of 290 municipalities (36,000 at national scale) made the page 10 MB: it has
    one row per municipality, and each municipality's page lists its own files."""
    folder = national.with_suffix("")
    quality = (folder / "datakvalitet.html").read_text(encoding="utf-8")
    deliveries = _section(quality, "<h3>Leveranser</h3>")
    assert deliveries.count("<tr>") == 291 and "fil_0.csv" not in deliveries
    num = '<td class="num">{}</td>'
    # 0114 delivers three files, the workbook rejected: the two loaded ones' rows are counted
    assert ("<tr><td>Upplands Väsby (0114)</td>" + "".join(num.format(v) for v in
            (2, 1, 0, 200, 196, 4, 0)) + "<td>ja</td></tr>") in deliveries
    page = (folder / "kommun-0114.html").read_text(encoding="utf-8")
    own = page[page.index("<h5>Leveranser</h5>"):page.index("<h5>Avvisade filer</h5>")]
    assert [own.count(f"0114/{s}/fil_{j}.csv") for j, s in
            enumerate(("procapita", "skapa", "excel"))] == [1, 1, 1]
    assert "0180/" not in own


def test_the_one_file_report_keeps_every_delivery_in_its_quality_section(tmp_path):
    out = tmp_path / "utfall-rapport.html"
    write_report(national_db(n=13), out)
    text = out.read_text(encoding="utf-8")
    assert _section(text, "<h3>Leveranser</h3>").count("fil_0.csv") == 13
    assert "<h5>Leveranser</h5>" not in text and "Lästa rader" not in text
