"""Parsing of the cell values every adapter meets: blanks, dates, months and amounts.

Exports write the same value in many ways (Excel serials, Swedish month names, decimal commas,
non-breaking-space thousands separators). Each function accepts them all and raises ValueError
for anything it cannot read with certainty: a wrong guess would silently move a row to another
month. Error messages never echo the raw text, since a misplaced column can hold a personnummer;
they name at most the year, month and day of a date that does not exist.
"""

from __future__ import annotations

import calendar
import math
import numbers
import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import numpy as np
import pandas as pd

_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (it counts the non-existent 1900-02-29)
_MAX_SERIAL = 2958465  # 9999-12-31

# Swedish month names and their usual abbreviations (with 'sept' and English-looking 'mar').
_MONTHS = {
    "januari": 1, "jan": 1,
    "februari": 2, "feb": 2,
    "mars": 3, "mar": 3,
    "april": 4, "apr": 4,
    "maj": 5,
    "juni": 6, "jun": 6,
    "juli": 7, "jul": 7,
    "augusti": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10,
    "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip

# text is case-folded before matching, hence the lower-case 't' of ISO timestamps
_TIME = r"(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_ISO = re.compile(rf"(\d{{4}})[-/](\d{{1,2}})[-/](\d{{1,2}}){_TIME}")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[./-](\d{1,2})(?:[./-]|\s+)(\d{4})" + _TIME)
_DAY_NAMED = re.compile(r"(\d{1,2})\.?\s+([a-zåäö]+)\.?,?\s+(\d{4})")
_MONTH_ISO = re.compile(r"(\d{4})[-/](\d{1,2})")
_MONTH_COMPACT = re.compile(r"(\d{4})(\d{2})")
_MONTH_NAMED = re.compile(r"([a-zåäö]+)\.?\s+(\d{4})")
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")

_AMOUNT = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")  # thousands separators, incl. NBSP variants
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-"})  # '−' minus and '–' en dash


def is_blank(value: object) -> bool:
    """True for None, NaN/NaT/NA and strings of only whitespace (incl. non-breaking spaces)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.replace("\ufeff", "").strip()
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers are not blank
        return False


def parse_date(value: object, *, end_of_month: bool = False) -> date | None:
    """A date from any form exports use; None when blank.

    A month without a day ('2023-03', '202303', 'mars 2023') means its first day, or its last day
    when `end_of_month` is true (for end dates). Day-first is assumed for '1/3/2023' (Swedish
    usage). Raises ValueError for unreadable or impossible dates.
    """
    if is_blank(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, datetime):  # includes pandas Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError("a true/false value is not a date")  # noqa: TRY004 - callers catch ValueError
    if isinstance(value, (numbers.Real, Decimal)):  # numbers.Real covers numpy scalars too
        return _from_number(value, end_of_month)
    return _from_text(str(value), end_of_month)


def parse_month(value: object) -> date:
    """The first day of the month a value names ('2023-04', '202304', 'april 2023', a date)."""
    parsed = parse_date(value)
    if parsed is None:
        raise ValueError("month is blank")
    return parsed.replace(day=1)


def parse_amount(value: object) -> Decimal:
    """An amount in kronor: '12 345,50', '-1 200,00', '1200.50', '−50', ints and floats."""
    if isinstance(value, bool) or is_blank(value):
        raise ValueError("amount is blank" if not isinstance(value, bool) else "not an amount")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, numbers.Real):  # int, float and numpy scalars
        if not math.isfinite(value):
            raise ValueError("amount is not a finite number")
        number = Decimal(str(value.item() if isinstance(value, np.generic) else value))  # str() gives the shortest exact form of a float
    else:
        number = _amount_from_text(str(value))
    if not number.is_finite():
        raise ValueError("amount is not a finite number")
    return number


def add_months(d: date, n: int) -> date:
    """The same day n calendar months later; the month's last day where that day does not exist."""
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


# --- dates ---------------------------------------------------------------------------------------


def _from_number(value: numbers.Real | Decimal, end_of_month: bool) -> date:
    """Excel cells: whole numbers with 8 or 6 digits are yyyymmdd / yyyymm, others serials."""
    if not math.isfinite(value):
        raise ValueError("not a date")
    if value == int(value) and len(str(int(value))) in (6, 8):
        return _from_text(str(int(value)), end_of_month)
    return _from_serial(float(value))


def _from_serial(serial: float) -> date:
    if not 1 <= serial <= _MAX_SERIAL:
        raise ValueError("number is outside the range of Excel dates")
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def _from_text(raw: str, end_of_month: bool) -> date:
    text = " ".join(raw.replace("\u00a0", " ").replace("\ufeff", "").split()).casefold()
    if _SERIAL.fullmatch(text):
        return _from_serial(float(text))
    if m := _ISO.fullmatch(text) or _COMPACT.fullmatch(text):
        return _make(int(m[1]), int(m[2]), int(m[3]))
    if m := _DAY_FIRST.fullmatch(text):
        return _make(int(m[3]), int(m[2]), int(m[1]))
    if m := _DAY_NAMED.fullmatch(text):
        return _make(int(m[3]), _month_number(m[2]), int(m[1]))
    if m := _MONTH_ISO.fullmatch(text) or _MONTH_COMPACT.fullmatch(text):
        return _month_day(int(m[1]), int(m[2]), end_of_month)
    if m := _MONTH_NAMED.fullmatch(text):
        return _month_day(int(m[2]), _month_number(m[1]), end_of_month)
    raise ValueError("not a recognisable date")


def _month_number(name: str) -> int:
    if name not in _MONTHS:
        raise ValueError("not a recognisable month name")
    return _MONTHS[name]


def _make(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        # the parts are plain numbers of a date, never a personnummer: safe to name
        raise ValueError(f"{year:04d}-{month:02d}-{day:02d} is not a date that exists") from None


def _month_day(year: int, month: int, end_of_month: bool) -> date:
    if not 1 <= month <= 12:
        raise ValueError(f"{year:04d}-{month:02d} is not a month that exists")
    first = date(year, month, 1)
    if not end_of_month:
        return first
    return first.replace(day=calendar.monthrange(year, month)[1])


# --- amounts -------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 18)  # amounts repeat: riksnorm, rents
def _amount_from_text(raw: str) -> Decimal:
    text = _SPACES.sub("", raw.translate(_MINUS_SIGNS)).casefold()
    text = text.removesuffix("kr").removesuffix(":-")
    if "," in text and "." in text:  # the later mark is the decimal one: '1.234,50', '1,234.50'
        thousands = "." if text.rfind(",") > text.rfind(".") else ","
        text = text.replace(thousands, "")
    elif text.count(".") > 1:  # '1.234.567' can only be thousands separators
        text = text.replace(".", "")
    text = text.replace(",", ".")  # Swedish decimal comma
    if not _AMOUNT.fullmatch(text):
        raise ValueError("not a recognisable amount")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError("not a recognisable amount") from None
