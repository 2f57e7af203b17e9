"""Inbox -> staging and meta. Decides per file whether it is new, a corrected re-delivery, a
duplicate or already loaded; runs the adapter; writes what it returns. The raw files are the raw
layer: nothing identifying is written to the database before an adapter has pseudonymised it."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from adapters import adapter_for
from adapters.base import AdapterResult, SourceFile
from adapters.config import ConfigStore
from adapters.personnummer import Pseudonymiser
from utfall import reading

log = logging.getLogger(__name__)

STAGING_TABLES = (
    "procapita_fs_line",
    "procapita_household_member",
    "procapita_insats",
    "excel_participant",
    "excel_status",
    "skapa_assessment",
)


@dataclass
class FileOutcome:
    rel_path: str
    status: str  # LOADED, REJECTED, DUPLICATE, UNCHANGED
    kommun_kod: str | None = None
    system: str | None = None
    message: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    replaced: str | None = None  # delivery_id this file replaced
    read_seconds: float = 0.0  # wall and CPU time of the adapter, in the process that read it
    read_cpu_seconds: float = 0.0


@dataclass
class IngestSummary:
    files: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)


def discover(inbox: Path) -> list[Path]:
    """Every regular, non-hidden file under the inbox, in a stable order."""
    return sorted(
        p for p in inbox.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(inbox).parts)
    )


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def delivery_id(rel_path: str, sha: str) -> str:
    return hashlib.sha256(f"{rel_path}\n{sha}".encode()).hexdigest()[:16]


class Batch:
    """Rows on their way to staging and meta, inserted a batch at a time: one insert per file
    costs more than the reading when a municipality delivers a small file a month for years."""

    META_COLUMNS = {
        "delivery": ["delivery_id", "file_hash", "path", "kommun_kod", "system", "kind", "status",
                     "message", "period_start", "period_end", "rows_read", "rows_loaded",
                     "rows_quarantined", "rows_skipped", "loaded_at", "replaced_by",
                     "duplicate_of"],
        "quarantine": ["delivery_id", "path", "kommun_kod", "sheet", "row_number", "reason",
                       "column_name", "message"],
        "unmapped_value": ["delivery_id", "kommun_kod", "system", "field", "value_local", "n"],
        "source_column": ["delivery_id", "kommun_kod", "system", "sheet", "column_name"],
        "unknown_header": ["delivery_id", "kommun_kod", "system", "sheet", "header",
                           "nearest_alias"],
    }

    def __init__(self, con: duckdb.DuckDBPyConnection, max_rows: int = 500_000):
        self.con, self.max_rows = con, max_rows
        # staging rows as Arrow tables (DuckDB scans Arrow fastest, and concatenating them keeps
        # each file's dictionaries), or as pandas frames where Arrow cannot type a column
        self.tables: dict[str, list[pa.Table | pd.DataFrame]] = {}
        self.meta: dict[str, list[tuple]] = {t: [] for t in self.META_COLUMNS}
        self.rows = 0

    def add(self, table: str, rows: pa.Table | pd.DataFrame, **constants: str | None) -> None:
        """A file's rows, with columns that hold one value for the whole file."""
        self.tables.setdefault(table, []).append(_with_constants(rows, constants))
        self.rows += len(rows)
        if self.rows >= self.max_rows:
            self.flush()

    def add_meta(self, table: str, rows: list[tuple]) -> None:
        self.meta[table].extend(rows)

    def flush(self) -> None:
        for table, parts in self.tables.items():
            for group in _same_schema(parts):
                self._insert(f"staging.{table}", group)
        for table, rows in self.meta.items():
            if rows:
                self._insert(f"meta.{table}", pd.DataFrame(rows, columns=self.META_COLUMNS[table]))
        self.tables, self.rows = {}, 0
        self.meta = {t: [] for t in self.META_COLUMNS}

    def _insert(self, table: str, rows: pa.Table | pd.DataFrame) -> None:
        self.con.register("ingest_batch", rows)
        self.con.execute(f"insert into {table} by name select * from ingest_batch")
        self.con.unregister("ingest_batch")


def _with_constants(rows: pa.Table | pd.DataFrame,
                    constants: dict[str, str | None]) -> pa.Table | pd.DataFrame:
    if isinstance(rows, pd.DataFrame):  # a frame Arrow could not type (reading.as_arrow)
        return rows.assign(**constants)
    for name, value in constants.items():
        rows = rows.append_column(name, pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(rows.num_rows, dtype=np.int32)), pa.array([value], pa.string())))
    return rows


def _same_schema(parts: list[pa.Table | pd.DataFrame]) -> Iterator[pa.Table | pd.DataFrame]:
    """Arrow tables concatenated per schema; pandas frames concatenated together."""
    by_schema: dict[pa.Schema, list[pa.Table]] = {}
    frames = []
    for part in parts:
        if isinstance(part, pa.Table):
            by_schema.setdefault(part.schema, []).append(part)
        else:
            frames.append(part)
    for tables in by_schema.values():
        yield pa.concat_tables(tables)
    if frames:
        yield pd.concat(frames, ignore_index=True)


@dataclass
class Known:
    """What earlier runs (and this one) delivered: read once, kept up to date in memory."""

    seen: dict[str, str]  # delivery_id -> status
    loaded_at_path: dict[str, str]  # path -> delivery_id of its live version
    loaded_with_hash: dict[str, tuple[str, str]]  # file hash -> (delivery_id, path)

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> Known:
        rows = con.execute("select delivery_id, status, path, file_hash from meta.delivery").fetchall()
        live = [r for r in rows if r[1] == "LOADED"]
        return cls({r[0]: r[1] for r in rows}, {r[2]: r[0] for r in live},
                   {r[3]: (r[0], r[2]) for r in live})


def ingest(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    configs: ConfigStore,
    pseudo: Pseudonymiser,
    today: date,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
    only_kommun: str | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Files are read by the adapters in `workers` processes (default: one per core) and written
    here, in inbox order, so that the outcome does not depend on how many read them."""
    summary = IngestSummary()
    batch, known = Batch(con), Known.read(con)
    workers = workers or os.cpu_count() or 1
    paths = [path for path in discover(inbox)
             if not only_kommun or path.relative_to(inbox).as_posix().startswith(f"{only_kommun}/")]
    files = _tasks(paths, inbox, workers)
    to_read = [f for f in files if f.needs_reading(known)]
    reads = reading.read_all([f.job() for f in to_read], configs, pseudo, today, workers)
    by_path, read_ids = {f.path: f for f in files}, {f.did for f in to_read}
    with _unordered_inserts(con):
        for path in progress([f.path for f in files]):
            task = by_path[path]
            read = next(reads) if task.did in read_ids else None
            summary.files.append(_ingest_file(con, batch, known, task, read))
        batch.flush()
    return summary


def _tasks(paths: list[Path], inbox: Path, workers: int) -> list[_FileTask]:
    """Every file hashed, in threads: the whole inbox is hashed on every run (a file is known by
    its content), and hashlib and file reads let go of the GIL (national scale, warm page
    cache: 6.5 s -> 5.4 s)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda path: _FileTask.of(path, inbox), paths))


@contextmanager
def _unordered_inserts(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Staging rows need no physical order (core names every tie-break), and DuckDB appends
    them with a third less CPU when it may write them in any order."""
    (before,) = con.execute("select current_setting('preserve_insertion_order')").fetchone()
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"set preserve_insertion_order = {bool(before)}")


def _ingest_file(con, batch, known, task: _FileTask, read: reading.Read | None) -> FileOutcome:
    rel, did = task.rel, task.did
    if did in known.seen:
        return FileOutcome(rel, "UNCHANGED", message=f"already seen ({known.seen[did]})")
    meta = (batch, known, did, task.sha, rel, task.kommun, task.system)
    if task.layout_problem:
        return _record_rejected(*meta, task.layout_problem)
    twin = known.loaded_with_hash.get(task.sha)
    if twin and twin[1] != rel:
        return _record_duplicate(*meta, twin)
    if read.error is not None:
        if read.trace:
            log.error("adapter %s failed on %s:\n%s", task.system, rel, read.trace)
        return _record_rejected(*meta, read.error)
    result = read.result
    if not result.reconciles():
        return _record_rejected(
            *meta,
            f"{rel}: counts do not reconcile (read {result.rows_read} != loaded "
            f"{result.rows_loaded} + quarantined {result.rows_quarantined} + skipped "
            f"{result.rows_skipped}); nothing loaded",
        )
    replaced = _retire_earlier_version(con, known, rel, did)
    _write_result(*meta, result)
    return FileOutcome(
        rel, "LOADED", task.kommun, task.system, "; ".join(result.notes) or None,
        result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped,
        replaced, read.seconds, read.cpu_seconds,
    )


@dataclass
class _FileTask:
    path: Path
    rel: str
    sha: str
    did: str
    kommun: str | None
    system: str | None
    layout_problem: str | None

    @classmethod
    def of(cls, path: Path, inbox: Path) -> _FileTask:
        rel = path.relative_to(inbox).as_posix()
        sha = file_hash(path)
        parts = rel.split("/")
        kommun, system = (parts[0], parts[1]) if len(parts) >= 3 else (None, None)
        return cls(path, rel, sha, delivery_id(rel, sha), kommun, system, _layout_problem(parts))

    def needs_reading(self, known: Known) -> bool:
        """Decided from what was known before the run: a path is met once per run, so a file
        loaded earlier in this run cannot be this one. A duplicate of a file earlier in the run
        is read and then dropped (rare, and it keeps the reading order-free)."""
        return self.did not in known.seen and self.layout_problem is None

    def job(self) -> reading.Job:
        return reading.Job(self.system, SourceFile(path=self.path, rel_path=self.rel,
                                                   kommun_kod=self.kommun, system=self.system))


def _layout_problem(parts: list[str]) -> str | None:
    rel = "/".join(parts)
    if len(parts) < 3:
        return f"{rel}: files belong in <kommunkod>/<system>/<file>"
    if not re.fullmatch(r"\d{4}", parts[0]):
        return f"{rel}: '{parts[0]}' is not a four-digit kommunkod"
    if adapter_for(parts[1]) is None:
        return f"{rel}: no adapter for system folder '{parts[1]}' (procapita, skapa, excel)"
    return None


def _retire_earlier_version(con, known: Known, rel: str, new_id: str) -> str | None:
    """A new file at a known path is a corrected re-delivery: its rows replace the earlier ones.
    The earlier version came in an earlier run (a path is met once per run), so its rows are in
    the database already."""
    old_id = known.loaded_at_path.get(rel)
    if old_id is None:
        return None
    for table in STAGING_TABLES:
        con.execute(f"delete from staging.{table} where delivery_id = ?", [old_id])
    con.execute(
        "update meta.delivery set status = 'REPLACED', replaced_by = ? where delivery_id = ?",
        [new_id, old_id],
    )
    known.seen[old_id] = "REPLACED"
    known.loaded_with_hash = {h: v for h, v in known.loaded_with_hash.items() if v[0] != old_id}
    return old_id


def _write_result(batch, known, did, sha, rel, kommun, system, result: AdapterResult) -> None:
    for table, frame in result.tables.items():
        if table not in STAGING_TABLES:
            raise ValueError(f"adapter {system} returned unknown staging table {table!r}")
        if len(frame):
            batch.add(table, frame, delivery_id=did, kommun_kod=kommun)
    batch.add_meta("quarantine", [
        (did, rel, kommun, q.sheet, q.row_number, str(q.reason), q.column, q.message)
        for q in result.quarantine])
    batch.add_meta("unmapped_value", [
        (did, kommun, system, fld, value, n) for (fld, value), n in result.unmapped.items()])
    batch.add_meta("source_column", [  # what utfall.completeness measures against
        (did, kommun, system, sheet, column)
        for sheet, columns in result.columns_found.items() for column in columns])
    batch.add_meta("unknown_header", [
        (did, kommun, system, sheet, header, nearest)
        for sheet, header, nearest in result.unknown_headers])
    _record(batch, known, did, sha, rel, kommun, system, "LOADED",
            "; ".join(result.notes) or None, kind=result.kind,
            period=(result.period_start, result.period_end),
            counts=(result.rows_read, result.rows_loaded, result.rows_quarantined,
                    result.rows_skipped))
    known.loaded_at_path[rel] = did
    known.loaded_with_hash[sha] = (did, rel)


def _record(batch, known, did, sha, rel, kommun, system, status, message, kind=None,
            period=(None, None), counts=(None,) * 4, duplicate_of=None) -> None:
    batch.add_meta("delivery", [(did, sha, rel, kommun, system, kind, status, message, *period,
                                 *counts, datetime.now(), None, duplicate_of)])
    known.seen[did] = status


def _record_rejected(batch, known, did, sha, rel, kommun, system, message) -> FileOutcome:
    _record(batch, known, did, sha, rel, kommun, system, "REJECTED", message)
    log.warning("rejected %s", message)
    return FileOutcome(rel, "REJECTED", kommun, system, message)


def _record_duplicate(batch, known, did, sha, rel, kommun, system, twin) -> FileOutcome:
    message = f"same content as {twin[1]}: not loaded twice"
    _record(batch, known, did, sha, rel, kommun, system, "DUPLICATE", message, duplicate_of=twin[0])
    return FileOutcome(rel, "DUPLICATE", kommun, system, message)
