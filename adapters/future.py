"""Dates that cannot be true yet (privacy.md, DATE_FUTURE): one typo such as 2042-06 for 2024-06
must not move a file's coverage or the run's as_of.

Applied once, at the adapters' door (adapters.read), to the staging rows an adapter returns:

- procapita_fs_line.month (Avser månad): future when later than the month after the run date
  (assistance is sometimes paid a month ahead, never more);
- excel_status.observed_on (a status with its Statusdatum) and skapa_assessment.assessed_on
  (the assessment's Datum): future when after the run date.

Planned end dates are not checked: an ongoing episode's end lies ahead.

Counting (read = loaded + quarantined + skipped, one count per source row): a source row all of
whose staging rows are future (a payment line, a SKAPA occasion) is quarantined with DATE_FUTURE.
A source row that also yields rows that are not (an Excel participant whose dated status is
future) stays loaded with those rows; its future rows are dropped and listed in the notes,
because one row cannot be both loaded and quarantined, and the episode itself is sound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from utfall.adapters.base import AdapterResult, QuarantineRow, Reason

_SHOWN = 10  # locations listed in a note; the rest are counted


@dataclass(frozen=True)
class _Rule:
    table: str
    column: str
    label: str  # the column as an analyst knows it, for messages
    month_ahead: bool  # a month value: future when later than the month after the run date
    sets_period: bool  # the adapter's period is this column's range over loaded rows


RULES = (
    _Rule("procapita_fs_line", "month", "Avser månad", month_ahead=True, sets_period=True),
    _Rule("excel_status", "observed_on", "Statusdatum", month_ahead=False, sets_period=False),
    _Rule("skapa_assessment", "assessed_on", "Datum", month_ahead=False, sets_period=True),
)


def apply(result: AdapterResult, today: date, name: str) -> AdapterResult:
    """Quarantine or drop future rows (see the module docstring) and set result.latest_date."""
    rules = [rule for rule in RULES if rule.table in result.tables]
    latest = [day for rule in rules if (day := _latest(result.tables[rule.table], rule))]
    result.latest_date = max(latest) if latest else None
    if result.latest_date is None or result.latest_date <= today:
        return result  # the usual case, decided without a pass over the rows in Python
    found = [(rule, _days(result.tables[rule.table], rule)) for rule in rules]
    limit = np.datetime64(today, "D")
    future = {rule.table: days > limit for rule, days in found}
    if not any(mask.any() for mask in future.values()):
        return result
    keys = {table: _keys(result.tables[table]) for table in result.tables}
    future_keys = {k for t, mask in future.items() for k in _at(keys[t], mask)}
    kept_keys = _kept(keys, future, future_keys)
    quarantined = future_keys - kept_keys
    for rule, days in found:
        mask = future[rule.table]
        if mask.any():
            _drop(result, rule, mask)
            _report(result, rule, keys[rule.table], mask, days, quarantined, today, name)
    result.rows_loaded -= len(quarantined)
    if all(q.sheet is None for q in result.quarantine):  # a text file's: in line order
        result.quarantine.sort(key=lambda q: q.row_number)
    return result


# --- dates ---------------------------------------------------------------------------------------


def _latest(rows: pd.DataFrame | pa.Table, rule: _Rule) -> date | None:
    if isinstance(rows, pa.Table):  # 30 million payment lines: Arrow's max, then one shift
        latest = pc.max(rows.column(rule.column)).as_py()
        return None if latest is None else _shifted(latest, rule)
    days = _days(rows, rule)
    known = days[~np.isnat(days)]
    return _as_date(known.max()) if len(known) else None


def _shifted(day: date, rule: _Rule) -> date:
    if not rule.month_ahead:
        return day
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


def _days(rows: pd.DataFrame | pa.Table, rule: _Rule) -> np.ndarray:
    """The column as datetime64[D], NaT for none; a month m as the first day of month m-1, so
    that it is future exactly when it is after the run date."""
    if isinstance(rows, pa.Table):
        days = rows.column(rule.column).to_numpy().astype("datetime64[D]")
    else:
        # not pd.to_datetime: nanoseconds end in 2262, and a typed year 9999 must be seen
        days = np.array([None if pd.isna(v) else v for v in rows[rule.column]],
                        dtype="datetime64[D]")
    if rule.month_ahead:
        days = (days.astype("datetime64[M]") - 1).astype("datetime64[D]")
    return days


def _as_date(day: np.datetime64) -> date:
    return day.astype("datetime64[D]").astype(object)


# --- which source rows ---------------------------------------------------------------------------


def _keys(rows: pd.DataFrame | pa.Table) -> tuple[np.ndarray, np.ndarray | None]:
    """(row_number, sheet) of each staging row: the source row it came from."""
    if isinstance(rows, pa.Table):
        sheet = rows.column("sheet").to_numpy(zero_copy_only=False) if "sheet" in rows.column_names else None
        return rows.column("row_number").to_numpy(zero_copy_only=False), sheet
    sheet = None
    if "sheet" in rows.columns:  # a text file's rows have no sheet (NaN in a str column)
        sheet = np.array([None if pd.isna(v) else v for v in rows["sheet"]], dtype=object)
    return rows["row_number"].to_numpy(dtype=np.int64), sheet


def _at(keys: tuple[np.ndarray, np.ndarray | None], mask: np.ndarray) -> list[tuple]:
    numbers, sheets = keys
    chosen = sheets[mask] if sheets is not None else [None] * int(mask.sum())
    return [(s, int(n)) for s, n in zip(chosen, numbers[mask], strict=True)]


def _kept(keys: dict, future: dict[str, np.ndarray], future_keys: set[tuple]) -> set[tuple]:
    """The future rows' source rows that also yield a row that is not future (in any table)."""
    numbers = np.array(sorted({n for _, n in future_keys}), dtype=np.int64)
    kept: set[tuple] = set()
    for table, table_keys in keys.items():
        present = ~future.get(table, np.zeros(len(table_keys[0]), dtype=bool))
        candidates = present & np.isin(table_keys[0].astype(np.int64), numbers)
        kept |= set(_at(table_keys, candidates)) & future_keys
    return kept


# --- what becomes of them ------------------------------------------------------------------------


def _drop(result: AdapterResult, rule: _Rule, mask: np.ndarray) -> None:
    rows = result.tables[rule.table]
    if isinstance(rows, pa.Table):
        rows = rows.filter(pa.array(~mask))
    else:
        rows = rows[~mask].reset_index(drop=True)
    result.tables[rule.table] = rows
    if rule.sets_period:
        _set_period(result, rows, rule)


def _set_period(result: AdapterResult, rows: pd.DataFrame | pa.Table, rule: _Rule) -> None:
    if isinstance(rows, pa.Table):
        low, high = pc.min_max(rows.column(rule.column)).values()
        result.period_start, result.period_end = low.as_py(), high.as_py()
    else:
        values = rows[rule.column].dropna()
        result.period_start, result.period_end = (
            (min(values), max(values)) if len(values) else (None, None))


def _report(result: AdapterResult, rule: _Rule, keys, mask: np.ndarray, days: np.ndarray,
            quarantined: set[tuple], today: date, name: str) -> None:
    dropped = []
    seen: set[tuple] = set()
    for key, day in zip(_at(keys, mask), days[mask], strict=True):
        if key not in quarantined:
            dropped.append(key)
        elif key not in seen:  # an occasion's dimensions share one date: one quarantine row
            seen.add(key)
            result.quarantine.append(_quarantine_row(rule, key, day, today, name))
    if dropped:
        shown = ", ".join(_where(key) for key in dropped[:_SHOWN])
        more = f" and {len(dropped) - _SHOWN} more" if len(dropped) > _SHOWN else ""
        result.notes.append(
            f"{len(dropped)} value(s) of '{rule.label}' after the run date {today} (DATE_FUTURE) "
            f"not recorded; their rows loaded: {shown}{more}")


def _quarantine_row(rule: _Rule, key: tuple, day: np.datetime64, today: date,
                    name: str) -> QuarantineRow:
    sheet, number = key
    if rule.month_ahead:
        month = (day.astype("datetime64[M]") + 1).astype(object)
        detail = (f"month {month:%Y-%m} is later than the month after the run date {today}: "
                  f"it cannot be true yet")
        where = f"{name} line {number}"
    else:
        detail = f"date {_as_date(day)} is after the run date {today}: it cannot be true yet"
        where = f"{name}, " + (f"sheet '{sheet}', " if sheet else "") + f"row {number}"
    return QuarantineRow(number, Reason.DATE_FUTURE, f"{where}, column '{rule.label}': {detail}",
                         rule.label, sheet)


def _where(key: tuple) -> str:
    sheet, number = key
    return (f"sheet '{sheet}' " if sheet else "") + f"row {number}"
