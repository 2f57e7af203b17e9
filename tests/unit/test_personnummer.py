import json
from datetime import date
from pathlib import Path

import pytest

from utfall.adapters.personnummer import (
    InterimNumber,
    InvalidPersonnummer,
    Pseudonymiser,
    luhn_ok,
    parse,
)

TODAY = date(2026, 11, 23)


def with_check(nine: str) -> str:
    for c in "0123456789":
        if luhn_ok(nine + c):
            return nine + c
    raise AssertionError


P = with_check("811218987")  # 811218-987C


@pytest.mark.parametrize("written", [
    f"19{P[:6]}-{P[6:]}", f"19{P}", f"{P[:6]}-{P[6:]}", P, f" {P[:6]} - {P[6:]} ", f"{P}.0",
])
def test_every_written_form_gives_the_same_twelve_digits(written):
    assert parse(written, TODAY).digits12 == "19" + P


def test_plus_means_a_hundred_years_or_more():
    n = with_check("121212121")
    assert parse(f"{n[:6]}+{n[6:]}", TODAY).birth_year == 1912
    assert parse(f"{n[:6]}-{n[6:]}", TODAY).birth_year == 2012


def test_numbers_that_lost_leading_zeros():
    one_zero = with_check("050505123")  # 0505051234-like: born 2005
    assert parse(int(one_zero), TODAY).digits12 == "20" + one_zero
    assert parse(one_zero.lstrip("0"), TODAY).digits12 == "20" + one_zero  # 9 digits as text
    three_zeros = with_check("000118476")  # born 2000-01-18
    assert parse(float(int(three_zeros)), TODAY).digits12 == "20" + three_zeros
    with pytest.raises(InvalidPersonnummer):
        parse(three_zeros.lstrip("0"), TODAY)  # 7 digits of text is not a number that lost zeros


def test_samordningsnummer_day_plus_60():
    n = with_check("850375123")  # 1985-03-15 + 60
    p = parse(n, TODAY)
    assert (p.birth_year, p.birth_month, p.samordningsnummer) == (1985, 3, True)


@pytest.mark.parametrize("bad, reason", [
    ("8112189870x", "characters"), ("811318-9876", "date"), ("12345", "digits"), ("", "empty"),
])
def test_invalid_numbers_say_why_without_the_number(bad, reason):
    with pytest.raises(InvalidPersonnummer) as info:
        parse(bad, TODAY)
    assert reason in str(info.value) and "8112" not in str(info.value)


def test_wrong_check_digit_is_rejected():
    wrong = P[:9] + str((int(P[9]) + 1) % 10)
    with pytest.raises(InvalidPersonnummer, match="check digit"):
        parse(wrong, TODAY)


def test_sex_from_second_to_last_digit_and_stable_keys():
    p = parse(P, TODAY)
    assert p.sex == ("M" if int(P[8]) % 2 else "K")
    a, b = Pseudonymiser(b"k" * 32, "TEST"), Pseudonymiser(b"j" * 32, "TEST")
    assert a.person_key(p) == a.person_key(parse(f"19{P}", TODAY))
    assert a.person_key(p) != b.person_key(p) and len(a.person_key(p)) == 64


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan"), 12.5])
def test_number_cells_that_are_no_personnummer_are_rejected(bad):
    with pytest.raises(InvalidPersonnummer):
        parse(bad, TODAY)


# The personnummer project's public test lists (../shared/testdata/personnummer). One documented
# difference: a stray space inside a number is accepted here (Excel exports carry them), where
# that project calls such a number invalid.
TESTDATA = Path(__file__).with_name("personnummer_testdata")  # a copy, for clean clones


def _listed():
    entries = json.loads((TESTDATA / "list.json").read_text(encoding="utf-8"))
    for e in entries:
        for form in ("long_format", "separated_long", "short_format", "separated_format"):
            if " " not in e[form]:
                yield pytest.param(e, form, id=f"{e[form]}-{e['valid']}")


@pytest.mark.parametrize("entry, form", list(_listed()))
def test_the_public_test_list(entry, form):
    if entry["valid"]:
        pnr = parse(entry[form], TODAY)
        assert pnr.sex == ("M" if entry["isMale"] else "K")
        assert pnr.samordningsnummer == (entry["type"] == "con")
    else:
        with pytest.raises(InvalidPersonnummer):
            parse(entry[form], TODAY)


def test_serial_number_000_is_invalid():
    with pytest.raises(InvalidPersonnummer, match="serial number 000"):
        parse("20150916-0006", TODAY)


def test_every_number_of_the_public_valid_list_parses():
    numbers = json.loads((TESTDATA / "all_valid.json").read_text(encoding="utf-8"))
    assert len(numbers) == 41129
    bad = []
    for n in numbers:
        try:
            parse(str(n), TODAY)
        except InvalidPersonnummer:
            bad.append(n)
    assert bad == []


def _interim():
    entries = json.loads((TESTDATA / "interim.json").read_text(encoding="utf-8"))
    for e in entries:
        for form in ("long_format", "separated_long", "short_format", "separated_format"):
            yield pytest.param(e[form], id=e[form])


@pytest.mark.parametrize("written", [*_interim(), "19900101-T123", "900101t123", "19900101-12A3"])
def test_interim_numbers_are_no_personnummer_and_say_so(written):
    with pytest.raises(InterimNumber) as info:
        parse(written, TODAY)
    assert str(info.value) == "an interim number (a letter in the serial), not a personnummer"


@pytest.mark.parametrize("bad", ["19900101-T12", "19900101-T1234", "1990010-T123", "ABCDEF-1234"])
def test_letters_elsewhere_are_invalid_but_not_interim(bad):
    with pytest.raises(InvalidPersonnummer) as info:
        parse(bad, TODAY)
    assert not isinstance(info.value, InterimNumber)


def _structured_invalid():
    groups = json.loads((TESTDATA / "structured.json").read_text(encoding="utf-8"))
    for kind, forms in groups.items():
        for written in forms["integer"]["invalid"] + forms["string"]["invalid"]:
            if " " not in str(written):  # stray spaces are accepted here (see above)
                yield pytest.param(written, id=f"{kind}-{written!r}")


@pytest.mark.parametrize("written", list(_structured_invalid()))
def test_every_invalid_number_of_the_structured_list_is_rejected(written):
    with pytest.raises(InvalidPersonnummer):
        parse(written, TODAY)
