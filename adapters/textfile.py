"""Reading delimited text exports: encoding, delimiter, header row, and every line's number.

Exports arrive as Windows-1252 or UTF-8 (with or without BOM), separated by ';', tab or ',', with
title lines above the header. DuckDB cannot decode Windows-1252 (STACK-NOTES.md), so files are
read with pandas' C parser through Python's codecs, all cells as text; the adapter parses values.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.base import FileRejected
from adapters.config import SystemConfig

HEADER_SEARCH_LINES = 15  # the header row lies within the first 15 lines
DELIMITERS = (";", "\t", ",")
_SNIFF_BYTES = 256 * 1024
_CHUNK = 16 * 1024 * 1024
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ","}

# Magic numbers of formats people send by mistake under a .csv / .txt name.
_MAGIC = {
    b"PK\x03\x04": "a zip archive (probably an Excel .xlsx or .ods workbook saved with a text name)",
    b"\xd0\xcf\x11\xe0": "an old-format Excel (.xls) or a password-protected Office file",
    b"%PDF": "a PDF document",
}


@dataclass
class TextTable:
    """A text export as cells of text, with the 1-based line number of each record.

    `rows` has one column per header cell (0..n-1), '' where a line has fewer cells; cells past
    the header's width are dropped. It holds every record after the header, blank ones included,
    so that the caller can count them.
    """

    header: list[str]
    header_line: int  # 1-based; the lines above it are titles or blank
    rows: pd.DataFrame
    line_numbers: np.ndarray  # 1-based line where each record starts, aligned with rows
    encoding: str
    delimiter: str

    @property
    def lines_above_header(self) -> int:
        return self.header_line - 1


def read_text_table(path: Path, config: SystemConfig, name: str) -> TextTable:
    """Read a delimited text export; `name` (the inbox-relative path) is used in messages.

    Raises FileRejected for an empty or binary file, or when no header row is found.
    """
    head = _read_head(path)
    _reject_non_text(head, name)
    encoding = _encoding(path, head, config, name)
    sample = _decode_sample(head, encoding)
    if not sample.strip():
        raise FileRejected(f"{name}: the file is empty")
    delimiter, header_index, header = _find_header(sample, config, name)
    rows, line_numbers = _read_records(path, encoding, delimiter, header_index, len(header))
    return TextTable(header, header_index + 1, rows, line_numbers, encoding, delimiter)


# --- what kind of file ---------------------------------------------------------------------------


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(_SNIFF_BYTES)


def _reject_non_text(head: bytes, name: str) -> None:
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileRejected(f"{name}: the file is empty")
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise FileRejected(f"{name}: this is {what}, not a text export")
    if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" in head:
        raise FileRejected(f"{name}: binary content (NUL bytes), not a text export")


def _encoding(path: Path, head: bytes, config: SystemConfig, name: str) -> str:
    """Config first; then BOMs; then UTF-8 if the whole file decodes as such; else cp1252."""
    if config.encoding:
        try:
            return codecs.lookup(config.encoding).name
        except LookupError:
            raise FileRejected(
                f"{name}: unknown encoding {config.encoding!r} in configuration ({config.source})"
            ) from None
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8" if _is_utf8(path) else "cp1252"


def _is_utf8(path: Path) -> bool:
    # the whole file, in chunks: a cp1252 'ä' may first appear on line 2,000,000
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decode_sample(head: bytes, encoding: str) -> str:
    # incremental, so that a character cut at the end of the sample is not an error
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(head, final=False)


# --- delimiter and header ------------------------------------------------------------------------


def _find_header(sample: str, config: SystemConfig, name: str) -> tuple[str, int, list[str]]:
    """The delimiter and header line that name the most known columns (at least two)."""
    candidates = [_delimiter_name(config.delimiter)] if config.delimiter else list(DELIMITERS)
    best: tuple[int, str, int, list[str]] | None = None
    for delimiter in candidates:
        found = _header_for(sample, delimiter, config)
        if found and (best is None or found[1] > best[0]):
            best = (found[1], delimiter, found[0], found[2])
    if best is None:
        raise FileRejected(_no_header_message(sample, candidates[0], name))
    _, delimiter, index, header = best
    return delimiter, index, header


def _delimiter_name(text: str) -> str:
    return _DELIMITER_NAMES.get(text.strip().casefold(), text)


def _header_for(sample: str, delimiter: str, config: SystemConfig):
    """(line index, known-column count, cells) of the first line with two known columns."""
    for index, cells in enumerate(_first_lines(sample, delimiter)):
        cells = [_clean_header(c) for c in cells]
        known = sum(1 for c in cells if c and config.column_for(c))
        if known >= 2:
            return index, known, cells
    return None


def _first_lines(sample: str, delimiter: str) -> list[list[str]]:
    lines = sample.splitlines()[:HEADER_SEARCH_LINES]
    return [next(csv.reader([line], delimiter=delimiter), []) for line in lines]


def _clean_header(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").replace("\u00a0", " ").split())


def _no_header_message(sample: str, delimiter: str, name: str) -> str:
    seen = [c for cells in _first_lines(sample, delimiter)[:3] for c in map(_clean_header, cells)]
    shown = ", ".join(repr(c) for c in seen if c)[:300]
    return (
        f"{name}: no header row with at least two known columns in the first "
        f"{HEADER_SEARCH_LINES} lines (texts seen at the top: {shown or 'none'})"
    )


# --- the records ---------------------------------------------------------------------------------


def _read_records(
    path: Path, encoding: str, delimiter: str, header_index: int, width: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Fast path: pandas' C parser. Its row i is line header+1+i only when no record spans lines
    and no line has more cells than the header; otherwise the csv module, which tracks lines."""
    first_data_line = header_index + 2
    if encoding != "utf-16":
        try:
            rows = _read_with_pandas(path, encoding, delimiter, header_index + 1, width)
        except pd.errors.ParserError:
            rows = None
        if rows is not None and len(rows) == _count_lines(path) - header_index - 1:
            return rows, np.arange(first_data_line, first_data_line + len(rows))
    return _read_with_csv(path, encoding, delimiter, header_index, width)


def _read_with_pandas(path: Path, encoding: str, delimiter: str, skip: int, width: int):
    return pd.read_csv(
        path, sep=delimiter, encoding=encoding, header=None, names=range(width),
        index_col=False, skiprows=skip, dtype=str, na_filter=False, skip_blank_lines=False,
        quotechar='"', engine="c", encoding_errors="replace",
    ).fillna("")


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


def _read_with_csv(path, encoding, delimiter, header_index, width):
    records, starts = [], []
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        previous_end = 0
        for cells in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if start <= header_index + 1:
                continue
            records.append((cells + [""] * width)[:width])
            starts.append(start)
    rows = pd.DataFrame(records, columns=range(width), dtype=str) if records else _empty(width)
    return rows, np.array(starts, dtype=np.int64)


def _empty(width: int) -> pd.DataFrame:
    return pd.DataFrame({i: pd.Series([], dtype=str) for i in range(width)})


def decode_text(data: bytes) -> str:
    """Bytes of a small text file as str with the same detection rules (for tests and tools)."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


__all__ = ["TextTable", "read_text_table", "decode_text", "HEADER_SEARCH_LINES", "io"]
