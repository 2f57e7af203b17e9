"""The SKAPA adapter: an .xlsx with personnummer and 1-7 scales in the headers, and a UTF-8 .csv
with only Deltagarnr whose local dimension names a municipality's configuration maps.

Fixtures: tests/adapters/make_spreadsheet_fixtures.py.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.adapters.make_spreadsheet_fixtures import NAMES, PNR, SheetSpec, write_xlsx
from utfall.adapters import skapa
from utfall.adapters.base import FileRejected, Reason, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser, parse

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).with_name("files") / "skapa"
TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")

MOLNDAL = """\
skapa:
  scale: [1, 10]
  dimensions:
    Drivkraft: MOTIVATION
    Mående: {dimension: HALSA, scale: [1, 5]}
    Vardagsstruktur: STRUKTUR
"""


def read(path: Path, config_dir: Path | None = None, kommun: str = "1480"):
    source = SourceFile(path, f"{kommun}/skapa/{path.name}", kommun, "skapa")
    return skapa.read(source, ConfigStore(config_dir).for_system(kommun, "skapa"), PSEUDO, TODAY)


def key(person: str) -> str:
    return PSEUDO.person_key(parse(str(PNR[person]), TODAY))


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple]:
    out = frame[list(columns)].astype(object)
    return [tuple(None if pd.isna(v) else v for v in r) for r in out.itertuples(index=False)]


@pytest.fixture(scope="module")
def export():
    return read(FILES / "skapa_export.xlsx")


@pytest.fixture(scope="module")
def molndal(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("config")
    (config_dir / "1481.yaml").write_text(MOLNDAL, encoding="utf-8")
    return read(FILES / "skapa_deltagarnr.csv", config_dir, kommun="1481")


# --- the .xlsx with personnummer -----------------------------------------------------------------


def test_xlsx_counts_add_up(export):
    # rows 2-10: three occasions load, five are quarantined, one has no score at all
    assert (export.rows_read, export.rows_loaded, export.rows_quarantined, export.rows_skipped) == (
        9,
        3,
        5,
        1,
    )
    assert export.reconciles()
    assert export.kind == "skapa"
    assert (export.period_start, export.period_end) == (date(2023, 2, 1), date(2023, 3, 15))


def test_xlsx_one_row_per_occasion_and_scored_dimension(export):
    frame = export.tables["skapa_assessment"]
    a, b = key("anna"), key("bo")
    assert rows(frame, "row_number", "person_key", "participant_ref", "assessed_on", "rater",
                "dimension_local", "dimension", "score", "scale_min", "scale_max") == [
        (2, a, None, date(2023, 2, 1), "SELF", "Motivation (1-7)", "MOTIVATION", 3.0, 1.0, 7.0),
        (2, a, None, date(2023, 2, 1), "SELF", "Hälsa (1-7)", "HALSA", 4.0, 1.0, 7.0),
        (2, a, None, date(2023, 2, 1), "SELF", "Social förmåga (1-7)", "SOCIAL_FORMAGA", 5.0,
         1.0, 7.0),
        (2, a, None, date(2023, 2, 1), "SELF", "Struktur (1-7)", "STRUKTUR", 2.0, 1.0, 7.0),
        # a blank score is no assessment
        (3, a, None, date(2023, 2, 1), "STAFF", "Motivation (1-7)", "MOTIVATION", 4.0, 1.0, 7.0),
        (3, a, None, date(2023, 2, 1), "STAFF", "Hälsa (1-7)", "HALSA", 4.0, 1.0, 7.0),
        (3, a, None, date(2023, 2, 1), "STAFF", "Struktur (1-7)", "STRUKTUR", 3.0, 1.0, 7.0),
        # ' coach ' is a staff rating; the scale's ends are valid scores
        (4, b, None, date(2023, 3, 15), "STAFF", "Motivation (1-7)", "MOTIVATION", 7.0, 1.0, 7.0),
        (4, b, None, date(2023, 3, 15), "STAFF", "Hälsa (1-7)", "HALSA", 1.0, 1.0, 7.0),
        (4, b, None, date(2023, 3, 15), "STAFF", "Social förmåga (1-7)", "SOCIAL_FORMAGA", 2.0,
         1.0, 7.0),
        (4, b, None, date(2023, 3, 15), "STAFF", "Struktur (1-7)", "STRUKTUR", 6.0, 1.0, 7.0),
    ]  # fmt: skip
    assert set(frame["sheet"]) == {"Export"}


def test_xlsx_quarantine_names_row_column_and_reason(export):
    assert [(q.row_number, q.reason, q.column, q.message) for q in export.quarantine] == [
        (5, Reason.SCORE_INVALID, "Motivation (1-7)",
         ("1480/skapa/skapa_export.xlsx, sheet 'Export', row 5, column 'Motivation (1-7)': "
         "the score lies outside the scale 1-7")),
        (6, Reason.RATER_INVALID, "Bedömning",
         ("1480/skapa/skapa_export.xlsx, sheet 'Export', row 6, column 'Bedömning': not a known "
         "rater (Självskattning = self, Handledare / Coach = staff)")),
        (7, Reason.PNR_INVALID, "Personnummer",
         ("1480/skapa/skapa_export.xlsx, sheet 'Export', row 7, column 'Personnummer': not a "
         "valid personnummer (check digit does not match)")),
        (8, Reason.SCORE_INVALID, "Hälsa (1-7)",
         ("1480/skapa/skapa_export.xlsx, sheet 'Export', row 8, column 'Hälsa (1-7)': the score "
         "is not a number (scale 1-7)")),
        (9, Reason.DATE_MISSING, "Datum",
         ("1480/skapa/skapa_export.xlsx, sheet 'Export', row 9, column 'Datum': the date is "
         "missing")),
    ]  # fmt: skip


def test_xlsx_unknown_columns_and_raters_are_reported(export):
    assert dict(export.unmapped) == {("dimension", "Kommentar"): 2, ("rater", "Mentor"): 1}
    assert export.notes == [
        (
            "sheet 'Export': columns that are not known dimensions were not loaded: 'Kommentar' "
            "(2 values); map them under skapa.dimensions in the municipality's configuration"
        ),
        "1 occasion(s) without any score skipped",
    ]


# --- the .csv with Deltagarnr and configured dimensions ------------------------------------------


def test_csv_counts_add_up(molndal):
    # a title line, five records: three load, one score outside its scale, one without id
    assert (
        molndal.rows_read,
        molndal.rows_loaded,
        molndal.rows_quarantined,
        molndal.rows_skipped,
    ) == (6, 3, 2, 1)
    assert (molndal.period_start, molndal.period_end) == (date(2023, 3, 1), date(2023, 9, 1))


def test_csv_configured_dimensions_and_scales(molndal):
    frame = molndal.tables["skapa_assessment"]
    assert rows(frame, "sheet", "row_number", "person_key", "participant_ref", "assessed_on",
                "rater", "dimension_local", "dimension", "score", "scale_min", "scale_max") == [
        # the section's scale 1-10, except 'Mående', configured as 1-5
        (None, 3, None, "12", date(2023, 5, 2), "SELF", "Drivkraft", "MOTIVATION", 7.0, 1.0, 10.0),
        (None, 3, None, "12", date(2023, 5, 2), "SELF", "Mående", "HALSA", 4.0, 1.0, 5.0),
        (None, 3, None, "12", date(2023, 5, 2), "SELF", "Vardagsstruktur", "STRUKTUR", 9.0, 1.0,
         10.0),
        # ' 12 ' is the same participant as 12
        (None, 4, None, "12", date(2023, 9, 1), "STAFF", "Drivkraft", "MOTIVATION", 8.0, 1.0,
         10.0),
        (None, 4, None, "12", date(2023, 9, 1), "STAFF", "Mående", "HALSA", 5.0, 1.0, 5.0),
        (None, 4, None, "12", date(2023, 9, 1), "STAFF", "Vardagsstruktur", "STRUKTUR", 10.0,
         1.0, 10.0),
        # '1/3 2023' is day first; a decimal comma
        (None, 7, None, "15", date(2023, 3, 1), "STAFF", "Drivkraft", "MOTIVATION", 2.0, 1.0,
         10.0),
        (None, 7, None, "15", date(2023, 3, 1), "STAFF", "Mående", "HALSA", 2.0, 1.0, 5.0),
        (None, 7, None, "15", date(2023, 3, 1), "STAFF", "Vardagsstruktur", "STRUKTUR", 2.5, 1.0,
         10.0),
    ]  # fmt: skip


def test_csv_quarantine(molndal):
    assert [(q.row_number, q.reason, q.column, q.sheet, q.message) for q in molndal.quarantine] == [
        (5, Reason.SCORE_INVALID, "Mående", None,
         ("1481/skapa/skapa_deltagarnr.csv, row 5, column 'Mående': the score lies outside the "
         "scale 1-5")),
        (6, Reason.ID_MISSING, None, None,
         "1481/skapa/skapa_deltagarnr.csv, row 6: neither a personnummer nor a Deltagarnr"),
    ]  # fmt: skip
    assert dict(molndal.unmapped) == {("dimension", "Kommentar"): 1}


def test_csv_without_configuration_reports_every_local_dimension():
    result = read(FILES / "skapa_deltagarnr.csv")
    # no score column is known, so no occasion has a score: nothing is lost, all is reported
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped) == (
        6,
        0,
        1,
        5,
    )
    assert dict(result.unmapped) == {
        ("dimension", "Drivkraft"): 4, ("dimension", "Mående"): 4,
        ("dimension", "Vardagsstruktur"): 3, ("dimension", "Kommentar"): 1,
    }  # fmt: skip
    assert result.notes == [
        (
            "columns that are not known dimensions were not loaded: 'Drivkraft' (4 values), "
            "'Mående' (4 values), 'Vardagsstruktur' (3 values), 'Kommentar' (1 values); map them "
            "under skapa.dimensions in the municipality's configuration"
        ),
        "4 occasion(s) without any score skipped",
    ]


# --- scales, layouts, privacy, the staging contract ----------------------------------------------


def test_header_scales_and_configured_scale_take_precedence_in_order(tmp_path):
    (tmp_path / "1482.yaml").write_text(
        "skapa:\n  dimensions:\n    Språk: {dimension: SPRAK, scale: [0, 4]}\n", encoding="utf-8"
    )
    path = tmp_path / "skapa.xlsx"
    write_xlsx(path, [SheetSpec("Blad1", [
        ["Pnr", "Datum", "Skattad av", "Motivation (skala 1-10)", "Hälsa [0–6]", "Språk (1-7)",
         "Samarbete"],
        [PNR["anna"], "2023-05-02", "Deltagare", 10, 0, 0, 5],
    ])])  # fmt: skip
    result = read(path, tmp_path, kommun="1482")
    assert rows(result.tables["skapa_assessment"], "rater", "dimension", "score", "scale_min",
                "scale_max") == [
        ("SELF", "MOTIVATION", 10.0, 1.0, 10.0),
        ("SELF", "HALSA", 0.0, 0.0, 6.0),
        ("SELF", "SPRAK", 0.0, 0.0, 4.0),  # the configuration's scale wins over the header's
        ("SELF", "SAMARBETE", 5.0, 1.0, 5.0),  # the default scale
    ]  # fmt: skip


def test_export_without_rater_column_is_rejected(tmp_path):
    path = tmp_path / "skapa.xlsx"
    write_xlsx(
        path,
        [
            SheetSpec(
                "Blad1", [["Personnummer", "Datum", "Motivation"], [PNR["anna"], "2023-05-02", 3]]
            )
        ],
    )
    with pytest.raises(FileRejected) as rejected:
        read(path)
    assert str(rejected.value) == (
        "1480/skapa/skapa.xlsx, sheet 'Blad1': the header row has no rater column "
        "(Bedömning: Självskattning / Handledare)"
    )


def test_no_personnummer_or_name_leaves_the_adapter(export, molndal):
    text = "\n".join(
        [f.to_csv() for r in (export, molndal) for f in r.tables.values()]
        + [repr(q) for r in (export, molndal) for q in r.quarantine]
        + export.notes
        + molndal.notes
        + [repr(export.unmapped), repr(molndal.unmapped)]
    )
    for raw in PNR.values():
        digits = re.sub(r"\D", "", str(raw))
        for form in {digits, digits[-10:], str(raw)}:
            assert form not in text
    for name in NAMES.values():
        for part in name.split():
            assert not re.search(rf"\b{part}\b", text), part


def test_frames_fit_the_staging_table(export, molndal):
    con = duckdb.connect()
    con.execute((ROOT / "schemas" / "ddl" / "20_staging.sql").read_text())
    for result in (export, molndal):
        frame = result.tables["skapa_assessment"].assign(delivery_id="d", kommun_kod="1480")
        con.register("frame", frame)
        con.execute("insert into staging.skapa_assessment by name select * from frame")
        con.unregister("frame")
    assert con.execute(
        "select count(*), count(person_key), count(participant_ref) from staging.skapa_assessment"
    ).fetchone() == (20, 11, 9)


def test_personnummer_first_and_deltagarnr_where_it_is_missing(tmp_path):
    path = tmp_path / "skapa.xlsx"
    write_xlsx(path, [SheetSpec("Blad1", [
        ["Personnummer", "Deltagarnr", "Datum", "Bedömning", "Motivation"],
        [PNR["anna"], 12, "2023-05-02", "Handledare", 3],
        [None, 13.0, "2023-05-02", "Handledare", 4],
        [None, None, "2023-05-02", "Handledare", 5],
    ])])  # fmt: skip
    result = read(path)
    assert rows(result.tables["skapa_assessment"], "row_number", "person_key",
                "participant_ref", "score") == [
        (2, key("anna"), "12", 3.0),
        (3, None, "13", 4.0),
    ]  # fmt: skip
    assert [(q.row_number, q.reason) for q in result.quarantine] == [(4, Reason.ID_MISSING)]


@pytest.mark.parametrize(("name", "make", "message"), [
    ("tom.csv", lambda p: p.write_bytes(b""), "the file is empty"),
    ("pivot.xlsx", lambda p: write_xlsx(p, [SheetSpec("Pivot", [["Radetiketter", "Antal"]])]),
     ("no sheet has a header row with an identifier (Personnummer or Deltagarnr) and a date "
     "column (Datum) within its first 15 rows (defaults.yaml)")),
])  # fmt: skip
def test_unreadable_exports_are_rejected(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(FileRejected) as rejected:
        read(path)
    assert str(rejected.value) == f"1480/skapa/{name}: {message}"
