"""The data dictionary, generated from the table contracts (schemas/ddl/*.sql) so it cannot drift:
types come from DuckDB itself, meanings from the comment beside each column, else from the
glossary of "-- column name: meaning" lines for columns that mean the same in every table. The
same texts become the database's own comments (COMMENT ON), so that a researcher in DBeaver or
the DuckDB CLI reads them beside the data; the definitions behind them are in docs/method.md."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from utfall import transform

_CREATE = re.compile(r"create table if not exists (\w+)\.(\w+) \(")
_ALTER = re.compile(r"alter table (\w+)\.(\w+) add column (?:if not exists )?(\w+)[^-]*(?:--\s*(.*))?$")
# "-- column name: meaning", for a column that means the same in every table where it has no
# comment of its own; {h} stands for a horizon in months, any other {x} for a word.
_GLOSSARY = re.compile(r"^--\s*column\s+([\w{}]+):\s*(.+)$")
_NOT_COLUMNS = {"primary", "unique", "check", "foreign", "constraint"}
# The schemas of the contract, in the dictionary's order.
SCHEMAS = ("core", "marts", "staging", "meta", "codes")
# A table's description where its contract has none above it (20_staging.sql is part of the
# adapters' version, so its tables are described here rather than by a comment there).
LAYER = {
    "staging": "rows of one kind of extract as the adapters read them from the inbox, typed and "
               "pseudonymised, each with its delivery, file row and sheet",
    "meta": "what was delivered, loaded, rejected and checked",
    "core": "the common schema every source is turned into "
            "(docs/method.md, \"Sources and the common tables\")",
    "marts": "participation spells and KPIs as of the build's as_of (docs/method.md)",
    "codes": "a code list with Swedish and English labels (docs/method.md, \"Code lists\")",
}
METHOD_DOC = "docs/method.md"

Comments = dict[tuple[str, str], tuple[str, dict[str, str]]]


def _line_columns(code: str) -> list[str]:
    """The column names declared on one line of a create table (types like decimal(14, 2) hold
    commas of their own)."""
    parts = re.sub(r"\([^)]*\)", "", code).split(",")
    names = [p.split()[0] for p in parts if p.split()]
    return [n for n in names if n.lower() not in _NOT_COLUMNS and re.fullmatch(r"\w+", n)]


def _comments(ddl: str, glossary: dict[str, str] | None = None) -> Comments:
    """(schema, table) -> (table comment, {column: comment}) from the DDL's comments. A line that
    declares several columns gives its comment to the last of them; glossary entries found are
    added to `glossary`."""
    out, above, current = {}, [], None
    glossary = {} if glossary is None else glossary
    for line in ddl.splitlines():
        code, _, comment = line.partition("--")
        comment = comment.strip()
        if m := _GLOSSARY.match(line.strip()):
            glossary[m.group(1)] = m.group(2).strip()
        elif m := _CREATE.search(line):
            current = (m.group(1), m.group(2))
            out[current] = (" ".join(above), {})
            above = []
        elif m := _ALTER.search(line):
            if m.group(4):
                out.setdefault((m.group(1), m.group(2)), ("", {}))[1][m.group(3)] = m.group(4).strip()
        elif current and line.startswith(")"):
            current = None
        elif current and code.strip():
            names = _line_columns(code)
            if names and comment:
                out[current][1][names[-1]] = comment
        elif not current and line.startswith("--"):
            above.append(line.lstrip("- ").strip())
        elif not line.strip():
            above = []
    return out


def _from_glossary(column: str, glossary: dict[str, str]) -> str:
    if column in glossary:
        return glossary[column]
    for pattern, meaning in glossary.items():
        if "{" not in pattern:
            continue
        names = re.findall(r"\{(\w+)\}", pattern)
        regex = re.escape(pattern)
        for name in names:
            regex = regex.replace(re.escape("{" + name + "}"),
                                  r"(\d+)" if name == "h" else r"(\w+?)")
        if m := re.fullmatch(regex, column):
            for name, value in zip(names, m.groups()):
                meaning = meaning.replace("{" + name + "}", value)
            return meaning
    return ""


def contracts() -> tuple[Comments, dict[str, str]]:
    """Every table's comments and the glossary, from schemas/ddl/*.sql."""
    comments, glossary = {}, {}
    for path in sorted(transform.DDL_DIR.glob("*.sql")):
        for table, (note, columns) in _comments(path.read_text(encoding="utf-8"), glossary).items():
            old_note, old_columns = comments.get(table, ("", {}))
            comments[table] = (note or old_note, {**old_columns, **columns})
    return comments, glossary


def _columns(con: duckdb.DuckDBPyConnection | None = None,
             schemas: tuple[str, ...] = SCHEMAS) -> list[tuple[str, str, str, str, str]]:
    """(schema, table, column, type, nullable) of the contract's tables in `con`, else in a new
    in-memory database built from the contract."""
    if con is None:
        with duckdb.connect() as fresh:
            transform.create_schemas(fresh)
            return _columns(fresh, schemas)
    order = " ".join(f"when '{name}' then {i}" for i, name in enumerate(SCHEMAS))
    return con.execute(
        "select table_schema, table_name, column_name, data_type, is_nullable "
        "from information_schema.columns where list_contains(?, table_schema) "
        f"order by case table_schema {order} end, table_name, ordinal_position",
        [list(schemas)]).fetchall()


def column_meanings(con: duckdb.DuckDBPyConnection | None = None,
                    schemas: tuple[str, ...] = SCHEMAS) -> dict[str, dict[str, str]]:
    """Every column's meaning, as {"schema.table": {column: meaning}} in table order; empty where
    the contract gives none. Dagster's column schemas can show the same texts."""
    comments, glossary = contracts()
    out: dict[str, dict[str, str]] = {}
    for schema, table, column, _, _ in _columns(con, schemas):
        own = comments.get((schema, table), ("", {}))[1].get(column, "")
        out.setdefault(f"{schema}.{table}", {})[column] = own or _from_glossary(column, glossary)
    return out


def table_note(schema: str, table: str, comments: Comments) -> str:
    """The comment above the table's create table, else what its layer is."""
    return comments.get((schema, table), ("", {}))[0] or f"{schema}.{table}: {LAYER[schema]}."


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(con: duckdb.DuckDBPyConnection, schema: str | None = None) -> list[str]:
    """COMMENT ON TABLE / COLUMN for every table and column of the contract that `con` holds (of
    one schema, or of all), with the dictionary's texts."""
    comments, _ = contracts()
    out = []
    for name, columns in column_meanings(con, (schema,) if schema else SCHEMAS).items():
        table_schema, table = name.split(".")
        out.append(f"comment on table {name} is {_quoted(table_note(table_schema, table, comments))}")
        out += [f"comment on column {name}.{column} is {_quoted(meaning)}"
                for column, meaning in columns.items() if meaning]
    return out


def generate() -> str:
    comments, _ = contracts()
    meanings = column_meanings()
    lines = ["# Data dictionary", "",
             "Generated by `utfall dictionary` from `schemas/ddl/*.sql`; do not edit by hand. "
             "The same texts are the database's own comments (`select * from duckdb_columns()`). "
             f"What the KPIs, spells and rules mean, exactly: [{METHOD_DOC}](method.md).", ""]
    current = None
    for schema, table, column, dtype, nullable in _columns():
        if (schema, table) != current:
            current = (schema, table)
            lines += ["", f"## {schema}.{table}", "", table_note(schema, table, comments), ""]
            lines += ["| column | type | null | meaning |", "|---|---|---|---|"]
        meaning = meanings[f"{schema}.{table}"][column].replace("|", "\\|")  # a table cell
        lines.append(f"| `{column}` | {dtype} | {'yes' if nullable == 'YES' else 'no'} | {meaning} |")
    return "\n".join(lines) + "\n"


def repository_copy(cwd: Path | None = None) -> Path | None:
    """The repository's docs/data_dictionary.md when utfall runs from a checkout of it and the
    current folder lies inside that checkout; else None. So a run elsewhere never leaves a
    docs/ folder in whatever folder it happens to be run from."""
    root = Path(__file__).resolve().parent.parent  # the checkout, when utfall/ is in one
    if not ((root / "pyproject.toml").is_file() and (root / "docs").is_dir()):
        return None  # an installed package: no repository to write into
    here = (cwd or Path.cwd()).resolve()
    return root / "docs" / "data_dictionary.md" if here.is_relative_to(root) else None


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate(), encoding="utf-8")
    return path
