"""Inbox -> staging and meta. Decides per file whether it is new, a corrected re-delivery, a
duplicate or already loaded; runs the adapter; writes what it returns. The raw files are the raw
layer: nothing identifying is written to the database before an adapter has pseudonymised it."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from adapters import adapter_for
from adapters.base import AdapterResult, FileRejected, SourceFile
from adapters.config import ConfigStore
from adapters.personnummer import Pseudonymiser

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


def ingest(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    configs: ConfigStore,
    pseudo: Pseudonymiser,
    today: date,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
    only_kommun: str | None = None,
) -> IngestSummary:
    summary = IngestSummary()
    for path in progress(discover(inbox)):
        rel = path.relative_to(inbox).as_posix()
        if only_kommun and not rel.startswith(f"{only_kommun}/"):
            continue
        summary.files.append(_ingest_file(con, inbox, path, rel, configs, pseudo, today))
    return summary


def _ingest_file(con, inbox, path, rel, configs, pseudo, today) -> FileOutcome:
    sha = file_hash(path)
    did = delivery_id(rel, sha)
    known = con.execute(
        "select status from meta.delivery where delivery_id = ?", [did]
    ).fetchone()
    if known:
        return FileOutcome(rel, "UNCHANGED", message=f"already seen ({known[0]})")
    parts = rel.split("/")
    kommun, system = (parts[0], parts[1]) if len(parts) >= 3 else (None, None)
    layout_problem = _layout_problem(parts)
    if layout_problem:
        return _record_rejected(con, did, sha, rel, kommun, system, layout_problem)
    twin = con.execute(
        "select delivery_id, path from meta.delivery where file_hash = ? and status = 'LOADED' "
        "and path <> ?", [sha, rel]
    ).fetchone()
    if twin:
        return _record_duplicate(con, did, sha, rel, kommun, system, twin)
    source = SourceFile(path=path, rel_path=rel, kommun_kod=kommun, system=system)
    try:
        result = adapter_for(system).read(source, configs.for_system(kommun, system), pseudo, today)
    except FileRejected as exc:
        return _record_rejected(con, did, sha, rel, kommun, system, str(exc))
    except Exception as exc:
        log.exception("adapter %s failed on %s", system, rel)
        return _record_rejected(
            con, did, sha, rel, kommun, system,
            f"{rel}: the file could not be read ({type(exc).__name__}); see the log",
        )
    if not result.reconciles():
        return _record_rejected(
            con, did, sha, rel, kommun, system,
            f"{rel}: counts do not reconcile (read {result.rows_read} != loaded "
            f"{result.rows_loaded} + quarantined {result.rows_quarantined} + skipped "
            f"{result.rows_skipped}); nothing loaded",
        )
    replaced = _retire_earlier_version(con, rel, did)
    _write_result(con, did, sha, rel, kommun, system, result)
    return FileOutcome(
        rel, "LOADED", kommun, system, "; ".join(result.notes) or None,
        result.rows_read, result.rows_loaded, result.rows_quarantined, result.rows_skipped,
        replaced,
    )


def _layout_problem(parts: list[str]) -> str | None:
    rel = "/".join(parts)
    if len(parts) < 3:
        return f"{rel}: files belong in <kommunkod>/<system>/<file>"
    if not re.fullmatch(r"\d{4}", parts[0]):
        return f"{rel}: '{parts[0]}' is not a four-digit kommunkod"
    if adapter_for(parts[1]) is None:
        return f"{rel}: no adapter for system folder '{parts[1]}' (procapita, skapa, excel)"
    return None


def _retire_earlier_version(con, rel: str, new_id: str) -> str | None:
    """A new file at a known path is a corrected re-delivery: its rows replace the earlier ones."""
    old = con.execute(
        "select delivery_id from meta.delivery where path = ? and status = 'LOADED'", [rel]
    ).fetchone()
    if not old:
        return None
    old_id = old[0]
    for table in STAGING_TABLES:
        con.execute(f"delete from staging.{table} where delivery_id = ?", [old_id])
    con.execute(
        "update meta.delivery set status = 'REPLACED', replaced_by = ? where delivery_id = ?",
        [new_id, old_id],
    )
    return old_id


def _write_result(con, did, sha, rel, kommun, system, result: AdapterResult) -> None:
    for table, frame in result.tables.items():
        if table not in STAGING_TABLES:
            raise ValueError(f"adapter {system} returned unknown staging table {table!r}")
        if frame.empty:
            continue
        frame = frame.assign(delivery_id=did, kommun_kod=kommun)
        con.register("adapter_frame", frame)
        con.execute(f"insert into staging.{table} by name select * from adapter_frame")
        con.unregister("adapter_frame")
    _write_quarantine(con, did, rel, kommun, result)
    _write_unmapped(con, did, kommun, system, result)
    con.execute(
        "insert into meta.delivery values (?, ?, ?, ?, ?, ?, 'LOADED', ?, ?, ?, ?, ?, ?, ?, ?, null, null)",
        [did, sha, rel, kommun, system, result.kind, "; ".join(result.notes) or None,
         result.period_start, result.period_end, result.rows_read, result.rows_loaded,
         result.rows_quarantined, result.rows_skipped, datetime.now()],
    )


def _write_quarantine(con, did, rel, kommun, result: AdapterResult) -> None:
    if not result.quarantine:
        return
    frame = pd.DataFrame(
        [(did, rel, kommun, q.sheet, q.row_number, str(q.reason), q.column, q.message)
         for q in result.quarantine],
        columns=["delivery_id", "path", "kommun_kod", "sheet", "row_number", "reason",
                 "column_name", "message"],
    )
    con.register("quarantine_frame", frame)
    con.execute("insert into meta.quarantine by name select * from quarantine_frame")
    con.unregister("quarantine_frame")


def _write_unmapped(con, did, kommun, system, result: AdapterResult) -> None:
    rows = [(did, kommun, system, fld, value, n) for (fld, value), n in result.unmapped.items()]
    if rows:
        con.executemany("insert into meta.unmapped_value values (?, ?, ?, ?, ?, ?)", rows)


def _record_rejected(con, did, sha, rel, kommun, system, message) -> FileOutcome:
    con.execute(
        "insert into meta.delivery (delivery_id, file_hash, path, kommun_kod, system, status, "
        "message, loaded_at) values (?, ?, ?, ?, ?, 'REJECTED', ?, ?)",
        [did, sha, rel, kommun, system, message, datetime.now()],
    )
    log.warning("rejected %s", message)
    return FileOutcome(rel, "REJECTED", kommun, system, message)


def _record_duplicate(con, did, sha, rel, kommun, system, twin) -> FileOutcome:
    message = f"same content as {twin[1]}: not loaded twice"
    con.execute(
        "insert into meta.delivery (delivery_id, file_hash, path, kommun_kod, system, status, "
        "message, loaded_at, duplicate_of) values (?, ?, ?, ?, ?, 'DUPLICATE', ?, ?, ?)",
        [did, sha, rel, kommun, system, message, datetime.now(), twin[0]],
    )
    return FileOutcome(rel, "DUPLICATE", kommun, system, message)
