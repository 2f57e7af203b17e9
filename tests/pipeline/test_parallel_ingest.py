"""Files are read in worker processes on large inboxes: what lands in the database must be the
same, row for row and in the same order of deliveries, as when one process reads them all."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from tests.pipeline.conftest import CONFIG_DIR, SAMPLE_INBOX
from utfall import keys, reading, transform
from utfall.adapters.config import ConfigStore
from utfall.ingest import STAGING_TABLES, ingest

TODAY = date(2026, 11, 23)


def _ingested(tmp_path, name: str, workers: int) -> tuple[duckdb.DuckDBPyConnection, list]:
    con = duckdb.connect(str(tmp_path / f"{name}.duckdb"))
    transform.create_schemas(con)
    summary = ingest(con, SAMPLE_INBOX, ConfigStore(CONFIG_DIR), keys.demo(), TODAY,
                     workers=workers)
    return con, summary.files


def _rows(con, table: str, drop: tuple[str, ...] = ()) -> list[tuple]:
    columns = [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema || '.' || "
        "table_name = ? order by ordinal_position", [table]).fetchall() if c not in drop]
    listed = ", ".join(columns)
    return con.execute(f"select {listed} from {table} order by all").fetchall()


def test_reading_in_two_processes_loads_exactly_what_one_process_loads(tmp_path, monkeypatch):
    serial, serial_files = _ingested(tmp_path, "serial", workers=1)
    monkeypatch.setattr(reading, "PARALLEL_FROM_FILES", 1)
    parallel, parallel_files = _ingested(tmp_path, "parallel", workers=2)

    assert [(f.rel_path, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined)
            for f in parallel_files] == [
        (f.rel_path, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined)
        for f in serial_files]
    assert sum(f.rows_loaded for f in parallel_files) > 20_000
    assert all(f.read_seconds > 0 for f in parallel_files if f.status == "LOADED")
    for table in [f"staging.{t}" for t in STAGING_TABLES] + ["meta.quarantine",
                                                             "meta.unmapped_value"]:
        assert _rows(parallel, table) == _rows(serial, table), table
    assert _rows(parallel, "meta.delivery", drop=("loaded_at",)) == _rows(
        serial, "meta.delivery", drop=("loaded_at",))
    # ingest appends in any order, and gives the connection back as it found it
    for con in (serial, parallel):
        assert con.execute("select current_setting('preserve_insertion_order')").fetchone() == (
            True,)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_unreadable_file_is_rejected_and_the_rest_load(tmp_path, monkeypatch,
                                                                      workers):
    inbox = tmp_path / "inbox" / "1480" / "procapita"
    inbox.mkdir(parents=True)
    good = "Personnummer;Hushållsnummer;Avser månad;Belopp\n19850312-2387;H1;2024-01;1200,00\n"
    for month in range(1, 4):
        (inbox / f"utbetalningar_2024{month:02}.csv").write_text(good.replace("2024-01",
                                                                              f"2024-{month:02}"))
    (inbox / "trasig.csv").write_bytes(b"\x00\x01\x02" * 10)
    monkeypatch.setattr(reading, "PARALLEL_FROM_FILES", 1)
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    transform.create_schemas(con)
    files = ingest(con, tmp_path / "inbox", ConfigStore(CONFIG_DIR), keys.demo(), TODAY,
                   workers=workers).files
    assert [(f.rel_path.rsplit("/", 1)[1], f.status) for f in files] == [
        ("trasig.csv", "REJECTED"), ("utbetalningar_202401.csv", "LOADED"),
        ("utbetalningar_202402.csv", "LOADED"), ("utbetalningar_202403.csv", "LOADED")]
    assert con.execute("select count(*) from staging.procapita_fs_line").fetchone() == (3,)


@pytest.mark.parametrize("per_worker, ahead_bytes", [(1, 1), (24, 1), (24, 10**12)])
def test_read_ahead_bounds_keep_the_order(tmp_path, monkeypatch, per_worker, ahead_bytes):
    """However few files the window lets the workers read ahead, every file comes back, in order."""
    monkeypatch.setattr(reading, "PARALLEL_FROM_FILES", 1)
    monkeypatch.setattr(reading, "AHEAD_PER_WORKER", per_worker)
    monkeypatch.setattr(reading, "AHEAD_BYTES", ahead_bytes)
    _, files = _ingested(tmp_path, "bounded", workers=2)
    _, serial_files = _ingested(tmp_path, "serial", workers=1)
    assert [(f.rel_path, f.rows_read, f.rows_loaded) for f in files] == [
        (f.rel_path, f.rows_read, f.rows_loaded) for f in serial_files]
