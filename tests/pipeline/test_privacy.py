"""privacy.md, checked: no personnummer of the input in any output, in any written form."""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest
from python_calamine import CalamineWorkbook

from tests.pipeline.conftest import SAMPLE_INBOX
from utfall.adapters.personnummer import InvalidPersonnummer, parse
from utfall.export import export
from utfall.report import SUPPRESSED_TEXT, write_report

pytestmark = pytest.mark.pipeline
_CANDIDATE = re.compile(r"(?<!\d)(\d{6,8}[-+ ]?\d{4}|\d{9}|\d{11})(?!\d)")


def _cells(path):
    if path.suffix.lower() in (".xlsx", ".xls", ".ods"):
        try:
            book = CalamineWorkbook.from_path(str(path))
        except Exception:  # noqa: BLE001 - the deliberately corrupt file
            return []
        return [str(c) for name in book.sheet_names
                for row in book.get_sheet_by_name(name).to_python() for c in row]
    return [path.read_bytes().decode("cp1252", errors="replace")]


def inbox_personnummer() -> set[str]:
    """Every valid personnummer in the sample inbox, as its 12 digits."""
    found = set()
    from datetime import date

    for path in SAMPLE_INBOX.rglob("*"):
        if not path.is_file():
            continue
        for text in _cells(path):
            for token in _CANDIDATE.findall(text.replace(".0", "")):
                try:
                    found.add(parse(token, date.today()).digits12)
                except InvalidPersonnummer:
                    pass
    return found


def written_forms(digits12: str) -> set[str]:
    short = digits12[2:]
    return {digits12, short, f"{digits12[:8]}-{digits12[8:]}", f"{short[:6]}-{short[6:]}",
            f"{short[:6]}+{short[6:]}", short.lstrip("0")}


@pytest.fixture(scope="module")
def forms():
    numbers = inbox_personnummer()
    assert len(numbers) > 500  # the scan must have something to look for
    return {f for n in numbers for f in written_forms(n) if len(f) >= 9}


def _hits(blob: bytes, forms) -> list[str]:
    text = blob.decode("latin-1")
    digits = set(re.findall(r"\d{9,12}|\d{6,8}[-+]\d{4}", text))
    return sorted(digits & forms)


def test_database_file_holds_no_personnummer(sample_run, forms):
    summary, _ = sample_run
    assert _hits(summary.db_path.read_bytes(), forms) == []


def test_no_text_column_of_any_table_holds_a_personnummer(sample_run, forms):
    summary, _ = sample_run
    with duckdb.connect(str(summary.db_path), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'").fetchall()
        for schema, table, column in columns:
            values = con.execute(f'select distinct "{column}" from {schema}.{table}').fetchall()
            blob = "\n".join(str(v[0]) for v in values).encode("latin-1", errors="replace")
            assert _hits(blob, forms) == [], f"{schema}.{table}.{column}"


def test_report_export_and_log_hold_no_personnummer(sample_run, forms, tmp_path):
    summary, log_path = sample_run
    outputs = [summary.report_path, log_path, *export(summary.db_path, tmp_path)]
    for path in outputs:
        blob = ("\n".join(_cells(path)).encode() if path.suffix == ".xlsx" else path.read_bytes())
        assert _hits(blob, forms) == [], path.name


def test_database_and_report_are_owner_only(sample_run):
    summary, _ = sample_run
    assert summary.db_path.stat().st_mode & 0o077 == 0
    assert summary.report_path.stat().st_mode & 0o077 == 0


def _network_outputs(db_path, out_dir) -> tuple[str, dict]:
    """Everything meant for the managers' network: the report and the export (CSV as bytes, the
    workbook as its cells: the file itself carries a timestamp)."""
    out_dir.mkdir()
    with duckdb.connect(str(db_path), read_only=True) as con:
        report = write_report(con, out_dir / "rapport.html").read_text(encoding="utf-8")
    files = export(db_path, out_dir)
    return report, {p.name: p.read_bytes() if p.suffix == ".csv" else _cells(p) for p in files}


def test_report_and_export_never_read_the_exact_table(sample_run, tmp_path):
    """metrics.md: the exact marts.kpi_value never leaves the analysts. With it overwritten by
    sentinels, and then dropped, the report and the export are the same, byte for byte."""
    summary, _ = sample_run
    before = _network_outputs(summary.db_path, tmp_path / "before")
    report, files = before
    assert SUPPRESSED_TEXT in report and "987654" not in report
    assert sorted(files) == ["utfall-kpi-DEMO.csv", "utfall-kpi-DEMO.xlsx"]
    assert files["utfall-kpi-DEMO.csv"].count(b"\n") > 100  # there is something to compare

    db = tmp_path / "sentinel.duckdb"
    shutil.copy2(summary.db_path, db)
    with duckdb.connect(str(db)) as con:
        exact = con.execute("select count(*) from marts.kpi_value").fetchone()[0]
        assert exact > 0
        con.execute("update marts.kpi_value set kommun_kod = '9999', numerator = 987654, "
                    "denominator = 987654, value = 987654, ci_low = 987654, ci_high = 987654")
    assert _network_outputs(db, tmp_path / "sentinel") == before

    with duckdb.connect(str(db)) as con:
        con.execute("drop table marts.kpi_value")
    assert _network_outputs(db, tmp_path / "dropped") == before
