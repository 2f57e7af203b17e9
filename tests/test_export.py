"""utfall export through the command line, on a small hand-made database: the CSV as a Swedish
analyst opens it in Excel, the workbook's typed cells and explanations, and the Kolada shape."""

from __future__ import annotations

import csv

import duckdb
import openpyxl
import pytest
from click.testing import CliRunner

from utfall import transform
from utfall.cli import main
from utfall.marts.catalogue import CATALOGUE

KIND = {k.kpi_id: k.kind for k in CATALOGUE}  # marts/catalogue.py
KPIS = [("AME_ARB_STUD_6M", "share"), ("AME_ARB_STUD_6M_AVVIKELSE", "share_difference"),
        ("AME_STARTADE", "count"), ("FS_MAN_FORE_12", "months")]
PUBLISHED = [
    # kpi_id, kommun, period, type, dimension, value, numerator, denominator, value, ci, suppressed
    ("AME_ARB_STUD_6M", "1480", "2023", "YEAR", "TOTAL", "ALLA", 5, 65, 5 / 65,
     0.033304198, 0.167759512, False),
    ("AME_ARB_STUD_6M", "1480", "2023", "YEAR", "KON", "K", None, None, None, None, None, True),
    ("AME_ARB_STUD_6M", "1480", "2023-Q2", "QUARTER", "TOTAL", "ALLA", 2, 20, 0.1,
     0.027866, 0.301034, False),
    ("AME_ARB_STUD_6M", "1482", "2023", "YEAR", "TOTAL", "ALLA", 1, 3, 1 / 3, 0.06, 0.79, False),
    ("AME_ARB_STUD_6M", "ALLA", "2023", "YEAR", "TOTAL", "ALLA", 1234, 5678, 1234 / 5678,
     0.206703, 0.228444, False),
    ("AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "YEAR", "TOTAL", "ALLA", None, None,
     -0.012345, -0.09, 0.065, False),
    ("AME_STARTADE", "1480", "2023", "YEAR", "TOTAL", "ALLA", 1056, None, 1056, None, None, False),
    ("FS_MAN_FORE_12", "1480", "2023", "YEAR", "KON", "M", None, 39, 5.916666667, None, None,
     False),
]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "utfall.duckdb"
    with duckdb.connect(str(path)) as con:
        transform.create_schemas(con)
        con.executemany(
            "insert into marts.kpi (kpi_id, title_sv, title_en, description_sv, description_en, "
            "unit, higher_is_better, cohort_basis, kind, published_without) values (?, 'titel', "
            "'title', 'beskrivning', 'description', ?, true, 'exit', ?, [])",
            [(kpi, unit, KIND[kpi]) for kpi, unit in KPIS])
        con.executemany("insert into marts.kpi_published values "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", PUBLISHED)
        # the exact table differs from the published one, so that a test sees which was read
        con.execute("insert into marts.kpi_value select * exclude (suppressed) "
                    "from marts.kpi_published where not suppressed")
        con.execute("update marts.kpi_value set value = 0.0447761194 "
                    "where kpi_id = 'AME_ARB_STUD_6M' and kommun_kod = '1480' and period = '2023'")
        con.execute("insert into meta.run (run_id, finished_at, key_label, min_cell) "
                    "values ('r1', now(), 'INSTALLATION', 5)")
    return path


def _export(db, out, *args):
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result


def test_csv_opens_in_swedish_excel(db, tmp_path):
    _export(db, tmp_path, "--format", "csv")
    raw = (tmp_path / "utfall-kpi.csv").read_bytes()
    assert raw.startswith("\ufeffNyckeltal (kpi_id);Kommun (kommun_kod);".encode())
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == ("Nyckeltal (kpi_id);Kommun (kommun_kod);Period (period);"
                        "Periodtyp (period_type);Uppdelning (dimension);Grupp (dimension_value);"
                        "Enhet (unit);Täljare (numerator);Nämnare (denominator);Värde (value);"
                        "Nedre gräns (ci_low);Övre gräns (ci_high);"
                        "Undertryckt (suppressed)")
    assert lines[1:] == [
        "AME_ARB_STUD_6M;1480;2023-Q2;QUARTER;TOTAL;ALLA;share;2;20;0,1000;0,0279;0,3010;nej",
        "AME_ARB_STUD_6M;1480;2023;YEAR;KON;K;share;;;;;;ja",
        "AME_ARB_STUD_6M;1480;2023;YEAR;TOTAL;ALLA;share;5;65;0,0769;0,0333;0,1678;nej",
        "AME_ARB_STUD_6M;1482;2023;YEAR;TOTAL;ALLA;share;1;3;0,3333;0,0600;0,7900;nej",
        "AME_ARB_STUD_6M;ALLA;2023;YEAR;TOTAL;ALLA;share;1234;5678;0,2173;0,2067;0,2284;nej",
        "AME_ARB_STUD_6M_AVVIKELSE;1480;2023;YEAR;TOTAL;ALLA;share_difference;;;-0,0123;-0,0900;"
        "0,0650;nej",
        "AME_STARTADE;1480;2023;YEAR;TOTAL;ALLA;count;1056;;1056;;;nej",
        "FS_MAN_FORE_12;1480;2023;YEAR;KON;M;months;;39;5,92;;;nej",
    ]


def test_decimals_of_shares_are_an_option(db, tmp_path):
    _export(db, tmp_path, "--format", "csv", "--decimals", "2")
    text = (tmp_path / "utfall-kpi.csv").read_text(encoding="utf-8-sig")
    assert "AME_ARB_STUD_6M;1480;2023;YEAR;TOTAL;ALLA;share;5;65;0,08;0,03;0,17;nej" in text
    assert "FS_MAN_FORE_12;1480;2023;YEAR;KON;M;months;;39;5,92;;;nej" in text


def test_workbook_has_typed_cells_and_explains_every_column(db, tmp_path):
    _export(db, tmp_path, "--format", "xlsx")
    book = openpyxl.load_workbook(tmp_path / "utfall-kpi.xlsx")
    assert book.sheetnames == ["kpi_published", "kolumner", "kpi", "om"]
    rows = list(book["kpi_published"].iter_rows(values_only=True))
    header = rows[0]
    share = dict(zip(header, rows[3]))
    assert share == {"kpi_id": "AME_ARB_STUD_6M", "kommun_kod": "1480", "period": "2023",
                     "period_type": "YEAR", "dimension": "TOTAL", "dimension_value": "ALLA",
                     "unit": "share", "numerator": 5, "denominator": 65, "value": 0.0769,
                     "ci_low": 0.0333, "ci_high": 0.1678, "suppressed": False}
    assert isinstance(share["numerator"], int)
    suppressed = dict(zip(header, rows[2]))
    assert suppressed["suppressed"] is True and suppressed["value"] is None
    assert book["kpi_published"]["J4"].number_format == "0.0000"
    assert book["kpi_published"]["J8"].number_format == "0"       # a count
    assert book["kpi_published"]["J9"].number_format == "0.00"    # months
    explained = {r[0]: r[1] for r in book["kolumner"].iter_rows(min_row=2, values_only=True)}
    assert list(explained) == list(header)
    assert all(explained.values())
    assert "4 decimaler" in explained["value"]
    assert "demonyckeln" not in book["om"]["A2"].value


def test_kolada_shape_reads_the_published_table(db, tmp_path):
    result = _export(db, tmp_path, "--format", "kolada")
    path = tmp_path / "utfall-kolada.csv"
    assert f"Wrote {path}" in result.output
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # for tools, as Kolada's own data
    assert list(csv.reader(raw.decode("utf-8").splitlines())) == [
        ["kpi", "municipality", "period", "gender", "value", "count", "status"],
        ["AME_ARB_STUD_6M", "1480", "2023", "T", "7.7", "1", ""],
        ["AME_ARB_STUD_6M", "1480", "2023", "K", "", "1", "SUPPRESSED"],
        ["AME_ARB_STUD_6M", "1482", "2023", "T", "33.3", "1", ""],
        ["AME_ARB_STUD_6M", "ALLA", "2023", "T", "21.7", "2", ""],
        ["AME_ARB_STUD_6M_AVVIKELSE", "1480", "2023", "T", "-1.2", "1", ""],
        ["AME_STARTADE", "1480", "2023", "T", "1056", "1", ""],
        ["FS_MAN_FORE_12", "1480", "2023", "M", "5.9", "1", ""],
    ]


def test_kolada_exact_only_on_request_and_named_so(db, tmp_path):
    result = _export(db, tmp_path, "--format", "kolada", "--exact")
    path = tmp_path / "utfall-kolada-EXAKT-ej-for-spridning.csv"
    assert "for the analysts only" in result.output
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    assert rows[1] == ["AME_ARB_STUD_6M", "1480", "2023", "T", "4.47761194", "1", ""]
    assert ["AME_ARB_STUD_6M", "1480", "2023", "K", "", "1", "SUPPRESSED"] not in rows
    assert not (tmp_path / "utfall-kolada.csv").exists()


def test_exact_is_refused_for_the_networks_formats(db, tmp_path):
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--out", str(tmp_path),
                                       "--format", "csv", "--exact"])
    assert result.exit_code == 2
    assert "--exact goes with --format kolada only" in result.output
    assert list(tmp_path.glob("*.csv")) == []
