"""A run with nothing to do (issue 24): when the inbox, the configuration, the key, utfall's code,
the effective as_of and the settings are those of the latest successful run, and its report is
in place, the run says so and changes nothing; any difference builds again.

Whether a run builds is decided before the build begins, so the tests of each difference stop
the run there (`stop_at_build`) and read why it would build from its log; two of them build in
full, to show that the new fingerprint is kept and the next run has nothing to do."""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import utfall.run as run_module
from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
from utfall import keys, transform
from utfall.adapters.config import ConfigStore
from utfall.cli import main
from utfall.ingest import file_hash, ingest
from utfall.lock import writer_lock
from utfall.run import RunError, run

pytestmark = pytest.mark.pipeline

TODAY = date(2024, 7, 5)  # the sample's latest date is 2024-06-22: nothing is after the run date
STOPPED = "stopped where the build begins"


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def latest_run(db: Path) -> tuple:
    """run_id, finished_at and fingerprint of the latest run."""
    return q(db, "select r.run_id, r.finished_at, f.fingerprint from meta.run r "
                 "left join meta.run_fingerprint f using (run_id) "
                 "order by r.finished_at desc limit 1")[0]


def state(*paths: Path) -> list[tuple[bytes, int]]:
    return [(path.read_bytes(), path.stat().st_mtime_ns) for path in paths]


@pytest.fixture
def stop_at_build(monkeypatch):
    """The build replaced by a stop: what is tested is the decision to build, made before."""
    def stop(*args, **kwargs):
        raise RunError(STOPPED)

    monkeypatch.setattr(run_module, "_build", stop)


# --- through the command line, on the session's build of the sample (run on today's date) -------


@pytest.fixture
def sample_copy(sample_run, tmp_path):
    """The session's build of data/sample with its report, copied (times kept) to be run again."""
    summary, _ = sample_run
    db, report = tmp_path / "utfall.duckdb", tmp_path / "utfall-rapport.html"
    shutil.copy2(summary.db_path, db)
    shutil.copy2(summary.report_path, report)
    return db, report


def utfall_run(db: Path, *extra: str, verbose: bool = True):
    """`utfall run` on the sample as `make demo` runs it; -v logs why a run builds."""
    result = CliRunner().invoke(main, ["-v"] * verbose + [
        "run", "--inbox", str(SAMPLE_INBOX), "--db", str(db), "--demo-key", "--config-dir",
        str(CONFIG_DIR), *extra])
    assert "Traceback" not in result.output
    return result


def test_nothing_changed_says_so_and_changes_nothing(sample_copy, tmp_path):
    db, report = sample_copy
    before = state(db, report)
    _, finished, recorded = latest_run(db)
    assert recorded is not None
    result = utfall_run(db, verbose=False)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Nothing changed since the run of {finished:%Y-%m-%d %H:%M:%S}: the database and the "
        "report are as they were",
        f"Database: {db}",
        f"Report: {report}",
    ]
    assert state(db, report) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "utfall-rapport.html", "utfall.duckdb", "utfall.duckdb.lock"]


def test_the_run_with_nothing_to_do_still_takes_the_lock(sample_copy):
    db, report = sample_copy
    before = state(db, report)
    with writer_lock(db):
        result = utfall_run(db)
    assert result.exit_code == 1
    assert f"another run is writing {db} since" in result.output
    assert state(db, report) == before


def test_the_as_of_asked_for_is_compared_as_the_default_one_came_out(sample_copy):
    db, report = sample_copy
    before = state(db, report)
    (as_of,) = q(db, "select as_of from meta.run")[0]
    result = utfall_run(db, "--as-of", str(as_of))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Nothing changed since the run of ")
    assert state(db, report) == before


@pytest.mark.parametrize(("extra", "why"), [
    (["--rebuild"], "asked for (--rebuild)"),
    (["--min-cell", "3"], "changed since the latest run: min_cell 3 (was 5)"),
    (["--as-of", "2024-03-31"], "changed since the latest run: as_of 2024-03-31 (was 2024-06-30)"),
])
def test_another_option_builds_again(sample_copy, stop_at_build, extra, why):
    db, report = sample_copy
    before = state(db, report)
    result = utfall_run(db, *extra)
    assert result.exit_code == 1
    assert f"INFO a full run: {why}\n" in result.output
    assert result.output.splitlines()[-1] == f"Error: {STOPPED}"
    assert state(db, report) == before


def test_a_deleted_report_builds_again(sample_copy, stop_at_build):
    db, report = sample_copy
    report.unlink()
    result = utfall_run(db)
    assert result.exit_code == 1
    assert f"INFO a full run: the report {report} is missing\n" in result.output


def test_a_report_older_than_the_database_builds_again(sample_copy, stop_at_build):
    """A run that replaced the database but could not move its report in (README: "the report
    there is from an earlier run") failed: its report is older than the run recorded."""
    db, report = sample_copy
    started = q(db, "select started_at from meta.run")[0][0]
    earlier = started.timestamp() - 60
    os.utime(report, (earlier, earlier))
    result = utfall_run(db)
    assert result.exit_code == 1
    assert (f"INFO a full run: the report {report} is older than the run that built the "
            "database\n") in result.output


# --- through utfall.run.run, on a build of a copy of the sample on a fixed run date --------------


@dataclass
class Case:
    inbox: Path
    config: Path
    db: Path
    report: Path

    def run(self, **options):
        options.setdefault("today", TODAY)
        return run(self.inbox, self.db, keys.demo(), self.config, audit=False, workers=1,
                   **options)


@pytest.fixture(scope="module")
def dated(tmp_path_factory) -> Case:
    """The sample and the configuration copied, built once with the run date TODAY."""
    root = tmp_path_factory.mktemp("dated")
    case = Case(root / "inbox", root / "config", root / "u.duckdb", root / "u-rapport.html")
    shutil.copytree(SAMPLE_INBOX, case.inbox)
    shutil.copytree(CONFIG_DIR, case.config)
    summary = case.run()
    assert summary.unchanged_since is None and summary.as_of == date(2024, 6, 30)
    return case


@pytest.fixture
def case(dated, tmp_path):
    """The dated build's database and report copied (where the database is, is not an input),
    on the dated inbox and configuration, which the test may change: they are put back after."""
    copy = Case(dated.inbox, dated.config, tmp_path / "u.duckdb", tmp_path / "u-rapport.html")
    shutil.copy2(dated.db, copy.db)
    shutil.copy2(dated.report, copy.report)
    yield copy
    for folder, source in ((dated.inbox, SAMPLE_INBOX), (dated.config, CONFIG_DIR)):
        shutil.rmtree(folder)
        shutil.copytree(source, folder)


@pytest.fixture
def why(caplog):
    caplog.set_level(logging.INFO, logger="utfall.run")

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("a full run")]
    return said


def test_a_copy_of_the_database_has_nothing_to_do(case):
    before = state(case.db, case.report)
    _, finished, _ = latest_run(case.db)
    summary = case.run()
    assert summary.unchanged_since == finished
    assert summary.as_of == date(2024, 6, 30) and summary.kpi_rows > 1000
    assert summary.report_path == case.report
    assert state(case.db, case.report) == before


def test_the_same_files_in_another_inbox_folder_build_again(case, why, stop_at_build, tmp_path):
    """The run records its inbox (meta.run.inbox): the database names where its figures came
    from, so another folder builds even with the same files in it."""
    elsewhere = tmp_path / "inbox"
    shutil.copytree(case.inbox, elsewhere)
    with pytest.raises(RunError, match=STOPPED):
        run(elsewhere, case.db, keys.demo(), case.config, audit=False, workers=1, today=TODAY)
    assert why() == [f"a full run: changed since the latest run: inbox {elsewhere} "
                     f"(was {case.inbox})"]


def test_a_run_date_with_the_same_effect_on_as_of_has_nothing_to_do(case):
    before = state(case.db, case.report)
    # the last day of the month before 2024-12-01 is after the latest covered month's
    assert case.run(today=date(2024, 12, 1)).unchanged_since is not None
    assert state(case.db, case.report) == before


def test_a_corrected_file_builds_in_full_and_the_next_run_has_nothing_to_do(case):
    rel = "1384/procapita/ekb_2022.txt"
    lines = (case.inbox / rel).read_bytes().splitlines(keepends=True)
    (case.inbox / rel).write_bytes(b"".join(lines[:-1]))
    run_id, _, recorded = latest_run(case.db)
    db_before = case.db.read_bytes()
    summary = case.run()
    assert summary.unchanged_since is None
    assert [(f.rel_path, f.change) for f in summary.ingest.files if f.status == "LOADED"] == [
        (rel, "CORRECTED")]
    assert case.db.read_bytes() != db_before
    new_id, finished, new_fingerprint = latest_run(case.db)
    assert new_id != run_id and new_fingerprint not in (None, recorded)
    after = state(case.db, case.report)
    assert case.run().unchanged_since == finished
    assert state(case.db, case.report) == after


def test_a_database_from_before_the_fingerprint_builds_in_full(case, why):
    with duckdb.connect(str(case.db)) as con:
        con.execute("drop table meta.run_fingerprint")
    summary = case.run()
    assert summary.unchanged_since is None
    assert why() == ["a full run: the database is from before runs recorded their fingerprint"]
    assert latest_run(case.db)[2] is not None
    assert case.run().unchanged_since is not None


def test_a_latest_run_without_a_fingerprint_builds_again(case, why, stop_at_build):
    """A run of an older utfall after this one recorded nothing: its database is not vouched for."""
    with duckdb.connect(str(case.db)) as con:
        con.execute("delete from meta.run_fingerprint")
    with pytest.raises(RunError, match=STOPPED):
        case.run()
    assert why() == ["a full run: the latest run of the database recorded no fingerprint"]


def _add(case: Case) -> None:
    shutil.copyfile(SAMPLE_INBOX / "1384/procapita/ekb_2023.txt",
                    case.inbox / "1384/procapita/ekb_2023_igen.txt")


def _remove(case: Case) -> None:
    (case.inbox / "1415/procapita/utbetalningar_2021-2022.csv").unlink()


def _same_size(case: Case) -> None:
    """One byte changed: a content hash, not a size or a name, tells it."""
    path = case.inbox / "1384/procapita/ekb_2021.txt"
    data = bytearray(path.read_bytes())
    at = data.rindex(b"1")
    data[at:at + 1] = b"2"
    path.write_bytes(bytes(data))


def _reconfigure(case: Case) -> None:
    path = case.config / "1480.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"Lotsen": VAGLEDNING', '"Lotsen": SOCIAL_REHAB'),
                    encoding="utf-8")
    assert path.read_text(encoding="utf-8") != text


@pytest.mark.parametrize(("change", "options", "reason"), [
    (_add, {}, "changed since the latest run: the inbox"),
    (_remove, {}, "changed since the latest run: the inbox"),
    (_same_size, {}, "changed since the latest run: the inbox"),
    (_reconfigure, {}, "changed since the latest run: the configuration"),
    (None, {"min_cell": 3}, "changed since the latest run: min_cell 3 (was 5)"),
    (None, {"as_of": date(2024, 3, 31)},
     "changed since the latest run: as_of 2024-03-31 (was 2024-06-30)"),
    # the last day of the month before the run date comes before the latest covered month's
    (None, {"today": date(2024, 6, 25)},
     "changed since the latest run: as_of 2024-05-31 (was 2024-06-30)"),
    (None, {"today": date(2025, 1, 15)}, "changed since the latest run: run_year 2025 (was 2024)"),
    (None, {"write_report": False}, "changed since the latest run: report no (was yes)"),
    (None, {"rebuild": True}, "asked for (--rebuild)"),
], ids=["file added", "file removed", "content changed, same size", "configuration changed",
        "min_cell", "as_of", "run date moves as_of", "run date in another year", "no report",
        "rebuild"])
def test_each_difference_builds_again(case, why, stop_at_build, change, options, reason):
    if change:
        change(case)
    before = state(case.db, case.report)
    with pytest.raises(RunError, match=STOPPED):
        case.run(**options)
    assert why() == [f"a full run: {reason}"]
    assert state(case.db, case.report) == before


def test_a_date_in_the_data_after_the_run_date_builds_again(case, why, stop_at_build):
    """As ingest's cache: a file that held a date after the day it was read is read again
    (DATE_FUTURE depends on the run date), whatever the fingerprint says."""
    with duckdb.connect(str(case.db)) as con:  # as if read before its latest date
        (n,) = con.execute("update meta.delivery set read_on = latest_date - 1 where "
                           "latest_date = (select max(latest_date) from meta.delivery)").fetchone()
    assert n >= 1
    with pytest.raises(RunError, match=STOPPED):
        case.run()
    assert why() == [f"a full run: {n} loaded file(s) hold dates after the day they were read "
                     f"or after {TODAY}: they are read again"]


def test_a_comment_in_the_configuration_changes_nothing(case):
    path = case.config / "1480.yaml"
    path.write_text("# checked 2024-07-05\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert case.run().unchanged_since is not None


def test_a_failed_build_leaves_the_latest_successful_run_to_compare_with(case, monkeypatch):
    """A run that fails before it replaces the database changes nothing: the database, the report
    and the fingerprint are still the latest successful run's, so a run with that run's inputs
    has nothing to do; a run with the failed run's inputs builds (they are not recorded)."""
    _same_size(case)

    def broken_marts(*args, **kwargs):
        raise RuntimeError("injected failure inside the build")

    monkeypatch.setattr(run_module.transform, "build_marts", broken_marts)
    before = state(case.db, case.report)
    with pytest.raises(RuntimeError, match="injected"):
        case.run()
    assert state(case.db, case.report) == before
    monkeypatch.undo()
    shutil.copyfile(SAMPLE_INBOX / "1384/procapita/ekb_2021.txt",
                    case.inbox / "1384/procapita/ekb_2021.txt")
    assert case.run().unchanged_since is not None


# --- the inbox is hashed once ---------------------------------------------------------------------


def test_a_building_run_hashes_each_file_once(case, monkeypatch):
    """The fingerprint hashes every file; ingest takes those hashes instead of reading the inbox
    a second time (issue 24)."""
    import utfall.ingest as ingest_module

    hashed = Counter()
    real = ingest_module.file_hash

    def counting(path):
        hashed[path] += 1
        return real(path)

    monkeypatch.setattr(ingest_module, "file_hash", counting)
    monkeypatch.setattr(run_module, "file_hash", counting)
    (case.inbox / "1384/procapita/ekb_2022.txt").write_bytes(b"")  # a change: a full build
    summary = case.run()
    assert summary.unchanged_since is None
    assert len(hashed) == len({f.rel_path for f in summary.ingest.files}) > 20
    assert set(hashed.values()) == {1}


def test_ingest_hashes_again_a_file_changed_since_it_was_hashed(tmp_path):
    """A hash is taken over only for a file with the size, time and inode it was hashed at."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_INBOX, inbox)
    path = inbox / "1384/procapita/ekb_2022.txt"
    stat = os.stat(path)
    as_hashed = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    told = {path: ("0" * 64, as_hashed)}
    assert stored_hash(inbox, told, path) == "0" * 64  # taken over: not read again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert stored_hash(inbox, told, path) == file_hash(path)


def stored_hash(inbox: Path, told: dict, path: Path) -> str:
    with duckdb.connect() as con:
        transform.create_schemas(con)
        ingest(con, inbox, ConfigStore(CONFIG_DIR), keys.demo(), TODAY, workers=1, hashed=told)
        rel = path.relative_to(inbox).as_posix()
        return con.execute("select file_hash from meta.delivery where path = ?",
                           [rel]).fetchone()[0]


def test_a_deleted_folder_of_pages_builds_again(case, why, monkeypatch):
    """A report with pages beside it (above SINGLE_FILE_MAX_KOMMUNER municipalities: lowered
    here to 2, for the sample's five) is in place only with its folder."""
    monkeypatch.setattr("utfall.report.SINGLE_FILE_MAX_KOMMUNER", 2)
    case.run(rebuild=True)
    folder = case.report.with_suffix("")
    assert (folder / "las-mig.txt").is_file()
    assert case.run().unchanged_since is not None
    shutil.rmtree(folder)
    summary = case.run()
    assert summary.unchanged_since is None and (folder / "las-mig.txt").is_file()
    assert why()[-1] == (f"a full run: the report's pages {folder} are missing or older than "
                         "the run")
