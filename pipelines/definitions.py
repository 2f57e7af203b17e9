"""Dagster definitions: the same build as `utfall run`, as assets grouped by layer.

Asset keys are [schema, table]; groups are the DuckDB schemas. The assets are thin: they call
utfall.ingest and utfall.transform, which know nothing of Dagster.
"""



import hashlib
import json
import os
from datetime import date
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from adapters.config import ConfigStore
from utfall import keys, transform
from utfall.ingest import STAGING_TABLES, discover, ingest
from utfall.run import DEFAULT_MEMORY_LIMIT

ROOT = Path(__file__).resolve().parent.parent

CORE_TABLES = ("person", "insats_episode", "fs_month", "fs_coverage", "status_observation",
               "progression_assessment")
MARTS_TABLES = ("participation_spell", "kpi", "kpi_value", "kpi_published")

# Staging is partitioned by municipality: a delivery re-reads only its municipality's files.
# Core and marts are not: ALLA, FS paid in any municipality and statuses from any source make
# every KPI depend on every municipality; they are set-based and rebuilt whole.
kommun_partitions = dg.DynamicPartitionsDefinition(name="kommun")


class UtfallSettings(dg.ConfigurableResource):
    """Where things are. The one place that reads the environment."""

    inbox: str = str(ROOT / "data" / "sample" / "inbox")
    config_dir: str = str(ROOT / "config" / "kommuner")
    key_file: str | None = None
    demo_key: bool = True  # the sample; set UTFALL_KEY or key_file for a real inbox

    def pseudonymiser(self):
        key_file = Path(self.key_file) if self.key_file else None
        use_demo = self.demo_key and key_file is None and not os.environ.get(keys.ENV_VAR)
        return keys.load(key_file, use_demo, Path(self.inbox))


class BuildConfig(dg.Config):
    as_of: str | None = None  # YYYY-MM-DD; default: the last day of the latest covered month
    min_cell: int = transform.DEFAULT_MIN_CELL


def _specs(schema: str, tables: tuple[str, ...], deps: list[dg.AssetKey]) -> list[dg.AssetSpec]:
    return [dg.AssetSpec(key=[schema, t], group_name=schema, deps=deps) for t in tables]


@dg.multi_asset(
    specs=[*_specs("staging", STAGING_TABLES, []),
           *_specs("meta", ("delivery", "quarantine", "unmapped_value"), [])],
    can_subset=False,
    partitions_def=kommun_partitions,
)
def staging_tables(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   settings: UtfallSettings):
    """Read the municipality's new or corrected files through their adapters."""
    with duckdb.get_connection() as con:
        transform.create_schemas(con)
        summary = ingest(con, Path(settings.inbox), ConfigStore(Path(settings.config_dir)),
                         settings.pseudonymiser(), date.today(),
                         only_kommun=context.partition_key)
        counts = {t: con.execute(f"select count(*) from staging.{t}").fetchone()[0]
                  for t in STAGING_TABLES}
    meta = {"files": len(summary.files), "rows_loaded": summary.total("rows_loaded"),
            "rows_quarantined": summary.total("rows_quarantined"),
            "files_rejected": summary.count("REJECTED"), "kommun": context.partition_key}
    for t in STAGING_TABLES:
        yield dg.MaterializeResult(asset_key=["staging", t],
                                   metadata={"dagster/row_count": counts[t]})
    for t in ("delivery", "quarantine", "unmapped_value"):
        yield dg.MaterializeResult(asset_key=["meta", t], metadata=meta)


@dg.multi_asset(
    specs=_specs("core", CORE_TABLES, [dg.AssetKey(["staging", t]) for t in STAGING_TABLES]
                 + [dg.AssetKey(["meta", "delivery"])]),
    can_subset=False,
)
def core_tables(duckdb: DuckDBResource):
    """The common schema of spec/schema.md, from staging."""
    with duckdb.get_connection() as con:
        transform.build_core(con)
        for t in CORE_TABLES:
            n = con.execute(f"select count(*) from core.{t}").fetchone()[0]
            yield dg.MaterializeResult(asset_key=["core", t], metadata={"dagster/row_count": n})


@dg.multi_asset(
    specs=_specs("marts", MARTS_TABLES, [dg.AssetKey(["core", t]) for t in CORE_TABLES]),
    can_subset=False,
)
def marts_tables(duckdb: DuckDBResource, config: BuildConfig):
    """Spells and KPIs as of the run's as_of date."""
    with duckdb.get_connection() as con:
        as_of = (date.fromisoformat(config.as_of) if config.as_of
                 else transform.latest_covered_day(con) or date.today())
        transform.build_marts(con, as_of, config.min_cell)
        for t in MARTS_TABLES:
            n = con.execute(f"select count(*) from marts.{t}").fetchone()[0]
            yield dg.MaterializeResult(asset_key=["marts", t],
                                       metadata={"dagster/row_count": n, "as_of": str(as_of)})


@dg.asset(key=["report", "comparison_html"], group_name="report",
          deps=[dg.AssetKey(["marts", "kpi_published"]), dg.AssetKey(["marts", "kpi"])])
def comparison_report(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The managers' network's comparison report, beside the database."""
    from utfall.report import write_report

    out = Path(duckdb.database).with_name(Path(duckdb.database).stem + "-rapport.html")
    with duckdb.get_connection() as con:
        write_report(con, out)
    return dg.MaterializeResult(metadata={"path": str(out)})


def _quality_check(table: str):
    """great-expectations and set-based checks of one core table (utfall.quality). Blocking when
    an ERROR check fails: a wrong core table would poison the marts."""

    @dg.asset_check(asset=dg.AssetKey(["core", table]), name=f"{table}_quality", blocking=True,
                    description=f"Data-quality checks of core.{table} (utfall.quality)")
    def _fn(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        from utfall import quality

        with duckdb.get_connection() as con:
            as_of = transform.latest_covered_day(con) or date.today()
            results = quality.run_table_checks(con, f"core.{table}", as_of)
        failed = [r for r in results if not r.passed]
        errors = [r for r in failed if r.severity == "ERROR"]
        return dg.AssetCheckResult(
            passed=not errors,
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            metadata={
                "checks": len(results),
                "failed": [f"{r.check_name} {r.kommun_kod or ''}: {r.unexpected if r.error is None else r.error}"
                           for r in failed][:50],
            },
        )

    return _fn


CHECKS = [_quality_check(t) for t in CORE_TABLES]

build_kommun = dg.define_asset_job(
    "build_kommun", selection=dg.AssetSelection.all(), partitions_def=kommun_partitions,
    tags={"dagster/concurrency_key": "duckdb"},  # DuckDB takes one writer at a time
)


def inbox_fingerprints(inbox: Path) -> dict[str, str]:
    """Per municipality folder, a fingerprint of its files' paths, sizes and modification times."""
    per_kommun: dict[str, list[str]] = {}
    for path in discover(inbox):
        rel = path.relative_to(inbox).as_posix()
        stat = path.stat()
        per_kommun.setdefault(rel.split("/")[0], []).append(f"{rel}|{stat.st_size}|{stat.st_mtime_ns}")
    return {k: hashlib.sha256("\n".join(v).encode()).hexdigest()[:16] for k, v in per_kommun.items()}


@dg.sensor(job=build_kommun, minimum_interval_seconds=60)
def inbox_sensor(context: dg.SensorEvaluationContext, settings: UtfallSettings):
    """A new or changed delivery starts a run for its municipality's partition only."""
    seen = json.loads(context.cursor) if context.cursor else {}
    now = inbox_fingerprints(Path(settings.inbox))
    changed = sorted(k for k, fp in now.items() if seen.get(k) != fp)
    if not changed:
        return dg.SkipReason("no new deliveries")
    new_partitions = [k for k in changed if not context.instance.has_dynamic_partition("kommun", k)]
    context.update_cursor(json.dumps(now, sort_keys=True))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=k, run_key=f"{k}:{now[k]}") for k in changed],
        dynamic_partitions_requests=[kommun_partitions.build_add_request(new_partitions)]
        if new_partitions else [],
    )


@dg.schedule(job=build_kommun, cron_schedule="0 6 2 * *", execution_timezone="Europe/Stockholm")
def monthly_build(context: dg.ScheduleEvaluationContext):
    """Every month, after the deliveries of the month before: every known municipality."""
    for kommun in context.instance.get_dynamic_partitions("kommun"):
        yield dg.RunRequest(partition_key=kommun, run_key=f"monthly:{context.scheduled_execution_time:%Y-%m}:{kommun}")


defs = dg.Definitions(
    assets=[staging_tables, core_tables, marts_tables, comparison_report],
    asset_checks=CHECKS,
    jobs=[build_kommun],
    sensors=[inbox_sensor],
    schedules=[monthly_build],
    resources={
        "duckdb": DuckDBResource(
            database=os.environ.get("UTFALL_DB", str(ROOT / "build" / "dagster.duckdb")),
            connection_config={"memory_limit": DEFAULT_MEMORY_LIMIT}),
        "settings": UtfallSettings(),
    },
)
