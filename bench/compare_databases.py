"""Two utfall databases table by table: the same tables, and in each the same rows (an order-free
digest of every row, all columns but those that record when or by which run it was built).

    python -m bench.compare_databases build/before.duckdb build/after.duckdb

Exit status 0 when they are equal, 1 with the tables that differ. For a move of code that must not
change behaviour (a refactoring, a batched ingest against the per-file one): build the same inbox
with the same key and `--as-of` before and after, then compare.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

# columns that say when, in which run or by which version of the code a row was written: they
# differ between any two builds (a digest of the adapters' code is part of a file's load key)
RUN_COLUMNS = {"run_id", "started_at", "finished_at", "loaded_at", "read_at", "checked_at",
               "created_at", "seconds", "fingerprint", "code", "content_key", "summary_sv",
               "inbox", "adapter_version", "load_key"}


def table_digests(path: Path, ignore: set[str]) -> dict[str, tuple]:
    """{schema.table: (rows, order-free digest of the kept columns, kept columns)}."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("select schema_name, table_name from duckdb_tables() "
                             "where not temporary order by all").fetchall()
        for schema, table in tables:
            columns = [c for (c,) in con.execute(
                "select column_name from duckdb_columns() where schema_name = ? and "
                "table_name = ? order by column_index", [schema, table]).fetchall()
                if c not in ignore]
            row = ", ".join(f'"{c}"' for c in columns) or "null"
            out[f"{schema}.{table}"] = con.execute(
                f"select count(*), bit_xor(md5_number(row({row})::varchar)), "
                f"sum(md5_number_lower(row({row})::varchar)::hugeint) "
                f'from "{schema}"."{table}"').fetchone() + (tuple(columns),)
    return out


def compare(a: Path, b: Path, ignore: set[str] = RUN_COLUMNS) -> tuple[dict[str, int], list[str]]:
    """(rows in each table of a, the differences between a and b, each in words)."""
    left, right = table_digests(a, ignore), table_digests(b, ignore)
    lines = [f"only in {a}: {t}" for t in sorted(left.keys() - right.keys())]
    lines += [f"only in {b}: {t}" for t in sorted(right.keys() - left.keys())]
    for t in sorted(left.keys() & right.keys()):
        if left[t][3] != right[t][3]:
            lines.append(f"{t}: other columns ({', '.join(left[t][3])} / {', '.join(right[t][3])})")
        elif left[t][:3] != right[t][:3]:
            lines.append(f"{t}: other rows ({left[t][0]} / {right[t][0]} rows)")
    return {t: digest[0] for t, digest in left.items()}, lines


def differences(a: Path, b: Path, ignore: set[str] = RUN_COLUMNS) -> list[str]:
    return compare(a, b, ignore)[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--ignore", default="", help="more columns to leave out, comma-separated")
    args = ap.parse_args(argv)
    ignore = RUN_COLUMNS | {c for c in args.ignore.split(",") if c}
    found = differences(args.a, args.b, ignore)
    print("\n".join(found) if found else "equal, table by table")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
