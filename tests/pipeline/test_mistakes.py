"""Ordinary mistakes, through the command line as a user makes them: each is refused or reported
in one line with the documented exit status (0 success, 1 a run that failed, 2 a usage error),
never a traceback, and never a silent change of a figure (issue 14)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
from utfall.cli import main
from utfall.lock import writer_lock

pytestmark = pytest.mark.pipeline

KEY = "a" * 64
OTHER_KEY = "b" * 64
FILES = ["1384/procapita/ekb_2021.txt", "1384/procapita/ekb_2022.txt",
         "1384/excel/Deltagare AME 2021-2024.xlsx", "1384/excel/Deltagare AME 2020.xlsx"]


def make_inbox(root: Path, files=FILES) -> Path:
    inbox = root / "inbox"
    for rel in files:
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE_INBOX / rel, inbox / rel)
    return inbox


def utfall(*args: str, key: str = KEY):
    result = CliRunner().invoke(main, list(args), env={"UTFALL_KEY": key})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def run(inbox: Path, db: Path, *extra: str, key: str = KEY):
    return utfall("run", "--inbox", str(inbox), "--db", str(db), "--config-dir",
                  str(CONFIG_DIR), "--workers", "1", *extra, key=key)


def figures(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select * from marts.kpi_value order by all").fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small database built once; tests that change it work on copies."""
    root = tmp_path_factory.mktemp("built")
    inbox = make_inbox(root)
    result = run(inbox, root / "u.duckdb")
    assert result.exit_code == 0, result.output
    return inbox, root / "u.duckdb", result.output


def copy_of(built, tmp_path: Path) -> tuple[Path, Path]:
    inbox, db, _ = built
    shutil.copytree(inbox, tmp_path / "inbox")
    shutil.copyfile(db, tmp_path / "u.duckdb")
    return tmp_path / "inbox", tmp_path / "u.duckdb"


def test_a_first_run_lists_what_it_did_and_counts_the_rejected_file(built):
    _, db, output = built
    assert "Files: 4 (loaded 3, unchanged 0, duplicates 0, rejected 1, withdrawn 0, skipped 0)" \
        in output
    assert "  rejected: 1384/excel/Deltagare AME 2020.xlsx: the workbook is damaged" in output
    assert "  added: 1384/procapita/ekb_2021.txt" in output
    assert oct(db.stat().st_mode & 0o777) == "0o600"


def test_a_rerun_still_counts_what_is_rejected_now(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    before = figures(db)
    result = run(inbox, db)
    assert result.exit_code == 0, result.output
    assert "Files: 4 (loaded 0, unchanged 3, duplicates 0, rejected 1," in result.output
    assert figures(db) == before


def test_as_of_after_today_is_a_usage_error(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    result = run(inbox, db, "--as-of", tomorrow)
    assert result.exit_code == 2
    assert f"--as-of {tomorrow} is after today" in result.output


def test_as_of_before_every_insats_runs_but_warns(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    # without --allow-empty the run is refused (tests/pipeline/test_run_guidance.py)
    result = run(inbox, db, "--as-of", "2000-01-01", "--allow-empty")
    assert result.exit_code == 0, result.output
    assert "WARNING: as_of 2000-01-01 is before every insats in the data: no figures" \
        in result.output


def test_another_key_is_refused_and_nothing_changes(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    before = db.read_bytes()
    result = run(inbox, db, key=OTHER_KEY)
    assert result.exit_code == 1
    assert "this database was built with another installation key" in result.output
    assert db.read_bytes() == before


def test_a_key_too_short_is_refused(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    result = run(inbox, db, key="short")
    assert result.exit_code == 1
    assert "UTFALL_KEY holds fewer than 32 characters" in result.output


@pytest.mark.parametrize("limit, message", [
    ("lots", "'lots' is not a size such as 4GB or 512MB"),
    ("1MB", "'1MB' is too little for a build; give at least 256MB"),
])
def test_a_memory_limit_that_cannot_work_is_a_usage_error(built, tmp_path, limit, message):
    inbox, db = copy_of(built, tmp_path)
    result = run(inbox, db, "--memory-limit", limit)
    assert result.exit_code == 2
    assert message in result.output


def test_a_config_dir_that_does_not_exist_is_refused(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    result = utfall("run", "--inbox", str(inbox), "--db", str(db), "--config-dir",
                    str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "does not exist" in result.output and "nowhere" in result.output


def test_a_kommun_kod_that_contradicts_its_file_name_is_refused(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    config = tmp_path / "config"
    config.mkdir()
    (config / "1384.yaml").write_text('namn: Kungsbacka\nkommun_kod: "1348"\n', encoding="utf-8")
    result = utfall("run", "--inbox", str(inbox), "--db", str(db), "--config-dir", str(config))
    assert result.exit_code == 1
    assert "1384.yaml line 2" in result.output


def test_a_folder_that_is_no_municipality_is_skipped_loudly(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    (inbox / "1420" / "excel").mkdir(parents=True)
    shutil.copyfile(SAMPLE_INBOX / "1402/excel" / next(
        p.name for p in (SAMPLE_INBOX / "1402/excel").iterdir()), inbox / "1420/excel/lista.xlsx")
    result = run(inbox, db)
    assert result.exit_code == 0, result.output
    assert "skipped 1)" in result.output
    assert "  skipped: 1420/excel/lista.xlsx: 1420 is not a municipality code" in result.output


def test_an_empty_inbox_fails_and_leaves_the_database(built, tmp_path):
    _, db = copy_of(built, tmp_path)
    before = db.read_bytes()
    (tmp_path / "empty").mkdir()
    result = run(tmp_path / "empty", db)
    assert result.exit_code == 1
    assert "nothing was changed" in result.output
    assert db.read_bytes() == before


def test_an_inbox_one_level_too_deep_says_where_to_point(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    result = run(inbox / "1384", db)
    assert result.exit_code == 1
    assert "point --inbox at its parent" in result.output


def test_an_inbox_where_no_file_can_be_read_fails(tmp_path):
    inbox = make_inbox(tmp_path, ["1384/excel/Deltagare AME 2020.xlsx"])  # a damaged workbook
    result = run(inbox, tmp_path / "u.duckdb")
    assert result.exit_code == 1
    assert "could be loaded" in result.output and "nothing was changed" in result.output
    assert not (tmp_path / "u.duckdb").exists()


def test_a_db_that_is_not_a_duckdb_file_is_not_overwritten(built, tmp_path):
    inbox, _ = copy_of(built, tmp_path)
    notes = tmp_path / "anteckningar.duckdb"
    notes.write_text("my notes, not a database\n" * 10, encoding="utf-8")
    result = run(inbox, notes)
    assert result.exit_code == 1
    assert "is not a DuckDB database: refusing to overwrite it" in result.output
    assert notes.read_text(encoding="utf-8").startswith("my notes")


def test_a_second_writer_is_told_who_holds_the_database(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    with writer_lock(db):
        result = run(inbox, db)
    assert result.exit_code == 1
    assert f"another run is writing {db} since" in result.output
    assert "(or use --wait SECONDS)" in result.output


def test_leftovers_of_a_killed_run_are_removed(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    stale = [tmp_path / ".u.duckdb.dead0001.tmp", tmp_path / ".u.duckdb.dead0001.tmp.wal",
             tmp_path / ".u-rapport.html.dead0002.tmp"]
    for path in stale:
        path.write_bytes(b"half written")
    assert run(inbox, db).exit_code == 0
    assert not any(path.exists() for path in stale)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_report_that_cannot_be_written_leaves_the_database(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    (inbox / "1384/procapita/ekb_2022.txt").unlink()
    before = db.read_bytes()
    (tmp_path / "u-rapport.html").mkdir()  # the report's place is taken by a folder
    result = run(inbox, db)
    assert result.exit_code == 1
    assert f"the report's place {tmp_path / 'u-rapport.html'} is a folder" in result.output
    assert db.read_bytes() == before


def test_removing_most_files_needs_allow_withdraw(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    before = figures(db)
    for rel in FILES[:3]:
        (inbox / rel).unlink()
    shutil.copyfile(SAMPLE_INBOX / "1384/procapita/ekb_2023.txt",
                    inbox / "1384/procapita/ekb_2023.txt")
    result = run(inbox, db)
    assert result.exit_code == 1
    assert "3 of the 3 loaded files are no longer in the inbox" in result.output
    assert "--allow-withdraw" in result.output
    assert figures(db) == before
    result = run(inbox, db, "--allow-withdraw")
    assert result.exit_code == 0, result.output
    assert "  withdrawn: 1384/procapita/ekb_2021.txt is no longer in the inbox" in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select status, count(*) from meta.delivery group by 1 order by 1"
                           ).fetchall() == [("LOADED", 1), ("REJECTED", 1), ("WITHDRAWN", 3)]


def test_a_reader_is_told_when_another_program_writes_the_database(built, tmp_path):
    _, db = copy_of(built, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        result = utfall("unmapped", "--db", str(db))
        assert result.exit_code == 1
        assert f"{db} is open for writing by another program" in result.output
        result = run(tmp_path / "inbox", db)
        assert result.exit_code == 1
        assert "is open for writing by another program" in result.output
    finally:
        holder.kill()
        holder.wait()


def test_a_wal_left_by_a_researchers_program_is_replayed_not_lost(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    subprocess.run([sys.executable, "-c",
                    "import duckdb, os, sys; c = duckdb.connect(sys.argv[1]); "
                    "c.execute('create table main.mine as select 42 as answer'); os._exit(0)",
                    str(db)], check=True)
    assert db.with_name(db.name + ".wal").exists()
    result = run(inbox, db)
    assert result.exit_code == 0, result.output
    assert not db.with_name(db.name + ".wal").exists()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select answer from main.mine").fetchone() == (42,)


def test_a_full_disk_is_named_in_the_users_terms(built, tmp_path, monkeypatch):
    import errno

    from utfall import files

    inbox, db = copy_of(built, tmp_path)
    before = db.read_bytes()

    def full(source, target):
        target.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_copy_private", full)
    result = run(inbox, db)
    assert result.exit_code == 1
    assert f"the disk holding {tmp_path} is full: free space and run again" in result.output
    assert ".tmp" not in result.output
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_duckdb_failure_names_the_users_database_not_its_hidden_copy(built, tmp_path,
                                                                       monkeypatch):
    from utfall import transform

    inbox, db = copy_of(built, tmp_path)

    def failing(con, *_):
        con.execute("select * from read_csv('/nonexistent/x.csv')")

    monkeypatch.setattr(transform, "build_core", failing)
    result = run(inbox, db)
    assert result.exit_code == 1
    assert f"building {db} failed in DuckDB" in result.output
    assert ".tmp" not in result.output


def test_a_misnamed_folder_of_many_files_is_one_line(built, tmp_path):
    inbox, db = copy_of(built, tmp_path)
    (inbox / "1420" / "procapita").mkdir(parents=True)
    for month in range(1, 4):
        shutil.copyfile(SAMPLE_INBOX / "1384/procapita/ekb_2021.txt",
                        inbox / f"1420/procapita/ekb_2021-{month:02d}.txt")
    result = run(inbox, db)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("  skipped:")]
    assert len(lines) == 1
    assert lines[0].startswith("  skipped: 1420/procapita/ekb_2021-01.txt: 1420 is not a "
                               "municipality code")
    assert lines[0].endswith("(and 2 more files like it)")
