"""Swedish personnummer: normalise, validate, derive birth month and sex, pseudonymise.

The raw number lives only inside this module's callers, for the length of one row.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

_SEPARATORS = re.compile(r"[\s\u00a0]+")
_FLOAT_TAIL = re.compile(r"\.0+$")
# 6 or 8 digits, then a serial of four letters and digits with at least one letter
_INTERIM = re.compile(r"(?:\d{6}|\d{8})[-+]?(?=[0-9A-Z]{4}$)\d*[A-Z][0-9A-Z]*", re.IGNORECASE)


@dataclass(frozen=True)
class Personnummer:
    digits12: str  # YYYYMMDDNNNC
    birth_year: int
    birth_month: int
    sex: str  # K / M
    samordningsnummer: bool


class InvalidPersonnummer(ValueError):
    """Raised with a message that describes the problem, never the number."""


class InterimNumber(InvalidPersonnummer):
    """An interim (reserve) number: a birth date, then a serial with a letter in it
    ('19900101-T123'), given by healthcare to people who have no personnummer yet. Not a
    personnummer (no check digit, no sex, not stable): adapters quarantine it as PNR_INTERIM."""


def luhn_ok(ten_digits: str) -> bool:
    total = 0
    for i, ch in enumerate(ten_digits[:9]):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(ten_digits[9])


def parse(value: object, today: date) -> Personnummer:
    """See _parse. Text is cached: the same people appear in every monthly file of a run."""
    if isinstance(value, str):
        return _parse_text(value, today)
    return _parse(value, today)


@lru_cache(maxsize=1 << 21)
def _parse_text(value: str, today: date) -> Personnummer:
    return _parse(value, today)


def _parse(value: object, today: date) -> Personnummer:
    """Normalise any written form of a personnummer (or samordningsnummer) to 12 digits.

    Accepts YYYYMMDD-NNNC, YYYYMMDDNNNC, YYMMDD-NNNC, YYMMDDNNNC, YYMMDD+NNNC (aged 100 or more),
    stray spaces, and Excel numbers that lost a leading zero (9 or 11 digits, possibly as float).
    `today` decides the century of 10-digit forms: the latest year not after today's (minus 100
    for '+').
    """
    if value is None:
        raise InvalidPersonnummer("empty")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidPersonnummer("not a number")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value):
        # a number cell: every leading zero is gone (born 2000-2009: two or more of them)
        digits = str(int(value))
        value = digits.zfill(10) if 7 <= len(digits) < 10 else digits
    text = _SEPARATORS.sub("", str(value))
    text = _FLOAT_TAIL.sub("", text)
    if not text:
        raise InvalidPersonnummer("empty")
    if _INTERIM.fullmatch(text):
        raise InterimNumber("an interim number (a letter in the serial), not a personnummer")
    plus = "+" in text
    text = text.replace("-", "").replace("+", "")
    if not text.isdigit():
        raise InvalidPersonnummer("contains characters other than digits, '-' and '+'")
    if len(text) in (9, 11):  # an Excel number lost its leading zero
        text = "0" + text
    if len(text) == 10:
        century = _century(text[:6], today, plus)
        text12 = f"{century}{text}"
    elif len(text) == 12:
        text12 = text
    else:
        raise InvalidPersonnummer(f"has {len(text)} digits, expected 10 or 12")
    return _validate(text12)


def _century(yymmdd: str, today: date, plus: bool) -> str:
    yy = int(yymmdd[:2])
    year = (today.year // 100) * 100 + yy
    if year > today.year:
        year -= 100
    if plus:
        year -= 100
    return str(year // 100)


def _validate(text12: str) -> Personnummer:
    year, month, day = int(text12[:4]), int(text12[4:6]), int(text12[6:8])
    samordning = day > 60
    if samordning:
        day -= 60
    try:
        date(year, month, day)
    except ValueError:
        raise InvalidPersonnummer("date part is not a valid date") from None
    if not luhn_ok(text12[2:]):
        raise InvalidPersonnummer("check digit does not match")
    if text12[8:11] == "000":  # never issued (the personnummer project's public test list)
        raise InvalidPersonnummer("serial number 000 is never issued")
    sex = "M" if int(text12[10]) % 2 == 1 else "K"
    return Personnummer(text12, year, month, sex, samordning)


class Pseudonymiser:
    """person_key = HMAC-SHA256(installation key, 12-digit number), hex."""

    def __init__(self, key: bytes, label: str):
        if len(key) < 16:
            raise ValueError("the installation key must be at least 16 bytes")
        self._key = key
        self.label = label  # "DEMO" or "INSTALLATION"; outputs built with the demo key say so
        self._keys: dict[str, str] = {}

    def person_key(self, pnr: Personnummer) -> str:
        key = self._keys.get(pnr.digits12)
        if key is None:
            if len(self._keys) > 4_000_000:  # bounded: a national run has a few million people
                self._keys.clear()
            key = hmac.new(self._key, pnr.digits12.encode("ascii"), hashlib.sha256).hexdigest()
            self._keys[pnr.digits12] = key
        return key

    def reference(self, text: str) -> str:
        """A local number that is a personnummer, kept comparable without being readable."""
        digits = "".join(ch for ch in text if ch.isdigit())
        return "ref:" + hmac.new(self._key, digits.encode("ascii"), hashlib.sha256).hexdigest()[:20]

    def tag(self, text: str) -> str:
        """A short keyed hash of a name (a file, folder or sheet name) whose shown form was
        masked: names that differ only in a personnummer stay apart, and none can be read back."""
        data = b"name\0" + text.encode("utf-8", "surrogateescape")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:12]

    def fingerprint(self) -> str:
        """Names the key without revealing it: the database records it, so that a run with
        another key is refused instead of silently breaking every link between people."""
        return hmac.new(self._key, b"utfall key fingerprint v1", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:  # never print the key
        return f"Pseudonymiser(label={self.label!r})"
