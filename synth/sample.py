"""The deterministic sample inbox: invented people, exports shaped like real ones, known faults.

    python -m synth.sample --out data/sample/inbox [--seed 20231]

writes `<out>/<kommunkod>/<system>/<file>` for five municipalities (data/sample/README.md says
what each file is) and a manifest beside the inbox (`<out>/../manifest.json`, or `--manifest`):
per file its kind, its number of data rows, its deliberate faults by kind and other features
worth asserting. The manifest never holds a personnummer.

Same seed, same bytes: random numbers come from one seeded generator per municipality, and
workbooks get fixed document timestamps and fixed zip entry times. Every personnummer is
invented and carries a correct Luhn check digit, except the ones made faulty on purpose. How a
value or a file is written (personnummer forms, Excel dates, kronor, encodings, workbooks) is
synth.exports, shared with the national benchmark's generator (synth.national).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from synth.exports import (
    ZIP_TIME,
    SheetData,
    dash10,
    dash12,
    doc_time,
    excel_serial,
    kronor,
    luhn_digit,
    make_pnr,
    month_text,
    ods_bytes,
    text_bytes,
    xlsx_bytes,
)

DEFAULT_SEED = 20231
FIRST_MONTH = 2021 * 12  # months are counted as year * 12 + month - 1: this is 2021-01
LAST_MONTH = 2024 * 12 + 5  # 2024-06, the last month any bistånd file covers
EXTRACT_DAY = date(2024, 6, 28)  # the day the lists and exports were taken
FIRST_START, LAST_START = date(2021, 1, 11), date(2024, 5, 31)
DOC_TIME = doc_time(ZIP_TIME)  # 2024-07-01T08:00:00Z: the workbooks' fixed timestamps
NBSP = "\u00a0"
HORIZONS = (3, 6, 12)
CENTENARIAN_BORN = date(1921, 3, 14)  # aged 100 or more: written with "+"

# fault kinds: rows that must be quarantined or flagged, files that must not load
PNR_CHECK = "pnr_bad_check_digit"
PNR_DATE = "pnr_impossible_date"
START_UNPARSEABLE = "start_date_unparseable"
END_BEFORE_START = "end_before_start"
INSATS_UNMAPPED = "insats_unmapped"
STATUS_UNMAPPED = "status_unmapped"
END_REASON_UNMAPPED = "end_reason_unmapped"
DUPLICATE_FILE = "duplicate_file"
CORRUPT_FILE = "corrupt_file"
# a variation that looks odd but must load
PNR_LOST_ZERO = "pnr_lost_leading_zero"

# fmt: off
UNPARSEABLE_DATES = ("v. 12", "hösten 2023", "ej klart")
UNMAPPED = {
    INSATS_UNMAPPED: {"1480": "Projekt Nya Vägar", "1384": "Framtidsverkstan",
                      "1402": "Jobbklubben"},
    STATUS_UNMAPPED: {"1384": "Volontär", "1415": "Praktik via AF"},
    END_REASON_UNMAPPED: {"1480": "Avslutad – se journal"},
}

FIRST_NAMES = {
    "K": ("Anna", "Maria", "Sara", "Fatima", "Elin", "Amira", "Karin", "Lina", "Sofia", "Hanna",
          "Leila", "Emma"),
    "M": ("Erik", "Johan", "Ahmed", "Mohammed", "Lars", "Ali", "Jonas", "Daniel", "Mikael", "Omar",
          "Karl", "Yusuf"),
}
LAST_NAMES = ("Testsson", "Provberg", "Exempeldal", "Demolund", "Fiktivsson", "Påhittad",
              "Testström", "Provqvist", "Låtsasson", "Exempelsdotter")
STAFF = ("Karin Exempelsson", "Per Provström", "Lena Testdahl", "Omar Demovik",
         "Sara Fiktivsdotter")
MONTH_NAMES = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
               "september", "oktober", "november", "december")

# insats sequences of a spell, with weights: kartläggning -> praktik -> arbetsträning and so on
TEMPLATES = (
    (("KARTLAGGNING", "PRAKTIK", "ARBETSTRANING"), 3),
    (("KARTLAGGNING", "PRAKTIK"), 4),
    (("KARTLAGGNING", "ARBETSTRANING"), 4),
    (("ARBETSTRANING",), 6),
    (("PRAKTIK",), 4),
    (("VAGLEDNING",), 4),
    (("KARTLAGGNING", "VAGLEDNING"), 3),
    (("KARTLAGGNING", "PRAKTIK", "SUBVENTIONERAD_ANSTALLNING"), 2),
    (("SOCIAL_REHAB", "ARBETSTRANING"), 2),
    (("UTBILDNING",), 3),
    (("SOCIAL_REHAB", "KARTLAGGNING", "ARBETSTRANING", "PRAKTIK"), 1),
    (("STODJAT_ARBETE",), 1),
)
DURATION = {  # days, shortest and longest
    "KARTLAGGNING": (14, 60), "PRAKTIK": (30, 120), "ARBETSTRANING": (60, 240),
    "VAGLEDNING": (30, 120), "SUBVENTIONERAD_ANSTALLNING": (180, 365), "UTBILDNING": (90, 300),
    "SOCIAL_REHAB": (60, 180), "STODJAT_ARBETE": (90, 365),
}
GOOD_SHARE = {  # how often a spell that ends with this type ends in work or studies
    "KARTLAGGNING": 0.2, "PRAKTIK": 0.45, "ARBETSTRANING": 0.35, "VAGLEDNING": 0.4,
    "SUBVENTIONERAD_ANSTALLNING": 0.6, "UTBILDNING": 0.5, "SOCIAL_REHAB": 0.2,
    "STODJAT_ARBETE": 0.5,
}

FS_KINDS = ("Försörjningsstöd", "Boende", "Hushållsel")
OTHER_KINDS = ("Livsföring i övrigt", "Tandvård", "Glasögon", "Hemutrustning")
ROLE_ORDER = {"Sökande": 0, "Medsökande": 1, "Barn": 2}

DEFAULT_REASONS = {
    "ARBETE": ("Arbete", "Fått arbete", "Anställning"),
    "STUDIER": ("Studier", "Börjat studera"),
    "BAD": ("Avbrott", "Uteblivit", "Ohälsa", "Flyttat", "Planerat avslut", "Annan insats"),
    "NEXT": ("Annan insats", "Planerat avslut"),
}
DEFAULT_STATUS = {
    "GOOD": ("Arbete", "Anställd", "Timanställd", "Jobb", "Studier", "Extratjänst", "Komvux",
             "SFI", "Eget företag", "Lönebidrag"),
    "BAD": ("Arbetslös", "Inskriven AF", "Praktik", "Arbetsträning", "Sjukskriven",
            "Föräldraledig", "Flyttat"),
    "UNKNOWN": ("Vet ej", "-"),
}
# fmt: on


# --- the municipalities --------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    kod: str
    namn: str
    participants: int
    households: int  # households on bistånd besides the participants' own (0: no bistånd data)
    insats: dict[str, tuple[str, ...]]  # insats_typ -> local names
    hinder: tuple[str, ...] = ()
    reasons: dict[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_REASONS)
    status: dict[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_STATUS)
    referred: tuple[str, ...] = ("IFO", "AF", "Egen")
    fs_share: float = 0.6  # of participants, on bistånd around their spells


# fmt: off
PROFILES = {
    "1480": Profile(
        "1480", "Göteborg", participants=170, households=55,
        insats={
            "KARTLAGGNING": ("Jobbtorg Kartläggning", "Introduktion Jobbtorg"),
            "PRAKTIK": ("Praktik Park och natur", "Språkpraktik Vård"),
            "ARBETSTRANING": ("ATR Arbetsträning Returbutik", "ATR Arbetsträning Returbutik",
                              "ATR Arbetsträning Snickeriet"),
            "VAGLEDNING": ("Jobbcoachning Jobbtorg", "Lotsen"),
            "SUBVENTIONERAD_ANSTALLNING": ("Extratjänst Äldreomsorg",),
            "SOCIAL_REHAB": ("Steget Vidare",),
            "UTBILDNING": ("Yrkesspår Lager",),
            "STODJAT_ARBETE": ("IPS Jobbtorg",),
        },
        hinder=("Arbetslös, väntar på ersättning", "Arbetslös - ingen a-kassa",
                "Sjukskriven med läkarintyg", "Sociala skäl", "Föräldraledig",
                "Otillräcklig inkomst", "Arbetslös med etableringsersättning"),
        reasons={
            "ARBETE": ("Fått arbete", "Fått jobb inom handel", "Fått arbete utomlands (lön i €)"),
            "STUDIER": ("Börjat studera", "Studier Komvux"),
            "BAD": ("Avbrutit", "Uteblivit", "Sjukskriven", "Flyttat från kommunen",
                    "Planerat avslut", "Övergått till insats hos AF"),
            "NEXT": ("Vidare till annan insats", "Planerat avslut"),
        },
        referred=("IFO", "AF", "Egen", "FK"),
    ),
    "1384": Profile(
        "1384", "Kungsbacka", participants=130, households=35,
        insats={
            "KARTLAGGNING": ("Kartläggning",),
            "PRAKTIK": ("Praktik", "Språkpraktik"),
            "ARBETSTRANING": ("Arbetsträning Återbruket", "Arbetsträning Café"),
            "VAGLEDNING": ("Jobbcoachning", "Studie- och yrkesvägledning"),
            "SUBVENTIONERAD_ANSTALLNING": ("Extratjänst", "Lönebidrag"),
            "SOCIAL_REHAB": ("Steg 1 Motivation",),
            "UTBILDNING": ("SFI", "Komvux"),
            "STODJAT_ARBETE": ("Supported employment",),
        },
        hinder=("10 Arbetslös, utan ersättning", "11 Arbetslös, otillräcklig ersättning",
                "12 Arbetslös, väntar på ersättning", "13 Arbetslös med etableringsersättning",
                "20 Sjukskriven med läkarintyg", "30 Sociala skäl", "50 Otillräcklig inkomst"),
        status={
            "GOOD": (" Arbete", "arbete", "JOBB", "Timanställd ", "Anställd", "Visstidsanställd",
                     "studier", "Studerar", "SFI ", "Komvux", "Extratjänst"),
            "BAD": ("Arbetslös", "arbetslös ", "Inskriven AF", "inskriven af", "Praktik",
                    "Sjukskriven", "Föräldraledig", "Flyttat"),
            "UNKNOWN": ("Vet ej", "vet ej", "-", " - "),
        },
    ),
    "1415": Profile(
        "1415", "Stenungsund", participants=90, households=30,
        insats={
            "KARTLAGGNING": ("Kartläggning",),
            "PRAKTIK": ("Praktik",),
            "ARBETSTRANING": ("Stenungsunds Jobbverkstad", "Arbetsträning"),
            "VAGLEDNING": ("Vägledning",),
            "SUBVENTIONERAD_ANSTALLNING": ("Extratjänst",),
            "SOCIAL_REHAB": ("Hälsoinsats",),
            "UTBILDNING": ("Jobbspår",),
            "STODJAT_ARBETE": ("IPS",),
        },
        hinder=("Arbetslös utan ersättning", "Sjukskriven, läkarintyg", "Sociala skäl",
                "Otillräcklig inkomst"),
    ),
    "1402": Profile(
        "1402", "Partille", participants=200, households=0,
        insats={
            "KARTLAGGNING": ("Kartläggning",),
            "PRAKTIK": ("Partille Arbetsmarknad Praktik", "Praktik"),
            "ARBETSTRANING": ("Arbetsträning",),
            "VAGLEDNING": ("Jobbcoachning",),
            "SUBVENTIONERAD_ANSTALLNING": ("Extratjänst",),
            "SOCIAL_REHAB": ("Motivationsgrupp",),
            "UTBILDNING": ("SFI", "Yrkesutbildning"),
            "STODJAT_ARBETE": ("Supported employment",),
        },
        status={**DEFAULT_STATUS, "GOOD": DEFAULT_STATUS["GOOD"] + ("Anställd kommunen",)},
        fs_share=0.0,
    ),
    "1401": Profile(  # defaults.yaml must cover every value: 1401 has no configuration
        "1401", "Härryda", participants=160, households=0,
        insats={
            "KARTLAGGNING": ("Kartläggning",),
            "PRAKTIK": ("Praktik",),
            "ARBETSTRANING": ("Arbetsträning",),
            "VAGLEDNING": ("Jobbcoachning", "Vägledning"),
            "SUBVENTIONERAD_ANSTALLNING": ("Extratjänst", "Nystartsjobb"),
            "SOCIAL_REHAB": ("Social rehabilitering",),
            "UTBILDNING": ("Komvux", "SFI"),
            "STODJAT_ARBETE": ("IPS",),
        },
        fs_share=0.0,
    ),
}
# fmt: on


# --- months and dates ----------------------------------------------------------------------------


def month_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_start(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def add_months(day: date, n: int) -> date:
    first = month_start(month_of(day) + n)
    next_first = month_start(month_of(day) + n + 1)
    return first.replace(day=min(day.day, (next_first - first).days))


def random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


# --- faulty personnummer (the valid ones and their forms: synth.exports) -------------------------


def bad_check(pnr: str) -> str:
    return pnr[:11] + str((int(pnr[11]) + 3) % 10)


def impossible_date(pnr: str) -> str:
    """The person's number with the 30th of February as birth date and a correct check digit."""
    nine = f"{pnr[2:4]}0230{pnr[8:11]}"
    return f"{pnr[:2]}{nine}{luhn_digit(nine)}"


# --- people, spells and households ---------------------------------------------------------------


@dataclass
class Person:
    pnr: str  # twelve digits
    name: str
    sex: str
    born: date
    abroad: bool
    ref: int | None = None  # Deltagarnr, where the municipality uses one


@dataclass
class Episode:
    person: Person
    typ: str
    local: str
    start: date
    end: date | None
    referred: str
    reason: str | None = None  # local Avslutsorsak
    reason_kind: str | None = None  # ARBETE / STUDIER / BAD / NEXT
    distance: str | None = None  # NARA / OSAKER / LANGT: the colour category (Kategori, Färg)


@dataclass
class Spell:
    person: Person
    episodes: list[Episode]
    good: bool  # ended in work or studies
    status: dict[int, str | None] = field(default_factory=dict)  # horizon -> local text

    @property
    def start(self) -> date:
        return self.episodes[0].start

    @property
    def exit(self) -> date | None:
        return self.episodes[-1].end


@dataclass
class Household:
    ref: str
    applicant: Person
    partner: Person | None
    children: list[Person]
    hinder: str
    months: list[int]  # months with försörjningsstöd
    other_months: list[int]  # months with only livsföring i övrigt
    norm: int  # öre a month
    rent: int


@dataclass
class Line:
    """One payment line of a bistånd export."""

    household: Household
    person: Person
    role: str
    month: int  # Avser månad
    paid: date
    ore: int
    kind: str
    arrives: int  # the month whose monthly file carries the line


@dataclass
class World:
    profile: Profile
    participants: list[Person]
    spells: list[Spell]
    households: list[Household]


class People:
    """Invents people with unique, valid personnummer."""

    def __init__(self):
        self.used: set[str] = set()

    def new(
        self, rng: random.Random, first_year: int, last_year: int, samordning_share: float = 0.04
    ) -> Person:
        while True:
            born = date(rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28))
            sex = rng.choice("KM")
            serial = rng.randint(1, 99) * 10 + rng.choice(
                (1, 3, 5, 7, 9) if sex == "M" else (0, 2, 4, 6, 8)
            )
            samordning = rng.random() < samordning_share
            pnr = make_pnr(born, serial, samordning)
            if pnr not in self.used:
                break
        self.used.add(pnr)
        name = f"{rng.choice(FIRST_NAMES[sex])} {rng.choice(LAST_NAMES)}"
        return Person(pnr, name, sex, born, samordning or rng.random() < 0.3)


def weighted(rng: random.Random, choices):
    items, weights = zip(*choices, strict=True)
    return rng.choices(items, weights=weights)[0]


def make_spells(rng: random.Random, person: Person, profile: Profile, on_fs: bool) -> list[Spell]:
    adult = person.born.replace(year=person.born.year + 18)
    first = random_day(rng, max(FIRST_START, adult), LAST_START)
    spells = [make_spell(rng, person, profile, first, on_fs)]
    exit_day = spells[0].exit
    if exit_day and rng.random() < 0.15:
        start = exit_day + timedelta(days=rng.randint(60, 300))
        if start <= EXTRACT_DAY - timedelta(days=30):
            spells.append(make_spell(rng, person, profile, start, on_fs))
    return spells


def make_spell(
    rng: random.Random, person: Person, profile: Profile, start: date, on_fs: bool
) -> Spell:
    referred = "IFO" if on_fs and rng.random() < 0.7 else rng.choice(profile.referred)
    episodes = []
    day = start
    for typ in weighted(rng, TEMPLATES):
        low, high = DURATION[typ]
        end = day + timedelta(days=rng.randint(low, high) - 1)
        ongoing = end > EXTRACT_DAY
        episodes.append(
            Episode(
                person,
                typ,
                rng.choice(profile.insats[typ]),
                day,
                None if ongoing else end,
                referred,
            )
        )
        day = end + timedelta(
            days=rng.randint(35, 80) if rng.random() < 0.12 else rng.randint(1, 20)
        )
        if ongoing or day > EXTRACT_DAY:
            break
    spell = Spell(person, episodes, rng.random() < GOOD_SHARE[episodes[-1].typ])
    set_entry(spell, on_fs)
    set_reasons(rng, spell, profile)
    spell.status = follow_ups(rng, spell, profile)
    return spell


def set_entry(spell: Spell, on_fs: bool) -> None:
    """About one spell in twenty referred by the health services ('Vården'), and the colour
    category at entry on every episode of the spell; the first episode is blank in about one
    spell in six (the category was set later), and about one in ten has none at all. Drawn from a
    stream of its own (seeded by person and start), so the rest of the sample stays as it was
    before these were added."""
    first = spell.episodes[0]
    rng = random.Random(f"distance|{spell.person.pnr}|{first.start.isoformat()}")
    if rng.random() < 0.05:
        for episode in spell.episodes:
            episode.referred = "Vården"
    weights = (0.2, 0.35, 0.45) if on_fs else (0.45, 0.35, 0.2)
    distance = rng.choices(("NARA", "OSAKER", "LANGT"), weights)[0]
    if rng.random() < 0.1:
        return
    for episode in spell.episodes:
        episode.distance = distance
    if len(spell.episodes) > 1 and rng.random() < 0.17:
        first.distance = None


def set_reasons(rng: random.Random, spell: Spell, profile: Profile) -> None:
    for episode in spell.episodes[:-1]:
        episode.reason_kind = "NEXT"
    last = spell.episodes[-1]
    if last.end is not None:
        if not spell.good:
            last.reason_kind = "BAD"
        elif last.typ == "UTBILDNING" or rng.random() < 0.25:
            last.reason_kind = "STUDIER"
        else:
            last.reason_kind = "ARBETE"
    for episode in spell.episodes:
        if episode.reason_kind:
            episode.reason = rng.choice(profile.reasons[episode.reason_kind])


def follow_ups(rng: random.Random, spell: Spell, profile: Profile) -> dict[int, str | None]:
    """Status 3, 6 and 12 months after exit: only where that day has passed; sometimes blank."""
    status: dict[int, str | None] = {}
    for h in HORIZONS:
        status[h] = None
        if spell.exit is None or add_months(spell.exit, h) > EXTRACT_DAY:
            continue
        draw = rng.random()
        if draw < 0.12:
            continue
        if draw < 0.2:
            status[h] = rng.choice(profile.status["UNKNOWN"])
            continue
        good = spell.good if rng.random() < 0.85 else not spell.good
        status[h] = rng.choice(profile.status["GOOD" if good else "BAD"])
    return status


def clamp_months(rng: random.Random, months: set[int]) -> list[int]:
    inside = sorted(m for m in months if FIRST_MONTH <= m <= LAST_MONTH)
    if len(inside) > 4 and rng.random() < 0.1:  # a month without assistance inside a period
        inside.remove(inside[rng.randint(1, len(inside) - 2)])
    return inside


def months_around(rng: random.Random, spells: list[Spell]) -> list[int]:
    """Bistånd before and during the spells; after them briefly when they end in work."""
    months: set[int] = set()
    for spell in spells:
        first = month_of(spell.start) - rng.randint(1, 24)
        if spell.exit is None:
            last = LAST_MONTH
        elif spell.good:
            last = month_of(spell.exit) + rng.randint(-1, 1)
        else:
            last = month_of(spell.exit) + rng.randint(2, 14)
        months.update(range(first, last + 1))
        if spell.good and spell.exit and rng.random() < 0.2:  # back on bistånd later
            back = last + rng.randint(3, 8)
            months.update(range(back, back + rng.randint(1, 6)))
    return clamp_months(rng, months)


def random_months(rng: random.Random) -> list[int]:
    """Bistånd of a household without a participant: long-term, or one or two periods."""
    while True:
        if rng.random() < 0.2:
            first = FIRST_MONTH - rng.randint(0, 24)
            months = set(range(first, LAST_MONTH - rng.choice((0, 0, 0, 3, 8)) + 1))
        else:
            months = set()
            for _ in range(1 if rng.random() < 0.75 else 2):
                first = rng.randint(FIRST_MONTH - 6, LAST_MONTH)
                months.update(range(first, first + rng.choice((1, 2, 3, 4, 6, 9, 13, 19, 31))))
        inside = clamp_months(rng, months)
        if inside:
            return inside


def make_household(
    rng: random.Random,
    people: People,
    profile: Profile,
    ref: str,
    applicant: Person,
    partner: Person | None,
    months: list[int],
) -> Household:
    children = []
    if rng.random() < 0.35:
        children = [people.new(rng, 2008, 2023, 0.0) for _ in range(rng.choice((1, 1, 2, 3)))]
    other = [m for m in months_spread(rng, 1) if m not in months] if rng.random() < 0.3 else []
    return Household(
        ref,
        applicant,
        partner,
        children,
        rng.choice(profile.hinder),
        months,
        other,
        norm=rng.randint(45, 75) * 10000,
        rent=rng.randint(35, 85) * 10000,
    )


def months_spread(rng: random.Random, n: int) -> list[int]:
    return sorted(rng.randint(FIRST_MONTH, LAST_MONTH) for _ in range(n))


def build_world(profile: Profile, seed: int, people: People) -> World:
    rng = random.Random(seed * 10000 + int(profile.kod))
    participants, spells, households = [], [], []
    refs = iter(range(1, 10000))
    for i in range(profile.participants):
        person = people.new(rng, 1960, 2005)
        if profile.kod == "1402":
            person.ref = 1001 + i
        on_fs = profile.households > 0 and rng.random() < profile.fs_share
        own = make_spells(rng, person, profile, on_fs)
        participants.append(person)
        spells.extend(own)
        if on_fs:
            households.append(participant_household(rng, people, profile, next(refs), person, own))
    for _ in range(profile.households):
        applicant = people.new(rng, 1960, 2005)
        partner = people.new(rng, 1960, 2005) if rng.random() < 0.3 else None
        households.append(
            make_household(
                rng,
                people,
                profile,
                household_ref(profile, next(refs)),
                applicant,
                partner,
                random_months(rng),
            )
        )
    if profile.kod == "1415":
        households.append(centenarian_household(rng, people, profile, next(refs)))
    return World(profile, participants, spells, households)


def participant_household(rng, people, profile, number, person, spells) -> Household:
    """The participant is the applicant, or (one in four) the medsökande of someone else."""
    ref = household_ref(profile, number)
    months = months_around(rng, spells)
    if rng.random() < 0.25:
        return make_household(
            rng, people, profile, ref, people.new(rng, 1960, 2005), person, months
        )
    partner = people.new(rng, 1960, 2005) if rng.random() < 0.3 else None
    return make_household(rng, people, profile, ref, person, partner, months)


def centenarian_household(rng, people, profile, number) -> Household:
    """One applicant aged 100 or more: written with '+', never an AME participant."""
    old = Person(make_pnr(CENTENARIAN_BORN, 482), "Elsa Hundraårsson", "K", CENTENARIAN_BORN, False)
    people.used.add(old.pnr)
    months = list(range(LAST_MONTH - 17, LAST_MONTH + 1))
    household = make_household(
        rng, people, profile, household_ref(profile, number), old, None, months
    )
    household.children, household.hinder = [], "Otillräcklig inkomst"
    return household


def household_ref(profile: Profile, number: int) -> str:
    if profile.kod == "1480":
        return f"{480000 + number * 7}"
    if profile.kod == "1384":
        return f"KBA-{number:05d}"
    return f"STU{number:04d}"


# --- payment lines -------------------------------------------------------------------------------


def payment_lines(rng: random.Random, households: list[Household]) -> list[Line]:
    lines = []
    for household in households:
        for month in household.months:
            lines.extend(month_lines(rng, household, month))
        for month in household.other_months:
            paid = payday(rng, month)
            lines.append(
                Line(
                    household,
                    household.applicant,
                    "Sökande",
                    month,
                    paid,
                    rng.randint(3, 30) * 10000,
                    rng.choice(OTHER_KINDS),
                    month,
                )
            )
    return lines


def payday(rng: random.Random, month: int) -> date:
    before = month_start(month - 1)
    return before.replace(day=rng.randint(24, 28))


def month_lines(rng: random.Random, hh: Household, month: int) -> list[Line]:
    paid = payday(rng, month)

    def line(person, role, kind, ore):
        return Line(hh, person, role, month, paid, ore, kind, month)

    out = [
        line(hh.applicant, "Sökande", "Försörjningsstöd", hh.norm + rng.randint(-20, 20) * 100),
        line(hh.applicant, "Sökande", "Boende", hh.rent),
    ]
    if hh.partner:
        out.append(
            line(
                hh.partner, "Medsökande", "Försörjningsstöd", hh.norm // 2 + rng.randint(0, 50) * 50
            )
        )
    for child in hh.children:
        out.append(line(child, "Barn", "Försörjningsstöd", rng.randint(15, 28) * 10000))
    if rng.random() < 0.15:
        out.append(line(hh.applicant, "Sökande", "Hushållsel", rng.randint(20, 90) * 1000))
    if rng.random() < 0.06:
        out.append(
            line(hh.applicant, "Sökande", rng.choice(OTHER_KINDS), rng.randint(3, 30) * 10000)
        )
    return out + corrections(rng, out, month)


def corrections(rng: random.Random, lines: list[Line], month: int) -> list[Line]:
    """Negative lines, usually in a later month's file: a partial återkrav or a whole month."""
    draw = rng.random()
    later = min(month + rng.randint(1, 2), LAST_MONTH)
    paid = month_start(later).replace(day=rng.randint(5, 20))
    if draw < 0.012:
        return [
            replace(x, ore=-x.ore, arrives=later, paid=paid)
            for x in lines
            if x.role != "Barn" and x.kind in FS_KINDS
        ]
    if draw < 0.05:
        first = lines[0]
        return [replace(first, ore=-rng.randint(2, 15) * 10000, arrives=later, paid=paid)]
    return []


def line_key(line: Line):
    return (
        line.household.ref,
        line.month,
        ROLE_ORDER[line.role],
        line.ore < 0,
        line.kind,
        line.ore,
    )


# --- faults --------------------------------------------------------------------------------------


@dataclass
class Style:
    """How one file writes a personnummer and a date, and its deliberately unmapped texts."""

    pnr: Callable[[str], object]
    date: Callable[[date], object] = lambda d: d
    unmapped: dict[str, str] = field(default_factory=dict)


STATUS_KEYS = tuple(f"s{h}" for h in HORIZONS)


def can_take(kind: str, record: dict) -> bool:
    if kind == END_BEFORE_START:
        return record.get("_episode") is not None and record["_episode"].end is not None
    if kind == STATUS_UNMAPPED:
        return any(record.get(k) for k in STATUS_KEYS)
    return True


def apply_fault(rng: random.Random, kind: str, record: dict, style: Style) -> None:
    person = record["_person"]
    if kind == PNR_CHECK:
        record["pnr"] = style.pnr(bad_check(person.pnr))
    elif kind == PNR_DATE:
        record["pnr"] = style.pnr(impossible_date(person.pnr))
    elif kind == START_UNPARSEABLE:
        record["start"] = rng.choice(UNPARSEABLE_DATES)
    elif kind == END_BEFORE_START:
        record["end"] = style.date(record["_episode"].start - timedelta(days=rng.randint(3, 40)))
    elif kind == STATUS_UNMAPPED:
        key = next(k for k in STATUS_KEYS if record.get(k))
        record[key] = style.unmapped[kind]
    else:  # INSATS_UNMAPPED, END_REASON_UNMAPPED
        record["insats" if kind == INSATS_UNMAPPED else "reason"] = style.unmapped[kind]


def inject(
    rng: random.Random,
    records: list[dict],
    plan: dict[str, int],
    style: Style,
    faults: Counter,
    ok: Callable[[dict], bool] = lambda r: True,
) -> None:
    """Make `plan[kind]` rows faulty, each row at most one fault, so that counts stay exact."""
    used: set[int] = set()
    for kind, count in plan.items():
        eligible = [
            i for i, r in enumerate(records) if i not in used and ok(r) and can_take(kind, r)
        ]
        for i in sorted(rng.sample(eligible, count)):
            apply_fault(rng, kind, records[i], style)
            records[i]["_fault"] = kind
            used.add(i)
        faults[kind] += count


# --- the manifest --------------------------------------------------------------------------------


class Inbox:
    """Writes files under the inbox and records each in the manifest."""

    def __init__(self, root: Path, seed: int):
        self.root = root
        self.seed = seed
        self.files: dict[str, dict] = {}
        self.people: dict[str, dict] = {}

    def describe(self, world: World) -> None:
        """What was invented for one municipality (before any fault was written)."""
        adults = [h.partner for h in world.households if h.partner] + [
            h.applicant for h in world.households
        ]
        self.people[world.profile.kod] = {
            "participants": len(world.participants),
            "spells_as_generated": len(world.spells),
            "insatser": sum(len(s.episodes) for s in world.spells),
            "households_on_bistand": len(world.households),
            "couples": sum(1 for h in world.households if h.partner),
            "children": sum(len(h.children) for h in world.households),
            "samordningsnummer_participants": sum(
                1 for p in world.participants if int(p.pnr[6:8]) > 60
            ),
            "born_abroad_participants": sum(1 for p in world.participants if p.abroad),
            "participants_on_bistand": sum(1 for p in world.participants if p in adults),
        }

    def write(
        self,
        rel: str,
        data: bytes,
        kind: str,
        rows: int,
        faults: Counter | None = None,
        features: Counter | dict | None = None,
        **extra,
    ) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry = {
            "kind": kind,
            "rows": rows,
            "faults": {k: v for k, v in sorted((faults or {}).items()) if v},
            "features": {k: v for k, v in sorted((features or {}).items()) if v},
        }
        entry.update(extra)
        self.files[rel] = entry

    def manifest(self) -> dict:
        totals = Counter()
        for entry in self.files.values():
            totals.update(entry["faults"])
        return {
            "generator": "synth.sample",
            "seed": self.seed,
            "as_of": (month_start(LAST_MONTH + 1) - timedelta(days=1)).isoformat(),
            "fault_values": {
                START_UNPARSEABLE: list(UNPARSEABLE_DATES),
                **{kind: sorted(set(texts.values())) for kind, texts in UNMAPPED.items()},
            },
            "totals": dict(sorted(totals.items())),
            "people": self.people,
            "files": dict(sorted(self.files.items())),
        }


def cells(record: dict, keys: list[str]) -> list[object]:
    return [record.get(k) for k in keys]


def text_cells(record: dict, keys: list[str]) -> list[str]:
    return ["" if v is None else str(v) for v in cells(record, keys)]


def episode_record(spell: Spell, episode: Episode, style: Style) -> dict:
    last = episode is spell.episodes[-1]
    person = episode.person
    record = {
        "_person": person, "_episode": episode,
        "pnr": style.pnr(person.pnr), "namn": person.name, "kon": person.sex,
        "abroad": "Ja" if person.abroad else "Nej", "ref": person.ref,
        "insats": episode.local, "start": style.date(episode.start),
        "end": None if episode.end is None else style.date(episode.end),
        "reason": episode.reason, "referred": episode.referred,
        "kategori": COLOURS.get(episode.distance), "farg": DISTANCE_WORDS.get(episode.distance),
    }  # fmt: skip
    for h in HORIZONS:
        record[f"s{h}"] = spell.status.get(h) if last else None
    return record


def episode_records(world: World, style: Style) -> list[dict]:
    pairs = [(s, e) for s in world.spells for e in s.episodes]
    pairs.sort(key=lambda p: (p[1].start, p[1].person.pnr))
    return [episode_record(s, e, style) for s, e in pairs]


# --- Göteborg (1480) -----------------------------------------------------------------------------


# fmt: off
FS_1480 = ["Personnummer", "Hushållsnummer", "Roll", "Avser månad", "Utbetalningsdatum", "Belopp",
           "Biståndstyp", "Försörjningshinder"]
# fmt: on
FS_1480_KEYS = ["pnr", "hh", "roll", "manad", "paid", "belopp", "typ", "hinder"]
FS_1480_FAULTS = {"2022-03": {PNR_CHECK: 1}, "2023-09": {PNR_CHECK: 1}, "2023-11": {PNR_DATE: 1}}
RETURBUTIK = "ATR Arbetsträning Returbutik"


def line_record(rng: random.Random, line: Line, pnr: Callable[[str], str], month_sep: str) -> dict:
    return {
        "_person": line.person, "_line": line, "pnr": pnr(line.person.pnr),
        "hh": line.household.ref, "roll": line.role, "manad": month_text(line.month, month_sep),
        "paid": line.paid.isoformat(), "belopp": kronor(line.ore, rng.choice((" ", NBSP, ""))),
        "typ": line.kind, "hinder": line.household.hinder,
    }  # fmt: skip


def line_features(records: list[dict]) -> Counter:
    features = Counter()
    for record in records:
        line = record["_line"]
        features["barn_lines"] += line.role == "Barn"
        features["medsokande_lines"] += line.role == "Medsökande"
        features["negative_lines"] += line.ore < 0
        features["negative_lines_for_earlier_month"] += line.ore < 0 and line.arrives > line.month
    return features


def write_1480(inbox: Inbox, world: World, rng: random.Random) -> None:
    lines = sorted(payment_lines(rng, world.households), key=line_key)
    for month in range(FIRST_MONTH, LAST_MONTH + 1):
        write_1480_fs_month(inbox, rng, [x for x in lines if x.arrives == month], month)
    episodes = write_1480_insatser(inbox, world, rng)
    write_1480_repeats(inbox, world, episodes)
    write_skapa_xlsx(
        inbox,
        world,
        rng,
        "1480/skapa/skapa_export_goteborg_2024-06.xlsx",
        ["Motivation", "Hälsa", "Social förmåga", "Struktur", "Språk", "Arbetsförmåga"],
        (1, 10),
        {PNR_CHECK: 1},
        with_name=True,
    )


def write_1480_fs_month(inbox: Inbox, rng: random.Random, lines: list[Line], month: int) -> None:
    records = [line_record(rng, x, dash12, "-") for x in lines]
    faults = Counter()
    plan = FS_1480_FAULTS.get(month_text(month), {})
    inject(rng, records, plan, Style(dash12), faults, ok=lambda r: r["roll"] != "Barn")
    title = (
        f"Utbetalt ekonomiskt bistånd – Göteborgs Stad – avser {month_text(month)} – "
        "belopp i kr (ej €)"
    )
    rows = [[title], FS_1480] + [text_cells(r, FS_1480_KEYS) for r in records]
    features = line_features(records)
    features["title_lines"] = 1
    inbox.write(
        f"1480/procapita/ekb_{month_text(month)}.csv",
        text_bytes(rows, ";", "cp1252"),
        "procapita_fs",
        len(records),
        faults,
        features,
    )


# fmt: off
INSATS_1480 = ["Personnummer", "Insats", "Anordnare", "Startdatum", "Slutdatum", "Avslutsorsak",
               "Remitterad från", "Kategori", "Handläggare"]
# fmt: on
# the distance to the labour market as two municipalities write it (schema.md's distance terms)
COLOURS = {"NARA": "Grön", "OSAKER": "Gul", "LANGT": "Röd"}
DISTANCE_WORDS = {"NARA": "Nära arbetsmarknaden", "OSAKER": "Oklar arbetsförmåga",
                  "LANGT": "Långt från arbetsmarknaden"}
PROVIDERS = {
    "KARTLAGGNING": "Jobbtorg Centrum",
    "PRAKTIK": "Park och natur Nordost",
    "ARBETSTRANING": "Café Returen – Angered",
    "VAGLEDNING": "Jobbtorg Hisingen",
    "SUBVENTIONERAD_ANSTALLNING": "Äldreförvaltningen",
    "SOCIAL_REHAB": "Steget Vidare",
    "UTBILDNING": "Lernia Lager",
    "STODJAT_ARBETE": "Jobbtorg IPS-teamet",
}


def write_1480_insatser(inbox: Inbox, world: World, rng: random.Random) -> list[dict]:
    style = Style(
        dash12, lambda d: d.isoformat(), {k: v.get("1480", "") for k, v in UNMAPPED.items()}
    )
    records = episode_records(world, style)
    for record in records:
        record["provider"] = PROVIDERS[record["_episode"].typ]
        record["staff"] = rng.choice(STAFF)
    faults = Counter()
    plan = {
        PNR_CHECK: 2,
        PNR_DATE: 1,
        END_BEFORE_START: 1,
        INSATS_UNMAPPED: 2,
        END_REASON_UNMAPPED: 1,
    }
    inject(rng, records, plan, style, faults, ok=lambda r: r["insats"] != RETURBUTIK)
    keys = ["pnr", "insats", "provider", "start", "end", "reason", "referred", "kategori", "staff"]
    rows = [INSATS_1480] + [text_cells(r, keys) for r in records]
    ongoing = sum(1 for r in records if r["end"] is None)
    inbox.write(
        "1480/procapita/insatser_2021-2024.csv",
        text_bytes(rows, ";", "cp1252"),
        "procapita_insats",
        len(records),
        faults,
        {"ongoing": ongoing},
    )
    return records


def write_1480_repeats(inbox: Inbox, world: World, procapita: list[dict]) -> None:
    """A unit's own list: the same insatser as in Procapita (same person, type, start, end)."""
    chosen = [
        r
        for r in procapita
        if r["insats"] == RETURBUTIK
        and "_fault" not in r
        and r["_episode"].start >= date(2022, 1, 1)
    ][:14]
    spells = {id(e): s for s in world.spells for e in s.episodes}
    texts = {"ARBETE": "Arbete", "STUDIER": "Studier", "BAD": "Avbrott", "NEXT": "Annan insats"}
    rows = [
        ["Returbutiken – deltagare och uppföljning"],
        [
            "Personnummer",
            "Namn",
            "Insats",
            "Startdatum",
            "Slutdatum",
            "Avslutsorsak",
            "Status 3 mån",
            "Status 6 mån",
            "Status 12 mån",
        ],
    ]
    for r in chosen:
        episode = r["_episode"]
        record = episode_record(spells[id(episode)], episode, Style(dash12))
        record["insats"], record["reason"] = "Arbetsträning", texts.get(episode.reason_kind)
        rows.append(
            cells(record, ["pnr", "namn", "insats", "start", "end", "reason", "s3", "s6", "s12"])
        )
    sheet = SheetData("Deltagare", rows, merged=[(1, 1, 1, 9)])
    inbox.write(
        "1480/excel/Returbutiken uppföljning.xlsx",
        xlsx_bytes([sheet]),
        "excel_participants",
        len(chosen),
        features={"repeats_procapita_insats": len(chosen), "title_rows": 1},
    )


# --- SKAPA ---------------------------------------------------------------------------------------


def occasions(
    rng: random.Random,
    start: date,
    exit_day: date | None,
    good: bool,
    dims: list[str],
    scale: tuple[int, int],
    staff_word: str,
) -> list[tuple]:
    """(date, rater text, {dimension: score or None}) at start, midway and near the exit."""
    low, high = scale
    end = exit_day or EXTRACT_DAY
    days = [start + timedelta(days=rng.randint(0, 14))]
    if (end - start).days > 150:
        days.append(start + timedelta(days=(end - start).days // 2))
    if exit_day:
        days.append(
            max(days[-1] + timedelta(days=7), exit_day - timedelta(days=rng.randint(0, 14)))
        )
    base = {d: rng.uniform(low, low + (high - low) * 0.5) for d in dims}
    gain = (high - low) * (rng.uniform(0.1, 0.4) if good else rng.uniform(-0.15, 0.2))
    out = []
    for i, day in enumerate(days):
        share = i / max(1, len(days) - 1)
        for rater, later, present in (
            ("Självskattning", 0, True),
            (staff_word, rng.randint(0, 3), rng.random() < 0.8),
        ):
            if not present or day + timedelta(days=later) > EXTRACT_DAY:
                continue
            scores = {
                d: None
                if rng.random() < 0.04
                else min(high, max(low, round(base[d] + gain * share + rng.uniform(-0.7, 0.7))))
                for d in dims
            }
            out.append((day + timedelta(days=later), rater, scores))
    return out


def skapa_records(
    rng: random.Random,
    spells: list[Spell],
    dims,
    scale,
    share: float,
    staff_word: str = "Handledare",
) -> list[dict]:
    records = []
    for spell in spells:
        if rng.random() >= share:
            continue
        for day, rater, scores in occasions(
            rng, spell.start, spell.exit, spell.good, dims, scale, staff_word
        ):
            records.append(
                {
                    "_person": spell.person,
                    "datum": day,
                    "bedomning": rater,
                    "ref": spell.person.ref,
                    **scores,
                }
            )
    records.sort(key=lambda r: (r["datum"], r["_person"].pnr, r["bedomning"]))
    return records


def write_skapa_xlsx(
    inbox: Inbox,
    world: World,
    rng: random.Random,
    rel: str,
    dims: list[str],
    scale: tuple[int, int],
    plan: dict,
    with_name: bool = False,
    pnr: Callable[[str], str] = dash12,
    staff_word: str = "Handledare",
) -> None:
    names = [d.split(" (")[0] for d in dims]
    records = skapa_records(rng, world.spells, names, scale, 0.5, staff_word)
    for record in records:
        record["pnr"], record["namn"] = pnr(record["_person"].pnr), record["_person"].name
    faults = Counter()
    inject(rng, records, plan, Style(pnr), faults)
    header = ["Personnummer"] + (["Namn"] if with_name else []) + ["Datum", "Bedömning"] + dims
    keys = ["pnr"] + (["namn"] if with_name else []) + ["datum", "bedomning"] + names
    sheet = SheetData("Export", [header] + [cells(r, keys) for r in records])
    inbox.write(rel, xlsx_bytes([sheet]), "skapa", len(records), faults)


# --- Kungsbacka (1384) ---------------------------------------------------------------------------


# fmt: off
FS_1384 = ["Personnummer", "Ärendenr", "Roll", "Avser period", "Utbet.datum", "Belopp", "Ändamål",
           "Försörjningshinder"]
# fmt: on
FS_1384_FAULTS = {2022: {PNR_CHECK: 1}, 2023: {PNR_DATE: 1}, 2024: {PNR_CHECK: 1}}
# fmt: off
EXCEL_1384 = ["Personnr", "Namn", "Kön", "Född utomlands", "Insats", "Inskriven", "Utskriven",
              "Orsak avslut", "Remiss från", "Färg", "Status 3 mån", "Status 6 mån", "Status 12 mån"]
EXCEL_1384_KEYS = ["pnr", "namn", "kon", "abroad", "insats", "start", "end", "reason", "referred",
                   "farg", "s3", "s6", "s12"]
# fmt: on


def write_1384(inbox: Inbox, world: World, rng: random.Random) -> None:
    lines = sorted(payment_lines(rng, world.households), key=line_key)
    for year in range(FIRST_MONTH // 12, LAST_MONTH // 12 + 1):
        write_1384_fs_year(inbox, rng, [x for x in lines if x.arrives // 12 == year], year)
    write_duplicate(inbox, "1384/procapita/ekb_2024.txt", "1384/procapita/ekb_2024_kopia.txt")
    workbook = write_1384_excel(inbox, world, rng)
    inbox.write(
        "1384/excel/Deltagare AME 2020.xlsx",
        workbook[:2048],
        "corrupt",
        0,
        Counter({CORRUPT_FILE: 1}),
    )
    write_skapa_xlsx(
        inbox,
        world,
        rng,
        "1384/skapa/SKAPA export 2021-2024.xlsx",
        [
            "Motivation (1-7)",
            "Hälsa (1-7)",
            "Struktur (1-7)",
            "Samarbete (1-7)",
            "Arbetsförmåga (1-7)",
        ],
        (1, 7),
        {},
        pnr=lambda p: p,
        staff_word="Coach",
    )


def write_duplicate(inbox: Inbox, rel: str, copy: str) -> None:
    """The same bytes delivered again under another name."""
    entry = inbox.files[rel]
    inbox.write(
        copy,
        (inbox.root / rel).read_bytes(),
        entry["kind"],
        entry["rows"],
        Counter({DUPLICATE_FILE: 1}),
        entry["features"],
        duplicate_of=rel,
        content_faults=entry["faults"],
    )


def write_1384_fs_year(inbox: Inbox, rng: random.Random, lines: list[Line], year: int) -> None:
    records = [line_record(rng, x, lambda p: p, "") for x in lines]
    faults = Counter()
    inject(
        rng,
        records,
        FS_1384_FAULTS.get(year, {}),
        Style(lambda p: p),
        faults,
        ok=lambda r: r["roll"] != "Barn",
    )
    keys = ["pnr", "hh", "roll", "manad", "paid", "belopp", "typ", "hinder"]
    rows = [FS_1384] + [text_cells(r, keys) for r in records]
    inbox.write(
        f"1384/procapita/ekb_{year}.txt",
        text_bytes(rows, "\t", "utf-8-sig"),
        "procapita_fs",
        len(records),
        faults,
        line_features(records),
    )


def pnr_1384(rng: random.Random, pnr: str) -> object:
    """Typed by hand: mostly text in several forms; some as numbers. Everyone born 2001-2009 is
    a number that lost its leading zero (nine digits). Born in 2000 would lose two or three
    zeros (YYMM '0001'..'0012'), which no reader can restore: those stay text here."""
    if "2001" <= pnr[:4] <= "2009":
        return int(pnr[2:])
    draw = rng.random()
    if draw < 0.5:
        return dash10(pnr)
    if draw < 0.75:
        return dash12(pnr)
    if draw < 0.88 or pnr.startswith("20"):
        return f" {pnr[2:8]} - {pnr[8:]} "
    return int(pnr[2:])  # ten digits: born 1960-1999, nothing lost


def date_1384(rng: random.Random, day: date) -> object:
    """A real date, a serial number, or text: '2023-03', '1/3 2023', '1 mars 2023'."""
    draw = rng.random()
    if draw < 0.55:
        return day
    if draw < 0.7:
        return excel_serial(day)
    if draw < 0.8:
        return f"{day.year}-{day.month:02d}"
    if draw < 0.9:
        return f"{day.day}/{day.month} {day.year}"
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def date_form(cell: object) -> str | None:
    """Which of date_1384's forms a written cell has (None for blanks and faults)."""
    if isinstance(cell, date):
        return "dates_as_date"
    if isinstance(cell, int):
        return "dates_as_serial"
    if isinstance(cell, str) and re.fullmatch(r"\d{4}-\d{2}", cell):
        return "dates_as_month_text"
    if isinstance(cell, str) and re.fullmatch(r"\d{1,2}/\d{1,2} \d{4}", cell):
        return "dates_as_day_slash_text"
    if isinstance(cell, str) and cell.split(" ")[1:2] and cell.split(" ")[1] in MONTH_NAMES:
        return "dates_as_day_month_name_text"
    return None


def write_1384_excel(inbox: Inbox, world: World, rng: random.Random) -> bytes:
    style = Style(
        dash10, lambda d: date_1384(rng, d), {k: v.get("1384", "") for k, v in UNMAPPED.items()}
    )
    records = episode_records(world, style)
    for record in records:
        record["pnr"] = pnr_1384(rng, record["_person"].pnr)
    faults = Counter()
    plan = {
        PNR_CHECK: 2,
        PNR_DATE: 1,
        START_UNPARSEABLE: 2,
        END_BEFORE_START: 1,
        STATUS_UNMAPPED: 3,
        INSATS_UNMAPPED: 2,
    }
    inject(
        rng,
        records,
        plan,
        replace(style, date=lambda d: d),
        faults,
        ok=lambda r: not isinstance(r["pnr"], int),
    )
    features = Counter(
        {
            PNR_LOST_ZERO: sum(
                1 for r in records if isinstance(r["pnr"], int) and len(str(r["pnr"])) == 9
            )
        }
    )
    features.update(date_form(r[k]) for r in records for k in ("start", "end") if date_form(r[k]))
    sheets, sheet_rows = [], {}
    for year in range(2021, 2025):
        mine = [r for r in records if r["_episode"].start.year == year]
        sheets.append(sheet_1384(year, mine, features))
        sheet_rows[str(year)] = len(mine)
    sheets += [pivot_1384(records), notes_1384()]
    data = xlsx_bytes(sheets)
    inbox.write(
        "1384/excel/Deltagare AME 2021-2024.xlsx",
        data,
        "excel_participants",
        len(records),
        faults,
        features,
        sheets=sheet_rows,
        skipped_sheets=["Pivot", "Anteckningar"],
    )
    return data


def sheet_1384(year: int, records: list[dict], features: Counter) -> SheetData:
    """Title rows, a merged title, a hidden row, blank rows in the middle and a 'Summa' row."""
    rows = [[f"Deltagare AME Kungsbacka {year}"], ["Uppdaterad 2024-06-28"], [], EXCEL_1384]
    features["title_rows"] += 3
    hidden = []
    for i, record in enumerate(records):
        if i and i % 25 == 0:
            rows.append([])
            features["blank_rows"] += 1
        rows.append(cells(record, EXCEL_1384_KEYS))
        if year == 2023 and i == 10:
            hidden.append(len(rows))
            features["hidden_rows"] += 1
    rows.append(["Summa", None, None, None, len(records)])
    features["total_rows"] += 1
    return SheetData(str(year), rows, merged=[(1, 1, 1, len(EXCEL_1384))], hidden=hidden)


def pivot_1384(records: list[dict]) -> SheetData:
    counts = Counter((r["_episode"].local, r["_episode"].start.year) for r in records)
    names = sorted({name for name, _ in counts})
    rows = [
        ["Antal deltagare per insats och år"],
        [],
        ["Radetiketter", "2021", "2022", "2023", "2024", "Totalsumma"],
    ]
    for name in names:
        per_year = [counts[(name, y)] for y in range(2021, 2025)]
        rows.append([name, *per_year, sum(per_year)])
    return SheetData("Pivot", rows)


def notes_1384() -> SheetData:
    return SheetData(
        "Anteckningar",
        [
            ["Anteckningar"],
            ["Uppföljning görs 3, 6 och 12 månader efter avslut."],
            ["Vet ej = deltagaren har inte gått att nå."],
        ],
    )


# --- Stenungsund (1415) --------------------------------------------------------------------------


# fmt: off
FS_1415 = ["Hushålls-ID", "Personnummer", "Avser månad", "Utbetalningsdatum", "Belopp",
           "Biståndstyp", "Försörjningshinder"]
# fmt: on


def pnr_1415(pnr: str) -> str:
    """Ten digits with '-', or '+' for someone aged 100 or more."""
    return dash10(pnr, "+" if int(pnr[:4]) <= EXTRACT_DAY.year - 100 else "-")


def household_rows(lines: list[Line]) -> list[Line]:
    """One row per household, month and type: the whole household's sum, the applicant's pnr."""
    sums: dict[tuple, Line] = {}
    for line in lines:
        key = (line.household.ref, line.month, line.kind, line.ore < 0, line.arrives)
        if key in sums:
            sums[key] = replace(sums[key], ore=sums[key].ore + line.ore)
        else:
            sums[key] = replace(line, person=line.household.applicant, role="Sökande")
    return sorted(sums.values(), key=line_key)


def write_1415(inbox: Inbox, world: World, rng: random.Random) -> None:
    lines = household_rows(payment_lines(rng, world.households))
    for first, last in ((2021, 2022), (2023, 2024)):
        mine = [x for x in lines if first <= x.arrives // 12 <= last]
        records = [line_record(rng, x, pnr_1415, "-") for x in mine]
        keys = ["hh", "pnr", "manad", "paid", "belopp", "typ", "hinder"]
        rows = [FS_1415] + [text_cells(r, keys) for r in records]
        features = line_features(records)
        features["pnr_plus"] = sum(1 for r in records if "+" in r["pnr"])
        inbox.write(
            f"1415/procapita/utbetalningar_{first}-{last}.csv",
            text_bytes(rows, ";", "cp1252"),
            "procapita_fs",
            len(records),
            None,
            features,
        )
    write_1415_members(inbox, world, rng)
    write_1415_ods(inbox, world, rng)


def write_1415_members(inbox: Inbox, world: World, rng: random.Random) -> None:
    records = []
    for household in sorted(world.households, key=lambda h: h.ref):
        members = [(household.applicant, "Sökande")]
        members += [(household.partner, "Medsökande")] if household.partner else []
        members += [(child, "Barn") for child in household.children]
        for person, role in members:
            records.append(
                {"_person": person, "hh": household.ref, "pnr": pnr_1415(person.pnr), "roll": role}
            )
    faults = Counter()
    inject(
        rng,
        records,
        {PNR_CHECK: 1},
        Style(pnr_1415),
        faults,
        ok=lambda r: r["roll"] == "Medsökande",
    )
    rows = [["Hushålls-ID", "Personnummer", "Roll"]] + [
        text_cells(r, ["hh", "pnr", "roll"]) for r in records
    ]
    roles = Counter(r["roll"] for r in records)
    features = {
        "medsokande": roles["Medsökande"],
        "barn": roles["Barn"],
        "pnr_plus": sum(1 for r in records if "+" in r["pnr"]),
    }
    inbox.write(
        "1415/procapita/hushallsmedlemmar.csv",
        text_bytes(rows, ";", "cp1252"),
        "procapita_household",
        len(records),
        faults,
        features,
    )


# fmt: off
EXCEL_1415 = ["Personnummer", "Namn", "Insats", "Start", "Slut", "Avslutsorsak", "Status 3 mån",
              "Status 6 mån", "Status 12 mån", "Född utomlands"]
# fmt: on


def write_1415_ods(inbox: Inbox, world: World, rng: random.Random) -> None:
    style = Style(dash10, unmapped={k: v.get("1415", "") for k, v in UNMAPPED.items()})
    records = episode_records(world, style)
    faults = Counter()
    plan = {PNR_CHECK: 1, START_UNPARSEABLE: 1, END_BEFORE_START: 1, STATUS_UNMAPPED: 2}
    inject(rng, records, plan, style, faults)
    keys = ["pnr", "namn", "insats", "start", "end", "reason", "s3", "s6", "s12", "abroad"]
    rows = [["Deltagarlista AME Stenungsund 2021–2024"], [], EXCEL_1415]
    rows += [cells(r, keys) for r in records]
    sheets = [
        SheetData("Deltagare", rows, merged=[(1, 1, 1, len(EXCEL_1415))]),
        SheetData(
            "Info",
            [
                ["Listan förs av arbetsmarknadsenheten."],
                ["Status = sysselsättning vid uppföljning."],
            ],
        ),
    ]
    inbox.write(
        "1415/excel/Deltagare Stenungsund.ods",
        ods_bytes(sheets),
        "excel_participants",
        len(records),
        faults,
        {"title_rows": 2},
        skipped_sheets=["Info"],
    )


# --- Partille (1402) -----------------------------------------------------------------------------


# fmt: off
EXCEL_1402 = ["Deltagarnr", "Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum",
              "Avslutsorsak", "Status 3 mån", "Status 6 mån", "Status 12 mån", "Kön"]
# fmt: on
SKAPA_1402 = ["Drivkraft", "Mående", "Vardagsstruktur", "Kommunikation", "Jobbredo"]
UNLINKED_REFS = (9001, 9002, 9003)


def write_1402(inbox: Inbox, world: World, rng: random.Random) -> None:
    style = Style(int, unmapped={k: v.get("1402", "") for k, v in UNMAPPED.items()})
    records = episode_records(world, style)
    faults = Counter()
    inject(rng, records, {PNR_CHECK: 1, INSATS_UNMAPPED: 1}, style, faults)
    keys = ["ref", "pnr", "namn", "insats", "start", "end", "reason", "s3", "s6", "s12", "kon"]
    sheet = SheetData("Deltagare", [EXCEL_1402] + [cells(r, keys) for r in records])
    inbox.write(
        "1402/excel/Deltagarlista Partille.xlsx",
        xlsx_bytes([sheet]),
        "excel_participants",
        len(records),
        faults,
    )
    write_1402_skapa(inbox, world, rng)


def write_1402_skapa(inbox: Inbox, world: World, rng: random.Random) -> None:
    """Only Deltagarnr, local dimension names on a 1-7 scale; three numbers are on no list."""
    records = skapa_records(rng, world.spells, SKAPA_1402, (1, 7), 0.6)
    for ref in UNLINKED_REFS:
        start = random_day(rng, date(2023, 1, 9), date(2023, 12, 15))
        for day, rater, scores in occasions(
            rng, start, start + timedelta(days=120), False, SKAPA_1402, (1, 7), "Handledare"
        ):
            records.append({"datum": day, "bedomning": rater, "ref": ref, **scores})
    records.sort(key=lambda r: (r["datum"], r["ref"], r["bedomning"]))
    spaced = 0
    for record in records:
        record["ref"] = str(record["ref"])
        if spaced < 4 and rng.random() < 0.05:
            record["ref"], spaced = f" {record['ref']} ", spaced + 1
        record["datum"] = record["datum"].isoformat()
    keys = ["ref", "datum", "bedomning"] + SKAPA_1402
    rows = [["Deltagarnr", "Datum", "Bedömning"] + SKAPA_1402] + [
        text_cells(r, keys) for r in records
    ]
    unlinked = sum(1 for r in records if int(r["ref"]) in UNLINKED_REFS)
    features = {
        "unlinked_rows": unlinked,
        "unlinked_deltagarnr": len(UNLINKED_REFS),
        "deltagarnr_with_spaces": spaced,
    }
    inbox.write(
        "1402/skapa/skapa_export_partille.csv",
        text_bytes(rows, ";", "utf-8", newline="\n"),
        "skapa",
        len(records),
        None,
        features,
    )


# --- Härryda (1401): no configuration at all -----------------------------------------------------


# fmt: off
EXCEL_1401 = ["Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum", "Avslutsorsak",
              "Status 3 mån", "Status 6 mån", "Status 12 mån", "Född utomlands"]
# fmt: on


def write_1401(inbox: Inbox, world: World, rng: random.Random) -> None:
    records = episode_records(world, Style(dash12))
    keys = ["pnr", "namn", "insats", "start", "end", "reason", "s3", "s6", "s12", "abroad"]
    rows = [["Deltagarlista AME Härryda"], EXCEL_1401] + [cells(r, keys) for r in records]
    inbox.write(
        "1401/excel/Deltagare Härryda.xlsx",
        xlsx_bytes([SheetData("Deltagare", rows)]),
        "excel_participants",
        len(records),
        None,
        {"title_rows": 1},
    )


# --- the whole inbox -----------------------------------------------------------------------------


WRITERS = {
    "1480": write_1480,
    "1384": write_1384,
    "1415": write_1415,
    "1402": write_1402,
    "1401": write_1401,
}


def generate(out: Path, seed: int = DEFAULT_SEED) -> dict:
    """Write the sample inbox under `out` (its municipality folders are replaced); return the
    manifest."""
    people = People()
    inbox = Inbox(out, seed)
    for kod, profile in PROFILES.items():
        shutil.rmtree(out / kod, ignore_errors=True)
        world = build_world(profile, seed, people)
        inbox.describe(world)
        WRITERS[kod](inbox, world, random.Random(seed * 10000 + int(kod) + 1))
    return inbox.manifest()


def manifest_json(manifest: dict) -> str:
    return json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"


def fault_table(manifest: dict) -> str:
    """The Markdown table of data/sample/README.md: every file with a deliberate fault."""
    lines = ["| file | data rows | faults |", "|---|---:|---|"]
    for rel, entry in manifest["files"].items():
        if entry["faults"]:
            faults = ", ".join(f"{kind} {n}" for kind, n in entry["faults"].items())
            lines.append(f"| `{rel}` | {entry['rows']} | {faults} |")
    totals = ", ".join(f"{kind} {n}" for kind, n in manifest["totals"].items())
    lines.append(f"| **all files** | | {totals} |")
    return "\n".join(lines) + "\n"


TABLE_START, TABLE_END = "<!-- fault-table:start -->\n", "<!-- fault-table:end -->"


def update_readme(path: Path, manifest: dict) -> None:
    """Replace the fault table between the README's markers."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(head + TABLE_START + fault_table(manifest) + TABLE_END + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the inbox folder to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--manifest", type=Path, help="default: manifest.json beside the inbox")
    parser.add_argument("--readme", type=Path, help="a README whose fault table to rewrite")
    parser.add_argument("--print-table", action="store_true", help="print the README fault table")
    args = parser.parse_args(argv)
    manifest = generate(args.out, args.seed)
    target = args.manifest or args.out.parent / "manifest.json"
    target.write_text(manifest_json(manifest), encoding="utf-8")
    if args.readme:
        update_readme(args.readme, manifest)
    if args.print_table:
        print(fault_table(manifest), end="")
    files = manifest["files"]
    size = sum((args.out / rel).stat().st_size for rel in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB, in {args.out}; manifest {target}")


if __name__ == "__main__":
    main()
