"""Reading workbooks (.xlsx, .xls, .ods) into rows, and finding the header row in them.

Shared by the Excel participant-list and SKAPA adapters. Hand-made workbooks put titles, logos and
blank rows above the header, merge title and header cells, and hide rows and columns; calamine
reads hidden rows and columns like any other (they are data), and we find the header ourselves.

Header row: the first row within the first 15 where at least two cells name known columns
(`SystemConfig.column_for`). A merged header cell names every column it covers, also when it is
merged down from the row above (its text in the top cell, the header row's own cell empty).
A line break inside a header cell ('Start\ndatum', 'Avslut-\norsak') is read as a space, or as
nothing at all, whichever names a known column. calamine reports merged ranges for .xlsx and .xls;
for .ods they are read from content.xml here.

Two-level headers: a group label above its sub-labels, e.g. 'Status' merged over three columns
with '3 mån', '6 mån', '12 mån' below. The row after the header row is taken as a sub-header when
at least two of its text cells name a known column (alone, or after their group label: 'Status
3 mån'), and at least one of them stands under a merged or blank cell of the header row (so a data
row whose values happen to be header words is not mistaken for one); or when a header cell is
merged down into it and one of its cells names a known column. Each column is then named
'<group> <sub-label>' if that is a known column, else by the sub-label, else by the group label.
Where a sheet reports no merged cells (a .csv, or a workbook without any), a blank group cell
takes the label to its left. The sub-header row is skipped like a title row.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from xml.etree import ElementTree

import pandas as pd
import python_calamine

from utfall.adapters import budget, redact
from utfall.adapters.base import STOPS, FileRejected, QuarantineRow, Reason, SourceFile
from utfall.adapters.config import Limits, SystemConfig, normalise
from utfall.adapters.personnummer import InterimNumber, InvalidPersonnummer, Personnummer, parse
from utfall.adapters.values import is_blank, parse_date

HEADER_SEARCH_ROWS = 15

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx
_ZIP_MAGIC = b"PK\x03\x04"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")  # an encrypted OOXML inside OLE
_TOTAL_ROW = re.compile(r"^(summa|summering|totalt?|totalsumma|antal)\b")

Cell = Any  # str, int, float, bool, date, datetime, time, timedelta or None
_NEVER_BLANK = (int, bool, date, datetime)


@dataclass
class Sheet:
    """One sheet's cells: rows[0] is spreadsheet row 1, so that row numbers are the user's."""

    name: str | None  # None for a text file
    rows: list[list[Cell]]
    # ((first_row, first_col), (last_row, last_col)), 0-based; None where the format cannot say
    merged: list[tuple[tuple[int, int], tuple[int, int]]] | None = None


@dataclass(frozen=True)
class Column:
    index: int  # 0-based position in the row
    header: str  # as shown in the file (group and sub-label joined by a space)
    canonical: str | None  # the known column it names, or None


@dataclass(frozen=True)
class Row:
    number: int  # 1-based, as the user sees it
    cells: list[Cell]


@dataclass
class Table:
    """A sheet cut at its header row."""

    sheet: str | None
    header_row: int  # 1-based
    columns: list[Column]
    rows_above: int  # title and blank rows above the header row
    below: list[Row] = field(default_factory=list)  # every row below the header row
    subheader_row: int | None = None

    @cached_property
    def _named(self) -> dict[str, list[Column]]:
        named: dict[str, list[Column]] = {}
        for col in self.columns:
            if col.canonical is not None:
                named.setdefault(col.canonical, []).append(col)
        return named

    def has(self, canonical: str) -> bool:
        return canonical in self._named

    def known_columns(self) -> list[str]:
        """The canonical columns the header names, in header order (AdapterResult.columns_found)."""
        return list(self._named)

    def header(self, canonical: str) -> str:
        """The header text of a known column, for messages."""
        return self._named[canonical][0].header

    def value(self, row: Row, canonical: str) -> Cell:
        """The first non-blank cell of the columns with this name (a merged header can name two)."""
        for col in self._named.get(canonical, ()):
            if col.index < len(row.cells) and not _blank(row.cells[col.index]):
                return row.cells[col.index]
        return None

    def split_rows(self) -> tuple[list[Row], int]:
        """The data rows below the header, and the number of rows skipped as non-data: title
        rows above the header, a sub-header row, blank rows and total ('Summa', 'Totalt') rows."""
        data = [r for r in self.below if not _non_data(r) and r.number != self.subheader_row]
        return data, self.rows_above + len(self.below) - len(data)


# --- reading -------------------------------------------------------------------------------------


def read_workbook(source: SourceFile, limits: Limits | None = None) -> list[Sheet]:
    """Every sheet of a workbook, whatever its format, once adapters.budget has found it
    within `limits` (the defaults' when None). Raises FileRejected naming the file."""
    try:
        raw = source.path.read_bytes()
    except OSError as exc:
        raise FileRejected(
            f"{source.rel_path}: the file cannot be opened ({exc.strerror})"
        ) from None
    archive = _check_format(raw, source.rel_path)
    budget.check(raw, archive, source.rel_path, limits or budget.default_limits())
    try:
        with _native_stderr_parked():
            book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
            sheets = [_sheet(book, name) for name in book.sheet_names]
        _add_ods_merges(raw, sheets)
    except python_calamine.PasswordError:
        raise FileRejected(f"{source.rel_path}: the workbook is password-protected") from None
    except STOPS:
        raise
    # BaseException: calamine turns its own failures (a truncated .xls) into pyo3's
    # PanicException, which is no Exception; its messages may quote file bytes: never pass them on
    except BaseException:  # noqa: BLE001
        raise FileRejected(
            f"{source.rel_path}: the workbook is damaged or not in a format that can be read "
            f"(.xlsx, .xls, .ods)"
        ) from None
    if not any(_has_content(s) for s in sheets):
        raise FileRejected(f"{source.rel_path}: the workbook is empty")
    return sheets


@contextmanager
def _native_stderr_parked() -> Iterator[None]:
    """calamine's panics (a truncated .xls) print a Rust backtrace on the process's stderr even
    when Python catches them: a damaged file is rejected in one line, so the reader's stderr
    goes nowhere while it runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(sink)


def read_tables(
    source: SourceFile,
    config: SystemConfig,
    wanted: Callable[[Table], bool],
    wanted_text: str,
    notes: list[str],
) -> list[Table]:
    """The sheets to read, cut at their header rows: those config.sheets names (glob patterns,
    any case), or every sheet whose header row is `wanted`. Every other sheet is listed in
    `notes` as skipped; its rows are not counted. FileRejected when no sheet is left."""
    tables = []
    for sheet in read_workbook(source, config.limits):
        if config.sheets and not _configured(sheet.name, config.sheets):
            notes.append(f"sheet '{sheet.name}' skipped: not among the configured sheets")
            continue
        table = find_table(sheet, config)
        if table is None or not wanted(table):
            notes.append(
                f"sheet '{sheet.name}' skipped: no header row with {wanted_text} within the "
                f"first {HEADER_SEARCH_ROWS} rows"
            )
            continue
        tables.append(table)
    if not tables:
        raise FileRejected(
            f"{source.rel_path}: no sheet has a header row with {wanted_text} within its first "
            f"{HEADER_SEARCH_ROWS} rows ({config.source})"
        )
    return tables


def _configured(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(normalise(name), normalise(p)) for p in patterns)


def _check_format(raw: bytes, rel_path: str) -> zipfile.ZipFile | None:
    """Say clearly what a file is when it is not a workbook calamine can read; the archive of
    an .xlsx or .ods, None for an .xls."""
    if not raw:
        raise FileRejected(f"{rel_path}: the file is empty (0 bytes)")
    if raw.startswith(_OLE_MAGIC):
        if _ENCRYPTED_STREAM in raw:
            raise FileRejected(f"{rel_path}: the workbook is password-protected")
        return None
    if not raw.startswith(_ZIP_MAGIC):
        raise FileRejected(f"{rel_path}: not a workbook (expected .xlsx, .xls or .ods content)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise FileRejected(f"{rel_path}: the workbook is damaged (broken zip archive)") from None
    if not set(archive.namelist()) & {"xl/workbook.xml", "xl/workbook.bin", "content.xml"}:
        raise FileRejected(f"{rel_path}: a zip archive, but not a workbook (.xlsx or .ods)")
    return archive


def _sheet(book: python_calamine.CalamineWorkbook, name: str) -> Sheet:
    sheet = book.get_sheet_by_name(name)
    # skip_empty_area=False: rows start at row 1, so row numbers are the ones the user sees
    rows = [list(r) for r in sheet.to_python(skip_empty_area=False)]
    return Sheet(name=name, rows=rows, merged=sheet.merged_cell_ranges)


def _add_ods_merges(raw: bytes, sheets: list[Sheet]) -> None:
    """calamine reports no merged ranges for .ods: read them from content.xml (only within the
    rows a header can lie in; a merged data cell changes nothing)."""
    if not raw.startswith(_ZIP_MAGIC):
        return
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        if "content.xml" not in archive.namelist():
            return
        with archive.open("content.xml") as content:
            merges = _ods_ranges(content)
    for sheet in sheets:
        if sheet.merged is None:
            sheet.merged = merges.get(sheet.name, [])


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def _ods_ranges(content) -> dict[str, list]:
    """Sheet name -> merged ranges starting in its first rows. Streamed: a sheet may be large."""
    ranges: dict[str, list] = {}
    name, row = None, 0
    for event, el in ElementTree.iterparse(content, events=("start", "end")):
        if el.tag == _ODS_TABLE + "table":
            if event == "start":
                name, row = el.get(_ODS_TABLE + "name"), 0
                ranges[name] = []
            continue
        if event == "end" and el.tag == _ODS_TABLE + "table-row":
            if row <= HEADER_SEARCH_ROWS:
                ranges[name] += _ods_row_ranges(el, row)
            row += int(el.get(_ODS_TABLE + "number-rows-repeated", "1"))
            el.clear()
    return ranges


def _ods_row_ranges(row_el, row: int) -> list:
    out, col = [], 0
    for cell in row_el:
        if cell.tag not in (_ODS_TABLE + "table-cell", _ODS_TABLE + "covered-table-cell"):
            continue
        across = int(cell.get(_ODS_TABLE + "number-columns-spanned", "1"))
        down = int(cell.get(_ODS_TABLE + "number-rows-spanned", "1"))
        if across > 1 or down > 1:
            out.append(((row, col), (row + down - 1, col + across - 1)))
        col += int(cell.get(_ODS_TABLE + "number-columns-repeated", "1"))
    return out


def _has_content(sheet: Sheet) -> bool:
    return any(not is_blank(c) for row in sheet.rows for c in row)


# --- cells ---------------------------------------------------------------------------------------


def cell_text(value: Cell) -> str:
    """A cell as trimmed text: whole numbers without '.0' (12.0 -> '12'), dates as ISO dates."""
    if is_blank(value):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _blank(cell: Cell) -> bool:
    """values.is_blank, answering calamine's commonest cell types without its general checks."""
    kind = type(cell)
    if kind is str:
        return not cell.replace("\ufeff", "").strip()
    if kind in _NEVER_BLANK:
        return False
    return is_blank(cell)


def _non_data(row: Row) -> bool:
    first = next((c for c in row.cells if not _blank(c)), None)
    if first is None:
        return True
    return isinstance(first, str) and bool(_TOTAL_ROW.match(normalise(first)))


# --- the header ----------------------------------------------------------------------------------


def find_table(sheet: Sheet, config: SystemConfig) -> Table | None:
    """Cut a sheet at its header row; None when no row within the first 15 has two known columns."""
    for i in range(min(len(sheet.rows), HEADER_SEARCH_ROWS)):
        if sum(1 for c in _own_cells(sheet, i) if column_for(config, c) is not None) >= 2:
            return _table(sheet, i, config)
    return None


def header_text(cell: Cell) -> str:
    """A header cell as one line: a hyphen at a line break joins ('Avslut-orsak'), any other
    break is a space."""
    text = re.sub(r"-[ \t]*[\r\n]+\s*", "-", cell_text(cell))
    return " ".join(text.split())


def column_for(config: SystemConfig, text: str) -> str | None:
    """The known column a header names; a word split by a hyphen ('Avslut-orsak', once a line
    break) is also tried as two words and as one."""
    for candidate in (text, text.replace("-", " "), text.replace("-", "")):
        if candidate and config.column_for(candidate) is not None:
            return config.column_for(candidate)
    return None


def _own_cells(sheet: Sheet, i: int) -> list[str]:
    """Row i's header texts, a cell merged down from a row above holding that range's text."""
    width = max(len(r) for r in sheet.rows)
    own = _pad([header_text(c) for c in sheet.rows[i]], width)
    for (r0, c0), (r1, _c1) in sheet.merged or []:
        if r0 < i <= r1 and c0 < width and not own[c0]:
            own[c0] = _text_at(sheet, r0, c0)
    return own


def _text_at(sheet: Sheet, r: int, c: int) -> str:
    row = sheet.rows[r] if r < len(sheet.rows) else []
    return header_text(row[c]) if c < len(row) else ""


def _table(sheet: Sheet, i: int, config: SystemConfig) -> Table:
    width = max(len(r) for r in sheet.rows)
    top = _own_cells(sheet, i)
    filled = _fill_merged(sheet, top, i)
    below = [Row(n + 1, sheet.rows[n]) for n in range(i + 1, len(sheet.rows))]
    two_level = _subheader(sheet, i, top, filled, width, config)
    if two_level is None:
        columns = [_column(j, filled[j], "", config) for j in range(width)]
        return Table(sheet.name, i + 1, columns, rows_above=i, below=below)
    groups, labels = two_level
    columns = [_column(j, groups[j], labels[j], config) for j in range(width)]
    return Table(sheet.name, i + 1, columns, rows_above=i, below=below, subheader_row=i + 2)


def _pad(cells: list[str], width: int) -> list[str]:
    return cells + [""] * (width - len(cells))


def _fill_merged(sheet: Sheet, top: list[str], i: int) -> list[str]:
    """A merged header cell names every column it covers (calamine gives only its top-left)."""
    filled = list(top)
    for (r0, c0), (r1, c1) in sheet.merged or []:
        if r0 <= i <= r1 and c0 < len(filled):
            for j in range(c0, min(c1, len(filled) - 1) + 1):
                filled[j] = filled[j] or top[c0]
    return filled


def _subheader(sheet, i, top, filled, width, config) -> tuple[list[str], list[str]] | None:
    """(group labels, sub-labels) when the row after the header row is a sub-header, else None."""
    if i + 1 >= len(sheet.rows):
        return None
    labels = _pad([header_text(c) if isinstance(c, str) else "" for c in sheet.rows[i + 1]], width)
    groups = filled if sheet.merged else _fill_right(top, labels)
    hits = [j for j in range(width) if labels[j] and _label_known(groups[j], labels[j], config)]
    if hits and _merged_down(sheet, i):
        return groups, labels
    if len(hits) < 2 or all(top[j] for j in hits):
        return None
    return groups, labels


def _merged_down(sheet: Sheet, i: int) -> bool:
    """A header cell merged down into the next row (and no further): that row is part of the
    header. A range reaching further down is a label beside the data, not a header cell."""
    return any(r0 <= i < r1 == i + 1 for (r0, _c0), (r1, _c1) in sheet.merged or [])


def _fill_right(top: list[str], labels: list[str]) -> list[str]:
    """Without merge information, a group label covers the blank header cells to its right."""
    filled, group = list(top), ""
    for j, text in enumerate(top):
        group = text or group
        if not text and labels[j]:
            filled[j] = group
    return filled


def _label_known(group: str, label: str, config: SystemConfig) -> bool:
    return any(column_for(config, t) is not None for t in (f"{group} {label}".strip(), label))


def _column(j: int, group: str, label: str, config: SystemConfig) -> Column:
    """Name a column: '<group> <label>' if known, else the label, else the group label."""
    header = f"{group} {label}".strip()
    for text in (header, label, group):
        if text and column_for(config, text) is not None:
            return Column(j, header, column_for(config, text))
    return Column(j, header, None)


def unknown_headers(
    table: Table, config: SystemConfig, skip: set[int] = frozenset(), *more: Iterable[str]
) -> list[tuple[str | None, str, str | None]]:
    """AdapterResult.unknown_headers of a table: its headers that name no known column (but for
    the columns in `skip`), each with the alias (or one of `more` names) it nearly matches."""
    unknown = [c.header for c in table.columns if c.canonical is None and c.index not in skip]
    line = [c.header for c in table.columns]
    return redact.unknown_headers(table.sheet, unknown, line, redact.aliases(config, *more))


# --- typed values, and rows that cannot be loaded ------------------------------------------------


class RowProblem(Exception):
    """A row that cannot be loaded: it goes to quarantine with this reason and column."""

    def __init__(self, reason: Reason, column: str | None, detail: str):
        super().__init__(detail)
        self.reason, self.column, self.detail = reason, column, detail


def quarantine_row(
    source: SourceFile, table: Table, row: Row, problem: RowProblem
) -> QuarantineRow:
    """A quarantine entry whose message names file, sheet, row and column (never the value)."""
    where = f"{source.rel_path}, " + (f"sheet '{table.sheet}', " if table.sheet else "")
    where += f"row {row.number}" + (f", column '{problem.column}'" if problem.column else "")
    return QuarantineRow(
        row.number, problem.reason, f"{where}: {problem.detail}", problem.column, table.sheet
    )


def read_personnummer(table: Table, row: Row, today: date) -> Personnummer:
    """The row's personnummer; RowProblem when it is missing or invalid."""
    column = table.header("personnummer")
    value = table.value(row, "personnummer")
    if is_blank(value):
        raise RowProblem(Reason.PNR_MISSING, column, "no personnummer")
    # a number cell goes to parse as a number: it knows every leading zero is gone
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        return parse(value if numeric else cell_text(value), today)
    except InterimNumber as exc:
        raise RowProblem(Reason.PNR_INTERIM, column, str(exc)) from None
    except InvalidPersonnummer as exc:  # its message never contains the number
        raise RowProblem(Reason.PNR_INVALID, column, f"not a valid personnummer ({exc})") from None


def read_date(
    table: Table, row: Row, name: str, *, required: bool = False, end_of_month: bool = False
) -> date | None:
    """A date column's value; month-only means the first day, or the last with end_of_month."""
    if not table.has(name):
        return None
    try:
        parsed = parse_date(table.value(row, name), end_of_month=end_of_month)
    except ValueError as exc:  # values.parse_date never echoes the cell
        raise RowProblem(Reason.DATE_INVALID, table.header(name), f"not a date ({exc})") from None
    if parsed is None and required:
        raise RowProblem(Reason.DATE_MISSING, table.header(name), "the date is missing")
    return parsed


def typed_frame(records: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """A staging frame with these columns and dtypes, also when there are no records."""
    return pd.DataFrame.from_records(records, columns=list(columns)).astype(columns)
