"""Hostile and broken deliveries through the whole run (issue 22): personnummer in folder, file
and sheet names reach no table, report, export or output; empty files are each rejected by name;
control characters in names are printed escaped; a file of one 50 MB line costs only itself; a
researcher's read-only connection does not stop the run. Every file is written here."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest

from tests.pipeline.conftest import SAMPLE_INBOX
from tests.pipeline.test_mistakes import run, utfall
from tests.pipeline.test_privacy import written_forms

pytestmark = pytest.mark.pipeline

VALID = Path(__file__).resolve().parents[1] / "unit" / "personnummer_testdata" / "all_valid.json"
EKB = SAMPLE_INBOX / "1384/procapita/ekb_2021.txt"
WORKBOOK = SAMPLE_INBOX / "1384/excel/Deltagare AME 2021-2024.xlsx"


def planted() -> list[str]:
    """Six valid numbers of the public test list, born after 1940 (10-digit forms read as
    this century's or the last)."""
    numbers = [n for n in json.loads(VALID.read_text()) if n.startswith(("195", "196", "197"))]
    return numbers[7::len(numbers) // 6][:6]


def _short(n: str, sep: str = "-") -> str:
    return f"{n[2:8]}{sep}{n[8:]}"


def hostile_inbox(root: Path, numbers: list[str]) -> Path:
    """A folder, file names and sheet names carrying personnummer, in several written forms."""
    inbox = root / "inbox"
    folder = inbox / "1401" / "excel" / numbers[0]  # 1401: no sheets configured, all are read
    folder.mkdir(parents=True)
    book = openpyxl.load_workbook(WORKBOOK)
    book["2021"].title = f"Deltagare {numbers[1]}"
    book["2022"].title = f"Deltagare {_short(numbers[2])}"
    book[f"Deltagare {numbers[1]}"]["N4"] = "Kommentar"  # a header no alias covers
    book.save(folder / "lista.xlsx")
    (inbox / "1384" / "procapita").mkdir(parents=True)
    named = f"Deltagare {numbers[3][:8]}-{numbers[3][8:]}.txt"
    shutil.copyfile(EKB, inbox / "1384" / "procapita" / named)
    (inbox / "1384" / f"{_short(numbers[4], '+')}.txt").write_text("x")  # not in a system folder
    (inbox / numbers[5][2:] / "excel").mkdir(parents=True)  # not a municipality code
    (inbox / numbers[5][2:] / "excel" / "lista.xlsx").write_text("x")
    return inbox


def forms_of(numbers: list[str]) -> set[str]:
    return {f for n in numbers for f in written_forms(n) if len(f) >= 9}


def hits(text: str, forms: set[str]) -> list[str]:
    found = set(re.findall(r"\d{9,12}|\d{6,8}[-+]\d{4}", text))
    return sorted(found & forms)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    numbers = planted()
    inbox = hostile_inbox(root, numbers)
    db = root / "u.duckdb"
    first = run(inbox, db)
    assert first.exit_code == 0, first.output
    # --rebuild: past the run's "nothing changed" check, the cached ingest must find every file
    # unchanged
    again = run(inbox, db, "--rebuild")
    assert again.exit_code == 0, again.output
    out = [first.output, again.output, utfall("unmapped", "--db", str(db)).output,
           utfall("export", "--db", str(db), "--out", str(root / "export")).output]
    return root, db, numbers, out


def test_the_planted_names_were_read(hostile_run):
    _, db, _, out = hostile_run
    with duckdb.connect(str(db), read_only=True) as con:
        paths = [p for (p,) in con.execute("select path from meta.delivery where status = "
                                           "'LOADED' order by 1").fetchall()]
        sheets = {s for (s,) in con.execute("select distinct sheet from "
                                            "staging.excel_participant").fetchall()}
        unknown = con.execute("select count(*) from meta.unknown_header "
                              "where sheet like 'Deltagare [personnummer] #%'").fetchone()[0]
    assert len(paths) == 2 and all("[personnummer]" in p for p in paths), paths
    assert sum(s.startswith("Deltagare [personnummer] #") for s in sheets) == 2, sheets
    assert unknown >= 1
    assert "unchanged 2" in out[1]


def test_no_personnummer_of_a_name_in_any_table(hostile_run):
    _, db, numbers, _ = hostile_run
    forms = forms_of(numbers)
    found = []
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute("select table_schema, table_name, column_name "
                              "from information_schema.columns where data_type = 'VARCHAR'"
                              ).fetchall()
        for schema, table, column in columns:
            for (value,) in con.execute(f'select distinct "{column}" from "{schema}"."{table}"'
                                        ).fetchall():
                if value and hits(value, forms):
                    found.append((schema, table, column, value))
    assert found == []
    assert hits(db.read_bytes().decode("latin-1"), forms) == []


def test_no_personnummer_of_a_name_in_the_report_exports_or_output(hostile_run):
    root, db, numbers, out = hostile_run
    forms = forms_of(numbers)
    report = db.with_name("u-rapport.html")
    assert report.exists()
    texts = {"report": report.read_text(encoding="utf-8")}
    for path in (root / "export").iterdir():
        texts[path.name] = path.read_bytes().decode("latin-1")
    texts.update({f"output {i}": text for i, text in enumerate(out)})
    assert {name: hits(text, forms) for name, text in texts.items() if hits(text, forms)} == {}
    assert "[personnummer]" in out[0] and "[personnummer]" in out[2]


def test_two_names_that_differ_only_in_a_personnummer_stay_two_deliveries(tmp_path):
    numbers = planted()
    inbox = tmp_path / "inbox"
    for n in numbers[:2]:
        (inbox / "1384" / "procapita" / n).mkdir(parents=True)
    shutil.copyfile(EKB, inbox / "1384" / "procapita" / numbers[0] / "ekb.txt")
    shutil.copyfile(SAMPLE_INBOX / "1384/procapita/ekb_2022.txt",
                    inbox / "1384" / "procapita" / numbers[1] / "ekb.txt")
    result = run(inbox, tmp_path / "u.duckdb")
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(tmp_path / "u.duckdb"), read_only=True) as con:
        paths = con.execute("select path from meta.delivery where status = 'LOADED'").fetchall()
    assert len({p for (p,) in paths}) == 2
    assert hits(result.output, forms_of(numbers)) == []


# --- empty files, control characters, a file of one line ------------------------------------------


def test_empty_files_are_each_rejected_as_empty_and_named(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "1384" / "procapita").mkdir(parents=True)
    shutil.copyfile(EKB, inbox / "1384" / "procapita" / "ekb_2021.txt")
    for name in ("tom_a.txt", "tom_b.txt", "tom_c.csv"):
        (inbox / "1384" / "procapita" / name).write_bytes(b"")
    result = run(inbox, tmp_path / "u.duckdb")
    assert result.exit_code == 0, result.output
    assert "duplicates 0, rejected 3" in result.output
    for name in ("tom_a.txt", "tom_b.txt", "tom_c.csv"):
        assert f"rejected: 1384/procapita/{name}: the file is empty" in result.output


def test_control_characters_in_a_name_are_printed_escaped(tmp_path):
    inbox = tmp_path / "inbox"
    folder = inbox / "1384" / "procapita"
    folder.mkdir(parents=True)
    shutil.copyfile(EKB, folder / "ekb_2021.txt")
    forged = "x\nFiles: 99 (loaded 99)\x1b[2K\r.txt"
    (folder / forged).write_bytes(b"not an export at all\n")
    result = run(inbox, tmp_path / "u.duckdb")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\r" not in result.output
    assert not any(line.startswith("Files: 99") for line in result.output.splitlines())
    assert "x\\nFiles: 99 (loaded 99)\\x1b[2K\\r.txt" in result.output
    with duckdb.connect(str(tmp_path / "u.duckdb"), read_only=True) as con:
        stored = [p for (p,) in con.execute("select path from meta.delivery").fetchall()]
    assert not any("\n" in p or "\x1b" in p for p in stored)


def test_a_file_of_one_50_mb_line_is_rejected_by_name_without_a_traceback(tmp_path, capfd):
    inbox = tmp_path / "inbox"
    folder = inbox / "1384" / "procapita"
    folder.mkdir(parents=True)
    shutil.copyfile(EKB, folder / "ekb_2021.txt")
    with (folder / "en_rad.txt").open("w") as fh:
        fh.write("Personnummer;Belopp;" * (50 * 2**20 // 20))
    result = run(inbox, tmp_path / "u.duckdb")
    assert result.exit_code == 0, result.output
    assert "rejected: 1384/procapita/en_rad.txt: no line break in its first 256 kB" \
        in result.output
    assert "Traceback" not in capfd.readouterr().err


# --- a researcher's read-only connection ------------------------------------------------------


def _hold_read_only(db: str, opened, done) -> None:
    with duckdb.connect(db, read_only=True) as con:
        con.execute("select count(*) from meta.delivery").fetchall()
        opened.set()
        done.wait(120)


def test_a_read_only_connection_does_not_stop_the_run(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "1384" / "procapita").mkdir(parents=True)
    shutil.copyfile(EKB, inbox / "1384" / "procapita" / "ekb_2021.txt")
    db = tmp_path / "u.duckdb"
    assert run(inbox, db).exit_code == 0
    shutil.copyfile(SAMPLE_INBOX / "1384/procapita/ekb_2022.txt",
                    inbox / "1384" / "procapita" / "ekb_2022.txt")
    ctx = multiprocessing.get_context("spawn")
    opened, done = ctx.Event(), ctx.Event()
    reader = ctx.Process(target=_hold_read_only, args=(str(db), opened, done))
    reader.start()
    try:
        assert opened.wait(60)
        result = run(inbox, db)
    finally:
        done.set()
        reader.join(60)
    assert result.exit_code == 0, result.output
    assert "added: 1384/procapita/ekb_2022.txt" in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from meta.delivery where status = 'LOADED'"
                           ).fetchone()[0] == 2


def _hold_for_writing(db: str, opened, done) -> None:
    with duckdb.connect(db) as con:
        con.execute("select 1").fetchall()
        opened.set()
        done.wait(120)


def test_a_writing_connection_is_named_as_one(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "1384" / "procapita").mkdir(parents=True)
    shutil.copyfile(EKB, inbox / "1384" / "procapita" / "ekb_2021.txt")
    db = tmp_path / "u.duckdb"
    assert run(inbox, db).exit_code == 0
    ctx = multiprocessing.get_context("spawn")
    opened, done = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=_hold_for_writing, args=(str(db), opened, done))
    writer.start()
    try:
        assert opened.wait(60)
        result = run(inbox, db)
    finally:
        done.set()
        writer.join(60)
    assert result.exit_code == 1
    assert "is open for writing by another program (PID" in result.output
    assert "--wait" in result.output
