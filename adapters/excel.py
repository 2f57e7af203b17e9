"""Hand-made Excel participant lists (`excel/`): participants, their insats and follow-up statuses.

No two lists look alike (spec/sources.md section 4): the header row is found, not assumed, and
every header and value goes through the municipality's configuration. Each data row becomes one
`excel_participant` row (an insats episode) and one `excel_status` row per non-blank status cell.
`Namn` is read past, never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from utfall.adapters.base import AdapterResult, Reason, SourceFile
from utfall.adapters.config import SystemConfig
from utfall.adapters.personnummer import Pseudonymiser
from utfall.adapters.spreadsheet import (
    Row,
    RowProblem,
    Table,
    cell_text,
    quarantine_row,
    read_date,
    read_personnummer,
    read_tables,
    typed_frame,
    unknown_headers,
)
from utfall.adapters.values import is_blank, parse_date

SYSTEM = "excel"
KIND = "excel_participants"

# follow-up column -> months after the episode's end date it refers to
FOLLOWUP_MONTHS = {"status_3": 3, "status_6": 6, "status_12": 12}

PARTICIPANT_COLUMNS = {
    "sheet": "str", "row_number": "Int64",
    "person_key": "str", "birth_year": "Int64", "birth_month": "Int64", "sex": "str",
    "participant_ref": "str", "insats_local": "str", "insats_typ": "str",
    "start_date": "object", "end_date": "object",
    "end_reason_local": "str", "end_reason": "str",
    "referred_from_local": "str", "referred_from": "str",
    "distance_local": "str", "distance": "str",
    "born_abroad": "boolean", "malgrupp": "str",
}  # fmt: skip
STATUS_COLUMNS = {
    "sheet": "str", "row_number": "Int64", "person_key": "str",
    "basis": "str", "horizon_months": "Int64", "episode_end_date": "object",
    "observed_on": "object", "status_local": "str", "status": "str",
}  # fmt: skip

_YES_NO = {"JA": True, "NEJ": False}


@dataclass
class _Context:
    source: SourceFile
    config: SystemConfig
    pseudo: Pseudonymiser
    today: date
    result: AdapterResult
    participants: list[dict] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)
    codes: dict[tuple[str, str], str | None] = field(default_factory=dict)
    followup_without_end: int = 0
    reported_without_date: int = 0


def read(
    source: SourceFile, config: SystemConfig, pseudo: Pseudonymiser, today: date
) -> AdapterResult:
    result = AdapterResult(kind=KIND)
    ctx = _Context(source, config, pseudo, today, result)
    for table in _participant_tables(source, config, result):
        _read_table(table, ctx)
    result.tables = {
        "excel_participant": typed_frame(ctx.participants, PARTICIPANT_COLUMNS),
        "excel_status": typed_frame(ctx.statuses, STATUS_COLUMNS),
    }
    _set_period(result, ctx.participants)
    _note_unrecorded(ctx)
    return result


# --- sheets --------------------------------------------------------------------------------------


def _participant_tables(source: SourceFile, config: SystemConfig, result: AdapterResult):
    """The configured sheets, or every sheet whose header names a personnummer and a start."""
    return read_tables(
        source, config, _is_participant_list,
        "a personnummer column and a start date column", result.notes,
    )  # fmt: skip


def _is_participant_list(table: Table) -> bool:
    return table.has("personnummer") and table.has("startdatum")


def _read_table(table: Table, ctx: _Context) -> None:
    data, skipped = table.split_rows()
    ctx.result.columns_found[table.sheet] = table.known_columns()
    ctx.result.unknown_headers += unknown_headers(table, ctx.config)
    ctx.result.rows_read += skipped + len(data)
    ctx.result.rows_skipped += skipped
    if table.has("status") and not table.has("statusdatum"):
        ctx.result.notes.append(
            f"sheet '{table.sheet}': column '{table.header('status')}' has no status date column "
            f"beside it, so its values were not read"
        )
    for row in data:
        try:
            participant, statuses = _participant(table, row, ctx)
        except RowProblem as problem:
            ctx.result.quarantine.append(quarantine_row(ctx.source, table, row, problem))
            continue
        ctx.participants.append(participant)
        ctx.statuses.extend(statuses)
        ctx.result.rows_loaded += 1


# --- one row -------------------------------------------------------------------------------------


def _participant(table: Table, row: Row, ctx: _Context) -> tuple[dict, list[dict]]:
    pnr = read_personnummer(table, row, ctx.today)
    start = read_date(table, row, "startdatum", required=True)
    end = read_date(table, row, "slutdatum", end_of_month=True)
    if end is not None and end < start:
        raise RowProblem(
            Reason.END_BEFORE_START,
            table.header("slutdatum"),
            f"end date {end} is before start date {start}",
        )
    person_key = ctx.pseudo.person_key(pnr)
    insats_local, insats_typ = _mapped(ctx, "insats_typ", table.value(row, "insats"))
    reason_local, reason = _mapped(ctx, "end_reason", table.value(row, "avslutsorsak"))
    referred_local, referred = _mapped(ctx, "referred_from", table.value(row, "remitterad_fran"))
    distance_local, distance = _mapped(ctx, "distance", table.value(row, "avstand"))
    _, abroad = _mapped(ctx, "born_abroad", table.value(row, "fodd_utomlands"))
    participant = {
        "sheet": table.sheet, "row_number": row.number,
        "person_key": person_key, "birth_year": pnr.birth_year, "birth_month": pnr.birth_month,
        "sex": pnr.sex,
        "participant_ref": cell_text(table.value(row, "deltagarnr")) or None,
        "insats_local": insats_local, "insats_typ": insats_typ,
        "start_date": start, "end_date": end,
        "end_reason_local": reason_local, "end_reason": reason,
        "referred_from_local": referred_local, "referred_from": referred,
        "distance_local": distance_local, "distance": distance,
        "born_abroad": _YES_NO.get(abroad),
        "malgrupp": cell_text(table.value(row, "malgrupp")) or None,
    }  # fmt: skip
    base = {"sheet": table.sheet, "row_number": row.number, "person_key": person_key}
    statuses = _followups(table, row, ctx, end) + _reported(table, row, ctx)
    return participant, [base | s for s in statuses]


def _mapped(ctx: _Context, fld: str, cell: object) -> tuple[str | None, str | None]:
    """(the text as delivered, its code); an unmapped text is counted, never guessed."""
    local = cell_text(cell) or None
    if local is None:
        return None, None
    if (fld, local) not in ctx.codes:  # lists repeat a few texts thousands of times
        ctx.codes[(fld, local)] = ctx.config.map_value(fld, local)
    code = ctx.codes[(fld, local)]
    if code is None:
        ctx.result.unmapped[(fld, local)] += 1
    return local, code


def _followups(table: Table, row: Row, ctx: _Context, end: date | None) -> list[dict]:
    """'Status 6 mån' refers to the episode's end date + 6 months: no end date, no observation."""
    out = []
    for name, months in FOLLOWUP_MONTHS.items():
        cell = table.value(row, name)
        if is_blank(cell):  # a blank status cell is no observation ('-' and 'Vet ej' are)
            continue
        if end is None:
            ctx.followup_without_end += 1
            continue
        local, code = _mapped(ctx, "status", cell)
        out.append(
            {
                "basis": "FOLLOWUP",
                "horizon_months": months,
                "episode_end_date": end,
                "observed_on": None,
                "status_local": local,
                "status": code,
            }
        )
    return out


def _reported(table: Table, row: Row, ctx: _Context) -> list[dict]:
    """A 'Status' column with a 'Statusdatum' beside it: a status observed on that date."""
    if not (table.has("status") and table.has("statusdatum")):
        return []
    cell = table.value(row, "status")
    if is_blank(cell):
        return []
    try:
        observed = parse_date(table.value(row, "statusdatum"))
    except ValueError:
        observed = None
    if observed is None:
        ctx.reported_without_date += 1
        return []
    local, code = _mapped(ctx, "status", cell)
    return [
        {
            "basis": "REPORTED",
            "horizon_months": None,
            "episode_end_date": None,
            "observed_on": observed,
            "status_local": local,
            "status": code,
        }
    ]


# --- the result ----------------------------------------------------------------------------------


def _set_period(result: AdapterResult, participants: list[dict]) -> None:
    if not participants:
        return
    result.period_start = min(p["start_date"] for p in participants)
    result.period_end = max(
        max(p["start_date"], p["end_date"] or p["start_date"]) for p in participants
    )


def _note_unrecorded(ctx: _Context) -> None:
    if ctx.followup_without_end:
        ctx.result.notes.append(
            f"{ctx.followup_without_end} follow-up status(es) not recorded: the row has no end "
            f"date, so the follow-up has no date"
        )
    if ctx.reported_without_date:
        ctx.result.notes.append(
            f"{ctx.reported_without_date} status(es) not recorded: no readable status date"
        )
