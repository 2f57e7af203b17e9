"""Exports, issue 23: the CSV's headings say what each column is beside its code, and the Kolada
file is rounded as Kolada publishes (one decimal for percentages, halves up, whole counts), with
`count` as Kolada means it (how many municipalities a group's value stands on)."""

from __future__ import annotations

import csv

import duckdb
import openpyxl
import pytest
from click.testing import CliRunner

from utfall import transform
from utfall.cli import main
from utfall.marts.catalogue import CATALOGUE

KPIS = [("AME_ARB_STUD_6M", "share"), ("AME_ARB_STUD_6M_AVVIKELSE", "share_difference"),
        ("AME_STARTADE", "count"), ("FS_MAN_FORE_12", "months")]
PUBLISHED = [
    # kpi_id, kommun, period, type, dimension, value, numerator, denominator, value, ci, suppressed
    ("AME_ARB_STUD_6M", "1401", "2023", "YEAR", "TOTAL", "ALLA", 30, 41, 30 / 41, 0.57, 0.85,
     False),
    ("AME_ARB_STUD_6M", "1480", "2023", "YEAR", "TOTAL", "ALLA", 23, 80, 23 / 80, 0.2, 0.39,
     False),  # 28.75 %: half up is 28.8, the binary 100 * 0.2875 rounds to 28.7
    ("AME_ARB_STUD_6M", "1482", "2023", "YEAR", "TOTAL", "ALLA", None, None, None, None, None,
     True),  # suppressed, but its people are in ALLA: a member of the group's value
    ("AME_ARB_STUD_6M", "ALLA", "2023", "YEAR", "TOTAL", "ALLA", 56, 124, 56 / 124, 0.36, 0.54,
     False),
    ("AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "YEAR", "TOTAL", "ALLA", None, None, -0.0004,
     -0.05, 0.05, False),  # -0.04 percentage points: 0.0, not -0.0
    ("AME_STARTADE", "1480", "2023", "YEAR", "TOTAL", "ALLA", 85, None, 85, None, None, False),
    ("FS_MAN_FORE_12", "1480", "2023", "YEAR", "KON", "K", None, 40, 0.45, None, None, False),
]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "utfall.duckdb"
    with duckdb.connect(str(path)) as con:
        transform.create_schemas(con)
        add_kpis(con)
        con.executemany("insert into marts.kpi_published values "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", PUBLISHED)
        con.execute("insert into meta.run (run_id, finished_at, key_label, min_cell) "
                    "values ('r1', now(), 'INSTALLATION', 5)")
    return path


def add_kpis(con) -> None:
    """The test's KPIs into marts.kpi, each with its kind from the catalogue."""
    kinds = {k.kpi_id: k.kind for k in CATALOGUE}
    con.executemany("insert into marts.kpi values (?, 'titel', 'title', 'beskrivning', "
                    "'description', ?, true, 'exit', ?, [])",
                    [(kpi_id, unit, kinds[kpi_id]) for kpi_id, unit in KPIS])


def export(db, out, *args) -> None:
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--out", str(out), *args])
    assert result.exit_code == 0, result.output


HEADER = ["Nyckeltal (kpi_id)", "Kommun (kommun_kod)", "Period (period)",
          "Periodtyp (period_type)", "Uppdelning (dimension)", "Grupp (dimension_value)",
          "Enhet (unit)", "Täljare (numerator)", "Nämnare (denominator)", "Värde (value)",
          "Nedre gräns (ci_low)", "Övre gräns (ci_high)", "Undertryckt (suppressed)"]


def test_the_csv_heads_each_column_with_its_name_and_code(db, tmp_path):
    export(db, tmp_path, "--format", "csv")
    rows = list(csv.reader((tmp_path / "utfall-kpi.csv").read_text(encoding="utf-8-sig")
                           .splitlines(), delimiter=";"))
    assert rows[0] == HEADER
    assert rows[1] == ["AME_ARB_STUD_6M", "1401", "2023", "YEAR", "TOTAL", "ALLA", "share", "30",
                       "41", "0,7317", "0,5700", "0,8500", "nej"]
    assert len(rows) == 1 + len(PUBLISHED)  # one header row: no heading is read as data


def test_the_workbook_names_the_csv_headings(db, tmp_path):
    export(db, tmp_path, "--format", "xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "utfall-kpi.xlsx")["kolumner"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("kolumn", "betydelse", "rubrik i CSV")
    assert [r[2] for r in rows[1:]] == HEADER
    assert rows[1][:1] == ("kpi_id",)


def test_kolada_rounds_as_kolada_publishes_and_counts_contributing_members(db, tmp_path):
    export(db, tmp_path, "--format", "kolada")
    rows = list(csv.reader((tmp_path / "utfall-kolada.csv").read_text(encoding="utf-8")
                           .splitlines()))
    assert rows == [
        ["kpi", "municipality", "period", "gender", "value", "count", "status"],
        ["AME_ARB_STUD_6M", "1401", "2023", "T", "73.2", "1", ""],
        ["AME_ARB_STUD_6M", "1480", "2023", "T", "28.8", "1", ""],
        ["AME_ARB_STUD_6M", "1482", "2023", "T", "", "1", "SUPPRESSED"],
        ["AME_ARB_STUD_6M", "ALLA", "2023", "T", "45.2", "3", ""],
        ["AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "T", "0.0", "1", ""],
        ["AME_STARTADE", "1480", "2023", "T", "85", "1", ""],
        ["FS_MAN_FORE_12", "1480", "2023", "K", "0.5", "1", ""],
    ]
