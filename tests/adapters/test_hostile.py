"""Hostile and broken files one at a time (issue 22): a workbook over its reading budget (a sparse
sheet that declares the whole grid, a zip bomb) is rejected before the reader allocates, naming
the file and the limit; a reader's panic (a truncated .xls) costs only its file; an amount that
cannot be a line of försörjningsstöd, or is a personnummer, is quarantined. Every hostile file
is written by the test; none is committed."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest

from utfall import reading
from utfall.adapters.base import Reason, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser

pytestmark = pytest.mark.adapter

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).with_name("files")
TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
               'openxmlformats.org/spreadsheetml/2006/main">')
_HEADER_ROW = ('<row r="1"><c r="A1" t="inlineStr"><is><t>Personnummer</t></is></c>'
               '<c r="B1" t="inlineStr"><is><t>Startdatum</t></is></c></row>')


def _write_xlsx(path: Path, sheet_body: str | None = None, sheet_stream=None) -> Path:
    """A minimal .xlsx; the sheet's XML given whole, or streamed from an iterable of strings."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in [("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)]:
            archive.writestr(name, text)
        if sheet_body is not None:
            archive.writestr("xl/worksheets/sheet1.xml", sheet_body)
            return path
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for part in sheet_stream:
                member.write(part.encode())
    return path


def _read_in_child(path: Path, system: str = "excel", config_dir: Path | None = None,
                   stderr: list | None = None) -> str:
    """utfall.reading.read_one on the file in a child process: if a check fails, the reader may
    abort the process, which must fail the test, not end pytest. Prints error, then trace."""
    code = (
        "import sys; from datetime import date; from pathlib import Path\n"
        "from utfall.adapters.base import SourceFile; from utfall.adapters.config import ConfigStore\n"
        "from utfall.adapters.personnummer import Pseudonymiser; from utfall import reading\n"
        f"source = SourceFile(Path({str(path)!r}), '1480/{system}/' + Path({str(path)!r}).name,"
        f" '1480', {system!r})\n"
        f"config_dir = {None if config_dir is None else str(config_dir)!r}\n"
        "store = ConfigStore(None if config_dir is None else Path(config_dir))\n"
        f"r = reading.read_one(reading.Job({system!r}, source), store,"
        " Pseudonymiser(b'adapter tests only - not a secret key', 'DEMO'), date(2024, 6, 1))\n"
        "print(r.error); print(r.trace)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"the reader died ({done.returncode}): {done.stderr[-2000:]}"
    if stderr is not None:
        stderr.append(done.stderr)
    return done.stdout


def _read(path: Path, system: str = "excel", store: ConfigStore | None = None) -> reading.Read:
    source = SourceFile(path, f"1480/{system}/{path.name}", "1480", system)
    return reading.read_one(reading.Job(system, source), store or ConfigStore(None), PSEUDO,
                            TODAY)


# --- reading has a budget -------------------------------------------------------------------------


def test_a_2_kb_workbook_that_declares_the_whole_grid_is_rejected_before_reading(tmp_path):
    path = _write_xlsx(tmp_path / "glest.xlsx", _SHEET_HEAD
                       + '<dimension ref="A1:XFD1048576"/><sheetData>' + _HEADER_ROW
                       + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
                       + "</sheetData></worksheet>")
    assert path.stat().st_size < 2048
    out = _read_in_child(path)
    assert out.startswith("1480/excel/glest.xlsx: a sheet declares 1,048,576 rows x 16,384 "
                          "columns, more than 30,000,000 cells (limits.sheet_cells)"), out


def test_a_sparse_workbook_without_a_dimension_is_rejected_by_its_cells(tmp_path):
    path = _write_xlsx(tmp_path / "glest.xlsx", _SHEET_HEAD + "<sheetData>" + _HEADER_ROW
                       + '<row r="2"><c r="XFD999999"><v>1</v></c></row>'
                       + "</sheetData></worksheet>")
    out = _read_in_child(path)
    assert out.startswith("1480/excel/glest.xlsx: a sheet spans 999,999 rows x 16,384 "
                          "columns"), out


def test_a_zip_bomb_is_rejected_before_it_is_unpacked(tmp_path):
    """A few MB that unpack to 1.5 GB: rejected by the sizes the archive declares."""
    row = "<row>" + '<c t="inlineStr"><is><t>x</t></is></c>' * 64 + "</row>"
    block = row * (2**20 // len(row))
    stream = [_SHEET_HEAD + "<sheetData>" + _HEADER_ROW,
              *(block for _ in range(1500)), "</sheetData></worksheet>"]
    path = _write_xlsx(tmp_path / "bomb.xlsx", sheet_stream=stream)
    assert path.stat().st_size < 10 * 2**20
    started = time.perf_counter()
    out = _read_in_child(path)
    assert out.startswith("1480/excel/bomb.xlsx: the workbook unpacks to more than 512 MB"), out
    assert time.perf_counter() - started < 30


def test_a_member_whose_declared_size_lies_is_counted_as_it_unpacks(tmp_path):
    path = _write_xlsx(tmp_path / "liar.xlsx", _SHEET_HEAD + "<sheetData>" + _HEADER_ROW
                       + "<row/>" * 200_000 + "</sheetData></worksheet>")
    raw = bytearray(path.read_bytes())
    # the central directory's and the local header's uncompressed size of the sheet, made small
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    local = info.header_offset
    raw[local + 22:local + 26] = (100).to_bytes(4, "little")
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24:central + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    error = _read(path).error
    assert error.startswith("1480/excel/liar.xlsx: the workbook is damaged"), error


def test_the_limits_are_configurable(tmp_path):
    (tmp_path / "1480.yaml").write_text("limits:\n  sheet_cells: 100\n", encoding="utf-8")
    store = ConfigStore(tmp_path)
    error = _read(FILES / "excel" / "deltagare.xlsx", store=store).error
    assert "more than 100 cells (limits.sheet_cells)" in error
    assert _read(FILES / "excel" / "deltagare.xlsx").error is None


def test_the_sample_and_fixture_workbooks_pass_the_default_budget():
    for path in [*FILES.rglob("*.xlsx"), *FILES.rglob("*.ods"),
                 *(ROOT / "data" / "sample" / "inbox").rglob("*.xlsx")]:
        error = _read(path).error or ""
        assert "limits." not in error, error


# --- a reader's failure costs only its file --------------------------------------------------------


@pytest.mark.parametrize("cut", [609, 997, 5120, 8757])
def test_a_truncated_xls_is_rejected_by_name_without_a_backtrace(tmp_path, cut):
    """An interrupted copy: cut where calamine panics (609, 997, 8757 bytes) and where it
    fails plainly (5120)."""
    raw = (FILES / "excel" / "deltagare.xls").read_bytes()
    path = tmp_path / "avbruten.xls"
    path.write_bytes(raw[:cut])
    stderr: list = []
    out = _read_in_child(path, stderr=stderr)
    assert out.startswith("1480/excel/avbruten.xls: the workbook is damaged"), out
    assert "panicked" not in stderr[0] and "backtrace" not in stderr[0]


def test_any_base_exception_of_a_reader_is_one_files_failure(tmp_path, monkeypatch):
    class Panic(BaseException):  # as pyo3's PanicException: not an Exception
        pass

    def panics(*args):
        raise Panic("the reader gave up")

    monkeypatch.setattr(reading, "read_with_adapter", panics)
    result = _read(FILES / "excel" / "deltagare.xlsx")
    assert result.error == ("1480/excel/deltagare.xlsx: the file could not be read (the reader "
                            "failed with Panic); run with -v for the details")
    assert "Panic" in result.trace


def test_keyboard_interrupt_still_stops(monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reading, "read_with_adapter", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _read(FILES / "excel" / "deltagare.xlsx")


# --- plausible values --------------------------------------------------------------------------------

PAYMENTS = ("Personnummer;Hushållsnummer;Avser månad;Belopp;Utbetalningsdatum\n"
            "198503122346;H1;2024-03;{};2024-03-25\n")


def _payments(tmp_path: Path, amounts: list[str], config_dir: Path | None = None):
    path = tmp_path / "fs.txt"
    lines = [PAYMENTS.splitlines()[0]] + [PAYMENTS.splitlines()[1].format(a) for a in amounts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = ConfigStore(config_dir)
    return _read(path, "procapita", store).result


def test_a_personnummer_in_the_amount_column_is_quarantined_not_loaded(tmp_path):
    result = _payments(tmp_path, ["5400", "198805173575", "8805173575", "198805173575,00"])
    assert [(q.row_number, q.reason) for q in result.quarantine] == [
        (3, Reason.NUMBER_IS_PNR), (4, Reason.NUMBER_IS_PNR), (5, Reason.NUMBER_IS_PNR)]
    assert result.rows_loaded == 1
    assert all("8805173575" not in q.message for q in result.quarantine)


def test_an_amount_no_month_can_be_is_quarantined_with_a_reason(tmp_path):
    result = _payments(tmp_path, ["12500", "-3200", "750000", "-900000", "499999"])
    assert [(q.row_number, q.reason) for q in result.quarantine] == [
        (4, Reason.AMOUNT_IMPLAUSIBLE), (5, Reason.AMOUNT_IMPLAUSIBLE)]
    assert "above 500,000 kr" in result.quarantine[0].message
    assert "limits.fs_amount_max_kr" in result.quarantine[0].message
    assert result.rows_loaded == 3 and result.reconciles()


def test_the_ceiling_is_configurable(tmp_path):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "1480.yaml").write_text("procapita:\n  limits:\n    fs_amount_max_kr: 20000\n",
                                          encoding="utf-8")
    result = _payments(tmp_path, ["12500", "25000"], config_dir)
    assert [(q.row_number, q.reason) for q in result.quarantine] == [
        (3, Reason.AMOUNT_IMPLAUSIBLE)]
