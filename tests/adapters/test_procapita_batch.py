"""Procapita files read by layout, not by file (issue 24): every result of a batch is what the
file gives read alone through the adapters' door (adapters.read), with every count, message,
quarantine row, note, unmapped value and staging row; a file the batch cannot take as it is
is left to be read alone; a batch that fails costs nothing but time (utfall.reading reads its
files alone, each named). Files are written by the tests, with invented personnummer."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.adapters.files.procapita import fixtures as fx
from utfall import adapters, reading
from utfall.adapters import procapita
from utfall.adapters.base import AdapterResult, Reason, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser
from utfall.adapters.textfile import TextBatch

pytestmark = pytest.mark.adapter

TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
STORE = ConfigStore(None)
CONFIG = STORE.for_system("1480", "procapita")
HEADER = ("Personnummer;Hushållsnummer;Roll;Avser månad;Utbetalningsdatum;Belopp;Biståndstyp;"
          "Försörjningshinder;Handläggare")
TITLE = "Utbetalt ekonomiskt bistånd – ”Göteborg” {} (belopp i €)"
ADULTS = [fx.P1, fx.P4, fx.P5, fx.P7]


def line(i: int, month: str = "2023-03", amount: str = "1 200,00", role: str = "Sökande",
         household: str | None = None, kind: str = "Försörjningsstöd",
         hinder: str = "11 Arbetslös") -> str:
    person = fx.dashed(ADULTS[i % 4])
    return ";".join([person, household or f"H{i % 7}", role, month, "2023-02-27", amount, kind,
                     hinder, "Anna Andersson"])


def month_file(month: int, extra: list[str] | None = None, title: bool = True,
               n: int = 12) -> list[str]:
    lines = [TITLE.format(f"2023-{month:02d}"), ""] if title else []
    lines.append(HEADER)
    lines += [line(i, f"2023-{month:02d}", f"{1000 + 37 * i + month},50",
                   kind=["Försörjningsstöd", "Hushållsel", "Boende", "Tandvård"][i % 4])
              for i in range(n)]
    return lines + (extra or [])


def write(folder: Path, name: str, lines: list[str], encoding: str = "cp1252",
          eol: str = "\r\n", last_eol: bool = True, prefix: bytes = b"") -> Path:
    text = eol.join(lines) + (eol if last_eol else "")
    path = folder / name
    path.write_bytes(prefix + text.encode(encoding))
    return path


def sources(paths: list[Path]) -> list[SourceFile]:
    return [SourceFile(p, f"1480/procapita/{p.name}", "1480", "procapita") for p in paths]


def alone(source: SourceFile) -> AdapterResult:
    return adapters.read("procapita", source, CONFIG, PSEUDO, TODAY)


def as_seen(result: AdapterResult) -> dict:
    """Everything of a result that reaches the database, in comparable form."""
    tables = {}
    for name, rows in result.tables.items():
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows)
        tables[name] = [{k: v for k, v in row.items()} for row in table.to_pylist()]
    return {
        "kind": result.kind, "tables": tables,
        "quarantine": [(q.row_number, q.reason, q.message, q.column, q.sheet)
                       for q in result.quarantine],
        "counts": (result.rows_read, result.rows_loaded, result.rows_skipped),
        "period": (result.period_start, result.period_end), "latest": result.latest_date,
        "unmapped": dict(result.unmapped), "notes": result.notes,
        "columns_found": result.columns_found, "unknown_headers": result.unknown_headers,
    }


def check_batch(paths: list[Path]) -> list[AdapterResult | None]:
    """read_batch's results, each equal to the file read alone; None where it read none."""
    files = sources(paths)
    results = procapita.read_batch(files, CONFIG, PSEUDO, TODAY)
    for source, result in zip(files, results, strict=True):
        if result is not None:
            assert result.reconciles(), source.rel_path
            assert as_seen(result) == as_seen(alone(source)), source.rel_path
    return results


def test_monthly_files_of_one_layout_are_one_batch_and_each_equals_itself_alone(tmp_path):
    paths = [write(tmp_path, f"ekb_2023-{m:02d}.csv", month_file(m)) for m in range(1, 7)]
    results = check_batch(paths)
    assert all(r is not None for r in results)
    assert [r.period_start for r in results] == [date(2023, m, 1) for m in range(1, 7)]
    assert [r.rows_read for r in results] == [2 + 12] * 6  # title, blank, 12 lines


def test_what_goes_wrong_in_a_file_stays_in_that_file_under_its_own_line_numbers(tmp_path):
    extra = {
        2: [line(3, "2023-13"), "", line(4, amount="abc"), "Summa;;;;;;;;",
            HEADER, line(5, role="Barn"), "x;y", line(6, "2023-02", "198805173575")],
        4: [";H9;Sökande;2023-04;2023-03-28;100,00;Riksnorm;;Bo", line(1, "2042-06"),
            line(2, kind="Okänd typ"), line(3, hinder="77 Nytt hinder")],
        5: [line(2, household=fx.dashed(fx.P5)), line(3, household=" ")],
    }
    paths = [write(tmp_path, f"ekb_2023-{m:02d}.csv", month_file(m, extra.get(m), title=m % 2 == 0))
             for m in range(1, 7)]
    results = check_batch(paths)
    assert all(r is not None for r in results)
    two = {(q.row_number, q.reason) for q in results[1].quarantine}
    # title, blank, header, 12 lines, then the extra lines from line 16
    assert two == {(16, Reason.MONTH_INVALID), (18, Reason.AMOUNT_INVALID),
                   (22, Reason.LINE_MALFORMED), (23, Reason.NUMBER_IS_PNR)}
    assert results[1].quarantine[0].message.startswith("1480/procapita/ekb_2023-02.csv line 16")
    assert results[3].latest_date > TODAY  # the typed 2042: DATE_FUTURE in its own file only
    assert any(q.reason == Reason.DATE_FUTURE for q in results[3].quarantine)
    assert not any(q.reason == Reason.DATE_FUTURE for r in results if r is not results[3]
                   for q in r.quarantine)
    # unmapped values are counted per file, over its loaded lines
    assert [dict(r.unmapped) for r in results] == [
        {("hinder", "11 Arbetslös"): n} for n in (12, 12, 12)] + [
        {("bistand_class", "Okänd typ"): 1, ("hinder", "11 Arbetslös"): 14,
         ("hinder", "77 Nytt hinder"): 1}] + [
        {("hinder", "11 Arbetslös"): n} for n in (13, 12)]
    # a household number that is a personnummer leaves as a keyed reference, in its file only
    refs = results[4].tables["procapita_fs_line"].column("household_ref").to_pylist()
    assert fx.dashed(fx.P5) not in refs and len(set(refs)) == 8


def test_files_the_batch_cannot_take_as_they_are_are_left_to_be_read_alone(tmp_path):
    good = [write(tmp_path, f"ekb_2023-{m:02d}.csv", month_file(m)) for m in (1, 2)]
    undefined = write(tmp_path, "odd_byte.csv", month_file(3))
    undefined.write_bytes(undefined.read_bytes().replace(b"Boende", b"Bo\x81nde"))
    title_byte = write(tmp_path, "odd_title.csv", month_file(4))
    title_byte.write_bytes(title_byte.read_bytes().replace(b"2023-04", b"\x81", 1))
    quoted = write(tmp_path, "quoted.csv", month_file(5, ['"' + line(1)]))
    lone_cr = write(tmp_path, "lone_cr.csv", month_file(6, [line(1) + "\r" + line(2)]))
    title_cr = write(tmp_path, "title_cr.csv", ["Titel\r", *month_file(9)])
    damaged = write(tmp_path, "damaged.csv", month_file(7, ["a;b"] * 11))
    empty = write(tmp_path, "tom.csv", [])
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01" * 100)
    tab = write(tmp_path, "tab.txt", [c.replace(";", "\t") for c in month_file(8)])
    paths = [*good, undefined, title_byte, quoted, lone_cr, damaged, empty, binary, tab,
             title_cr]
    results = check_batch(paths)
    assert [r is not None for r in results] == [True, True] + [False] * 9
    # read alone, the damaged file is rejected by name, as before
    read = reading.read_batch([reading.Job("procapita", s) for s in sources(paths)], STORE,
                              PSEUDO, TODAY)
    assert [r.batched for r in read] == [True, True] + [False] * 9
    assert read[6].error.startswith("1480/procapita/damaged.csv: 11 of the")
    assert read[7].error == "1480/procapita/tom.csv: the file is empty"
    assert read[2].result.reconciles() and read[2].error is None


def test_encodings_line_ends_and_titles_mix_within_a_layout(tmp_path):
    lines = month_file(1, title=False)
    paths = [
        write(tmp_path, "a.csv", month_file(1)),  # Windows-1252, € and ” in the title
        write(tmp_path, "b.csv", lines, encoding="utf-8"),
        write(tmp_path, "c.csv", lines, encoding="utf-8", prefix=b"\xef\xbb\xbf"),
        write(tmp_path, "d.csv", lines, eol="\n", last_eol=False),
        write(tmp_path, "e.csv", [HEADER]),  # a header and nothing else
        write(tmp_path, "f.csv", [HEADER], last_eol=False),
        write(tmp_path, "g.csv", lines, encoding="utf-8", last_eol=False),
    ]
    results = check_batch(paths)
    assert [r is not None for r in results] == [True, True, True, True, True, False, True]
    assert results[4].rows_read == 0 and results[4].tables["procapita_fs_line"].num_rows == 0
    # a batch of headers with nothing below them
    empty = check_batch([write(tmp_path, f"tom_{n}.csv", [HEADER]) for n in range(2)])
    assert [r.rows_read for r in empty] == [0, 0]


def test_household_and_insats_extracts_batch_too(tmp_path):
    members = ["Hushållsnummer;Personnummer;Roll"]
    people = [fx.dashed(p) for p in ADULTS]
    roles = ["Sökande", "Medsökande", "Barn", "Partner"]
    homes = [write(tmp_path, f"hushall_{y}.csv",
                   members + [f"H{i};{people[i % 4]};{roles[(i + y) % 4]}" for i in range(8)]
                   + [f";{people[0]};Sökande"])
             for y in range(3)]
    head = "Personnummer;Insats;Anordnare;Startdatum;Slutdatum;Avslutsorsak;Remitterad från"
    insatser = [write(tmp_path, f"insatser_{y}.csv",
                      [head] + [f"{people[i % 4]};Praktik {i};Café {fx.dashed(fx.P1)};"
                                f"2023-0{i + 1}-01;{'2023-01-01' if i == 3 else ''};Fått arbete;AF"
                                for i in range(5)], encoding="utf-8")
                for y in range(2)]
    results = check_batch(homes + insatser)
    assert all(r is not None for r in results)
    assert {r.kind for r in results} == {"procapita_household", "procapita_insats"}
    assert any(q.reason == Reason.END_BEFORE_START for q in results[-1].quarantine)


def test_a_layout_the_adapter_rejects_leaves_each_file_to_be_rejected_by_name(tmp_path):
    lines = ["Personnummer;Namn", f"{fx.dashed(fx.P1)};Anna"]
    paths = [write(tmp_path, f"{n}.csv", lines) for n in "ab"]
    assert check_batch(paths) == [None, None]
    read = reading.read_batch([reading.Job("procapita", s) for s in sources(paths)], STORE,
                              PSEUDO, TODAY)
    assert [r.error.split(":")[0] for r in read] == ["1480/procapita/a.csv",
                                                     "1480/procapita/b.csv"]


def test_a_batch_that_fails_costs_only_time_each_file_is_read_alone(tmp_path, monkeypatch):
    class Panic(BaseException):  # as a native reader's panic: not an Exception
        pass

    def fails(*args):
        raise Panic("the batch gave up")

    paths = [write(tmp_path, f"ekb_2023-{m:02d}.csv", month_file(m)) for m in (1, 2)]
    monkeypatch.setattr(procapita, "_read_layout", fails)
    read = reading.read_batch([reading.Job("procapita", s) for s in sources(paths)], STORE,
                              PSEUDO, TODAY)
    # read alone, each file meets the same failure, and is named by it
    assert [r.batched for r in read] == [False, False]
    assert [r.error for r in read] == [
        f"1480/procapita/{p.name}: the file could not be read (the reader failed with Panic); "
        "run with -v for the details" for p in paths]


def test_batches_are_runs_of_one_municipality_and_system_within_their_bounds(tmp_path,
                                                                            monkeypatch):
    def job(kommun: str, system: str, name: str, size: int = 10) -> reading.Job:
        path = tmp_path / f"{kommun}-{system}-{name}"
        path.write_bytes(b"x" * size)
        return reading.Job(system, SourceFile(path, f"{kommun}/{system}/{name}", kommun, system))

    jobs = [job("1480", "procapita", n) for n in "abc"] + [
        job("1480", "excel", "x"), job("1480", "procapita", "d"), job("1481", "procapita", "e"),
        job("1481", "procapita", "f", size=100), job("1481", "procapita", "g")]
    monkeypatch.setattr(reading, "BATCH_BYTES", 100)
    units = reading._units(jobs)
    shape = [[j.source.rel_path.rsplit("/", 1)[1] for j in u] if isinstance(u, tuple)
             else u.source.rel_path.rsplit("/", 1)[1] for u in units]
    assert shape == [["a", "b", "c"], "x", "d", "e", "f", "g"]
    monkeypatch.setattr(reading, "BATCH_FILES", 2)
    assert isinstance(reading._units(jobs)[0], tuple) and len(reading._units(jobs)[0]) == 2


# --- the vectorised fast paths give what the one-by-one parsers give ------------------------------

AMOUNT_TEXT = st.text(alphabet="0123456789 \u00a0,.-−kr:'", max_size=18)
HOUSEHOLD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
                         max_size=8)


def _rows_of(column: str, texts: list[str]) -> procapita._Rows:
    batch = TextBatch([column], ["x.csv"], [1], [pa.array(texts, pa.string())],
                      np.arange(2, len(texts) + 2), np.zeros(len(texts), dtype=np.int64),
                      [[]], [[]])
    return procapita._Rows(batch, {CONFIG.column_for(column): 0})


def _one_by_one(text: str, parse_one, plausible=None):
    try:
        value = parse_one(text)
    except procapita._Invalid as exc:
        return None, (exc.reason, str(exc))
    problem = plausible(value) if plausible else None
    if problem is not None:
        return None, (problem.reason, str(problem))
    return value, None


def _fast(parsed, texts: list[str]) -> list[tuple]:
    index = {t: i for i, t in enumerate(parsed.distinct.dictionary.to_pylist())}
    values = parsed.values_arrow.to_pylist()
    out = []
    for text in texts:
        i = index[text]
        problem = parsed.problems.get(i)
        out.append((None if problem else values[i],
                    None if problem is None else (problem.reason, str(problem))))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(AMOUNT_TEXT, min_size=1, max_size=30))
@example(["1 234,50", "12\u00a0345", "-0", "500000", "500000,01", "-500000", "-500000,01",
          "198805173575", "8805173575", "1 2345", "1,234", "123 456 789 012,12",
          "1234567890123", "", " 12", "12 ", "−50", "1.234.567", "1 000 000 000,00"])
def test_amounts_in_arrow_are_the_amounts_one_by_one(texts):
    parsed = procapita._amounts(_rows_of("Belopp", texts), CONFIG.limits, TODAY)
    expected = [_one_by_one(t, procapita._amount,
                            lambda v: procapita._implausible(v, CONFIG.limits, TODAY))
                for t in texts]
    assert _fast(parsed, texts) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(HOUSEHOLD_TEXT, min_size=1, max_size=20))
@example(["H1", " H1", "H1 ", "", "  ", "\u00a0", "A-17", "\u2003x", "x\x1f", "Ärende 5"])
def test_household_numbers_in_arrow_are_the_numbers_one_by_one(texts):
    parsed = procapita._household_refs(_rows_of("Hushållsnummer", texts))
    assert _fast(parsed, texts) == [_one_by_one(t, procapita._household_ref) for t in texts]


def _luhn(nine: str) -> str:
    return fx.luhn_digit(nine)


@st.composite
def personnummer_texts(draw) -> str:
    """Numbers near every rule: centuries, leap days, samordningsnummer, serial 000, check
    digits right and wrong, every written form, and text that is no number at all."""
    year = draw(st.one_of(st.integers(1, 9999), st.sampled_from([1900, 1999, 2000, 2024, 2025])))
    month = draw(st.integers(0, 13))
    day = draw(st.one_of(st.integers(0, 32), st.integers(58, 93), st.just(29)))
    serial = draw(st.one_of(st.just("000"), st.integers(0, 999).map(lambda n: f"{n:03d}")))
    nine = f"{year % 100:02d}{month:02d}{day:02d}{serial}"
    check = draw(st.one_of(st.just(_luhn(nine)), st.integers(0, 9).map(str)))
    twelve = f"{year:04d}{month:02d}{day:02d}{serial}{check}"
    form = draw(st.sampled_from(["12", "12-", "10", "10-", "10+", "junk"]))
    if form == "junk":
        return draw(st.text(alphabet="0123456789-+ \u00a0T", max_size=14))
    text = {"12": twelve, "12-": f"{twelve[:8]}-{twelve[8:]}", "10": twelve[2:],
            "10-": f"{twelve[2:8]}-{twelve[8:]}", "10+": f"{twelve[2:8]}+{twelve[8:]}"}[form]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(personnummer_texts(), min_size=1, max_size=40),
       st.sampled_from([date(2024, 6, 1), date(2000, 1, 1), date(2099, 12, 31)]))
@example([fx.dashed(fx.P1), fx.P1, fx.short(fx.P2), fx.short(fx.P_OLD, "+"), fx.P_ZERO[3:],
          "19" + fx.BAD_CHECK, "20000229-0000", "19000229-1234", "20240229" + "1234",
          "198505310000", "19850571" + "1234", "000101-0000", "19850312-T123"], date(2024, 6, 1))
def test_personnummer_in_numpy_are_the_personnummer_one_by_one(texts, today):
    people = procapita._persons(_rows_of("Personnummer", texts), PSEUDO, today)
    index = {t: i for i, t in enumerate(people.distinct.dictionary.to_pylist())}
    parse_one = procapita._person_parser(PSEUDO, today)
    for text in texts:
        i = index[text]
        expected = _one_by_one(text, parse_one)
        problem = people.problems.get(i)
        got = ((None, (problem.reason, str(problem))) if problem else
               ((people.keys[i], int(people.years[i]), int(people.months[i]), people.sexes[i]),
                None))
        assert got == expected, text
