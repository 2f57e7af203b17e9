"""The set-based layers: create the schemas, staging -> core, core -> marts. One implementation,
called by both `utfall run` and the Dagster assets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from utfall import folder
from utfall.marts import catalogue
from utfall.schemas import code_labels, codes

DDL_DIR = folder("schemas") / "ddl"
CORE_DDL = DDL_DIR / "30_core.sql"
MARTS_DDL = DDL_DIR / "40_marts.sql"
CODES_DDL = DDL_DIR / "50_codes.sql"
CORE_SQL = folder("schemas") / "core" / "core.sql"
FS_MONTH_SQL = folder("schemas") / "core" / "fs_month.sql"
# payment lines per run of fs_month.sql: at national scale (28 million lines) 16 groups took half
# the time and memory of one
FS_MONTH_CHUNK_ROWS = 2_000_000
MARTS_SQL_DIR = folder("marts") / "sql"
DEFAULT_MIN_CELL = 5


def run_sql_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(path.read_text(encoding="utf-8"))


def create_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the contract (idempotent), load the code lists and comment every
    table and column, so that DBeaver or the DuckDB CLI show what the data dictionary says."""
    for path in sorted(DDL_DIR.glob("*.sql")):
        run_sql_file(con, path)
    load_code_lists(con)
    comment_on(con)


def load_code_lists(con: duckdb.DuckDBPyConnection) -> None:
    """The code lists with their labels. Dropped and created again from the contract: a database
    built before a column was added (label_sv, label_en) must not keep the old shape."""
    recreate_tables(con, "codes", CODES_DDL)
    for name in codes.CODE_LISTS:
        con.executemany(f"insert into codes.{name} (code, sort_order, label_sv, label_en) "
                        "values (?, ?, ?, ?)", code_labels.code_rows(name))
    con.executemany("insert into codes.breakdown (dimension, dimension_value, sort_order, "
                    "spell_only, label_sv, label_en) values (?, ?, ?, ?, ?, ?)",
                    code_labels.breakdown_rows())


def comment_on(con: duckdb.DuckDBPyConnection, schema: str | None = None) -> None:
    """COMMENT ON every table and column of the contract (of one schema, or all), with the texts
    of the data dictionary. Again after every re-creation: a dropped table loses its comments."""
    from utfall.dictionary import comment_statements  # it imports this module

    statements = comment_statements(con, schema)
    if statements:
        con.execute(";\n".join(statements))


@dataclass
class CoreBuild:
    """Which municipalities' core.fs_month rows a build kept and which it computed."""

    kept: list[str] = field(default_factory=list)
    computed: list[str | None] = field(default_factory=list)


def build_core(con: duckdb.DuckDBPyConnection, code: str | None = None) -> CoreBuild:
    """Core is rebuilt whole but for core.fs_month's rows of the municipalities whose inputs are
    those they were computed from (meta.core_part; `code`: the digest of utfall's code, None to
    keep nothing). Tables are dropped and created again from the contract: deleting a million
    rows under a primary key took 13-20 s at national scale, dropping none."""
    parts = _core_parts(con, code)
    with_lines = {k for (k,) in con.execute(
        "select distinct kommun_kod from staging.procapita_fs_line").fetchall()}
    kept = [k for k in _kept_parts(con, parts) if k in with_lines]
    if kept:
        con.execute("create or replace temp table fs_month_kept as select * from core.fs_month "
                    "where list_contains(?, kommun_kod)", [kept])
    recreate_tables(con, "core", CORE_DDL)
    run_sql_file(con, CORE_SQL)
    if kept:
        con.execute("insert into core.fs_month select * from fs_month_kept")
        con.execute("drop table fs_month_kept")
    computed: list[str | None] = []
    for kommuner in kommun_chunks(con, "staging.procapita_fs_line", FS_MONTH_CHUNK_ROWS, kept):
        con.execute("set variable core_kommuner = ?", [kommuner])
        run_sql_file(con, FS_MONTH_SQL)
        computed += kommuner
    con.execute("delete from meta.core_part")
    if parts:
        con.executemany("insert into meta.core_part values (?, ?)", sorted(parts.items()))
    return CoreBuild(kept, computed)


def _core_parts(con: duckdb.DuckDBPyConnection, code: str | None) -> dict[str, str]:
    """Each municipality's digest of what its staging rows come from: a file re-read (on another
    day: dates after the run date are quarantined) or loaded anew changes it."""
    if code is None:
        return {}
    return dict(con.execute(
        "select kommun_kod, sha256(? || ':' || kommun_kod || ':' || string_agg(concat_ws("
        "'|', delivery_id, load_key, read_on, rows_loaded), ',' order by delivery_id)) "
        "from meta.delivery where status = 'LOADED' and kommun_kod is not null group by kommun_kod",
        [code]).fetchall())


def _kept_parts(con: duckdb.DuckDBPyConnection, parts: dict[str, str]) -> list[str]:
    """The municipalities whose core.fs_month rows stand: the same digest as when computed."""
    if not parts or not con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'core' "
            "and table_name = 'fs_month'").fetchone()[0]:
        return []
    before = dict(con.execute("select kommun_kod, part_key from meta.core_part").fetchall())
    return sorted(k for k, key in parts.items() if before.get(k) == key)


def recreate_tables(con: duckdb.DuckDBPyConnection, schema: str, ddl: Path) -> None:
    """Empty a layer's tables by dropping them and running their contract (DDL) again."""
    for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = ?", [schema]).fetchall():
        con.execute(f"drop table {schema}.{table}")
    run_sql_file(con, ddl)
    comment_on(con, schema)


def kommun_chunks(con: duckdb.DuckDBPyConnection, table: str, max_rows: int,
                  leave_out: list[str] = ()) -> list[list[str | None]]:
    """The table's municipalities but `leave_out` in groups of at most `max_rows` rows (a larger
    one alone), in code order, a null kommun_kod first: for work done group by group to bound
    its memory."""
    left_out = set(leave_out)
    counts = [(kommun, n) for kommun, n in con.execute(
        f"select kommun_kod, count(*) from {table} group by all order by kommun_kod nulls first"
    ).fetchall() if kommun not in left_out]
    chunks: list[list[str | None]] = []
    rows = max_rows
    for kommun, n in counts:
        if rows + n > max_rows:
            chunks.append([])
            rows = 0
        chunks[-1].append(kommun)
        rows += n
    return chunks


def build_marts(con: duckdb.DuckDBPyConnection, as_of: date, min_cell: int = DEFAULT_MIN_CELL) -> None:
    """participation_spell, kpi, the exact kpi_value and kpi_published as of `as_of`."""
    con.execute(f"set variable as_of = date '{as_of.isoformat()}'")
    con.execute(f"set variable min_cell = {int(min_cell)}")
    recreate_tables(con, "marts", MARTS_DDL)  # as in build_core
    con.executemany("insert into marts.kpi values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", catalogue.rows())
    for path in sorted(MARTS_SQL_DIR.glob("*.sql")):
        run_sql_file(con, path)

