"""Inbox -> staging and meta. Decides per file whether it is new, a corrected re-delivery, a
duplicate or already loaded; runs the adapter; writes what it returns. The raw files are the raw
layer: nothing identifying is written to the database before an adapter has pseudonymised it."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

import utfall
from utfall import reading
from utfall.adapters import redact
from utfall.adapters.base import AdapterResult, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser
from utfall.inbox import InboxFile, Problem, Scan, scan

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
    change: str | None = None  # ADDED, CORRECTED, REVERTED, RESTORED, MOVED, REREAD
    moved_from: str | None = None
    batched: bool = False  # read in a batch of its layout (utfall.reading), not alone


@dataclass
class IngestSummary:
    files: list[FileOutcome] = field(default_factory=list)
    withdrawn: list[tuple[str, str]] = field(default_factory=list)  # (path, why) of rows taken out
    problems: list[Problem] = field(default_factory=list)  # what in the inbox cannot be used

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)


def discover(inbox: Path) -> list[Path]:
    """Every usable file of the inbox, in a stable order (utfall.inbox decides what is usable)."""
    return [f.path for f in scan(inbox).files]


def file_state(path: Path) -> tuple[int, int, int]:
    """What tells a file apart from a rewritten one without reading it: size, modification time
    and inode (a hash taken at one state stands for the file while it keeps that state)."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def _unchanged(path: Path, state: tuple[int, int, int]) -> bool:
    try:
        return file_state(path) == state
    except OSError:
        return False  # file_hash meets it again and says so


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# An empty file is no content, so never a duplicate of another: each is read, and rejected as
# empty by its adapter, by name.
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def delivery_id(rel_path: str, sha: str) -> str:
    return hashlib.sha256(f"{rel_path}\n{sha}".encode()).hexdigest()[:16]


class Batch:
    """Rows on their way to staging and meta, inserted a batch at a time: one insert per file
    costs more than the reading when a municipality delivers a small file a month for years."""

    META_COLUMNS = {
        "delivery": ["delivery_id", "file_hash", "path", "kommun_kod", "system", "kind", "status",
                     "message", "period_start", "period_end", "rows_read", "rows_loaded",
                     "rows_quarantined", "rows_skipped", "loaded_at", "replaced_by",
                     "duplicate_of", "load_key", "read_on", "latest_date", "change"],
        "quarantine": ["delivery_id", "path", "kommun_kod", "sheet", "row_number", "reason",
                       "column_name", "message"],
        "unmapped_value": ["delivery_id", "kommun_kod", "system", "field", "value_local", "n"],
        "source_column": ["delivery_id", "kommun_kod", "system", "sheet", "column_name"],
        "unknown_header": ["delivery_id", "kommun_kod", "system", "sheet", "header",
                           "nearest_alias"],
    }

    def __init__(self, con: duckdb.DuckDBPyConnection, max_rows: int = 500_000):
        self.con, self.max_rows = con, max_rows
        # staging rows as Arrow tables with their files' constant columns (DuckDB scans Arrow
        # fastest, and concatenating them keeps each file's dictionaries), or as pandas frames
        # where Arrow cannot type a column
        self.tables: dict[str, list[tuple[pa.Table | pd.DataFrame, dict[str, str | None]]]] = {}
        self.meta: dict[str, list[tuple]] = {t: [] for t in self.META_COLUMNS}
        self.rows = 0

    def add(self, table: str, rows: pa.Table | pd.DataFrame, **constants: str | None) -> None:
        """A file's rows, with columns that hold one value for the whole file (added when the
        batch is written: one column for all its files, not one per file)."""
        self.tables.setdefault(table, []).append((rows, constants))
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


def _with_constants(parts: list[tuple[pa.Table, dict[str, str | None]]]) -> pa.Table:
    """Tables of one schema joined, with each constant as one dictionary column: the value of
    each part's file repeated over its rows."""
    rows = pa.concat_tables([table for table, _ in parts])
    lengths = np.array([table.num_rows for table, _ in parts], dtype=np.int64)
    for name in parts[0][1]:
        values = [constants[name] for _, constants in parts]
        distinct = list(dict.fromkeys(values))
        at = {value: index for index, value in enumerate(distinct)}
        indices = np.repeat(np.array([at[v] for v in values], dtype=np.int32), lengths)
        rows = rows.append_column(name, pa.DictionaryArray.from_arrays(
            pa.array(indices), pa.array(distinct, pa.string())))
    return rows


def _same_schema(parts: list[tuple[pa.Table | pd.DataFrame, dict[str, str | None]]]
                 ) -> Iterator[pa.Table | pd.DataFrame]:
    """Arrow tables concatenated per schema and set of constants; pandas frames (Arrow could
    not type a column: reading.as_arrow) concatenated together."""
    by_schema: dict[tuple, list[tuple[pa.Table, dict]]] = {}
    frames = []
    for rows, constants in parts:
        if isinstance(rows, pa.Table):
            by_schema.setdefault((rows.schema, tuple(constants)), []).append((rows, constants))
        else:
            frames.append(rows.assign(**constants))
    for group in by_schema.values():
        yield _with_constants(group)
    if frames:
        yield pd.concat(frames, ignore_index=True)


# --- what a run does with each file: the plan ----------------------------------------------------
#
# The database must equal a fresh build of the current inbox (README, "What a run does with your
# files"). So every run decides afresh, from the inbox alone, which files are live: the first
# file (in inbox order) with a given content is loaded, later ones with the same content are
# duplicates. Earlier runs only serve as a cache: a live file whose rows are in staging under
# the same load key (content, path, configuration, adapter code, key, year) is not read again.
# Every other loaded delivery leaves: corrected, moved, re-read or withdrawn.

# A run that would withdraw more than this share of the loaded files (and more than
# WITHDRAW_FREE of them) stops unless asked: an unmounted share or a wrong --inbox must not
# empty the database (rsync's --max-delete).
WITHDRAW_MAX_SHARE = 0.10
WITHDRAW_FREE = 2


class TooManyWithdrawals(RuntimeError):
    """The run would withdraw more than a small share of what is loaded."""


@dataclass
class _Existing:
    """A delivery as earlier runs left it in meta.delivery."""

    did: str
    status: str
    path: str
    sha: str
    load_key: str | None
    read_on: date | None
    latest_date: date | None

    def cache_holds(self, load_key: str, today: date) -> bool:
        """Its rows are what reading it today would give: same load key, and no date in it that
        was, or is no longer, after the run date (DATE_FUTURE depends on the run date)."""
        if self.status != "LOADED" or self.load_key != load_key:
            return False
        return self.latest_date is None or (
            self.read_on is not None and self.latest_date <= min(self.read_on, today))


def _existing(con: duckdb.DuckDBPyConnection) -> dict[str, _Existing]:
    rows = con.execute("select delivery_id, status, path, file_hash, load_key, read_on, "
                       "latest_date from meta.delivery").fetchall()
    return {r[0]: _Existing(*r) for r in rows}


@dataclass
class _Plan:
    keep: set[str]  # live deliveries whose rows stay as they are
    read: list[_FileTask]  # files to read (new, changed, or their cache no longer holds)
    duplicate_of: dict[str, _FileTask]  # did -> the file with the same content that is loaded
    change: dict[str, tuple[str, str | None]]  # did read -> (ADDED, ..., the path it came from)
    leave: dict[str, tuple[str, str | None, str]]  # old did -> (status, replaced_by, message)
    withdrawn: list[str]  # paths gone from the inbox whose content is nowhere else

    @property
    def replaced_by_new(self) -> dict[str, str]:
        """new did -> the did of the earlier version it replaces."""
        return {new: old for old, (status, new, _) in self.leave.items() if status == "REPLACED"}


def plan(tasks: list[_FileTask], existing: dict[str, _Existing], load_keys: dict[str, str],
         today: date) -> _Plan:
    live = {did: e for did, e in existing.items() if e.status == "LOADED"}
    winners: dict[str, _FileTask] = {}
    for task in tasks:
        if task.sha != EMPTY_SHA:
            winners.setdefault(task.sha, task)
    keep, read, duplicate_of = set(), [], {}
    for task in tasks:
        if task.sha != EMPTY_SHA and winners[task.sha] is not task:
            duplicate_of[task.did] = winners[task.sha]
        elif task.did in live and live[task.did].cache_holds(load_keys[task.did], today):
            keep.add(task.did)
        else:
            read.append(task)
    live_paths = {e.path for e in live.values()}
    live_by_sha = {e.sha: e.path for e in live.values()}
    change = {task.did: _change(task, existing, live_paths, live_by_sha) for task in read}
    leave, withdrawn = _leaving(tasks, live, keep, winners)
    return _Plan(keep, read, duplicate_of, change, leave, withdrawn)


def _change(task: _FileTask, existing: dict[str, _Existing], live_paths: set[str],
            live_by_sha: dict[str, str]) -> tuple[str, str | None]:
    before = existing.get(task.did)
    if before is not None and before.status == "LOADED":
        return "REREAD", None
    if before is not None and before.status in ("REPLACED", "WITHDRAWN"):
        return ("REVERTED" if before.status == "REPLACED" else "RESTORED"), None
    if task.rel in live_paths:
        return "CORRECTED", None
    moved_from = live_by_sha.get(task.sha)
    return ("MOVED", moved_from) if moved_from else ("ADDED", None)


def _leaving(tasks, live, keep, winners) -> tuple[dict[str, tuple[str, str | None, str]], list[str]]:
    """Every loaded delivery that is not kept, with the status its history row gets."""
    at_path = {task.rel: task for task in tasks}
    leave, withdrawn = {}, []
    for did, before in live.items():
        if did in keep:
            continue
        if before.path in at_path and at_path[before.path].did != did:
            new = at_path[before.path]
            leave[did] = ("REPLACED", new.did, f"replaced by a corrected version of {before.path}")
        elif before.path in at_path:  # the same file, read again or now a duplicate
            leave[did] = ("REREAD", None, "")
        elif before.sha in winners:
            leave[did] = ("WITHDRAWN", None, f"moved to {winners[before.sha].rel}")
        else:
            leave[did] = ("WITHDRAWN", None, f"{before.path} is no longer in the inbox")
            withdrawn.append(before.path)
    return leave, withdrawn


def check_withdrawals(p: _Plan, loaded_before: int, allow: bool) -> None:
    limit = max(WITHDRAW_FREE, int(WITHDRAW_MAX_SHARE * loaded_before))
    if len(p.withdrawn) > limit and not allow:
        shown = ", ".join(p.withdrawn[:3]) + (" …" if len(p.withdrawn) > 3 else "")
        raise TooManyWithdrawals(
            f"{len(p.withdrawn)} of the {loaded_before} loaded files are no longer in the inbox "
            f"({shown}): is --inbox right and the share mounted? Nothing was changed. If they "
            "were removed on purpose, run again with --allow-withdraw to take their rows out.")


# --- the run's one writer -------------------------------------------------------------------------


def ingest(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    configs: ConfigStore,
    pseudo: Pseudonymiser,
    today: date,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
    workers: int | None = None,
    allow_withdraw: bool = False,
    inbox_scan: Scan | None = None,
    batched: bool | None = None,
    hashed: Mapping[Path, tuple[str, tuple[int, int, int]]] | None = None,
) -> IngestSummary:
    """Files are read by the adapters in `workers` processes (default: one per core) and written
    here, in inbox order, so that the outcome does not depend on how many read them, nor on
    whether files of one layout are read as a batch (`batched`; None: batched unless
    UTFALL_INGEST=per-file, see utfall.reading). `hashed`: content hashes the caller took
    (utfall.run's fingerprint), with each file's size, mtime and inode at the time; a file that
    still has them is not hashed again, any other is."""
    summary = IngestSummary()
    batch = Batch(con)
    workers = workers or os.cpu_count() or 1
    _check_installation(con, pseudo)
    found = inbox_scan or scan(inbox, configs.kommuner)
    files = _tasks(found.files, pseudo, workers, hashed or {})
    summary.problems = found.problems
    _record_problems(con, summary.problems)
    existing = _existing(con)
    version = adapter_version()
    fingerprints = _Fingerprints(configs)
    load_keys = {f.did: load_key(f, fingerprints, pseudo, version, today) for f in files}
    the_plan = plan(files, existing, load_keys, today)
    check_withdrawals(the_plan, sum(e.status == "LOADED" for e in existing.values()),
                      allow_withdraw)
    _take_out(con, the_plan, files)
    reads = reading.read_all([f.job() for f in the_plan.read], configs, pseudo, today, workers,
                             batched=batched)
    by_path, read_ids = {f.path: f for f in files}, {f.did for f in the_plan.read}
    with _unordered_inserts(con):
        for path in progress([f.path for f in files]):
            task = by_path[path]
            read = next(reads) if task.did in read_ids else None
            summary.files.append(_ingest_file(batch, the_plan, task, read, load_keys, today))
        batch.flush()
    gone = set(the_plan.withdrawn)
    summary.withdrawn = [(existing[did].path, message) for did, (status, _, message)
                         in the_plan.leave.items()
                         if status == "WITHDRAWN" and existing[did].path in gone]
    return summary


def _tasks(files: list[InboxFile], pseudo: Pseudonymiser, workers: int,
           hashed: Mapping[Path, tuple[str, tuple[int, int, int]]]) -> list[_FileTask]:
    """Every file hashed, in threads: the whole inbox is hashed on every run (a file is known by
    its content), and hashlib and file reads let go of the GIL (national scale, warm page
    cache: 6.5 s -> 5.4 s)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda found: _FileTask.of(found, pseudo, hashed.get(found.path)),
                             files))


def _record_problems(con: duckdb.DuckDBPyConnection, problems: list[Problem]) -> None:
    """What in the inbox could not be used, as of this run: not deliveries, so not in
    meta.delivery; the run summary and the report list them."""
    con.execute("delete from meta.inbox_problem")
    if problems:
        con.executemany("insert into meta.inbox_problem values (?, ?)",
                        [(problem.rel_path, problem.message) for problem in problems])


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



class KeyMismatch(RuntimeError):
    """The database was built with another installation key."""


def _check_installation(con: duckdb.DuckDBPyConnection, pseudo: Pseudonymiser) -> None:
    """The key must be the one the database was built with; new adapter code re-reads every
    file into staging tables created afresh from the contract (their columns may have changed)."""
    row = con.execute("select key_fingerprint, adapter_version from meta.installation").fetchone()
    version = adapter_version()
    if row is None:
        loaded = con.execute("select count(*) from meta.delivery where status = 'LOADED'").fetchone()[0]
        if loaded:  # built before the fingerprint was kept: nothing to compare, re-read all
            _recreate_staging(con)
        con.execute("insert into meta.installation values (?, ?, ?, ?)",
                    [pseudo.fingerprint(), pseudo.label, version, datetime.now()])
        return
    fingerprint, built_with = row
    if fingerprint != pseudo.fingerprint():
        raise KeyMismatch(
            f"this database was built with another installation key (fingerprint {fingerprint}, "
            f"this key's is {pseudo.fingerprint()}). Pseudonyms made with different keys do not "
            "link, so nothing was changed. Run with the key the database was built with, or "
            "build a new database (another --db) with this key.")
    if built_with != version:
        _recreate_staging(con)
        con.execute("update meta.installation set adapter_version = ?", [version])


def _recreate_staging(con: duckdb.DuckDBPyConnection) -> None:
    from utfall.transform import DDL_DIR, recreate_tables

    recreate_tables(con, "staging", DDL_DIR / "20_staging.sql")


@functools.cache
def adapter_version() -> str:
    """A hash of the code and data that turn a file into staging rows: changing any of them
    re-reads every file, so that cached rows never outlive the code that made them."""
    adapters, schemas = utfall.folder("adapters"), utfall.folder("schemas")
    parts = sorted(adapters.glob("*.py")) + [
        adapters / "defaults.yaml", schemas / "codes.py", schemas / "ddl" / "20_staging.sql",
        Path(__file__).resolve().with_name("reading.py")]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.name.encode() + b"\0" + part.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


class _Fingerprints:
    """ConfigStore.fingerprint once per municipality and system of a run, not once per file."""

    def __init__(self, configs: ConfigStore):
        self.configs, self.known = configs, {}

    def fingerprint(self, kommun: str, system: str) -> str:
        if (kommun, system) not in self.known:
            self.known[kommun, system] = self.configs.fingerprint(kommun, system)
        return self.known[kommun, system]


def load_key(task: _FileTask, configs: ConfigStore | _Fingerprints, pseudo: Pseudonymiser,
             version: str, today: date) -> str:
    """Everything that decides a file's rows. The year: 10-digit personnummer take their century
    from the run date."""
    config = configs.fingerprint(task.kommun, task.system)
    text = "\n".join([task.did, config, version, pseudo.fingerprint(), str(today.year)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _meta_tables_by_delivery(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every meta table that holds rows of a delivery, but meta.delivery itself."""
    return [t for (t,) in con.execute(
        "select table_name from duckdb_columns() where schema_name = 'meta' "
        "and column_name = 'delivery_id' and table_name <> 'delivery' order by 1").fetchall()]


def _take_out(con: duckdb.DuckDBPyConnection, p: _Plan, tasks: list[_FileTask]) -> None:
    """The rows of every delivery that leaves, and the meta rows of every file recorded anew this
    run, before anything new is written. Set-based: a code change re-reads every file."""
    rows = [(did, *how) for did, how in p.leave.items()]
    leaving = pa.table({name: pa.array([r[i] for r in rows], pa.string()) for i, name in
                        enumerate(["delivery_id", "status", "replaced_by", "message"])})
    recorded = pa.table({"delivery_id": pa.array(sorted(
        {t.did for t in tasks if t.did not in p.keep} | set(p.leave)), pa.string())})
    con.register("leaving", leaving)
    con.register("recorded", recorded)
    for table in STAGING_TABLES:
        con.execute(f"delete from staging.{table} "
                    "where delivery_id in (select delivery_id from leaving)")
    for table in _meta_tables_by_delivery(con):
        con.execute(f"delete from meta.{table} "
                    "where delivery_id in (select delivery_id from recorded)")
    # history rows stay (REPLACED, WITHDRAWN); a file recorded again gets a new row
    con.execute("delete from meta.delivery where delivery_id in (select delivery_id from recorded) "
                "and delivery_id not in (select delivery_id from leaving where status <> 'REREAD')")
    con.execute("update meta.delivery as d set status = l.status, replaced_by = l.replaced_by, "
                "message = l.message from leaving as l "
                "where d.delivery_id = l.delivery_id and l.status <> 'REREAD'")
    con.unregister("leaving")
    con.unregister("recorded")


def _ingest_file(batch, p: _Plan, task: _FileTask, read: reading.Read | None,
                 load_keys: dict[str, str], today: date) -> FileOutcome:
    rel, did = task.rel, task.did
    if did in p.keep:
        return FileOutcome(rel, "UNCHANGED", task.kommun, task.system, "already loaded")
    meta = (batch, did, task.sha, rel, task.kommun, task.system)
    if did in p.duplicate_of:
        return _record_duplicate(*meta, p.duplicate_of[did])
    if read.error is not None:
        if read.trace:  # the details with -v only: the summary names the file and the failure
            log.info("adapter %s failed on %s:\n%s", task.system, rel, redact.text(read.trace))
        return _record_rejected(*meta, read.error)
    result = read.result
    if not result.reconciles():
        return _record_rejected(
            *meta,
            f"{rel}: counts do not reconcile (read {result.rows_read} != loaded "
            f"{result.rows_loaded} + quarantined {result.rows_quarantined} + skipped "
            f"{result.rows_skipped}); nothing loaded",
        )
    change, moved_from = p.change[did]
    _write_result(*meta, result, (load_keys[did], today, change))
    replaced = p.replaced_by_new.get(did)
    return FileOutcome(
        rel, "LOADED", task.kommun, task.system, "; ".join(result.notes) or None,
        result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped,
        replaced, read.seconds, read.cpu_seconds, change, moved_from, read.batched,
    )


@dataclass
class _FileTask:
    path: Path  # as on disk: only in memory, for reading it
    rel: str  # the path as stored and shown, and the delivery's identity (redact.name)
    sha: str
    did: str
    kommun: str
    system: str

    @classmethod
    def of(cls, found: InboxFile, pseudo: Pseudonymiser,
           hashed: tuple[str, tuple[int, int, int]] | None = None) -> _FileTask:
        """A name with a personnummer in it is stored masked, with a keyed tag that keeps it
        apart from other masked names; names without one stay as they are (and so their
        delivery ids and cached rows)."""
        sha = hashed[0] if hashed and _unchanged(found.path, hashed[1]) else file_hash(found.path)
        rel = redact.name(found.rel_path, pseudo)
        return cls(found.path, rel, sha, delivery_id(rel, sha), found.kommun_kod, found.system)

    def job(self) -> reading.Job:
        return reading.Job(self.system, SourceFile(path=self.path, rel_path=self.rel,
                                                   kommun_kod=self.kommun, system=self.system))


def _write_result(batch, did, sha, rel, kommun, system, result: AdapterResult,
                  cache: tuple[str, date, str]) -> None:
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
    key, today, change = cache
    _record(batch, did, sha, rel, kommun, system, "LOADED",
            "; ".join(result.notes) or None, kind=result.kind,
            period=(result.period_start, result.period_end),
            counts=(result.rows_read, result.rows_loaded, result.rows_quarantined,
                    result.rows_skipped),
            cache=(key, today, result.latest_date, change))


def _record(batch, did, sha, rel, kommun, system, status, message, kind=None,
            period=(None, None), counts=(None,) * 4, duplicate_of=None,
            cache=(None,) * 4) -> None:
    batch.add_meta("delivery", [(did, sha, rel, kommun, system, kind, status, message, *period,
                                 *counts, datetime.now(), None, duplicate_of, *cache)])


def _record_rejected(batch, did, sha, rel, kommun, system, message) -> FileOutcome:
    _record(batch, did, sha, rel, kommun, system, "REJECTED", message)
    log.warning("rejected %s", message)
    return FileOutcome(rel, "REJECTED", kommun, system, message)


def _record_duplicate(batch, did, sha, rel, kommun, system, twin: _FileTask) -> FileOutcome:
    message = f"same content as {twin.rel}: not loaded twice"
    _record(batch, did, sha, rel, kommun, system, "DUPLICATE", message, duplicate_of=twin.did)
    return FileOutcome(rel, "DUPLICATE", kommun, system, message)
