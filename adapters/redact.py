"""The last step of every adapter: no personnummer leaves it, not even one typed by hand into a
free-text column (an insats name, an avslutsorsak) or used as a local number (a Hushållsnummer or
Deltagarnr that is the applicant's personnummer). Local text, unmapped values, notes and messages
are searched for anything shaped like a personnummer, which is masked; in reference columns it is
replaced by a keyed hash instead, so that references still match each other."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from utfall.adapters.base import AdapterResult
from utfall.adapters.config import SystemConfig, normalise
from utfall.adapters.personnummer import Pseudonymiser

# 10 or 12 digits, optionally with '-', '+' or a space before the last four; or an interim number,
# whose serial starts with a letter ('19900101-T123')
PNR_LIKE = re.compile(
    r"(?<!\d)(?:\d{2})?\d{6}(?:[-+ ]?\d{4}(?!\d)|[-+]?[A-Za-z]\d{3}(?![^\W_]))")
_MAYBE_PNR = r"\d{6}(?:[-+ ]?\d{4}|[-+]?[A-Za-z]\d{3})"
MASK = "[personnummer]"
TEXT_COLUMNS_SUFFIX = "_local"
FREE_TEXT_COLUMNS = ("provider", "malgrupp")  # free text kept as delivered, like *_local
REF_COLUMNS = ("household_ref", "participant_ref")
NEAR = 0.8  # difflib ratio from which an unknown header is said to nearly match an alias


def text(value: str) -> str:
    return PNR_LIKE.sub(MASK, value)


# C0 and C1 controls, and the marks that break or reorder lines in a terminal or an editor
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(value: str) -> str:
    """Control characters as escapes ('\\n', '\\x1b'): a name cannot forge or erase a line of
    the summary or the log. Backslashes stay as they are, so escaping twice changes nothing."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), value)


def shown(value: str) -> str:
    """A message or other text from a delivery, as it may be stored and printed."""
    return printable(text(value))


def name(value: str | None, pseudo: Pseudonymiser) -> str | None:
    """A name from a delivery (path, folder, file or sheet) as it is stored and shown: masked and
    printable, and, when that changed it, tagged with a keyed hash of the name as delivered, so
    that two names that differ only in a personnummer stay two deliveries or sheets."""
    if value is None:
        return None
    out = shown(value)
    return out if out == value else f"{out} #{pseudo.tag(value)}"


# a cell with a digit and no letter: a number, a date, a personnummer - data, not a column name
_DATA_CELL = re.compile(r"[^\W\d_]")


def header_holds_data(cells: list[str]) -> bool:
    """A header line with a cell such as '198503122346' or '2023-03' has a data row on it (a lost
    line break, a hand edit): its other cells may be a name, so messages must not quote them."""
    return any(any(ch.isdigit() for ch in c) and not _DATA_CELL.search(c) for c in cells if c)


def header_cells(cells: list[str], known: Callable[[str], object]) -> tuple[list[str], int]:
    """The header cells a message may quote, and how many it may not: all may be quoted, unless
    the line holds data; then only those naming a known column."""
    cells = [c for c in cells if c]
    if not header_holds_data(cells):
        return cells, 0
    shown = [c for c in cells if known(c)]
    return shown, len(cells) - len(shown)


def aliases(config: SystemConfig, *more: Iterable[str]) -> list[str]:
    """Every header alias of a configuration (normalised), and any further names to compare with."""
    known = [a for names in config.header_aliases.values() for a in names]
    return list(dict.fromkeys(known + [normalise(m) for names in more for m in names]))


def unknown_headers(
    sheet: str | None, unknown: list[str], line: list[str], candidates: list[str]
) -> list[tuple[str | None, str, str | None]]:
    """(sheet, header, the candidate it nearly matches or None) for each distinct unknown header;
    none at all when the header line holds data, for then an unknown cell may be a name."""
    if header_holds_data([c for c in line if c]):
        return []
    return [
        (sheet, shown(header), _nearest(header, candidates))
        for header in dict.fromkeys(h for h in unknown if h)
    ]


def _nearest(header: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(normalise(header), candidates, n=1, cutoff=NEAR)
    return close[0] if close else None


def result(res: AdapterResult, pseudo: Pseudonymiser) -> AdapterResult:
    for table, frame in res.tables.items():
        res.tables[table] = _sheet_names(_frame(frame, pseudo), pseudo)
    unmapped: Counter = Counter()
    for (fld, value), n in res.unmapped.items():
        unmapped[(fld, shown(value))] += n
    res.unmapped = unmapped
    res.notes = [shown(n) for n in res.notes]
    res.unknown_headers = [(name(sheet, pseudo), shown(h), near)
                           for sheet, h, near in res.unknown_headers]
    res.columns_found = {name(sheet, pseudo): cols for sheet, cols in res.columns_found.items()}
    for q in res.quarantine:
        q.message = shown(q.message)
        q.sheet = name(q.sheet, pseudo)
        q.column = None if q.column is None else shown(q.column)
    return res


def _sheet_names(rows: pd.DataFrame | pa.Table,
                 pseudo: Pseudonymiser) -> pd.DataFrame | pa.Table:
    """The staging `sheet` column with every sheet name as `name` gives it."""
    names = rows.column_names if isinstance(rows, pa.Table) else list(rows.columns)
    if "sheet" not in names or len(rows) == 0:
        return rows
    column = rows["sheet"]
    distinct = (pc.unique(column).to_pylist() if isinstance(rows, pa.Table)
                else column.dropna().unique().tolist())
    renamed = {v: name(v, pseudo) for v in distinct if v is not None and name(v, pseudo) != v}
    if not renamed:
        return rows
    if isinstance(rows, pd.DataFrame):
        return rows.assign(sheet=column.replace(renamed))
    values = pa.array([renamed.get(v, v) for v in column.to_pylist()], pa.string())
    return rows.set_column(names.index("sheet"), "sheet", values)


def _may_hold_pnr(values: pd.Series | pa.ChunkedArray) -> bool:
    """A vectorised first look (RE2 has no look-arounds, so it finds a superset of PNR_LIKE):
    almost every column holds nothing like a personnummer and is left as it is."""
    cells = values if isinstance(values, pa.ChunkedArray) else pa.array(values, from_pandas=True)
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    if pa.types.is_dictionary(cells.type):
        cells = cells.dictionary
    if not pa.types.is_string(cells.type) and not pa.types.is_large_string(cells.type):
        cells = cells.cast(pa.string())
    return bool(pc.any(pc.match_substring_regex(cells, _MAYBE_PNR)).as_py())


def _frame(rows: pd.DataFrame | pa.Table, pseudo: Pseudonymiser) -> pd.DataFrame | pa.Table:
    """An Arrow table comes back as it is unless a column needs masking (then as a frame)."""
    names = rows.column_names if isinstance(rows, pa.Table) else list(rows.columns)
    texts = [c for c in names if c.endswith(TEXT_COLUMNS_SUFFIX) or c in FREE_TEXT_COLUMNS]
    refs = [c for c in names if c in REF_COLUMNS]
    if len(rows) == 0 or not (texts or refs):
        return rows
    texts = [c for c in texts if _may_hold_pnr(rows[c])]
    refs = [c for c in refs if _may_hold_pnr(rows[c])]
    if not (texts or refs):
        return rows
    frame = (rows.to_pandas(types_mapper=pd.ArrowDtype) if isinstance(rows, pa.Table)
             else rows.copy())
    for column in texts:
        frame[column] = frame[column].astype("string").str.replace(
            PNR_LIKE.pattern, MASK, regex=True)
    for column in refs:
        values = frame[column].astype("string")
        looks = values.str.fullmatch(r"\s*" + PNR_LIKE.pattern + r"\s*").fillna(False)
        if looks.any():
            values = values.copy()
            values[looks] = [pseudo.reference(v) for v in values[looks]]
        frame[column] = values
    return frame
