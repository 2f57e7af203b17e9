"""Procapita text exports: ekonomiskt bistånd payments, household members, labour-market insatser.

The three extracts are told apart by their headers (spec sources.md sections 1 and 2). Files can
hold tens of millions of lines, so nothing is validated row by row: each column is factorised,
every *distinct* text is parsed once, and the results are mapped back to the rows with numpy and
Arrow. Raw personnummer never leave this module: rows carry only person_key and what is derived.

Counting (read = loaded + quarantined + skipped):
- rows_read is every line of the file except the header line: title and blank lines above the
  header, and every line below it.
- skipped: lines above the header, blank lines, total lines ('Summa', 'Totalt'), lines repeating
  the header, and lines with Roll = Barn (read, never loaded, not an error).
- quarantined: one row per line that cannot be loaded: LINE_MALFORMED for a line that is not a
  row of the header's layout (adapters.textfile), else under the first problem found, in column
  order personnummer, household, month/start date, amount/end date, payment date.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adapters import redact
from adapters.base import AdapterResult, FileRejected, QuarantineRow, Reason, SourceFile
from adapters.config import Limits, SystemConfig
from adapters.personnummer import InterimNumber, InvalidPersonnummer, Pseudonymiser, parse
from adapters.textfile import TOTAL, TextTable, read_text_table
from adapters.values import is_blank, parse_amount, parse_date, parse_month

SYSTEM = "procapita"

FS_KIND, HOUSEHOLD_KIND, INSATS_KIND = "procapita_fs", "procapita_household", "procapita_insats"
FS_TABLE, HOUSEHOLD_TABLE, INSATS_TABLE = (
    "procapita_fs_line", "procapita_household_member", "procapita_insats"
)
PERSON = ["person_key", "birth_year", "birth_month", "sex"]
FS_COLUMNS = [
    "row_number", *PERSON, "household_ref", "role", "month", "paid_on", "amount",
    "bistandstyp_local", "bistand_class", "hinder_local", "hinder",
]
HOUSEHOLD_COLUMNS = ["row_number", "household_ref", *PERSON, "role"]
INSATS_COLUMNS = [
    "row_number", *PERSON, "insats_local", "insats_typ", "provider", "start_date", "end_date",
    "end_reason_local", "end_reason", "referred_from_local", "referred_from",
    "distance_local", "distance",
]

# 'code text' in Försörjningshinder: a leading token with a digit ('11', 'A1', '2.3'), an optional
# separator, then the text
_HINDER_CODE = re.compile(r"\(?([0-9A-Za-z.]*\d[0-9A-Za-z.]*)\)?\s*[-–:.)]?\s+(.+)")
_MAX_AMOUNT = Decimal(10) ** 12  # decimal(14, 2)
_CENT = Decimal("0.01")
# plain amounts, at most 12 digits before the decimal mark: within decimal(14, 2) (Arrow syntax)
_PLAIN_AMOUNT = r"^-?[0-9]{1,12}([.,][0-9]{1,2})?$"
_PRIME_FROM = 64  # fewer new texts than this are parsed one by one, cheaper than an Arrow call


def read(
    source: SourceFile, config: SystemConfig, pseudo: Pseudonymiser, today: date
) -> AdapterResult:
    """Read one Procapita export into staging rows (see the module docstring for the counts)."""
    table = read_text_table(source.path, config, source.rel_path)
    columns, notes = _canonical_columns(table, config)
    kind = _kind(columns, _seen(table.header, config), source.rel_path)
    rows = _Rows(table, columns, source.rel_path)
    result = AdapterResult(kind=kind, notes=notes, columns_found={None: list(columns)})
    unknown = [h for h in table.header if h and config.column_for(h) is None]
    result.unknown_headers = redact.unknown_headers(None, unknown, table.header,
                                                    redact.aliases(config))
    result.rows_read = table.lines_above_header + rows.n
    build = {FS_KIND: _payments, HOUSEHOLD_KIND: _household, INSATS_KIND: _insatser}[kind]
    build(rows, config, pseudo, today, result)
    result.rows_skipped = table.lines_above_header + int(rows.skipped.sum())
    table.set_aside(result, source.rel_path)
    result.quarantine.sort(key=lambda q: q.row_number)
    return result


# --- layout --------------------------------------------------------------------------------------


def _canonical_columns(table: TextTable, config: SystemConfig) -> tuple[dict[str, int], list[str]]:
    """canonical column -> position of the first header naming it; notes on what is not read."""
    columns: dict[str, int] = {}
    unknown, repeated = [], []
    for index, header in enumerate(table.header):
        canonical = config.column_for(header) if header else None
        if canonical is None:
            if header:
                unknown.append(header)
        elif canonical in columns:
            repeated.append(header)
        else:
            columns[canonical] = index
    notes = []
    if unknown and redact.header_holds_data(table.header):
        notes.append(f"{len(unknown)} columns not read (their headers are not shown: the header "
                     f"line seems to hold data)")
    elif unknown:
        notes.append("columns not read: " + ", ".join(unknown))
    if repeated:
        notes.append("columns naming an already-read column, not read: " + ", ".join(repeated))
    return columns, notes


def _seen(header: list[str], config: SystemConfig) -> str:
    """The header cells for a message (adapters.redact.header_cells: never a data row's)."""
    shown, hidden = redact.header_cells(header, config.column_for)
    not_shown = [f"{hidden} more not shown (the header line seems to hold data)"] if hidden else []
    return ", ".join([repr(c) for c in shown] + not_shown)


def _kind(columns: dict[str, int], seen: str, name: str) -> str:
    if "personnummer" not in columns:
        raise FileRejected(f"{name}: no Personnummer column (headers seen: {seen})")
    if "startdatum" in columns and "belopp" not in columns:
        return INSATS_KIND
    if columns.keys() & {"avser_manad", "belopp", "utbetalningsdatum", "bistandstyp"}:
        _require(columns, ["hushallsnummer", "avser_manad", "belopp"], "payments", name, seen)
        return FS_KIND
    if "insats" in columns:
        _require(columns, ["startdatum"], "insats", name, seen)
    if "hushallsnummer" in columns:
        return HOUSEHOLD_KIND
    raise FileRejected(
        f"{name}: not a Procapita payments, household-member or insats extract "
        f"(headers seen: {seen})"
    )


_COLUMN_WORDS = {
    "hushallsnummer": "Hushållsnummer/Ärendenr",
    "avser_manad": "Avser månad",
    "belopp": "Belopp",
    "startdatum": "Startdatum",
}


def _require(columns, needed: list[str], what: str, name: str, seen: str) -> None:
    missing = [_COLUMN_WORDS[c] for c in needed if c not in columns]
    if missing:
        raise FileRejected(
            f"{name}: looks like a Procapita {what} extract but has no "
            f"{' or '.join(missing)} column (headers seen: {seen})"
        )


# --- parsing each distinct text once -------------------------------------------------------------


class _Invalid(Exception):
    """A text that cannot be loaded: the quarantine reason and what is wrong (never the value)."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class _Distinct:
    """One column's distinct texts: each is handled once, results go back to the rows by code."""

    def __init__(self, cells: pa.Array):
        encoded = pc.dictionary_encode(cells)
        self.codes = encoded.indices.to_numpy(zero_copy_only=False)
        self.texts: list[str] = encoded.dictionary.to_pylist()

    def flags(self, test: Callable[[str], bool]) -> np.ndarray:
        return _take(np.array([test(t) for t in self.texts], dtype=bool), self.codes)

    def arrow(self, per_text: list, arrow_type: pa.DataType, rows: np.ndarray) -> pa.Array:
        """The values of the selected rows.

        Text comes dictionary-encoded: 30 million person_keys are then 30 million int32 codes
        and one string per distinct personnummer text (DuckDB reads it as varchar)."""
        codes = self.codes[rows]
        if pa.types.is_string(arrow_type):
            null = np.array([v is None for v in per_text], dtype=bool)
            indices = pa.array(codes, type=pa.int32(), mask=_take(null, codes))
            values = pa.array(per_text, type=arrow_type)
            return pa.DictionaryArray.from_arrays(indices, values)
        return pa.array(per_text, type=arrow_type).take(pa.array(codes))

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """How many of the selected rows hold each distinct text."""
        return np.bincount(self.codes[rows], minlength=len(self.texts))


def _take(per_text: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return per_text[codes] if len(per_text) else np.zeros(len(codes), dtype=per_text.dtype)


@dataclass
class _Parsed:
    """A column parsed text by text: a value or a problem for each distinct text."""

    distinct: _Distinct
    column: str  # the header as written in the file
    values: list
    problems: list  # _Invalid or None

    def bad(self) -> np.ndarray:
        return _take(np.array([p is not None for p in self.problems], dtype=bool), self.distinct.codes)

    def problem(self, row: int) -> _Invalid:
        return self.problems[self.distinct.codes[row]]

    def arrow(self, arrow_type: pa.DataType, rows: np.ndarray, pick=lambda v: v):
        return self.distinct.arrow([None if v is None else pick(v) for v in self.values], arrow_type, rows)

    def present(self, rows: np.ndarray) -> list:
        """The distinct non-null values among the selected rows."""
        used = np.flatnonzero(self.distinct.counts(rows))
        return [self.values[i] for i in used if self.values[i] is not None]


def _parse_each(distinct: _Distinct, column: str, parse_one: Callable[[str], object],
                memo: dict[str, tuple]) -> _Parsed:
    outcomes = [memo.get(text) or _outcome(text, parse_one, memo) for text in distinct.texts]
    return _Parsed(distinct, column, [o[0] for o in outcomes], [o[1] for o in outcomes])


def _outcome(text: str, parse_one: Callable[[str], object], memo: dict[str, tuple]) -> tuple:
    try:
        outcome = (parse_one(text), None)
    except _Invalid as exc:
        outcome = (None, exc)
    memo[text] = outcome
    return outcome


# Outcomes of parsing a text, kept for the process: the same people, households, months and
# amounts recur in every monthly file, and a national run reads 30 million lines. Bounded: a
# memo that grows past _MEMO_LIMIT starts again.
_MEMO_LIMIT = 1 << 21
_memos: dict[object, dict[str, tuple]] = {}
_person_memos: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _memo(name: object) -> dict[str, tuple]:
    memo = _memos.setdefault(name, {})
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    return memo


def _person_memo(pseudo: Pseudonymiser, today: date) -> dict[str, tuple]:
    """Keyed by the pseudonymiser itself (weakly): a memo must never outlive its key."""
    memo = _person_memos.setdefault(pseudo, {}).setdefault(today, {})
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    return memo


# --- the value parsers ---------------------------------------------------------------------------


def _person_parser(pseudo: Pseudonymiser, today: date) -> Callable[[str], tuple]:
    def parse_one(text: str) -> tuple:
        if is_blank(text):
            raise _Invalid(Reason.PNR_MISSING, "personnummer is missing")
        try:
            pnr = parse(text, today)
        except InterimNumber as exc:
            raise _Invalid(Reason.PNR_INTERIM, f"an interim number, no personnummer: {exc}") from None
        except InvalidPersonnummer as exc:  # its message never holds the number
            raise _Invalid(Reason.PNR_INVALID, f"not a valid personnummer: {exc}") from None
        return pseudo.person_key(pnr), pnr.birth_year, pnr.birth_month, pnr.sex

    return parse_one


def _household_ref(text: str) -> str:
    if is_blank(text):
        raise _Invalid(Reason.HOUSEHOLD_MISSING, "household number is missing")
    return text.strip()


def _month(text: str) -> date:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise _Invalid(Reason.MONTH_INVALID, f"not a month: {exc}") from None


def _amount(text: str) -> Decimal:
    try:
        amount = parse_amount(text)
    except ValueError as exc:
        raise _Invalid(Reason.AMOUNT_INVALID, f"not an amount: {exc}") from None
    if abs(amount) >= _MAX_AMOUNT:
        raise _Invalid(Reason.AMOUNT_INVALID, "amount is too large for the amount column")
    cents = amount.quantize(_CENT)
    if cents != amount:  # '1,234' is more likely a misread thousands separator than öre
        raise _Invalid(Reason.AMOUNT_INVALID, "amount has more than two decimals")
    return cents


def _plausible(amount: _Parsed, limits: Limits, today: date) -> _Parsed:
    """An amount that no line of försörjningsstöd can be is quarantined, not loaded: one typo
    (or a personnummer in the amount column) would move every figure of the municipality."""
    problems = [None if value is None else _implausible(value, limits, today)
                for value in amount.values]
    return _Parsed(amount.distinct, amount.column, amount.values, problems)


def _implausible(value: Decimal, limits: Limits, today: date) -> _Invalid | None:
    if limits.fs_amount_min_kr <= value <= limits.fs_amount_max_kr:
        return None
    if value == value.to_integral_value() and _is_personnummer(str(abs(int(value))), today):
        return _Invalid(Reason.NUMBER_IS_PNR, "the amount is a personnummer, not an amount")
    if value > 0:
        return _Invalid(Reason.AMOUNT_IMPLAUSIBLE, f"the amount is above "
                        f"{limits.fs_amount_max_kr:,.0f} kr, more than one line of "
                        "försörjningsstöd can be (limits.fs_amount_max_kr)")
    return _Invalid(Reason.AMOUNT_IMPLAUSIBLE, f"the amount is below "
                    f"{limits.fs_amount_min_kr:,.0f} kr, more than a correction can take back "
                    "(limits.fs_amount_min_kr)")


def _is_personnummer(digits: str, today: date) -> bool:
    if len(digits) not in (10, 12):
        return False
    try:
        parse(digits, today)
    except InvalidPersonnummer:
        return False
    return True


def _prime_amounts(texts: list[str], memo: dict[str, tuple]) -> None:
    """Amounts written plainly ('1234', '-50,5', '1200.00') parsed in one Arrow call, into the
    memo; every other form goes through _amount. Amounts vary more than people do."""
    new = [text for text in texts if text not in memo]
    if len(new) < _PRIME_FROM:
        return
    cells = pa.array(new, pa.string())
    plain = cells.filter(pc.match_substring_regex(cells, _PLAIN_AMOUNT))
    values = pc.cast(pc.replace_substring(plain, ",", "."), pa.decimal128(14, 2))
    memo.update(zip(plain.to_pylist(), ((v, None) for v in values.to_pylist()), strict=True))


@cache  # one parser per flag pair: its memo lives as long as it does
def _date_parser(*, required: bool, end_of_month: bool = False) -> Callable[[str], date | None]:
    def parse_one(text: str) -> date | None:
        try:
            value = parse_date(text, end_of_month=end_of_month)
        except ValueError as exc:
            raise _Invalid(Reason.DATE_INVALID, f"not a date: {exc}") from None
        if value is None and required:
            raise _Invalid(Reason.DATE_MISSING, "date is missing")
        return value

    return parse_one


def _local_text(text: str) -> str | None:
    return None if is_blank(text) else text.strip()


def _hinder_code(config: SystemConfig, text: str) -> str | None:
    """Försörjningshinder as a code, a text, or 'code text': whole value, then text, then code."""
    code = config.map_value("hinder", text)
    if code is None and (m := _HINDER_CODE.fullmatch(text.strip())):
        code = config.map_value("hinder", m[2]) or config.map_value("hinder", m[1])
    return code


# --- the rows of one file ------------------------------------------------------------------------


class _Rows:
    """The records below the header: which are skipped, which fail a check, which load."""

    def __init__(self, table: TextTable, columns: dict[str, int], name: str):
        self.header, self.columns, self.name = table.header, columns, name
        self.line_number = table.line_numbers
        self.n = table.n
        self._distinct: dict[int, _Distinct] = {}
        self.skipped = self._blank_or_total(table.columns)
        self._checks: list[tuple[np.ndarray, Callable[[int], tuple[_Invalid, str]]]] = []

    def has(self, canonical: str) -> bool:
        return canonical in self.columns

    def distinct(self, canonical: str) -> _Distinct:
        return self._distinct[self.columns[canonical]]

    def parse(self, canonical: str, parse_one: Callable[[str], object],
              memo: dict[str, tuple] | None = None) -> _Parsed:
        """`memo` defaults to one per parser: pass one where the parser's result depends on more
        than the text."""
        header = self.header[self.columns[canonical]]
        memo = _memo(parse_one) if memo is None else memo
        return _parse_each(self.distinct(canonical), header, parse_one, memo)

    def check(self, parsed: _Parsed) -> _Parsed:
        """Rows whose text failed to parse are quarantined (unless an earlier check caught them)."""
        self._checks.append((parsed.bad(), lambda row: (parsed.problem(row), parsed.column)))
        return parsed

    def check_rows(self, bad: np.ndarray, problem: _Invalid, column: str) -> None:
        self._checks.append((bad, lambda row: (problem, column)))

    def skip(self, rows: np.ndarray) -> None:
        self.skipped |= rows

    def verdict(self) -> tuple[np.ndarray, list[QuarantineRow]]:
        """Rows to load, and one quarantine row per failed row, under its first failed check."""
        failed = np.full(self.n, -1, dtype=np.int64)
        for index, (bad, _) in enumerate(self._checks):
            failed[(failed < 0) & bad & ~self.skipped] = index
        quarantine = [
            self._quarantine_row(row, *self._checks[failed[row]][1](row))
            for row in np.flatnonzero(failed >= 0)
        ]
        return (failed < 0) & ~self.skipped, quarantine

    def line_numbers(self, rows: np.ndarray) -> np.ndarray:
        return self.line_number[rows]

    def _quarantine_row(self, row: int, problem: _Invalid, column: str) -> QuarantineRow:
        line = int(self.line_number[row])
        message = f"{self.name} line {line}, column '{column}': {problem.detail}"
        return QuarantineRow(line, problem.reason, message, column=column)

    def _blank_or_total(self, cells_by_column: list[pa.Array]) -> np.ndarray:
        """Blank lines, and lines whose first non-blank cell starts with Summa or Totalt.

        Vectorised in Arrow: every column is looked at, known or not (a name or a note in an
        unknown column makes a line non-blank). The known columns are dictionary-encoded on the
        way, so that each column's text is held in one piece only while it is looked at."""
        decided = np.zeros(self.n, dtype=bool)
        total = np.zeros(self.n, dtype=bool)
        known = set(self.columns.values())
        for position in range(len(self.header)):
            cells = cells_by_column[position]
            if not decided.all():  # usually the first column decides every line
                filled = _numpy(pc.not_equal(pc.utf8_trim_whitespace(cells), ""))
                first = filled & ~decided
                if first.any():  # the regex runs only on the cells that decide
                    chosen = cells.filter(pa.array(first))
                    total[first] = _numpy(
                        pc.match_substring_regex(chosen, TOTAL, ignore_case=True))
                decided |= filled
            if position in known:
                self._distinct[position] = _Distinct(cells)
        return ~decided | total


def _numpy(flags: pa.Array) -> np.ndarray:
    return flags.to_numpy(zero_copy_only=False).astype(bool)


# --- the parts every extract shares -------------------------------------------------------------


def _persons(rows: _Rows, pseudo: Pseudonymiser, today: date) -> _Parsed:
    parser = _person_parser(pseudo, today)
    return rows.check(rows.parse("personnummer", parser, _person_memo(pseudo, today)))


def _person_columns(person: _Parsed, loaded: np.ndarray) -> dict[str, object]:
    blank = (None,) * len(PERSON)
    per_column = zip(*(blank if v is None else v for v in person.values), strict=True)
    types = (pa.string(), pa.int32(), pa.int32(), pa.string())
    if not person.values:
        per_column = ([] for _ in PERSON)
    return {name: person.distinct.arrow(list(values), arrow_type, loaded)
            for name, values, arrow_type in zip(PERSON, per_column, types, strict=True)}


@dataclass
class _Mapped:
    """A local text column and its code through configuration."""

    distinct: _Distinct | None
    local: list
    codes: list

    def columns(self, rows: np.ndarray, absent: str | None = None) -> tuple[object, object]:
        """(local text, code) of the selected rows; without the column, null and `absent`."""
        if self.distinct is None:
            return _constant(None, rows), _constant(absent, rows)
        return (self.distinct.arrow(self.local, pa.string(), rows),
                self.distinct.arrow(self.codes, pa.string(), rows))

    def record_unmapped(self, field: str, rows: np.ndarray, unmapped: Counter) -> None:
        """Count loaded rows whose non-blank text no mapping covers (blank is not unmapped)."""
        if self.distinct is None:
            return
        for index, n in enumerate(self.distinct.counts(rows)):
            if n and self.local[index] is not None and self.codes[index] is None:
                unmapped[(field, self.local[index])] += int(n)


def _mapped(rows: _Rows, canonical: str, to_code: Callable[[str], str | None]) -> _Mapped:
    if not rows.has(canonical):
        return _Mapped(None, [], [])
    distinct = rows.distinct(canonical)
    local = [_local_text(t) for t in distinct.texts]
    codes = [None if text is None else to_code(text) for text in local]
    return _Mapped(distinct, local, codes)


def _config_mapped(rows: _Rows, canonical: str, config: SystemConfig, field: str) -> _Mapped:
    return _mapped(rows, canonical, lambda text: config.map_value(field, text))


def _roles(rows: _Rows, config: SystemConfig) -> _Mapped:
    """Roll through configuration; lines with Roll = Barn are skipped (read, never loaded)."""
    role = _config_mapped(rows, "roll", config, "role")
    if role.distinct is None:
        return role
    barn = np.array([code == "BARN" for code in role.codes], dtype=bool)
    rows.skip(_take(barn, role.distinct.codes))
    return role


def _constant(value: str | None, rows: np.ndarray) -> pa.Array:
    n = int(rows.sum())
    if value is None:
        return pa.nulls(n, pa.string())
    indices = pa.array(np.zeros(n, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value]))


def _table(columns: list[str], data: dict[str, object]) -> pa.Table:
    """Arrow all the way to DuckDB: a pandas frame here cost more per file than parsing it."""
    return pa.table({name: data[name] for name in columns})


def _finish(rows: _Rows, result: AdapterResult) -> np.ndarray:
    loaded, result.quarantine = rows.verdict()
    result.rows_loaded = int(loaded.sum())
    return loaded


# --- the three extracts --------------------------------------------------------------------------


def _payments(rows: _Rows, config: SystemConfig, pseudo: Pseudonymiser, today: date,
              result: AdapterResult) -> None:
    role = _roles(rows, config)
    person = _persons(rows, pseudo, today)
    household = rows.check(rows.parse("hushallsnummer", _household_ref))
    month = rows.check(rows.parse("avser_manad", _month))
    _prime_amounts(rows.distinct("belopp").texts, _memo(_amount))
    amount = rows.check(rows.parse("belopp", _amount))
    rows.check(_plausible(amount, config.limits, today))
    paid_on = (rows.check(rows.parse("utbetalningsdatum", _date_parser(required=False)))
               if rows.has("utbetalningsdatum") else None)
    bistand = _config_mapped(rows, "bistandstyp", config, "bistand_class")
    hinder = _mapped(rows, "forsorjningshinder", lambda text: _hinder_code(config, text))
    if not rows.has("bistandstyp"):
        result.notes.append("no Biståndstyp column: bistand_class is null on every line")
    loaded = _finish(rows, result)
    for field, mapped in (("role", role), ("bistand_class", bistand), ("hinder", hinder)):
        mapped.record_unmapped(field, loaded, result.unmapped)
    months = month.present(loaded)
    result.period_start, result.period_end = (min(months), max(months)) if months else (None, None)
    bistandstyp_local, bistand_class = bistand.columns(loaded)
    hinder_local, hinder_code = hinder.columns(loaded)
    result.tables[FS_TABLE] = _table(FS_COLUMNS, {
        "row_number": rows.line_numbers(loaded),
        **_person_columns(person, loaded),
        "household_ref": household.arrow(pa.string(), loaded),
        # one row per household set-ups have no Roll column: the line is the applicant's
        "role": role.columns(loaded, absent="SOKANDE")[1],
        "month": month.arrow(pa.date32(), loaded),
        "paid_on": paid_on.arrow(pa.date32(), loaded) if paid_on else _null(pa.date32(), loaded),
        "amount": amount.arrow(pa.decimal128(14, 2), loaded),
        "bistandstyp_local": bistandstyp_local, "bistand_class": bistand_class,
        "hinder_local": hinder_local, "hinder": hinder_code,
    })


def _household(rows: _Rows, config: SystemConfig, pseudo: Pseudonymiser, today: date,
               result: AdapterResult) -> None:
    role = _roles(rows, config)
    person = _persons(rows, pseudo, today)
    household = rows.check(rows.parse("hushallsnummer", _household_ref))
    loaded = _finish(rows, result)
    role.record_unmapped("role", loaded, result.unmapped)
    result.tables[HOUSEHOLD_TABLE] = _table(HOUSEHOLD_COLUMNS, {
        "row_number": rows.line_numbers(loaded),
        "household_ref": household.arrow(pa.string(), loaded),
        **_person_columns(person, loaded),
        "role": role.columns(loaded)[1],
    })


def _insatser(rows: _Rows, config: SystemConfig, pseudo: Pseudonymiser, today: date,
              result: AdapterResult) -> None:
    person = _persons(rows, pseudo, today)
    start = rows.check(rows.parse("startdatum", _date_parser(required=True)))
    end = (rows.check(rows.parse("slutdatum", _date_parser(required=False, end_of_month=True)))
           if rows.has("slutdatum") else None)
    if end is not None:
        _check_end_after_start(rows, start, end)
    insats = _config_mapped(rows, "insats", config, "insats_typ")
    end_reason = _config_mapped(rows, "avslutsorsak", config, "end_reason")
    referred = _config_mapped(rows, "remitterad_fran", config, "referred_from")
    distance = _config_mapped(rows, "avstand", config, "distance")
    provider = _mapped(rows, "anordnare", lambda text: None)
    loaded = _finish(rows, result)
    for field, mapped in (("insats_typ", insats), ("end_reason", end_reason),
                          ("referred_from", referred), ("distance", distance)):
        mapped.record_unmapped(field, loaded, result.unmapped)
    dates = start.present(loaded) + (end.present(loaded) if end else [])
    result.period_start = min(start.present(loaded), default=None)
    result.period_end = max(dates, default=None)
    insats_local, insats_typ = insats.columns(loaded)
    end_reason_local, end_reason_code = end_reason.columns(loaded)
    referred_local, referred_code = referred.columns(loaded)
    distance_local, distance_code = distance.columns(loaded)
    result.tables[INSATS_TABLE] = _table(INSATS_COLUMNS, {
        "row_number": rows.line_numbers(loaded),
        **_person_columns(person, loaded),
        "insats_local": insats_local, "insats_typ": insats_typ,
        "provider": provider.columns(loaded)[0],
        "start_date": start.arrow(pa.date32(), loaded),
        "end_date": end.arrow(pa.date32(), loaded) if end else _null(pa.date32(), loaded),
        "end_reason_local": end_reason_local, "end_reason": end_reason_code,
        "referred_from_local": referred_local, "referred_from": referred_code,
        "distance_local": distance_local, "distance": distance_code,
    })


def _check_end_after_start(rows: _Rows, start: _Parsed, end: _Parsed) -> None:
    start_day = _ordinals(start, missing=-1)
    end_day = _ordinals(end, missing=np.iinfo(np.int64).max)
    problem = _Invalid(Reason.END_BEFORE_START, "end date is before the start date")
    rows.check_rows(end_day < start_day, problem, end.column)


def _ordinals(parsed: _Parsed, missing: int) -> np.ndarray:
    per_text = np.array([missing if v is None else v.toordinal() for v in parsed.values],
                        dtype=np.int64)
    return _take(per_text, parsed.distinct.codes)


def _null(arrow_type: pa.DataType, rows: np.ndarray) -> pa.Array:
    return pa.nulls(int(rows.sum()), arrow_type)
