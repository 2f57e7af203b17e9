"""The Procapita adapter and the text-file reader, on small realistic exports.

Fixture files: tests/adapters/files/procapita/fixtures.py writes them (committed as bytes). Each
test states the exact counts, reasons, lines and values the file must give.
"""

from __future__ import annotations

import random
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.adapters.files.procapita import fixtures as fx
from utfall.adapters import procapita
from utfall.adapters.base import AdapterResult, FileRejected, Reason, SourceFile
from utfall.adapters.config import ConfigStore, SystemConfig
from utfall.adapters.personnummer import Pseudonymiser, parse
from utfall.adapters.textfile import read_text_table

pytestmark = pytest.mark.adapter

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).with_name("files") / "procapita"
TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
STAFF_NAMES = ["Anna Andersson", "Bo Berg", "Karin Karlsson", "Per Persson"]


def config(tmp_path: Path | None = None, yaml_text: str | None = None) -> SystemConfig:
    if yaml_text is None:
        return ConfigStore(None).for_system("1480", "procapita")
    (tmp_path / "1480.yaml").write_text(yaml_text, encoding="utf-8")
    return ConfigStore(tmp_path).for_system("1480", "procapita")


def read(path: Path, cfg: SystemConfig | None = None) -> AdapterResult:
    source = SourceFile(path, f"1480/procapita/{path.name}", "1480", "procapita")
    return procapita.read(source, cfg or config(), PSEUDO, TODAY)


def key(twelve: str) -> str:
    return PSEUDO.person_key(parse(twelve, TODAY))


def values(frame: pd.DataFrame, column: str) -> list:
    return [None if pd.isna(v) else v for v in frame[column]]


def quarantine(result: AdapterResult) -> list[tuple]:
    return [(q.row_number, q.reason, q.column) for q in result.quarantine]


def staging_columns(table: str) -> list[str]:
    ddl = (ROOT / "schemas" / "ddl" / "20_staging.sql").read_text(encoding="utf-8")
    body = re.search(rf"staging\.{table} \((.*?)\n\);", ddl, re.DOTALL)[1]
    body = re.sub(r"--[^\n]*", "", body)
    names = [part.split()[0] for part in body.split(",") if part.strip() and part.split()[0][0].isalpha()]
    return [n for n in names if n not in ("delivery_id", "kommun_kod") and not n[0].isdigit()]


def assert_no_personnummer(result: AdapterResult) -> None:
    """No form of any fixture number appears in a table, message, note or unmapped value."""
    forms = set()
    for twelve in fx.EVERY_NUMBER:
        forms |= {twelve, twelve[2:], twelve[3:], twelve[2:8] + "-" + twelve[8:]}
    texts = [q.message for q in result.quarantine] + list(result.notes)
    texts += [value for _, value in result.unmapped]
    for frame in map(result.frame, result.tables):
        texts += [str(v) for column in frame.columns for v in frame[column]]
    for text in texts:
        assert not any(form in text for form in forms), "a personnummer left the adapter"
        assert not any(name in text for name in STAFF_NAMES), "a staff name left the adapter"


# --- payments ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fs_cp1252() -> AdapterResult:
    return read(FILES / "fs_cp1252.csv")


def test_cp1252_payments_counts(fs_cp1252):
    r = fs_cp1252
    assert r.kind == "procapita_fs"
    # 16 lines - header = 15 read: title, blank, Barn and Summa skipped; five quarantined
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped) == (15, 6, 5, 4)
    assert r.reconciles()
    assert (r.period_start, r.period_end) == (date(2023, 3, 1), date(2023, 5, 1))


def test_cp1252_payments_quarantine(fs_cp1252):
    assert quarantine(fs_cp1252) == [
        (7, Reason.PNR_INVALID, "Personnummer"),
        (11, Reason.MONTH_INVALID, "Avser månad"),
        (12, Reason.AMOUNT_INVALID, "Belopp"),
        (13, Reason.DATE_INVALID, "Utbetalningsdatum"),
        (14, Reason.PNR_MISSING, "Personnummer"),
    ]
    assert fs_cp1252.quarantine[0].message == (
        "1480/procapita/fs_cp1252.csv line 7, column 'Personnummer': "
        "not a valid personnummer: check digit does not match"
    )
    assert fs_cp1252.quarantine[1].message == (
        "1480/procapita/fs_cp1252.csv line 11, column 'Avser månad': "
        "not a month: 2023-13 is not a month that exists"
    )


def test_cp1252_payments_rows(fs_cp1252):
    frame = fs_cp1252.frame("procapita_fs_line")
    assert list(frame.columns) == staging_columns("procapita_fs_line")
    assert values(frame, "row_number") == [3, 4, 6, 8, 9, 15]
    assert values(frame, "person_key") == [
        key(fx.P1), key(fx.P2), key(fx.P1), key(fx.P_OLD), key(fx.P_ZERO), key(fx.P6)
    ]
    assert values(frame, "birth_year") == [1985, 1987, 1985, 1923, 2005, 2001]
    assert values(frame, "birth_month") == [3, 7, 3, 1, 3, 1]
    assert values(frame, "sex") == ["K", "M", "K", "K", "M", "K"]
    assert values(frame, "household_ref") == ["H100", "H100", "H100", "H300", "H400", "H800"]
    assert values(frame, "role") == ["SOKANDE", "MEDSOKANDE", "SOKANDE", "SOKANDE", "SOKANDE",
                                     "SOKANDE"]
    assert values(frame, "month") == [date(2023, 3, 1), date(2023, 3, 1), date(2023, 4, 1),
                                      date(2023, 4, 1), date(2023, 4, 1), date(2023, 5, 1)]
    assert values(frame, "paid_on") == [date(2023, 2, 27), date(2023, 2, 27), date(2023, 3, 28),
                                        date(2023, 3, 28), date(2023, 3, 28), date(2023, 4, 26)]
    assert values(frame, "amount") == [Decimal("12345.50"), Decimal("1200.00"),
                                       Decimal("-1200.00"), Decimal("3100.00"),
                                       Decimal("4000.00"), Decimal("2500.00")]


def test_cp1252_payments_classes_and_hinder(fs_cp1252):
    frame = fs_cp1252.frame("procapita_fs_line")
    assert values(frame, "bistandstyp_local") == [
        "Försörjningsstöd", "Hushållsel", "Försörjningsstöd", "Livsföring i övrigt", "Tandvård",
        "Resa – ”buss” €",  # cp1252 '–', '”' and '€' survive
    ]
    assert values(frame, "bistand_class") == ["FS", "FS", "FS", "OVRIGT", "OVRIGT", None]
    assert values(frame, "hinder_local") == [
        "11 Arbetslös, väntar på ersättning", None, "Arbetslös, väntar på ersättning", None, None,
        "99 Okänt hinder",
    ]
    assert values(frame, "hinder") == ["ARBETSLOS_VANTAR", None, "ARBETSLOS_VANTAR", None, None,
                                       None]
    assert dict(fs_cp1252.unmapped) == {
        ("bistand_class", "Resa – ”buss” €"): 1,
        ("hinder", "99 Okänt hinder"): 1,
    }


def test_cp1252_payments_leak_nothing(fs_cp1252):
    assert_no_personnummer(fs_cp1252)
    assert "Handläggare" not in str(fs_cp1252.frame("procapita_fs_line").columns)


def test_bom_tab_payments_with_other_wording():
    r = read(FILES / "fs_utf8_bom.txt")
    assert r.kind == "procapita_fs"
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped) == (4, 3, 0, 1)
    assert (r.period_start, r.period_end) == (date(2023, 4, 1), date(2023, 5, 1))
    frame = r.frame("procapita_fs_line")
    assert values(frame, "row_number") == [2, 3, 4]
    assert values(frame, "person_key") == [key(fx.P1), key(fx.P7), key(fx.P7)]
    assert values(frame, "household_ref") == ["2023-0042", "A-17", "A-17"]  # trimmed text
    assert values(frame, "role") == ["SOKANDE"] * 3  # no Roll column: one row per household
    assert values(frame, "month") == [date(2023, 4, 1), date(2023, 5, 1), date(2023, 5, 1)]
    assert values(frame, "paid_on") == [date(2023, 3, 28), date(2023, 4, 27), None]
    assert values(frame, "amount") == [Decimal("9876.00"), Decimal("-250.50"), Decimal("1200.50")]
    assert values(frame, "bistand_class") == ["FS", "FS", "OVRIGT"]
    assert values(frame, "hinder") == [None, None, None]
    assert dict(r.unmapped) == {}
    assert_no_personnummer(r)


def test_hinder_as_code_text_or_code_through_configuration(tmp_path):
    cfg = config(tmp_path, 'procapita:\n  values:\n    hinder:\n      exact:\n'
                           '        "99": SOCIALA_SKAL\n')
    frame = read(FILES / "fs_cp1252.csv", cfg).frame("procapita_fs_line")
    # '99 Okänt hinder': the whole value and its text are unknown, its code is configured
    assert values(frame, "hinder")[-1] == "SOCIALA_SKAL"


def test_hinder_forms(tmp_path):
    cfg = config(tmp_path, 'procapita:\n  values:\n    hinder:\n      exact:\n'
                           '        "11": ARBETSLOS_UTAN_ERSATTNING\n')
    forms = ["11", "11 - Okänd text", "Sociala skäl", "(3) Föräldraledig", "7: Sjukskriven",
             "Arbetslös 2023", ""]
    lines = ["Personnummer;Ärendenr;Avser månad;Belopp;Försörjningshinder"]
    lines += [f"{fx.P1};H1;2023-01;100;{form}" for form in forms]
    path = tmp_path / "fs.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    r = read(path, cfg)
    assert values(r.frame("procapita_fs_line"), "hinder") == [
        "ARBETSLOS_UTAN_ERSATTNING", "ARBETSLOS_UTAN_ERSATTNING", "SOCIALA_SKAL", "FORALDRALEDIG",
        None, None, None,
    ]
    # 'Sjukskriven' alone is no default term; a blank cell is not an unmapped value
    assert dict(r.unmapped) == {("hinder", "7: Sjukskriven"): 1, ("hinder", "Arbetslös 2023"): 1}


# --- household members and insatser --------------------------------------------------------------


def test_household_members():
    r = read(FILES / "hushall.csv")
    assert r.kind == "procapita_household"
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped) == (6, 3, 2, 1)
    assert quarantine(r) == [(5, Reason.PNR_INVALID, "Personnummer"),
                             (6, Reason.HOUSEHOLD_MISSING, "Hushållsnummer")]
    assert r.quarantine[0].message == (
        "1480/procapita/hushall.csv line 5, column 'Personnummer': "
        "not a valid personnummer: has 5 digits, expected 10 or 12"
    )
    frame = r.frame("procapita_household_member")
    assert list(frame.columns) == staging_columns("procapita_household_member")
    assert values(frame, "row_number") == [2, 3, 7]
    assert values(frame, "household_ref") == ["H100", "H100", "H300"]
    assert values(frame, "person_key") == [key(fx.P1), key(fx.P2), key(fx.P4)]
    assert values(frame, "role") == ["SOKANDE", "MEDSOKANDE", None]
    assert dict(r.unmapped) == {("role", "Partner"): 1}
    assert (r.period_start, r.period_end) == (None, None)
    assert_no_personnummer(r)


@pytest.fixture(scope="module")
def insatser() -> AdapterResult:
    return read(FILES / "insatser.csv")


def test_insatser_counts_and_quarantine(insatser):
    r = insatser
    assert r.kind == "procapita_insats"
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped) == (7, 4, 3, 0)
    assert quarantine(r) == [(4, Reason.END_BEFORE_START, "Slutdatum"),
                             (6, Reason.DATE_INVALID, "Slutdatum"),
                             (7, Reason.DATE_MISSING, "Startdatum")]
    assert r.quarantine[0].message == (
        "1480/procapita/insatser.csv line 4, column 'Slutdatum': end date is before the start date"
    )
    # period: earliest start to the latest start or end
    assert (r.period_start, r.period_end) == (date(2023, 1, 16), date(2023, 10, 15))


def test_insatser_rows(insatser):
    frame = insatser.frame("procapita_insats")
    assert list(frame.columns) == staging_columns("procapita_insats")
    assert values(frame, "row_number") == [2, 3, 5, 8]
    assert values(frame, "person_key") == [key(fx.P1), key(fx.P2), key(fx.P5), key(fx.P1)]
    assert values(frame, "insats_local") == ["ATR Arbetsträning Returbutik", "Jobbspår Vård",
                                             "Stödsamtal", "IPS"]
    assert values(frame, "insats_typ") == ["ARBETSTRANING", "UTBILDNING", None, "STODJAT_ARBETE"]
    assert values(frame, "provider") == ["Returbutiken Angered", "Komvux Väst",
                                         "Enheten för stöd", "Enheten"]
    assert values(frame, "start_date") == [date(2023, 1, 16), date(2023, 3, 1), date(2023, 2, 1),
                                           date(2023, 9, 1)]
    # ongoing: null; a month-only end date is the month's last day
    assert values(frame, "end_date") == [date(2023, 6, 30), None, date(2023, 8, 31),
                                         date(2023, 10, 15)]
    assert values(frame, "end_reason_local") == ["Fått arbete", None, "Planerat avslut", "Vet ej"]
    assert values(frame, "end_reason") == ["ARBETE", None, "PLANERAT", "OKAND"]
    assert values(frame, "referred_from_local") == ["IFO", "AF", "Soc sekreterare", "FK"]
    assert values(frame, "referred_from") == ["IFO", "AF", None, "FK"]  # schema.md: FK is its own code
    assert dict(insatser.unmapped) == {("insats_typ", "Stödsamtal"): 1,
                                       ("referred_from", "Soc sekreterare"): 1}


def test_insatser_drop_staff_names(insatser):
    assert_no_personnummer(insatser)


def test_frames_load_into_the_staging_tables():
    con = duckdb.connect()
    con.execute((ROOT / "schemas" / "ddl" / "20_staging.sql").read_text(encoding="utf-8"))
    for name in ("fs_cp1252.csv", "fs_utf8_bom.txt", "hushall.csv", "insatser.csv"):
        result = read(FILES / name)
        for table in result.tables:
            frame = result.frame(table)
            con.register("frame", frame.assign(delivery_id="d", kommun_kod="1480"))
            con.execute(f"insert into staging.{table} by name select * from frame")
            con.unregister("frame")
    assert con.execute("select sum(amount) from staging.procapita_fs_line").fetchone()[0] == (
        Decimal("12345.50") + 1200 - 1200 + 3100 + 4000 + 2500 + 9876 - Decimal("250.50")
        + Decimal("1200.50")
    )
    assert con.execute(
        "select count(*), count(end_date) from staging.procapita_insats"
    ).fetchone() == (4, 3)


# --- files that are rejected ---------------------------------------------------------------------


def test_empty_file_is_rejected():
    with pytest.raises(FileRejected, match=r"^1480/procapita/tom\.csv: the file is empty$"):
        read(FILES / "tom.csv")


def test_xlsx_named_csv_is_rejected():
    with pytest.raises(FileRejected) as info:
        read(FILES / "arbetsbok.csv")
    assert str(info.value) == (
        "1480/procapita/arbetsbok.csv: this is a zip archive (probably an Excel .xlsx or .ods "
        "workbook saved with a text name), not a text export"
    )


def test_file_without_known_header_is_rejected(tmp_path):
    path = tmp_path / "rapport.csv"
    data = f"{fx.dashed(fx.P1)};2;3"  # a data line as wide as the header: its number is masked
    path.write_bytes(f"Rapport\r\nKolumn A;Kolumn B;Pnr\r\n{data}\r\n".encode("cp1252"))
    with pytest.raises(FileRejected) as info:
        read(path)
    assert str(info.value) == (
        "1480/procapita/rapport.csv: no header row with at least two known columns in the first "
        "15 lines (headers seen: 'Kolumn A', 'Kolumn B', 'Pnr')"
    )
    path.write_bytes(f"Rapport\r\nPnr\r\n{data}\r\n".encode("cp1252"))
    with pytest.raises(FileRejected) as info:
        read(path)
    # the widest line is data: it is never shown, whatever else it holds
    assert str(info.value).endswith("(headers seen: 'Rapport')")
    path.write_bytes(f"{data};Anna Andersson\r\n".encode("cp1252"))
    with pytest.raises(FileRejected) as info:
        read(path)
    assert str(info.value).endswith("(headers seen: none)")
    path.write_bytes(b"Kolumn A\tKolumn B\tKolumn C\r\n")
    with pytest.raises(FileRejected) as info:
        read(path)
    assert str(info.value).endswith("(headers seen: 'Kolumn A', 'Kolumn B', 'Kolumn C')")


def test_unknown_layout_is_rejected(tmp_path):
    path = tmp_path / "status.csv"
    path.write_bytes(b"Personnummer;Namn;Status\r\n")
    with pytest.raises(FileRejected) as info:
        read(path)
    assert str(info.value) == (
        "1480/procapita/status.csv: not a Procapita payments, household-member or insats "
        "extract (headers seen: 'Personnummer', 'Namn', 'Status')"
    )


def test_insats_without_start_date_is_rejected(tmp_path):
    path = tmp_path / "insats.csv"
    path.write_bytes("Personnummer;Insats;Slutdatum\r\n".encode("cp1252"))
    with pytest.raises(FileRejected) as info:
        read(path)
    assert str(info.value) == (
        "1480/procapita/insats.csv: looks like a Procapita insats extract but has no Startdatum "
        "column (headers seen: 'Personnummer', 'Insats', 'Slutdatum')"
    )


def test_unknown_columns_are_noted_and_not_read(tmp_path):
    path = tmp_path / "insats.csv"
    path.write_bytes(f"Personnummer;Startdatum;Period;Kommentar\r\n{fx.P1};2023-01-02;2023;"
                     "Ringde Anna\r\n".encode("cp1252"))
    r = read(path)
    assert r.kind == "procapita_insats"  # 'Period' alone does not make it a payments file
    assert r.notes == ["columns not read: Kommentar"]
    assert list(r.frame("procapita_insats").columns) == staging_columns("procapita_insats")


def test_payments_without_household_number_are_rejected(tmp_path):
    path = tmp_path / "fs.csv"
    path.write_bytes("Personnummer;Avser månad;Belopp\r\n".encode("cp1252"))
    with pytest.raises(FileRejected, match="has no Hushållsnummer/Ärendenr column"):
        read(path)


# --- the text reader -----------------------------------------------------------------------------


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_quoted_line_break_gives_two_bad_lines_not_one_merged_row(tmp_path):
    # one line is one row (adapters.textfile): a line break inside quotes cannot be told from a
    # quote that never closes, which would take in every line after it
    p1, p4 = fx.dashed(fx.P1), fx.dashed(fx.P4)
    path = write(tmp_path, f'Personnummer;Insats;Startdatum\r\n{p1};"Praktik\r\npå café";2023-01-02'
                           f'\r\n{p4};Praktik;2023-02-01\r\n')
    r = read(path)
    frame = r.frame("procapita_insats")
    assert values(frame, "row_number") == [4]
    assert values(frame, "insats_local") == ["Praktik"]
    assert quarantine(r) == [(2, Reason.LINE_MALFORMED, None), (3, Reason.LINE_MALFORMED, None)]
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (3, 1, 0)


def test_short_and_long_lines(tmp_path):
    # a line short of a named column or with filled cells past the header is not a row of the
    # layout (its cells may have moved); blank cells past the header are a trailing delimiter
    p1, p4 = fx.dashed(fx.P1), fx.dashed(fx.P4)
    path = write(tmp_path, f"Personnummer;Insats;Startdatum;Slutdatum\n{p1};Praktik;2023-01-02\n"
                           f"{p4};SFI;2023-02-01;2023-03-01;extra;cells\n\n;;;\nTotalt;2\n"
                           f"{p4};SFI;2023-02-01;2023-03-01;;\n")
    r = read(path)
    frame = r.frame("procapita_insats")
    assert values(frame, "row_number") == [7]
    assert values(frame, "end_date") == [date(2023, 3, 1)]
    assert [(q.row_number, q.reason, q.message) for q in r.quarantine] == [
        (2, Reason.LINE_MALFORMED, "1480/procapita/export.csv line 2: 3 fields where the header has 4"),
        (3, Reason.LINE_MALFORMED, "1480/procapita/export.csv line 3: 6 fields where the header has 4"),
    ]
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (6, 1, 3)


def test_utf8_detected_even_when_the_first_non_ascii_is_far_down(tmp_path):
    lines = ["Personnummer;Hushållsnummer;Roll"] + [f"{fx.dashed(fx.P1)};H{i};Sökande"
                                                    for i in range(20000)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    table = read_text_table(path, config(), "x.csv")
    assert table.encoding == "utf-8"
    assert table.rows[2].iloc[-1] == "Sökande"


def test_cp1252_and_comma_delimiter_detected(tmp_path):
    path = write(tmp_path, 'Titel – ”rapport”\r\nPersonnr,Ärendenr,Belopp,Avser månad\r\n'
                           f'{fx.P1},H1,"1 200,50",2023-04\r\n', "cp1252")
    table = read_text_table(path, config(), "x.csv")
    assert (table.encoding, table.delimiter, table.header_line) == ("cp1252", ",", 2)
    assert table.header == ["Personnr", "Ärendenr", "Belopp", "Avser månad"]
    assert table.rows.iloc[0].tolist() == [fx.P1, "H1", "1 200,50", "2023-04"]
    assert table.line_numbers.tolist() == [3]


def test_configured_encoding_and_delimiter_win(tmp_path):
    # '|' is not among the delimiters that are guessed; the bytes would be guessed as cp1252
    path = write(tmp_path, "Personnummer|Hushållsnummer\r\nx|H1\r\n", "latin-1")
    cfg = config(tmp_path, 'procapita:\n  encoding: latin-1\n  delimiter: "|"\n')
    table = read_text_table(path, cfg, "x.csv")
    assert (table.encoding, table.delimiter) == ("iso8859-1", "|")
    assert table.header == ["Personnummer", "Hushållsnummer"]


def test_binary_content_is_rejected(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"Personnummer;Belopp\x00\x01\x02")
    with pytest.raises(FileRejected, match="binary content"):
        read_text_table(path, config(), "x.csv")


def test_every_line_ends_up_in_exactly_one_place(tmp_path):
    """A shuffled mix of line kinds: each line's fate is known, so the counts are exact."""
    kinds = {
        "loaded": f"{fx.dashed(fx.P1)};H1;Sökande;2023-01;2023-01-25;1 000,00;Riksnorm",
        "barn": f"{fx.dashed(fx.P3)};H1;Barn;2023-01;2023-01-25;0;Riksnorm",
        "blank": "",
        "delimiters only": ";;;;;;",
        "total": "Totalt;;;;;9 999,00;",
        "short total": "Summa:;5",
        "bad pnr": f"{fx.short('19' + fx.BAD_CHECK)};H1;Sökande;2023-01;;1;Riksnorm",
        "bad amount": f"{fx.P4};H1;Sökande;2023-01;;12,345;Riksnorm",
        "no household": f"{fx.P4};;Sökande;2023-01;;1;Riksnorm",
    }
    rng = random.Random(7)
    chosen = [rng.choice(list(kinds)) for _ in range(400)]
    header = "Personnummer;Hushållsnummer;Roll;Avser månad;Utbetalningsdatum;Belopp;Biståndstyp"
    path = tmp_path / "mix.csv"
    path.write_bytes("\r\n".join(["Titel", header, *(kinds[k] for k in chosen)]).encode("cp1252"))
    r = read(path)
    lines = {k: [i + 3 for i, c in enumerate(chosen) if c == k] for k in kinds}
    assert r.rows_read == 401
    assert values(r.frame("procapita_fs_line"), "row_number") == lines["loaded"]
    assert [q.row_number for q in r.quarantine] == sorted(
        lines["bad pnr"] + lines["bad amount"] + lines["no household"])
    assert {q.reason for q in r.quarantine if q.row_number in lines["bad amount"]} == {
        Reason.AMOUNT_INVALID}
    assert r.rows_skipped == 1 + sum(len(lines[k]) for k in
                                     ("barn", "blank", "delimiters only", "total", "short total"))
    assert r.reconciles()


def test_a_bom_before_windows_1252_text_is_read_as_windows_1252(tmp_path):
    lines = ["Personnummer;Hushållsnummer;Roll;Avser månad;Belopp;Biståndstyp",
             f"{fx.dashed(fx.P1)};H1;Sökande;2023-04;1 234,50;Försörjningsstöd",
             f"{fx.dashed(fx.P7)};H1;Medsökande;2023-04;1 234,50;Försörjningsstöd"]
    path = tmp_path / "bom_cp1252.csv"
    path.write_bytes(b"\xef\xbb\xbf" + fx.crlf(lines).encode("cp1252"))
    r = read(path)
    assert r.kind == "procapita_fs"
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped) == (2, 2, 0, 0)
    frame = r.frame("procapita_fs_line")
    assert values(frame, "role") == ["SOKANDE", "MEDSOKANDE"]  # 'Sökande', not 'S\ufffdkande'
    assert values(frame, "person_key") == [key(fx.P1), key(fx.P7)]
    assert values(frame, "bistand_class") == ["FS", "FS"]


def test_interim_numbers_are_quarantined_and_unknown_headers_listed(tmp_path):
    path = tmp_path / "ekb_2023-04.txt"
    path.write_text(
        "Personnr\tÄrendenr\tAvser period\tBelopp (kr)\tÄndamål\tKommentar\tBelop\n"
        "198503122387\t2023-0042\t202304\t9 876,00\tFörsörjningsstöd\t\t\n"
        "19900101-T123\t2023-0043\t202304\t1 000,00\tFörsörjningsstöd\t\t\n",
        encoding="utf-8")
    r = read(path)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (2, 1, 1)
    assert quarantine(r) == [(3, Reason.PNR_INTERIM, "Personnr")]  # the column as delivered
    assert "T123" not in r.quarantine[0].message
    assert r.unknown_headers == [(None, "Kommentar", None), (None, "Belop", "belopp")]
