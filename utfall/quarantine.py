"""What a run leaves for the analyst to look at, read from the meta tables: each duplicate with the
file it duplicates, the quarantined rows with file, line, column and message, and the counts the
run's summary ends with.

Names and messages from deliveries are stored masked (adapters.redact); the command line masks
them again where it shows them, so that no database, however old, can print a personnummer."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Duplicate:
    path: str
    kommun_kod: str
    of_path: str  # the file with the same content that is loaded (the first in inbox order)
    of_kommun: str

    @property
    def across_municipalities(self) -> bool:
        """The same file in two municipalities' folders: one of them holds the other's data."""
        return self.kommun_kod != self.of_kommun


def duplicates(con: duckdb.DuckDBPyConnection, paths: list[str]) -> list[Duplicate]:
    """The duplicates among `paths` (the files the latest run found to be duplicates), each with
    the file it duplicates; from each path's latest record (an earlier run's may linger)."""
    if not paths:
        return []
    rows = con.execute("""
        select d.path, d.kommun_kod, t.path, t.kommun_kod
        from meta.delivery as d join meta.delivery as t on t.delivery_id = d.duplicate_of
        where d.status = 'DUPLICATE' and d.path in (select unnest(?::varchar[]))
        qualify row_number() over (partition by d.path order by d.loaded_at desc) = 1
        order by d.path
    """, [paths]).fetchall()
    return [Duplicate(*row) for row in rows]


@dataclass(frozen=True)
class Quarantined:
    path: str
    sheet: str | None
    row_number: int | None
    column: str | None
    reason: str
    message: str  # names the file, row and column itself (adapters.base.QuarantineRow)

    @property
    def where(self) -> str:
        """`line 3` in a text file, `sheet '2023', row 10` in a workbook."""
        row = "" if self.row_number is None else str(self.row_number)
        if self.sheet is None:
            return f"line {row}".strip()
        return f"sheet '{self.sheet}'" + (f", row {row}" if row else "")

    @property
    def detail(self) -> str:
        """The message without the place it starts with, which `path` and `where` show; the whole
        message where it does not start so."""
        place = re.match(rf"{re.escape(self.path)},? (?:sheet '.*?',? )?(?:line|row) "
                         rf"{self.row_number}(?:, column '.*?')?: ", self.message)
        return self.message[place.end():] if place else self.message


def quarantined(con: duckdb.DuckDBPyConnection, kommun: str | None = None,
                reason: str | None = None) -> list[Quarantined]:
    """The quarantined rows of the files loaded now, in file and row order."""
    rows = con.execute("""
        select q.path, q.sheet, q.row_number, q.column_name, q.reason, q.message
        from meta.quarantine as q join meta.delivery as d using (delivery_id)
        where d.status = 'LOADED' and (? is null or q.kommun_kod = ?)
          and (? is null or q.reason = ?)
        order by q.path, q.sheet nulls first, q.row_number, q.column_name
    """, [kommun, kommun, reason, reason]).fetchall()
    return [Quarantined(*row) for row in rows]


@dataclass(frozen=True)
class ToLookAt:
    quarantined_rows: int
    quarantined_files: int
    unmapped_values: int  # as `utfall unmapped` lists them: per municipality, system and field
    unknown_headers: int


def to_look_at(con: duckdb.DuckDBPyConnection) -> ToLookAt:
    """What the database holds for the analyst to fix in mappings or deliveries: the files loaded
    now, whichever run read them."""
    rows, files = con.execute(
        "select count(*), count(distinct q.delivery_id) from meta.quarantine as q "
        "join meta.delivery as d using (delivery_id) where d.status = 'LOADED'").fetchone()
    (values,) = con.execute(
        "select count(distinct (u.kommun_kod, u.system, u.field, u.value_local)) "
        "from meta.unmapped_value as u join meta.delivery as d using (delivery_id) "
        "where d.status = 'LOADED'").fetchone()
    try:
        (headers,) = con.execute(
            "select count(*) from meta.unknown_header as h join meta.delivery as d "
            "using (delivery_id) where d.status = 'LOADED'").fetchone()
    except duckdb.CatalogException:  # a database built before headers were recorded
        headers = 0
    return ToLookAt(rows, files, values, headers)
