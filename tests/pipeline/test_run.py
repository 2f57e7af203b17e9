"""The whole run on data/sample, end to end, through the public entry points."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
from utfall import keys, transform
from utfall.cli import main
from utfall.run import code_digest, run

pytestmark = pytest.mark.pipeline

CONTRACT_TABLES = [
    "core.person", "core.insats_episode", "core.fs_month", "core.fs_coverage",
    "core.status_observation", "core.progression_assessment", "marts.participation_spell",
    "marts.kpi", "marts.kpi_value", "marts.kpi_published", "meta.delivery", "meta.quarantine",
]


def q(db: Path, sql: str, params=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_every_contract_table_is_built_and_filled(sample_run):
    summary, _ = sample_run
    for table in CONTRACT_TABLES:
        assert q(summary.db_path, f"select count(*) from {table}")[0][0] > 0, table
    assert summary.report_path.exists()


def test_every_loaded_file_reconciles(sample_run):
    summary, _ = sample_run
    bad = q(summary.db_path, "select path from meta.delivery where status = 'LOADED' and "
                             "rows_read <> rows_loaded + rows_quarantined + rows_skipped")
    assert bad == []
    quarantined = q(summary.db_path, "select sum(rows_quarantined) from meta.delivery")[0][0]
    assert quarantined == q(summary.db_path, "select count(*) from meta.quarantine")[0][0]


def test_a_municipality_without_configuration_loads_with_defaults(sample_run):
    summary, _ = sample_run
    assert not (CONFIG_DIR / "1401.yaml").exists()
    rows = q(summary.db_path, "select status, rows_loaded from meta.delivery where kommun_kod = '1401'")
    assert rows and all(status == "LOADED" and loaded > 0 for status, loaded in rows)
    assert q(summary.db_path, "select count(*) from core.insats_episode where kommun_kod = '1401'")[0][0] > 0


def test_duplicate_and_corrupt_files_are_recorded_not_loaded(sample_run):
    summary, _ = sample_run
    statuses = dict(q(summary.db_path, "select status, count(*) from meta.delivery group by all"))
    assert statuses.get("DUPLICATE") == 1
    assert statuses.get("REJECTED") == 1
    message = q(summary.db_path, "select message from meta.delivery where status = 'REJECTED'")[0][0]
    assert message and "/" in message  # names the file


def test_kpis_exist_for_every_municipality_and_alla(sample_run):
    summary, _ = sample_run
    kommuner = {r[0] for r in q(summary.db_path, "select distinct kommun_kod from marts.kpi_value "
                                                 "where kpi_id = 'AME_AVSLUTADE'")}
    assert {"1480", "1384", "1415", "1402", "1401", "ALLA"} <= kommuner
    for kpi in ("AME_STARTADE", "AME_AVSLUTADE", "AME_ARB_STUD_3M", "AME_ARB_STUD_6M",
                "AME_ARB_STUD_12M", "AME_OKAND_3M", "AME_EJ_FS_6M", "FS_LANGVARIGT"):
        assert q(summary.db_path, "select count(*) from marts.kpi_value where kpi_id = ? and "
                                  "kommun_kod = 'ALLA' and dimension = 'TOTAL'", [kpi])[0][0] > 0, kpi


def test_summary_counts_the_published_table(sample_run):
    """utfall run's summary counts what leaves the analysts: marts.kpi_published."""
    summary, _ = sample_run
    rows, suppressed = q(summary.db_path, "select count(*), count(*) filter (where suppressed) "
                                          "from marts.kpi_published")[0]
    assert (summary.kpi_rows, summary.kpi_suppressed) == (rows, suppressed)
    assert 0 < suppressed < rows


def _kpi_rows(db: Path):
    return (q(db, "select * from marts.kpi_value order by all"),
            q(db, "select * from marts.kpi_published order by all"))


def test_running_twice_loads_nothing_new_and_gives_identical_tables(tmp_path):
    db = tmp_path / "u.duckdb"
    run(SAMPLE_INBOX, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    first = _kpi_rows(db)
    second = run(SAMPLE_INBOX, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    assert second.ingest.count("LOADED") == 0
    assert _kpi_rows(db) == first


def test_core_built_municipality_by_municipality_equals_core_built_at_once(sample_run, tmp_path,
                                                                          monkeypatch):
    summary, _ = sample_run
    db = tmp_path / "u.duckdb"
    shutil.copy(summary.db_path, db)
    monkeypatch.setattr(transform, "FS_MONTH_CHUNK_ROWS", 1)  # every municipality alone
    with duckdb.connect(str(db)) as con:
        assert len(transform.kommun_chunks(con, "staging.procapita_fs_line", 1)) == 3  # procapita kommuner
        transform.build_core(con)
    for table in CONTRACT_TABLES[:6]:
        once = q(summary.db_path, f"select * from {table} order by all")
        assert once and q(db, f"select * from {table} order by all") == once, table


def test_core_keeps_the_fs_months_of_municipalities_whose_deliveries_are_unchanged(
        sample_run, tmp_path):
    """core.fs_month per municipality (issue 24): with the same code and the same loaded
    deliveries a municipality's rows stand; another code, or none given, computes every one."""
    summary, _ = sample_run
    db = tmp_path / "u.duckdb"
    shutil.copy(summary.db_path, db)
    everyone = ["1384", "1415", "1480"]  # the sample's municipalities with payment lines
    with duckdb.connect(str(db)) as con:
        assert transform.build_core(con, code_digest()) == transform.CoreBuild(everyone, [])
        assert transform.build_core(con, "other code") == transform.CoreBuild([], everyone)
        assert transform.build_core(con, "other code") == transform.CoreBuild(everyone, [])
        assert transform.build_core(con) == transform.CoreBuild([], everyone)
        assert con.execute("select count(*) from meta.core_part").fetchone() == (0,)
    for table in CONTRACT_TABLES[:6]:
        assert q(db, f"select * from {table} order by all") == q(
            summary.db_path, f"select * from {table} order by all"), table


def test_a_corrected_file_computes_its_municipalitys_fs_months_alone(tmp_path, caplog):
    """The run after one municipality's correction equals a fresh build of the same inbox."""
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_INBOX, inbox)
    db, fresh = tmp_path / "u.duckdb", tmp_path / "fresh.duckdb"
    run(inbox, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    path = inbox / "1384/procapita/ekb_2022.txt"
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-40]))
    caplog.set_level("INFO", logger="utfall.run")
    run(inbox, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    assert caplog.messages[-1] == "core.fs_month: 2 municipalities kept, 1 computed"
    run(inbox, fresh, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    for table in [*CONTRACT_TABLES[:10], "meta.core_part"]:  # meta.delivery keeps history
        assert q(db, f"select * from {table} order by all") == q(
            fresh, f"select * from {table} order by all"), table


def test_corrected_redelivery_replaces_the_earlier_version(tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_INBOX, inbox)
    db = tmp_path / "u.duckdb"
    run(inbox, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    target = sorted((inbox / "1480" / "procapita").glob("*.csv"))[0]
    rel = target.relative_to(inbox).as_posix()
    lines = target.read_bytes().split(b"\r\n")
    target.write_bytes(b"\r\n".join(lines[:-3] + [b""]))  # the corrected file drops two lines
    before = q(db, "select rows_read from meta.delivery where path = ?", [rel])[0][0]
    summary = run(inbox, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    assert [f.rel_path for f in summary.ingest.files if f.status == "LOADED"] == [rel]
    rows = q(db, "select status, rows_read, replaced_by is not null from meta.delivery "
                 "where path = ? order by loaded_at", [rel])
    assert rows == [("REPLACED", before, True), ("LOADED", before - 2, False)]


def test_failed_build_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "u.duckdb"
    run(SAMPLE_INBOX, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    before = db.read_bytes()
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_INBOX, inbox)

    def broken_marts(*args, **kwargs):
        raise RuntimeError("injected failure inside the build")

    monkeypatch.setattr(transform, "build_marts", broken_marts)
    with pytest.raises(RuntimeError, match="injected"):
        run(inbox, db, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".u.duckdb.*"))
    assert q(db, "select count(*) from marts.kpi_value")[0][0] > 0


def test_cli_without_a_key_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("UTFALL_KEY", raising=False)
    (tmp_path / "inbox").mkdir()
    result = CliRunner().invoke(main, ["run", "--inbox", str(tmp_path / "inbox"),
                                       "--db", str(tmp_path / "u.duckdb")])
    assert result.exit_code != 0
    assert "utfall keygen" in result.output
    assert not (tmp_path / "u.duckdb").exists()


def test_cli_refuses_the_demo_key_on_another_inbox(tmp_path):
    (tmp_path / "inbox").mkdir()
    result = CliRunner().invoke(main, ["run", "--inbox", str(tmp_path / "inbox"),
                                       "--db", str(tmp_path / "u.duckdb"), "--demo-key"])
    assert result.exit_code != 0 and "only for the bundled sample" in result.output


def test_cli_run_with_a_generated_key(tmp_path):
    key = tmp_path / "key"
    assert CliRunner().invoke(main, ["keygen", "--out", str(key)]).exit_code == 0
    assert key.stat().st_mode & 0o077 == 0
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_INBOX / "1401", inbox / "1401")
    result = CliRunner().invoke(main, ["run", "--inbox", str(inbox), "--db", str(tmp_path / "u.duckdb"),
                                       "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and "Published KPI rows:" in result.output
    assert "Disclosure audit: Granskning av den publicerade tabellen" in result.output


FAULT_REASONS = {
    "pnr_bad_check_digit": "PNR_INVALID", "pnr_impossible_date": "PNR_INVALID",
    "start_date_unparseable": "DATE_INVALID", "end_before_start": "END_BEFORE_START",
}
UNMAPPED_FIELDS = {"insats_unmapped": "insats_typ", "status_unmapped": "status",
                   "end_reason_unmapped": "end_reason"}


def test_quarantine_and_unmapped_match_the_faults_planted_in_each_file(sample_run):
    import json
    from collections import Counter

    summary, _ = sample_run
    manifest = json.loads((SAMPLE_INBOX.parent / "manifest.json").read_text(encoding="utf-8"))
    for path, entry in manifest["files"].items():
        if entry["kind"] in ("corrupt", "duplicate"):
            continue
        expected = Counter()
        for fault, n in entry["faults"].items():
            if fault in FAULT_REASONS:
                expected[FAULT_REASONS[fault]] += n
        got = Counter(dict(q(summary.db_path, "select reason, count(*) from meta.quarantine "
                                              "where path = ? group by reason", [path])))
        assert got == expected, path
        for fault, field in UNMAPPED_FIELDS.items():
            if fault in entry["faults"]:
                n = q(summary.db_path, "select coalesce(sum(n), 0) from meta.unmapped_value as u "
                                       "join meta.delivery as d using (delivery_id) "
                                       "where d.path = ? and u.field = ?", [path, field])[0][0]
                assert n == entry["faults"][fault], (path, field)


def test_cli_unmapped_lists_values_per_municipality_with_counts(sample_run):
    summary, _ = sample_run
    result = CliRunner().invoke(main, ["unmapped", "--db", str(summary.db_path)])
    assert result.exit_code == 0, result.output
    expected = q(summary.db_path, "select u.kommun_kod, u.field, u.value_local, sum(u.n) "
                                  "from meta.unmapped_value u join meta.delivery d using (delivery_id) "
                                  "where d.status = 'LOADED' group by all")
    assert expected  # the sample has unmapped values on purpose
    for kommun, field, value, n in expected:
        assert f"{kommun} " in result.output
        assert any(field in line and value in line and str(int(n)) in line
                   for line in result.output.splitlines())


def test_cli_export_writes_only_published_values(sample_run, tmp_path):
    import pandas as pd

    summary, _ = sample_run
    result = CliRunner().invoke(main, ["export", "--db", str(summary.db_path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "utfall-kpi-DEMO.csv", sep=";", decimal=",",
                        encoding="utf-8-sig", dtype={"Kommun (kommun_kod)": str})
    # the headings are "Swedish name (code)" (tests/test_export_headings.py): read the codes
    frame = frame.rename(columns=lambda c: c[c.rindex("(") + 1:-1])
    assert list(frame.columns) == ["kpi_id", "kommun_kod", "period", "period_type", "dimension",
                                   "dimension_value", "unit", "numerator", "denominator", "value",
                                   "ci_low", "ci_high", "suppressed"]
    assert len(frame) == q(summary.db_path, "select count(*) from marts.kpi_published")[0][0]
    assert set(frame["suppressed"]) == {"ja", "nej"}
    suppressed = frame["suppressed"] == "ja"
    assert frame.loc[suppressed, ["numerator", "denominator", "value"]].isna().all().all()
    # quarters only for TOTAL: the published table links fewer cells
    assert set(frame.loc[frame["period_type"] == "QUARTER", "dimension"]) == {"TOTAL"}
    assert (tmp_path / "utfall-kpi-DEMO.xlsx").exists()
