"""A whole run: ingest, core, marts, report. Atomic: the run works on a copy of the database and
replaces the original only when everything succeeded, so a failure leaves it as it was."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from adapters.config import ConfigStore
from adapters.personnummer import Pseudonymiser
from utfall import transform
from utfall.ingest import IngestSummary, ingest

VERSION = "0.1.0"
# DuckDB's own memory; it spills to disk beyond it. With the file readers and the quality frames
# a national build stays under 6 GB (BENCHMARKS.md); DuckDB's default would be 80 % of the RAM.
DEFAULT_MEMORY_LIMIT = os.environ.get("UTFALL_MEMORY_LIMIT", "4GB")
# The disclosure audit solves linear programmes per cohort and year and grows faster than the
# table: about 20 s for the sample's 12,000 published rows, 33 s for 25,600, 429 s for 63,000.
# Larger tables are audited by `utfall audit` on its own, which the run then says.
AUDIT_MAX_ROWS = 30_000


@dataclass
class RunSummary:
    ingest: IngestSummary
    as_of: date | None
    db_path: Path
    report_path: Path | None
    kpi_rows: int
    kpi_suppressed: int
    key_label: str
    audit_safe: bool | None  # None: not audited in the run
    audit_summary: str
    seconds: dict[str, float]  # wall time per stage: ingest, core, quality, marts, report


def report_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.stem + "-rapport.html")


def run(
    inbox: Path,
    db_path: Path,
    pseudo: Pseudonymiser,
    config_dir: Path | None,
    as_of: date | None = None,
    min_cell: int = transform.DEFAULT_MIN_CELL,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
    write_report: bool = True,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    workers: int | None = None,
) -> RunSummary:
    """`memory_limit` caps DuckDB (it spills to disk beyond it); `workers` read files (default:
    one per core)."""
    if not inbox.is_dir():
        raise FileNotFoundError(f"inbox {inbox} is not a directory")
    configs = ConfigStore(config_dir)  # invalid configuration stops the run before any work
    db_path.parent.mkdir(parents=True, exist_ok=True)
    work = db_path.with_name(f".{db_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    if db_path.exists():
        shutil.copy2(db_path, work)
    started = datetime.now()
    seconds: dict[str, float] = {}
    try:
        with duckdb.connect(str(work), config={"memory_limit": memory_limit}) as con:
            with _timed(seconds, "ingest"):
                transform.create_schemas(con)
                summary = ingest(con, inbox, configs, pseudo, date.today(), progress,
                                 workers=workers)
            with _timed(seconds, "core"):
                transform.build_core(con)
            as_of = as_of or transform.latest_covered_day(con) or date.today()
            with _timed(seconds, "quality"):
                from utfall import quality  # great-expectations is slow to import

                quality.run_checks(con, as_of)
            with _timed(seconds, "marts"):
                transform.build_marts(con, as_of, min_cell)
            con.execute(
                "insert into meta.run values (?, ?, ?, ?, ?, ?, ?, ?)",
                [uuid.uuid4().hex[:12], started, datetime.now(), as_of, pseudo.label,
                 str(inbox), VERSION, min_cell],
            )
            with _timed(seconds, "audit"):
                audit_safe, audit_summary = _audit(con, min_cell)
            kpi_rows, suppressed = con.execute(
                "select count(*), count(*) filter (where suppressed) from marts.kpi_published"
            ).fetchone()
            con.execute("checkpoint")
        os.chmod(work, 0o600)
        os.replace(work, db_path)
    finally:
        work.unlink(missing_ok=True)
        work.with_name(work.name + ".wal").unlink(missing_ok=True)
    with _timed(seconds, "report"):
        report = _write_report(db_path, min_cell) if write_report else None
    return RunSummary(summary, as_of, db_path, report, kpi_rows, suppressed, pseudo.label,
                      audit_safe, audit_summary, seconds)


def _audit(con: duckdb.DuckDBPyConnection, min_cell: int) -> tuple[bool | None, str]:
    """Audit the published table as an intruder would (utfall.audit) into meta.disclosure_audit."""
    rows = con.execute("select count(*) from marts.kpi_published").fetchone()[0]
    con.execute("delete from meta.disclosure_audit")
    if rows > AUDIT_MAX_ROWS:
        text = (f"Granskningen av den publicerade tabellen ({rows} rader) görs inte i körningen; "
                "kör utfall audit innan tabellen lämnas ut.")
        con.execute("insert into meta.disclosure_audit values (false, ?, null, null, null, null, ?)",
                    [rows, text])
        return None, text
    from utfall.audit import audit  # scipy is slow to import

    result = audit(con, min_cell)
    con.execute("insert into meta.disclosure_audit values (true, ?, ?, ?, ?, ?, ?)",
                [rows, result.cells_checked, result.pinned, result.safe, result.seconds,
                 result.summary_sv()])
    return result.safe, result.summary_sv()


@contextmanager
def _timed(into: dict[str, float], stage: str):
    t0 = time.perf_counter()
    yield
    into[stage] = time.perf_counter() - t0


def _write_report(db_path: Path, min_cell: int) -> Path:
    from utfall.report import write_report  # plotly is slow to import; only when needed

    out = report_path_for(db_path)
    with duckdb.connect(str(db_path), read_only=True) as con:
        write_report(con, out, min_cell=min_cell)
    os.chmod(out, 0o600)
    return out
