"""Property-based tests of the three adapters (issue 4): realistic exports, then broken.

Hypothesis builds files that look like what municipalities deliver (Procapita payment, insats and
household CSVs; Excel participant lists; SKAPA workbooks and CSVs) and breaks them: junk cells,
odd encodings, delimiters and line endings, title and blank lines, Summa rows, truncation, random
bytes. Files are read through adapters.read (the adapter, then adapters.redact), as ingest reads
them. Whatever arrives, every adapter must

1. either return an AdapterResult or raise FileRejected with a message naming the file;
2. account for every row: read = loaded + quarantined + skipped; loaded equals the source rows in
   the staging frames; each quarantine row is one row of the file (unique, within its range, not
   also loaded); and, where the file is known to be intact, `read` is every line / row of the file
   but the header;
3. never let a personnummer of the file into a message, note, unmapped value or staging text.

Bugs found here and not fixed yet are kept as strict xfail tests with the failing example as an
explicit @example (they pass as soon as the bug is fixed, and then fail until the mark is removed).
Runtime is bounded by max_examples (about 25 s of CPU in all). Examples are derandomised (the
profile of tests/conftest.py) so that CI repeats; UTFALL_FUZZ_SCALE=10 explores ten times as many
random examples.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import count
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from tests.adapters import make_spreadsheet_fixtures as fixtures
from utfall.adapters import excel, procapita, skapa
from utfall.adapters import read as read_through_layer
from utfall.adapters.base import AdapterResult, FileRejected, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser, luhn_ok

pytestmark = [
    pytest.mark.adapter,
    # A UTF-8 BOM before text that is not UTF-8 (Windows-1252, or spliced-in bytes): the
    # invalid-row callback of adapters/textfile.py raises UnicodeDecodeError inside pyarrow, which
    # prints it as "Exception ignored"; the reader then falls back to the csv module and the
    # counts are right. Noise, not a failure (procapita and skapa .csv alike).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
KOMMUN = "1480"
_STORE = ConfigStore(None)
CONFIG = {system: _STORE.for_system(KOMMUN, system) for system in ("procapita", "excel", "skapa")}
ADAPTER = {"procapita": procapita, "excel": excel, "skapa": skapa}

_SCALE = max(1, int(os.environ.get("UTFALL_FUZZ_SCALE", "1")))


def fuzz(examples: int, **more) -> settings:
    return settings(
        **more,
        max_examples=examples * _SCALE,
        deadline=None,
        **({"derandomize": False} if _SCALE > 1 else {}),  # else tests/conftest.py's profile
        database=None,  # nothing written into the repository
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- personnummer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    twelve: str  # YYYYMMDDNNNC: what must never leave the adapter

    @property
    def plus(self) -> bool:  # aged 100 or more at TODAY: the short form is written with '+'
        return int(self.twelve[:4]) < TODAY.year - 99

    def forms(self) -> set[str]:
        """Every way the number could be quoted back: the leak check looks for each."""
        t = self.twelve
        return {t, t[2:], f"{t[:8]}-{t[8:]}", f"{t[2:8]}-{t[8:]}", f"{t[2:8]}+{t[8:]}"}


def _check_digit(nine: str) -> str:
    return next(d for d in "0123456789" if luhn_ok(nine + d))


@st.composite
def people(draw, *, valid: bool = True) -> Person:
    born = draw(st.dates(date(1915, 1, 1), date(2008, 12, 31)))
    day = born.day + (60 if draw(st.integers(0, 9)) == 0 else 0)  # samordningsnummer
    nine = f"{born:%y%m}{day:02d}{draw(st.integers(1, 999)):03d}"
    check = _check_digit(nine)
    if not valid:  # a typo in the check digit: still a person's number, still never shown
        check = str((int(check) + draw(st.integers(1, 9))) % 10)
    return Person(f"{born.year // 100}{nine}{check}")


def written(person: Person, draw, *, numbers: bool = False) -> object:
    """The person's number as an export writes it (as text, or as an Excel number)."""
    t = person.twelve
    forms: list[object] = [t, f"{t[:8]}-{t[8:]}", f"{t[:8]} {t[8:]}", f" {t[:8]}-{t[8:]} "]
    forms.append(f"{t[2:8]}{'+' if person.plus else '-'}{t[8:]}")
    if not person.plus:
        forms.append(t[2:])
        if numbers:
            forms += [int(t[2:]), float(int(t))]  # 0103151239 loses its leading zero
    if numbers:
        forms.append(int(t))
    return draw(st.sampled_from(forms))


def _no_leak(texts: list[str], pnrs: set[Person], what: str) -> None:
    forms = set().union(*(p.forms() for p in pnrs)) if pnrs else set()
    for text in texts:
        for form in forms:
            assert form not in text, f"a personnummer of the file appears in {what}: {text!r}"


# --- cells: good values, bad values, junk --------------------------------------------------------

_SV_MONTHS = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
              "september", "oktober", "november", "december"]  # fmt: skip
# printable, no line breaks, encodable in cp1252 (else replaced by '?', which is fine too)
_JUNK_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzåäöABCXYZÅÄÖé0123456789 .,:;-+/()%#*'!?&=_\t\u00a0€–\"\\"
)
_JUNK_WORDS = [
    "Summa", "Totalt", "TOTALT:", "summa belopp", "#REF!", "#N/A", "NULL", "n/a", "-", "?",
    "Personnummer", "Belopp", "Startdatum", "Datum", "Bedömning", "Insats", "Roll", "Barn",
    "Sökande", "1e5", "NaN", "inf", "-0", "0", "99999999", "2023-02-30", "2023-13", "00000000",
    "1.2.3", "12,3,4", "=SUMMA(A1:A9)", "\ufeff", "\u00a0", "   ", "ÅÄÖ", "Ja", "x",
]  # fmt: skip


def junk_text(max_size: int = 14, quotes: bool = True) -> st.SearchStrategy[str]:
    alphabet = _JUNK_ALPHABET if quotes else _JUNK_ALPHABET.replace('"', "")
    return st.one_of(st.sampled_from(_JUNK_WORDS), st.text(alphabet, max_size=max_size))


def date_text(d: date, draw) -> str:
    forms = [f"{d:%Y-%m-%d}", f"{d:%Y%m%d}", f"{d.day}/{d.month} {d.year}", f"{d:%d.%m.%Y}",
             f"{d.day} {_SV_MONTHS[d.month - 1]} {d.year}", f"{d:%Y-%m-%d} 00:00:00",
             str((d - date(1899, 12, 30)).days), f"{d:%Y/%m/%d}"]  # fmt: skip
    return draw(st.sampled_from(forms))


def month_text(d: date, draw) -> str:
    forms = [f"{d:%Y-%m}", f"{d:%Y%m}", f"{_SV_MONTHS[d.month - 1]} {d.year}", f"{d:%Y-%m-%d}",
             f"{_SV_MONTHS[d.month - 1][:3].capitalize()} {d.year}"]  # fmt: skip
    return draw(st.sampled_from(forms))


def amount_text(draw) -> str:
    cents = draw(st.integers(-2_000_000, 10_000_000))
    kr, ore = divmod(abs(cents), 100)
    sign = draw(st.sampled_from(["-", "\u2212", "\u2013"])) if cents < 0 else ""
    grouped = f"{kr:,}"
    forms = [f"{sign}{kr},{ore:02d}", f"{sign}{grouped.replace(',', ' ')},{ore:02d}",
             f"{sign}{grouped.replace(',', chr(0xA0))},{ore:02d}", f"{sign}{kr}.{ore:02d}",
             f"{sign}{grouped.replace(',', '.')},{ore:02d}", f"{sign}{kr}", f"{sign}{kr} kr",
             f"{sign}{kr}:-", f"{sign}{grouped},{ore:02d}"]  # fmt: skip
    return draw(st.sampled_from(forms))


_BAD_DATES = ["2023-02-30", "2023-00-10", "31/2 2023", "0000-01-01", "20231301", "igår",
              "1 smarch 2023", "99999999", "3000000", "2023-1-1-1"]  # fmt: skip
_BAD_MONTHS = ["2023-13", "202300", "13/2023", "mars", "2023", "0000-00", "smarch 2023"]
_BAD_AMOUNTS = ["1,234", "12,3,4", "abc", "1e5", "--5", "1 2 3,4,5", "kr", "12.345.678,9,1",
                "9999999999999", "0,001", "."]  # fmt: skip


def pick(draw, good, bad: list, *, quotes: bool = True) -> str:
    """A cell: mostly a good form (a list to choose from, or a function making one), sometimes
    a bad form, a blank or junk."""
    roll = draw(st.integers(0, 99))
    if roll < 7:
        return draw(junk_text(quotes=quotes))
    if roll < 12:
        return draw(st.sampled_from(["", " ", "\u00a0"]))
    if bad and roll < 24:
        return draw(st.sampled_from(bad))
    return draw(st.sampled_from(good)) if isinstance(good, list) else good()


# --- a text file on disk, and what the checks need to know about it ------------------------------

_tmp = count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@dataclass
class Delivery:
    """A generated file: its bytes and what the checks need to know about it."""

    data: bytes
    name: str
    pnrs: set[Person] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)  # names: never in messages either
    # the file as generated, before any corruption: lines (text) or rows per sheet (workbook)
    intact: bool = True
    lines: int | None = None  # physical lines of an intact text file with no '"' in it
    sheet_rows: dict[str, int] | None = None  # last non-empty row of every sheet
    # cells may have moved to another column (an unquoted delimiter in a text file)
    shifted: bool = False

    @property
    def in_place(self) -> bool:
        """Every personnummer is still in a personnummer column, as generated."""
        return self.intact and not self.shifted


def run(adapter: str, delivery: Delivery, workdir: Path) -> AdapterResult | None:
    """Read the file; check the properties every adapter must keep. None when rejected."""
    path = workdir / f"{next(_tmp)}_{delivery.name}"
    path.write_bytes(delivery.data)
    rel_path = f"{KOMMUN}/{adapter}/{delivery.name}"
    source = SourceFile(path, rel_path, KOMMUN, adapter)
    try:
        # through the adapter layer's door, as ingest reads: the adapter, then adapters.redact
        result = read_through_layer(adapter, source, CONFIG[adapter], PSEUDO, TODAY)
    except FileRejected as exc:
        message = str(exc)
        assert rel_path in message, f"the rejection does not name the file: {message!r}"
        _no_leak([message], delivery.pnrs, "a rejection message")
        if delivery.in_place:  # rejections quote header cells: see _check_privacy
            _no_secret([message], delivery.secrets)
        _event("rejected: " + re.sub(r"\(.*|\d+", "", message.split(": ", 1)[1])[:60])
        return None
    finally:
        path.unlink()
    assert isinstance(result, AdapterResult)
    _check_counts(adapter, result, delivery)
    _check_privacy(result, delivery)
    _event("read: " + ", ".join(what for what, n in (
        ("loaded", result.rows_loaded), ("quarantined", result.rows_quarantined),
        ("skipped", result.rows_skipped)) if n) + (" (line count checked)" if (
        delivery.lines or delivery.sheet_rows) and delivery.intact else ""))  # fmt: skip
    return result


def _event(text: str) -> None:
    """What became of the file, for --hypothesis-show-statistics."""
    if currently_in_test_context():
        event(text)


def _loaded_keys(adapter: str, result: AdapterResult) -> list[tuple[str | None, int]]:
    """(sheet, row_number) of every source row in the staging frames, once per frame row."""
    if adapter == "procapita":
        assert len(result.tables) == 1, f"one staging table per extract: {list(result.tables)}"
        (table,) = result.tables
        frame = result.frame(table)
        return [(None, int(n)) for n in frame["row_number"]]
    if adapter == "excel":
        frame = result.frame("excel_participant")
        statuses = result.frame("excel_status")
        keys = [(_sheet(s), int(n)) for s, n in zip(frame["sheet"], frame["row_number"])]
        orphans = {(_sheet(s), int(n)) for s, n in zip(statuses["sheet"], statuses["row_number"])}
        assert orphans <= set(keys), "a status row without its participant row"
        return keys
    frame = result.frame("skapa_assessment")
    return sorted({(_sheet(s), int(n)) for s, n in zip(frame["sheet"], frame["row_number"])})


def _sheet(value: object) -> str | None:
    return None if value is None or pd.isna(value) or value == "None" else str(value)


def _check_counts(adapter: str, result: AdapterResult, delivery: Delivery) -> None:
    r = result
    counts = (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped)
    assert min(counts) >= 0, f"a negative count: {counts}"
    assert r.rows_read == r.rows_loaded + r.rows_quarantined + r.rows_skipped, (
        f"counts do not reconcile: read, loaded, quarantined, skipped = {counts}"
    )
    loaded = _loaded_keys(adapter, r)
    assert len(loaded) == r.rows_loaded, (
        f"rows_loaded = {r.rows_loaded}, but the staging frame holds {len(loaded)} source rows"
    )
    assert len(set(loaded)) == len(loaded), "one source row loaded twice"
    quarantined = [(q.sheet, q.row_number) for q in r.quarantine]
    assert len(set(quarantined)) == len(quarantined), "a row quarantined twice"
    assert not set(quarantined) & set(loaded), "a row both loaded and quarantined"
    for q in r.quarantine:
        assert q.row_number >= 1
        assert f"{KOMMUN}/{adapter}/{delivery.name}" in q.message, q.message
        if delivery.sheet_rows is not None and delivery.intact:
            assert q.sheet in delivery.sheet_rows, f"quarantine names an unknown sheet {q.sheet}"
            assert q.row_number <= delivery.sheet_rows[q.sheet], "quarantine row past the sheet"
        elif delivery.sheet_rows is None:  # a text file: its physical lines bound the numbers
            assert q.row_number <= _max_lines(delivery.data), "quarantine line past the file"
    for sheet, number in loaded:
        assert number >= 1
        if delivery.sheet_rows is not None and delivery.intact:
            assert number <= delivery.sheet_rows[sheet]
    # nothing lost: an intact file's every line / row but the header is read
    if delivery.lines is not None and delivery.intact:
        assert r.rows_read == delivery.lines - 1, (
            f"rows_read = {r.rows_read}, but the file has {delivery.lines} lines (header included)"
        )
    if delivery.sheet_rows is not None and delivery.intact:
        read_sheets = [s for s in delivery.sheet_rows if f"sheet '{s}' skipped" not in str(r.notes)]
        expected = sum(delivery.sheet_rows[s] - 1 for s in read_sheets)
        assert r.rows_read == expected, (
            f"rows_read = {r.rows_read}, but the sheets read ({read_sheets}) have {expected} rows "
            f"besides their header rows"
        )


def _max_lines(data: bytes) -> int:
    """An upper bound on the lines of a text file in any encoding."""
    return data.count(b"\n") + data.count(b"\r") + 1


def _check_privacy(result: AdapterResult, delivery: Delivery) -> None:
    """No personnummer of the file anywhere the adapter layer writes: messages, notes, unmapped
    values, staged text; wherever in the file it stood (adapters.redact masks what a corrupted or
    shifted line moved into a free-text column or onto the header line). Names: never in a
    quarantine message; in notes and unmapped values only while the file is as generated, since
    notes quote header cells and a corrupted header line can hold a name (the header-line tests at
    the end check that case)."""
    messages = [q.message for q in result.quarantine] + [str(q.column) for q in result.quarantine]
    notes = list(result.notes) + [str(v) for key in result.unmapped for v in key]
    staged = [
        str(v)
        for frame in map(result.frame, result.tables)
        for column in frame.columns
        if column != "person_key"
        for v in frame[column]
        if isinstance(v, str)
    ]
    _no_leak(messages, delivery.pnrs, "a quarantine message")
    _no_leak(notes, delivery.pnrs, "a note or unmapped value")
    _no_leak(staged, delivery.pnrs, "a staging table")
    _no_secret(messages, delivery.secrets)
    if delivery.in_place:
        _no_secret(notes, delivery.secrets)


def _no_secret(texts: list[str], secrets: set[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a name from the file appears in {text!r}"


# --- corruption ----------------------------------------------------------------------------------


@st.composite
def corrupted(draw, data: bytes) -> tuple[bytes, bool]:
    """(bytes, intact): mostly the file as written, sometimes truncated or with bytes spliced in."""
    how = draw(st.sampled_from(["none"] * 6 + ["truncate", "splice", "overwrite", "bom"]))
    if how == "none" or not data:
        return data, True
    at = draw(st.integers(0, len(data)))
    if how == "truncate":
        return data[:at], False
    if how == "bom":  # a UTF-8 BOM before any content: the lines are still the lines
        return b"\xef\xbb\xbf" + data, True
    noise = draw(st.binary(min_size=1, max_size=40))
    if how == "splice":
        return data[:at] + noise + data[at:], False
    return data[:at] + noise + data[at + len(noise) :], False


def random_files(extension: str) -> st.SearchStrategy[Delivery]:
    """Files that are nothing like an export: random bytes, empty, other formats."""
    zips = st.builds(_zip_of, st.dictionaries(
        st.sampled_from(["a.txt", "xl/workbook.xml", "content.xml", "mimetype", "[Content_Types].xml"]),
        st.binary(max_size=50), max_size=3,
    ))  # fmt: skip
    blobs = st.one_of(
        st.binary(max_size=300),
        st.just(b""),
        st.sampled_from([b"\r\n\r\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff\x00a", b" \t\n"]),
        st.binary(max_size=200).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=200).map(lambda b: b"%PDF-1.4\n" + b),
        zips,
        st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    )
    return blobs.map(lambda data: Delivery(data, f"random.{extension}", intact=False))


def _zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


# --- Procapita text exports ----------------------------------------------------------------------

_PROCAPITA_HEADERS = {
    "personnummer": ["Personnummer", "PERSONNR", "Pnr", "Personnummer/samordningsnummer"],
    "hushallsnummer": ["Hushållsnummer", "Ärendenr", "hushållsnr", "ÄRENDENUMMER"],
    "roll": ["Roll", "Roll i hushållet", "roll"],
    "avser_manad": ["Avser månad", "Avser period", "AVSER MÅNAD", "Bidragsmånad"],
    "utbetalningsdatum": ["Utbetalningsdatum", "Utbet.datum", "betaldatum"],
    "belopp": ["Belopp", "Belopp (kr)", "Utbetalt belopp", "BELOPP"],
    "bistandstyp": ["Biståndstyp", "Ändamål", "Typ av bistånd"],
    "forsorjningshinder": ["Försörjningshinder", "Försörjningshinder (kod)", "Hinder"],
    "insats": ["Insats", "Insatsnamn", "Typ av insats"],
    "anordnare": ["Anordnare", "Utförare"],
    "startdatum": ["Startdatum", "Start datum", "Inskrivningsdatum", "From"],
    "slutdatum": ["Slutdatum", "Avslutsdatum", "Tom"],
    "avslutsorsak": ["Avslutsorsak", "Orsak till avslut"],
    "remitterad_fran": ["Remitterad från", "Remiss från"],
    "handlaggare": ["Handläggare", "Ansvarig handläggare"],
    "namn": ["Namn", "Deltagarens namn"],
    "other": ["Kommentar", "Kön", "Enhet", "Löpnr intern"],
}
_PROCAPITA_KINDS = {
    "fs": (["personnummer", "hushallsnummer", "avser_manad", "belopp"],
           ["roll", "utbetalningsdatum", "bistandstyp", "forsorjningshinder", "namn",
            "handlaggare", "other", "dup"]),
    "household": (["hushallsnummer", "personnummer"], ["roll", "namn", "other", "dup"]),
    "insats": (["personnummer", "startdatum"],
               ["insats", "anordnare", "slutdatum", "avslutsorsak", "remitterad_fran",
                "handlaggare", "namn", "other", "dup"]),
}  # fmt: skip
_NAMES = ["Anna Andersson", "Bo Berg", "Karin Karlsson", "Per Persson", "Åsa Öberg"]
_TITLES = ["Utbetalningar ekonomiskt bistånd", "Rapport skapad 2024-01-05 08:12", "",
           "Kommun: Göteborg", "Urval: 2023-01-01 - 2023-12-31", "Procapita IFO export"]  # fmt: skip
_ROLES = ["Sökande", "Medsökande", "Barn", "sökande ", "BARN", "Make/maka", "Sambo"]
_BISTAND = ["Försörjningsstöd", "Livsföring i övrigt", "Riksnorm", "Boende", "Hushållsel",
            "Tandvård", "Övrigt"]  # fmt: skip
_HINDER = ["11 Arbetslös", "Arbetslös", "21", "A1 Sjukskriven", "(3) Föräldraledig", "Okänt hinder"]
_INSATSER = ["ATR Arbetsträning Returbutik", "Praktik", "Jobbcoachning", "SFI", "Lokal insats 7"]
_REMISS = ["IFO", "AF", "Egen", "Annan"]
_AVSLUT = ["Arbete", "Studier", "Avbrott", "Flyttat", ""]


def procapita_cell(draw, column: str, people_in_file: set[Person], quotes: bool,
                   when: date) -> str:  # fmt: skip
    """One cell of a Procapita line; `when` is the line's month."""
    if column == "personnummer":
        roll = draw(st.integers(0, 19))
        if roll < 14:
            person = (
                draw(people())
                if not people_in_file or roll < 6
                else draw(st.sampled_from(sorted(people_in_file, key=lambda p: p.twelve)))
            )
            people_in_file.add(person)
            return str(written(person, draw))
        if roll < 16:
            person = draw(people(valid=False))
            people_in_file.add(person)
            return str(written(person, draw))
        return pick(draw, ["198501011234", "19851332-1234", "85010", "abc"], [], quotes=quotes)
    good = {
        "hushallsnummer": lambda: draw(st.sampled_from(["1", "H-7", "20417", "0033"])),
        "roll": _ROLES,
        "avser_manad": lambda: month_text(when, draw),
        "utbetalningsdatum": lambda: date_text(when - timedelta(days=3), draw),
        "belopp": lambda: amount_text(draw),
        "bistandstyp": _BISTAND,
        "forsorjningshinder": _HINDER,
        "insats": _INSATSER,
        "anordnare": ["Returbutiken", "Jobbcentrum"],
        "startdatum": lambda: date_text(when, draw),
        "slutdatum": lambda: date_text(when + timedelta(days=draw(st.integers(-60, 400))), draw),
        "avslutsorsak": _AVSLUT,
        "remitterad_fran": _REMISS,
        "handlaggare": _NAMES,
        "namn": _NAMES,
        "other": ["K", "M", "Enhet 3", ""],
    }[column]
    bad = {"avser_manad": _BAD_MONTHS, "belopp": _BAD_AMOUNTS, "utbetalningsdatum": _BAD_DATES,
           "startdatum": _BAD_DATES + [""], "slutdatum": _BAD_DATES + [""]}  # fmt: skip
    return pick(draw, good, bad.get(column, []), quotes=quotes)


@st.composite
def procapita_files(draw) -> Delivery:
    kind = draw(st.sampled_from(sorted(_PROCAPITA_KINDS)))
    required, optional = _PROCAPITA_KINDS[kind]
    columns = required + draw(st.lists(st.sampled_from(optional), unique=True, max_size=5))
    if draw(st.integers(0, 19)) == 13:  # a required column missing: rejected or another extract
        columns.remove(draw(st.sampled_from(required)))
    # 'dup': a second column named like a required one (read once, the other one is reported)
    columns = [f"dup:{draw(st.sampled_from(required))}" if c == "dup" else c for c in columns]
    columns = draw(st.permutations(columns))
    header = [draw(st.sampled_from(_PROCAPITA_HEADERS[c.removeprefix("dup:")])) for c in columns]
    quotes = draw(st.integers(0, 3)) == 0  # most files: no '"' anywhere, so lines are records
    delimiter = draw(st.sampled_from([";", ";", "\t", ","]))
    quoting = draw(st.sampled_from(["naive", "csv"]))

    pnrs: set[Person] = set()
    shifted = False
    lines: list[str] = [
        draw(st.sampled_from(_TITLES) | junk_text(30, quotes))
        for _ in range(draw(st.integers(0, 3)))
    ]
    lines.append(_join(header, delimiter, quoting))
    for _ in range(draw(st.integers(0, 18))):
        what = draw(st.sampled_from(["row"] * 8 + ["blank", "summa", "short", "long"]))
        if what == "blank":
            lines.append(draw(st.sampled_from(["", delimiter * (len(columns) - 1), " "])))
            continue
        when = draw(st.dates(date(2021, 1, 1), date(2024, 12, 31)))
        cells = [procapita_cell(draw, c.removeprefix("dup:"), pnrs, quotes, when) for c in columns]
        if what == "summa":
            cells = [""] * len(columns)
            cells[draw(st.integers(0, len(columns) - 1))] = draw(
                st.sampled_from(["Summa", "Totalt", "SUMMA:", "totalt belopp", "Summa hushåll"])
            )
            if "belopp" in columns:  # the sum of the file's amounts
                cells[columns.index("belopp")] = amount_text(draw)
        elif what == "short":
            cells = cells[: draw(st.integers(1, len(cells)))]
        elif what == "long":
            cells = cells + [draw(junk_text(quotes=quotes)) for _ in range(draw(st.integers(1, 3)))]
        lines.append(_join(cells, delimiter, quoting))
        # an unquoted delimiter or quote in a cell moves the cells after it to other columns
        shifted |= quoting == "naive" and any(delimiter in c or '"' in c for c in cells)

    eol = draw(st.sampled_from(["\r\n", "\r\n", "\n", "\r"]))
    text = eol.join(lines) + (eol if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["cp1252", "cp1252", "utf-8", "utf-8-sig", "utf-16"]))
    data, intact = draw(corrupted(text.encode(encoding, errors="replace")))
    quote_free = '"' not in text
    extension = draw(st.sampled_from(["csv", "txt"]))
    return Delivery(data, f"export.{extension}", pnrs, set(_NAMES), intact,
                    lines=_lines(text) if quote_free else None, shifted=shifted)  # fmt: skip


def _join(cells: list[str], delimiter: str, quoting: str) -> str:
    if quoting == "naive":  # as some exports do: a delimiter inside a cell shifts the line
        return delimiter.join(cells)
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(cells)
    return out.getvalue()


def _lines(text: str) -> int:
    """Physical lines as the text reader counts them (CRLF, CR or LF; no line after a last break)."""
    breaks = len(re.findall(r"\r\n|\r|\n", text))
    return breaks + (0 if text == "" or text.endswith(("\r", "\n")) else 1)


# The counts of a Procapita export with a stray '"' at the start of a cell, which swallows the
# lines after it into one record: lines = records is not promised then (see the report), so
# `lines` is None; the other properties hold.
_STRAY_QUOTE = Delivery(
    "Personnummer;Hushållsnummer;Avser månad;Belopp\r\n"
    '198503122346;"1;2023-03;100\r\n198503122346;2;2023-04;200\r\n'.encode("cp1252"),
    "stray_quote.csv",
)


@fuzz(200)
@given(delivery=procapita_files())
@example(delivery=_STRAY_QUOTE)
def test_procapita_exports(delivery: Delivery, workdir: Path) -> None:
    run("procapita", delivery, workdir)


@fuzz(60)
@given(delivery=random_files("csv"))
def test_procapita_random_bytes(delivery: Delivery, workdir: Path) -> None:
    run("procapita", delivery, workdir)


def test_procapita_fuzz_reaches_loaded_rows(workdir: Path) -> None:
    """The generator is not so broken that nothing ever loads: a clean example does."""
    p = Person("19" + "850312238" + _check_digit("850312238"))
    text = (
        "Utbetalningar\r\nPersonnummer;Hushållsnummer;Roll;Avser månad;Belopp\r\n"
        f"{p.twelve};1;Sökande;2023-03;1 200,50\r\n;;;;\r\nSumma;;;;1 200,50\r\n"
    )
    result = run("procapita", Delivery(text.encode("cp1252"), "ok.csv", {p}, lines=5), workdir)
    assert (result.rows_read, result.rows_loaded, result.rows_skipped) == (4, 1, 3)


# --- Excel participant lists ---------------------------------------------------------------------

_EXCEL_HEADERS = {
    "personnummer": ["Personnummer", "Pnr", "personnr.", "Personnummer/samordningsnummer"],
    "startdatum": ["Startdatum", "Start", "Inskriven", "Fr.o.m"],
    "slutdatum": ["Slutdatum", "Slut", "Avslutad", "T.o.m"],
    "namn": ["Namn", "Deltagare"],
    "deltagarnr": ["Deltagarnr", "Löpnummer"],
    "insats": ["Insats", "Aktivitet"],
    "avslutsorsak": ["Avslutsorsak", "Orsak till avslut"],
    "status_3": ["Status 3 mån", "3 mån"],
    "status_6": ["Status 6 mån", "6 mån"],
    "status_12": ["Status 12 mån", "Uppföljning 12 mån"],
    "status": ["Status", "Sysselsättning"],
    "statusdatum": ["Statusdatum", "Status per"],
    "fodd_utomlands": ["Född utomlands", "Utrikes född"],
    "remitterad_fran": ["Remiss från", "Remittent"],
    "malgrupp": ["Målgrupp"],
    "other": ["Kommentar", "Telefon", None],
}
_STATUSES = ["Arbete", "jobb", " Anställd ", "Timanställd", "Eget företag", "Extratjänst",
             "Studier", "SFI", "Arbetslös", "Inskriven AF", "Praktik", "Sjukskriven", "Vet ej",
             "-", "Flyttat", "Okänd sak"]  # fmt: skip


def excel_cell_junk() -> st.SearchStrategy[object]:
    # openpyxl refuses control characters; '' is written as no cell
    text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
    return st.one_of(
        text.filter(bool),
        st.sampled_from([w for w in _JUNK_WORDS if w]),
        st.integers(-(10**13), 10**13),
        st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
        st.sampled_from([float("inf"), float("nan"), -0.0, 1e300, 2958466.0, 0.5]),
        st.booleans(),
        st.datetimes(datetime(1900, 3, 1), datetime(2099, 12, 31)),
    )


def excel_date(draw, d: date) -> object:
    return draw(st.sampled_from([
        datetime(d.year, d.month, d.day), d, (d - date(1899, 12, 30)).days,
        float((d - date(1899, 12, 30)).days) + 0.25, date_text(d, draw), int(f"{d:%Y%m%d}"),
        f"{d:%Y-%m}",
    ]))  # fmt: skip


def excel_cell(draw, column: str, pnrs: set[Person], start: date) -> object:
    roll = draw(st.integers(0, 99))
    if roll < 6:
        return draw(excel_cell_junk())
    if roll < 9:
        return None
    if column == "personnummer":
        if roll < 85:
            person = draw(people())
        elif roll < 93:
            person = draw(people(valid=False))
        else:
            return draw(st.sampled_from(["19850101-1234", "850101", 12345, "ej känt", "x"]))
        pnrs.add(person)
        return written(person, draw, numbers=True)
    if column == "startdatum":
        return excel_date(draw, start) if roll < 90 else draw(st.sampled_from(_BAD_DATES))
    if column in ("slutdatum", "statusdatum"):
        end = start + timedelta(days=draw(st.integers(-30, 500)))
        return excel_date(draw, end) if roll < 90 else draw(st.sampled_from(_BAD_DATES))
    choices = {
        "namn": _NAMES, "deltagarnr": [1, 12, "12", "A-7", 3.0], "insats": _INSATSER,
        "avslutsorsak": _AVSLUT[:-1], "status_3": _STATUSES, "status_6": _STATUSES,
        "status_12": _STATUSES, "status": _STATUSES, "fodd_utomlands": ["Ja", "Nej", "j", 1, 0],
        "remitterad_fran": _REMISS, "malgrupp": ["Unga", "Utrikes födda", "Övriga"],
        "other": ["070-123", "se ovan", 5],
    }  # fmt: skip
    return draw(st.sampled_from(choices[column]))


@dataclass
class SheetModel:
    name: str
    rows: list[list[object]]  # rows[0] is row 1; None is an empty cell
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)

    def last_row(self, xlsx: bool) -> int:
        """The last row a reader sees. openpyxl writes NaN and infinity as empty <v/> cells in
        .xlsx (read as nothing); .ods keeps them as numbers."""

        def filled(cell: object) -> bool:
            return cell is not None and not (
                xlsx and isinstance(cell, float) and not math.isfinite(cell)
            )

        rows = [i + 1 for i, row in enumerate(self.rows) if any(filled(c) for c in row)]
        return max(rows, default=0)


@st.composite
def workbook_sheet(draw, name: str, header_words: dict, cell, first_columns: list[str],
                   optional: list[str], pnrs: set[Person], *, two_level: bool = False,
                   ) -> SheetModel:  # fmt: skip
    columns = first_columns + draw(st.lists(st.sampled_from(optional), unique=True, max_size=7))
    columns = draw(st.permutations(columns))
    grouped = ["status_3", "status_6", "status_12"]
    if two_level:  # 'Status' merged over '3 mån', '6 mån', '12 mån' on the row below
        columns = [c for c in columns if c not in grouped] + grouped
    width = len(columns)
    rows: list[list[object]] = []
    merges = []
    for _ in range(draw(st.integers(0, 14))):  # title and blank rows: header on row 1 to 15
        row = [None] * width
        if draw(st.booleans()):
            row[0] = draw(st.sampled_from(["Deltagare AME 2023", "Uppdaterad 2024-01-15",
                                           "Enhet: Jobbcentrum", "   "]))  # fmt: skip
            if width > 2 and draw(st.booleans()):
                merges.append((len(rows) + 1, 1, len(rows) + 1, width))
        rows.append(row)
    rows.append([draw(st.sampled_from(header_words[c])) for c in columns])
    if two_level:
        first = width - len(grouped) + 1  # 1-based column of 'Status'
        rows[-1][first - 1 :] = ["Status", None, None]
        if draw(st.booleans()):
            merges.append((len(rows), first, len(rows), width))
        rows.append([None] * (first - 1) + ["3 mån", "6 mån", "12 mån"])
    for _ in range(draw(st.integers(0, 14))):
        what = draw(st.sampled_from(["row"] * 8 + ["empty", "summa", "junk"]))
        if what == "empty":
            rows.append([None] * width)
        elif what == "summa":
            row = [None] * width
            row[draw(st.integers(0, width - 1))] = draw(
                st.sampled_from(["Summa", "Totalt", "Antal"])
            )
            row[-1] = draw(st.integers(0, 99))
            rows.append(row)
        elif what == "junk":
            rows.append([draw(excel_cell_junk() | st.none()) for _ in range(width)])
        else:
            start = draw(st.dates(date(2019, 1, 1), date(2024, 5, 31)))
            rows.append([cell(draw, c, pnrs, start) for c in columns])
    return SheetModel(name, rows, merges)


def write_workbook(sheets: list[SheetModel]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for model in sheets:
        ws = book.create_sheet(model.name)
        for r, row in enumerate(model.rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(r, c, value)
                    if isinstance(value, (date, datetime)):
                        ws.cell(r, c).number_format = "yyyy-mm-dd"
        for r0, c0, r1, c1 in model.merges:
            ws.merge_cells(start_row=r0, start_column=c0, end_row=r1, end_column=c1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_ods(sheets: list[SheetModel]) -> bytes:
    """The same sheets as .ods, through the fixtures' writer (odfpy; it writes no booleans)."""
    specs = [
        fixtures.SheetSpec(m.name, [[int(c) if isinstance(c, bool) else c for c in row]
                                    for row in m.rows], m.merges)
        for m in sheets
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.ods"
        fixtures.write_ods(path, specs)
        return path.read_bytes()


@st.composite
def excel_files(draw) -> Delivery:
    pnrs: set[Person] = set()
    names = draw(st.lists(st.sampled_from(["2023", "2022", "Deltagare", "Blad1", "Enhet Syd"]),
                          min_size=1, max_size=3, unique=True))  # fmt: skip
    optional = sorted(c for c in _EXCEL_HEADERS if c not in ("personnummer", "startdatum"))
    sheets = [
        draw(
            workbook_sheet(
                name,
                _EXCEL_HEADERS,
                excel_cell,
                ["personnummer", "startdatum"],
                optional,
                pnrs,
                two_level=draw(st.integers(0, 4)) == 1,
            )
        )  # fmt: skip
        for name in names
    ]
    if draw(st.booleans()):  # a pivot or notes sheet beside the lists
        notes = [["Pivot", None, None], [None, "Antal", "Andel"], ["Arbete", 12, 0.4]]
        sheets.insert(draw(st.integers(0, len(sheets))), SheetModel("Pivot", notes))
    ods = draw(st.integers(0, 3)) == 0  # sometimes LibreOffice's format, which has no merges
    data, intact = draw(corrupted(write_ods(sheets) if ods else write_workbook(sheets)))
    sheet_rows = {s.name: s.last_row(xlsx=not ods) for s in sheets}
    name = "deltagare.ods" if ods else "deltagare.xlsx"
    return Delivery(data, name, pnrs, set(_NAMES), intact, sheet_rows=sheet_rows)


@fuzz(90)
@given(delivery=excel_files())
def test_excel_participant_lists(delivery: Delivery, workdir: Path) -> None:
    run("excel", delivery, workdir)


@fuzz(60)
@given(delivery=random_files("xlsx"))
def test_excel_random_bytes(delivery: Delivery, workdir: Path) -> None:
    run("excel", delivery, workdir)


@fuzz(15)
@given(delivery=excel_files(), cut=st.floats(0.05, 0.98))
def test_excel_truncated_zip(delivery: Delivery, cut: float, workdir: Path) -> None:
    """A workbook cut off in transfer is rejected (its zip directory is gone), never a crash."""
    data = delivery.data[: int(len(delivery.data) * cut)]
    assert (
        run("excel", Delivery(data, "avbruten.xlsx", delivery.pnrs, intact=False), workdir) is None
    )


# --- SKAPA ---------------------------------------------------------------------------------------

_SKAPA_HEADERS = {
    "personnummer": ["Personnummer", "Pnr"],
    "deltagarnr": ["Deltagarnr", "Deltagar-id"],
    "datum": ["Datum", "Bedömningsdatum"],
    "bedomning": ["Bedömning", "Typ av bedömning", "Skattad av"],
    "namn": ["Namn"],
    "other": ["Kommentar", "Handläggare", None],
}
_DIMENSIONS = ["Motivation", "Hälsa", "Social förmåga", "Struktur", "Språk", "Arbetsförmåga",
               "Samarbete", "Drivkraft", "Mående"]  # fmt: skip
_RATERS = ["Självskattning", "Handledare", "Coach", "självskattning ", "Personal", "Chefen"]


@st.composite
def skapa_dimension_headers(draw) -> dict[str, list[str]]:
    dims = draw(st.lists(st.sampled_from(_DIMENSIONS), min_size=1, max_size=5, unique=True))
    headers = {}
    for i, dim in enumerate(dims):
        scale = draw(st.sampled_from(["", " (1-7)", " (1-10)", " [1–5]", " (skala 1-5)", " (5-1)"]))
        headers[f"dim{i}"] = [dim + scale]
    return headers


def skapa_cell(draw, column: str, pnrs: set[Person], when: date) -> object:
    roll = draw(st.integers(0, 99))
    if roll < 6:
        return draw(excel_cell_junk())
    if roll < 10:
        return None
    if column == "personnummer":
        person = draw(people(valid=roll < 90))
        pnrs.add(person)
        return written(person, draw, numbers=True)
    if column == "datum":
        return excel_date(draw, when) if roll < 92 else draw(st.sampled_from(_BAD_DATES))
    if column == "bedomning":
        return draw(st.sampled_from(_RATERS))
    if column.startswith("dim"):  # mostly within every scale; sometimes outside or text
        if roll < 80:
            return draw(st.integers(1, 5))
        return draw(
            st.one_of(
                st.integers(-1, 11),
                st.floats(0, 11).map(lambda f: round(f, 1)),
                st.sampled_from(["3", "2,5", " 4 ", "4.0", "fyra", "-1", "10"]),
            )
        )
    return draw(st.sampled_from({"deltagarnr": [1, 12, "12", "A-7"], "namn": _NAMES,
                                 "other": ["bra", "se ovan", 5]}[column]))  # fmt: skip


@st.composite
def skapa_files(draw) -> Delivery:
    pnrs: set[Person] = set()
    dims = draw(skapa_dimension_headers())
    header_words = _SKAPA_HEADERS | dims
    ident = draw(
        st.sampled_from([["personnummer"], ["deltagarnr"], ["personnummer", "deltagarnr"]])
    )
    first = ident + ["datum", "bedomning"] + list(dims)
    if draw(st.integers(0, 19)) == 13:  # without it, the file is rejected
        first.remove(draw(st.sampled_from(["datum", "bedomning", ident[0]])))
    sheet = draw(workbook_sheet("Bedömningar", header_words, skapa_cell, first,
                                ["namn", "other"], pnrs))  # fmt: skip
    if draw(st.booleans()):
        data, intact = draw(corrupted(write_workbook([sheet])))
        return Delivery(data, "skapa.xlsx", pnrs, set(_NAMES), intact,
                        sheet_rows={sheet.name: sheet.last_row(xlsx=True)})  # fmt: skip
    # the .csv export: UTF-8, every cell as text
    delimiter = draw(st.sampled_from([";", ","]))
    lines = [_join([_csv_text(c) for c in row], delimiter, "csv") for row in sheet.rows]
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    text = eol.join(lines) + (eol if draw(st.booleans()) else "")
    data, intact = draw(corrupted(text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])))))
    quote_free = '"' not in text and "\r" not in text.replace("\r\n", "")
    return Delivery(data, "skapa.csv", pnrs, set(_NAMES), intact,
                    lines=_lines(text) if quote_free else None)  # fmt: skip


def _csv_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d}"
    return str(value).replace("\r", " ").replace("\n", " ")


@fuzz(110)
@given(delivery=skapa_files())
def test_skapa_exports(delivery: Delivery, workdir: Path) -> None:
    run("skapa", delivery, workdir)


@fuzz(40)
@given(delivery=random_files("csv") | random_files("xlsx"))
def test_skapa_random_bytes(delivery: Delivery, workdir: Path) -> None:
    run("skapa", delivery, workdir)


# --- a personnummer in the wrong column ----------------------------------------------------------
# values.py: "a misplaced column can hold a personnummer". A number typed into a free-text column
# (Insats, Avslutsorsak, Biståndstyp, Deltagarnr, ...) of a row that loads must not reach the
# unmapped-value listing or a staging table either (privacy.md: the raw number never leaves the
# adapter). Found by this file; fixed by adapters/redact.py, which these tests now guard.

_FREE_TEXT_EXCEL = {"insats": "Insats", "avslutsorsak": "Avslutsorsak", "deltagarnr": "Deltagarnr",
                    "remitterad_fran": "Remiss från", "other": "Kommentar"}  # fmt: skip
# staged as raw text, outside adapters.redact's reach (its *_local and *_ref columns)
_UNMASKED_EXCEL = {"malgrupp": "Målgrupp"}


def _misplaced_workbook(header: str, rows: list[list[object]], pnrs: set[Person]) -> Delivery:
    data = write_workbook([SheetModel("2023", [["Personnummer", "Startdatum", header], *rows])])
    return Delivery(data, "felkolumn.xlsx", pnrs, sheet_rows={"2023": len(rows) + 1})


def _misplaced_example(header: str) -> Delivery:
    row = ["198503122346", datetime(2023, 3, 1), "19870711-4513"]
    return _misplaced_workbook(header, [row], {Person("198503122346"), Person("198707114513")})


@st.composite
def misplaced_excel(draw, columns: dict[str, str]) -> Delivery:
    header = columns[draw(st.sampled_from(sorted(columns)))]
    rows, pnrs = [], set()
    for _ in range(draw(st.integers(1, 4))):
        person = draw(people())
        misplaced = person if draw(st.booleans()) else draw(people())
        pnrs |= {person, misplaced}
        start = draw(st.dates(date(2019, 1, 1), date(2024, 5, 31)))
        # as text: the Excel-number forms have a bug of their own (test_excel_number_personnummer)
        rows.append([written(person, draw), start, written(misplaced, draw)])
    return _misplaced_workbook(header, rows, pnrs)


@fuzz(15)
@given(delivery=misplaced_excel(_FREE_TEXT_EXCEL))
@example(delivery=_misplaced_example("Insats"))
def test_excel_personnummer_in_a_free_text_column(delivery: Delivery, workdir: Path) -> None:
    result = run("excel", delivery, workdir)
    assert result is not None and result.rows_loaded == delivery.sheet_rows["2023"] - 1


@fuzz(5, report_multiple_bugs=False)
@given(delivery=misplaced_excel(_UNMASKED_EXCEL))
@example(delivery=_misplaced_example("Målgrupp"))
def test_excel_personnummer_in_malgrupp(delivery: Delivery, workdir: Path) -> None:
    run("excel", delivery, workdir)


_FREE_TEXT_PROCAPITA = {
    "insats": ("Personnummer;Startdatum;Insats", "2023-03-01"),
    "avslutsorsak": ("Personnummer;Startdatum;Avslutsorsak", "2023-03-01"),
    "bistandstyp": ("Personnummer;Hushållsnummer;Avser månad;Belopp;Biståndstyp", "1;2023-03;100"),
    "forsorjningshinder": ("Personnummer;Hushållsnummer;Avser månad;Belopp;Försörjningshinder",
                           "1;2023-03;100"),
    # staged as household_ref (found by the fuzzer: a spliced-in number in the household column)
    "hushallsnummer": ("Personnummer;Avser månad;Belopp;Hushållsnummer", "2023-03;100"),
}  # fmt: skip
# staged as raw text in procapita_insats.provider, outside adapters.redact's reach
_UNMASKED_PROCAPITA = {"anordnare": ("Personnummer;Startdatum;Anordnare", "2023-03-01")}


def _misplaced_export(
    layout: tuple[str, str], rows: list[tuple[str, str]], pnrs: set[Person] | None = None
) -> Delivery:
    """Rows of (personnummer, misplaced text); `pnrs` defaults to the 12-digit numbers in them."""
    header, middle = layout
    lines = [header] + [f"{pnr};{middle};{misplaced}" for pnr, misplaced in rows]
    data = "".join(line + "\r\n" for line in lines).encode("cp1252")
    if pnrs is None:
        pnrs = {Person(re.sub(r"\D", "", c)) for row in rows for c in row}
    return Delivery(data, "felkolumn.csv", pnrs, lines=len(lines))


@st.composite
def misplaced_procapita(draw, layouts: dict[str, tuple[str, str]]) -> Delivery:
    layout = layouts[draw(st.sampled_from(sorted(layouts)))]
    rows, pnrs = [], set()
    for _ in range(draw(st.integers(1, 4))):
        person = draw(people())
        misplaced = person if draw(st.booleans()) else draw(people())
        pnrs |= {person, misplaced}
        rows.append((str(written(person, draw)), str(written(misplaced, draw))))
    return _misplaced_export(layout, rows, pnrs)


@fuzz(15)
@given(delivery=misplaced_procapita(_FREE_TEXT_PROCAPITA))
@example(delivery=_misplaced_export(_FREE_TEXT_PROCAPITA["insats"],
                                    [("198503122346", "19870711-4513")]))  # fmt: skip
def test_procapita_personnummer_in_a_free_text_column(delivery: Delivery, workdir: Path) -> None:
    result = run("procapita", delivery, workdir)
    assert result is not None and result.rows_loaded == delivery.lines - 1


@fuzz(5, report_multiple_bugs=False)
@given(delivery=misplaced_procapita(_UNMASKED_PROCAPITA))
@example(delivery=_misplaced_export(_UNMASKED_PROCAPITA["anordnare"],
                                    [("198503122346", "198707114513")]))  # fmt: skip
def test_procapita_personnummer_in_anordnare(delivery: Delivery, workdir: Path) -> None:
    run("procapita", delivery, workdir)


# --- data on the header line ---------------------------------------------------------------------
# A header line that also holds cells of a data row (a lost line break, a hand-edited export):
# procapita quotes header cells in its rejections ('headers seen: ...') and lists the unknown ones in
# a note ('columns not read: ...'); skapa lists them in a note ('columns that are not known
# dimensions ...'). A name on such a line must not be shown: adapters.redact.header_holds_data
# tells such a line by its data-like cells, and then only known column names are quoted. (These
# were strict xfails until that was built; textfile's own rejection skips lines with digits.)


def _header_with_data(adapter: str, header: str, data: list[str]) -> Delivery:
    """`data` on the header line, and the same row once more below it."""
    text = ";".join([header, *data]) + "\r\n" + ";".join(data) + "\r\n"
    pnrs = {Person(c.replace("-", "")) for c in data if re.fullmatch(r"\d{8}-?\d{4}", c)}
    encoding = "cp1252" if adapter == "procapita" else "utf-8"
    return Delivery(text.encode(encoding), "rubrik.csv", pnrs, set(_NAMES), lines=2)


_HEADER_LINES = {
    "procapita": ["Personnummer;Roll", "Personnummer;Hushållsnummer;Avser månad;Belopp",
                  "Personnummer;Startdatum", "Hushållsnummer;Personnummer"],
    "skapa": ["Personnummer;Datum;Bedömning;Motivation", "Deltagarnr;Datum;Bedömning;Hälsa"],
}  # fmt: skip


@st.composite
def header_lines_with_data(draw, adapter: str) -> Delivery:
    person = draw(people())
    cells = [str(written(person, draw)), draw(st.sampled_from(_NAMES))]
    cells = draw(st.permutations(cells + draw(st.lists(st.sampled_from(["1", "2023-03", "K"])))))
    delivery = _header_with_data(adapter, draw(st.sampled_from(_HEADER_LINES[adapter])), cells)
    delivery.pnrs.add(person)
    return delivery


@fuzz(15, report_multiple_bugs=False)
@given(delivery=header_lines_with_data("procapita"))
@example(
    delivery=_header_with_data("procapita", "Personnummer;Roll", ["198503122346", "Anna Andersson"])
)  # rejected
@example(
    delivery=_header_with_data(
        "procapita",
        "Personnummer;Hushållsnummer;Avser månad;Belopp",
        ["198503122346", "1", "2023-03", "100", "Anna Andersson"],
    )
)
def test_procapita_header_line_holding_data(delivery: Delivery, workdir: Path) -> None:
    run("procapita", delivery, workdir)


@fuzz(10, report_multiple_bugs=False)
@given(delivery=header_lines_with_data("skapa"))
@example(delivery=_header_with_data("skapa", "Personnummer;Datum;Bedömning;Motivation",
                                    ["198503122346", "2023-03-01", "Handledare", "3",
                                     "Anna Andersson"]))  # fmt: skip
def test_skapa_header_line_holding_data(delivery: Delivery, workdir: Path) -> None:
    run("skapa", delivery, workdir)


# --- a personnummer as an Excel number -----------------------------------------------------------
# sources.md: a personnummer may arrive "as an Excel number that lost its leading zero".
# personnummer.parse restores 7 to 9 digit numbers (born 2000-2009: two or more zeros lost), but
# spreadsheet.read_personnummer passes cell_text(value) to it, so a number cell arrives as text and
# only the 9- and 11-digit text rule applies: 0001610005 (1610005, 7 digits) and 0012245678
# (12245678, 8 digits) are quarantined as PNR_INVALID. The fuzzer found it with a number born in
# 2000 (any 10-digit form starting '00').


_YEAR_2000 = "000161002" + _check_digit("000161002")  # 2000-01-01, samordningsnummer (serial 000 is never issued)


def _one_participant(pnr: object) -> Delivery:
    rows = [["Personnummer", "Startdatum"], [pnr, datetime(2023, 3, 1)]]
    return Delivery(write_workbook([SheetModel("2023", rows)]), "nummer.xlsx",
                    sheet_rows={"2023": 2})  # fmt: skip


@st.composite
def number_cells(draw) -> Delivery:
    person = draw(people())
    delivery = _one_participant(written(person, draw, numbers=True))
    delivery.pnrs.add(person)
    return delivery


@fuzz(20, report_multiple_bugs=False)
@given(delivery=number_cells())
@example(delivery=_one_participant(int(_YEAR_2000)))
def test_excel_number_personnummer(delivery: Delivery, workdir: Path) -> None:
    result = run("excel", delivery, workdir)
    assert result is not None
    assert [q.reason for q in result.quarantine] == [] and result.rows_loaded == 1


# --- an infinite number in a personnummer cell ---------------------------------------------------
# .ods keeps an infinite number as a number cell (openpyxl's .xlsx holds it as an empty cell).
# Found by test_excel_participant_lists once number cells went to personnummer.parse as numbers:
# `int(value)` raised OverflowError, an unhandled exception. Fixed in personnummer.parse (af1ebef);
# the row is quarantined as PNR_INVALID.

_INFINITE_PNR_HEADERS = {
    "excel": ["Personnummer", "Startdatum"],
    "skapa": ["Personnummer", "Datum", "Bedömning", "Motivation"],
}


def _infinite_pnr(adapter: str, value: float) -> tuple[str, Delivery]:
    header = _INFINITE_PNR_HEADERS[adapter]
    row = [value, datetime(2023, 3, 1), "Handledare", 3][: len(header)]
    data = write_ods([SheetModel("2023", [header, row])])
    return adapter, Delivery(data, "oandlig.ods", sheet_rows={"2023": 2})


@fuzz(4)
@given(
    case=st.sampled_from(["excel", "skapa"]).flatmap(
        lambda a: st.sampled_from([math.inf, -math.inf]).map(lambda v: _infinite_pnr(a, v))
    )
)
@example(case=_infinite_pnr("excel", math.inf))
def test_infinite_number_in_a_personnummer_cell(case: tuple[str, Delivery], workdir: Path) -> None:
    adapter, delivery = case
    result = run(adapter, delivery, workdir)
    assert result is not None and [q.reason.value for q in result.quarantine] == ["PNR_INVALID"]
