"""How a realistic export is written: the forms both generators share.

`synth.sample` (the bundled sample) writes one value at a time; `synth.national` (the benchmark's
inbox: 30 million payment lines at scale 1.0) writes whole columns with numpy and Arrow. Only how
a value or a file is written lives here, never what: the people, the faults and each
municipality's set-up stay with their generator. Where the two need a value form and a column
form of the same thing, both sit side by side here (`luhn_digit` and `luhn_digits`, `kronor` and
`kronor_column`, ...) and tests/test_synth_exports.py holds them equal.

- personnummer: the Luhn check digit, twelve digits from a birth date and a serial (a
  samordningsnummer adds 60 to the day), and the written forms (`PNR_FORMS`);
- dates: Excel's serial dates; month labels (2023-04, 202304);
- amounts: kronor with a decimal comma and an optional thousands separator;
- text files: rows of cells, CRLF, in Windows-1252 (as Procapita writes), UTF-8 or UTF-8 with a
  byte-order mark;
- workbooks, the same bytes every time (fixed zip entry times and document timestamps):
  `xlsx_bytes` as Excel writes one (openpyxl: document properties, styles, merged cells, hidden
  rows: the sample's), `lean_xlsx_bytes` written by hand as zip+XML (inline strings and date
  serials: fast enough for the national inbox's largest lists), and `ods_bytes` (LibreOffice's
  format, by hand). The two xlsx writers stay two: either one in place of the other would change
  the bytes of one generator's files.

The files keep the name "utfall samplegen" as their creator (`CREATOR`): changing it would change
the sample's bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook

CREATOR = "utfall samplegen"
# the sample's extract (2024-07-01 08:00): every zip entry and document timestamp, unless a
# generator passes its own (the national inbox: 2025-01-01)
ZIP_TIME = (2024, 7, 1, 8, 0, 0)
EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (it counts the non-existent 1900-02-29)


# --- personnummer --------------------------------------------------------------------------------


def luhn_digit(nine: str) -> str:
    """The check digit over YYMMDDNNN (adapters.personnummer.luhn_ok accepts it)."""
    total = 0
    for i, ch in enumerate(nine):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_digits(nine: np.ndarray) -> np.ndarray:
    """`luhn_digit` over a column of YYMMDDNNN as integers."""
    total = np.zeros(len(nine), dtype=np.int64)
    rest = nine.copy()
    for position in range(9):  # from the last digit: weights 1, 2, 1, ... read backwards
        digit = rest % 10
        rest //= 10
        d = digit * (2 if position % 2 == 0 else 1)
        total += np.where(d > 9, d - 9, d)
    return (10 - total % 10) % 10


def make_pnr(born: date, serial: int, samordning: bool = False) -> str:
    """Twelve digits YYYYMMDDNNNC; a samordningsnummer has 60 added to the day."""
    day = born.day + (60 if samordning else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    return f"{born.year // 100}{nine}{luhn_digit(nine)}"


def pnr_column(year: np.ndarray, month: np.ndarray, day: np.ndarray, serial: np.ndarray,
               samordning: np.ndarray) -> list[str]:
    """`make_pnr` over columns of integers (and a boolean column for samordningsnummer)."""
    day = day + np.where(samordning, 60, 0)
    nine = (year % 100) * 10**7 + month * 10**5 + day * 10**3 + serial
    ten = nine * 10 + luhn_digits(nine)
    return [f"{c}{t:010d}" for c, t in zip((year // 100).tolist(), ten.tolist())]


def dash12(pnr: str) -> str:
    """YYYYMMDD-NNNC."""
    return f"{pnr[:8]}-{pnr[8:]}"


def dash10(pnr: str, sep: str = "-") -> str:
    """YYMMDD-NNNC; the separator is '+' for someone aged 100 or more."""
    return f"{pnr[2:8]}{sep}{pnr[8:]}"


def _twelve(pnr: str) -> str:
    return pnr


# the written forms of a twelve-digit personnummer, by the names the national set-ups use
PNR_FORMS = {"12": _twelve, "12dash": dash12, "10dash": dash10}


# --- dates and months ----------------------------------------------------------------------------


def excel_serial(day: date) -> int:
    """The day as Excel stores a date: days since 1899-12-30."""
    return (day - EXCEL_EPOCH).days


def excel_serials(days: np.ndarray) -> np.ndarray:
    """`excel_serial` over a datetime64[D] column (NaT gives no meaningful number: mask it)."""
    return (days - np.datetime64(EXCEL_EPOCH, "D")).astype(np.int64)


def month_text(month: int, sep: str = "-") -> str:
    """A month counted as year * 12 + month - 1, as exports label it: 2023-04 (or 202304)."""
    return f"{month // 12}{sep}{month % 12 + 1:02d}"


# --- amounts -------------------------------------------------------------------------------------


def kronor(ore: int, sep: str) -> str:
    """Öre as kronor: decimal comma, `sep` between thousands ('', ' ' or a no-break space),
    a leading minus."""
    sign = "-" if ore < 0 else ""
    whole, cents = divmod(abs(ore), 100)
    return f"{sign}{whole:,}".replace(",", sep) + f",{cents:02d}"


def kronor_column(ore: np.ndarray, thousands: str) -> pa.Array:
    """`kronor` over a column, for amounts below a million kronor (it separates one group of
    thousands only: the national inbox has no larger amount)."""
    kr, cents = np.abs(ore) // 100, np.abs(ore) % 100
    text = pc.cast(pa.array(kr), pa.string())
    if thousands:
        high = pc.cast(pa.array(kr // 1000), pa.string())
        low = pc.utf8_lpad(pc.cast(pa.array(kr % 1000), pa.string()), 3, "0")
        text = pc.if_else(pa.array(kr >= 1000), pc.binary_join_element_wise(high, low, thousands), text)
    cents_text = pc.utf8_lpad(pc.cast(pa.array(cents), pa.string()), 2, "0")
    text = pc.binary_join_element_wise(text, cents_text, ",")
    return pc.if_else(pa.array(ore < 0), pc.binary_join_element_wise("-", text, ""), text)


# --- text files ----------------------------------------------------------------------------------

CRLF = "\r\n"


def text_bytes(rows: list[list[str]], delimiter: str, encoding: str, newline: str = CRLF) -> bytes:
    """Rows of cells as a text file: cells joined by `delimiter`, each row ended by `newline`."""
    return encoded("".join(delimiter.join(cells) + newline for cells in rows), encoding)


def encoded(text: str, encoding: str, utf8: bytes = b"") -> bytes:
    """`text`, then `utf8` (text already encoded as UTF-8, as an Arrow buffer holds it), in the
    file's encoding: 'cp1252' (Windows-1252, as Procapita writes), 'utf-8', or 'utf-8-sig' (a
    byte-order mark first). UTF-8 text is not decoded again."""
    if encoding in ("utf-8", "utf-8-sig"):
        return text.encode(encoding) + utf8
    return text.encode(encoding) + utf8.decode("utf-8").encode(encoding)


# --- workbooks -----------------------------------------------------------------------------------


@dataclass
class SheetData:
    """One sheet: rows of cells (None or '' blank; str; int or float; a date), and for
    `xlsx_bytes` and `ods_bytes` merged cells and hidden rows."""

    name: str
    rows: list[list[object]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # 1-based r1, c1, r2, c2
    hidden: list[int] = field(default_factory=list)  # 1-based rows


def zip_entry(name: str, compress_type: int = zipfile.ZIP_DEFLATED, time: tuple = ZIP_TIME,
              mode: int = 0o644) -> zipfile.ZipInfo:
    """A zip entry with a fixed time, made on Unix, with file mode `mode`."""
    entry = zipfile.ZipInfo(name, date_time=time)
    entry.compress_type = compress_type
    entry.create_system = 3
    entry.external_attr = mode << 16
    return entry


def doc_time(time: tuple = ZIP_TIME) -> bytes:
    """The document timestamp of a workbook written at `time`: b'2024-07-01T08:00:00Z'."""
    return datetime(*time).strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def xlsx_bytes(sheets: list[SheetData], time: tuple = ZIP_TIME) -> bytes:
    """A workbook as Excel writes one (openpyxl), with fixed timestamps."""
    book = Workbook()
    book.remove(book.active)
    for data in sheets:
        sheet = book.create_sheet(data.name)
        for row in data.rows:
            sheet.append(row)
        for r1, c1, r2, c2 in data.merged:
            sheet.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
        for row in data.hidden:
            sheet.row_dimensions[row].hidden = True
    book.properties.creator = CREATOR
    buffer = io.BytesIO()
    book.save(buffer)
    return fixed_zip(buffer.getvalue(), time)


def fixed_zip(data: bytes, time: tuple = ZIP_TIME) -> bytes:
    """The same archive with fixed entry times and fixed document timestamps."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + doc_time(time), body
                )
            target.writestr(zip_entry(info.filename, info.compress_type, time), body)
    return out.getvalue()


class Serial(float):
    """An Excel date (days since 1899-12-30), written by `lean_xlsx_bytes` with a date format."""


def lean_xlsx_bytes(sheets: list[SheetData], time: tuple = ZIP_TIME, mode: int = 0o644) -> bytes:
    """A minimal workbook written by hand: inline strings, numbers, and dates as serials with a
    date format (a `date` or a `Serial`); no merged cells, no hidden rows. Deflated at level 1:
    the national inbox's largest lists have hundreds of thousands of rows."""
    for sheet in sheets:
        if sheet.merged or sheet.hidden:
            raise ValueError(f"{sheet.name}: lean_xlsx_bytes writes no merged cells or hidden rows")
    names = [sheet.name for sheet in sheets]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:

        def put(name: str, text: str) -> None:
            zf.writestr(zip_entry(name, time=time, mode=mode), text.encode("utf-8"), compresslevel=1)

        put("[Content_Types].xml", _content_types(len(sheets)))
        put("_rels/.rels", _ROOT_RELS)
        put("xl/workbook.xml", _workbook(names))
        put("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        put("xl/styles.xml", _STYLES)
        for i, sheet in enumerate(sheets, 1):
            put(f"xl/worksheets/sheet{i}.xml", _sheet_xml(sheet.rows))
    return out.getvalue()


def _sheet_xml(rows: list[list]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    for r, row in enumerate(rows, 1):
        cells = "".join(_cell(f"{_col(c)}{r}", v) for c, v in enumerate(row) if v is not None and v != "")
        out.append(f'<row r="{r}">{cells}</row>')
    out.append("</sheetData></worksheet>")
    return "".join(out)


_COLUMNS = [chr(65 + i) for i in range(26)]


def _col(i: int) -> str:
    return _COLUMNS[i] if i < 26 else _COLUMNS[i // 26 - 1] + _COLUMNS[i % 26]


def _cell(ref: str, value) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = Serial(excel_serial(value))
    if isinstance(value, Serial):
        return f'<c r="{ref}" s="1"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _content_types(n: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>' + sheets + "</Types>")


_ROOT_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
              '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
              'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')

_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
           '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
           '<borders count="1"><border/></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
           '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
           '</cellXfs></styleSheet>')


def _workbook(names: list[str]) -> str:
    sheets = "".join(f'<sheet name="{n}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(names, 1))
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f"<sheets>{sheets}</sheets></workbook>")


def _workbook_rels(n: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
    styles = (f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
              '2006/relationships/styles" Target="styles.xml"/>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + rels + styles + "</Relationships>")


ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.2"'
)
ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"


def ods_bytes(sheets: list[SheetData], time: tuple = ZIP_TIME) -> bytes:
    """An OpenDocument spreadsheet written by hand: small, and the same bytes every time."""
    tables = "".join(ods_table(s) for s in sheets)
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {ODS_NS}>'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta {ODS_NS}><office:meta>'
        f"<meta:generator>{CREATOR}</meta:generator>"
        f"<meta:creation-date>{doc_time(time).decode()[:-1]}</meta:creation-date>"
        "</office:meta></office:document-meta>"
    )
    files = ("content.xml", "meta.xml")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODS_MIME}"/>'
        + "".join(
            f'<manifest:file-entry manifest:full-path="{f}" manifest:media-type="text/xml"/>'
            for f in files
        )
        + "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zip_entry("mimetype", zipfile.ZIP_STORED, time), ODS_MIME)
        for name, body in (
            ("content.xml", content),
            ("meta.xml", meta),
            ("META-INF/manifest.xml", manifest),
        ):
            archive.writestr(zip_entry(name, time=time), body.encode("utf-8"))
    return out.getvalue()


def ods_table(sheet: SheetData) -> str:
    width = max(len(r) for r in sheet.rows)
    spans = {(r1, c1): c2 - c1 + 1 for r1, c1, r2, c2 in sheet.merged}
    rows = []
    for number, row in enumerate(sheet.rows, start=1):
        hidden = ' table:visibility="collapse"' if number in sheet.hidden else ""
        cells, col = [], 1
        while col <= len(row):
            span = spans.get((number, col), 1)
            cells.append(ods_cell(row[col - 1], span) + "<table:covered-table-cell/>" * (span - 1))
            col += span
        rows.append(
            f"<table:table-row{hidden}>{''.join(cells) or '<table:table-cell/>'}</table:table-row>"
        )
    return (
        f'<table:table table:name="{escape(sheet.name)}">'
        f'<table:table-column table:number-columns-repeated="{width}"/>'
        f"{''.join(rows)}</table:table>"
    )


def ods_cell(value: object, span: int = 1) -> str:
    spanned = f' table:number-columns-spanned="{span}"' if span > 1 else ""
    if value is None or value == "":
        return f"<table:table-cell{spanned}/>"
    if isinstance(value, date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}"'
            f"{spanned}><text:p>{value.isoformat()}</text:p></table:table-cell>"
        )
    if isinstance(value, (int, float)):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}"{spanned}>'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell office:value-type="string"{spanned}><text:p>{escape(str(value))}'
        "</text:p></table:table-cell>"
    )
