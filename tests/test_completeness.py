"""Completeness per delivery and field (utfall.completeness), its quality checks and `utfall
unmapped`, through ingest on the sample inbox and on hand-made participant lists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest
from click.testing import CliRunner

from utfall import completeness, keys, quality, transform
from utfall.adapters.config import ConfigStore
from utfall.cli import main
from utfall.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_INBOX = ROOT / "data" / "sample" / "inbox"
TODAY, AS_OF = date(2024, 7, 1), date(2024, 6, 30)


def build(inbox: Path, db: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(db))
    transform.create_schemas(con)
    ingest(con, inbox, ConfigStore(ROOT / "config" / "kommuner"), keys.demo(), TODAY, workers=1)
    return con


def checks(con) -> list[quality.CheckResult]:
    return quality.run_table_checks(con, quality.COMPLETENESS_TABLE, AS_OF)


def measured(con, path: str, sheet: str | None, field: str) -> tuple:
    return con.execute(
        "select c.column_present, c.rows, c.rows_known, round(c.share_known, 4) "
        "from meta.field_completeness as c join meta.delivery as d using (delivery_id) "
        "where d.path = ? and c.sheet is not distinct from ? and c.field = ?",
        [path, sheet, field]).fetchone()


# --- the sample inbox ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    con = build(SAMPLE_INBOX, tmp_path_factory.mktemp("sample") / "utfall.duckdb")
    results = checks(con)
    yield con, results
    con.close()


@pytest.mark.parametrize("path, sheet, field, expected", [
    # 82 of the 83 episodes on sheet 2023 have ended; all have an end reason
    ("1384/excel/Deltagare AME 2021-2024.xlsx", "2023", "end_reason", (True, 82, 82, 1.0)),
    ("1384/excel/Deltagare AME 2021-2024.xlsx", "2023", "end_date", (True, 83, 82, 0.9880)),
    # follow-ups count only episodes ended at least 3 / 12 months before as_of
    ("1384/excel/Deltagare AME 2021-2024.xlsx", "2023", "status_3", (True, 75, 31, 0.4133)),
    ("1384/excel/Deltagare AME 2021-2024.xlsx", "2023", "status_12", (True, 18, 5, 0.2778)),
    ("1384/excel/Deltagare AME 2021-2024.xlsx", "2024", "status_12", (True, 0, 0, None)),
    ("1384/excel/Deltagare AME 2021-2024.xlsx", "2021", "insats_typ", (True, 33, 32, 0.9697)),
    ("1402/excel/Deltagarlista Partille.xlsx", "Deltagare", "born_abroad", (False, 379, 0, 0.0)),
    # Partille's SKAPA export has Deltagarnr only: measured per occasion
    ("1402/skapa/skapa_export_partille.csv", None, "personnummer", (False, 561, 0, 0.0)),
    ("1402/skapa/skapa_export_partille.csv", None, "participant_ref", (True, 561, 561, 1.0)),
    ("1402/skapa/skapa_export_partille.csv", None, "score_motivation", (True, 561, 541, 0.9643)),
    ("1384/procapita/ekb_2021.txt", None, "bistand_class", (True, 1232, 1232, 1.0)),
])
def test_sample_shares_per_delivery_sheet_and_field(sample, path, sheet, field, expected):
    con, _ = sample
    assert measured(con, path, sheet, field) == expected


def test_sample_skapa_dimensions_are_those_the_municipality_has(sample):
    con, _ = sample
    fields = [f for (f,) in con.execute(
        "select c.field from meta.field_completeness as c join meta.delivery as d "
        "using (delivery_id) where d.path = '1402/skapa/skapa_export_partille.csv' "
        "and c.field like 'score_%' order by 1").fetchall()]
    assert fields == ["score_arbetsformaga", "score_halsa", "score_motivation",
                      "score_social_formaga", "score_struktur"]


def test_sample_has_every_expected_column_and_no_drop(sample):
    con, results = sample
    failing = [r for r in results if not r.passed]
    assert failing == []
    passing = {(r.check_name, r.kommun_kod) for r in results}
    assert ("field_completeness_expected_column", "1402") in passing
    assert ("field_completeness_history", "1480") in passing  # 42 monthly payment files
    assert completeness.missing_columns_sentences(con) == []


def test_sample_table_for_the_report(sample):
    con, _ = sample
    tables = {t.kommun_kod: t for t in completeness.completeness_table(con)}
    assert sorted(tables) == ["1384", "1401", "1402", "1415", "1480"]
    rows = {(r.kind, r.field): r for r in tables["1384"].fields}
    end_reason = rows[("excel_participants", "end_reason")]
    assert (end_reason.label, end_reason.parts, end_reason.parts_without_column, end_reason.rows,
            end_reason.rows_known, end_reason.share_known) == ("Avslutsorsak", 4, 0, 200, 200, 1.0)
    assert rows[("excel_participants", "status_12")].rows_known == 51
    assert tables["1384"].fields[0].field == "personnummer"
    assert tables["1384"].fields[0].kind_sv == "Deltagarlistor (Excel)"


# --- a delivery without its Avslutsorsak column --------------------------------------------------

def pnr(birth: str, serial: str) -> str:
    """A valid personnummer YYYYMMDD-NNNC (Luhn over YYMMDDNNN)."""
    digits = birth[2:] + serial
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(digits))
    return f"{birth}-{serial}{(10 - total % 10) % 10}"


PEOPLE = [pnr("19850312", "234"), pnr("19920315", "432"), pnr("19761224", "518"),
          pnr("19670101", "555"), pnr("19950630", "246")]


def workbook(path: Path, sheet: str, header: list[str], rows: list[list]) -> None:
    """A hand-made list: a title row and a blank row above the header, a total row below."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append([f"Deltagare AME {sheet}"])
    ws.append([])
    ws.append(header)
    for row in rows:
        ws.append(row)
    ws.append(["Summa", len(rows)])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


HEADER_2022 = ["Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum", "Avslutsorsak",
               "Status 3 mån", "Status 6 mån", "Status 12 mån"]
ROWS_2022 = [
    [PEOPLE[0], "Anna A", "Praktik", date(2022, 1, 10), date(2022, 3, 31), "Arbete",
     "Arbete", "Arbete", "Arbete"],
    [PEOPLE[1], "Bo B", "Arbetsträning", date(2022, 2, 1), date(2022, 6, 30), "Studier",
     "Studier", None, "Studier"],
    [PEOPLE[2], "Cecilia C", "Kartläggning", date(2022, 3, 1), date(2022, 9, 30), "Flytt",
     "Flyttat", "Flyttat", None],
]
# no Avslutsorsak; a header no alias covers ("Avsl.orsak kommentar")
HEADER_2023 = ["Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum",
               "Avsl.orsak kommentar", "Status 3 mån", "Status 6 mån", "Status 12 mån"]
ROWS_2023 = [
    [PEOPLE[0], "Anna A", "Praktik", date(2023, 1, 9), date(2023, 2, 28), "fick jobb",
     "Arbete", "Arbete", "Arbete"],
    [PEOPLE[1], "Bo B", "Praktik", date(2023, 2, 1), date(2023, 4, 30), "", "på månen", None,
     None],
    [PEOPLE[3], "Fredrik F", "Lönebidrag", date(2023, 3, 1), date(2023, 8, 31), "", "Arbete",
     "Studier", None],
    [PEOPLE[4], "Gun G", "Studiebesök", date(2023, 4, 1), date(2024, 5, 31), "", None, None,
     None],
    [PEOPLE[2], "Cecilia C", "Praktik", date(2023, 9, 1), None, "", None, None, None],
]


@pytest.fixture
def lists(tmp_path):
    inbox = tmp_path / "inbox"
    workbook(inbox / "1481/excel/Deltagare 2022.xlsx", "2022", HEADER_2022, ROWS_2022)
    workbook(inbox / "1481/excel/Deltagare 2023.xlsx", "2023", HEADER_2023, ROWS_2023)
    con = build(inbox, tmp_path / "utfall.duckdb")
    yield inbox, tmp_path / "utfall.duckdb", con
    con.close()


def one(results, name: str, kommun: str, path: str | None, con) -> quality.CheckResult:
    did = None if path is None else con.execute(
        "select delivery_id from meta.delivery where path = ?", [path]).fetchone()[0]
    found = [r for r in results
             if r.check_name == name and r.kommun_kod == kommun and r.delivery_id == did]
    assert len(found) == 1, found
    return found[0]


def test_missing_column_is_measured_per_field(lists):
    _, _, con = lists
    checks(con)
    path = "1481/excel/Deltagare 2023.xlsx"
    assert measured(con, path, "2023", "end_reason") == (False, 4, 0, 0.0)
    assert measured(con, path, "2023", "end_date") == (True, 5, 4, 0.8)
    # ended at least 3 months before as_of: three; 'på månen' is unmapped, so not usable
    assert measured(con, path, "2023", "status_3") == (True, 3, 2, 0.6667)
    # ended at least 12 months before: the first two
    assert measured(con, path, "2023", "status_12") == (True, 2, 1, 0.5)
    assert measured(con, path, "2023", "insats_typ") == (True, 5, 4, 0.8)  # 'Studiebesök'
    assert measured(con, "1481/excel/Deltagare 2022.xlsx", "2022", "end_reason") == (
        True, 3, 3, 1.0)


def test_missing_expected_column_is_a_warning_naming_file_sheet_and_field(lists):
    _, _, con = lists
    results = checks(con)
    r = one(results, "field_completeness_expected_column", "1481",
            "1481/excel/Deltagare 2023.xlsx", con)
    assert (r.severity, r.rows_checked, r.unexpected, r.passed) == ("WARNING", 4, 4, False)
    assert r.description.startswith(
        "1481/excel/Deltagare 2023.xlsx (sheet 2023): no Avslutsorsak column (end_reason)")
    assert r.table_name == "meta.field_completeness"
    assert [x for x in results if x.check_name == "field_completeness_expected_column"
            and x.kommun_kod == "1481"] == [r]


def test_field_the_earlier_delivery_had_is_a_warning_when_missing_or_mostly_blank(lists):
    _, _, con = lists
    results = checks(con)
    r = one(results, "field_completeness_history", "1481", "1481/excel/Deltagare 2023.xlsx", con)
    assert (r.severity, r.rows_checked, r.unexpected, r.passed) == ("WARNING", 4, 4, False)
    assert "end_reason no column of 4 rows" in r.description
    assert "known in 100% (median)" in r.description
    # status_12: 1 of 2 against 2 of 3 earlier is above half of it: no warning
    history = [x for x in results if x.check_name == "field_completeness_history"]
    assert [x.description.split(": ")[1].split(" ")[0] for x in history] == ["end_reason"]


def test_missing_column_sentence_for_the_report(lists):
    _, _, con = lists
    checks(con)
    assert completeness.missing_columns_sentences(con) == [
        "Deltagare 2023.xlsx, blad 2023: ingen kolumn Avslutsorsak — avslutsorsak okänd för 4 "
        "avslutade insatser",
    ]
    (m,) = completeness.missing_columns(con)
    assert (m.kommun_kod, m.path, m.sheet, m.kind, m.field, m.rows_affected, m.expected) == (
        "1481", "1481/excel/Deltagare 2023.xlsx", "2023", "excel_participants", "end_reason", 4,
        True)
    (table,) = completeness.completeness_table(con)
    row = next(r for r in table.fields if r.field == "end_reason")
    assert (row.parts, row.parts_without_column, row.rows, row.rows_known) == (2, 1, 7, 3)
    assert row.share_known == pytest.approx(3 / 7)


def test_a_corrected_delivery_leaves_no_completeness_row_behind(lists):
    inbox, db, con = lists
    checks(con)
    reasons = ["Arbete", "Studier", "Arbete", "Avbrott", None]
    fixed = [row[:5] + [reason] + row[6:] for row, reason in zip(ROWS_2023, reasons)]
    workbook(inbox / "1481/excel/Deltagare 2023.xlsx", "2023", HEADER_2022, fixed)
    ingest(con, inbox, ConfigStore(ROOT / "config" / "kommuner"), keys.demo(), TODAY, workers=1)
    results = checks(con)
    assert completeness.missing_columns_sentences(con) == []
    assert not [r for r in results if not r.passed]
    stale = con.execute(
        "select count(*) from meta.field_completeness where delivery_id not in "
        "(select delivery_id from meta.delivery where status = 'LOADED')").fetchone()
    assert stale == (0,)
    assert measured(con, "1481/excel/Deltagare 2023.xlsx", "2023", "end_reason") == (
        True, 4, 4, 1.0)


def test_unmapped_lists_unknown_headers_beside_unmapped_values(lists):
    _, db, con = lists
    con.close()
    result = CliRunner().invoke(main, ["unmapped", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "1481 excel:"
    assert "  status              1  på månen" in lines
    assert "  insats_typ          1  Studiebesök" in lines
    assert lines[-2:] == ["  headers not understood:",
                          "    Deltagare 2023.xlsx, sheet 2023: 'Avsl.orsak kommentar'"]
    for person in PEOPLE:
        assert person not in result.output


def test_a_delivery_whose_columns_were_not_recorded_is_not_judged(lists):
    """A database loaded before columns were recorded: presence unknown, shares still measured."""
    _, _, con = lists
    con.execute("delete from meta.source_column where delivery_id in (select delivery_id "
                "from meta.delivery where path = '1481/excel/Deltagare 2023.xlsx')")
    results = checks(con)
    assert measured(con, "1481/excel/Deltagare 2023.xlsx", "2023", "end_reason") == (
        None, 4, 0, 0.0)
    assert one(results, "field_completeness_expected_column", "1481", None, con).passed
    assert completeness.missing_columns_sentences(con) == []


def test_the_report_shows_the_missing_column_and_the_shares_on_the_municipality_page(lists):
    from utfall.run import run

    inbox, _, con = lists
    con.close()
    out = inbox.parent / "report"
    summary = run(inbox, out / "u.duckdb", keys.demo(), ROOT / "config" / "kommuner",
                  today=TODAY, audit=False)
    page = summary.report_path.read_text(encoding="utf-8")
    mine = page[page.index('id="kommun-1481"'):]
    mine = mine[:mine.index("</article>")]
    assert ("Deltagare 2023.xlsx, blad 2023: ingen kolumn Avslutsorsak — avslutsorsak okänd "
            "för 4 avslutade insatser") in mine
    assert "<td>Avslutsorsak</td><td class=\"num\">2</td><td class=\"num\">1</td>" in mine
