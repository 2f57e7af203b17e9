"""Dates that cannot be true yet (privacy.md, DATE_FUTURE), through the adapters' one door
(adapters.read): a typo such as 2042-06 for 2024-06 is quarantined and cannot move a file's
period or the run's as_of; planned end dates load. AdapterResult.latest_date is exact."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from tests.adapters.files.procapita import fixtures as fx
from utfall.adapters import read as read_through_door
from utfall.adapters.base import AdapterResult, Reason, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser

pytestmark = pytest.mark.adapter

RUN_DATE = date(2024, 6, 15)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
FS_HEADER = "Personnummer;Hushållsnummer;Roll;Avser månad;Utbetalningsdatum;Belopp;Biståndstyp"


def read(path: Path, system: str, today: date = RUN_DATE) -> AdapterResult:
    source = SourceFile(path, f"1480/{system}/{path.name}", "1480", system)
    config = ConfigStore(None).for_system("1480", system)
    result = read_through_door(system, source, config, PSEUDO, today)
    assert result.reconciles()
    return result


def fs_file(tmp_path: Path, months: list[str]) -> Path:
    lines = [FS_HEADER] + [f"{fx.dashed(fx.P1)};H1;Sökande;{m};2024-05-25;1 000,00;Riksnorm"
                           for m in months]
    path = tmp_path / "fs_2024.csv"
    path.write_bytes("".join(line + "\r\n" for line in lines).encode("cp1252"))
    return path


def workbook(tmp_path: Path, name: str, sheet: str, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(r, c, value)
                if isinstance(value, datetime):
                    ws.cell(r, c).number_format = "yyyy-mm-dd"
    path = tmp_path / name
    book.save(path)
    return path


def quarantine(result: AdapterResult) -> list[tuple]:
    return [(q.sheet, q.row_number, q.reason, q.column, q.message) for q in result.quarantine]


# --- Procapita payments: Avser månad -------------------------------------------------------------


def test_a_payment_month_in_2042_is_quarantined_and_the_others_load(tmp_path):
    r = read(fs_file(tmp_path, ["2024-05", "2024-06", "2042-06", "2024-07", "2024-08"]),
             "procapita")
    name = "1480/procapita/fs_2024.csv"
    assert quarantine(r) == [
        (None, 4, Reason.DATE_FUTURE, "Avser månad",
         f"{name} line 4, column 'Avser månad': month 2042-06 is later than the month after the "
         f"run date 2024-06-15: it cannot be true yet"),
        (None, 6, Reason.DATE_FUTURE, "Avser månad",
         f"{name} line 6, column 'Avser månad': month 2024-08 is later than the month after the "
         f"run date 2024-06-15: it cannot be true yet"),
    ]
    frame = r.frame("procapita_fs_line")
    assert list(frame["row_number"]) == [2, 3, 5]
    assert list(frame["month"]) == [date(2024, 5, 1), date(2024, 6, 1), date(2024, 7, 1)]
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (5, 3, 0)
    # the typo moves neither the file's period nor the date a cached read stays valid to
    assert (r.period_start, r.period_end) == (date(2024, 5, 1), date(2024, 7, 1))
    assert r.latest_date == date(2042, 5, 1)


def test_the_month_after_the_run_date_loads_and_its_latest_date_is_the_run_month(tmp_path):
    # assistance is sometimes paid a month ahead: 2024-07 on 2024-06-01 is not future, and
    # counts as 2024-06-01, so that latest_date <= today exactly when nothing is future
    path = fs_file(tmp_path, ["2024-06", "2024-07"])
    r = read(path, "procapita", today=date(2024, 6, 1))
    assert (r.rows_loaded, r.quarantine, r.latest_date) == (2, [], date(2024, 6, 1))
    earlier = read(path, "procapita", today=date(2024, 5, 31))
    assert [(q.row_number, q.reason) for q in earlier.quarantine] == [(3, Reason.DATE_FUTURE)]
    assert earlier.latest_date == date(2024, 6, 1) > date(2024, 5, 31)


def test_a_line_with_a_future_month_and_a_bad_personnummer_is_quarantined_once(tmp_path):
    path = tmp_path / "fs.csv"
    path.write_bytes((f"{FS_HEADER}\r\n{fx.short('19' + fx.BAD_CHECK)};H1;Sökande;2042-06;;1;"
                      f"Riksnorm\r\n").encode("cp1252"))
    r = read(path, "procapita")
    assert [(q.row_number, q.reason) for q in r.quarantine] == [(2, Reason.PNR_INVALID)]
    assert r.latest_date is None  # a line that never loaded has no date that was checked


def test_insats_dates_are_not_checked(tmp_path):
    # a planned end date is normal (an ongoing episode); an insats export has no observation
    path = tmp_path / "insatser.csv"
    path.write_bytes(f"Personnummer;Insats;Startdatum;Slutdatum\r\n{fx.dashed(fx.P1)};Praktik;"
                     f"2024-05-02;2042-12-31\r\n".encode("cp1252"))
    r = read(path, "procapita")
    assert (r.rows_loaded, r.quarantine, r.latest_date) == (1, [], None)
    assert list(r.frame("procapita_insats")["end_date"]) == [date(2042, 12, 31)]


# --- Excel participant lists: dated statuses -----------------------------------------------------

EXCEL_HEADER = ["Personnummer", "Namn", "Startdatum", "Slutdatum", "Status", "Statusdatum"]


def test_excel_end_date_in_2042_loads_and_a_future_status_is_not_recorded(tmp_path):
    path = workbook(tmp_path, "deltagare.xlsx", "2024", [
        ["Deltagare AME 2024"],
        EXCEL_HEADER,
        [fx.dashed(fx.P1), "Anna Andersson", datetime(2024, 1, 8), datetime(2042, 12, 31),
         "Arbete", datetime(2024, 5, 2)],
        [fx.dashed(fx.P4), "Bo Berg", datetime(2024, 2, 1), datetime(2024, 5, 31),
         "Studier", datetime(2042, 3, 1)],
        [fx.dashed(fx.P5), "Per Persson", datetime(2024, 3, 1), None,
         "Praktik", datetime(2024, 6, 15)],
    ])
    r = read(path, "excel")
    participants = r.frame("excel_participant")
    assert list(participants["row_number"]) == [3, 4, 5]
    assert list(participants["end_date"]) == [date(2042, 12, 31), date(2024, 5, 31), None]
    statuses = r.frame("excel_status")
    assert list(zip(statuses["row_number"], statuses["observed_on"], strict=True)) == [
        (3, date(2024, 5, 2)), (5, date(2024, 6, 15))]
    # the episode is sound and loads; its one future status cannot be loaded and quarantined
    # both, so it is dropped and named in the notes
    assert r.quarantine == []
    assert ("1 value(s) of 'Statusdatum' after the run date 2024-06-15 (DATE_FUTURE) not "
            "recorded; their rows loaded: sheet '2024' row 4") in r.notes
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (4, 3, 1)
    assert r.latest_date == date(2042, 3, 1)
    assert (r.period_start, r.period_end) == (date(2024, 1, 8), date(2042, 12, 31))


def test_excel_without_dated_statuses_has_no_latest_date(tmp_path):
    path = workbook(tmp_path, "plain.xlsx", "Blad1", [
        ["Personnummer", "Startdatum", "Slutdatum", "Status 6 mån"],
        [fx.dashed(fx.P1), datetime(2023, 1, 8), datetime(2023, 6, 30), "Arbete"],
    ])
    r = read(path, "excel")
    assert (r.rows_loaded, r.latest_date) == (1, None)


# --- SKAPA: assessments --------------------------------------------------------------------------


def test_a_skapa_assessment_after_the_run_date_is_quarantined(tmp_path):
    path = workbook(tmp_path, "skapa.xlsx", "Bedömningar", [
        ["Personnummer", "Datum", "Bedömning", "Motivation", "Hälsa"],
        [fx.dashed(fx.P1), datetime(2024, 6, 14), "Självskattning", 4, 3],
        [fx.dashed(fx.P1), datetime(2024, 6, 16), "Handledare", 3, 3],
        [fx.dashed(fx.P4), datetime(2024, 6, 15), "Handledare", 2, None],
    ])
    r = read(path, "skapa")
    assert quarantine(r) == [
        ("Bedömningar", 3, Reason.DATE_FUTURE, "Datum",
         "1480/skapa/skapa.xlsx, sheet 'Bedömningar', row 3, column 'Datum': date 2024-06-16 is "
         "after the run date 2024-06-15: it cannot be true yet"),
    ]
    frame = r.frame("skapa_assessment")
    assert list(zip(frame["row_number"], frame["dimension"], strict=True)) == [
        (2, "MOTIVATION"), (2, "HALSA"), (4, "MOTIVATION")]
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (3, 2, 0)
    assert (r.period_start, r.period_end) == (date(2024, 6, 14), date(2024, 6, 15))
    assert r.latest_date == date(2024, 6, 16)


def test_a_skapa_text_export_is_checked_the_same_way(tmp_path):
    path = tmp_path / "skapa.csv"
    path.write_text("Deltagarnr;Datum;Bedömning;Motivation\n12;2024-06-01;Självskattning;4\n"
                    "13;2204-06-01;Handledare;5\n", encoding="utf-8")
    r = read(path, "skapa")
    assert [(q.sheet, q.row_number, q.reason) for q in r.quarantine] == [
        (None, 3, Reason.DATE_FUTURE)]
    assert list(r.frame("skapa_assessment")["row_number"]) == [2]
    assert r.latest_date == date(2204, 6, 1)
