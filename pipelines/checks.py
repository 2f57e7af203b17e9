"""Asset checks that read what the build computed once (meta.quality_check, meta.disclosure_audit)
and say it in words, and the delivery freshness check: who has not delivered for a while."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import duckdb

from utfall import quality
from utfall.inbox import scan
from utfall.pipelines.markdown import code, plain
from utfall.schemas import kommuner

FRESHNESS_DAYS = 45  # a municipality delivers monthly; half a month of grace
SHOW_FAILED = 20  # failures named in a check's description; the table in its metadata has all
DELIVERY = dg.AssetKey(["meta", "delivery"])
PUBLISHED = dg.AssetKey(["marts", "kpi_published"])


def label(code: str) -> str:
    return kommuner.label(code) if kommuner.name(code) else code


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def specs() -> list[dg.AssetCheckSpec]:
    quality_specs = [dg.AssetCheckSpec(
        "quality", asset=_key(table),
        description=f"utfall.quality on {table}, computed once per build into "
                    f"meta.quality_check: {', '.join(quality.checks_for_table(table))}")
        for table in quality.TABLES]
    return [*quality_specs,
            dg.AssetCheckSpec("disclosure_audit", asset=PUBLISHED,
                              description="The build's disclosure audit of the published table "
                                          "(meta.disclosure_audit, marts.audit)"),
            dg.AssetCheckSpec("delivery_freshness", asset=DELIVERY,
                              description="Every municipality's latest delivery is at most "
                                          f"{FRESHNESS_DAYS} days old (the newest file's date in "
                                          "the inbox)")]


class Found(NamedTuple):
    """One row of meta.quality_check, with its delivery's path."""

    check: str
    kommun: str | None
    delivery_id: str | None
    path: str | None
    description: str
    severity: str
    checked: int | None
    unexpected: int | None
    passed: bool
    error: str | None


def quality_results(con: duckdb.DuckDBPyConnection) -> list[dg.AssetCheckResult]:
    rows = con.execute(
        "select q.table_name, q.check_name, q.kommun_kod, q.delivery_id, d.path, q.description, "
        "q.severity, q.rows_checked, q.unexpected, q.passed, q.error "
        "from meta.quality_check q left join meta.delivery d using (delivery_id) "
        "order by q.table_name, q.severity, q.check_name, q.kommun_kod nulls first, d.path"
    ).fetchall()
    by_table: dict[str, list[Found]] = {table: [] for table in quality.TABLES}
    for row in rows:
        by_table.setdefault(row[0], []).append(Found(*row[1:]))
    ran = checks_that_ran(con)
    return [_quality_result(table, found, ran.get(table)) for table, found in by_table.items()
            if table in quality.TABLES]


def checks_that_ran(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[set, str]]:
    """Per table whose checks utfall.quality records only where they fail: every (check,
    delivery) that ran, and how they are counted. For meta.quarantine that is one check per
    reason on every delivery read; only those with quarantined rows get a row."""
    deliveries = [d for (d,) in con.execute(
        "select delivery_id from meta.delivery where status = 'LOADED'").fetchall()]
    reasons = quality.checks_for_table(quality.QUARANTINE_TABLE)
    return {quality.QUARANTINE_TABLE: (
        {(check, d) for check in reasons for d in deliveries},
        f"{len(reasons)} reasons × {len(deliveries)} deliveries read")}


def _quality_result(table: str, rows: list[Found],
                    ran: tuple[set, str] | None = None) -> dg.AssetCheckResult:
    failed = [r for r in rows if not r.passed]
    errors = [r for r in failed if r.severity == "ERROR"]
    implied, basis = ran if ran and ran[0] else (set(), "")
    # a recorded row and the implied check it stands for are one check, passing rows included
    total = len({(r.check, r.delivery_id) for r in rows} | implied) if implied else len(rows)
    return dg.AssetCheckResult(
        asset_key=_key(table), check_name="quality", passed=bool(total) and not failed,
        severity=dg.AssetCheckSeverity.ERROR if errors or not total else dg.AssetCheckSeverity.WARN,
        description=_quality_text(table, total, failed, len(errors), basis),
        metadata={"checks": total, "failed": len(failed), "failed ERROR": len(errors),
                  "failures": dg.MetadataValue.md(_table(failed)) if failed else "none"})


def _quality_text(table: str, total: int, failed: list[Found], errors: int, basis: str) -> str:
    if not total:
        return f"No check of {table} ran in the build: meta.quality_check has no row for it."
    if not failed:
        return (f"All {total} checks of {table} passed{f' ({basis})' if basis else ''}."
                if total > 1 else f"The one check of {table} passed.")
    more = len(failed) - SHOW_FAILED
    return (f"{len(failed)} of {total} checks of {table} failed ({errors} ERROR, "
            f"{len(failed) - errors} WARNING{f'; {basis}' if basis else ''}):\n"
            + "\n".join(f"- {_sentence(r)}" for r in failed[:SHOW_FAILED])
            + (f"\n- … and {more} more (see the table)" if more > 0 else ""))


def _where(kommun: str | None, path: str | None) -> str:
    if path:
        return f"delivery {code(path)}"
    return f"{label(kommun)}" if kommun else "the whole table"


def _sentence(row: Found) -> str:
    where = _where(row.kommun, row.path)
    if row.error:
        return f"{row.severity} {row.check} ({where}) could not run: {plain(row.error)}"
    of = f" of {row.checked}" if row.checked is not None else ""
    return (f"{row.severity} {row.check} ({where}): {row.unexpected}{of} rows break it: "
            f"{plain(row.description)}")


def _table(failed: list[Found]) -> str:
    lines = ["| severity | check | municipality | delivery | rows breaking it | rows checked "
             "| what it wants |",
             "|---|---|---|---|---|---|---|"]
    for r in failed:
        broken = r.unexpected if r.error is None else f"could not run: {plain(r.error)}"
        lines.append(f"| {r.severity} | {r.check} | {label(r.kommun) if r.kommun else 'all'} | "
                     f"{code(r.path) if r.path else ''} | {broken} | "
                     f"{'' if r.checked is None else r.checked} | "
                     f"{plain(r.description).replace('|', '/')} |")
    return "\n".join(lines)


def audit_result(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    row = con.execute("select audited, published_rows, pinned, safe, summary_sv "
                      "from meta.disclosure_audit").fetchone()
    audited, rows, pinned, safe, text = row or (False, None, None, None, "no audit row")
    return dg.AssetCheckResult(
        asset_key=PUBLISHED, check_name="disclosure_audit", passed=bool(audited and safe),
        severity=dg.AssetCheckSeverity.ERROR if audited else dg.AssetCheckSeverity.WARN,
        description=plain(text), metadata={"audited": bool(audited), "published rows": rows or 0,
                                    "pinned": pinned or 0})


def latest_deliveries(inbox: Path) -> dict[str, date]:
    """Per municipality of the inbox, the date of its newest usable file."""
    latest: dict[str, date] = {}
    for found in scan(inbox).files:
        day = datetime.fromtimestamp(found.path.stat().st_mtime).date()
        latest[found.kommun_kod] = max(day, latest.get(found.kommun_kod, day))
    return latest


def freshness_result(inbox: Path, today: date) -> dg.AssetCheckResult:
    latest = latest_deliveries(inbox)
    late = sorted((k for k, day in latest.items() if (today - day).days > FRESHNESS_DAYS),
                  key=lambda k: (latest[k], k))
    lines = [f"- {label(k)}: latest delivery {latest[k]}, {(today - latest[k]).days} days ago"
             for k in late]
    text = (f"{len(late)} of {len(latest)} municipalities have not delivered for more than "
            f"{FRESHNESS_DAYS} days:\n" + "\n".join(lines) if late else
            f"All {len(latest)} municipalities delivered within {FRESHNESS_DAYS} days.")
    table = "\n".join(["| municipality | latest delivery | days ago |", "|---|---|---|"]
                      + [f"| {label(k)} | {day} | {(today - day).days} |"
                         for k, day in sorted(latest.items())])
    return dg.AssetCheckResult(
        asset_key=DELIVERY, check_name="delivery_freshness", passed=not late,
        severity=dg.AssetCheckSeverity.WARN, description=text,
        metadata={"late": len(late), "municipalities": len(latest),
                  "latest deliveries": dg.MetadataValue.md(table)})
