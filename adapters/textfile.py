"""Reading delimited text exports: encoding, delimiter, header row, and every line's number.

Exports arrive as Windows-1252 or UTF-8 (with or without BOM), separated by ';', tab or ',', with
title lines above the header. DuckDB cannot decode Windows-1252 (STACK-NOTES.md), so files are
read with Arrow's CSV reader (transcoding through Python's codecs), all cells as text; the adapter
parses the values.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from adapters.base import FileRejected
from adapters.config import SystemConfig

HEADER_SEARCH_LINES = 15  # the header row lies within the first 15 lines
DELIMITERS = (";", "\t", ",")
_SNIFF_BYTES = 256 * 1024
_THREADED_FROM_BYTES = 16 * 1024 * 1024
_CHUNK = 16 * 1024 * 1024
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as Arrow and the csv module see lines
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

    `columns` holds one Arrow string array per header cell, '' where a line has fewer cells;
    cells past the header's width are dropped. It holds every record after the header, blank ones
    included, so that the caller can count them. `rows` is the same as a DataFrame (columns
    0..n-1), built when asked for.
    """

    header: list[str]
    header_line: int  # 1-based; the lines above it are titles or blank
    columns: list[pa.Array]
    line_numbers: np.ndarray  # 1-based line where each record starts, aligned with the cells
    encoding: str
    delimiter: str

    @property
    def lines_above_header(self) -> int:
        return self.header_line - 1

    @property
    def n(self) -> int:
        return len(self.line_numbers)

    @cached_property
    def rows(self) -> pd.DataFrame:
        return pd.DataFrame({i: pd.arrays.ArrowExtensionArray(column)
                             for i, column in enumerate(self.columns)}, index=range(self.n))


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
        # an editor may put a BOM before Windows-1252 text: then the BOM reads as 'ï»¿' in
        # front of the first line, which the header search strips
        return "utf-8-sig" if _is_utf8(path) else "cp1252"
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
        raise FileRejected(_no_header_message(sample, candidates, name))
    _, delimiter, index, header = best
    return delimiter, index, header


def _delimiter_name(text: str) -> str:
    return _DELIMITER_NAMES.get(text.strip().casefold(), text)


def _header_for(sample: str, delimiter: str, config: SystemConfig):
    """(line index, known-column count, cells) of the first line with two known columns."""
    for index, line in enumerate(_head_lines(sample)):
        if delimiter not in line:  # one cell, so never two known columns
            continue
        cells = [_clean_header(c) for c in _split(line, delimiter)]
        known = sum(1 for c in cells if c and config.column_for(c))
        if known >= 2:
            return index, known, cells
    return None


def _first_lines(sample: str, delimiter: str) -> list[list[str]]:
    return [_split(line, delimiter) for line in _head_lines(sample)]


def _head_lines(sample: str) -> list[str]:
    return _LINE_BREAK.split(sample, maxsplit=HEADER_SEARCH_LINES)[:HEADER_SEARCH_LINES]


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


_BOM_AS_CP1252 = codecs.BOM_UTF8.decode("cp1252")


def _clean_header(cell: str) -> str:
    cell = cell.removeprefix(_BOM_AS_CP1252)
    return " ".join(cell.replace("\ufeff", "").replace("\u00a0", " ").split())


def _no_header_message(sample: str, delimiters: list[str], name: str) -> str:
    shown = ", ".join(repr(c) for c in _likely_header(sample, delimiters))[:300]
    return (
        f"{name}: no header row with at least two known columns in the first "
        f"{HEADER_SEARCH_LINES} lines (headers seen: {shown or 'none'})"
    )


_DIGIT = re.compile(r"\d")


def _likely_header(sample: str, delimiters: list[str]) -> list[str]:
    """The widest of the first lines that has no digit in any cell. A line with digits is taken
    for data (a personnummer, a date, an amount) and never shown: its other cells may be names."""
    lines = [
        [c for c in map(_clean_header, cells) if c]
        for delimiter in delimiters
        for cells in _first_lines(sample, delimiter)
    ]
    headers = [cells for cells in lines if not any(_DIGIT.search(c) for c in cells)]
    return max(headers, key=len, default=[])


# --- the records ---------------------------------------------------------------------------------


def _read_records(
    path: Path, encoding: str, delimiter: str, header_index: int, width: int
) -> tuple[list[pa.Array], np.ndarray]:
    """Fast path: Arrow's CSV reader (several times faster than pandas' on 30 million lines).
    Its records are lines only when no quoted value spans lines; otherwise, and for encodings
    Arrow cannot take, the csv module, which tracks lines itself."""
    if encoding != "utf-16":
        fast = _read_with_arrow(path, encoding, delimiter, header_index + 1, width)
        if fast is not None:
            return fast
    return _read_with_csv(path, encoding, delimiter, header_index, width)


def _read_with_arrow(path: Path, encoding: str, delimiter: str, skip: int, width: int):
    """Records below the header, or None when lines and records do not match one to one.

    Lines with another number of cells than the header are set aside by Arrow; they are split
    here and put back at their line. Arrow numbers them only when it reads on one thread, so a
    file with such lines is read again on one thread."""
    try:
        # threads pay off on large files only; a monthly file of a few thousand lines reads
        # faster on one (and files are read in parallel processes anyway)
        threads = path.stat().st_size > _THREADED_FROM_BYTES
        table, odd = _arrow_csv(path, encoding, delimiter, skip, width, threads=threads)
        if any(number is None for number, _ in odd):
            table, odd = _arrow_csv(path, encoding, delimiter, skip, width, threads=False)
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError):
        return None
    if table.num_rows + len(odd) != _count_lines(path) - skip:  # a quoted value spans lines
        return None
    return _merge_odd_lines(table, odd, skip, delimiter, width)


def _arrow_csv(path: Path, encoding: str, delimiter: str, skip: int, width: int, threads: bool):
    odd: list[tuple[int | None, str]] = []

    def set_aside(row) -> str:
        odd.append((row.number, row.text))
        return "skip"

    names = [str(i) for i in range(width)]
    source, arrow_encoding = path, "utf8" if encoding.startswith("utf-8") else encoding
    if arrow_encoding != "utf8" and not threads:
        # a small file decoded here in one call: Arrow's transcoding stream costs ~0.5 ms a file
        source, arrow_encoding = pa.BufferReader(path.read_bytes().decode(encoding).encode()), "utf8"
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(
            encoding=arrow_encoding, skip_rows=skip, column_names=names, use_threads=threads,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=set_aside,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    return table, odd


def _merge_odd_lines(table: pa.Table, odd: list, skip: int, delimiter: str, width: int):
    lines = np.arange(skip + 1, skip + table.num_rows + len(odd) + 1)
    odd_lines = np.array([number for number, _ in odd], dtype=np.int64)
    regular_lines = lines[~np.isin(lines, odd_lines)]
    if odd:
        cells = [_fit(next(csv.reader([text], delimiter=delimiter), []), width) for _, text in odd]
        extra = pa.table({name: [row[i] for row in cells] for i, name in enumerate(table.column_names)})
        table = pa.concat_tables([table, extra.cast(table.schema)])
        all_lines = np.concatenate([regular_lines, odd_lines])
        order = np.argsort(all_lines, kind="stable")
        table, regular_lines = table.take(pa.array(order)), all_lines[order]
    return _columns(table.columns, width), regular_lines


def _fit(cells: list[str], width: int) -> list[str]:
    """Pad a short line with empty cells; drop cells past the header (they have no name)."""
    return (cells + [""] * width)[:width]


def _columns(columns: list, width: int) -> list[pa.Array]:
    return [pa.chunked_array(column, type=pa.string()).combine_chunks()
            for column in columns[:width]]


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


def _read_with_csv(path: Path, encoding: str, delimiter: str, header_index: int, width: int):
    records, starts = [], []
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        previous_end = 0
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if start > header_index + 1:
                records.append(_fit(cells, width))
                starts.append(start)
    columns = [pa.array([row[i] for row in records], type=pa.string()) for i in range(width)]
    return _columns(columns, width), np.array(starts, dtype=np.int64)
