"""SKAPA progression assessments (`skapa/`): one row per occasion, one column per dimension.

The export is an .xlsx (sometimes a UTF-8 .csv). Each occasion row gives one `skapa_assessment`
row per dimension with a score. Dimension names and scales are the municipality's own: the
configuration maps them (spec/sources.md section 3); a header may carry its scale ('Motivation
(1-7)'). A column that is neither a known column nor a dimension is reported, never dropped
silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from utfall.adapters import redact
from utfall.adapters.base import AdapterResult, FileRejected, Reason, SourceFile
from utfall.adapters.config import SystemConfig, normalise
from utfall.adapters.personnummer import Pseudonymiser
from utfall.adapters.spreadsheet import (
    Column,
    Row,
    RowProblem,
    Table,
    cell_text,
    quarantine_row,
    read_date,
    read_personnummer,
    read_tables,
    typed_frame,
    unknown_headers,
)
from utfall.adapters.textfile import read_text_table
from utfall.adapters.values import is_blank

SYSTEM = "skapa"
KIND = "skapa"

ASSESSMENT_COLUMNS = {
    "sheet": "str", "row_number": "Int64", "person_key": "str", "participant_ref": "str",
    "assessed_on": "object", "rater": "str", "dimension_local": "str", "dimension": "str",
    "score": "float64", "scale_min": "float64", "scale_max": "float64",
}  # fmt: skip

# the known columns an occasion is read from; every other column should be a dimension
OCCASION_COLUMNS = ("personnummer", "deltagarnr", "datum", "bedomning")

_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
# a scale at the end of a header: 'Motivation (1-7)', 'Hälsa [1–10]', 'Språk (skala 1-5)'
_HEADER_SCALE = re.compile(
    r"\s*[(\[]\s*(?:skala\s*)?(\d+(?:[.,]\d+)?)\s*[-–—]\s*(\d+(?:[.,]\d+)?)\s*[)\]]\s*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Dimension:
    index: int  # the column
    local: str  # the header as delivered
    code: str  # canonical dimension
    scale: tuple[float, float]


@dataclass
class _Context:
    source: SourceFile
    config: SystemConfig
    pseudo: Pseudonymiser
    today: date
    result: AdapterResult
    records: list[dict] = field(default_factory=list)
    without_scores: int = 0


def read(
    source: SourceFile, config: SystemConfig, pseudo: Pseudonymiser, today: date
) -> AdapterResult:
    result = AdapterResult(kind=KIND)
    ctx = _Context(source, config, pseudo, today, result)
    for table in _tables(source, config, result):
        _read_table(table, ctx)
    result.tables = {"skapa_assessment": typed_frame(ctx.records, ASSESSMENT_COLUMNS)}
    if ctx.records:
        result.period_start = min(r["assessed_on"] for r in ctx.records)
        result.period_end = max(r["assessed_on"] for r in ctx.records)
    if ctx.without_scores:
        result.notes.append(f"{ctx.without_scores} occasion(s) without any score skipped")
    return result


# --- tables --------------------------------------------------------------------------------------


def _tables(source: SourceFile, config: SystemConfig, result: AdapterResult) -> list[Table]:
    if _is_workbook(source):
        tables = _sheet_tables(source, config, result)
    else:  # a text export: textfile finds its encoding, delimiter and header
        tables = [_text_table(source, config, result)]
    for table in tables:
        _check_layout(table, source)
    return tables


def _is_workbook(source: SourceFile) -> bool:
    """By content, not name: a workbook saved as .csv (or the reverse) still reads right."""
    with source.path.open("rb") as fh:
        return fh.read(8).startswith(_WORKBOOK_MAGIC)


def _sheet_tables(source: SourceFile, config: SystemConfig, result: AdapterResult) -> list[Table]:
    """The configured sheets, or every sheet whose header has an identifier and a date."""
    return read_tables(
        source, config, lambda t: _has_identifier(t) and t.has("datum"),
        "an identifier (Personnummer or Deltagarnr) and a date column (Datum)", result.notes,
    )  # fmt: skip


def _text_table(source: SourceFile, config: SystemConfig, result: AdapterResult) -> Table:
    text = read_text_table(source.path, config, source.rel_path)
    text.set_aside(result, source.rel_path)  # bad and repeated header lines are not rows
    columns = [Column(j, h, config.column_for(h) if h else None) for j, h in enumerate(text.header)]
    below = [
        Row(int(number), list(cells))
        for number, cells in zip(text.line_numbers, text.rows.itertuples(index=False), strict=True)
    ]
    return Table(None, text.header_line, columns, rows_above=text.lines_above_header, below=below)


def _has_identifier(table: Table) -> bool:
    return table.has("personnummer") or table.has("deltagarnr")


def _check_layout(table: Table, source: SourceFile) -> None:
    """Without an identifier, a date or the rater column no row could load: say so once."""
    where = source.rel_path + (f", sheet '{table.sheet}'" if table.sheet else "")
    missing = [what for what, ok in (
        ("identifier column (Personnummer or Deltagarnr)", _has_identifier(table)),
        ("date column (Datum)", table.has("datum")),
        ("rater column (Bedömning: Självskattning / Handledare)", table.has("bedomning")),
    ) if not ok]  # fmt: skip
    if missing:
        raise FileRejected(f"{where}: the header row has no {' and no '.join(missing)}")


# --- dimensions ----------------------------------------------------------------------------------


def _dimensions(table: Table, config: SystemConfig, data: list[Row], ctx: _Context):
    """The dimension columns; every other unknown column is reported with its count of values."""
    dims, unknown, named = [], [], set()
    # a data row on the header line: its cells (a name) must not become labels in notes
    hide = redact.header_holds_data([c.header for c in table.columns])
    for col in table.columns:
        if col.canonical in OCCASION_COLUMNS:
            continue
        dim = _dimension(col, config)
        if dim is not None:
            dims.append(dim)
            named.add(col.index)
        elif col.canonical is None:
            unknown.append(_unknown(col, data, hide))
    _report_unknown(table, [u for u in unknown if u is not None], ctx)
    names = (config.dimensions, config.exact.get("dimension", {}))  # a misspelt dimension too
    ctx.result.unknown_headers += unknown_headers(table, config, named, *names)
    return dims


def _dimension(col: Column, config: SystemConfig) -> Dimension | None:
    """Configured local name first, then the common Swedish name, with the header's scale."""
    name, header_scale = _split_scale(col.header)
    spec = config.dimensions.get(normalise(col.header)) or config.dimensions.get(normalise(name))
    if spec is not None:
        scale = spec.scale or header_scale or config.scale
        return Dimension(col.index, col.header, spec.dimension, tuple(map(float, scale)))
    if col.canonical is not None or not name:  # a known non-dimension column (Namn, ...)
        return None
    code = config.map_value("dimension", name)
    if code is None:
        return None
    return Dimension(col.index, col.header, code, tuple(map(float, header_scale or config.scale)))


def _split_scale(header: str) -> tuple[str, tuple[float, float] | None]:
    """'Motivation (1-7)' -> ('Motivation', (1.0, 7.0)); a header without scale -> (header, None)."""
    match = _HEADER_SCALE.search(header)
    if match is None:
        return header, None
    low, high = (float(g.replace(",", ".")) for g in match.groups())
    if low >= high:
        return header, None
    return header[: match.start()].strip(), (low, high)


def _unknown(col: Column, data: list[Row], hide: bool) -> tuple[str, int] | None:
    """(label, non-blank cells) of a column that is neither known nor a dimension."""
    filled = sum(1 for r in data if col.index < len(r.cells) and not is_blank(r.cells[col.index]))
    if not col.header and not filled:
        return None  # an empty column without a header is nothing
    if hide:
        return f"column {col.index + 1} (header not shown: the line seems to hold data)", filled
    return col.header or f"column {col.index + 1} (no header)", filled


def _report_unknown(table: Table, unknown: list[tuple[str, int]], ctx: _Context) -> None:
    if not unknown:
        return
    for label, filled in unknown:
        if filled:
            ctx.result.unmapped[("dimension", label)] += filled
    where = f"sheet '{table.sheet}': " if table.sheet else ""
    listed = ", ".join(f"'{label}' ({filled} values)" for label, filled in unknown)
    ctx.result.notes.append(
        f"{where}columns that are not known dimensions were not loaded: {listed}; map them "
        f"under skapa.dimensions in the municipality's configuration"
    )


# --- rows ----------------------------------------------------------------------------------------


def _read_table(table: Table, ctx: _Context) -> None:
    data, skipped = table.split_rows()
    dims = _dimensions(table, ctx.config, data, ctx)
    ctx.result.columns_found[table.sheet] = table.known_columns() + list(
        dict.fromkeys(f"dimension:{d.code}" for d in dims))
    ctx.result.rows_read += skipped + len(data)
    ctx.result.rows_skipped += skipped
    for row in data:
        try:
            records = _occasion(table, row, dims, ctx)
        except RowProblem as problem:
            ctx.result.quarantine.append(quarantine_row(ctx.source, table, row, problem))
            continue
        if not records:  # nothing to load: neither loaded nor an error
            ctx.without_scores += 1
            ctx.result.rows_skipped += 1
            continue
        ctx.records.extend(records)
        ctx.result.rows_loaded += 1


def _occasion(table: Table, row: Row, dims: list[Dimension], ctx: _Context) -> list[dict]:
    person_key, participant_ref = _identity(table, row, ctx)
    assessed_on = read_date(table, row, "datum", required=True)
    rater = _rater(table, row, ctx)
    records = []
    for dim in dims:
        cell = row.cells[dim.index] if dim.index < len(row.cells) else None
        if is_blank(cell):
            continue
        records.append({
            "sheet": table.sheet, "row_number": row.number,
            "person_key": person_key, "participant_ref": participant_ref,
            "assessed_on": assessed_on, "rater": rater,
            "dimension_local": dim.local, "dimension": dim.code,
            "score": _score(cell, dim), "scale_min": dim.scale[0], "scale_max": dim.scale[1],
        })  # fmt: skip
    return records


def _identity(table: Table, row: Row, ctx: _Context) -> tuple[str | None, str | None]:
    """(person_key, participant_ref): a personnummer where there is one, else the Deltagarnr."""
    ref = cell_text(table.value(row, "deltagarnr")) or None
    if table.has("personnummer") and not is_blank(table.value(row, "personnummer")):
        return ctx.pseudo.person_key(read_personnummer(table, row, ctx.today)), ref
    if ref is not None:
        return None, ref
    if not table.has("deltagarnr"):
        raise RowProblem(Reason.PNR_MISSING, table.header("personnummer"), "no personnummer")
    raise RowProblem(Reason.ID_MISSING, None, "neither a personnummer nor a Deltagarnr")


def _rater(table: Table, row: Row, ctx: _Context) -> str:
    column = table.header("bedomning")
    local = cell_text(table.value(row, "bedomning"))
    if not local:
        raise RowProblem(Reason.RATER_INVALID, column, "no rater (Självskattning or Handledare)")
    rater = ctx.config.map_value("rater", local)
    if rater is None:  # the value is listed for the analyst; the message does not repeat it
        ctx.result.unmapped[("rater", local)] += 1
        raise RowProblem(
            Reason.RATER_INVALID,
            column,
            "not a known rater (Självskattning = self, Handledare / Coach = staff)",
        )
    return rater


def _score(cell: object, dim: Dimension) -> float:
    """A number within the dimension's scale; the message never repeats the cell."""
    low, high = dim.scale
    score = _number(cell)
    if score is None:
        detail = f"the score is not a number (scale {low:g}-{high:g})"
        raise RowProblem(Reason.SCORE_INVALID, dim.local, detail)
    if not low <= score <= high:
        detail = f"the score lies outside the scale {low:g}-{high:g}"
        raise RowProblem(Reason.SCORE_INVALID, dim.local, detail)
    return score


def _number(cell: object) -> float | None:
    """A numeric cell, or text such as '4' or '2,5'; None for anything else (dates, words)."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    if isinstance(cell, str) and _NUMBER.fullmatch(cell.strip()):
        return float(cell.strip().replace(",", "."))
    return None
