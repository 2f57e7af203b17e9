"""A run that tells the analyst what to do next (issue 23): a run that would publish nothing
where figures were published is refused; the summary names each duplicate with the file it
duplicates, calls out one municipality's file in another's folder, suggests the code a misnamed
folder meant, and ends with where to look; `utfall quarantine` lists the quarantined rows; and
the libraries' logging stays out of a run's output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
from utfall.adapters.personnummer import Pseudonymiser
from utfall.cli import main
from utfall.run import RunError, run

pytestmark = pytest.mark.pipeline

KEY = "a" * 64
FILES = {  # path in the test inbox: the sample file it is a copy of
    "1384/procapita/ekb_2021.txt": "1384/procapita/ekb_2021.txt",
    "1384/procapita/ekb_2021_kopia.txt": "1384/procapita/ekb_2021.txt",
    "1384/procapita/ekb_2022.txt": "1384/procapita/ekb_2022.txt",
    "1384/excel/Deltagare AME 2021-2024.xlsx": "1384/excel/Deltagare AME 2021-2024.xlsx",
    # Kungsbacka's list dropped in Härryda's new folder, and a folder named with a letter O
    "1401/excel/Deltagare Härryda.xlsx": "1384/excel/Deltagare AME 2021-2024.xlsx",
    "148O/excel/lista.xlsx": "1384/excel/Deltagare AME 2021-2024.xlsx",
}


def utfall(*args: str, key: str = KEY):
    result = CliRunner().invoke(main, list(args), env={"UTFALL_KEY": key})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Built once by `utfall run` in a process of its own, as a user runs it."""
    root = tmp_path_factory.mktemp("guidance")
    for rel, source in FILES.items():
        (root / "inbox" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE_INBOX / source, root / "inbox" / rel)
    utfall_bin = Path(sys.executable).with_name("utfall")
    done = subprocess.run(
        [str(utfall_bin), "run", "--inbox", str(root / "inbox"), "--db", str(root / "u.duckdb"),
         "--config-dir", str(CONFIG_DIR), "--workers", "1"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "UTFALL_KEY": KEY})
    assert done.returncode == 0, done.stdout + done.stderr
    return root, done


def test_a_run_prints_no_library_logging(built):
    _, done = built
    assert done.stderr == ""  # not great-expectations' "ephemeral docs site", nor anything else


def test_the_summary_names_each_duplicate_and_the_file_it_duplicates(built):
    _, done = built
    lines = done.stdout.splitlines()
    assert lines[0] == ("Files: 5 (loaded 3, unchanged 0, duplicates 2, rejected 0, withdrawn 0, "
                        "skipped 1)")
    assert ("  duplicate: 1384/procapita/ekb_2021_kopia.txt is the same file as "
            "1384/procapita/ekb_2021.txt (loaded once)") in lines


def test_another_municipalitys_file_in_a_new_folder_is_called_out(built):
    _, done = built
    assert ("WARNING: 1401/excel/Deltagare Härryda.xlsx and 1384/excel/Deltagare AME 2021-2024"
            ".xlsx are the same file in the folders of 1401 (Härryda) and 1384 (Kungsbacka): it "
            "is loaded once, as Kungsbacka's, and Härryda gets no rows from it; replace the one "
            "in the wrong folder with that municipality's own file") in done.stdout.splitlines()
    assert "duplicate: 1401/" not in done.stdout  # not silently one more duplicate


def test_a_folder_with_a_letter_for_a_digit_gets_a_did_you_mean(built):
    _, done = built
    assert ("  skipped: 148O/excel/lista.xlsx: 148O is not a municipality code; did you mean "
            "1480 (Göteborg)?") in done.stdout.splitlines()


def test_the_summary_ends_with_where_to_look(built):
    root, done = built
    assert done.stdout.splitlines()[-2:] == [
        f"Quarantined rows: 7 in 2 file(s); utfall quarantine --db {root / 'u.duckdb'} lists "
        "them with file, line, column and message",
        f"Unmapped values: 2, headers not understood: 0; utfall unmapped --db {root / 'u.duckdb'} "
        "lists them",
    ]


def test_quarantine_lists_file_line_column_and_message(built):
    root, _ = built
    result = utfall("quarantine", "--db", str(root / "u.duckdb"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "7 quarantined rows in 2 file(s):",
        "1384/excel/Deltagare AME 2021-2024.xlsx",
        "  sheet '2021', row 18, column 'Personnr': not a valid personnummer (check digit does "
        "not match) (PNR_INVALID)",
        "  sheet '2021', row 21, column 'Personnr': not a valid personnummer (date part is not a "
        "valid date) (PNR_INVALID)",
        "  sheet '2022', row 40, column 'Personnr': not a valid personnummer (check digit does "
        "not match) (PNR_INVALID)",
        "  sheet '2023', row 10, column 'Inskriven': not a date (not a recognisable month name) "
        "(DATE_INVALID)",
        "  sheet '2023', row 31, column 'Utskriven': end date 2023-05-12 is before start date "
        "2023-05-19 (END_BEFORE_START)",
        "  sheet '2023', row 42, column 'Inskriven': not a date (not a recognisable month name) "
        "(DATE_INVALID)",
        "1384/procapita/ekb_2022.txt",
        "  line 1015, column 'Personnummer': not a valid personnummer: check digit does not "
        "match (PNR_INVALID)",
    ]
    only = utfall("quarantine", "--db", str(root / "u.duckdb"), "--reason", "end_before_start")
    assert only.output.splitlines()[0] == "1 quarantined rows in 1 file(s):"


def test_quarantine_never_shows_a_personnummer(built, tmp_path):
    """A database whose stored text was not masked (built before it was) still shows none."""
    root, _ = built
    db = tmp_path / "u.duckdb"
    shutil.copyfile(root / "u.duckdb", db)
    with duckdb.connect(str(db)) as con:
        con.execute("update meta.quarantine set message = message || ' (19850312-2346)', "
                    "column_name = '198503122346' where row_number = 1015")
    result = utfall("quarantine", "--db", str(db))
    assert "  line 1015, column '[personnummer]': not a valid personnummer: check digit does " \
           "not match ([personnummer]) (PNR_INVALID)" in result.output.splitlines()
    assert "2346" not in result.output


@pytest.fixture
def sample_copy(sample_run, tmp_path):
    """The built sample (the session's one build) with its report, copied to change."""
    summary, _ = sample_run
    db = tmp_path / "utfall.duckdb"
    shutil.copyfile(summary.db_path, db)
    shutil.copyfile(summary.report_path, tmp_path / "utfall-rapport.html")
    return db, tmp_path / "utfall-rapport.html"


def test_a_run_that_would_publish_nothing_is_refused(sample_copy):
    db, report = sample_copy
    before = db.read_bytes(), report.read_bytes()
    with duckdb.connect(str(db), read_only=True) as con:
        (published,) = con.execute("select count(*) from marts.kpi_published "
                                   "where not suppressed").fetchone()
    result = utfall("run", "--inbox", str(SAMPLE_INBOX), "--db", str(db), "--demo-key",
                    "--config-dir", str(CONFIG_DIR), "--as-of", "2019-01-01", "--workers", "1")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: this run would publish no figures (as of 2019-01-01) where {db} publishes "
        f"{published} rows: nothing was replaced; check --as-of and --inbox, or run again with "
        "--allow-empty if an empty report is what you want")
    assert (db.read_bytes(), report.read_bytes()) == before


def test_allow_empty_replaces_and_warns(built, tmp_path):
    root, _ = built
    shutil.copytree(root / "inbox", tmp_path / "inbox")
    db = tmp_path / "u.duckdb"
    shutil.copyfile(root / "u.duckdb", db)
    result = utfall("run", "--inbox", str(tmp_path / "inbox"), "--db", str(db), "--config-dir",
                    str(CONFIG_DIR), "--workers", "1", "--as-of", "2019-01-01", "--allow-empty")
    assert result.exit_code == 0, result.output
    assert "WARNING: as_of 2019-01-01 is before every insats in the data: no figures" \
        in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from marts.kpi_published where not suppressed"
                           ).fetchone() == (0,)


def test_the_default_of_run_itself_is_safe(built, tmp_path):
    """Dagster's build calls utfall.run.run without the flag: it must refuse too."""
    root, _ = built
    db = tmp_path / "u.duckdb"
    shutil.copyfile(root / "u.duckdb", db)
    before = db.read_bytes()
    with pytest.raises(RunError, match="run again with --allow-empty"):
        run(root / "inbox", db, Pseudonymiser(KEY.encode(), "INSTALLATION"), CONFIG_DIR,
            as_of=date(2019, 1, 1), write_report=False, audit=False, workers=1)
    assert db.read_bytes() == before
