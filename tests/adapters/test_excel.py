"""The Excel participant-list adapter and the workbook reading it shares with SKAPA.

Fixtures: tests/adapters/make_spreadsheet_fixtures.py (deltagare.xlsx/.ods/.xls hold the same
list: sheets '2023' and '2022' and a 'Pivot').
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.adapters.make_spreadsheet_fixtures import NAMES, PNR, SheetSpec, write_xlsx
from utfall.adapters import excel
from utfall.adapters.base import FileRejected, Reason, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser, parse
from utfall.adapters.spreadsheet import Sheet, cell_text, find_table

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).with_name("files") / "excel"
TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")


def read(path: Path, config_dir: Path | None = None, kommun: str = "1480"):
    source = SourceFile(path, f"{kommun}/excel/{path.name}", kommun, "excel")
    return excel.read(source, ConfigStore(config_dir).for_system(kommun, "excel"), PSEUDO, TODAY)


def key(person: str) -> str:
    return PSEUDO.person_key(parse(str(PNR[person]), TODAY))


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple]:
    """The frame's rows as tuples, missing values as None."""
    out = frame[list(columns)].astype(object)
    return [tuple(None if pd.isna(v) else v for v in r) for r in out.itertuples(index=False)]


@pytest.fixture(scope="module", params=["deltagare.xlsx", "deltagare.ods", "deltagare.xls"])
def listing(request):
    return read(FILES / request.param)


# --- the participant list in three formats -------------------------------------------------------


def test_counts_add_up_and_pivot_sheet_is_skipped(listing):
    # '2023': rows 1-3 above the header, 11 below it (an empty row and 'Summa' skipped);
    # '2022': a title row and the sub-header row skipped, two participants
    assert (
        listing.rows_read,
        listing.rows_loaded,
        listing.rows_quarantined,
        listing.rows_skipped,
    ) == (18, 7, 4, 7)
    assert listing.reconciles()
    assert (listing.period_start, listing.period_end) == (date(2022, 5, 2), date(2023, 8, 31))
    assert listing.kind == "excel_participants"
    assert listing.notes == [
        (
            "sheet 'Pivot' skipped: no header row with a personnummer column and a start date column "
            "within the first 15 rows"
        ),
        (
            "1 follow-up status(es) not recorded: the row has no end date, so the follow-up has "
            "no date"
        ),
    ]


def test_bad_rows_are_quarantined_with_reason_row_and_column(listing):
    got = [(q.sheet, q.row_number, q.reason, q.column) for q in listing.quarantine]
    assert got == [
        ("2023", 9, Reason.PNR_INVALID, "Personnummer"),
        ("2023", 11, Reason.DATE_MISSING, "Startdatum"),
        ("2023", 12, Reason.DATE_INVALID, "Startdatum"),
        ("2023", 13, Reason.END_BEFORE_START, "Slutdatum"),
    ]
    name = listing.quarantine[0].message.split(",")[0]
    assert name.startswith("1480/excel/deltagare.")
    assert [q.message.removeprefix(name) for q in listing.quarantine] == [
        (
            ", sheet '2023', row 9, column 'Personnummer': not a valid personnummer "
            "(check digit does not match)"
        ),
        ", sheet '2023', row 11, column 'Startdatum': the date is missing",
        (
            ", sheet '2023', row 12, column 'Startdatum': not a date (2023-02-30 is not a date "
            "that exists)"
        ),
        (
            ", sheet '2023', row 13, column 'Slutdatum': end date 2023-04-01 is before start date "
            "2023-05-01"
        ),
    ]


def test_participants_with_dates_in_every_form(listing):
    frame = listing.tables["excel_participant"]
    assert rows(frame, "sheet", "row_number", "person_key", "birth_year", "birth_month", "sex",
                "participant_ref", "start_date", "end_date") == [
        # real dates; a hidden row (7) is data; 12, ' 14 ' and 15.0 all become plain text
        ("2023", 5, key("anna"), 1985, 3, "K", "12", date(2023, 1, 9), date(2023, 4, 28)),
        # serial 44958; a month-only end date is the month's last day
        ("2023", 6, key("bo"), 1992, 3, "K", "14", date(2023, 2, 1), date(2023, 6, 30)),
        # '1/3 2023' is day first; '31 maj 2023'
        ("2023", 7, key("cecilia"), 1976, 12, "K", "15", date(2023, 3, 1), date(2023, 5, 31)),
        # a 9-digit number that lost its leading zero; a month-only start is the first day
        ("2023", 10, key("eva"), 2001, 3, "M", "17", date(2023, 3, 1), None),
        ("2023", 14, key("fredrik"), 1967, 1, "M", "21", date(2023, 3, 1), date(2023, 8, 31)),
        ("2022", 4, key("gun"), 1995, 6, "K", None, date(2022, 5, 2), date(2022, 11, 30)),
        ("2022", 5, key("anna"), 1985, 3, "K", None, date(2022, 8, 15), date(2022, 12, 16)),
    ]  # fmt: skip


def test_values_are_mapped_and_unmapped_ones_counted(listing):
    frame = listing.tables["excel_participant"]
    assert rows(frame, "row_number", "insats_local", "insats_typ", "end_reason_local",
                "end_reason", "referred_from_local", "referred_from", "born_abroad",
                "malgrupp") == [
        (5, "Arbetsträning", "ARBETSTRANING", "Arbete", "ARBETE", "IFO", "IFO", True, "Unga"),
        (6, "Praktik", "PRAKTIK", "Studier", "STUDIER", "AF", "AF", False, None),
        (7, "Jobbklubb", None, "avslutad enligt plan", "PLANERAT", "Egen", "EGEN", True, None),
        (10, "SFI", "UTBILDNING", None, None, None, None, None, None),
        (14, "ATR Arbetsträning Returbutik", "ARBETSTRANING", "Avbrott", "AVBROTT", "Kommunen",
         None, False, None),
        (4, "Lönebidrag", "SUBVENTIONERAD_ANSTALLNING", None, None, None, None, None, None),
        (5, "Komvux", "UTBILDNING", None, None, None, None, None, None),
    ]  # fmt: skip
    assert dict(listing.unmapped) == {
        ("insats_typ", "Jobbklubb"): 1,
        ("status", "Kurs på folkhögskolan"): 1,
        ("referred_from", "Kommunen"): 1,
    }


def test_follow_up_statuses_including_a_two_level_header(listing):
    frame = listing.tables["excel_status"]
    assert rows(frame, "sheet", "row_number", "person_key", "basis", "horizon_months",
                "episode_end_date", "observed_on", "status_local", "status") == [
        ("2023", 5, key("anna"), "FOLLOWUP", 3, date(2023, 4, 28), None, "Jobb", "ARBETE"),
        ("2023", 5, key("anna"), "FOLLOWUP", 6, date(2023, 4, 28), None, "SFI", "STUDIER"),
        ("2023", 6, key("bo"), "FOLLOWUP", 3, date(2023, 6, 30), None, "vet ej", "OKAND"),
        ("2023", 6, key("bo"), "FOLLOWUP", 6, date(2023, 6, 30), None, "-", "OKAND"),
        ("2023", 7, key("cecilia"), "FOLLOWUP", 3, date(2023, 5, 31), None,
         "Kurs på folkhögskolan", None),
        ("2023", 7, key("cecilia"), "FOLLOWUP", 6, date(2023, 5, 31), None, "SFI", "STUDIER"),
        # row 10 has 'Arbetslös' at 3 months but no end date: not recorded (see the notes)
        ("2023", 14, key("fredrik"), "FOLLOWUP", 12, date(2023, 8, 31), None, "Anställd",
         "ARBETE"),
        # '2022': 'Status' merged over '3 mån', '6 mån', '12 mån'
        ("2022", 4, key("gun"), "FOLLOWUP", 3, date(2022, 11, 30), None, "Extratjänst",
         "ARBETE_SUBVENTIONERAT"),
        ("2022", 4, key("gun"), "FOLLOWUP", 6, date(2022, 11, 30), None, "Timanställd", "ARBETE"),
        ("2022", 4, key("gun"), "FOLLOWUP", 12, date(2022, 11, 30), None, "Okänt", "OKAND"),
        ("2022", 5, key("anna"), "FOLLOWUP", 3, date(2022, 12, 16), None, "Studier", "STUDIER"),
        ("2022", 5, key("anna"), "FOLLOWUP", 12, date(2022, 12, 16), None, "Eget företag",
         "ARBETE"),
    ]  # fmt: skip


def test_no_personnummer_or_name_leaves_the_adapter(listing):
    text = _everything(listing)
    for raw in PNR.values():
        digits = re.sub(r"\D", "", str(raw))
        for form in {digits, digits[-10:], str(raw)}:
            assert form not in text
    for name in NAMES.values():
        for part in name.split():
            assert not re.search(rf"\b{part}\b", text), part


def test_frames_fit_the_staging_tables(listing):
    con = duckdb.connect()
    con.execute((ROOT / "schemas" / "ddl" / "20_staging.sql").read_text())
    for table, frame in listing.tables.items():
        con.register("frame", frame.assign(delivery_id="d1", kommun_kod="1480"))
        con.execute(f"insert into staging.{table} by name select * from frame")
        con.unregister("frame")
    assert con.execute("select count(*) from staging.excel_participant").fetchone() == (7,)
    assert con.execute(
        "select count(*), count(status), min(episode_end_date) from staging.excel_status"
    ).fetchone() == (12, 11, date(2022, 11, 30))


# --- other layouts and configuration -------------------------------------------------------------


def test_plain_list_read_with_defaults_only():
    result = read(FILES / "plain.xlsx")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        4,
        2,
        0,
        2,
    )
    assert rows(result.tables["excel_participant"], "row_number", "person_key", "insats_typ",
                "start_date", "end_date", "end_reason") == [
        (3, key("anna"), "VAGLEDNING", date(2023, 1, 16), date(2023, 3, 31), "ARBETE"),
        (4, key("hugo"), "PRAKTIK", date(2023, 2, 1), None, None),
    ]  # fmt: skip
    # '6 mån' is a follow-up; 'Aktuell status' with 'Status per' is a dated, reported status
    assert rows(result.tables["excel_status"], "row_number", "basis", "horizon_months",
                "episode_end_date", "observed_on", "status") == [
        (3, "FOLLOWUP", 6, date(2023, 3, 31), None, "ARBETE"),
        (3, "REPORTED", None, None, date(2024, 1, 10), "ARBETE"),
    ]  # fmt: skip
    assert result.notes == ["1 status(es) not recorded: no readable status date"]


def test_configured_sheets_and_header_aliases(tmp_path):
    (tmp_path / "1401.yaml").write_text("excel:\n  sheets: ['2022']\n", encoding="utf-8")
    result = read(FILES / "deltagare.xlsx", tmp_path, kommun="1401")
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (4, 2, 2)
    assert result.notes == [
        "sheet '2023' skipped: not among the configured sheets",
        "sheet 'Pivot' skipped: not among the configured sheets",
    ]


def test_a_status_without_a_date_column_is_not_read_and_says_so(tmp_path):
    path = tmp_path / "lista.xlsx"
    write_xlsx(path, [SheetSpec("Lista", [
        ["Pnr", "Startdatum", "Status"],
        [PNR["anna"], "2023-01-02", "Arbete"],
    ])])  # fmt: skip
    result = read(path)
    assert result.rows_loaded == 1
    assert result.tables["excel_status"].empty
    assert result.notes == [
        (
            "sheet 'Lista': column 'Status' has no status date column beside it, so its values "
            "were not read"
        )
    ]


def _everything(result) -> str:
    parts = [frame.to_csv() for frame in result.tables.values()]
    parts += [repr(q) for q in result.quarantine] + result.notes + [repr(result.unmapped)]
    return "\n".join(parts)


# --- files that cannot be read -------------------------------------------------------------------


def _truncated(path: Path) -> None:
    raw = (FILES / "plain.xlsx").read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _zip_of_text(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "not a workbook")


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
    (lambda p: p.write_text("Personnummer;Startdatum\n19850312-2346;2023-01-01\n"),
     "not a workbook (expected .xlsx, .xls or .ods content)"),
    (_truncated, "the workbook is damaged (broken zip archive)"),
    (_zip_of_text, "a zip archive, but not a workbook (.xlsx or .ods)"),
    (lambda p: write_xlsx(p, [SheetSpec("Blad1", [[None]])]), "the workbook is empty"),
])  # fmt: skip
def test_unreadable_files_are_rejected_with_a_clear_message(tmp_path, make, message):
    path = tmp_path / "lista.xlsx"
    make(path)
    with pytest.raises(FileRejected) as rejected:
        read(path)
    assert str(rejected.value) == f"1480/excel/lista.xlsx: {message}"


def test_password_protected_workbook_is_rejected():
    with pytest.raises(
        FileRejected,
        match=r"^1480/excel/password.xlsx: the workbook is "
        r"password-protected$",
    ):
        read(FILES / "password.xlsx")


def test_workbook_without_a_participant_sheet_is_rejected():
    with pytest.raises(FileRejected) as rejected:
        read(FILES / "pivot_only.xlsx")
    assert str(rejected.value) == (
        "1480/excel/pivot_only.xlsx: no sheet has a header row with a personnummer column and "
        "a start date column within its first 15 rows (defaults.yaml)"
    )


# --- the shared reading: cells and header rows ---------------------------------------------------


def test_cell_text_makes_numbers_and_padded_text_alike():
    assert [cell_text(v) for v in (12, 12.0, " 12 ", 12.5, None, date(2023, 3, 1))] == [
        "12", "12", "12", "12.5", "", "2023-03-01"]  # fmt: skip


def _config():
    return ConfigStore(None).for_system("1480", "excel")


def test_two_level_header_without_merge_information():
    # as an .ods arrives: the group label 'Uppföljning' sits left of two blank header cells
    sheet = Sheet("Blad1", [
        ["Personnummer", "Startdatum", "Uppföljning", "", ""],
        ["", "", "3 mån", "6 mån", "12 mån"],
        ["19850312-2346", "2023-01-02", "Arbete", "", ""],
    ])  # fmt: skip
    table = find_table(sheet, _config())
    assert [(c.header, c.canonical) for c in table.columns] == [
        ("Personnummer", "personnummer"), ("Startdatum", "startdatum"),
        ("Uppföljning 3 mån", "status_3"), ("Uppföljning 6 mån", "status_6"),
        ("Uppföljning 12 mån", "status_12"),
    ]  # fmt: skip
    assert (table.header_row, table.subheader_row, table.split_rows()[1]) == (1, 2, 1)


def test_a_data_row_of_header_words_is_not_a_sub_header():
    sheet = Sheet("Blad1", [
        ["Personnummer", "Startdatum", "Insats", "Handläggare"],
        ["19850312-2346", "2023-01-02", "Aktivitet", "Coach"],
    ])  # fmt: skip
    table = find_table(sheet, _config())
    assert table.subheader_row is None
    assert [c.canonical for c in table.columns] == [
        "personnummer", "startdatum", "insats", "handlaggare"]  # fmt: skip


def test_the_header_must_lie_within_the_first_15_rows():
    header = ["Personnummer", "Startdatum"]
    assert find_table(Sheet("a", [[""]] * 14 + [header]), _config()).header_row == 15
    assert find_table(Sheet("b", [[""]] * 15 + [header]), _config()) is None


def test_a_merged_header_cell_names_every_column_it_covers():
    # 'Startdatum' merged over B1:C1, the date typed in C (calamine gives the text only in B)
    sheet = Sheet(
        "Blad1",
        [["Personnummer", "Startdatum", ""], ["19850312-2346", "", "2023-01-02"]],
        merged=[((0, 1), (0, 2))],
    )
    table = find_table(sheet, _config())
    data, skipped = table.split_rows()
    assert (table.value(data[0], "startdatum"), skipped) == ("2023-01-02", 0)


# --- the personnummer project's invalid and interim numbers, through the adapter ----------------

TESTDATA = ROOT / "tests" / "unit" / "personnummer_testdata"


def _project_numbers() -> list[tuple[object, Reason]]:
    """Every invalid form of structured.json (number cells as numbers) and every interim form."""
    groups = json.loads((TESTDATA / "structured.json").read_text(encoding="utf-8"))
    invalid = [n for forms in groups.values()
               for n in forms["integer"]["invalid"] + forms["string"]["invalid"]
               if " " not in str(n)]  # fmt: skip
    interim = [e[form] for e in json.loads((TESTDATA / "interim.json").read_text(encoding="utf-8"))
               for form in ("long_format", "separated_long", "short_format", "separated_format")]
    return [(n, Reason.PNR_INVALID) for n in invalid] + [(n, Reason.PNR_INTERIM) for n in interim]


def test_invalid_and_interim_numbers_of_the_public_lists_are_quarantined(tmp_path):
    numbers = _project_numbers()
    path = tmp_path / "lista.xlsx"
    write_xlsx(path, [SheetSpec("Lista", [["Personnummer", "Startdatum"]]
                                + [[n, date(2023, 1, 2)] for n, _ in numbers])])  # fmt: skip
    result = read(path)
    assert (result.rows_read, result.rows_loaded) == (len(numbers), 0)
    assert [(q.row_number, q.reason, q.column) for q in result.quarantine] == [
        (row, reason, "Personnummer") for row, (_, reason) in enumerate(numbers, start=2)]
    interim = [q.message for q in result.quarantine if q.reason == Reason.PNR_INTERIM]
    assert len(interim) == 48 and interim[0] == (
        f"1480/excel/lista.xlsx, sheet 'Lista', row {len(numbers) - 46}, column 'Personnummer': "
        "an interim number (a letter in the serial), not a personnummer")
    text = _everything(result)
    for n, _ in numbers:
        if n:
            assert str(n) not in text and re.sub(r"\D", "", str(n)) not in text
