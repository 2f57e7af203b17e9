"""What reading one workbook may cost, checked before the reader sees it.

The native reader (calamine) allocates every sheet as a dense grid of its used range, in one
piece, and unpacks archive members whole: a 2 kB .xlsx with cells at A1 and XFD1048576 asks for
hundreds of GB and aborts the process, and a few MB that unpack to gigabytes take the machine's
memory. Neither can be caught once the reader has started, so the archive is looked at first:

- the members' uncompressed sizes, as the archive declares them and as they really unpack
  (a declared size can lie), against `limits.workbook_unpacked_mb`;
- per worksheet, the declared `<dimension>` and the extent of its cell references (rows times
  columns), against `limits.sheet_cells`.

Everything is streamed, a chunk at a time, and stops at the first limit passed.
"""

from __future__ import annotations

import functools
import re
import zipfile
import zlib
from dataclasses import dataclass

from utfall.adapters.base import FileRejected
from utfall.adapters.config import Limits

_CHUNK = 4 << 20
_OVERLAP = 64  # bytes carried over between chunks: a cell reference is never longer
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
# references with two or three letters (column AA and beyond), with their row; narrower
# columns are bounded by 26, and a chunk of ordinary cells matches nothing here
_WIDE_REF = re.compile(rb'\sr="([A-Z]{2,3})(\d+)"')
_ROW_DIGITS = {d: re.compile(rb'\sr="[A-Z]{0,3}(\d{%d})"' % d) for d in range(1, 8)}
_ROW_DIGITS[8] = re.compile(rb'\sr="[A-Z]{0,3}(\d{8,})"')  # beyond any spreadsheet's rows
EXCEL_COLUMNS = 16384


@dataclass
class _Extent:
    rows: int = 0  # an upper bound on the highest row, from the most digits seen
    digits: int = 0
    columns: int = 0  # the widest column seen (26 when none is wider than Z)

    def cells(self) -> int:
        return self.rows * max(self.columns, 1)


def check(raw: bytes, archive: zipfile.ZipFile | None, name: str, limits: Limits) -> None:
    """FileRejected naming the file and the limit when reading it would cost more than allowed."""
    if archive is None:  # .xls: no archive to look into
        return
    max_bytes = int(limits.workbook_unpacked_mb * 2**20)
    members = archive.infolist()
    declared = sum(m.file_size for m in members)
    if declared > max_bytes:
        raise _over_unpacked(name, declared, limits)
    unpacked = 0
    try:
        for member in members:
            sheet = (member.filename.startswith("xl/worksheets/")
                     and member.filename.endswith(".xml"))
            unpacked = _scan(archive, member, name, limits, unpacked, max_bytes, sheet)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise FileRejected(f"{name}: the workbook is damaged (broken zip archive)") from None


@functools.cache
def default_limits() -> Limits:
    from utfall.adapters.config import ConfigStore

    return ConfigStore(None).defaults.limits


def _scan(archive, member, name, limits: Limits, unpacked: int, max_bytes: int,
          sheet: bool) -> int:
    """Unpack one member a chunk at a time, counting what it really unpacks to; for a worksheet,
    also its declared dimension and the extent of its cell references."""
    extent, tail, first = _Extent(), b"", True
    with archive.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            unpacked += len(chunk)
            if unpacked > max_bytes:
                raise _over_unpacked(name, unpacked, limits)
            if sheet:
                text = tail + chunk
                if first:
                    _check_dimension(text, name, limits)
                    first = False
                _widen(extent, text)
                tail = text[-_OVERLAP:]
    if sheet and extent.cells() > limits.sheet_cells:
        extent.rows = _highest_row(archive, member, extent.digits)
        if extent.cells() > limits.sheet_cells:
            raise _over_cells(name, extent.rows, extent.columns, limits)
    return unpacked


def _check_dimension(text: bytes, name: str, limits: Limits) -> None:
    found = _DIMENSION.search(text)
    if not found or not found[3]:
        return
    rows = int(found[4]) - int(found[2]) + 1
    columns = _column(found[3]) - _column(found[1]) + 1
    if rows * columns > limits.sheet_cells:
        raise _over_cells(name, rows, columns, limits, declared=True)


def _widen(extent: _Extent, text: bytes) -> None:
    for letters, row in _WIDE_REF.findall(text):
        extent.columns = max(extent.columns, _column(letters))
        extent.rows = max(extent.rows, int(row))
    extent.columns = max(extent.columns, 26)
    for digits in range(8, extent.digits, -1):  # only more digits than seen so far are news
        if _ROW_DIGITS[digits].search(text):
            extent.digits = digits
            extent.rows = max(extent.rows, 10**digits - 1)
            break


def _highest_row(archive, member, digits: int) -> int:
    """The exact highest row among the references with the most digits (a second pass, only
    for a sheet whose bound alone is over the limit)."""
    highest, tail = 0, b""
    with archive.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            text = tail + chunk
            rows = _ROW_DIGITS[digits].findall(text)
            highest = max([highest, *map(int, rows)])
            tail = text[-_OVERLAP:]
    return highest


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _over_unpacked(name: str, size: int, limits: Limits) -> FileRejected:
    return FileRejected(
        f"{name}: the workbook unpacks to more than {limits.workbook_unpacked_mb:g} MB "
        f"({size / 2**20:,.0f} MB or more; limits.workbook_unpacked_mb): not read, as a "
        "workbook of this size is more likely a damaged or hostile file than an export; raise "
        "the limit in the municipality's configuration if it is a real one")


def _over_cells(name: str, rows: int, columns: int, limits: Limits,
                declared: bool = False) -> FileRejected:
    how = "declares" if declared else "spans"
    return FileRejected(
        f"{name}: a sheet {how} {rows:,} rows x {columns:,} columns, more than "
        f"{limits.sheet_cells:,} cells (limits.sheet_cells): not read; save the sheet again "
        "with only its used range, or raise the limit in the municipality's configuration")
