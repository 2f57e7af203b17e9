"""synth.exports, how both generators write a realistic export: the workbooks read back with the
product's reader (python-calamine) to exact values and are the same bytes every time; each value
form (the sample's) equals its column form (the national inbox's) and what the adapters read back;
and the national generator's bytes are pinned, as tests/test_samplegen.py pins the sample's
(data/sample, regenerated and compared file by file).
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from python_calamine import CalamineWorkbook

from synth import exports as ex
from synth import national
from utfall.adapters.personnummer import luhn_ok, parse
from utfall.adapters.values import parse_amount, parse_date

pytestmark = pytest.mark.unit

NBSP = "\u00a0"
ROWS = [
    ["Deltagare 2023"],
    [],
    ["Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum", "Antal", "Belopp"],
    ["19850412-2389", "Åsa Öberg & <son>", "Arbetsträning", date(2023, 3, 1), None, 3, 1250.5],
    ["198504122389", "  mellanslag  ", "Praktik", date(1999, 12, 31), date(2024, 2, 29), 0, -7],
    ["Summa", 2],
]


def read_back(data: bytes) -> dict[str, list[list]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {
        name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for name in book.sheet_names
    }


def expected(rows: list[list]) -> list[list]:
    """What calamine gives back: a rectangle, '' for blanks, numbers as floats."""
    width = max(len(r) for r in rows)
    out = []
    for row in rows:
        cells = [
            "" if v is None else float(v) if isinstance(v, int) else v for v in row
        ]
        out.append(cells + [""] * (width - len(cells)))
    return out


@pytest.mark.parametrize("writer", [ex.xlsx_bytes, ex.lean_xlsx_bytes])
def test_workbooks_read_back_exactly(writer):
    data = writer([ex.SheetData("Deltagare", ROWS), ex.SheetData("Blad 2", [["Anteckning"]])])
    assert read_back(data) == {"Deltagare": expected(ROWS), "Blad 2": [["Anteckning"]]}


def test_lean_serials_are_dates():
    serial = ex.Serial(ex.excel_serial(date(2023, 3, 15)))
    data = ex.lean_xlsx_bytes([ex.SheetData("S", [["Datum"], [serial], [date(2023, 3, 15)]])])
    assert read_back(data)["S"] == [["Datum"], [date(2023, 3, 15)], [date(2023, 3, 15)]]


def test_lean_writes_no_merged_cells_or_hidden_rows():
    with pytest.raises(ValueError, match="merged"):
        ex.lean_xlsx_bytes([ex.SheetData("S", [["a"]], hidden=[1])])


@pytest.mark.parametrize("writer", [ex.xlsx_bytes, ex.lean_xlsx_bytes, ex.ods_bytes])
def test_workbooks_are_the_same_bytes_with_fixed_times(writer):
    sheets = [ex.SheetData("Deltagare", ROWS)]
    first, second = writer(sheets), writer(sheets)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {i.date_time for i in archive.infolist()} == {ex.ZIP_TIME}
    moved = writer(sheets, time=(2025, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(io.BytesIO(moved)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2025, 1, 1, 0, 0, 0)}
        if writer is ex.xlsx_bytes:
            assert archive.read("docProps/core.xml").count(b"2025-01-01T00:00:00Z") == 2


def test_merged_and_hidden_rows_as_excel_writes_them():
    data = ex.xlsx_bytes([ex.SheetData("D", ROWS, merged=[(1, 1, 1, 7)], hidden=[4])])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    assert re.search(rb'<mergeCell ref="A1:G1" ?/>', sheet)
    assert re.findall(rb'<row [^>]*hidden="1"', sheet) == [b'<row r="4" hidden="1"']
    assert read_back(data)["D"] == expected(ROWS)


# --- personnummer, dates, months, kronor: value forms and column forms ---------------------------


def test_luhn_value_and_column_agree_and_the_adapters_accept_them():
    rng = random.Random(1)
    nines = [rng.randrange(10**9) for _ in range(2000)] + [0, 999_999_999]
    column = ex.luhn_digits(np.array(nines, dtype=np.int64))
    digits = [ex.luhn_digit(f"{n:09d}") for n in nines]
    assert digits == [str(d) for d in column.tolist()]
    assert all(luhn_ok(f"{n:09d}{d}") for n, d in zip(nines, digits, strict=True))
    assert not any(luhn_ok(f"{n:09d}{(int(d) + 1) % 10}") for n, d in zip(nines, digits, strict=True))


def test_personnummer_value_and_column_agree_in_every_form():
    rng = random.Random(2)
    people = [
        (date(1930, 1, 1) + timedelta(days=rng.randrange(29_000)), rng.randrange(1, 1000),
         rng.random() < 0.2)
        for _ in range(500)
    ]
    column = ex.pnr_column(
        np.array([born.year for born, _, _ in people]),
        np.array([born.month for born, _, _ in people]),
        np.array([born.day for born, _, _ in people]),
        np.array([serial for _, serial, _ in people]),
        np.array([samordning for _, _, samordning in people]),
    )
    assert column == [ex.make_pnr(born, serial, s) for born, serial, s in people]
    today = date(2025, 6, 1)
    for (born, _, samordning), pnr in zip(people, column, strict=True):
        for form in ex.PNR_FORMS.values():
            read = parse(form(pnr), today)
            assert read.digits12 == pnr and read.samordningsnummer == samordning
            assert (read.birth_year, read.birth_month) == (born.year, born.month)
    assert ex.PNR_FORMS["12dash"]("198504122389") == "19850412-2389"
    assert ex.PNR_FORMS["10dash"]("198504122389") == "850412-2389"
    assert ex.dash10("191703149999", "+") == "170314+9999"


def test_excel_serials_value_and_column_agree_and_read_back():
    days = [date(1900, 3, 1), date(1999, 12, 31), date(2024, 2, 29), date(2025, 1, 1)]
    column = ex.excel_serials(np.array(days, dtype="datetime64[D]"))
    assert column.tolist() == [ex.excel_serial(d) for d in days] == [61, 36525, 45351, 45658]
    assert [parse_date(float(s)) for s in column.tolist()] == days


def test_month_labels():
    assert ex.month_text(2023 * 12 + 3) == "2023-04"
    assert ex.month_text(2023 * 12 + 11, "") == "202312"
    assert national._month_label(-1, "dash") == "2014-12"
    assert national._month_label(120, "plain") == "202501"


@pytest.mark.parametrize("sep", ["", " ", NBSP])
def test_kronor_value_and_column_agree_and_read_back(sep):
    rng = random.Random(3)
    ore = [0, 1, -1, 99, 100, 99_999, 100_000, -100_050, 99_999_999, -99_999_999]
    ore += [rng.randrange(-100_000_000 + 1, 100_000_000) for _ in range(500)]
    texts = [ex.kronor(o, sep) for o in ore]
    assert ex.kronor_column(np.array(ore, dtype=np.int64), sep).to_pylist() == texts
    assert ex.kronor(123_456_789, " ") == "1 234 567,89"  # the value form has no upper bound
    assert [parse_amount(t) * 100 for t in texts] == ore


# --- text files ----------------------------------------------------------------------------------


def test_text_files_in_each_encoding():
    rows = [["Personnummer", "Biståndstyp"], ["19850412-2389", "Försörjningsstöd"]]
    text = "Personnummer;Biståndstyp\r\n19850412-2389;Försörjningsstöd\r\n"
    assert ex.text_bytes(rows, ";", "cp1252") == text.encode("cp1252")
    assert b"F\xf6rs\xf6rjningsst\xf6d" in ex.text_bytes(rows, ";", "cp1252")
    assert ex.text_bytes(rows, ";", "utf-8") == text.encode("utf-8")
    assert ex.text_bytes(rows, ";", "utf-8-sig") == b"\xef\xbb\xbf" + text.encode("utf-8")
    assert ex.text_bytes(rows, "\t", "utf-8", newline="\n") == text.replace(";", "\t").replace(
        "\r\n", "\n"
    ).encode("utf-8")
    head, body = text[:25], text[25:]
    for encoding in ("cp1252", "utf-8", "utf-8-sig"):
        assert ex.encoded(head, encoding, body.encode("utf-8")) == ex.encoded(text, encoding)


# --- the national generator's bytes --------------------------------------------------------------

# 0.0005 x seed 3: three municipalities in cp1252 and UTF-8, with no, and a no-break space as,
# thousands separator, Excel lists with real dates and with text dates, SKAPA by personnummer and
# by deltagarnr. The digest is the one the generator gave before synth.exports (commit a3dadc6).
NATIONAL_FILES, NATIONAL_DIGEST = 319, "0272db8c56995f941a9c9aaec02df8d49c74ce37bac605daf0079c931ef0f836"


def test_the_national_generator_writes_the_same_bytes(tmp_path: Path):
    national.generate(tmp_path, scale=0.0005, seed=3, workers=1)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != national.MANIFEST)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(tmp_path).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    assert (len(files), digest.hexdigest()) == (NATIONAL_FILES, NATIONAL_DIGEST)
