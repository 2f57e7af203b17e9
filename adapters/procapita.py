"""Procapita text exports: ekonomiskt bistånd payments, household members, labour-market insatser.

The three extracts are told apart by their headers (spec sources.md sections 1 and 2). Files can
hold tens of millions of lines, so nothing is validated row by row: each column is factorised,
every *distinct* text is parsed once, and the results are mapped back to the rows with numpy and
Arrow. Raw personnummer never leave this module: rows carry only person_key and what is derived.

A municipality's files of one layout are read as one batch (`read_batch`, issue 24): the same
work once for all of them, then every count, quarantine row, note and row split per file, each
equal to what the file gives read alone (`read`, a batch of one).

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from utfall.adapters import future, redact
from utfall.adapters.base import AdapterResult, FileRejected, QuarantineRow, Reason, SourceFile
from utfall.adapters.config import Limits, SystemConfig
from utfall.adapters.personnummer import (
    InterimNumber,
    InvalidPersonnummer,
    Personnummer,
    Pseudonymiser,
    parse,
)
from utfall.adapters.textfile import TOTAL, TextBatch, read_text_batch, read_text_table, sniff
from utfall.adapters.values import is_blank, parse_amount, parse_date, parse_month

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
# plain amounts, at most 12 digits before the decimal mark (within decimal(14, 2)), optionally
# with a space or NBSP before each group of three: '1234', '-50,5', '12 345,50' (RE2 syntax).
# What _amount makes of them too: spaces out, the comma a point, at most two decimals.
_PLAIN_AMOUNT = "^-?[0-9]{1,3}(?:[ \u00a0]?[0-9]{3}){0,3}(?:[.,][0-9]{1,2})?$"
_THOUSANDS = "[ \u00a0]"
_DECIMAL = pa.decimal128(14, 2)
# a text that Python's strip() leaves as it is and is_blank() does not take for blank
_PLAIN_TEXT = "^[!-~](?:[ -~]*[!-~])?$"


def read(
    source: SourceFile, config: SystemConfig, pseudo: Pseudonymiser, today: date
) -> AdapterResult:
    """Read one Procapita export into staging rows (see the module docstring for the counts)."""
    table = read_text_table(source.path, config, source.rel_path)
    return _read_layout(TextBatch.of(table, source.rel_path), config, pseudo, today)[0]


def read_batch(sources: list[SourceFile], config: SystemConfig, pseudo: Pseudonymiser,
               today: date) -> list[AdapterResult | None]:
    """Files of one municipality (one configuration) read by layout, not by file (issue 24).

    Files whose heads give the same layout (encoding, delimiter, header) are read as one batch:
    one Arrow read of their joined bodies, each distinct text of a column parsed once for the
    batch, then counts, quarantine, notes, unmapped values and rows split per file. Each result
    is what `adapters.read` gives for that file alone, its door included (dates that cannot be
    true yet, the personnummer mask: `_at_the_door`), and its tables are slices of the batch's.
    None where a file is to be read alone (`adapters.read`): a layout of its own, a file the
    batch cannot take as it is (adapters.textfile.sniff, read_text_batch), or a layout this
    adapter rejects (each file is then rejected by its own name)."""
    results: list[AdapterResult | None] = [None] * len(sources)
    layouts: dict[tuple, list[int]] = {}
    sniffed = {}
    for index, source in enumerate(sources):
        found = sniff(source.path, config, source.rel_path)
        if found is not None:
            sniffed[index] = found
            layouts.setdefault(found.layout, []).append(index)
    for members in layouts.values():
        if len(members) < 2:
            continue
        batch, alone = read_text_batch([sniffed[i] for i in members],
                                       [sources[i].rel_path for i in members])
        if batch is None:
            continue
        left_out = {members[at] for at in alone}
        inside = [i for i in members if i not in left_out]
        try:
            read = _read_layout(batch, config, pseudo, today)
        except FileRejected:
            continue
        for index, result in zip(inside, _at_the_door(read, batch, pseudo, today), strict=True):
            results[index] = result
    return results


def _read_layout(batch: TextBatch, config: SystemConfig, pseudo: Pseudonymiser,
                 today: date) -> list[AdapterResult]:
    """The files of a batch (one file, or many of one layout) into one result per file."""
    columns, notes = _canonical_columns(batch, config)
    kind = _kind(columns, _seen(batch.header, config), batch.names[0])
    rows = _Rows(batch, columns)
    unknown = [h for h in batch.header if h and config.column_for(h) is None]
    unknown_headers = redact.unknown_headers(None, unknown, batch.header, redact.aliases(config))
    out = _Out(batch, [
        AdapterResult(kind=kind, notes=list(notes), columns_found={None: list(columns)},
                      unknown_headers=list(unknown_headers))
        for _ in batch.names])
    above = batch.lines_above_header()
    for result, lines_above, records in zip(out.results, above.tolist(),
                                            batch.per_file().tolist(), strict=True):
        result.rows_read = lines_above + records
    build = {FS_KIND: _payments, HOUSEHOLD_KIND: _household, INSATS_KIND: _insatser}[kind]
    build(rows, config, pseudo, today, out)
    skipped = batch.per_file(rows.skipped)
    for index, result in enumerate(out.results):
        result.rows_skipped = int(above[index]) + int(skipped[index])
        batch.set_aside(result, index)
        result.quarantine.sort(key=lambda q: q.row_number)
    out.split_tables()
    return out.results


def _at_the_door(results: list[AdapterResult], batch: TextBatch, pseudo: Pseudonymiser,
                 today: date) -> list[AdapterResult]:
    """What adapters.read does after an adapter, for each file of a batch: dates that cannot be
    true yet (adapters.future), then the personnummer mask (adapters.redact). The mask of the
    rows is row by row, so it runs once over the batch's tables; a file with a date after the
    run date (rare) goes through adapters.future on its own rows."""
    tables = _batch_tables(results)
    masked = {name: _as_table(redact.result(AdapterResult(kind="", tables={name: rows}),
                                            pseudo).tables[name])
              for name, (rows, _) in tables.items()}
    done = []
    for index, result in enumerate(results):
        result.tables = {name: masked[name].slice(int(offsets[index]),
                                                  int(offsets[index + 1] - offsets[index]))
                         for name, (_, offsets) in tables.items()}
        result = future.apply(result, today, batch.names[index])  # one max unless a date is late
        shown = result.tables
        result.tables = {}
        result = redact.result(result, pseudo)
        result.tables = shown
        done.append(result)
    return done


def _batch_tables(results: list[AdapterResult]) -> dict[str, tuple[pa.Table, np.ndarray]]:
    """Each staging table of a batch as one table (its files' slices joined, without a copy of
    the shared dictionaries), with the row offsets of each file."""
    out = {}
    for name in results[0].tables:
        parts = [result.tables[name] for result in results]
        offsets = np.concatenate([[0], np.cumsum([len(part) for part in parts])])
        out[name] = (pa.concat_tables(parts).combine_chunks(), offsets)
    return out


def _as_table(rows) -> pa.Table:
    """A frame the mask made of a table, back to Arrow (as utfall.reading.as_arrow does)."""
    if isinstance(rows, pa.Table):
        return rows
    return pa.table({name: pa.array(rows[name], from_pandas=True) for name in rows.columns})


# --- layout --------------------------------------------------------------------------------------


def _canonical_columns(table: TextBatch, config: SystemConfig) -> tuple[dict[str, int], list[str]]:
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
        self.dictionary: pa.Array = encoded.dictionary

    @cached_property
    def texts(self) -> list[str]:
        return self.dictionary.to_pylist()

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


class _FastParsed:
    """A column parsed with a vectorised fast path: the texts written in the plain form are
    turned into values by Arrow in one call, the others one by one as _parse_each would (their
    values and problems are the same either way: tests/adapters/test_procapita.py and
    test_procapita_batch.py). Values stay an Arrow array; problems are few."""

    def __init__(self, distinct: _Distinct, column: str, values: pa.Array,
                 problems: dict[int, _Invalid]):
        self.distinct, self.column, self.values_arrow, self.problems = (
            distinct, column, values, problems)

    def bad(self) -> np.ndarray:
        per_text = np.zeros(len(self.distinct.dictionary), dtype=bool)
        per_text[list(self.problems)] = True
        return _take(per_text, self.distinct.codes)

    def problem(self, row: int) -> _Invalid:
        return self.problems[int(self.distinct.codes[row])]

    def arrow(self, arrow_type: pa.DataType, rows: np.ndarray) -> pa.Array:
        codes = self.distinct.codes[rows]
        if pa.types.is_string(arrow_type):
            indices = pa.array(codes, type=pa.int32())
            return pa.DictionaryArray.from_arrays(indices, self.values_arrow.cast(arrow_type))
        return self.values_arrow.cast(arrow_type).take(pa.array(codes))


def _fast_parse(distinct: _Distinct, column: str, plain: pa.Array, fast_values: pa.Array,
                parse_one: Callable[[str], object], arrow_type: pa.DataType) -> _FastParsed:
    """`plain` marks the texts whose value `fast_values` holds (null elsewhere); the other texts
    go through parse_one (with its memo), into the values or the problems."""
    slow = np.flatnonzero(~_numpy(plain))
    problems: dict[int, _Invalid] = {}
    values = fast_values.cast(arrow_type)
    if len(slow):
        memo = _memo(parse_one)
        texts = distinct.dictionary.take(pa.array(slow)).to_pylist()
        outcomes = [memo.get(text) or _outcome(text, parse_one, memo) for text in texts]
        for index, (_, problem) in zip(slow.tolist(), outcomes, strict=True):
            if problem is not None:
                problems[index] = problem
        mask = np.zeros(len(values), dtype=bool)
        mask[slow] = True
        values = pc.replace_with_mask(values, pa.array(mask),
                                      pa.array([o[0] for o in outcomes], arrow_type))
    return _FastParsed(distinct, column, values, problems)


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


def _amounts(rows: _Rows, limits: Limits, today: date) -> _FastParsed:
    """Belopp: amounts written plainly ('1234', '-50,5', '1200.00', '12 345,50') parsed by Arrow,
    every other form by _amount; an amount no line of försörjningsstöd can be is a problem of its
    own (_implausible), judged in Python only where Arrow does not find it well inside the
    limits. Amounts vary more than people do: a national run meets millions of distinct ones."""
    distinct = rows.distinct("belopp")
    column = rows.header[rows.columns["belopp"]]
    texts = distinct.dictionary
    plain = pc.match_substring_regex(texts, _PLAIN_AMOUNT)
    digits = pc.replace_substring_regex(pc.if_else(plain, texts, "0"), _THOUSANDS, "")
    fast = pc.if_else(plain, pc.cast(pc.replace_substring(digits, ",", "."), _DECIMAL), None)
    parsed = _fast_parse(distinct, column, plain, fast, _amount, _DECIMAL)
    # strictly inside the limits, with a margin for the floats' rounding; every other value is
    # judged exactly
    floats = pc.cast(parsed.values_arrow, pa.float64())
    inside = pc.and_(pc.greater(floats, float(limits.fs_amount_min_kr) + 1),
                     pc.less(floats, float(limits.fs_amount_max_kr) - 1))
    doubtful = np.flatnonzero(~_numpy(pc.fill_null(inside, True)))
    if len(doubtful):
        values = parsed.values_arrow.take(pa.array(doubtful)).to_pylist()
        for index, value in zip(doubtful.tolist(), values, strict=True):
            if index not in parsed.problems and value is not None:
                problem = _implausible(value, limits, today)
                if problem is not None:
                    parsed.problems[index] = problem
    return parsed


def _household_refs(rows: _Rows) -> _FastParsed:
    """Hushållsnummer as text: printable ASCII without a space at either end is itself; the
    rest goes through _household_ref (blank: a problem; spaces around: stripped as Python
    strips them)."""
    distinct = rows.distinct("hushallsnummer")
    column = rows.header[rows.columns["hushallsnummer"]]
    texts = distinct.dictionary
    plain = pc.match_substring_regex(texts, _PLAIN_TEXT)
    return _fast_parse(distinct, column, plain, pc.if_else(plain, texts, None),
                       _household_ref, pa.string())


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

    def __init__(self, table: TextBatch, columns: dict[str, int]):
        self.header, self.columns, self.names = table.header, columns, table.names
        self.line_number, self.file = table.line_numbers, table.file
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

    def verdict(self) -> tuple[np.ndarray, list[tuple[int, QuarantineRow]]]:
        """Rows to load, and one quarantine row per failed row, under its first failed check,
        with the file it belongs to."""
        failed = np.full(self.n, -1, dtype=np.int64)
        for index, (bad, _) in enumerate(self._checks):
            failed[(failed < 0) & bad & ~self.skipped] = index
        quarantine = [
            (int(self.file[row]), self._quarantine_row(row, *self._checks[failed[row]][1](row)))
            for row in np.flatnonzero(failed >= 0)
        ]
        return (failed < 0) & ~self.skipped, quarantine

    def line_numbers(self, rows: np.ndarray) -> np.ndarray:
        return self.line_number[rows]

    def _quarantine_row(self, row: int, problem: _Invalid, column: str) -> QuarantineRow:
        line = int(self.line_number[row])
        name = self.names[self.file[row]]
        message = f"{name} line {line}, column '{column}': {problem.detail}"
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


class _People:
    """The personnummer column parsed: person_key, birth year, birth month and sex per distinct
    text, or its problem."""

    def __init__(self, distinct: _Distinct, column: str):
        self.distinct, self.column = distinct, column
        n = len(distinct.dictionary)
        self.keys: list[str | None] = [None] * n
        self.years = np.zeros(n, dtype=np.int32)
        self.months = np.zeros(n, dtype=np.int32)
        self.sexes: list[str | None] = [None] * n
        self.problems: dict[int, _Invalid] = {}

    def set(self, index: int, value: tuple) -> None:
        self.keys[index], self.years[index], self.months[index], self.sexes[index] = value

    def bad(self) -> np.ndarray:
        per_text = np.zeros(len(self.keys), dtype=bool)
        per_text[list(self.problems)] = True
        return _take(per_text, self.distinct.codes)

    def problem(self, row: int) -> _Invalid:
        return self.problems[int(self.distinct.codes[row])]

    def columns(self, rows: np.ndarray) -> dict[str, pa.Array]:
        codes = pa.array(self.distinct.codes[rows], type=pa.int32())
        return {
            "person_key": pa.DictionaryArray.from_arrays(codes, pa.array(self.keys, pa.string())),
            "birth_year": pa.array(self.years).take(codes),
            "birth_month": pa.array(self.months).take(codes),
            "sex": pa.DictionaryArray.from_arrays(codes, pa.array(self.sexes, pa.string())),
        }


def _persons(rows: _Rows, pseudo: Pseudonymiser, today: date) -> _People:
    """Personnummer written plainly (YYYYMMDD-NNNC, YYYYMMDDNNNC, YYMMDD-NNNC, YYMMDDNNNC) are
    normalised and checked (date, check digit, serial) in numpy, all at once; those that pass
    are only keyed (Pseudonymiser.person_key), and every other text, valid or not, goes through
    adapters.personnummer.parse one by one, as before: the same values and the same problems
    (tests/adapters/test_procapita_batch.py)."""
    distinct = rows.distinct("personnummer")
    people = _People(distinct, rows.header[rows.columns["personnummer"]])
    texts = distinct.dictionary
    plain = np.flatnonzero(_numpy(pc.match_substring_regex(texts, _PLAIN_PNR)))
    twelve, ok = _twelve_digits(texts.take(pa.array(plain, pa.int64())), today)
    for index, value in zip(plain[ok].tolist(), _keyed(twelve[ok], pseudo), strict=True):
        people.set(index, value)
    slow = np.ones(len(texts), dtype=bool)
    slow[plain[ok]] = False
    if slow.any():
        memo, parse_one = _person_memo(pseudo, today), _person_parser(pseudo, today)
        chosen = np.flatnonzero(slow)
        for index, text in zip(chosen.tolist(), texts.take(pa.array(chosen)).to_pylist(),
                               strict=True):
            value, problem = memo.get(text) or _outcome(text, parse_one, memo)
            if problem is None:
                people.set(index, value)
            else:
                people.problems[index] = problem
    return rows.check(people)


# a personnummer written plainly (RE2): 8 or 6 digits, an optional '-', 4 digits
_PLAIN_PNR = "^(?:[0-9]{8}|[0-9]{6})-?[0-9]{4}$"
_LUHN = np.array([2, 1, 2, 1, 2, 1, 2, 1, 2], dtype=np.int64)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _twelve_digits(texts: pa.Array, today: date) -> tuple[np.ndarray, np.ndarray]:
    """(digits, ok) of texts that match _PLAIN_PNR: an n x 12 matrix of the normalised number
    (a 10-digit number takes the century adapters.personnummer gives it: the latest year not
    after today's), and whether it passes every check adapters.personnummer._validate makes."""
    stripped = pc.replace_substring(texts, "-", "").combine_chunks() if isinstance(
        texts, pa.ChunkedArray) else pc.replace_substring(texts, "-", "")
    n = len(stripped)
    if n == 0:
        return np.zeros((0, 12), dtype=np.int64), np.zeros(0, dtype=bool)
    offsets = np.frombuffer(stripped.buffers()[1], dtype=np.int32)[
        stripped.offset:stripped.offset + n + 1].astype(np.int64)
    data = np.frombuffer(stripped.buffers()[2], dtype=np.uint8).astype(np.int64) - ord("0")
    lengths = np.diff(offsets)
    digits = np.zeros((n, 12), dtype=np.int64)
    long = lengths == 12
    digits[long] = data[offsets[:-1][long, None] + np.arange(12)]
    short = ~long
    ten = data[offsets[:-1][short, None] + np.arange(10)]
    year = (today.year // 100) * 100 + ten[:, 0] * 10 + ten[:, 1]
    year = np.where(year > today.year, year - 100, year)
    digits[short, 0], digits[short, 1] = year // 1000, year // 100 % 10
    digits[short, 2:] = ten
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    day = np.where(day > 60, day - 60, day)  # a samordningsnummer
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    real_date = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
    products = digits[:, 2:11] * _LUHN
    total = (products - 9 * (products > 9)).sum(axis=1)
    luhn = (10 - total % 10) % 10 == digits[:, 11]
    issued = digits[:, 8:11].any(axis=1)  # serial 000 is never issued
    return digits, real_date & luhn & issued


def _keyed(digits: np.ndarray, pseudo: Pseudonymiser) -> list[tuple]:
    """(person_key, birth year, birth month, sex) of valid normalised numbers."""
    if not len(digits):
        return []
    text = (digits + ord("0")).astype(np.uint8).tobytes().decode("ascii")
    years = (digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]).tolist()
    months = (digits[:, 4] * 10 + digits[:, 5]).tolist()
    sexes = np.where(digits[:, 10] % 2 == 1, "M", "K").tolist()
    samordning = (digits[:, 6] * 10 + digits[:, 7] > 60).tolist()
    out = []
    for i, (year, month, sex, coordination) in enumerate(zip(years, months, sexes, samordning,
                                                             strict=True)):
        number = Personnummer(text[12 * i:12 * i + 12], year, month, sex, coordination)
        out.append((pseudo.person_key(number), year, month, sex))
    return out


def _person_columns(person: _People, loaded: np.ndarray) -> dict[str, object]:
    return person.columns(loaded)


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

    def record_unmapped(self, field: str, rows: np.ndarray, out: _Out) -> None:
        """Count loaded rows whose non-blank text no mapping covers (blank is not unmapped), per
        file."""
        if self.distinct is None:
            return
        unmapped = [index for index, (local, code) in enumerate(zip(self.local, self.codes))
                    if local is not None and code is None]
        if not unmapped:
            return
        position = np.full(len(self.local), -1, dtype=np.int64)
        position[unmapped] = np.arange(len(unmapped))
        at = position[self.distinct.codes]
        chosen = rows & (at >= 0)
        files = len(out.results)
        counts = np.bincount(out.file[chosen] * len(unmapped) + at[chosen],
                             minlength=files * len(unmapped)).reshape(files, len(unmapped))
        for file, index in zip(*np.nonzero(counts), strict=True):
            out.results[file].unmapped[(field, self.local[unmapped[index]])] += int(
                counts[file, index])


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


class _Out:
    """The results of a batch's files, and the staging tables of all of them, in file order
    (split into per-file slices at the end)."""

    def __init__(self, batch: TextBatch, results: list[AdapterResult]):
        self.results, self.file = results, batch.file
        self.tables: dict[str, pa.Table] = {}
        self.loaded: np.ndarray | None = None

    def note(self, text: str) -> None:
        for result in self.results:
            result.notes.append(text)

    def periods(self, low: np.ndarray, high: np.ndarray) -> None:
        """Each file's period from its loaded rows: the least of `low` and the greatest of
        `high` (date ordinals per row, -1 where there is none)."""
        files = len(self.results)
        least = np.full(files, np.iinfo(np.int64).max, dtype=np.int64)
        greatest = np.full(files, -1, dtype=np.int64)
        chosen = self.loaded & (low >= 0)
        np.minimum.at(least, self.file[chosen], low[chosen])
        chosen = self.loaded & (high >= 0)
        np.maximum.at(greatest, self.file[chosen], high[chosen])
        none = np.iinfo(np.int64).max
        for result, first, last in zip(self.results, least.tolist(), greatest.tolist(),
                                       strict=True):
            result.period_start = None if first == none else date.fromordinal(first)
            result.period_end = None if last < 0 else date.fromordinal(last)

    def split_tables(self) -> None:
        """Each file's rows as a slice of the batch's tables (rows are in file order)."""
        counts = np.bincount(self.file[self.loaded], minlength=len(self.results))
        offsets = np.concatenate([[0], np.cumsum(counts)]).tolist()
        for index, result in enumerate(self.results):
            result.tables = {name: rows.slice(offsets[index], offsets[index + 1] - offsets[index])
                             for name, rows in self.tables.items()}


def _finish(rows: _Rows, out: _Out) -> np.ndarray:
    loaded, quarantine = rows.verdict()
    for file, row in quarantine:
        out.results[file].quarantine.append(row)
    for result, n in zip(out.results, np.bincount(rows.file[loaded], minlength=len(out.results))
                         .tolist(), strict=True):
        result.rows_loaded = n
    out.loaded = loaded
    return loaded


# --- the three extracts --------------------------------------------------------------------------


def _payments(rows: _Rows, config: SystemConfig, pseudo: Pseudonymiser, today: date,
              result: _Out) -> None:
    role = _roles(rows, config)
    person = _persons(rows, pseudo, today)
    household = rows.check(_household_refs(rows))
    month = rows.check(rows.parse("avser_manad", _month))
    amount = rows.check(_amounts(rows, config.limits, today))
    paid_on = (rows.check(rows.parse("utbetalningsdatum", _date_parser(required=False)))
               if rows.has("utbetalningsdatum") else None)
    bistand = _config_mapped(rows, "bistandstyp", config, "bistand_class")
    hinder = _mapped(rows, "forsorjningshinder", lambda text: _hinder_code(config, text))
    if not rows.has("bistandstyp"):
        result.note("no Biståndstyp column: bistand_class is null on every line")
    loaded = _finish(rows, result)
    for field, mapped in (("role", role), ("bistand_class", bistand), ("hinder", hinder)):
        mapped.record_unmapped(field, loaded, result)
    months = _ordinals(month, missing=-1)
    result.periods(months, months)
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
               result: _Out) -> None:
    role = _roles(rows, config)
    person = _persons(rows, pseudo, today)
    household = rows.check(_household_refs(rows))
    loaded = _finish(rows, result)
    role.record_unmapped("role", loaded, result)
    result.tables[HOUSEHOLD_TABLE] = _table(HOUSEHOLD_COLUMNS, {
        "row_number": rows.line_numbers(loaded),
        "household_ref": household.arrow(pa.string(), loaded),
        **_person_columns(person, loaded),
        "role": role.columns(loaded)[1],
    })


def _insatser(rows: _Rows, config: SystemConfig, pseudo: Pseudonymiser, today: date,
              result: _Out) -> None:
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
        mapped.record_unmapped(field, loaded, result)
    first = _ordinals(start, missing=-1)
    last = first if end is None else np.maximum(first, _ordinals(end, missing=-1))
    result.periods(first, last)
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
