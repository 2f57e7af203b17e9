"""The set-based layers: create the schemas, staging -> core, core -> marts. One implementation,
called by both `utfall run` and the Dagster assets."""

from __future__ import annotations

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


def build_core(con: duckdb.DuckDBPyConnection) -> None:
    """Core is rebuilt whole. Its tables are dropped and created again from the contract first:
    deleting a million rows under a primary key took 13-20 s at national scale, dropping none."""
    recreate_tables(con, "core", CORE_DDL)
    run_sql_file(con, CORE_SQL)
    for kommuner in kommun_chunks(con, "staging.procapita_fs_line", FS_MONTH_CHUNK_ROWS):
        con.execute("set variable core_kommuner = ?", [kommuner])
        run_sql_file(con, FS_MONTH_SQL)


def recreate_tables(con: duckdb.DuckDBPyConnection, schema: str, ddl: Path) -> None:
    """Empty a layer's tables by dropping them and running their contract (DDL) again."""
    for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = ?", [schema]).fetchall():
        con.execute(f"drop table {schema}.{table}")
    run_sql_file(con, ddl)
    comment_on(con, schema)


def kommun_chunks(con: duckdb.DuckDBPyConnection, table: str,
                  max_rows: int) -> list[list[str | None]]:
    """The table's municipalities in groups of at most `max_rows` rows (a larger one alone), in
    code order, a null kommun_kod first: for work done group by group to bound its memory."""
    counts = con.execute(
        f"select kommun_kod, count(*) from {table} group by all order by kommun_kod nulls first"
    ).fetchall()
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

