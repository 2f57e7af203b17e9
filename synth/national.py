"""A national-scale synthetic inbox, shaped like real deliveries (docs/method.md, "Sources and the common tables").

    python -m synth.national --out /tmp/national --scale 1.0 --seed 1

At scale 1.0: 290 municipalities, ten years (2015-2024), about 30 million Procapita payment lines
(about 250,000 adults on försörjningsstöd a year), about 1.5 million insats episodes, Excel
participant lists with follow-up statuses, and SKAPA assessments. Smaller scales keep a size-
stratified subset of the municipalities (at least three) and shrink the volumes to match.

Every person is invented: personnummer are drawn at random with a valid Luhn check digit.
Each municipality is simulated on its own random stream ([seed, kommunkod]), so the same seed gives
the same files, and the municipalities can be written in parallel. The month after the ten years
(2025-01) is simulated but not written: `write_extra_month` writes it for one municipality, as
the "one new monthly delivery" of the incremental benchmark.

Speed: the simulation is numpy; text lines are built column-wise with Arrow compute, sorted by
file, and each file is one slice of the Arrow string buffer (re-encoded to cp1252 where the
municipality's set-up uses it). Workbooks are lean .xlsx written by hand as zip+XML. How each
kind of value and file is written (personnummer, months, kronor, encodings, workbooks) is
synth.exports, shared with the sample's generator (synth.sample).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synth.exports import (
    PNR_FORMS,
    Serial,
    SheetData,
    encoded,
    excel_serials,
    kronor_column,
    lean_xlsx_bytes,
    month_text,
    pnr_column,
)
from utfall.schemas.kommuner import KOMMUNER

START_YEAR = 2015
YEARS = 10
MONTHS = YEARS * 12  # month index 0 = 2015-01; MONTHS itself (2025-01) is the extra month
DATA_END = np.datetime64("2024-12-31")
NATIONAL_FS_LINES = 30_000_000
NATIONAL_EPISODES = 1_500_000
MANIFEST = ".bench-manifest.json"  # hidden: the inbox discovery skips it
ZIP_TIME = (2025, 1, 1, 0, 0, 0)  # every workbook's zip entries

BIG_CITIES = ("0180", "1480", "1280", "0380", "0580")
GR = ("1384", "1401", "1402", "1407", "1415", "1419", "1440", "1441", "1462", "1480", "1481",
      "1482", "1489")

# --- words as delivered ---------------------------------------------------------------------------

ROLES = ["Sökande", "Medsökande", "Barn"]
FINE_BISTAND = ["Riksnorm", "Boende", "Hushållsel", "Tandvård", "Riksnorm"]
COARSE_BISTAND = ["Försörjningsstöd", "Försörjningsstöd", "Försörjningsstöd",
                  "Livsföring i övrigt", "Försörjningsstöd"]
RIKSNORM, BOENDE, EL, OVRIGT, CORRECTION = range(5)
HINDER = ["Arbetslös, utan ersättning", "11 Arbetslös, väntar på ersättning",
          "Arbetslös otillräcklig ersättning", "Arbetslös med etableringsersättning",
          "Sjukskriven med läkarintyg", "Sociala skäl", "Föräldraledig", "Otillräcklig inkomst", ""]
HINDER_P = [0.30, 0.08, 0.10, 0.10, 0.15, 0.12, 0.05, 0.07, 0.03]
INSATS = {  # insats_typ -> local names (the last ones are unmapped in some municipalities)
    "KARTLAGGNING": ["Kartläggning", "Arbetsförmågebedömning"],
    "VAGLEDNING": ["Jobbcoachning", "Vägledning"],
    "ARBETSTRANING": ["ATR Arbetsträning Returbutik", "Arbetsträning"],
    "PRAKTIK": ["Praktik", "Språkpraktik"],
    "SUBVENTIONERAD_ANSTALLNING": ["Extratjänst", "Lönebidrag"],
    "UTBILDNING": ["SFI", "Komvux"],
    "STODJAT_ARBETE": ["Supported employment", "IPS"],
    "SOCIAL_REHAB": ["Social rehabilitering", "Motivationsgrupp"],
    "OVRIGT": ["Projekt Nystart", "Stödsamtal"],
}
INSATS_P = [0.22, 0.18, 0.20, 0.14, 0.08, 0.06, 0.04, 0.05, 0.03]
INSATS_NAMES = [name for names in INSATS.values() for name in names]
END_REASONS = ["Fått arbete", "Arbete", "Studier", "Planerat avslut", "Avbrott", "Annan insats",
               "Ohälsa", "Flytt", "Övrigt", ""]
END_REASON_P = [0.12, 0.08, 0.10, 0.25, 0.10, 0.15, 0.10, 0.04, 0.03, 0.03]
WORK, STUDIES = {0, 1}, {2}
REFERRED = ["IFO", "AF", "Egen", "Försäkringskassan"]
PROVIDERS = ["Returbutiken", "Kommunens AME", "Jobbtorget", "Vuxenutbildningen", "Café Hörnan",
             "Parkförvaltningen", "Arbetsmarknadsenheten"]
STAFF = ["Anna Lind", "Per Ek", "Karin Berg", "Omar Haddad", "Sara Nilsson", "Jonas Holm"]
FIRST = ["Anna", "Mohammed", "Eva", "Lars", "Fatima", "Erik", "Maria", "Ali", "Sofia", "Johan"]
LAST = ["Andersson", "Hassan", "Johansson", "Karlsson", "Nilsson", "Ahmed", "Larsson", "Olsson"]
STATUS_AFTER_WORK = ["Arbete", "Anställd", "jobb", "Timanställd", " arbete", "Extratjänst",
                     "Arbetslös", "Vet ej"]
STATUS_AFTER_WORK_P = [0.35, 0.15, 0.07, 0.08, 0.05, 0.10, 0.12, 0.08]
STATUS_OTHER = ["Arbetslös", "Inskriven AF", "Studier", "SFI", "Arbete", "Lönebidrag",
                "Praktik", "Sjukskriven", "Föräldraledig", "Flyttat", "Vet ej", "-", "Okänd ort"]
STATUS_OTHER_P = [0.20, 0.12, 0.10, 0.05, 0.14, 0.04, 0.05, 0.10, 0.04, 0.03, 0.08, 0.04, 0.01]
SKAPA_DIMS = ["Motivation", "Hälsa", "Social förmåga", "Struktur", "Språk", "Arbetsförmåga",
              "Samarbete"]


@dataclass(frozen=True)
class Kommun:
    """One municipality and how its systems happen to be set up."""

    kod: str
    share: float  # of the national volume
    encoding: str  # cp1252, utf-8, utf-8-sig
    delimiter: str
    pnr_style: str  # 12dash, 12, 10dash
    month_style: str  # dash (2023-04) or plain (202304)
    thousands: str  # '', ' ', '\xa0'
    yearly: bool  # one payment file a year instead of one a month
    per_household: bool  # one line per household-month, members in a separate file
    fine_bistand: bool  # finer ändamål (Riksnorm, Boende...) rather than 'Försörjningsstöd'
    title: bool  # a title line above the header
    headers: int  # which header wording (0, 1)
    insats_source: str  # procapita, excel, both
    excel_dates: str  # date (real Excel dates) or text
    skapa: str  # none, pnr, deltagarnr
    skapa_scale: int  # 5, 7 or 10


def municipalities(seed: int) -> list[Kommun]:
    """All 290, in a fixed order, with population-like shares (about Zipf) and set-ups."""
    rng = np.random.default_rng([seed, 0])
    codes = _codes()
    weights = np.arange(1, len(codes) + 1, dtype=float) ** -0.9
    order = [codes.index(c) for c in BIG_CITIES]
    rest = [i for i in rng.permutation(len(codes)) if i not in order]
    rank = {codes[i]: r for r, i in enumerate(order + rest)}
    shares = weights / weights.sum()
    return [_kommun(kod, float(shares[rank[kod]]), rng) for kod in codes]


def _codes() -> list[str]:
    """SCB's 290 municipality codes: the inbox must look like a real one, and utfall skips a
    folder that is not a municipality."""
    return sorted(KOMMUNER)


def _kommun(kod: str, share: float, rng: np.random.Generator) -> Kommun:
    u = rng.random(16)
    insats_source = "procapita" if u[9] < 0.6 else ("excel" if u[9] < 0.9 else "both")
    skapa = "none"
    if u[10] < 0.2:
        skapa = "deltagarnr" if insats_source != "procapita" and u[11] < 0.5 else "pnr"
    return Kommun(
        kod=kod, share=share,
        encoding="cp1252" if u[0] < 0.7 else ("utf-8" if u[0] < 0.9 else "utf-8-sig"),
        delimiter="\t" if u[1] < 0.1 else ";",
        pnr_style="12dash" if u[2] < 0.6 else ("12" if u[2] < 0.8 else "10dash"),
        month_style="dash" if u[3] < 0.6 else "plain",
        thousands="" if u[4] < 0.5 else (" " if u[4] < 0.8 else "\xa0"),
        yearly=bool(u[5] < 0.1),
        per_household=bool(u[6] < 0.1),
        fine_bistand=bool(u[7] < 0.6),
        title=bool(u[8] < 0.3),
        headers=int(u[12] < 0.5),
        insats_source=insats_source,
        excel_dates="date" if u[13] < 0.6 else "text",
        skapa=skapa,
        skapa_scale=5 if u[14] < 0.6 else (7 if u[14] < 0.85 else 10),
    )  # fmt: skip


def chosen(seed: int, scale: float) -> list[tuple[Kommun, float]]:
    """(municipality, its volume factor): all 290 at scale 1, else a size-stratified subset."""
    everyone = municipalities(seed)
    if scale >= 1.0:
        return [(k, k.share * scale) for k in everyone]
    n = max(3, round(len(everyone) * scale))
    by_size = sorted(everyone, key=lambda k: -k.share)
    picked = [by_size[int((i + 0.5) * len(by_size) / n)] for i in range(n)]
    total = sum(k.share for k in picked)
    return [(k, k.share / total * scale) for k in _with_every_system(picked)]


def _with_every_system(picked: list[Kommun]) -> list[Kommun]:
    """A small subset still exercises every adapter: Excel lists, both systems, SKAPA."""
    sources = {k.insats_source for k in picked}
    skapa = {k.skapa for k in picked}
    if {"excel", "both"} <= sources and {"pnr", "deltagarnr"} <= skapa:
        return picked
    out = list(picked)
    out[1] = replace(out[1], insats_source="excel", skapa="deltagarnr")
    out[2] = replace(out[2], insats_source="both", skapa="pnr")
    return out


# --- people ---------------------------------------------------------------------------------------


@dataclass
class People:
    """Invented persons of one municipality: birth (month index from 1900-01), day, serial."""

    birth_month: np.ndarray  # months since 1900-01
    birth_day: np.ndarray
    serial: np.ndarray  # 1..999 (000 is never issued); odd last digit = man
    samordning: np.ndarray

    def __len__(self) -> int:
        return len(self.birth_month)

    def extend(self, other: People) -> np.ndarray:
        """Append `other`; return the indices the appended people got."""
        start = len(self)
        for name in ("birth_month", "birth_day", "serial", "samordning"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))
        return np.arange(start, len(self))


def new_people(rng: np.random.Generator, birth_month: np.ndarray) -> People:
    n = len(birth_month)
    return People(birth_month.astype(np.int64), rng.integers(1, 29, n),
                  rng.integers(1, 1000, n), rng.random(n) < 0.02)


def adults_born(rng: np.random.Generator, at_month: np.ndarray) -> np.ndarray:
    """Birth months (since 1900-01) of adults aged 18 to about 64 at `at_month` (index)."""
    age = 18 + np.minimum(rng.gamma(2.0, 8.0, len(at_month)), 46)
    return (START_YEAR - 1900) * 12 + at_month - (age * 12).astype(np.int64)


def personnummer(people: People, style: str) -> pa.Array:
    """Valid personnummer (Luhn) in the municipality's written form."""
    year = 1900 + people.birth_month // 12
    twelve = pnr_column(year, people.birth_month % 12 + 1, people.birth_day, people.serial,
                        people.samordning)
    form = PNR_FORMS[style]
    return pa.array([form(p) for p in twelve])


# --- försörjningsstöd -----------------------------------------------------------------------------


@dataclass
class Fs:
    """One municipality's payment lines (one array per column) and household-months."""

    household: np.ndarray  # per line
    person: np.ndarray  # index into People
    role: np.ndarray  # 0 sökande, 1 medsökande, 2 barn
    month: np.ndarray  # Avser månad (index)
    paid_on: np.ndarray  # datetime64[D]
    amount: np.ndarray  # öre
    kind: np.ndarray  # RIKSNORM, BOENDE, EL, OVRIGT, CORRECTION
    hinder: np.ndarray  # index into HINDER, -1 = blank
    file: np.ndarray  # month index of the file (year index * 12 for yearly set-ups)
    hm_household: np.ndarray  # per household-month
    hm_month: np.ndarray
    applicant: np.ndarray  # per household
    partner: np.ndarray  # -1 = none
    child: np.ndarray  # -1 = none


# payment lines per household over the ten years (measured): calibrates households to the target
LINES_PER_HOUSEHOLD = {False: 39.5, True: 14.9}  # by per_household set-up


def simulate_fs(rng: np.random.Generator, k: Kommun, lines: int, people: People) -> Fs:
    n = max(1, int(lines / LINES_PER_HOUSEHOLD[k.per_household]))
    spells = rng.geometric(0.65, n)
    s_household = np.repeat(np.arange(n), spells)
    s_start = rng.integers(-36, MONTHS + 1, len(s_household))
    s_length = _fs_durations(rng, len(s_household))
    hm_household, hm_month = _expand(s_household, s_start, s_length)
    keep = (hm_month >= 0) & (hm_month <= MONTHS) & (rng.random(len(hm_month)) > 0.04)
    key = np.unique(hm_household[keep] * (MONTHS + 1) + hm_month[keep])
    hm_household, hm_month = key // (MONTHS + 1), key % (MONTHS + 1)
    first = np.full(n, MONTHS, dtype=np.int64)
    np.minimum.at(first, hm_household, hm_month)
    applicant = people.extend(new_people(rng, adults_born(rng, first)))
    couple = rng.random(n) < 0.3
    partner = np.full(n, -1, dtype=np.int64)
    partner[couple] = people.extend(new_people(rng, adults_born(rng, first[couple])))
    has_child = rng.random(n) < 0.45
    child = np.full(n, -1, dtype=np.int64)
    child_born = (START_YEAR - 1900) * 12 + first[has_child] - rng.integers(0, 17 * 12, has_child.sum())
    child[has_child] = people.extend(new_people(rng, child_born))
    hinder = rng.choice(len(HINDER), n, p=HINDER_P)
    return _fs_lines(rng, k, hm_household, hm_month, applicant, partner, child, hinder)


def _fs_durations(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.random(n)
    short = rng.integers(1, 3, n)
    medium = rng.geometric(1 / 6, n)
    long_ = np.minimum(12 + rng.geometric(1 / 16, n), 130)
    return np.where(kind < 0.22, short, np.where(kind < 0.6, medium, long_))


def _expand(owner: np.ndarray, start: np.ndarray, length: np.ndarray):
    """One row per month of each (owner, start, length) run."""
    idx = np.repeat(np.arange(len(owner)), length)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(length) - length, length)
    return owner[idx], start[idx] + offset


def _fs_lines(rng, k, hm_household, hm_month, applicant, partner, child, hinder) -> Fs:
    m = len(hm_household)
    couple = partner[hm_household] >= 0
    with_child = (child[hm_household] >= 0) & (rng.random(m) < 0.5)
    if k.per_household:  # one line per household-month: the applicant, the net sum
        parts = [(np.ones(m, bool), applicant, 0, RIKSNORM, (6_000, 16_000))]
    else:
        parts = [
            (np.ones(m, bool), applicant, 0, RIKSNORM, (2_500, 6_500)),
            (couple, partner, 1, RIKSNORM, (2_000, 5_000)),
            (rng.random(m) < 0.75, applicant, 0, BOENDE, (3_500, 9_500)),
            (rng.random(m) < 0.35, applicant, 0, EL, (150, 900)),
            (with_child, child, 2, RIKSNORM, (1_500, 3_500)),
            (rng.random(m) < 0.05, applicant, 0, OVRIGT, (300, 4_000)),
        ]
    parts.append((rng.random(m) < 0.015, applicant, 0, CORRECTION, (-3_000, -100)))
    columns = [_part(rng, hm_household, hm_month, hinder, *p) for p in parts]
    line = {name: np.concatenate([c[name] for c in columns]) for name in columns[0]}
    paid = _paid_on(rng, line["month"], line["kind"], line["first"])
    file = line["month"] + (line["kind"] == CORRECTION)
    if k.yearly:
        file = file // 12 * 12
    return Fs(line["household"], line["person"], line["role"], line["month"], paid,
              line["amount"], line["kind"], line["hinder"], file, hm_household, hm_month,
              applicant, partner, child)


def _part(rng, hm_household, hm_month, hinder, mask, who, role, kind, amount_range):
    household = hm_household[mask]
    n = len(household)
    kronor = rng.integers(amount_range[0], amount_range[1], n)
    ore = kronor * 100 + np.where(rng.random(n) < 0.2, 50, 0)
    first = np.zeros(n, dtype=bool)
    if kind == RIKSNORM and role == 0:
        first = _first_of_run(hm_household, hm_month)[mask]
    return {
        "household": household, "person": who[household],
        "role": np.full(n, role, dtype=np.int8), "month": hm_month[mask],
        "amount": ore, "kind": np.full(n, kind, dtype=np.int8),
        "hinder": hinder[household] if kind == RIKSNORM and role == 0 else np.full(n, -1),
        "first": first,
    }


def _first_of_run(household: np.ndarray, month: np.ndarray) -> np.ndarray:
    """True where a household-month has no household-month just before it (sorted input)."""
    first = np.ones(len(household), dtype=bool)
    first[1:] = (household[1:] != household[:-1]) | (month[1:] != month[:-1] + 1)
    return first


def _paid_on(rng, month, kind, first) -> np.ndarray:
    """Ongoing cases are paid around the 25th of the month before; new ones and corrections
    within the month (corrections: the month after)."""
    month_start = _month_start(month)
    before = _month_start(month - 1) + rng.integers(24, 28, len(month))
    within = month_start + rng.integers(4, 20, len(month))
    correction = _month_start(month + 1) + rng.integers(4, 20, len(month))
    return np.where(kind == CORRECTION, correction, np.where(first, within, before))


def _month_start(month: np.ndarray) -> np.ndarray:
    return (np.datetime64(f"{START_YEAR}-01", "M") + month).astype("datetime64[D]")


def _month_text(month: np.ndarray, style: str) -> pa.Array:
    labels = [_month_label(i, style) for i in range(-1, MONTHS + 2)]
    return pa.array(labels).take(pa.array(month + 1))


def _month_label(i: int, style: str) -> str:
    return month_text(START_YEAR * 12 + i, "-" if style == "dash" else "")


# --- text files -----------------------------------------------------------------------------------

FS_HEADERS = (
    ["Personnummer", "Hushållsnummer", "Roll", "Avser månad", "Utbetalningsdatum", "Belopp",
     "Biståndstyp", "Försörjningshinder", "Handläggare"],
    ["Personnr", "Ärendenr", "Roll", "Avser period", "Utbetalningsdag", "Belopp (kr)", "Ändamål",
     "Försörjningshinder", "Handläggare"],
)
INSATS_HEADER = ["Personnummer", "Insats", "Anordnare", "Startdatum", "Slutdatum", "Avslutsorsak",
                 "Remitterad från", "Handläggare"]


def fs_line_text(k: Kommun, fs: Fs, pnr: pa.Array) -> pa.Array:
    bistand = FINE_BISTAND if k.fine_bistand else COARSE_BISTAND
    cells = [
        pnr.take(pa.array(fs.person)),
        _household_text(fs.household, k),
        pa.array(ROLES).take(pa.array(fs.role)),
        _month_text(fs.month, k.month_style),
        pc.cast(pa.array(fs.paid_on), pa.string()),
        kronor_column(fs.amount, k.thousands),
        pa.array(bistand).take(pa.array(fs.kind)),
        pa.array(HINDER + [""]).take(pa.array(np.where(fs.hinder < 0, len(HINDER), fs.hinder))),
        pa.array(STAFF).take(pa.array(fs.household % len(STAFF))),
    ]
    if k.per_household:  # no Roll, no Handläggare
        cells = [c for i, c in enumerate(cells) if i not in (2, 8)]
    return cells


def fs_header(k: Kommun) -> list[str]:
    header = FS_HEADERS[k.headers]
    return [h for i, h in enumerate(header) if not (k.per_household and i in (2, 8))]


def _household_text(household: np.ndarray, k: Kommun) -> pa.Array:
    number = pc.cast(pa.array(household + 100_000), pa.string())
    return pc.binary_join_element_wise("H", number, "") if k.headers == 0 else number


def write_text_files(folder: Path, k: Kommun, cells: list[pa.Array], file: np.ndarray,
                     order: np.ndarray, header: list[str], name, title=None) -> list[Path]:
    """One file per distinct `file` value; lines in `order`. Returns the paths written."""
    line = pc.binary_join_element_wise(*cells, k.delimiter)
    line = pc.binary_join_element_wise(line, "\r\n", "").take(pa.array(order))
    line = line.cast(pa.large_string())
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[: len(line) + 1]
    data = memoryview(line.buffers()[2]) if len(line) else memoryview(b"")
    files = file[order]
    bounds = np.flatnonzero(np.diff(files)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(files)]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        head = (f"{title(int(files[s]))}\r\n\r\n" if title else "") + k.delimiter.join(header) + "\r\n"
        body = data[offsets[s]: offsets[e]]
        path = folder / name(int(files[s]))
        path.write_bytes(encoded(head, k.encoding, bytes(body)))
        written.append(path)
    return written


def write_fs_files(inbox: Path, k: Kommun, fs: Fs, pnr: pa.Array, months: set[int] | None) -> list[Path]:
    """Payment files; `months` limits them to those file months (None = all but the extra)."""
    wanted = fs.file < MONTHS if months is None else np.isin(fs.file, list(months))
    select = np.flatnonzero(wanted)
    order = select[np.lexsort((fs.kind[select], fs.role[select], fs.household[select], fs.file[select]))]
    cells = fs_line_text(k, fs, pnr)
    ext = "txt" if k.delimiter == "\t" else "csv"

    def name(f: int) -> str:
        year, month = START_YEAR + f // 12, f % 12 + 1
        return f"ekbistand_{year}.{ext}" if k.yearly else f"utbetalningar_{year}{month:02d}.{ext}"

    def title(f: int) -> str:
        return f"Utbetalt ekonomiskt bistånd {k.kod} {START_YEAR + f // 12}"

    return write_text_files(inbox / k.kod / "procapita", k, cells, fs.file, order, fs_header(k),
                            name, title if k.title else None)


def write_household_files(inbox: Path, k: Kommun, fs: Fs, pnr: pa.Array) -> list[Path]:
    """Set-ups with one line per household: who belongs to each household, one file a year."""
    active = fs.hm_month < MONTHS
    key = np.unique(fs.hm_household[active] * YEARS + fs.hm_month[active] // 12)
    household, year = key // YEARS, key % YEARS
    parts = [(household, year, fs.applicant[household], 0)]
    for who, role in ((fs.partner, 1), (fs.child, 2)):
        has = who[household] >= 0
        parts.append((household[has], year[has], who[household[has]], role))
    hh, file, person = (np.concatenate([p[i] for p in parts]) for i in range(3))
    role = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    cells = [_household_text(hh, k), pnr.take(pa.array(person)), pa.array(ROLES).take(pa.array(role))]
    header = [FS_HEADERS[k.headers][1], "Personnummer", "Roll"]
    order = np.lexsort((role, hh, file))
    return write_text_files(inbox / k.kod / "procapita", k, cells, file, order, header,
                            lambda y: f"hushallsmedlemmar_{START_YEAR + y}.csv")


# --- the labour-market unit (AME) -----------------------------------------------------------------


@dataclass
class Episodes:
    """Insats episodes of one municipality, one array per column; spells as generated."""

    person: np.ndarray
    spell: np.ndarray
    typ: np.ndarray  # index into INSATS
    local: np.ndarray  # index into INSATS_NAMES
    start: np.ndarray  # datetime64[D]
    end: np.ndarray  # datetime64[D]; NaT while ongoing
    end_reason: np.ndarray  # index into END_REASONS, -1 = none
    referred: np.ndarray  # index into REFERRED
    provider: np.ndarray


def simulate_ame(rng: np.random.Generator, n_episodes: int, people: People, fs: Fs) -> Episodes:
    """Spells of one to five chained episodes; 60 % of participants are on FS when they start."""
    n = max(1, int(n_episodes / 1.65))
    person, start = _participants(rng, n, people, fs)
    count = np.minimum(rng.geometric(0.6, n), 5)
    spell = np.repeat(np.arange(n), count)
    m = len(spell)
    length = (14 + rng.gamma(2.0, 60.0, m)).astype(np.int64)
    gap = np.where(rng.random(m) < 0.85, rng.integers(1, 26, m),
                   np.where(rng.random(m) < 0.6, -rng.integers(0, 20, m), rng.integers(31, 200, m)))
    step = length + gap
    before = np.cumsum(step) - step
    first = np.repeat(np.cumsum(count) - count, count)
    ep_start = start[spell] + (before - before[first])
    ep_end = ep_start + length - 1
    last = np.r_[spell[1:] != spell[:-1], True]
    typ = rng.choice(len(INSATS_P), m, p=INSATS_P)
    reason = np.where(last, rng.choice(len(END_REASONS), m, p=END_REASON_P),
                      np.where(rng.random(m) < 0.5, 5, 3))
    ongoing = ep_end > DATA_END
    from_fs_referred = np.where(rng.random(n) < 0.7, 0, rng.integers(1, 4, n))
    keep = ep_start <= DATA_END
    return Episodes(
        person=person[spell][keep], spell=spell[keep], typ=typ[keep],
        local=(typ * 2 + rng.integers(0, 2, m))[keep],
        start=ep_start[keep], end=np.where(ongoing, np.datetime64("NaT"), ep_end)[keep],
        end_reason=np.where(ongoing, -1, reason)[keep],
        referred=from_fs_referred[spell][keep],
        provider=rng.integers(0, len(PROVIDERS), m)[keep],
    )


def _participants(rng, n: int, people: People, fs: Fs):
    """(person, spell start): drawn from adults on FS that month, or new people."""
    from_fs = rng.random(n) < 0.6
    hm = np.flatnonzero(fs.hm_month < MONTHS)
    pick = hm[rng.integers(0, len(hm), from_fs.sum())] if len(hm) else np.zeros(0, np.int64)
    household = fs.hm_household[pick]
    partner = fs.partner[household]
    use_partner = (partner >= 0) & (rng.random(len(pick)) < 0.4)
    person = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype="datetime64[D]")
    person[from_fs] = np.where(use_partner, partner, fs.applicant[household])
    start[from_fs] = _month_start(fs.hm_month[pick]) + rng.integers(0, 28, len(pick))
    others = int((~from_fs).sum())
    day = rng.integers(0, int((DATA_END - np.datetime64(f"{START_YEAR}-01-01")).astype(int)), others)
    start[~from_fs] = np.datetime64(f"{START_YEAR}-01-01") + day
    month = (start[~from_fs].astype("datetime64[M]") - np.datetime64(f"{START_YEAR}-01", "M")).astype(np.int64)
    person[~from_fs] = people.extend(new_people(rng, adults_born(rng, month)))
    return person, start


def write_insats_files(inbox: Path, k: Kommun, ep: Episodes, pnr: pa.Array) -> list[Path]:
    """Procapita's labour-market module: one insats file a year (by start year)."""
    end_text = pc.fill_null(pc.cast(pa.array(ep.end), pa.string()), "")
    cells = [
        pnr.take(pa.array(ep.person)),
        pa.array(INSATS_NAMES).take(pa.array(ep.local)),
        pa.array(PROVIDERS).take(pa.array(ep.provider)),
        pc.cast(pa.array(ep.start), pa.string()),
        end_text,
        pa.array(END_REASONS + [""]).take(pa.array(np.where(ep.end_reason < 0, len(END_REASONS), ep.end_reason))),
        pa.array(REFERRED).take(pa.array(ep.referred)),
        pa.array(STAFF).take(pa.array(ep.spell % len(STAFF))),
    ]
    year = ep.start.astype("datetime64[Y]").astype(np.int64) + 1970 - START_YEAR
    order = np.lexsort((ep.start, year))
    ext = "txt" if k.delimiter == "\t" else "csv"
    return write_text_files(inbox / k.kod / "procapita", k, cells, year, order, INSATS_HEADER,
                            lambda y: f"insatser_{START_YEAR + y}.{ext}")


# --- workbooks ------------------------------------------------------------------------------------

PARTICIPANT_HEADER = ["Personnummer", "Namn", "Deltagarnr", "Insats", "Startdatum", "Slutdatum",
                      "Avslutsorsak", "Status 3 mån", "Status 6 mån", "Status 12 mån",
                      "Född utomlands", "Remiss från"]


def write_xlsx(path: Path, sheets: list[SheetData]) -> None:
    """A lean workbook; zip entries dated 2025-01-01 without a file mode, as this inbox has
    always been written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lean_xlsx_bytes(sheets, time=ZIP_TIME, mode=0))


def _date_cells(days: np.ndarray, style: str) -> list:
    """Dates as Excel serials (a date format) or as ISO text; None where missing."""
    if style == "date":
        serial = excel_serials(days)
        return [None if np.isnat(d) else Serial(s) for d, s in zip(days, serial.tolist())]
    return [None if np.isnat(d) else str(d) for d in days]


def write_participant_lists(inbox: Path, k: Kommun, ep: Episodes, pnr: pa.Array, people: People,
                            rng: np.random.Generator) -> list[Path]:
    """Hand-made lists: one workbook a year (by start year), title rows, follow-up statuses."""
    status = [_followup(rng, ep, h) for h in (3, 6, 12)]
    abroad = np.array(["Ja", "Nej", ""])[rng.choice(3, len(people), p=[0.35, 0.5, 0.15])]
    year = ep.start.astype("datetime64[Y]").astype(np.int64) + 1970
    pnr_text = pnr.to_pylist()
    start, end = _date_cells(ep.start, k.excel_dates), _date_cells(ep.end, k.excel_dates)
    written = []
    for y in np.unique(year).tolist():
        rows_idx = np.flatnonzero(year == y)
        rows = [[f"Deltagare AME {y}"], [], PARTICIPANT_HEADER]
        for i in rows_idx.tolist():
            p = int(ep.person[i])
            rows.append([
                pnr_text[p], f"{FIRST[p % 10]} {LAST[p % 8]}", 1000 + p, INSATS_NAMES[ep.local[i]],
                start[i], end[i], END_REASONS[ep.end_reason[i]] if ep.end_reason[i] >= 0 else None,
                status[0][i], status[1][i], status[2][i], abroad[p], REFERRED[ep.referred[i]],
            ])
        rows.append(["Summa", len(rows_idx)])
        path = inbox / k.kod / "excel" / f"deltagare_{y}.xlsx"
        write_xlsx(path, [SheetData(f"Deltagare {y}", rows)])
        written.append(path)
    return written


def _followup(rng: np.random.Generator, ep: Episodes, months: int) -> list:
    """The status h months after the end, where that date has passed and someone followed up."""
    due = ~np.isnat(ep.end)
    due[due] = (ep.end[due].astype("datetime64[M]") + months).astype("datetime64[D]") <= DATA_END
    filled = due & (rng.random(len(ep.end)) < 0.7)
    worked = np.isin(ep.end_reason, list(WORK | STUDIES))
    after_work = rng.choice(len(STATUS_AFTER_WORK), len(ep.end), p=STATUS_AFTER_WORK_P)
    other = rng.choice(len(STATUS_OTHER), len(ep.end), p=STATUS_OTHER_P)
    text = np.where(worked, np.array(STATUS_AFTER_WORK)[after_work], np.array(STATUS_OTHER)[other])
    return [t if f else None for t, f in zip(text.tolist(), filled.tolist())]


def write_skapa(inbox: Path, k: Kommun, ep: Episodes, pnr: pa.Array, rng: np.random.Generator) -> list[Path]:
    """SKAPA: two to four occasions over 60 % of spells, self-ratings and often staff ratings."""
    spells = np.unique(ep.spell)
    spells = spells[rng.random(len(spells)) < 0.6]
    first = np.searchsorted(ep.spell, spells)
    last = np.searchsorted(ep.spell, spells, side="right") - 1
    s_start = ep.start[first]
    s_end = np.where(np.isnat(ep.end[last]), DATA_END, ep.end[last])
    occasions = rng.integers(2, 5, len(spells))
    owner = np.repeat(np.arange(len(spells)), occasions)
    span = (s_end - s_start).astype(np.int64)[owner] + 20
    day = s_start[owner] - 10 + (rng.random(len(owner)) * span).astype(np.int64)
    day = np.minimum(day, DATA_END)
    staff = rng.random(len(owner)) < 0.5
    rater = np.concatenate([np.zeros(len(owner), int), np.ones(staff.sum(), int)])
    owner, day = np.concatenate([owner, owner[staff]]), np.concatenate([day, day[staff]])
    dims = SKAPA_DIMS[: 5 + int(k.kod) % 3]
    scale = k.skapa_scale
    progress = (day - s_start[owner]).astype(np.int64) / 365.0
    base = rng.integers(1, scale, (len(owner), 1)) + np.round(progress * 1.5)[:, None]
    scores = np.clip(base + rng.integers(-1, 2, (len(owner), len(dims))), 1, scale).astype(int)
    person = ep.person[first][owner]
    ident = pnr.take(pa.array(person)).to_pylist() if k.skapa == "pnr" else (1000 + person).tolist()
    suffix = "" if scale == 5 else f" (1-{scale})"
    header = ["Personnummer" if k.skapa == "pnr" else "Deltagarnr", "Datum", "Bedömning"] + [
        d + suffix for d in dims]
    year = day.astype("datetime64[Y]").astype(np.int64) + 1970
    dates = _date_cells(day, "date")
    raters = ["Självskattning", "Handledare"]
    written = []
    for y in np.unique(year).tolist():
        idx = np.flatnonzero(year == y)
        idx = idx[np.argsort(day[idx], kind="stable")]
        rows = [header] + [[ident[i], dates[i], raters[rater[i]], *scores[i].tolist()] for i in idx.tolist()]
        path = inbox / k.kod / "skapa" / f"skapa_{y}.xlsx"
        write_xlsx(path, [SheetData("Bedömningar", rows)])
        written.append(path)
    return written


# --- one municipality, and the whole inbox --------------------------------------------------------


def generate_kommun(inbox: Path, k: Kommun, factor: float, seed: int, extra: bool = False) -> dict:
    """Simulate one municipality and write its files; with `extra`, only the 2025-01 delivery."""
    rng = np.random.default_rng([seed, int(k.kod)])
    people = new_people(rng, np.zeros(0, dtype=np.int64))
    fs = simulate_fs(rng, k, int(NATIONAL_FS_LINES * factor), people)
    if extra:
        return {"kommun": k.kod, "paths": [str(p) for p in
                write_fs_files(inbox, k, fs, personnummer(people, k.pnr_style), {MONTHS})]}
    ep = simulate_ame(rng, int(NATIONAL_EPISODES * factor), people, fs)
    pnr = personnummer(people, k.pnr_style)
    paths = write_fs_files(inbox, k, fs, pnr, None)
    if k.per_household:
        paths += write_household_files(inbox, k, fs, pnr)
    excel_share = {"procapita": 0.0, "excel": 1.0, "both": 0.4}[k.insats_source]
    if k.insats_source != "excel":
        paths += write_insats_files(inbox, k, ep, pnr)
    if excel_share:
        paths += write_participant_lists(inbox, k, _subset(ep, rng, excel_share), pnr, people, rng)
    if k.skapa != "none":
        paths += write_skapa(inbox, k, ep, pnr, rng)
    return _stats(k, fs, ep, paths)


def _subset(ep: Episodes, rng: np.random.Generator, share: float) -> Episodes:
    if share >= 1.0:
        return ep
    keep = rng.random(len(ep.person)) < share
    return Episodes(**{name: getattr(ep, name)[keep] for name in Episodes.__dataclass_fields__})


def _stats(k: Kommun, fs: Fs, ep: Episodes, paths: list[Path]) -> dict:
    delivered = fs.file < MONTHS
    adult = delivered & (fs.role < 2)
    person_years = np.unique(fs.person[adult] * YEARS + fs.month[adult] // 12)
    return {
        "kommun": k.kod, "setup": asdict(k),
        "fs_lines": int(delivered.sum()),
        "adult_fs_person_years": len(person_years),
        "episodes": len(ep.person),
        "files": len(paths),
        "bytes": int(sum(p.stat().st_size for p in paths)),
        "files_by_system": _count_by_system(paths),
    }


def _count_by_system(paths: list[Path]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.parent.name] = counts.get(p.parent.name, 0) + 1
    return counts


def _generate_one(args) -> dict:
    return generate_kommun(*args)


def generate(out: Path, scale: float, seed: int, workers: int = 2) -> dict:
    """Write the whole inbox and its manifest (a hidden file the pipeline does not read)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tasks = sorted(chosen(seed, scale), key=lambda t: -t[1])
    args = [(out, k, factor, seed) for k, factor in tasks]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            stats = list(pool.imap_unordered(_generate_one, args))
    else:
        stats = [_generate_one(a) for a in args]
    stats.sort(key=lambda s: s["kommun"])
    manifest = _manifest(scale, seed, stats, time.perf_counter() - started)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def _manifest(scale: float, seed: int, stats: list[dict], seconds: float) -> dict:
    totals = {key: sum(s[key] for s in stats) for key in
              ("fs_lines", "adult_fs_person_years", "episodes", "files", "bytes")}
    by_system: dict[str, int] = {}
    for s in stats:
        for system, n in s["files_by_system"].items():
            by_system[system] = by_system.get(system, 0) + n
    totals["files_by_system"] = by_system
    totals["adults_on_fs_per_year"] = totals["adult_fs_person_years"] // YEARS
    return {"scale": scale, "seed": seed, "months": f"{START_YEAR}-01..{START_YEAR + YEARS - 1}-12",
            "generated_at": date.today().isoformat(), "seconds": round(seconds, 1),
            "totals": totals, "kommuner": stats}


def write_extra_month(inbox: Path, kommun: str | None = None) -> list[Path]:
    """One municipality delivers 2025-01 (with its correction lines for December): the file is
    simulated from the same seed as the rest, so it continues the same households."""
    manifest = json.loads((inbox / MANIFEST).read_text(encoding="utf-8"))
    factors = dict((k.kod, (k, f)) for k, f in chosen(manifest["seed"], manifest["scale"]))
    kod = kommun or largest_monthly(manifest)
    k, factor = factors[kod]
    result = generate_kommun(inbox, k, factor, manifest["seed"], extra=True)
    return [Path(p) for p in result["paths"]]


def largest_monthly(manifest: dict) -> str:
    """The municipality with the most payment lines among those that deliver monthly."""
    monthly = [s for s in manifest["kommuner"] if not s["setup"]["yearly"]]
    return max(monthly, key=lambda s: s["fs_lines"])["kommun"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--extra-month", metavar="KOMMUN", nargs="?", const="",
                        help="only write the 2025-01 delivery of one municipality (default: the "
                             "largest monthly one) into an inbox generated before")
    args = parser.parse_args(argv)
    if args.extra_month is not None:
        for path in write_extra_month(args.out, args.extra_month or None):
            print(path)
        return
    manifest = generate(args.out, args.scale, args.seed, args.workers)
    t = manifest["totals"]
    print(f"{len(manifest['kommuner'])} municipalities, {t['files']} files "
          f"({t['bytes'] / 1e9:.2f} GB): {t['fs_lines']:,} payment lines, "
          f"~{t['adults_on_fs_per_year']:,} adults on FS a year, {t['episodes']:,} insats episodes; "
          f"{manifest['seconds']:.0f} s")


if __name__ == "__main__":
    main()
