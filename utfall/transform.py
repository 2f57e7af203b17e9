"""The set-based layers: create the schemas, staging -> core, core -> marts. One implementation,
called by both `utfall run` and the Dagster assets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from marts import catalogue
from schemas import codes

ROOT = Path(__file__).resolve().parent.parent
DDL_DIR = ROOT / "schemas" / "ddl"
CORE_SQL = ROOT / "schemas" / "core" / "core.sql"
MARTS_SQL_DIR = ROOT / "marts" / "sql"
DEFAULT_MIN_CELL = 5


def run_sql_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(path.read_text(encoding="utf-8"))


def create_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the contract (idempotent) and load the code lists."""
    for path in sorted(DDL_DIR.glob("*.sql")):
        run_sql_file(con, path)
    load_code_lists(con)


def load_code_lists(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists codes")
    for name, values in codes.CODE_LISTS.items():
        con.execute(f"create or replace table codes.{name} (code varchar primary key, sort_order integer)")
        con.executemany(f"insert into codes.{name} values (?, ?)", [(v, i) for i, v in enumerate(values, 1)])


def build_core(con: duckdb.DuckDBPyConnection) -> None:
    run_sql_file(con, CORE_SQL)


def latest_covered_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """Default as_of: the last day of the latest month any loaded delivery covers."""
    row = con.execute(
        "select last_day(max(period_end)) from meta.delivery where status = 'LOADED'"
    ).fetchone()
    return row[0] if row and row[0] else None


def build_marts(con: duckdb.DuckDBPyConnection, as_of: date, min_cell: int = DEFAULT_MIN_CELL) -> None:
    """participation_spell, kpi and kpi_value as of `as_of`."""
    con.execute(f"set variable as_of = date '{as_of.isoformat()}'")
    con.execute(f"set variable min_cell = {int(min_cell)}")
    con.execute("delete from marts.kpi")
    con.executemany("insert into marts.kpi values (?, ?, ?, ?, ?, ?, ?, ?)", catalogue.rows())
    for path in sorted(MARTS_SQL_DIR.glob("*.sql")):
        run_sql_file(con, path)

