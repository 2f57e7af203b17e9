"""The small interface every source adapter implements, and what it hands back.

An adapter turns one delivered file into typed, pseudonymised rows for its staging tables. It
never touches the database and imports nothing from Dagster: the ingest layer (utfall.ingest)
writes what it returns. Every row it reads ends up in exactly one of: loaded, quarantined, skipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa

from utfall.adapters.config import SystemConfig
from utfall.adapters.personnummer import Pseudonymiser


class Reason(StrEnum):
    """Reason codes of meta.quarantine."""

    PNR_INVALID = "PNR_INVALID"  # not a personnummer: wrong length, date or check digit
    PNR_MISSING = "PNR_MISSING"
    PNR_INTERIM = "PNR_INTERIM"  # an interim (reserve) number, a letter in the serial: no person
    ID_MISSING = "ID_MISSING"  # neither personnummer nor Deltagarnr
    DATE_INVALID = "DATE_INVALID"  # a required date that cannot be parsed or is impossible
    DATE_MISSING = "DATE_MISSING"
    END_BEFORE_START = "END_BEFORE_START"
    AMOUNT_INVALID = "AMOUNT_INVALID"
    # an amount no line of försörjningsstöd can be: above limits.fs_amount_max_kr, or a
    # correction below limits.fs_amount_min_kr (adapters/defaults.yaml)
    AMOUNT_IMPLAUSIBLE = "AMOUNT_IMPLAUSIBLE"
    NUMBER_IS_PNR = "NUMBER_IS_PNR"  # a number column holds a valid personnummer: never loaded
    MONTH_INVALID = "MONTH_INVALID"
    HOUSEHOLD_MISSING = "HOUSEHOLD_MISSING"
    SCORE_INVALID = "SCORE_INVALID"  # a score that is not a number or lies outside the scale
    RATER_INVALID = "RATER_INVALID"
    LINE_MALFORMED = "LINE_MALFORMED"  # a text line that is not a row: an open quote, wrong width
    DATE_FUTURE = "DATE_FUTURE"  # a date that cannot be true yet (after the run date)


# What ends a run on purpose: every other BaseException a reader raises (pyo3's PanicException
# from a native reader) is one file's failure, and costs only that file
STOPS = (KeyboardInterrupt, SystemExit, GeneratorExit)


class FileRejected(Exception):
    """The whole file cannot be read (wrong format, corrupt, encrypted, empty, unknown layout).

    The message names what is wrong in words an analyst can act on; never a personnummer.
    """


@dataclass(frozen=True)
class SourceFile:
    """One delivered file: where it lies, and what the inbox path says about it."""

    path: Path  # absolute path on disk
    rel_path: str  # path relative to the inbox, '/' separated: the delivery's identity
    kommun_kod: str
    system: str


@dataclass
class QuarantineRow:
    row_number: int  # 1-based, as the user sees it in a text editor or a spreadsheet
    reason: Reason
    message: str  # names file, row and column; never the offending personnummer
    column: str | None = None
    sheet: str | None = None


@dataclass
class AdapterResult:
    """What an adapter returns for one file.

    `tables` maps a staging table name (e.g. "procapita_fs_line") to a DataFrame or an Arrow table
    whose columns are that table's columns in schemas/ddl/20_staging.sql, minus delivery_id and
    kommun_kod (added by the ingest layer). An adapter that builds its columns in Arrow returns
    them as a table: they go on to DuckDB without a pandas round trip. `frame(name)` gives either
    as a DataFrame. Invariant: rows_read == rows_loaded + len(quarantine) + rows_skipped.
    """

    kind: str
    tables: dict[str, pd.DataFrame | pa.Table] = field(default_factory=dict)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_skipped: int = 0
    period_start: date | None = None
    period_end: date | None = None
    # the latest of the dates checked for DATE_FUTURE (quarantined ones included), as a day that
    # is future exactly when it is after the run date: a cached read holds while it is <= today
    latest_date: date | None = None
    # (field, local value) -> count of rows where no mapping covered the value
    unmapped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # e.g. sheets skipped and why
    # sheet (None for a text file) -> canonical columns its header named (config header_aliases;
    # SKAPA dimensions as 'dimension:<CODE>'): what utfall.completeness measures against
    columns_found: dict[str | None, list[str]] = field(default_factory=dict)
    # (sheet, header as delivered, the alias it nearly matches or None): headers not understood
    unknown_headers: list[tuple[str | None, str, str | None]] = field(default_factory=list)

    def frame(self, table: str) -> pd.DataFrame:
        rows = self.tables[table]
        return rows.to_pandas(types_mapper=pd.ArrowDtype) if isinstance(rows, pa.Table) else rows

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_skipped


class Adapter(Protocol):
    """One module per source system exposes `SYSTEM` and a `read` function of this shape."""

    def __call__(
        self, source: SourceFile, config: SystemConfig, pseudo: Pseudonymiser, today: date
    ) -> AdapterResult: ...


class BatchAdapter(Protocol):
    """Optional, beside `read` (issue 24): a module may also expose `read_batch` of this shape,
    for adjacent files of one municipality and system (one configuration). It returns, for each
    source, the AdapterResult that `adapters.read` would give for that file alone (the door's
    future-date and personnummer rules applied), or None where the file is to be read alone
    (utfall.reading does so, and reads every file alone if read_batch raises)."""

    def __call__(
        self, sources: list[SourceFile], config: SystemConfig, pseudo: Pseudonymiser, today: date
    ) -> list[AdapterResult | None]: ...
