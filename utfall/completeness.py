"""How much of what the KPIs need each delivery actually carried: per delivery, sheet and field,
whether the source had the column and the share of rows with a usable value (issue 15).

The adapters say which canonical columns each sheet had (AdapterResult.columns_found, stored in
meta.source_column at ingest); `refresh` measures the shares set-based from the staging rows of
the live deliveries into meta.field_completeness. Rebuilt whole on every run, so a delivery that
is replaced or withdrawn leaves no row behind.

For the report (utfall.report calls these; the shapes are stable):
- `completeness_table(con) -> list[KommunCompleteness]`: per municipality, one `FieldRow` per kind
  of extract and field: share known over all its deliveries, and how many files/sheets lacked
  the column.
- `missing_columns(con) -> list[MissingColumn]` and `missing_columns_sentences(con) -> list[str]`:
  one Swedish sentence per delivered sheet that lacks a column its system normally carries
  (EXPECTED_FIELDS) or that the municipality's other deliveries of the same kind had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

import duckdb

from utfall.schemas import codes


@dataclass(frozen=True)
class Field:
    """A field an adapter fills, measured on its staging rows (`known` and `applies` are SQL)."""

    name: str
    column: str  # the canonical column it is read from (config header_aliases)
    known: str  # the row has a usable value
    label: str  # the header an analyst looks for in the file
    unknown_sv: str  # what is lost without it, e.g. "avslutsorsak okänd"
    unit_sv: str  # what `rows` counts, plural
    applies: str = "true"  # the rows the field applies to


def _status(months: int) -> Field:
    return Field(f"status_{months}", f"status_{months}", f"f.s{months}", f"Status {months} mån",
                 f"status {months} mån efter avslut okänd", "avslutade insatser",
                 f"end_date is not null and end_date + interval {months} month <= {{as_of}}")


_PERSON = [
    Field("personnummer", "personnummer", "person_key is not null", "Personnummer",
          "personnummer saknas", "rader"),
    Field("sex", "personnummer", "sex is not null", "Kön (ur personnumret)", "kön okänt", "rader"),
]
_EPISODE = [
    Field("start_date", "startdatum", "start_date is not null", "Startdatum",
          "startdatum saknas", "insatser"),
    Field("end_date", "slutdatum", "end_date is not null", "Slutdatum",
          "slutdatum saknas (insatsen räknas som pågående)", "insatser"),
    Field("insats_typ", "insats", "insats_typ is not null", "Insats", "insatstyp okänd",
          "insatser"),
    Field("end_reason", "avslutsorsak", "end_reason is not null", "Avslutsorsak",
          "avslutsorsak okänd", "avslutade insatser", "end_date is not null"),
    Field("referred_from", "remitterad_fran", "referred_from is not null", "Remitterad från",
          "remittent okänd", "insatser"),
    Field("distance", "avstand", "distance is not null", "Kategori (avstånd till arbetsmarknaden)",
          "avstånd till arbetsmarknaden okänt", "insatser"),
]
_HOUSEHOLD = Field("household", "hushallsnummer", "household_ref is not null", "Hushållsnummer",
                   "hushållsnummer saknas", "rader")

# kind of extract (meta.delivery.kind) -> its staging table and the fields measured on it
FIELDS: dict[str, tuple[str, list[Field]]] = {
    "excel_participants": ("excel_participant", [
        *_PERSON, *_EPISODE,
        Field("born_abroad", "fodd_utomlands", "born_abroad is not null", "Född utomlands",
              "födelseland okänt", "insatser"),
        _status(3), _status(6), _status(12),
    ]),
    "procapita_insats": ("procapita_insats", [*_PERSON, *_EPISODE]),
    "procapita_fs": ("procapita_fs_line", [
        *_PERSON, _HOUSEHOLD,
        Field("fs_month", "avser_manad", "month is not null", "Avser månad", "månad saknas",
              "utbetalningsrader"),
        Field("fs_amount", "belopp", "amount is not null", "Belopp", "belopp saknas",
              "utbetalningsrader"),
        Field("paid_on", "utbetalningsdatum", "paid_on is not null", "Utbetalningsdatum",
              "utbetalningsdatum saknas", "utbetalningsrader"),
        Field("bistand_class", "bistandstyp", "bistand_class is not null", "Biståndstyp",
              "biståndstyp okänd", "utbetalningsrader"),
        Field("hinder", "forsorjningshinder", "hinder is not null", "Försörjningshinder",
              "försörjningshinder okänt", "utbetalningsrader"),
    ]),
    "procapita_household": ("procapita_household_member", [
        *_PERSON, _HOUSEHOLD,
        Field("role", "roll", "role is not null", "Roll", "roll i hushållet okänd", "rader"),
    ]),
    # SKAPA is measured per occasion (one spreadsheet row), not per dimension row
    "skapa": ("skapa_assessment", [
        Field("personnummer", "personnummer", "has_person_key", "Personnummer",
              "personnummer saknas (kopplas via Deltagarnr)", "bedömningstillfällen"),
        Field("participant_ref", "deltagarnr", "has_participant_ref", "Deltagarnr",
              "deltagarnr saknas", "bedömningstillfällen"),
        Field("assessed_on", "datum", "true", "Datum", "datum saknas", "bedömningstillfällen"),
        Field("rater", "bedomning", "true", "Bedömning", "bedömare okänd",
              "bedömningstillfällen"),
        *[Field(f"score_{d.lower()}", f"dimension:{d}", f"list_contains(dimensions, '{d}')",
                label, f"poäng för {label.lower()} saknas", "bedömningstillfällen")
          for d, label in {
              "MOTIVATION": "Motivation", "HALSA": "Hälsa", "SOCIAL_FORMAGA": "Social förmåga",
              "STRUKTUR": "Struktur", "SPRAK": "Språk", "ARBETSFORMAGA": "Arbetsförmåga",
              "SAMARBETE": "Samarbete", "OVRIGT": "Övrigt"}.items()],
    ]),
}
assert {f.column.split(":")[1] for f in FIELDS["skapa"][1] if ":" in f.column} == set(
    codes.DIMENSION)

# The columns each kind of extract normally carries (spec/sources.md, "typical" headers; not
# those it has only "sometimes"): a delivery without one gets a WARNING (utfall.quality).
EXPECTED_FIELDS: dict[str, tuple[str, ...]] = {
    "excel_participants": ("personnummer", "start_date", "end_date", "insats_typ", "end_reason",
                           "status_3", "status_6", "status_12"),
    "procapita_insats": ("personnummer", "start_date", "end_date", "insats_typ", "end_reason",
                         "referred_from"),
    "procapita_fs": ("personnummer", "household", "fs_month", "fs_amount", "paid_on",
                     "bistand_class", "hinder"),
    "procapita_household": ("personnummer", "household", "role"),
    "skapa": ("assessed_on", "rater"),
}

KIND_SV = {
    "excel_participants": "Deltagarlistor (Excel)",
    "procapita_insats": "Insatser (Procapita)",
    "procapita_fs": "Utbetalningar av ekonomiskt bistånd (Procapita)",
    "procapita_household": "Hushållsmedlemmar (Procapita)",
    "skapa": "Bedömningar (SKAPA)",
}

# One row per participant row (excel) or occasion (SKAPA), with what the measures need.
_SOURCES = {
    "excel_participant": """
        staging.excel_participant as p
        left join (
            select delivery_id, sheet, row_number,
                   bool_or(horizon_months = 3 and status is not null) as s3,
                   bool_or(horizon_months = 6 and status is not null) as s6,
                   bool_or(horizon_months = 12 and status is not null) as s12
            from staging.excel_status where basis = 'FOLLOWUP'
            group by all
        ) as f
          on f.delivery_id = p.delivery_id and f.sheet is not distinct from p.sheet
         and f.row_number = p.row_number""",
    "skapa_assessment": """
        (select delivery_id, kommun_kod, sheet, row_number,
                bool_or(person_key is not null) as has_person_key,
                bool_or(participant_ref is not null) as has_participant_ref,
                list(distinct dimension) as dimensions
         from staging.skapa_assessment group by all) as p""",
}


def _measure_sql(kind: str, as_of: date | None) -> str:
    """(delivery_id, kommun_kod, sheet, field, rows, rows_known) of one kind, in one scan."""
    table, fields = FIELDS[kind]
    day = f"date '{as_of.isoformat()}'" if as_of else "date '9999-12-31'"
    measures = []
    for f in fields:
        applies = f.applies.format(as_of=day)
        measures += [f'count(*) filter (where {applies}) as "{f.name}|rows"',
                     f'count(*) filter (where ({applies}) and coalesce({f.known}, false)) '
                     f'as "{f.name}|known"']
    source = _SOURCES.get(table, f"staging.{table} as p")
    return f"""
        select delivery_id, kommun_kod, sheet, split_part(measure, '|', 1) as field,
               max(n) filter (where measure like '%|rows') as rows,
               max(n) filter (where measure like '%|known') as rows_known
        from (
            unpivot (select p.delivery_id, p.kommun_kod, {_sheet(table)} as sheet,
                            {', '.join(measures)}
                     from {source} group by all)
            on columns(* exclude (delivery_id, kommun_kod, sheet)) into name measure value n
        )
        group by all"""


def _sheet(table: str) -> str:
    has_sheet = table in ("excel_participant", "skapa_assessment")
    return "p.sheet" if has_sheet else "cast(null as varchar)"


def _fields_sql() -> str:
    rows = [f"('{kind}', '{f.name}', '{f.column}', {i})"
            for kind, (_, fields) in FIELDS.items() for i, f in enumerate(fields)]
    return f"select * from (values {', '.join(rows)}) as t(kind, field, column_name, position)"


REFRESH_SQL = """
insert into meta.field_completeness
with measured as ({measured}),
     field_spec as ({fields}),
     live as (select delivery_id, kommun_kod, system, kind from meta.delivery
              where status = 'LOADED'),
     sheets as (
        select delivery_id, sheet from meta.source_column
        union select delivery_id, sheet from measured
     ),
     recorded as (select distinct delivery_id from meta.source_column),
     -- a SKAPA dimension is measured where the municipality has it in any delivery of the kind
     dimension_kept as (
        select distinct l.kommun_kod, l.kind, c.column_name
        from meta.source_column as c join live as l using (delivery_id)
        where c.column_name like 'dimension:%'
     ),
     cells as (
        select l.delivery_id, l.kommun_kod, l.system, s.sheet, f.field, f.column_name, f.position
        from live as l
        join sheets as s using (delivery_id)
        join field_spec as f on f.kind = l.kind
        where f.column_name not like 'dimension:%'
           or exists (select 1 from dimension_kept as k where k.kommun_kod = l.kommun_kod
                      and k.kind = l.kind and k.column_name = f.column_name)
     )
select c.delivery_id, c.kommun_kod, c.system, c.sheet, c.field,
       case when r.delivery_id is null then null
            else exists (select 1 from meta.source_column as sc
                         where sc.delivery_id = c.delivery_id
                           and sc.sheet is not distinct from c.sheet
                           and sc.column_name = c.column_name) end as column_present,
       coalesce(m.rows, 0) as rows, coalesce(m.rows_known, 0) as rows_known,
       m.rows_known / nullif(m.rows, 0) as share_known
from cells as c
left join recorded as r using (delivery_id)
left join measured as m
  on m.delivery_id = c.delivery_id and m.sheet is not distinct from c.sheet
 and m.field = c.field
order by c.kommun_kod, c.delivery_id, c.sheet nulls first, c.position
"""


def refresh(con: duckdb.DuckDBPyConnection, as_of: date | None = None) -> None:
    """Rebuild meta.field_completeness from staging and meta.source_column. `as_of` decides
    which ended episodes are old enough for each follow-up status (None: every ended one)."""
    measured = " union all ".join(_measure_sql(kind, as_of) for kind in FIELDS)
    con.execute("delete from meta.field_completeness")
    con.execute(REFRESH_SQL.format(measured=measured, fields=_fields_sql()))


# --- for the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRow:
    """One kind of extract and field of a municipality, over all its live deliveries."""

    kind: str  # excel_participants, procapita_insats, procapita_fs, procapita_household, skapa
    kind_sv: str  # e.g. "Deltagarlistor (Excel)"
    field: str  # e.g. end_reason
    label: str  # the header an analyst looks for, e.g. "Avslutsorsak"
    parts: int  # files (sheets, for workbooks) of this kind delivered
    parts_without_column: int  # of them, without the column (not recorded counts as with)
    rows: int  # rows the field applies to (see meta.field_completeness.rows)
    rows_known: int
    share_known: float | None  # rows_known / rows; None when rows = 0


@dataclass(frozen=True)
class KommunCompleteness:
    kommun_kod: str
    fields: list[FieldRow]  # kinds in FIELDS order, then fields in FIELDS order


@dataclass(frozen=True)
class MissingColumn:
    """A delivered sheet without a column its system normally carries, or one that the
    municipality's other deliveries of the same kind have."""

    kommun_kod: str
    delivery_id: str
    path: str  # relative to the inbox
    sheet: str | None
    kind: str
    field: str
    label: str
    rows_affected: int  # rows the field applies to, all without a value
    expected: bool  # the system normally carries it (EXPECTED_FIELDS)
    sentence: str  # Swedish, for the report


def _spec(kind: str, field: str) -> Field:
    return next(f for f in FIELDS[kind][1] if f.name == field)


def _order(kind: str, field: str) -> tuple[int, int]:
    kinds = list(FIELDS)
    return kinds.index(kind), [f.name for f in FIELDS[kind][1]].index(field)


def completeness_table(con: duckdb.DuckDBPyConnection) -> list[KommunCompleteness]:
    """Per municipality: field x share known, over its live deliveries."""
    found = con.execute("""
        select c.kommun_kod, d.kind, c.field, count(*),
               count(*) filter (where c.column_present is false),
               sum(c.rows), sum(c.rows_known)
        from meta.field_completeness as c join meta.delivery as d using (delivery_id)
        group by all
    """).fetchall()
    by_kommun: dict[str, list[FieldRow]] = {}
    for kommun, kind, field, parts, without, rows, known in found:
        if kind not in FIELDS:
            continue
        share = known / rows if rows else None
        by_kommun.setdefault(kommun, []).append(FieldRow(
            kind, KIND_SV[kind], field, _spec(kind, field).label, parts, without, int(rows),
            int(known), share))
    return [KommunCompleteness(k, sorted(rows, key=lambda r: _order(r.kind, r.field)))
            for k, rows in sorted(by_kommun.items())]


MISSING_SQL = """
with c as (
    select c.*, d.kind, d.path
    from meta.field_completeness as c join meta.delivery as d using (delivery_id)
),
had as (  -- kinds and fields some delivery of the municipality has a column for
    select distinct kommun_kod, kind, field from c where column_present
)
select c.kommun_kod, c.delivery_id, c.path, c.sheet, c.kind, c.field, c.rows,
       h.field is not null as others_have
from c
left join had as h on h.kommun_kod = c.kommun_kod and h.kind = c.kind and h.field = c.field
where c.column_present is false
order by c.kommun_kod, c.path, c.sheet nulls first
"""


def missing_columns(con: duckdb.DuckDBPyConnection) -> list[MissingColumn]:
    out = []
    for kommun, did, path, sheet, kind, field, rows, others_have in con.execute(MISSING_SQL).fetchall():
        expected = field in EXPECTED_FIELDS.get(kind, ())
        if kind not in FIELDS or not (expected or others_have):
            continue
        spec = _spec(kind, field)
        out.append(MissingColumn(kommun, did, path, sheet, kind, field, spec.label, int(rows),
                                 expected, _sentence(path, sheet, spec, int(rows))))
    return sorted(out, key=lambda m: (m.kommun_kod, m.path, m.sheet or "",
                                      _order(m.kind, m.field)))


def _sentence(path: str, sheet: str | None, spec: Field, rows: int) -> str:
    """'Deltagare 2023.xlsx, blad 2023: ingen kolumn Avslutsorsak — avslutsorsak okänd för 82
    avslutade insatser'."""
    where = PurePosixPath(path).name + (f", blad {sheet}" if sheet else "")
    lost = (f"{spec.unknown_sv} för {rows} {spec.unit_sv}" if rows
            else f"inga {spec.unit_sv} berörs ännu")
    return f"{where}: ingen kolumn {spec.label} — {lost}"


def missing_columns_sentences(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [m.sentence for m in missing_columns(con)]
