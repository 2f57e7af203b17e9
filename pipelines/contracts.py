"""Asset specs from the table contracts: one asset per table of schemas/ddl, its description the
comment above its create table, its column schema DuckDB's types with utfall.dictionary's
meanings. Nothing here is written by hand per table but the lineage between layers."""

from __future__ import annotations

from functools import cache
from graphlib import TopologicalSorter

import dagster as dg
import duckdb

from utfall import transform
from utfall.dictionary import column_meanings, contracts
from utfall.pipelines.markdown import plain

SCHEMAS = ("staging", "meta", "core", "marts")
INBOX = dg.AssetKey(["inbox", "deliveries"])
REPORT = dg.AssetKey(["report", "comparison_html"])

# For a table whose contract has no comment above it: what its layer is (README, Layers).
LAYER = {
    "staging": "rows as the adapters read them from the inbox, pseudonymised, with their delivery",
    "meta": "what was delivered, loaded, rejected and checked",
    "core": "the common schema of spec/schema.md, built from staging",
    "marts": "spells and KPIs as of the build's as_of (spec/metrics.md)",
}
# What each meta table is filled from, as utfall.run fills it (the rest come from the inbox).
META_FROM = {
    "quality_check": ("core", "staging"), "field_completeness": ("staging",),
    "run": ("marts",), "run_warning": ("marts",), "disclosure_audit": ("marts.kpi_published",),
    "core_part": ("core.fs_month",),
}


@cache
def tables() -> tuple[tuple[str, str, tuple[tuple[str, str, bool], ...]], ...]:
    """(schema, table, ((column, type, nullable), ...)) of every table, in layer order."""
    with duckdb.connect() as con:
        transform.create_schemas(con)
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type, is_nullable = 'YES' "
            "from information_schema.columns where table_schema in ('staging', 'meta', 'core', "
            "'marts') order by table_schema, table_name, ordinal_position").fetchall()
    out: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    for schema, table, column, dtype, nullable in rows:
        out.setdefault((schema, table), []).append((column, dtype, nullable))
    order = {s: i for i, s in enumerate(SCHEMAS)}
    ordered = sorted(out.items(), key=lambda item: (order[item[0][0]], item[0][1]))
    return tuple((s, t, tuple(columns)) for (s, t), columns in ordered)


def keys_in(schema: str) -> list[dg.AssetKey]:
    return [dg.AssetKey([s, t]) for s, t, _ in tables() if s == schema]


def _deps(schema: str, table: str) -> list[dg.AssetKey]:
    if schema == "staging":
        return [INBOX]
    if schema == "core":
        return keys_in("staging")
    if schema == "marts":
        return keys_in("core")
    deps: list[dg.AssetKey] = []
    for source in META_FROM.get(table, ()):
        deps += [dg.AssetKey(source.split("."))] if "." in source else keys_in(source)
    return deps or [INBOX]


def _schema(schema: str, table: str, columns) -> dg.TableSchema:
    meanings = column_meanings().get(f"{schema}.{table}", {})
    return dg.TableSchema(columns=[
        dg.TableColumn(name, dtype, description=meanings.get(name) or None,
                       constraints=dg.TableColumnConstraints(nullable=nullable))
        for name, dtype, nullable in columns])


def table_specs() -> list[dg.AssetSpec]:
    """In the order the build makes them: a multi-asset yields its assets topologically."""
    notes, _ = contracts()
    specs = [dg.AssetSpec(
        key=[schema, table], group_name=schema, deps=_deps(schema, table),
        description=plain(notes.get((schema, table), ("", {}))[0]
                          or f"{schema}.{table}: {LAYER[schema]}."),
        metadata={"dagster/column_schema": _schema(schema, table, columns),
                  "dagster/table_name": f"{schema}.{table}"},
        kinds={"duckdb"})
        for schema, table, columns in tables()]
    by_key = {spec.key: spec for spec in specs}
    order = TopologicalSorter({spec.key: [d.asset_key for d in spec.deps] for spec in specs})
    return [by_key[key] for key in order.static_order() if key in by_key]


def report_spec() -> dg.AssetSpec:
    return dg.AssetSpec(
        key=REPORT, group_name="report",
        deps=[dg.AssetKey(["marts", "kpi_published"]), dg.AssetKey(["marts", "kpi"])],
        description="The managers' network's comparison report (HTML, 0600), beside the database "
                    "as `<db>-rapport.html` (above 16 municipalities with the folder `<db>-rapport/` "
                    "of pages beside it); written from the published table only, before the "
                    "database is swapped in.",
        kinds={"html"})
