"""Data-quality checks on the core tables (and staging duplicates, quarantine counts).

Two kinds of check, both reported per municipality where the table has kommun_kod:
- single-column rules (not null, code lists, date ranges, 0..1, unique) through great-expectations
  on pandas frames (GX's SQL datasource fails on DuckDB, see STACK-NOTES.md);
- cross-row rules as set-based SQL in DuckDB.
A check that cannot run is reported with passed=false and `error` set, never as a pass.

Results replace the contents of meta.quality_check. No Dagster here: the asset checks call
run_table_checks().
"""

from __future__ import annotations

import functools
from dataclasses import astuple, dataclass, fields
from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa

from utfall import transform
from utfall.adapters.base import Reason
from utfall.ingest import STAGING_TABLES
from utfall.schemas import codes

ERROR = "ERROR"      # downstream figures are wrong if this fails
WARNING = "WARNING"  # worth a look; downstream still right

# Not in schemas/codes.py, but fixed by the contract (schema.md).
SEX = ("K", "M")
BASIS = ("FOLLOWUP", "REPORTED")

EARLIEST_DATE = pd.Timestamp("1990-01-01")  # privacy.md: earlier dates are implausible

# The range pandas' datetime64[ns] can hold (see frame_column).
NS_MIN, NS_MAX = "1678-01-01", "2261-12-31"

# Kinds of single-column rule.
NOT_NULL, IN_SET, DATE_RANGE, UNIT_RANGE, UNIQUE = (
    "not_null", "in_code_list", "in_date_range", "between_0_and_1", "unique")


@dataclass(frozen=True)
class CheckResult:
    """One row of meta.quality_check (same columns, same order)."""

    check_name: str
    table_name: str
    kommun_kod: str | None
    delivery_id: str | None
    description: str
    severity: str
    rows_checked: int | None
    unexpected: int | None
    passed: bool
    error: str | None = None


@dataclass(frozen=True)
class Expect:
    """A single-column rule, validated by great-expectations."""

    table: str
    column: str
    kind: str
    severity: str
    values: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{short(self.table)}_{self.column}_{self.kind}"

    def description(self, as_of: date) -> str:
        if self.kind == NOT_NULL:
            return f"{self.column} is not null"
        if self.kind == IN_SET:
            unmapped = "" if self.required() else " or null (unmapped)"
            return f"{self.column} is one of {', '.join(self.values)}{unmapped}"
        if self.kind == DATE_RANGE:
            return (f"{self.column} between {EARLIEST_DATE.date()} and as_of + 1 year "
                    f"({latest_date(as_of).date()})")
        if self.kind == UNIT_RANGE:
            return f"{self.column} between 0 and 1"
        return f"{self.column} is unique"

    def required(self) -> bool:
        return Expect(self.table, self.column, NOT_NULL, ERROR) in GX_CHECKS


@dataclass(frozen=True)
class SqlCheck:
    """A cross-row rule. `sql` returns (kommun_kod, delivery_id, rows_checked, unexpected)."""

    name: str
    table: str
    severity: str
    description: str
    sql: str


def short(table: str) -> str:
    return table.split(".")[-1]


def latest_date(as_of: date) -> pd.Timestamp:
    return pd.Timestamp(as_of) + pd.DateOffset(years=1)


# rows per great-expectations frame: bounds the quality stage's memory on national data (the frames
# are pandas; 2 million rows of the checked columns are a few hundred MB)
CHUNK_ROWS = 2_000_000


def not_null(table: str, *columns: str) -> list[Expect]:
    return [Expect(table, c, NOT_NULL, ERROR) for c in columns]


# Required columns are those schema.md requires; nullable code columns mean "unmapped", and GX's
# in-set rule ignores nulls, so a code column that must be set also gets a not-null rule.
GX_CHECKS: list[Expect] = [
    *not_null("core.person", "person_key", "birth_year", "birth_month", "sex"),
    Expect("core.person", "person_key", UNIQUE, ERROR),
    Expect("core.person", "sex", IN_SET, ERROR, SEX),

    *not_null("core.insats_episode",
              "episode_id", "person_key", "kommun_kod", "source_system", "start_date"),
    Expect("core.insats_episode", "insats_typ", IN_SET, ERROR, codes.INSATS_TYP),
    Expect("core.insats_episode", "end_reason", IN_SET, ERROR, codes.END_REASON),
    Expect("core.insats_episode", "referred_from", IN_SET, ERROR, codes.REFERRED_FROM),
    Expect("core.insats_episode", "distance", IN_SET, ERROR, codes.DISTANCE),
    Expect("core.insats_episode", "start_date", DATE_RANGE, WARNING),
    Expect("core.insats_episode", "end_date", DATE_RANGE, WARNING),

    *not_null("core.fs_month", "person_key", "kommun_kod", "month", "fs_amount", "other_amount"),
    Expect("core.fs_month", "hinder", IN_SET, ERROR, codes.HINDER),
    Expect("core.fs_month", "month", DATE_RANGE, WARNING),

    *not_null("core.fs_coverage", "kommun_kod", "month"),

    *not_null("core.status_observation",
              "person_key", "kommun_kod", "observed_on", "source_system", "basis"),
    Expect("core.status_observation", "status", IN_SET, ERROR, codes.STATUS),
    Expect("core.status_observation", "basis", IN_SET, ERROR, BASIS),
    Expect("core.status_observation", "observed_on", DATE_RANGE, WARNING),

    *not_null("core.progression_assessment", "kommun_kod", "assessed_on", "rater", "dimension",
              "score", "scale_min", "scale_max", "score_norm"),
    Expect("core.progression_assessment", "rater", IN_SET, ERROR, codes.RATER),
    Expect("core.progression_assessment", "dimension", IN_SET, ERROR, codes.DIMENSION),
    Expect("core.progression_assessment", "assessed_on", DATE_RANGE, WARNING),
    Expect("core.progression_assessment", "score_norm", UNIT_RANGE, ERROR),
]

EPISODE_ID_UNIQUE_SQL = """
select kommun_kod, null, count(*), count(*) filter (where copies > 1)
from (select kommun_kod, count(*) over (partition by episode_id) as copies
      from core.insats_episode)
group by kommun_kod order by kommun_kod
"""

END_BEFORE_START_SQL = """
select kommun_kod, null, count(*), count(*) filter (where end_date < start_date)
from core.insats_episode
group by kommun_kod order by kommun_kod
"""

# Same-day handover counts as overlap: an episode's days are start..end inclusive (metrics.md).
# Episodes ending before they start are left out: the check above reports them.
OVERLAP_SQL = """
with e as (
    select episode_id, person_key, kommun_kod,
           coalesce(insats_typ, 'UNMAPPED:' || coalesce(insats_local, '')) as type_key,
           start_date, coalesce(end_date, date '9999-12-31') as end_date
    from core.insats_episode
    where end_date is null or end_date >= start_date
),
overlapping as (
    select distinct a.episode_id
    from e as a
    join e as b
      on a.person_key = b.person_key and a.kommun_kod = b.kommun_kod
     and a.type_key = b.type_key and a.episode_id <> b.episode_id
     and a.start_date <= b.end_date and b.start_date <= a.end_date
)
select i.kommun_kod, null, count(*), count(o.episode_id)
from core.insats_episode as i
left join overlapping as o on o.episode_id = i.episode_id
group by i.kommun_kod order by i.kommun_kod
"""

# Counted in participants, not rows: rows_checked = people and unlinked numbers assessed.
UNLINKED_SQL = """
select kommun_kod, null,
       count(distinct case when person_key is not null then 'p:' || person_key
                           else 'r:' || participant_ref end),
       count(distinct participant_ref) filter (where person_key is null)
from core.progression_assessment
group by kommun_kod order by kommun_kod
"""

OUTSIDE_COVERAGE_SQL = """
select f.kommun_kod, null, count(*), count(*) filter (where c.month is null)
from core.fs_month as f
left join (select distinct kommun_kod, month from core.fs_coverage) as c
  on c.kommun_kod = f.kommun_kod and c.month = f.month
group by f.kommun_kod order by f.kommun_kod
"""

# Columns that say where a row was delivered, not what it says.
POSITION_COLUMNS = ("delivery_id", "sheet", "row_number")

# {content} and {position} are filled with the staging table's columns at run time. The first
# copy (earliest delivery loaded, then position) is the original; each later copy is unexpected.
# Only rows whose content hash occurs twice can be copies: the window that orders copies runs on
# those alone (a window over every column of 30 million payment lines took 53 s). A hash shared
# by different contents only adds candidates; the window still compares every column.
DUPLICATE_SQL = """
with candidate as (
    select hash({content}) as content_hash
    from {table} as s
    group by content_hash having count(*) > 1
),
numbered as (
    select s.kommun_kod, s.delivery_id,
           row_number() over (partition by {content}
                              order by d.loaded_at nulls last, d.path, {position}) as copy
    from {table} as s
    left join meta.delivery as d on d.delivery_id = s.delivery_id
    where hash({content}) in (select content_hash from candidate)
),
copies as (
    select kommun_kod, delivery_id, count(*) filter (where copy > 1) as n
    from numbered
    group by kommun_kod, delivery_id
)
select r.kommun_kod, r.delivery_id, r.n, coalesce(c.n, 0)
from (select kommun_kod, delivery_id, count(*) as n from {table} group by kommun_kod, delivery_id) as r
left join copies as c
  on c.kommun_kod is not distinct from r.kommun_kod and c.delivery_id is not distinct from r.delivery_id
order by r.kommun_kod, r.delivery_id
"""

SQL_CHECKS: list[SqlCheck] = [
    SqlCheck("insats_episode_episode_id_unique", "core.insats_episode", ERROR,
             "episode_id is unique (one row per intervention)", EPISODE_ID_UNIQUE_SQL),
    SqlCheck("insats_episode_end_before_start", "core.insats_episode", ERROR,
             "end_date is not before start_date", END_BEFORE_START_SQL),
    SqlCheck("insats_episode_overlap", "core.insats_episode", WARNING,
             "no episode overlaps another of the same person, municipality and insats_typ",
             OVERLAP_SQL),
    SqlCheck("progression_assessment_unlinked_participants", "core.progression_assessment",
             WARNING, "every assessed participant is linked to a person_key "
             "(unexpected = distinct unlinked participant_ref)", UNLINKED_SQL),
    SqlCheck("fs_month_outside_coverage", "core.fs_month", WARNING,
             "every FS month lies in a month core.fs_coverage covers", OUTSIDE_COVERAGE_SQL),
    *[SqlCheck(f"{t}_duplicate_rows", f"staging.{t}", WARNING,
               "no row repeats an earlier row in every column but delivery, sheet and row number",
               DUPLICATE_SQL) for t in STAGING_TABLES],
]

QUARANTINE_TABLE = "meta.quarantine"
QUARANTINE_SQL = """
select q.reason, q.kommun_kod, q.delivery_id, any_value(d.rows_read), count(*)
from meta.quarantine as q
left join meta.delivery as d on d.delivery_id = q.delivery_id
group by q.reason, q.kommun_kod, q.delivery_id
order by q.kommun_kod, q.delivery_id, q.reason
"""

COMPLETENESS_TABLE = "meta.field_completeness"
EXPECTED_COLUMN, FIELD_HISTORY = "field_completeness_expected_column", "field_completeness_history"
# A field is "mostly blank" in a delivery when its share known is below this part of the median
# share known of the municipality's earlier deliveries of the same kind that had the column.
HISTORY_DROP = 0.5

TABLES = (
    "core.person", "core.insats_episode", "core.fs_month", "core.fs_coverage",
    "core.status_observation", "core.progression_assessment",
    *[f"staging.{t}" for t in STAGING_TABLES], QUARANTINE_TABLE, COMPLETENESS_TABLE,
)


# -- public API -----------------------------------------------------------------------------------

def checks_for_table(table: str) -> list[str]:
    """Names of the checks run_table_checks(table) reports."""
    if table == QUARANTINE_TABLE:
        return [quarantine_check_name(r) for r in Reason]
    if table == COMPLETENESS_TABLE:
        return [EXPECTED_COLUMN, FIELD_HISTORY]
    return ([e.name for e in GX_CHECKS if e.table == table]
            + [c.name for c in SQL_CHECKS if c.table == table])


def run_table_checks(con: duckdb.DuckDBPyConnection, table: str, as_of: date) -> list[CheckResult]:
    """Every check of one table; does not write meta.quality_check."""
    if table == QUARANTINE_TABLE:
        return quarantine_results(con)
    if table == COMPLETENESS_TABLE:
        return completeness_results(con, as_of)
    results = gx_results(con, table, [e for e in GX_CHECKS if e.table == table], as_of)
    for check in SQL_CHECKS:
        if check.table == table:
            results.extend(sql_results(con, check))
    return results


def run_checks(con: duckdb.DuckDBPyConnection, as_of: date) -> list[CheckResult]:
    """Every check of every table; replaces the contents of meta.quality_check."""
    results = [r for table in TABLES for r in run_table_checks(con, table, as_of)]
    write_results(con, results)
    return results


def write_results(con: duckdb.DuckDBPyConnection, results: list[CheckResult]) -> None:
    """One insert from a frame: row-by-row executemany took 31 s for 4,400 results at scale 0.1."""
    con.execute("delete from meta.quality_check")
    if results:
        frame = pd.DataFrame([astuple(r) for r in results],
                             columns=[f.name for f in fields(CheckResult)])
        con.register("quality_results", frame)
        con.execute("insert into meta.quality_check by name select * from quality_results")
        con.unregister("quality_results")


# -- great-expectations ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    rows: int | None
    unexpected: int | None
    error: str | None


@functools.cache
def batch_definition():
    """One ephemeral GX context per process. Imported here: `import great_expectations` takes
    seconds, and the CLI must start fast."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("utfall_quality").add_dataframe_asset("core_table")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def gx_expectation(spec: Expect, as_of: date):
    import great_expectations.expectations as gxe

    meta = {"check": spec.name}
    if spec.kind == NOT_NULL:
        return gxe.ExpectColumnValuesToNotBeNull(column=spec.column, meta=meta)
    if spec.kind == IN_SET:
        return gxe.ExpectColumnValuesToBeInSet(column=spec.column, value_set=list(spec.values),
                                               meta=meta)
    if spec.kind == DATE_RANGE:  # Timestamps: string bounds can error (STACK-NOTES.md)
        return gxe.ExpectColumnValuesToBeBetween(column=spec.column, min_value=EARLIEST_DATE,
                                                 max_value=latest_date(as_of), meta=meta)
    if spec.kind == UNIT_RANGE:
        return gxe.ExpectColumnValuesToBeBetween(column=spec.column, min_value=0.0, max_value=1.0,
                                                 meta=meta)
    if spec.kind == UNIQUE:
        return gxe.ExpectColumnValuesToBeUnique(column=spec.column, meta=meta)
    raise ValueError(f"unknown kind of check: {spec.kind}")


def validate(frame: pd.DataFrame, specs: list[Expect], as_of: date) -> dict[str, Outcome]:
    """Validate `frame` against `specs` in one GX pass; an error is an Outcome, not an exception."""
    import great_expectations as gx
    from great_expectations.validator.v1_validator import Validator

    try:
        definition = batch_definition()  # first: a suite needs the active context
        suite = gx.ExpectationSuite(name="utfall_quality")
        for spec in specs:
            suite.add_expectation(gx_expectation(spec, as_of))
        # The validator that Batch.validate and ValidationDefinition.run build. Batch.validate
        # loads the frame twice, and each load hashes every value (seconds on a million rows);
        # ValidationDefinition wants suites saved in the context. This loads once.
        validator = Validator(batch_definition=definition, result_format="BASIC",
                              batch_parameters={"dataframe": frame})
        report = validator.validate_expectation_suite(suite)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must still be reported
        return {s.name: Outcome(len(frame), None, f"{type(exc).__name__}: {exc}") for s in specs}
    outcomes = {r.expectation_config.meta["check"]: outcome_of(r, len(frame))
                for r in report.results}
    missing = Outcome(len(frame), None, "great-expectations returned no result")
    return {s.name: outcomes.get(s.name, missing) for s in specs}


def outcome_of(result, rows: int) -> Outcome:
    error = exception_message(result.exception_info)
    count = (result.result or {}).get("unexpected_count")
    if error is None and count is None:
        # an erroring expectation can come back as success=False with no count and no exception
        error = "great-expectations gave no unexpected count"
    return Outcome(rows, None if error else int(count), error)


def exception_message(info) -> str | None:
    """GX reports exceptions flat ({raised_exception, exception_message}) or per metric."""
    if not info:
        return None
    parts = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    messages = sorted({p.get("exception_message") or "unknown error"
                       for p in parts if p.get("raised_exception")})
    return "; ".join(messages) or None


def load_frame(con: duckdb.DuckDBPyConnection, table: str, specs: list[Expect],
               kommuner: list[str | None] | None = None) -> pd.DataFrame:
    """The columns the specs need (those that exist: a missing one must fail in GX, visibly).

    Shaped for speed: GX fingerprints every frame it validates by hashing every value, which on a
    million rows of 64-character keys took longer than all the rules together. Codes and
    kommun_kod go over Arrow as dictionaries (pandas categoricals, hashed per distinct value; not
    keys, where encoding a million distinct values costs more than it saves), a column that
    only has to be present is replaced by a marker that is null exactly where the value is, and
    one that only has to be unique by a number per distinct value."""
    schema, name = table.split(".")
    types = dict(con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = ? and table_name = ?", [schema, name]).fetchall())
    wanted = dict.fromkeys(["kommun_kod", *(s.column for s in specs)])
    select = [frame_column(c, types[c], presence_only(c, specs), uniqueness_only(c, specs))
              for c in wanted if c in types]
    query = f"select {', '.join(select) or '1 as no_columns'} from {table}"
    params: list = []
    if kommuner is not None:
        query += " where kommun_kod in (select unnest(?))"
        params = [[k for k in kommuner if k is not None]]
        if None in kommuner:
            query += " or kommun_kod is null"
    arrow = con.sql(query, params=params or None).to_arrow_table()
    coded = {"kommun_kod", *(s.column for s in specs if s.kind == IN_SET)}
    columns = [as_dictionary(c) if n in coded else c for n, c in zip(arrow.column_names, arrow.columns)]
    return pa.table(columns, names=arrow.column_names).to_pandas()


def presence_only(column: str, specs: list[Expect]) -> bool:
    """True when every rule on the column is not-null (kommun_kod is also for grouping)."""
    kinds = {s.kind for s in specs if s.column == column}
    return column != "kommun_kod" and kinds == {NOT_NULL}


def uniqueness_only(column: str, specs: list[Expect]) -> bool:
    """True when the rules on the column need only which values are equal (unique, not null)."""
    kinds = {s.kind for s in specs if s.column == column}
    return UNIQUE in kinds and kinds <= {UNIQUE, NOT_NULL}


def frame_column(column: str, data_type: str, presence: bool, uniqueness: bool = False) -> str:
    c = f'"{column}"'
    if presence:
        return f"case when {c} is not null then 1 end as {c}"
    if uniqueness:
        # equal values get equal numbers and a null stays null: GX checks 1.3 million person
        # keys as integers in 0.3 s, as 64-character text in 7 s
        return f"case when {c} is not null then dense_rank() over (order by {c}) end as {c}"
    if data_type == "DATE":
        # GX compares dates vectorised only for datetime64[ns] (else a Python call per value),
        # and ns cannot hold placeholders such as 9999-12-31: clamp first, the clamped value is
        # still out of range. Not least/greatest: they skip nulls, and a null must stay null.
        return (f"cast(case when {c} < date '{NS_MIN}' then date '{NS_MIN}' "
                f"when {c} > date '{NS_MAX}' then date '{NS_MAX}' else {c} end "
                f"as timestamp_ns) as {c}")
    if data_type.startswith("DECIMAL"):
        return f"cast({c} as double) as {c}"  # Arrow decimals become slow Python objects
    return c


def as_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray:
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    return column.dictionary_encode() if text else column


def gx_results(con: duckdb.DuckDBPyConnection, table: str, specs: list[Expect],
               as_of: date) -> list[CheckResult]:
    if not specs:
        return []
    chunks = kommun_chunks(con, table, specs)
    if chunks is None:
        return whole_table_results(con, table, specs, as_of)
    per_kommun: dict[str, dict[str, Outcome]] = {}
    for kommuner in chunks:
        try:
            frame = load_frame(con, table, specs, kommuner)
        except duckdb.Error as exc:
            return [result_row(s, None, Outcome(None, None, str(exc)), as_of) for s in specs]
        per_kommun |= kommun_outcomes(frame, specs, validate(frame, specs, as_of), as_of)
    return [result_row(s, kommun, per_kommun[kommun][s.name], as_of)
            for s in specs for kommun in sorted(per_kommun, key=lambda k: (k is None, k))]


def whole_table_results(con: duckdb.DuckDBPyConnection, table: str, specs: list[Expect],
                        as_of: date) -> list[CheckResult]:
    try:
        frame = load_frame(con, table, specs)
    except duckdb.Error as exc:
        return [result_row(s, None, Outcome(None, None, str(exc)), as_of) for s in specs]
    whole = validate(frame, specs, as_of)
    return [result_row(s, None, whole[s.name], as_of) for s in specs]


def kommun_chunks(con: duckdb.DuckDBPyConnection, table: str,
                  specs: list[Expect]) -> list[list[str | None]] | None:
    """Municipalities in groups of at most CHUNK_ROWS rows (a larger one alone), so that one
    great-expectations frame never holds a national table; None when the table must be checked
    whole: it has no kommun_kod, is empty, or a rule (uniqueness) spans municipalities."""
    schema, name = table.split(".")
    has_kommun = con.execute(
        "select count(*) from duckdb_columns() where schema_name = ? and table_name = ? "
        "and column_name = 'kommun_kod'", [schema, name]).fetchone()[0]
    if not has_kommun or any(s.kind == UNIQUE for s in specs):
        return None
    chunks = transform.kommun_chunks(con, table, CHUNK_ROWS)
    return chunks or None


def kommun_outcomes(frame: pd.DataFrame, specs: list[Expect], whole: dict[str, Outcome],
                    as_of: date) -> dict[str, dict[str, Outcome]]:
    """Per-municipality outcomes. Measured on 1M rows, 20 municipalities: whole frame 2 s; one GX
    run per municipality 4.7 s; COMPLETE with an unexpected index on kommun_kod 2 s when few rows
    fail but 60 s when 30 % do. So: validate the whole frame, then only the failing rules again
    per municipality; a clean table (the usual case) costs one pass."""
    failing = [s for s in specs if whole[s.name].unexpected]
    out = {}
    for kommun, part in frame.groupby("kommun_kod", dropna=False, sort=True, observed=True):
        again = validate(part, failing, as_of) if failing else {}
        out[kommun] = {s.name: again.get(s.name) or kommun_share(whole[s.name], len(part))
                       for s in specs}
    return out


def kommun_share(whole: Outcome, rows: int) -> Outcome:
    """A municipality's outcome for a rule the whole frame passed (or could not run)."""
    return Outcome(rows, None if whole.error else 0, whole.error)


def result_row(spec: Expect, kommun: str | None, outcome: Outcome, as_of: date) -> CheckResult:
    return CheckResult(
        check_name=spec.name, table_name=spec.table, kommun_kod=kommun, delivery_id=None,
        description=spec.description(as_of), severity=spec.severity, rows_checked=outcome.rows,
        unexpected=outcome.unexpected, passed=outcome.error is None and outcome.unexpected == 0,
        error=outcome.error)


# -- SQL ------------------------------------------------------------------------------------------

def sql_results(con: duckdb.DuckDBPyConnection, check: SqlCheck) -> list[CheckResult]:
    def row(kommun, delivery, rows, unexpected, error=None):
        return CheckResult(check.name, check.table, kommun, delivery, check.description,
                           check.severity, rows, unexpected,
                           passed=error is None and unexpected == 0, error=error)

    try:
        found = con.execute(fill_columns(con, check)).fetchall()
    except duckdb.Error as exc:
        return [row(None, None, None, None, str(exc))]
    # an empty table still gets a (passing) row, so every check shows up
    return [row(*r) for r in found] or [row(None, None, 0, 0)]


def fill_columns(con: duckdb.DuckDBPyConnection, check: SqlCheck) -> str:
    if "{content}" not in check.sql:
        return check.sql
    schema, name = check.table.split(".")
    columns = [c for (c,) in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
        "order by column_index", [schema, name]).fetchall()]
    content = [f's."{c}"' for c in columns if c not in POSITION_COLUMNS]
    position = [f's."{c}"' for c in POSITION_COLUMNS if c in columns]
    return check.sql.format(table=check.table, content=", ".join(content),
                            position=", ".join(position))


def quarantine_check_name(reason: str) -> str:
    return f"quarantine_{reason.lower()}"


def quarantine_results(con: duckdb.DuckDBPyConnection) -> list[CheckResult]:
    """One row per reason, municipality and delivery; rows_checked = the delivery's rows read."""
    try:
        found = con.execute(QUARANTINE_SQL).fetchall()
    except duckdb.Error as exc:
        return [CheckResult("quarantine", QUARANTINE_TABLE, None, None, "quarantined rows",
                            WARNING, None, None, passed=False, error=str(exc))]
    return [CheckResult(quarantine_check_name(reason), QUARANTINE_TABLE, kommun, delivery,
                        f"rows of the delivery quarantined with reason {reason}", WARNING,
                        rows_read, n, passed=False)
            for reason, kommun, delivery, rows_read, n in found]


# -- completeness per delivery and field (utfall.completeness) -----------------------------------

# Per delivery and expected field. Deliveries whose columns were not recorded (column_present
# null: loaded before they were) are not judged.
EXPECTED_COLUMN_SQL = """
with expected as (select * from (values {expected}) as t(kind, field))
select c.kommun_kod, c.delivery_id, sum(c.rows) as rows,
       bool_or(not c.column_present) as failing, d.path, c.field,
       list(c.sheet order by c.sheet) filter (where not c.column_present) as sheets,
       coalesce(sum(c.rows) filter (where not c.column_present), 0) as affected
from meta.field_completeness as c
join meta.delivery as d using (delivery_id)
join expected as e on e.kind = d.kind and e.field = c.field
where c.column_present is not null
group by c.kommun_kod, c.delivery_id, d.path, c.field
"""

# A delivery's share known per field against the median share of the municipality's earlier
# deliveries of the same kind (by period, then path) that had the column and rows to measure.
FIELD_HISTORY_SQL = """
with per_delivery as (
    select c.kommun_kod, c.delivery_id, d.kind, d.path, c.field,
           coalesce(d.period_start, date '9999-12-31') as period,
           bool_or(c.column_present) as present, sum(c.rows) as rows,
           sum(c.rows_known) as known
    from meta.field_completeness as c join meta.delivery as d using (delivery_id)
    group by all
),
with_history as (
    select *, known / nullif(rows, 0) as share,
           median(case when present is not false and rows > 0 then known / rows end) over (
               partition by kommun_kod, kind, field order by period, path
               rows between unbounded preceding and 1 preceding) as earlier_median
    from per_delivery
)
select kommun_kod, delivery_id, rows,
       coalesce(earlier_median > 0 and rows > 0
                and (present is false or share < earlier_median * {drop}), false) as failing,
       path, kind, field, rows as measured, rows - known as unknown, present, share,
       earlier_median
from with_history
where earlier_median is not null
"""


def completeness_results(con: duckdb.DuckDBPyConnection, as_of: date) -> list[CheckResult]:
    """meta.field_completeness is rebuilt first: it is derived from staging, and as_of decides
    which follow-up statuses are due. A WARNING per delivery and field; one passing row per
    municipality whose deliveries are all fine."""
    from utfall import completeness

    expected = ", ".join(f"('{kind}', '{field}')"
                         for kind, fields in completeness.EXPECTED_FIELDS.items()
                         for field in fields)
    try:
        completeness.refresh(con, as_of)
        missing = _judged(con, EXPECTED_COLUMN_SQL.format(expected=expected))
        history = _judged(con, FIELD_HISTORY_SQL.format(drop=HISTORY_DROP))
    except duckdb.Error as exc:
        return [CheckResult(name, COMPLETENESS_TABLE, None, None, "completeness per field",
                            WARNING, None, None, passed=False, error=str(exc))
                for name in (EXPECTED_COLUMN, FIELD_HISTORY)]
    return (_results(EXPECTED_COLUMN, *missing, _expected_text,
                     "every delivery has the columns its system normally carries")
            + _results(FIELD_HISTORY, *history, _history_text,
                       "every field is at least half as often known as in the municipality's "
                       "earlier deliveries of the same kind"))


def _judged(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[tuple], list[tuple]]:
    """`sql` gives (kommun_kod, delivery_id, rows, failing, details...): its failing rows, and
    (kommun_kod, rows) of each municipality with none. At national scale most of 100,000 judged
    pairs pass; they are summed here, not turned into Python objects one by one."""
    con.execute(f"create or replace temp table judged as {sql}")
    try:
        failing = con.execute("select * exclude (failing) from judged where failing "
                              "order by kommun_kod, path, field").fetchall()
        passing = con.execute("select kommun_kod, sum(rows) from judged group by kommun_kod "
                              "having not bool_or(failing) order by 1").fetchall()
    finally:
        con.execute("drop table if exists judged")
    return failing, passing


def _results(name: str, failing: list[tuple], passing: list[tuple], text,
             description: str) -> list[CheckResult]:
    out = []
    for kommun, delivery, rows, *details in failing:
        words, unexpected = text(*details)
        out.append(CheckResult(name, COMPLETENESS_TABLE, kommun, delivery, words, WARNING,
                               int(rows), int(unexpected), False))
    out += [CheckResult(name, COMPLETENESS_TABLE, kommun, None, description, WARNING, int(rows),
                        0, True) for kommun, rows in passing]
    return out or [CheckResult(name, COMPLETENESS_TABLE, None, None, description, WARNING, 0, 0,
                               True)]


def _expected_text(path, field, sheets, affected) -> tuple[str, int]:
    from utfall.completeness import FIELDS

    label = next(f.label for _, fields in FIELDS.values() for f in fields if f.name == field)
    where = "" if sheets == [None] else f" (sheet {', '.join(map(str, sheets))})"
    return (f"{path}{where}: no {label} column ({field}), which its system normally carries; "
            f"unexpected = rows left without {field}", affected)


def _history_text(path, kind, field, rows, unknown, present, share, median) -> tuple[str, int]:
    found = "no column" if present is False else f"known in {share:.0%}"
    return (f"{path}: {field} {found} of {rows} rows; the municipality's earlier {kind} "
            f"deliveries had it known in {median:.0%} (median); below {HISTORY_DROP:.0%} of "
            f"that is a warning", unknown)
