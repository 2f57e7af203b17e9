"""Writes the Procapita fixture files of tests/adapters/test_procapita.py (run it to regenerate).

Every personnummer here is invented; valid ones get a computed Luhn check digit. The files are
committed as bytes, because their encodings, BOMs, NBSPs and CRLFs are the point of the tests.
"""

from __future__ import annotations

import io
from pathlib import Path

HERE = Path(__file__).parent
NBSP = "\u00a0"


def luhn_digit(nine: str) -> str:
    total = 0
    for i, ch in enumerate(nine):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def pnr10(yymmdd: str, nnn: str) -> str:
    """A valid ten-digit number YYMMDDNNNC."""
    return f"{yymmdd}{nnn}{luhn_digit(yymmdd + nnn)}"


def wrong_check_digit(ten: str) -> str:
    return ten[:9] + str((int(ten[9]) + 1) % 10)


# The people of the fixtures (12-digit form = what person_key is computed from).
P1 = "19" + pnr10("850312", "238")  # woman (8 even), written YYYYMMDD-NNNC
P2 = "19" + pnr10("870771", "451")  # samordningsnummer: day 71 = the 11th; man
P3 = "20" + pnr10("150604", "122")  # a child
P4 = "19" + pnr10("920228", "376")
P5 = "19" + pnr10("780909", "583")
P6 = "20" + pnr10("010101", "214")
P7 = "19" + pnr10("690430", "019")
P_OLD = "19" + pnr10("230115", "286")  # written with '+': aged 100 or more
P_ZERO = "20" + pnr10("050307", "143")  # Excel lost its leading zero: 9 digits
BAD_CHECK = wrong_check_digit(pnr10("800101", "123"))  # 10 digits, wrong check digit

EVERY_NUMBER = [P1, P2, P3, P4, P5, P6, P7, P_OLD, P_ZERO, "19" + BAD_CHECK]


def dashed(twelve: str) -> str:
    return f"{twelve[:8]}-{twelve[8:]}"


def short(twelve: str, sep: str = "-") -> str:
    return f"{twelve[2:8]}{sep}{twelve[8:]}"


def crlf(lines: list[str]) -> str:
    return "".join(line + "\r\n" for line in lines)


def fs_cp1252() -> bytes:
    lines = [
        "Utbetalt ekonomiskt bistånd – ”Göteborg” 2023 (€)",
        ("Personnummer;Hushållsnummer;Roll;Avser månad;Utbetalningsdatum;Belopp;Biståndstyp;"
        "Försörjningshinder;Handläggare"),
        (f"{dashed(P1)};H100;Sökande;2023-03;2023-02-27;12{NBSP}345,50;Försörjningsstöd;"
        "11 Arbetslös, väntar på ersättning;Anna Andersson"),
        f"{short(P2)};H100;Medsökande;2023-03;2023-02-27;1 200,00;Hushållsel;;Anna Andersson",
        f"{dashed(P3)};H100;Barn;2023-03;2023-02-27;0,00;Försörjningsstöd;;Anna Andersson",
        (f"{dashed(P1)};H100;Sökande;2023-04;2023-03-28;-1 200,00;Försörjningsstöd;"
        "Arbetslös, väntar på ersättning;Anna Andersson"),
        f"{short('19' + BAD_CHECK)};H200;Sökande;2023-04;2023-03-28;5 000,00;Riksnorm;;Bo Berg",
        f"{short(P_OLD, '+')};H300;Sökande;2023-04;2023-03-28;3 100,00;Livsföring i övrigt;;Bo Berg",
        f"{P_ZERO[3:]};H400;Sökande;2023-04;2023-03-28;4000;Tandvård;;Bo Berg",
        "",
        f"{dashed(P4)};H500;Sökande;2023-13;2023-04-27;100,00;Försörjningsstöd;;Bo Berg",
        f"{dashed(P4)};H500;Sökande;2023-05;2023-04-27;abc;Försörjningsstöd;;Bo Berg",
        f"{dashed(P5)};H600;Sökande;2023-05;2023-02-30;700,00;Försörjningsstöd;;Bo Berg",
        ";H700;Sökande;2023-05;2023-04-27;100,00;Försörjningsstöd;;Bo Berg",
        (f'{dashed(P6)};H800;Sökande;2023-05;2023-04-26;"2 500,00";"Resa – ”buss” €";'
        "99 Okänt hinder;Bo Berg"),
        "Summa;;;;;23 745,50;;;",
    ]
    return crlf(lines).encode("cp1252")


def fs_utf8_bom_tab() -> bytes:
    lines = [
        "Personnr\tÄrendenr\tAvser period\tUtbetalningsdag\tBelopp (kr)\tÄndamål",
        f"{P1}\t 2023-0042 \t202304\t2023-03-28\t9 876,00\tFörsörjningsstöd",
        f"{dashed(P7)}\tA-17\t202305\t2023-04-27\t\u2212250,50\tBoende",
        f"{dashed(P7)}\tA-17\t202305\t\t1200.50\tLivsföring i övrigt",
        "Totalt\t\t\t\t10 826,00\t",
    ]
    return b"\xef\xbb\xbf" + crlf(lines).encode("utf-8")


def household() -> bytes:
    lines = [
        "Hushållsnummer;Personnummer;Roll",
        f"H100;{dashed(P1)};Sökande",
        f"H100;{short(P2)};Medsökande",
        f"H100;{dashed(P3)};Barn",
        "H200;12345;Medsökande",
        f";{dashed(P6)};Medsökande",
        f"H300;{dashed(P4)};Partner",
    ]
    return crlf(lines).encode("utf-8")


def insats() -> bytes:
    lines = [
        ("Personnummer;Insats;Anordnare;Startdatum;Slutdatum;Avslutsorsak;Remitterad från;"
        "Handläggare"),
        (f"{dashed(P1)};ATR Arbetsträning Returbutik;Returbutiken Angered;2023-01-16;2023-06-30;"
        "Fått arbete;IFO;Karin Karlsson"),
        f"{dashed(P2)};Jobbspår Vård;Komvux Väst;2023-03-01;;;AF;Karin Karlsson",
        f"{dashed(P4)};Praktik;Café Hörnan;2023-05-10;2023-04-30;Avbrott;Egen;Per Persson",
        (f"{dashed(P5)};Stödsamtal;Enheten för stöd;2023-02;2023-08;Planerat avslut;"
        "Soc sekreterare;Per Persson"),
        f"{dashed(P6)};SE Supported employment;Enheten;20230415;2023-13-01;;AF;Per Persson",
        f"{dashed(P7)};Kartläggning;Enheten;;;;IFO;Per Persson",
        f"{dashed(P1)}; IPS ;Enheten;1/9 2023;15 okt 2023;Vet ej;FK;Karin Karlsson",
    ]
    return crlf(lines).encode("cp1252")


def xlsx_named_csv() -> bytes:
    """A real workbook, as someone saves it and names it .csv."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Personnummer", "Belopp"])
    book.active.append(["(inga rader)", 0])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


FILES = {
    "fs_cp1252.csv": fs_cp1252,
    "fs_utf8_bom.txt": fs_utf8_bom_tab,
    "hushall.csv": household,
    "insatser.csv": insats,
    "tom.csv": lambda: b"",
    "arbetsbok.csv": xlsx_named_csv,
}


def main() -> None:
    for name, make in FILES.items():
        (HERE / name).write_bytes(make())


if __name__ == "__main__":
    main()
