"""A whole run: ingest, core, marts, report. Atomic: the run holds the database's lock, works on a
copy of it, writes the report from the copy, and replaces the database and the report only when
everything succeeded, so a failure leaves both as they were.

A run with nothing to do (issue 24) changes nothing: when the inbox, the configuration, the key,
utfall's code, the effective as_of and the other settings give the fingerprint the latest run
recorded (meta.run_fingerprint), and that run's report is in place, the run says so and ends
under the lock without copying, building or replacing anything."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import metadata
from pathlib import Path

import duckdb

import utfall
from utfall import files, transform
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser
from utfall.inbox import Scan, scan
from utfall.ingest import IngestSummary, file_hash, file_state, ingest
from utfall.lock import writer_lock

log = logging.getLogger(__name__)

VERSION = "0.1.0"
# DuckDB's own memory; it spills to disk beyond it. With the file readers and the quality frames
# a national build stays under 6 GB (BENCHMARKS.md); DuckDB's default would be 80 % of the RAM.
DEFAULT_MEMORY_LIMIT = os.environ.get("UTFALL_MEMORY_LIMIT", "4GB")
# The disclosure audit is solved per cohort family and year, a municipality at a time
# (BENCHMARKS.md, "The disclosure audit"). A county-sized table is audited in every run: 29
# municipalities, 305,752 published rows, about 80 CPU s and 3.3 GB. A national one (2.9 million
# rows: 12 minutes and 15 GB while its model is built in Python) is left to `utfall audit` on its
# own, and the run says so, rather than hold up the monthly build or run the machine out of memory.
AUDIT_MAX_ROWS = 400_000
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
    # set when nothing had changed: when the run that built the database and the report ended
    unchanged_since: datetime | None = None


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
    rebuild: bool = False,
) -> RunSummary:
    """`memory_limit` caps DuckDB (it spills to disk beyond it); `workers` read files (default:
    one per core); `allow_withdraw` lets the run take out more files than a small share of what
    is loaded; `wait_seconds` waits for another run that holds the database; `today` is the
    run date (tests); `audit` False leaves the disclosure audit to `utfall audit` (tests);
    `allow_empty` lets a run that publishes nothing replace one that published figures;
    `rebuild` builds everything even when nothing changed since the latest run."""
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
        t0 = time.perf_counter()
        inputs = _inputs(inbox, inbox_scan, configs, pseudo, min_cell, write_report, audit,
                         today, workers)
        unchanged = None if rebuild else _unchanged(db_path, inputs, as_of, today, write_report,
                                                    pseudo)
        if isinstance(unchanged, RunSummary):
            unchanged.seconds["check"] = time.perf_counter() - t0
            return unchanged
        log.info("a full run: %s", "asked for (--rebuild)" if rebuild else unchanged)
        files.settle(db_path, wait_seconds)
        with files.work_copy(db_path) as work, files.staged_report(report_path_for(db_path)) as report:
            try:
                published_before = _published(work)
                summary = _build(work, inbox_scan, inbox, pseudo, configs, as_of, min_cell,
                                 progress, memory_limit, workers, allow_withdraw, today, audit,
                                 inputs)
            except duckdb.Error as exc:
                log.info("DuckDB failed during the build", exc_info=exc)
                raise RunError(files.duckdb_message(exc, work, db_path)) from None
            if not allow_empty:
                _check_not_emptied(published_before, summary, db_path)
            with _timed(summary.seconds, "report"):
                if write_report:
                    _write_report(work, report, min_cell)
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
           memory_limit, workers, allow_withdraw, today, audit, inputs: _Inputs) -> RunSummary:
    started = datetime.now()
    seconds: dict[str, float] = {}
    with duckdb.connect(str(work), config={"memory_limit": memory_limit}) as con:
        with _timed(seconds, "ingest"):
            transform.create_schemas(con)
            summary = ingest(con, inbox, configs, pseudo, today, progress, workers=workers,
                             allow_withdraw=allow_withdraw, inbox_scan=inbox_scan,
                             hashed=inputs.hashed)
        _check_something_loaded(con, summary, inbox)
        with _timed(seconds, "core"):
            core = transform.build_core(con, inputs.code)
            log.info("core.fs_month: %d municipalities kept, %d computed", len(core.kept),
                     len(core.computed))
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
        run_id = uuid.uuid4().hex[:12]
        con.execute(
            "insert into meta.run values (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, started, datetime.now(), as_of, pseudo.label, str(inbox), VERSION,
             min_cell],
        )
        _keep_fingerprint(con, run_id, inputs, as_of)
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


def _commit_report(report: files.StagedReport, db_path: Path) -> None:
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
    from utfall.marts.audit import NOISE, audit  # scipy is slow to import
    from utfall.marts.audit_engine import content_key

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


def _write_report(db_file: Path, report: files.StagedReport, min_cell: int) -> Path:
    """The report under its staged names: one file, or above utfall.report's threshold of
    municipalities an overview and a folder of pages beside it (made 0600/0700 by the writer)."""
    from utfall.report import write_report  # plotly is slow to import; only when needed

    with duckdb.connect(str(db_file), read_only=True) as con:
        write_report(con, report.final, min_cell=min_cell, staged=report)
    return report.final


# --- a run with nothing to do (issue 24) ---------------------------------------------------------
#
# The database and the report are a function of the run's inputs (README, "What a run does with
# your files"). Each successful run records them as digests in meta.run_fingerprint, in the same
# file it swaps in, so the row describes exactly the database beside it; a failed run leaves the
# database, the report and so the row of the latest successful run as they were. A later run
# computes the same digests before it copies anything; when they are the latest run's, and
# nothing the digests cannot see has moved (the report, a WAL, dates that were after the run
# date), it ends there.

# Where utfall's code and data are: every file under them decides what a run builds or writes
# (the report's code and templates too: the run vouches for the report as well as the tables).
CODE_FOLDERS = ("adapters", "utfall", "marts", "schemas")
# The libraries that read files, compute figures or render the report, by distribution name: an
# upgrade may change a figure, a parse or a page as much as a change to utfall's own code.
RESULT_LIBRARIES = ("duckdb", "pandas", "numpy", "pyarrow", "great-expectations",
                    "python-calamine", "openpyxl", "odfpy", "pydantic", "pyyaml", "scipy",
                    "highspy", "jinja2", "plotly")
FINGERPRINT_PARTS = ("inbox", "configuration", "code", "settings")  # meta.run_fingerprint


@dataclass
class _Inputs:
    """A run's inputs as digests, all but as_of (the effective one is known only from core)."""

    inbox: str | None  # None: a file could not be hashed, so nothing is compared or recorded
    configuration: str
    code: str
    settings: dict[str, str]
    # each file's content hash and its size, mtime and inode when hashed: ingest takes the hash
    # of a file still as it was instead of hashing the inbox a second time
    hashed: dict[Path, tuple[str, tuple[int, int, int]]]

    def parts(self, as_of: date) -> dict[str, str] | None:
        if self.inbox is None:
            return None
        settings = json.dumps({"as_of": str(as_of), **self.settings}, ensure_ascii=False)
        return {"inbox": self.inbox, "configuration": self.configuration, "code": self.code,
                "settings": settings}


def fingerprint(parts: dict[str, str]) -> str:
    return _sha256("\n".join(f"{name}={parts[name]}" for name in FINGERPRINT_PARTS))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _inputs(inbox: Path, inbox_scan: Scan, configs: ConfigStore, pseudo: Pseudonymiser,
            min_cell: int, write_report: bool, audit: bool, today: date,
            workers: int | None) -> _Inputs:
    """The inbox folder is a setting, as the run records it (meta.run.inbox): the same files in
    another folder build again, so that the database names the inbox its figures came from."""
    files_digest, hashed = _inbox_digest(inbox_scan, workers)
    settings = {"inbox": str(inbox), "key": f"{pseudo.fingerprint()} {pseudo.label}",
                "min_cell": str(min_cell), "report": "yes" if write_report else "no",
                "audit": "yes" if audit else "no", "run_year": str(today.year)}
    return _Inputs(files_digest, configuration_digest(configs), code_digest(), settings, hashed)


def _inbox_digest(inbox_scan: Scan, workers: int | None
                  ) -> tuple[str | None, dict[Path, tuple[str, tuple[int, int, int]]]]:
    """Every usable file by its path inside the inbox and its content (hashed as ingest hashes
    it, in threads), and what in the inbox cannot be used (meta.inbox_problem)."""
    def hashed(found):
        state = file_state(found.path)  # before the bytes: a write while hashing then shows
        return found.rel_path, file_hash(found.path), state

    try:
        with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            done = list(pool.map(hashed, inbox_scan.files))
    except OSError as exc:  # ingest meets it too and says so; the run just records nothing
        log.info("a file of the inbox could not be hashed (%s): no fingerprint", exc.strerror)
        return None, {}
    text = json.dumps([[[rel, sha] for rel, sha, _ in done],
                       [[p.rel_path, p.message] for p in inbox_scan.problems]],
                      ensure_ascii=False)
    return _sha256(text), {found.path: (sha, stat) for found, (_, sha, stat)
                           in zip(inbox_scan.files, done, strict=True)}


def _inbox_still(inputs: _Inputs) -> bool:
    """The files as ingest read them are the files that were hashed: none written or replaced
    since (a delivery copied in during the run), so the fingerprint describes the build."""
    for path, (_, before) in inputs.hashed.items():
        try:
            if file_state(path) != before:
                return False
        except OSError:
            return False
    return True


def configuration_digest(configs: ConfigStore) -> str:
    """The validated configuration, defaults included: what each file says, not how it is
    written (comments and quoting do not count; the order of entries does, as it can decide a
    header's column), and which file says it (a rejection message names it)."""
    parts = [configs.defaults.model_dump(mode="json")]
    parts += [[kod, str(configs.paths[kod]), configs.kommuner[kod].model_dump(mode="json")]
              for kod in sorted(configs.kommuner)]
    return _sha256(json.dumps(parts, ensure_ascii=False))


@functools.cache
def code_digest() -> str:
    """utfall's code and data, and the versions of Python and the libraries that decide results;
    once per process."""
    digest = hashlib.sha256()
    for name in CODE_FOLDERS:
        top = Path(__file__).resolve().parent if name == "utfall" else utfall.folder(name)
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(top)
            if (not path.is_file() or path.suffix == ".pyc"
                    or (name == "utfall" and rel.parts[0] in utfall.PACKAGES)  # installed inside
                    or any(part.startswith(".") or part == "__pycache__" for part in rel.parts)):
                continue
            data = path.read_bytes()
            digest.update(f"{name}/{rel.as_posix()}\0{len(data)}\0".encode() + data)
    digest.update(f"python {sys.version}\0".encode())
    for name in RESULT_LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name} {version}\0".encode())
    return digest.hexdigest()


def _keep_fingerprint(con: duckdb.DuckDBPyConnection, run_id: str, inputs: _Inputs,
                      as_of: date) -> None:
    """Record what this run was built from, unless a file changed while it ran (then the next
    run builds again)."""
    parts = inputs.parts(as_of)
    if parts is None:
        return
    if not _inbox_still(inputs):
        log.info("a file of the inbox changed during the run: no fingerprint kept, so the next "
                 "run builds again")
        return
    con.execute("insert into meta.run_fingerprint (run_id, fingerprint, inbox, configuration, "
                "code, settings) values (?, ?, ?, ?, ?, ?)",
                [run_id, fingerprint(parts), *(parts[name] for name in FINGERPRINT_PARTS)])


def _unchanged(db_path: Path, inputs: _Inputs, as_of: date | None, today: date,
               write_report: bool, pseudo: Pseudonymiser) -> RunSummary | str:
    """The latest run's summary, from the database, when this run would build what it built;
    else why not, in words (logged with -v). Reads the database only, and read-only: the file's
    bytes and time stay as they are."""
    if inputs.inbox is None:
        return "a file of the inbox could not be hashed"
    if not db_path.is_file():
        return f"there is no database at {db_path} yet"
    if files.wal_of(db_path).exists():
        return "another program wrote to the database (its WAL is beside it)"
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            return _compare(con, db_path, inputs, as_of, today, write_report, pseudo)
    except duckdb.Error as exc:  # not utfall's, held for writing...: the full run says what
        return f"the database could not be read ({str(exc).strip().splitlines()[0][:200]})"


def _compare(con: duckdb.DuckDBPyConnection, db_path: Path, inputs: _Inputs,
             as_of: date | None, today: date, write_report: bool,
             pseudo: Pseudonymiser) -> RunSummary | str:
    try:
        latest = con.execute(
            "select r.run_id, r.started_at, r.finished_at, f.fingerprint, "
            + ", ".join(f"f.{name}" for name in FINGERPRINT_PARTS)
            + " from meta.run r left join meta.run_fingerprint f using (run_id) "
            "order by r.finished_at desc nulls last limit 1").fetchone()
    except duckdb.CatalogException:
        return "the database is from before runs recorded their fingerprint"
    if latest is None:
        return "the database records no run"
    _, started, finished, recorded, *before = latest
    if recorded is None:
        return "the latest run of the database recorded no fingerprint"
    effective = as_of or default_as_of(con, today)
    now = inputs.parts(effective)
    if fingerprint(now) != recorded:
        return _what_changed(dict(zip(FINGERPRINT_PARTS, before, strict=True)), now)
    (later,) = con.execute(  # as ingest's cache: a date after the run date decides rows
        "select count(*) from meta.delivery where status = 'LOADED' and not "
        "(latest_date is null or (read_on is not null and latest_date <= least(read_on, ?)))",
        [today]).fetchone()
    if later:
        return (f"{later} loaded file(s) hold dates after the day they were read or after "
                f"{today}: they are read again")
    report = report_path_for(db_path)
    if write_report:
        try:
            written = datetime.fromtimestamp(report.stat().st_mtime)
        except OSError:
            return f"the report {report} is missing"
        if written < started:
            return f"the report {report} is older than the run that built the database"
        from utfall.report import is_split  # 0.1 s of imports, here only when comparing

        pages = files.report_folder(report) / files.REPORT_FOLDER_MARK
        if is_split(con) and not _written_since(pages, started):
            return f"the report's pages {pages.parent} are missing or older than the run"
    return _summary_of(con, db_path, report if write_report else None, effective, pseudo,
                       finished)


def _written_since(path: Path, started: datetime) -> bool:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime) >= started
    except OSError:
        return False


def _what_changed(before: dict[str, str], now: dict[str, str]) -> str:
    changed = [name for name in FINGERPRINT_PARTS if before[name] != now[name]]
    words = {"inbox": "the inbox", "configuration": "the configuration",
             "code": "utfall's code or libraries"}
    said = [words[name] for name in changed if name in words]
    if "settings" in changed:
        old, new = (json.loads(parts["settings"]) for parts in (before, now))
        said += [f"{name} {value} (was {old.get(name)})" for name, value in new.items()
                 if old.get(name) != value]
    return "changed since the latest run: " + "; ".join(said)


def _summary_of(con: duckdb.DuckDBPyConnection, db_path: Path, report: Path | None,
                as_of: date, pseudo: Pseudonymiser, finished: datetime) -> RunSummary:
    kpi_rows, suppressed = con.execute(
        "select count(*), count(*) filter (where suppressed) from marts.kpi_published"
    ).fetchone()
    audited = con.execute("select audited, safe, summary_sv from meta.disclosure_audit"
                          ).fetchone()
    audit_safe, audit_summary = (audited[1] if audited[0] else None, audited[2]) if audited \
        else (None, "")
    warnings = [w for (w,) in con.execute("select message from meta.run_warning").fetchall()]
    return RunSummary(IngestSummary(), as_of, db_path, report, kpi_rows, suppressed,
                      pseudo.label, audit_safe, audit_summary, {}, warnings,
                      unchanged_since=finished)
