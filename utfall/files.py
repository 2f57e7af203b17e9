"""The database and report files of a run: a private work copy, a report written beside its
final place, stale leftovers of killed runs removed, and a database another program holds
refused. Every message names the user's file, never a hidden temporary one."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


class FileProblem(RuntimeError):
    """A database or report file the run cannot use; the message says what to do."""


def _prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale(db_path: Path) -> None:
    """Work copies, their WAL and spill folders, and half-written reports left by a run that was
    killed. Called under the lock, so no other run can be using them."""
    for final in (db_path, _report_of(db_path)):
        for leftover in final.parent.glob(_prefix(final) + "*.tmp*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def _report_of(db_path: Path) -> Path:
    return db_path.with_name(db_path.stem + "-rapport.html")


def settle(db_path: Path, wait_seconds: float = 0.0) -> None:
    """`settle_once`, retried for up to `wait_seconds` while another program writes it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return settle_once(db_path)
        except _HeldForWriting:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


class _HeldForWriting(FileProblem):
    """Another program has the database open for writing."""


def settle_once(db_path: Path) -> None:
    """The existing database must be utfall's, readable, and held by no other writer; a WAL
    another program left is replayed into it first, or the copy would miss those writes. A
    program that only reads it (a researcher's notebook) does not stop the run: the run works
    on a copy and swaps it in, and the reader keeps the file it opened until it reconnects."""
    if not db_path.exists():
        return
    if not db_path.is_file():
        raise FileProblem(f"--db {db_path} is not a file")
    with db_path.open("rb") as fh:
        head = fh.read(12)
    if head and head[8:12] != DUCKDB_MAGIC:
        raise FileProblem(f"--db {db_path} is not a DuckDB database: refusing to overwrite it; "
                          "choose another --db")
    try:
        with duckdb.connect(str(db_path)) as con:
            _check_utfalls(con, db_path)
            con.execute("checkpoint")
        return
    except duckdb.Error as exc:
        if not _lock_conflict(exc):
            raise _cannot_open(exc, db_path) from None
        held = exc
    try:  # DuckDB lets readers share the file: a reader holds it when this works
        with duckdb.connect(str(db_path), read_only=True) as con:
            _check_utfalls(con, db_path)
    except duckdb.Error:
        raise _cannot_open(held, db_path) from None


def _check_utfalls(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    tables = {t for (t,) in con.execute(
        "select schema_name || '.' || table_name from duckdb_tables()").fetchall()}
    if tables and "meta.delivery" not in tables:
        raise FileProblem(f"--db {db_path} is a DuckDB database that utfall did not "
                          "build: refusing to change it; choose another --db")


def _lock_conflict(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def wal_of(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wal")


def _cannot_open(exc: duckdb.Error, db_path: Path) -> FileProblem:
    """Why DuckDB would not open the user's database, in one line."""
    if _lock_conflict(exc):
        return _HeldForWriting(f"{db_path} is open for writing by another program ({_holder(exc)}): "
                           "close that connection (a notebook?) and try again, or wait for it "
                           "with --wait SECONDS")
    return FileProblem(f"{db_path} cannot be opened as a database: {_first_line(exc)}")


def _holder(exc: Exception) -> str:
    text = str(exc)
    return text[text.find("PID"):].split(")")[0] if "PID" in text else "another process"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


@contextmanager
def work_copy(db_path: Path) -> Iterator[Path]:
    """A private (0600) copy of the database beside it, removed on every way out."""
    work = db_path.with_name(f"{_prefix(db_path)}{uuid.uuid4().hex[:8]}.tmp")
    umask = os.umask(0o077)  # what DuckDB creates beside it (a new file, its WAL) is private too
    try:
        if db_path.exists():
            _copy_private(db_path, work)
            if wal_of(db_path).exists():  # left while a reader held the file: replayed in the copy
                _copy_private(wal_of(db_path), wal_of(work))
        yield work
    except OSError as exc:
        raise FileProblem(_os_message(exc, db_path)) from None
    finally:
        os.umask(umask)
        for leftover in (work, work.with_name(work.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(work.with_name(work.name + ".tmp"), ignore_errors=True)


def _copy_private(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out, 1 << 24)


@dataclass
class Staged:
    final: Path
    tmp: Path

    def commit(self) -> None:
        os.replace(self.tmp, self.final)


@contextmanager
def staged(final: Path) -> Iterator[Staged]:
    """A file written beside its final place and moved there by `commit`."""
    tmp = final.with_name(f"{_prefix(final)}{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield Staged(final, tmp)
    except OSError as exc:
        raise FileProblem(_os_message(exc, final)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _os_message(exc: OSError, user_file: Path) -> str:
    """What went wrong with the disk, in terms of the user's file."""
    import errno

    where = user_file.parent
    if exc.errno == errno.ENOSPC:
        return f"the disk holding {where} is full: free space and run again (nothing was changed)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write in {where} (permission denied or read-only): nothing was changed"
    return f"{user_file}: {exc.strerror or exc} (nothing was changed)"


def open_read_only(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A reader's connection (unmapped, export, audit, notebooks): never a write, and a one-line
    answer when the file is not a database or another program holds it for writing."""
    if not db_path.is_file():
        raise FileProblem(f"{db_path} does not exist: build it first with utfall run")
    try:
        return duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as exc:
        raise _cannot_open(exc, db_path) from None


def duckdb_message(exc: Exception, work: Path, db_path: Path) -> str:
    """A DuckDB failure during a build, in terms of the user's database, not its hidden copy."""
    text = _first_line(exc).replace(str(work), str(db_path))
    if "no space left" in text.lower():
        return (f"the disk holding {db_path.parent} is full: free space and run again "
                "(nothing was changed)")
    return f"building {db_path} failed in DuckDB ({text}); nothing was changed"


# ---------------------------------------------------------------------------------------------
# A report with a folder of pages beside it (issue 24): a national report is an overview file
# plus `<name>/` (the file's name less .html) holding a page per municipality and per KPI. Both
# are written beside their final places and moved there together by `commit`; a report small
# enough for one file removes the folder an earlier, larger report left.

# Written into every folder of pages: says what the folder is, and marks it as utfall's (a
# folder without it is never replaced or removed).
REPORT_FOLDER_MARK = "las-mig.txt"
# renameat2(2)'s flag: swap two paths in one step (Linux 3.15+, most local file systems)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def report_folder(final: Path) -> Path:
    """Where the pages of the report `final` go: beside it, named as it less its suffix
    (utfall-rapport.html -> utfall-rapport/)."""
    return final.with_suffix("") if final.suffix else final.with_name(final.name + "-sidor")


@dataclass
class StagedReport:
    """The report file and its folder of pages, written to `tmp` and `folder_tmp` (hidden names
    that `remove_stale` clears after a killed run) and moved in place by `commit`."""

    final: Path
    tmp: Path
    folder: Path
    folder_tmp: Path

    def check_folder(self) -> None:
        """The folder's place must be free or hold an earlier report's pages: a file or a folder
        of someone else's there is never replaced. Called before the pages are written (and
        so before the run replaces the database)."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            raise FileProblem(f"the report's folder {self.folder} is taken by a file: move it "
                              "away and run again; nothing was changed")
        if self.folder.is_dir() and not _replaceable(self.folder):
            raise FileProblem(f"the report's folder {self.folder} is a folder utfall did not "
                              f"write (it has no {REPORT_FOLDER_MARK}): move it away and run "
                              "again; nothing was changed")

    def commit(self) -> None:
        """The folder first, then the file: a reader of the overview always finds the pages it
        links. The folder is swapped in one step where the file system can (renameat2
        RENAME_EXCHANGE), else moved aside and the new one moved in (a moment without it). A
        report without pages removes the folder of an earlier one. If the file cannot be
        moved in, the earlier folder is put back, so file and folder stay of one run."""
        if not self.folder_tmp.is_dir():
            os.replace(self.tmp, self.final)
            if (self.folder / REPORT_FOLDER_MARK).is_file() and not self.folder.is_symlink():
                os.rename(self.folder, self.folder_tmp)  # removed below and on the way out
                shutil.rmtree(self.folder_tmp, ignore_errors=True)
            return
        self.check_folder()
        swapped = self.folder.exists()
        if swapped:
            exchange(self.folder_tmp, self.folder)  # the earlier pages now at folder_tmp
        else:
            os.rename(self.folder_tmp, self.folder)
        try:
            os.replace(self.tmp, self.final)
        except OSError:
            if swapped:
                exchange(self.folder_tmp, self.folder)
            else:
                os.rename(self.folder, self.folder_tmp)
            raise
        shutil.rmtree(self.folder_tmp, ignore_errors=True)


def _replaceable(folder: Path) -> bool:
    """An earlier report's pages, or an empty folder: nothing of anyone else's is lost."""
    return (folder / REPORT_FOLDER_MARK).is_file() or not any(folder.iterdir())


@contextmanager
def staged_report(final: Path) -> Iterator[StagedReport]:
    """`staged` for a report that may have a folder of pages: what is not committed is removed
    on every way out, and so is the earlier folder a commit swapped out."""
    tag = uuid.uuid4().hex[:8]
    report = StagedReport(final, final.with_name(f"{_prefix(final)}{tag}.tmp"),
                          report_folder(final),
                          final.with_name(f"{_prefix(final)}{tag}.tmp-sidor"))
    try:
        yield report
    except OSError as exc:
        raise FileProblem(_os_message(exc, final)) from None
    finally:
        report.tmp.unlink(missing_ok=True)
        shutil.rmtree(report.folder_tmp, ignore_errors=True)


def is_staged_name(path: Path) -> bool:
    """Whether path is the hidden temporary name `staged` or `staged_report` gives a file."""
    return re.fullmatch(r"\..+\.[0-9a-f]{8}\.tmp", Path(path).name) is not None


def exchange(a: Path, b: Path) -> None:
    """Swap two existing paths (folders), in one step where the system can."""
    if _renameat2(a, b):
        return
    aside = a.with_name(a.name + ".byte")
    os.rename(b, aside)
    try:
        os.rename(a, b)
    except OSError:
        os.rename(aside, b)
        raise
    os.rename(aside, a)


def _renameat2(a: Path, b: Path) -> bool:
    """True when renameat2(RENAME_EXCHANGE) swapped a and b; False where the system or the
    file system has no such call (the caller then moves them one at a time)."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.renameat2
    except (OSError, AttributeError):
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                     ctypes.c_uint]
    if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))
