"""Every way a spreadsheet carries its header, read from files LibreOffice saved.

Fixtures: tests/adapters/files/headers, written by tests/adapters/make_header_fixtures.py (openpyxl,
then opened and saved by LibreOffice). Files are read through adapters.read, as ingest reads them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.adapters.make_spreadsheet_fixtures import PNR, SheetSpec, write_xlsx
from utfall.adapters import read as read_through_layer
from utfall.adapters.base import SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser, parse
from utfall.adapters.spreadsheet import Sheet, find_table, unknown_headers

FILES = Path(__file__).with_name("files") / "headers"
TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
STORE = ConfigStore(None)


def read(name: str, system: str = "excel"):
    path = FILES / name
    source = SourceFile(path, f"1480/{system}/{name}", "1480", system)
    return read_through_layer(system, source, STORE.for_system("1480", system), PSEUDO, TODAY)


def key(person: str) -> str:
    return PSEUDO.person_key(parse(str(PNR[person]), TODAY))


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple]:
    out = frame[list(columns)].astype(object)
    return [tuple(None if pd.isna(v) else v for v in r) for r in out.itertuples(index=False)]


def episodes(result) -> list[tuple]:
    return rows(result.frame("excel_participant"), "row_number", "person_key", "start_date",
                "end_date", "end_reason_local", "end_reason")  # fmt: skip


def statuses(result) -> list[tuple]:
    return rows(result.frame("excel_status"), "row_number", "horizon_months", "status_local",
                "status")  # fmt: skip


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "xls"])
def test_a_header_cell_merged_down_from_the_row_above_names_its_column(fmt):
    # F2:F3 merged, 'Avslutsorsak' in F2, the header row's own F3 empty
    result = read(f"avslutsorsak_fran_raden_ovanfor.{fmt}")
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (6, 4, 2)
    assert episodes(result) == [
        (4, key("anna"), date(2023, 1, 9), date(2023, 4, 28), "Arbete", "ARBETE"),
        (5, key("gun"), date(2023, 2, 1), date(2023, 6, 30), "Studier", "STUDIER"),
        (6, key("hugo"), date(2023, 3, 1), None, None, None),
        (7, key("fredrik"), date(2023, 3, 15), date(2023, 5, 31), "Avbrott", "AVBROTT"),
    ]
    assert statuses(result) == [(4, 6, "Jobb", "ARBETE"), (7, 6, "-", "OKAND")]
    assert result.unknown_headers == [] and result.notes == []


def test_status_merged_across_the_horizons_over_a_second_header_row():
    result = read("status_sammanfogad.xlsx")
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (3, 2, 1)
    assert rows(result.frame("excel_participant"), "row_number", "person_key", "insats_typ",
                "end_date") == [
        (3, key("anna"), "PRAKTIK", date(2022, 12, 16)),
        (4, key("gun"), "SUBVENTIONERAD_ANSTALLNING", date(2022, 11, 30)),
    ]  # fmt: skip
    assert statuses(result) == [
        (3, 3, "Studier", "STUDIER"), (3, 12, "Arbete", "ARBETE"),
        (4, 3, "Extratjänst", "ARBETE_SUBVENTIONERAT"), (4, 6, "Timanställd", "ARBETE"),
        (4, 12, "Okänt", "OKAND"),
    ]  # fmt: skip


def test_status_typed_over_the_horizons_without_any_merge():
    result = read("status_utan_sammanfogning.xlsx")
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (2, 1, 1)
    assert statuses(result) == [(3, 3, "Arbetslös", "ARBETSSOKANDE"), (3, 6, "Arbete", "ARBETE")]


def test_a_group_row_above_the_header_row_with_a_cell_merged_down_from_it():
    result = read("uppfoljning_ovanfor.xlsx")
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (3, 2, 1)
    assert episodes(result) == [
        (3, key("anna"), date(2023, 1, 9), date(2023, 4, 28), "Arbete", "ARBETE"),
        (4, key("hugo"), date(2023, 2, 1), date(2023, 5, 31), "Flyttat", "FLYTT"),
    ]
    assert statuses(result) == [
        (3, 3, "Jobb", "ARBETE"), (3, 6, "Arbete", "ARBETE"), (4, 12, "Studier", "STUDIER")]


def test_header_cells_with_line_breaks():
    # 'Person-\nnummer', 'Start\ndatum', 'Slut\ndatum', 'Avslut-\norsak', 'Status\n3 mån'
    result = read("radbrytningar.xlsx")
    assert episodes(result) == [
        (2, key("fredrik"), date(2023, 1, 2), date(2023, 2, 28), "Arbete", "ARBETE"),
        (3, key("gun"), date(2023, 3, 1), date(2023, 5, 31), "Studier", "STUDIER"),
    ]
    assert statuses(result) == [(2, 3, "Anställd", "ARBETE"), (3, 3, "SFI", "STUDIER")]
    assert result.unknown_headers == []


def test_unknown_headers_are_listed_with_the_alias_they_nearly_match():
    result = read("okanda_rubriker.xlsx")
    assert result.unknown_headers == [
        ("Deltagare", "Avslutsorsk", "avslutsorsak"),
        ("Deltagare", "Kommentar", None),
    ]
    assert episodes(result) == [(2, key("anna"), date(2023, 1, 9), date(2023, 4, 28), None, None)]


def test_skapa_lists_headers_that_are_neither_known_nor_a_dimension():
    path = Path(__file__).with_name("files") / "skapa" / "skapa_export.xlsx"
    source = SourceFile(path, "1480/skapa/skapa_export.xlsx", "1480", "skapa")
    result = read_through_layer("skapa", source, STORE.for_system("1480", "skapa"), PSEUDO, TODAY)
    assert result.unknown_headers == [("Export", "Kommentar", None)]


def test_skapa_names_the_dimension_a_misspelt_header_nearly_matches(tmp_path):
    path = tmp_path / "skapa.csv"
    path.write_text("Personnummer;Datum;Bedömning;Motivaton;Hälsa\n"
                    "19850312-2346;2023-02-01;Självskattning;3;4\n", encoding="utf-8")  # fmt: skip
    source = SourceFile(path, "1480/skapa/skapa.csv", "1480", "skapa")
    result = read_through_layer("skapa", source, STORE.for_system("1480", "skapa"), PSEUDO, TODAY)
    assert result.unknown_headers == [(None, "Motivaton", "motivation")]


def test_no_unknown_header_is_listed_from_a_header_line_that_holds_data():
    # a lost line break: a data row's cells (a name among them) on the header line
    sheet = Sheet("Blad1", [
        ["Personnummer", "Startdatum", "198503122346", "Anna Andersson", "2023-03-01"],
        ["198503122346", "2023-03-01", "", "", ""],
    ])  # fmt: skip
    table = find_table(sheet, STORE.for_system("1480", "excel"))
    assert unknown_headers(table, STORE.for_system("1480", "excel")) == []


def test_a_personnummer_as_a_header_is_masked_in_the_list(tmp_path):
    path = tmp_path / "lista.xlsx"
    write_xlsx(path, [SheetSpec("Lista", [
        ["Personnummer", "Startdatum", "Kommentar 19850312-2346"],
        [PNR["anna"], "2023-01-02", "x"],
    ])])  # fmt: skip
    source = SourceFile(path, "1480/excel/lista.xlsx", "1480", "excel")
    result = read_through_layer("excel", source, STORE.for_system("1480", "excel"), PSEUDO, TODAY)
    assert result.unknown_headers == [("Lista", "Kommentar [personnummer]", None)]


def _excel_config():
    return STORE.for_system("1480", "excel")


def test_a_row_tied_to_the_header_row_by_a_merge_is_part_of_the_header():
    # A1:A2 and B1:B2 merged; 'Avslutsorsak' alone in row 2, under a blank header cell
    sheet = Sheet("Blad1", [
        ["Personnummer", "Startdatum", ""],
        ["", "", "Avslutsorsak"],
        ["19850312-2346", "2023-01-02", "Arbete"],
    ], merged=[((0, 0), (1, 0)), ((0, 1), (1, 1))])  # fmt: skip
    table = find_table(sheet, _excel_config())
    assert [c.canonical for c in table.columns] == ["personnummer", "startdatum", "avslutsorsak"]
    data, skipped = table.split_rows()
    assert (table.value(data[0], "avslutsorsak"), skipped) == ("Arbete", 1)


def test_a_header_cell_merged_down_through_the_data_does_not_make_a_sub_header():
    # 'Enhet' merged down A1:A3 over the unit's rows; row 2's 'Aktivitet' (an insats, and an
    # alias of Insats) stays data: only a merge ending at the next row ties it to the header
    sheet = Sheet("Blad1", [
        ["Enhet", "Personnummer", "Startdatum", "Insats"],
        ["", "19850312-2346", "2023-01-02", "Aktivitet"],
        ["", "19761224-5188", "2023-02-01", "Praktik"],
    ], merged=[((0, 0), (2, 0))])  # fmt: skip
    table = find_table(sheet, _excel_config())
    assert table.subheader_row is None
    data, skipped = table.split_rows()
    assert ([table.value(r, "insats") for r in data], skipped) == (["Aktivitet", "Praktik"], 0)
