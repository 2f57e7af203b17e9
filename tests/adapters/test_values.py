"""adapters.values: every written form of a date, month and amount that exports use."""

from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from utfall.adapters.values import add_months, is_blank, parse_amount, parse_date, parse_month

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", [None, float("nan"), pd.NaT, pd.NA, np.nan, "", "   ",
                                   "\u00a0", " \t\u00a0\u202f "])
def test_blank(value):
    assert is_blank(value) is True


@pytest.mark.parametrize("value", [0, 0.0, "0", "-", "x", date(2023, 1, 1), False])
def test_not_blank(value):
    assert is_blank(value) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2023, 3, 1), date(2023, 3, 1)),
        (datetime(2023, 3, 1, 14, 30), date(2023, 3, 1)),
        (pd.Timestamp("2023-03-01 00:00:00"), date(2023, 3, 1)),
        (np.datetime64("2023-03-01"), date(2023, 3, 1)),
        (44986, date(2023, 3, 1)),  # Excel serial
        (44986.75, date(2023, 3, 1)),  # serial with a time of day
        (np.int64(44986), date(2023, 3, 1)),
        ("44986", date(2023, 3, 1)),
        (1, date(1899, 12, 31)),
        (60, date(1900, 2, 28)),  # day 0 = 1899-12-30 absorbs Excel's fictitious 1900-02-29
        ("2023-03-01", date(2023, 3, 1)),
        (" 2023-03-01 ", date(2023, 3, 1)),
        ("2023-03-01 00:00:00", date(2023, 3, 1)),
        ("2023-03-01T08:15", date(2023, 3, 1)),
        ("2023/3/1", date(2023, 3, 1)),
        ("20230301", date(2023, 3, 1)),
        (20230301, date(2023, 3, 1)),
        ("1/3 2023", date(2023, 3, 1)),  # day first
        ("1/3/2023", date(2023, 3, 1)),
        ("13/3/2023", date(2023, 3, 13)),
        ("01.03.2023", date(2023, 3, 1)),
        ("1 mars 2023", date(2023, 3, 1)),
        ("1 MARS 2023", date(2023, 3, 1)),
        ("1 mar 2023", date(2023, 3, 1)),
        ("15 okt. 2023", date(2023, 10, 15)),
        ("31 december 2023", date(2023, 12, 31)),
        ("2024-02-29", date(2024, 2, 29)),  # leap day
        ("2000-02-29", date(2000, 2, 29)),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("2023-03", date(2023, 3, 1), date(2023, 3, 31)),
        ("202303", date(2023, 3, 1), date(2023, 3, 31)),
        (202302, date(2023, 2, 1), date(2023, 2, 28)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("mars 2023", date(2023, 3, 1), date(2023, 3, 31)),
        ("April 2023", date(2023, 4, 1), date(2023, 4, 30)),
        ("sept 2023", date(2023, 9, 1), date(2023, 9, 30)),
        ("dec 2023", date(2023, 12, 1), date(2023, 12, 31)),
    ],
)
def test_month_only_dates(value, first, last):
    assert parse_date(value) == first
    assert parse_date(value, end_of_month=True) == last


def test_end_of_month_leaves_full_dates_alone():
    assert parse_date("2023-03-15", end_of_month=True) == date(2023, 3, 15)


@pytest.mark.parametrize("value", [None, "", " ", "\u00a0", float("nan"), pd.NaT])
def test_blank_date_is_none(value):
    assert parse_date(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2023-02-29", "2023-02-29 is not a date that exists"),
        ("29/2 2023", "2023-02-29 is not a date that exists"),
        ("20230431", "2023-04-31 is not a date that exists"),
        ("2023-13", "2023-13 is not a month that exists"),
        ("32 mars 2023", "2023-03-32 is not a date that exists"),
        ("1 smörgås 2023", "not a recognisable month name"),
        ("abc", "not a recognisable date"),
        ("2023-03-01 kl 8", "not a recognisable date"),
        ("850312-1234", "not a recognisable date"),
        (True, "a true/false value is not a date"),
        (-5, "number is outside the range of Excel dates"),
        (float("inf"), "not a date"),
    ],
)
def test_bad_dates_raise(value, message):
    with pytest.raises(ValueError) as info:
        parse_date(value)
    assert str(info.value) == message


def test_date_errors_do_not_echo_a_personnummer():
    with pytest.raises(ValueError) as info:
        parse_date("19850312-2384")
    assert "2384" not in str(info.value) and "850312" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-04", date(2023, 4, 1)),
        ("202304", date(2023, 4, 1)),
        (202304, date(2023, 4, 1)),
        ("2023-04-01", date(2023, 4, 1)),
        ("2023-04-17", date(2023, 4, 1)),
        (pd.Timestamp("2023-04-30 23:59"), date(2023, 4, 1)),
        (date(2023, 4, 9), date(2023, 4, 1)),
        ("april 2023", date(2023, 4, 1)),
        ("Apr 2023", date(2023, 4, 1)),
    ],
)
def test_parse_month(value, expected):
    assert parse_month(value) == expected


@pytest.mark.parametrize("value", ["", None, "2023-00", "202313", "april", "x"])
def test_bad_months_raise(value):
    with pytest.raises(ValueError):
        parse_month(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12 345,50", Decimal("12345.50")),
        ("12\u00a0345,50", Decimal("12345.50")),
        ("12\u202f345,50", Decimal("12345.50")),
        ("1 234 567,00", Decimal("1234567.00")),
        ("-1 200,00", Decimal("-1200.00")),
        ("\u22121 200,00", Decimal("-1200.00")),  # '−' minus sign
        ("\u2212 50", Decimal(-50)),
        ("1200.50", Decimal("1200.50")),
        ("1200,5", Decimal("1200.5")),
        ("1.234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("0,00", Decimal("0.00")),
        (",50", Decimal("0.50")),
        ("  750 kr ", Decimal(750)),
        (1200, Decimal(1200)),
        (1200.5, Decimal("1200.5")),
        (0.1, Decimal("0.1")),  # no binary noise from the float
        (np.float64(-99.95), Decimal("-99.95")),
        (Decimal("3.10"), Decimal("3.10")),
    ],
)
def test_parse_amount(value, expected):
    result = parse_amount(value)
    assert isinstance(result, Decimal)
    assert result == expected


@pytest.mark.parametrize("value", ["", None, " ", "abc", "12,34,56", "1-2", "--5", "5 000 000 kr x",
                                   float("nan"), float("inf"), True, "1e5"])
def test_bad_amounts_raise(value):
    with pytest.raises(ValueError):
        parse_amount(value)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2023, 3, 15), 3, date(2023, 6, 15)),
        (date(2023, 11, 30), 3, date(2024, 2, 29)),
        (date(2023, 12, 1), 1, date(2024, 1, 1)),
        (date(2023, 5, 31), -3, date(2023, 2, 28)),
        (date(2023, 1, 10), -1, date(2022, 12, 10)),
        (date(2023, 1, 10), 0, date(2023, 1, 10)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected
