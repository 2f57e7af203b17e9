"""Dagster definitions: the same build as `utfall run`, one atomic step per batch of deliveries.

Why one step: ALLA, FS paid in any municipality and statuses from any source make every KPI
depend on every municipality, and ingest decides the live files from the whole inbox (the first
file of each content, withdrawals). So core, quality, marts and the report are rebuilt whole,
and a run per municipality would rebuild them once per municipality and show a half-updated
report between runs. The job `build_all` therefore runs utfall.run.run once per batch (its lock,
key check, private work copy, report before the swap, meta tables) and then reports every table
as an asset with its row count, the checks from what the build computed, and the deliveries per
municipality as partitions of the external asset inbox/deliveries.
"""


import hashlib
import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from utfall import keys, transform
from utfall.adapters.config import ConfigError
from utfall.files import FileProblem
from utfall.inbox import Scan, scan
from utfall.ingest import KeyMismatch, TooManyWithdrawals
from utfall.lock import Locked
from utfall.pipelines import checks
from utfall.pipelines.contracts import INBOX, REPORT, report_spec, table_specs
from utfall.pipelines.settings import UtfallSettings
from utfall.run import RunError, RunSummary, run

# The failures `utfall run` states in one line (utfall.cli): a Dagster run states the same.
EXPECTED_ERRORS = (ConfigError, keys.KeyError_, FileProblem, KeyMismatch, TooManyWithdrawals,
                   Locked, RunError)
kommun_partitions = dg.DynamicPartitionsDefinition(name="kommun")
SETTINGS = UtfallSettings.from_environment()

inbox_deliveries = dg.AssetSpec(
    INBOX, group_name="inbox", partitions_def=kommun_partitions, kinds={"file"},
    description="The files as delivered, `<inbox>/<kommunkod>/<system>/<file>`: the raw layer, "
                "never copied into the database (they hold personnummer). One partition per "
                "municipality; a materialisation is a build that met new, corrected or withdrawn "
                "files of it. " + SETTINGS.describe())


class BuildConfig(dg.Config):
    """The options of `utfall run` a build can take."""

    as_of: str | None = None  # YYYY-MM-DD; default: metrics.md's, as for `utfall run`
    min_cell: int = transform.DEFAULT_MIN_CELL
    allow_withdraw: bool = False  # take out more withdrawn files than a small share
    allow_empty: bool = False  # `--allow-empty`: replace published figures with none
    wait_seconds: float = 600.0  # for a `utfall run` holding the database
    rebuild: bool = False  # `--rebuild`: build again even when nothing changed since the last run


@dg.multi_asset(
    name="build", specs=[*table_specs(), report_spec()], check_specs=checks.specs(),
    can_subset=False,
    description="utfall run: ingest the inbox, core, quality, marts, audit and the report, on a "
                "private copy swapped in only when everything succeeded.")
def build(context: dg.AssetExecutionContext, config: BuildConfig, settings: UtfallSettings):
    summary = _run(context, config, settings)
    _record_deliveries(context, summary, Path(settings.inbox))
    with duckdb.connect(str(summary.db_path), read_only=True) as con:
        yield from _materializations(con, summary)
        yield from checks.quality_results(con)
        yield checks.audit_result(con)
    yield checks.freshness_result(Path(settings.inbox), date.today())


def _run(context, config: BuildConfig, settings: UtfallSettings) -> RunSummary:
    context.log.info(settings.describe())
    try:
        as_of = date.fromisoformat(config.as_of) if config.as_of else None
    except ValueError:
        raise dg.Failure(f"as_of '{config.as_of}' is not a date in the form YYYY-MM-DD",
                         allow_retries=False) from None
    try:
        summary = run(Path(settings.inbox), Path(settings.db), settings.pseudonymiser(),
                      Path(settings.config_dir), as_of, config.min_cell,
                      progress=_progress(context), allow_withdraw=config.allow_withdraw,
                      allow_empty=config.allow_empty, wait_seconds=config.wait_seconds,
                      rebuild=config.rebuild)
    except EXPECTED_ERRORS as exc:
        raise dg.Failure(str(exc), allow_retries=False) from None
    context.log.info("seconds per stage: " + ", ".join(
        f"{stage} {seconds:.1f}" for stage, seconds in summary.seconds.items()))
    for warning in summary.warnings:
        context.log.warning(warning)
    return summary


def _progress(context):
    def logged(paths):
        paths = list(paths)
        step = max(1, len(paths) // 10)
        for i, path in enumerate(paths, 1):
            yield path
            if i % step == 0 or i == len(paths):
                context.log.info(f"files written to staging: {i} of {len(paths)}")
    return logged


def _materializations(con: duckdb.DuckDBPyConnection, summary: RunSummary):
    build_meta = {"as_of": str(summary.as_of), "key": summary.key_label}
    for spec in table_specs():
        table = ".".join(spec.key.path)
        (rows,) = con.execute(f"select count(*) from {table}").fetchone()
        yield dg.MaterializeResult(asset_key=spec.key,
                                   metadata={"dagster/row_count": rows, **build_meta})
    yield dg.MaterializeResult(asset_key=REPORT, metadata={
        **build_meta, "path": dg.MetadataValue.path(str(summary.report_path)),
        "published rows": summary.kpi_rows, "suppressed": summary.kpi_suppressed,
        "disclosure audit": summary.audit_summary,
        "warnings": "; ".join(summary.warnings) or "none",
        **{f"seconds {stage}": round(s, 1) for stage, s in summary.seconds.items()}})


def _record_deliveries(context, summary: RunSummary, inbox: Path) -> None:
    """Each municipality whose files changed in this build gets a materialisation of its
    partition of inbox/deliveries, so that its history is its delivery history."""
    latest = checks.latest_deliveries(inbox)
    per_kommun: dict[str, list] = {}
    for outcome in summary.ingest.files:
        if outcome.change:  # a rejected file is tried again every build: not a new delivery
            kommun = outcome.kommun_kod or outcome.rel_path.split("/")[0]
            per_kommun.setdefault(kommun, []).append(outcome)
    withdrawn = {}
    for path, _ in summary.ingest.withdrawn:
        withdrawn.setdefault(path.split("/")[0], []).append(path)
    changed = sorted(set(per_kommun) | set(withdrawn))
    known = set(context.instance.get_dynamic_partitions(kommun_partitions.name))
    new = sorted((set(latest) | set(changed)) - known)
    if new:
        context.instance.add_dynamic_partitions(kommun_partitions.name, new)
    for kommun in changed:
        outcomes = per_kommun.get(kommun, [])
        context.log_event(dg.AssetMaterialization(asset_key=INBOX, partition=kommun, metadata={
            "files read": sum(o.status == "LOADED" for o in outcomes),
            "files rejected": sum(o.status == "REJECTED" for o in outcomes),
            "files withdrawn": len(withdrawn.get(kommun, [])),
            "rows loaded": sum(o.rows_loaded for o in outcomes),
            "rows quarantined": sum(o.rows_quarantined for o in outcomes),
            "latest delivery": str(latest.get(kommun, "none in the inbox"))}))


build_all = dg.define_asset_job(
    "build_all", selection=dg.AssetSelection.assets(build),
    description="The whole build, as `utfall run`. " + SETTINGS.describe())


def inbox_fingerprints(found: Scan) -> dict[str, str]:
    """Per municipality folder, a fingerprint of its files' paths, sizes and modification times."""
    per_kommun: dict[str, list[str]] = {}
    for f in found.files:
        stat = f.path.stat()
        per_kommun.setdefault(f.kommun_kod, []).append(
            f"{f.rel_path}|{stat.st_size}|{stat.st_mtime_ns}")
    return {k: _digest(v) for k, v in sorted(per_kommun.items())}


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _changed(before: dict[str, str], now: dict[str, str]) -> str:
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    text = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return text or "none"


# Descriptions given, not docstrings: Dagster shows no docstring of a sensor or schedule.
@dg.sensor(job=build_all, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="A batch of deliveries, once the inbox has been still for a minute, starts "
                       "one build. An unusable inbox starts one too, which fails with "
                       "`utfall run`'s message.")
def inbox_sensor(context: dg.SensorEvaluationContext, settings: UtfallSettings):
    found = scan(Path(settings.inbox))
    now = inbox_fingerprints(found)
    state = json.loads(context.cursor) if context.cursor else {}
    digest = _digest(now or {"unusable inbox": found.fatal or "no files"})
    if digest == state.get("built"):
        return dg.SkipReason("no new deliveries since the last build")
    if digest != state.get("seen"):
        context.update_cursor(json.dumps({**state, "seen": digest}))
        return dg.SkipReason("deliveries arriving: the build starts when the inbox is still")
    context.update_cursor(json.dumps({"seen": digest, "built": digest, "kommuner": now}))
    new = [k for k in now if not context.instance.has_dynamic_partition(kommun_partitions.name, k)]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"inbox:{digest}", tags={
            "utfall/changed": _changed(state.get("kommuner", {}), now)})],
        dynamic_partitions_requests=[kommun_partitions.build_add_request(new)] if new else [])


@dg.schedule(job=build_all, cron_schedule="0 6 2 * *", execution_timezone="Europe/Stockholm",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="A build at 06:00 on the 2nd of every month, even without deliveries: "
                         "the run date caps the default as_of, so a new month moves every "
                         "figure on.")
def monthly_build(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"monthly:{context.scheduled_execution_time:%Y-%m}")


defs = dg.Definitions(
    assets=[inbox_deliveries, build],
    jobs=[build_all],
    sensors=[inbox_sensor],
    schedules=[monthly_build],
    resources={"settings": SETTINGS},
)
