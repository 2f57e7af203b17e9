"""SCB's municipality list: 290 codes in 21 län, names as SCB writes them."""

import re
from collections import Counter

from utfall.schemas.kommuner import CSV_PATH, KOMMUNER, guesses, label, name

GR = {
    "1384": "Kungsbacka", "1401": "Härryda", "1402": "Partille", "1407": "Öckerö",
    "1415": "Stenungsund", "1419": "Tjörn", "1440": "Ale", "1441": "Lerum",
    "1462": "Lilla Edet", "1480": "Göteborg", "1481": "Mölndal", "1482": "Kungälv",
    "1489": "Alingsås",
}

# municipalities per län (SCB, since Heby moved to Uppsala län in 2007)
PER_LAN = {
    "01": 26, "03": 8, "04": 9, "05": 13, "06": 13, "07": 8, "08": 12, "09": 1, "10": 5,
    "12": 33, "13": 6, "14": 49, "17": 16, "18": 12, "19": 10, "20": 15, "21": 10, "22": 7,
    "23": 8, "24": 15, "25": 14,
}


def test_290_unique_four_digit_codes_in_21_lan():
    lines = CSV_PATH.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kommun_kod;namn"
    codes = [line.split(";")[0] for line in lines[1:]]
    assert len(codes) == 290 and len(set(codes)) == 290
    assert all(re.fullmatch(r"\d{4}", code) for code in codes)
    assert codes == sorted(codes)
    assert Counter(code[:2] for code in codes) == PER_LAN
    assert len(KOMMUNER) == 290


def test_known_pairs():
    assert {code: name(code) for code in GR} == GR
    assert name("1442") == "Vårgårda"
    assert name("0114") == "Upplands Väsby"
    assert name("0139") == "Upplands-Bro"
    assert name("0180") == "Stockholm"
    assert name("0331") == "Heby"
    assert name("0980") == "Gotland"
    assert name("1280") == "Malmö"
    assert name("1256") == "Östra Göinge"
    assert name("2023") == "Malung-Sälen"
    assert name("2584") == "Kiruna"


def test_codes_that_are_not_municipalities():
    assert name("1420") is None
    assert name("9999") is None
    assert name("0100") is None
    assert name("1480 ") is None


def test_guesses_for_what_is_not_a_code():
    assert label("1402") == "1402 (Partille)"
    assert guesses("1420", preferred=["1402", "1480"]) == ["1402"]  # a swap before a new digit
    assert guesses("1420", preferred=["1480"]) == ["1480"]
    assert guesses("1420") == ["1402", "1421", "1427"]
    assert guesses("1420", preferred=["0114"]) == ["1402", "1421", "1427"]
    assert guesses("1348", preferred=["1384"]) == ["1384"]
    assert guesses("9999") == []
    assert guesses(" partille ") == ["1402"]
    assert guesses("1480 Göteborg") == ["1480"]
    assert guesses("arkiv") == []
