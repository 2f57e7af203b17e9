"""A whole run: ingest, core, marts, report. Atomic: the run holds the database's lock, works on a
copy of it, writes the report from the copy, and replaces the database and the report only when
everything succeeded, so a failure leaves both as they were."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from adapters.config import ConfigStore
from adapters.personnummer import Pseudonymiser
from utfall import files, transform
from utfall.inbox import scan
from utfall.ingest import IngestSummary, ingest
from utfall.lock import writer_lock

log = logging.getLogger(__name__)

VERSION = "0.1.0"
# DuckDB's own memory; it spills to disk beyond it. With the file readers and the quality frames
# a national build stays under 6 GB (BENCHMARKS.md); DuckDB's default would be 80 % of the RAM.
DEFAULT_MEMORY_LIMIT = os.environ.get("UTFALL_MEMORY_LIMIT", "4GB")
# The disclosure audit is solved per cohort family and year; its integer blocks grow faster than
# the table (BENCHMARKS.md, "Disclosure audit"). Above this size the run leaves it to `utfall
# audit` on its own, and says so, rather than hold up the monthly build.
AUDIT_MAX_ROWS = 30_000
AUDIT_COLUMNS = ("audited, published_rows, cells_checked, pinned, safe, seconds, summary_sv, "
                 "content_key")  # meta.disclosure_audit


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
    warnings: list[str]  # about the run's as_of: stated in the summary and the report


def report_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.stem + "-rapport.html")


class RunError(RuntimeError):
    """A run that cannot go on; the message says what happened and what to do. Nothing changed."""


class UsageError(RunError):
    """A parameter the user gave cannot be right (exit status 2)."""


def check_as_of(as_of: date | None, today: date) -> None:
    if as_of is not None and as_of > today:
        raise UsageError(f"--as-of {as_of} is after today ({today}): data cannot be complete up "
                         "to a day that has not come (docs/method.md, \"as_of\")")


def default_as_of(con: duckdb.DuckDBPyConnection, today: date) -> date:
    """metrics.md: the last day of the latest covered FS month, never later than the last day
    of the month before the run date; without coverage, that day. Excel end dates (often
    planned) never move it."""
    cap = today.replace(day=1) - timedelta(days=1)
    (latest,) = con.execute("select last_day(max(month)) from core.fs_coverage").fetchone()
    return min(latest, cap) if latest else cap


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
    allow_withdraw: bool = False,
    wait_seconds: float = 0.0,
    today: date | None = None,
    audit: bool = True,
    allow_empty: bool = False,
) -> RunSummary:
    """`memory_limit` caps DuckDB (it spills to disk beyond it); `workers` read files (default:
    one per core); `allow_withdraw` lets the run take out more files than a small share of what
    is loaded; `wait_seconds` waits for another run that holds the database; `today` is the
    run date (tests); `audit` False leaves the disclosure audit to `utfall audit` (tests);
    `allow_empty` lets a run that publishes nothing replace one that published figures."""
    today = today or date.today()
    check_as_of(as_of, today)
    configs = ConfigStore(config_dir)  # invalid configuration stops the run before any work
    inbox_scan = scan(inbox, configs.kommuner)
    if inbox_scan.fatal:
        raise RunError(f"{inbox_scan.fatal}; nothing was changed")
    if write_report:
        _check_report_place(report_path_for(db_path))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(db_path, wait_seconds):
        files.remove_stale(db_path)
        files.settle(db_path, wait_seconds)
        with files.work_copy(db_path) as work, files.staged(report_path_for(db_path)) as report:
            try:
                published_before = _published(work)
                summary = _build(work, inbox_scan, inbox, pseudo, configs, as_of, min_cell,
                                 progress, memory_limit, workers, allow_withdraw, today, audit)
            except duckdb.Error as exc:
                log.info("DuckDB failed during the build", exc_info=exc)
                raise RunError(files.duckdb_message(exc, work, db_path)) from None
            if not allow_empty:
                _check_not_emptied(published_before, summary, db_path)
            with _timed(summary.seconds, "report"):
                if write_report:
                    _write_report(work, report.tmp, min_cell)
            os.chmod(work, 0o600)
            os.replace(work, db_path)
            # a WAL of the file just replaced is in the copy already; left, DuckDB would
            # replay it into the new file
            files.wal_of(db_path).unlink(missing_ok=True)
            if write_report:
                _commit_report(report, db_path)
    summary.db_path = db_path
    summary.report_path = report_path_for(db_path) if write_report else None
    return summary


def _build(work: Path, inbox_scan, inbox, pseudo, configs, as_of, min_cell, progress,
           memory_limit, workers, allow_withdraw, today, audit) -> RunSummary:
    started = datetime.now()
    seconds: dict[str, float] = {}
    with duckdb.connect(str(work), config={"memory_limit": memory_limit}) as con:
        with _timed(seconds, "ingest"):
            transform.create_schemas(con)
            summary = ingest(con, inbox, configs, pseudo, today, progress, workers=workers,
                             allow_withdraw=allow_withdraw, inbox_scan=inbox_scan)
        _check_something_loaded(con, summary, inbox)
        with _timed(seconds, "core"):
            transform.build_core(con)
        as_of = as_of or default_as_of(con, today)
        with _timed(seconds, "quality"):
            from utfall import quality  # great-expectations is slow to import

            quality.run_checks(con, as_of)
        with _timed(seconds, "marts"):
            transform.build_marts(con, as_of, min_cell)
        warnings = _as_of_warnings(con, as_of)
        con.execute("delete from meta.run_warning")
        for warning, swedish in warnings:
            con.execute("insert into meta.run_warning values (?, ?)", [warning, swedish])
        con.execute(
            "insert into meta.run values (?, ?, ?, ?, ?, ?, ?, ?)",
            [uuid.uuid4().hex[:12], started, datetime.now(), as_of, pseudo.label,
             str(inbox), VERSION, min_cell],
        )
        with _timed(seconds, "audit"):
            audit_safe, audit_summary = _audit(con, min_cell, audit)
        kpi_rows, suppressed = con.execute(
            "select count(*), count(*) filter (where suppressed) from marts.kpi_published"
        ).fetchone()
        con.execute("checkpoint")
    return RunSummary(summary, as_of, work, None, kpi_rows, suppressed, pseudo.label,
                      audit_safe, audit_summary, seconds, [english for english, _ in warnings])


def _check_report_place(report: Path) -> None:
    if report.is_dir():
        raise RunError(f"the report's place {report} is a folder: move it away and run again; "
                       "nothing was changed")


def _commit_report(report: files.Staged, db_path: Path) -> None:
    try:
        report.commit()
    except OSError as exc:
        raise RunError(f"the database {db_path} was updated, but the report could not be "
                       f"written to {report.final} ({exc.strerror or exc}): the report there "
                       "is from an earlier run") from None


def _published(db_file: Path) -> int:
    """Published (not suppressed) rows of the database a run would replace; 0 for none yet."""
    if not db_file.exists():
        return 0
    with duckdb.connect(str(db_file), read_only=True) as con:
        try:
            return con.execute("select count(*) from marts.kpi_published "
                               "where not suppressed").fetchone()[0]
        except duckdb.CatalogException:
            return 0


def _check_not_emptied(before: int, summary: RunSummary, db_path: Path) -> None:
    """A run that would publish nothing where the database published figures is a mistake (a
    typo in --as-of, a wrong inbox) until the user says otherwise: the database and the report
    must not be replaced by empty ones."""
    now = summary.kpi_rows - summary.kpi_suppressed
    if before and not now:
        raise RunError(f"this run would publish no figures (as of {summary.as_of}) where {db_path} "
                       f"publishes {before} rows: nothing was replaced; check --as-of and --inbox, "
                       "or run again with --allow-empty if an empty report is what you want")


def _check_something_loaded(con, summary: IngestSummary, inbox: Path) -> None:
    (live,) = con.execute("select count(*) from meta.delivery where status = 'LOADED'").fetchone()
    if live:
        return
    if not summary.files:
        raise RunError(f"the inbox {inbox} holds no files: nothing was changed")
    raise RunError(f"no file of the inbox {inbox} could be loaded ({len(summary.files)} met, "
                   f"{summary.count('REJECTED')} rejected): nothing was changed. "
                   + "; ".join(f.message for f in summary.files if f.message)[:600])


def _as_of_warnings(con: duckdb.DuckDBPyConnection, as_of: date) -> list[tuple[str, str]]:
    """An as_of the user chose may leave the figures empty or immature: run, but say it, in
    English for the summary and in Swedish for the report."""
    (started,) = con.execute("select count(*) from core.insats_episode where start_date <= ?",
                             [as_of]).fetchone()
    if not started:
        return [(f"as_of {as_of} is before every insats in the data: no figures",
                 f"Datum för data ({as_of}) ligger före alla insatser: inga nyckeltal.")]
    (mature,) = con.execute("select count(*) from marts.participation_spell "
                            "where mature_3m").fetchone()
    if not mature:
        return [(f"as_of {as_of} leaves every horizon immature: no spell ended 3 months or more "
                 "before it, so there are no follow-up figures",
                 f"Med data till och med {as_of} har inga deltagarperioder hunnit avslutas tre "
                 "månader före: inga uppföljningstal.")]
    return []


def _audit(con: duckdb.DuckDBPyConnection, min_cell: int,
           enabled: bool) -> tuple[bool | None, str]:
    """Audit the published table as an intruder would (marts.audit) into meta.disclosure_audit.
    The work copy still holds the audit of the database it replaces: when that audit is of the
    same published table (marts.audit_engine.content_key), it stands and nothing is solved."""
    rows = con.execute("select count(*) from marts.kpi_published").fetchone()[0]
    con.execute("alter table meta.disclosure_audit add column if not exists content_key varchar")
    if rows > AUDIT_MAX_ROWS or not enabled:
        text = (f"Granskningen av den publicerade tabellen ({rows} rader) görs inte i körningen; "
                "kör utfall audit innan tabellen lämnas ut.")
        con.execute("delete from meta.disclosure_audit")
        con.execute(f"insert into meta.disclosure_audit ({AUDIT_COLUMNS}) values "
                    "(false, ?, null, null, null, null, ?, null)", [rows, text])
        return None, text
    from marts.audit import NOISE, audit  # scipy is slow to import
    from marts.audit_engine import content_key

    key = content_key(con, min_cell, NOISE)
    same = con.execute("select safe, summary_sv from meta.disclosure_audit where audited "
                       "and content_key = ?", [key]).fetchall()
    if len(same) == 1:
        return same[0][0], same[0][1]
    result = audit(con, min_cell, noise=NOISE, with_truth=False)
    con.execute("delete from meta.disclosure_audit")
    con.execute(f"insert into meta.disclosure_audit ({AUDIT_COLUMNS}) values "
                "(true, ?, ?, ?, ?, ?, ?, ?)",
                [rows, result.cells_checked, result.pinned, result.safe, result.seconds,
                 result.summary_sv(), key])
    return result.safe, result.summary_sv()


@contextmanager
def _timed(into: dict[str, float], stage: str):
    t0 = time.perf_counter()
    yield
    into[stage] = time.perf_counter() - t0


def _write_report(db_file: Path, out: Path, min_cell: int) -> Path:
    from utfall.report import write_report  # plotly is slow to import; only when needed

    with duckdb.connect(str(db_file), read_only=True) as con:
        write_report(con, out, min_cell=min_cell)
    os.chmod(out, 0o600)
    return out
