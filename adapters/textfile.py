"""Reading delimited text exports: encoding, delimiter, header row, and every line's number.

Exports arrive as Windows-1252 or UTF-8 (with or without BOM), separated by ';', tab or ',', with
title lines above the header. DuckDB cannot decode Windows-1252 (STACK-NOTES.md), so files are
read with Arrow's CSV reader (transcoding through Python's codecs), all cells as text; the adapter
parses the values.

Every line below the header is one of: a record (blank and total lines included, for the adapter
to skip), a repeated header line (skipped), or a bad line (a quote that does not close, another
number of fields than the header): bad lines are quarantined with their number, and a file with
too many of them is rejected whole (`set_aside` puts both into an adapter's result).
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from utfall.adapters.base import AdapterResult, FileRejected, QuarantineRow, Reason
from utfall.adapters.config import SystemConfig

HEADER_SEARCH_LINES = 15  # the header row lies within the first 15 lines
DELIMITERS = (";", "\t", ",")
_SNIFF_BYTES = 256 * 1024
_THREADED_FROM_BYTES = 16 * 1024 * 1024
_CHUNK = 16 * 1024 * 1024
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as Arrow and the csv module see lines
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ","}
# A total line: its first non-blank cell starts with Summa or Totalt (Python and Arrow RE2 syntax)
TOTAL = r"^\s*(summa|totalt?)(\W|$)"
TOTAL_LINE = re.compile(TOTAL, re.IGNORECASE)
# A file is rejected whole when more of its lines below the header are bad than both of these: a
# few bad lines are typing slips worth quarantining one by one; beyond that the file is damaged or
# is not laid out as its header says, and loading the rest would publish a part as the whole.
MAX_BAD_SHARE = 0.05
MAX_BAD_LINES = 10

# Magic numbers of formats people send by mistake under a .csv / .txt name.
_MAGIC = {
    b"PK\x03\x04": "a zip archive (probably an Excel .xlsx or .ods workbook saved with a text name)",
    b"\xd0\xcf\x11\xe0": "an old-format Excel (.xls) or a password-protected Office file",
    b"%PDF": "a PDF document",
}


@dataclass(frozen=True)
class BadLine:
    line: int  # 1-based
    detail: str  # what is wrong, never the line's content


@dataclass
class TextTable:
    """A text export as cells of text, with the 1-based line number of each record.

    `columns` holds one Arrow string array per header cell, '' where a line has fewer cells;
    cells past the header's width are dropped (they are blank: a line with more filled cells is a
    bad line). It holds every record after the header, blank ones included, so that the caller
    can count them. `rows` is the same as a DataFrame (columns 0..n-1), built when asked for.
    Repeated header lines and bad lines are not records: `set_aside` counts them.
    """

    header: list[str]
    header_line: int  # 1-based; the lines above it are titles or blank
    columns: list[pa.Array]
    line_numbers: np.ndarray  # 1-based line of each record, aligned with the cells
    encoding: str
    delimiter: str
    bad_lines: list[BadLine] = field(default_factory=list)
    repeated_header_lines: list[int] = field(default_factory=list)

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

    def set_aside(self, result: AdapterResult, name: str) -> None:
        """Count the lines that are not records into `result`: bad lines read and quarantined,
        repeated header lines read and skipped."""
        _set_aside(result, name, self.bad_lines, self.repeated_header_lines)


def _set_aside(result: AdapterResult, name: str, bad_lines: list[BadLine],
               repeated_header_lines: list[int]) -> None:
    result.rows_read += len(bad_lines) + len(repeated_header_lines)
    result.rows_skipped += len(repeated_header_lines)
    result.quarantine.extend(
        QuarantineRow(bad.line, Reason.LINE_MALFORMED, f"{name} line {bad.line}: {bad.detail}")
        for bad in bad_lines)


def read_text_table(path: Path, config: SystemConfig, name: str) -> TextTable:
    """Read a delimited text export; `name` (the inbox-relative path) is used in messages.

    Raises FileRejected for an empty or binary file, when no header row is found, or when too
    many lines do not parse as rows of the header's layout.
    """
    head = _read_head(path)
    _reject_non_text(head, name)
    _reject_without_lines(path, head, name)
    encoding = _encoding(path, head, config, name)
    sample = _decode_sample(head, encoding)
    if not sample.strip():
        raise FileRejected(f"{name}: the file is empty")
    delimiter, header_index, header = _find_header(sample, config, name)
    columns, lines, bad = _read_records(path, encoding, delimiter, header_index + 1, header)
    columns, lines, repeated = _without_repeated_header(columns, lines, header)
    _reject_if_damaged(bad, len(lines) + len(bad) + len(repeated), delimiter, len(header), name)
    return TextTable(header, header_index + 1, columns, lines, encoding, delimiter, bad, repeated)


def _without_repeated_header(columns: list[pa.Array], lines: np.ndarray, header: list[str]):
    """Records that repeat the header (files concatenated, a report's page break) taken out."""
    first = next((i for i, cell in enumerate(header) if cell), None)
    if first is None or not len(lines):
        return columns, lines, []
    candidates = np.flatnonzero(_numpy(pc.equal(pc.utf8_trim_whitespace(columns[first]),
                                                header[first])))
    repeated = [row for row in candidates
                if [_clean_header(c[row].as_py()) for c in columns] == header]
    if not repeated:
        return columns, lines, []
    keep = np.ones(len(lines), dtype=bool)
    keep[repeated] = False
    mask = pa.array(keep)
    return [c.filter(mask) for c in columns], lines[keep], [int(lines[r]) for r in repeated]


def _numpy(flags: pa.Array) -> np.ndarray:
    return flags.to_numpy(zero_copy_only=False).astype(bool)


def _reject_if_damaged(bad: list[BadLine], below: int, delimiter: str, width: int,
                       name: str) -> None:
    if len(bad) <= MAX_BAD_LINES or len(bad) <= MAX_BAD_SHARE * below:
        return
    shown = ", ".join(f"line {b.line} ({b.detail})" for b in bad[:3])
    raise FileRejected(
        f"{name}: {len(bad)} of the {below} lines below the header do not parse as rows of "
        f"{width} fields separated by {_DELIMITER_WORDS.get(delimiter, repr(delimiter))} "
        f"(first: {shown}); the file seems damaged or saved with another layout: nothing of it "
        f"was loaded"
    )


_DELIMITER_WORDS = {";": "';'", "\t": "tabs", ",": "','"}


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


def _reject_without_lines(path: Path, head: bytes, name: str) -> None:
    """A file whose first 256 kB hold no line break has no header line in them: it is one long
    line (a file saved without line breaks, or not an export at all)."""
    if len(head) == _SNIFF_BYTES and not _LINE_BREAK.search(head.decode("latin-1")):
        size = path.stat().st_size
        raise FileRejected(f"{name}: no line break in its first {_SNIFF_BYTES // 1024} kB (one "
                           f"line of {size / 2**20:,.1f} MB or more): not a text export with one "
                           "row per line")


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
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a field beyond csv's limit (128 kB) is no header cell
        return []


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
# One physical line is one row: an export's values never hold a line break, so a line that does
# not parse on its own (a quote that does not close before the end of the line, another number of
# fields than the header) is set aside under its own number instead of being merged with the lines
# after it, as a CSV reader would.


def _read_records(path: Path, encoding: str, delimiter: str, skip: int, header: list[str]):
    """(cells, line numbers, bad lines) below the header. Fast path: Arrow's CSV reader (several
    times faster than pandas' on 30 million lines), when its records are the file's lines one to
    one; otherwise the file is decoded here, lines whose quotes do not close are blanked out, and
    Arrow reads the rest."""
    if encoding != "utf-16":
        fast = _read_with_arrow(path, encoding, delimiter, skip, header)
        if fast is not None:
            return fast
    return _read_line_by_line(path, encoding, delimiter, skip, header)


def _read_with_arrow(path: Path, encoding: str, delimiter: str, skip: int, header: list[str]):
    """Records below the header, or None when Arrow's records are not the file's lines.

    Lines with another number of cells than the header are set aside by Arrow and judged here.
    Arrow numbers them only when it reads on one thread, so a file with such lines is read
    again on one thread."""
    lines, has_quote, last_line = _scan(path)
    if has_quote and not _quotes_close(last_line.decode(encoding, errors="replace"), delimiter):
        return None  # at the end of the file an open quote swallows nothing Arrow would show
    try:
        # threads pay off on large files only; a monthly file of a few thousand lines reads
        # faster on one (and files are read in parallel processes anyway)
        threads = path.stat().st_size > _THREADED_FROM_BYTES
        source, arrow_encoding = path, "utf8" if encoding.startswith("utf-8") else encoding
        if arrow_encoding != "utf8" and not threads:
            # a small file decoded here in one call: Arrow's transcoding stream costs ~0.5 ms a file
            source, arrow_encoding = _utf8(path.read_bytes().decode(encoding)), "utf8"
        table, odd = _arrow_csv(source, arrow_encoding, delimiter, skip, len(header), threads)
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError):
        return None
    if table.num_rows + len(odd) != lines - skip:
        return None
    if has_quote and _spans_lines(table, odd):  # an open quote took in the lines after it
        return None
    return _records(table, odd, skip, delimiter, header, unclosed=set())


def _read_line_by_line(path: Path, encoding: str, delimiter: str, skip: int, header: list[str]):
    text = _one_line_break(path.read_bytes().decode(encoding, errors="replace"))
    unclosed, pieces, last = set(), [], 0
    line, counted_to = 1, 0
    for match in _unclosed_lines(delimiter).finditer(text):
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        unclosed.add(line)
        pieces.append(text[last:match.start()])  # the line is blanked: it keeps its number
        last = match.end()
    pieces.append(text[last:])
    data = "".join(pieces)
    unclosed = {n for n in unclosed if n > skip}
    if data.count("\n") + (not data.endswith("\n")) <= skip:  # no record below the header
        empty = pa.table({str(i): pa.array([], pa.string()) for i in range(len(header))})
        return _records(empty, [], skip, delimiter, header, unclosed)
    table, odd = _arrow_csv(_utf8(data), "utf8", delimiter, skip, len(header), threads=False)
    return _records(table, odd, skip, delimiter, header, unclosed)


def _utf8(text: str) -> pa.BufferReader:
    return pa.BufferReader(text.encode())


def _one_line_break(text: str) -> str:
    """CRLF and CR as LF: Arrow and the header search see a line at each of them."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _scan(path: Path) -> tuple[int, bool, bytes]:
    """Lines as Arrow counts them when every line ends in LF or CRLF; whether any '"' occurs;
    the last line."""
    lines, has_quote, previous, chunk = 0, False, b"", b"\n"
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            previous, chunk = chunk, block
            lines += chunk.count(b"\n")
            has_quote = has_quote or b'"' in chunk
    ended = chunk.endswith(b"\n")
    tail = chunk.rstrip(b"\r\n")
    if b"\n" not in tail:  # the last line began in the chunk before
        tail = (previous + chunk).rstrip(b"\r\n")
    return lines + (0 if ended else 1), has_quote, tail.rsplit(b"\n", 1)[-1]


def _spans_lines(table: pa.Table, odd: list) -> bool:
    """A cell or set-aside line with a line break in it: some quote opened and did not close."""
    if any("\n" in text or "\r" in text for _, text in odd):
        return True
    # the cells' bytes searched in one piece per chunk (a copy and a memchr), not cell by cell
    return any(b"\n" in data or b"\r" in data
               for column in table.columns for chunk in column.chunks
               for data in [_value_bytes(chunk)])


def _value_bytes(chunk: pa.Array) -> bytes:
    if not len(chunk) or chunk.buffers()[2] is None:
        return b""
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
    start, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
    return chunk.buffers()[2].slice(start, end - start).to_pybytes()


def _arrow_csv(source, encoding: str, delimiter: str, skip: int, width: int, threads: bool):
    odd: list[tuple[int | None, str]] = []

    def set_aside(row) -> str:
        odd.append((row.number, row.text))
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        block = {}
        if isinstance(source, pa.BufferReader):  # in one block: a line longer than a block fails
            source.seek(0)
            block = {"block_size": max(source.size(), 1 << 20)}
        names = [str(i) for i in range(width)]
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(
                encoding=encoding, skip_rows=skip, column_names=names, use_threads=use_threads,
                **block,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=set_aside,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )

    table = read(threads)
    if threads and any(number is None for number, _ in odd):
        odd.clear()
        table = read(False)
    return table, odd


def _records(table: pa.Table, odd: list, skip: int, delimiter: str, header: list[str],
             unclosed: set[int]):
    """Arrow's regular records and the lines it set aside, each in its place: a set-aside line
    that is blank, a total line or only short of unnamed columns is a record like the others;
    any other, and every line in `unclosed`, is a bad line."""
    width, named = len(header), _named_width(header)
    lines = np.arange(skip + 1, skip + table.num_rows + len(odd) + 1)
    odd_lines = np.array([number for number, _ in odd], dtype=np.int64)
    regular_lines = lines[~np.isin(lines, odd_lines)]
    bad = [BadLine(n, _UNCLOSED) for n in sorted(unclosed)]
    extra_rows, extra_lines = [], []
    for number, text in odd:
        if number in unclosed:
            continue
        cells = _cells(text, delimiter)
        problem = _field_count_problem(cells, width, named)
        if problem:
            bad.append(BadLine(number, problem))
        else:
            extra_rows.append(_fit(cells, width))
            extra_lines.append(number)
    if extra_rows:
        extra = pa.table({name: [row[i] for row in extra_rows]
                          for i, name in enumerate(table.column_names)})
        table = pa.concat_tables([table, extra.cast(table.schema)])
        all_lines = np.concatenate([regular_lines, np.array(extra_lines, dtype=np.int64)])
        order = np.argsort(all_lines, kind="stable")
        table, regular_lines = table.take(pa.array(order)), all_lines[order]
    if unclosed:  # blanked lines read as blank records: they are bad lines, not records
        keep = ~np.isin(regular_lines, np.array(sorted(unclosed), dtype=np.int64))
        table, regular_lines = table.filter(pa.array(keep)), regular_lines[keep]
    return _columns(table.columns, width), regular_lines, sorted(bad, key=lambda b: b.line)


_UNCLOSED = "a quote (\") opens a value and does not close before the end of the line"


def _named_width(header: list[str]) -> int:
    """Cells up to the last named header cell: a line may leave out unnamed cells after it."""
    return max((i + 1 for i, cell in enumerate(header) if cell), default=0)


def _field_count_problem(cells: list[str], width: int, named: int) -> str | None:
    """Why a line with another number of cells than the header is not a row, or None when it is:
    blank, a total line, short of unnamed cells only, or long by blank cells only (a trailing
    delimiter)."""
    filled = [i for i, cell in enumerate(cells) if cell.strip()]
    if not filled or TOTAL_LINE.match(cells[filled[0]]):
        return None
    if len(cells) < named or filled[-1] >= width:
        fields = "1 field" if len(cells) == 1 else f"{len(cells)} fields"
        return f"{fields} where the header has {width}"
    return None


def _fit(cells: list[str], width: int) -> list[str]:
    """Pad a short line with empty cells; drop cells past the header (they have no name)."""
    return (cells + [""] * width)[:width]


def _columns(columns: list, width: int) -> list[pa.Array]:
    return [pa.chunked_array(column, type=pa.string()).combine_chunks()
            for column in columns[:width]]


# A value as Arrow reads it: quoted ("" inside for a quote; text after the closing quote is kept),
# or unquoted, where a quote is a character like any other.
_FIELD = r'(?:"(?:[^"\n]|"")*+"[^{d}\n]*|(?!")[^{d}\n]*)'


@cache
def _field_pattern(delimiter: str) -> re.Pattern:
    d = re.escape(delimiter)
    return re.compile(rf'"((?:[^"\n]|"")*+)"([^{d}\n]*)|((?!")[^{d}\n]*)')


@cache
def _unclosed_lines(delimiter: str) -> re.Pattern:
    """Lines (LF-separated) that are not a sequence of values: some quote does not close."""
    field = _FIELD.format(d=re.escape(delimiter))
    return re.compile(rf"^(?!{field}(?:{re.escape(delimiter)}{field})*$)[^\n]+",
                      re.MULTILINE)


def _quotes_close(line: str, delimiter: str) -> bool:
    return _unclosed_lines(delimiter).match(line) is None


def _cells(line: str, delimiter: str) -> list[str]:
    """The cells of a line whose quotes close, split as Arrow splits them."""
    pattern, cells, pos = _field_pattern(delimiter), [], 0
    while True:
        match = pattern.match(line, pos)
        if match is None:  # not reached for a line whose quotes close
            return [*cells, line[pos:]]
        if match[3] is not None:
            cells.append(match[3])
        else:
            cells.append(match[1].replace('""', '"') + match[2])
        pos = match.end()
        if pos >= len(line):
            return cells
        pos += 1  # the delimiter
        if pos == len(line):
            cells.append("")
            return cells


# --- many files of one layout as one table ------------------------------------------------------
# A municipality delivers the same export every month: hundreds of files with one header. Read
# one by one, each costs a header search, an Arrow read and an Arrow call per column and check;
# read as one batch (issue 24), the bodies of every file of a layout are joined (Windows-1252
# decoded in one call) and Arrow reads them once. What the batch reads must be what each file
# read alone gives (tests/adapters/test_procapita_batch.py): a file that is not plainly one
# record per line (a quote, a lone CR, UTF-16, a decoding error, too large, or anything the
# single-file reader would reject) is left to read_text_table, which names it.

BATCH_MAX_FILE_BYTES = _THREADED_FROM_BYTES  # larger files are read alone, on several threads


@dataclass(frozen=True)
class Sniffed:
    """A file's layout from its head, and its body (the bytes below the header line)."""

    encoding: str  # as read_text_table decides it
    delimiter: str
    header: tuple[str, ...]
    header_line: int  # 1-based
    body: bytes  # ends with a line break unless empty
    lines: int  # physical lines in the body

    @property
    def layout(self) -> tuple[str, str, tuple[str, ...]]:
        """Files of one layout are read as one batch: their bodies read the same way."""
        family = "utf-8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        return family, self.delimiter, self.header


def sniff(path: Path, config: SystemConfig, name: str) -> Sniffed | None:
    """The file's layout when it can be read in a batch, else None (it is read alone)."""
    try:
        if path.stat().st_size > BATCH_MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    head = data[:_SNIFF_BYTES]
    if b'"' in data or b"\n" not in head:
        return None  # quotes: the line-by-line rules of read_text_table (lone CRs: see below)
    try:
        _reject_non_text(head, name)
        encoding = _encoding_of(data, head, config, name)
        if encoding is None:
            return None
        # the header search reads the first 15 lines of the sample: only they are decoded
        sample = _decode_sample(head[:_after_lines(head, HEADER_SEARCH_LINES)], encoding)
        if not sample.strip():
            return None
        delimiter, header_index, header = _find_header(sample, config, name)
    except FileRejected:
        return None
    start = _after_lines(data, header_index + 1)
    if _lone_cr(data[:start]):  # the header search counted it as a line end: read alone
        return None
    if encoding not in ("utf-8", "utf-8-sig"):
        try:  # read alone, an undecodable byte above the header sends the file line by line
            data[:start].decode(encoding)
        except UnicodeDecodeError:
            return None
    body = data[start:]
    lines = body.count(b"\n")
    if body and not body.endswith(b"\n"):
        body, lines = body + b"\n", lines + 1
    return Sniffed(encoding, delimiter, tuple(header), header_index + 1, body, lines)


def _after_lines(data: bytes, lines: int) -> int:
    """Where the text after the first `lines` lines (LF-ended) begins; the end if fewer."""
    start = 0
    for _ in range(lines):
        found = data.find(b"\n", start)
        if found < 0:
            return len(data)
        start = found + 1
    return start


def _lone_cr(body: bytes) -> bool:
    """A CR that is not followed by LF: Arrow (and read_text_table) see a line end there."""
    return body.count(b"\r") != body.count(b"\r\n")


def _encoding_of(data: bytes, head: bytes, config: SystemConfig, name: str) -> str | None:
    """_encoding's decision from the bytes in hand; None where the file must be read alone
    (UTF-16, or UTF-8 by configuration that does not decode)."""
    if config.encoding:
        encoding = _encoding(Path(), head, config, name)  # the path is not read for it
        if encoding.startswith("utf-16") or (
                encoding.startswith("utf-8") and not _decodes(data, "utf-8")):
            return None
        return encoding
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    utf8 = _decodes(data, "utf-8")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig" if utf8 else "cp1252"
    return "utf-8" if utf8 else "cp1252"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class TextBatch:
    """The records of several files of one layout, in file order: TextTable's cells and line
    numbers (each file's own), with the file of each record. A single file is a batch of one."""

    header: list[str]
    names: list[str]  # the files' names for messages (inbox-relative paths)
    header_lines: list[int]  # 1-based, per file
    columns: list[pa.Array]
    line_numbers: np.ndarray
    file: np.ndarray  # per record: the index of its file in `names`
    bad_lines: list[list[BadLine]]
    repeated_header_lines: list[list[int]]

    @classmethod
    def of(cls, table: TextTable, name: str) -> TextBatch:
        return cls(table.header, [name], [table.header_line], table.columns, table.line_numbers,
                   np.zeros(table.n, dtype=np.int64), [table.bad_lines],
                   [table.repeated_header_lines])

    @property
    def n(self) -> int:
        return len(self.line_numbers)

    @property
    def files(self) -> int:
        return len(self.names)

    def lines_above_header(self) -> np.ndarray:
        return np.array(self.header_lines, dtype=np.int64) - 1

    def per_file(self, rows: np.ndarray | None = None) -> np.ndarray:
        """How many records (or of the selected rows) each file has."""
        file = self.file if rows is None else self.file[rows]
        return np.bincount(file, minlength=self.files)

    def set_aside(self, result: AdapterResult, index: int) -> None:
        """TextTable.set_aside for one file of the batch."""
        _set_aside(result, self.names[index], self.bad_lines[index],
                   self.repeated_header_lines[index])


def read_text_batch(files: list[Sniffed], names: list[str]) -> tuple[TextBatch | None, list[int]]:
    """Files of one layout (Sniffed.layout) as one TextBatch, and the indices of the files left
    out, to be read alone: a byte their encoding cannot decode, a lone CR (a line end to Arrow;
    read alone, the file is read line by line), or more bad lines than a file may have (read
    alone, it is rejected by name). None when no file is left in the batch, or when Arrow's
    records are not the batch's lines for another reason (then every file is read alone)."""
    batch, alone = _read_text_batch(files, names)
    if batch is not _NOT_LINES:
        return batch, alone
    # the common case pays for one count of line ends per file; lone CRs are looked for here
    lone = [i for i, found in enumerate(files) if _lone_cr(found.body)]
    kept = [i for i in range(len(files)) if i not in lone]
    if lone and kept:
        batch, alone = _read_text_batch([files[i] for i in kept], [names[i] for i in kept])
        if batch is not _NOT_LINES:
            return batch, sorted(lone + [kept[i] for i in alone])
    return None, list(range(len(files)))


_NOT_LINES = object()  # Arrow's records are not the lines of the batch


def _read_text_batch(files: list[Sniffed], names: list[str]):
    first = files[0]
    encoding, delimiter, header = first.encoding, first.delimiter, list(first.header)
    alone: list[int] = []
    inside = list(range(len(files)))
    text = None
    while inside:  # Windows-1252 (or any codec but UTF-8) decoded once for the whole batch
        joined = b"".join(files[i].body for i in inside)
        if first.layout[0] == "utf-8":
            text = joined
            break
        try:
            text = joined.decode(encoding).encode()
            break
        except UnicodeDecodeError as exc:
            ends = np.cumsum([len(files[i].body) for i in inside])
            alone.append(inside.pop(int(np.searchsorted(ends, exc.start, side="right"))))
    if not inside:
        return None, sorted(alone)
    lines = np.array([files[i].lines for i in inside], dtype=np.int64)
    if not text:  # headers and nothing below them (Arrow takes no input for no records)
        table = pa.table({str(i): pa.array([], pa.string()) for i in range(len(header))})
        odd = []
    else:
        table, odd = _arrow_csv(pa.BufferReader(text), "utf8", delimiter, 0, len(header),
                                threads=len(text) > _THREADED_FROM_BYTES)
    if table.num_rows + len(odd) != int(lines.sum()):
        return _NOT_LINES, []
    starts = np.concatenate([[0], np.cumsum(lines)[:-1]])  # each file's first line, 0-based
    columns, line, bad = _records(table, odd, 0, delimiter, header, unclosed=set())
    columns, line, repeated = _without_repeated_header(columns, line, header)
    skip = np.array([files[i].header_line for i in inside], dtype=np.int64)

    def place(global_lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file in the batch, line in that file) of 1-based lines of the joined text."""
        at = np.searchsorted(starts, global_lines - 1, side="right") - 1
        return at, global_lines - starts[at] + skip[at]

    file, line = place(np.asarray(line, dtype=np.int64))
    bad_at, bad_line = place(np.array([b.line for b in bad], dtype=np.int64))
    rep_at, rep_line = place(np.array(repeated, dtype=np.int64))
    records = np.bincount(file, minlength=len(inside))
    bad_by_file: list[list[BadLine]] = [[] for _ in inside]
    for b, at, number in zip(bad, bad_at.tolist(), bad_line.tolist(), strict=True):
        bad_by_file[at].append(BadLine(number, b.detail))
    repeated_by_file: list[list[int]] = [[] for _ in inside]
    for at, number in zip(rep_at.tolist(), rep_line.tolist(), strict=True):
        repeated_by_file[at].append(number)
    keep = np.ones(len(inside), dtype=bool)
    for at, index in enumerate(inside):
        below = int(records[at]) + len(bad_by_file[at]) + len(repeated_by_file[at])
        try:
            _reject_if_damaged(bad_by_file[at], below, delimiter, len(header), names[index])
        except FileRejected:
            keep[at] = False
            alone.append(index)
    if not keep.any():
        return None, sorted(alone)
    if not keep.all():
        rows = pa.array(keep[file])
        columns = [c.filter(rows) for c in columns]
        line, file = line[keep[file]], np.cumsum(keep)[file[keep[file]]] - 1
    kept = [index for at, index in enumerate(inside) if keep[at]]
    batch = TextBatch(
        header, [names[i] for i in kept], [files[i].header_line for i in kept], columns,
        line, file.astype(np.int64),
        [b for b, k in zip(bad_by_file, keep, strict=True) if k],
        [r for r, k in zip(repeated_by_file, keep, strict=True) if k])
    return batch, sorted(alone)

