"""Build the workbook fixtures of tests/adapters/files/excel and files/skapa.

    .venv/bin/python -m tests.adapters.make_spreadsheet_fixtures

The .xlsx files are written with openpyxl and the .ods with odfpy, from the same sheet
descriptions. The .xls cannot be written by a well-kept Python library (xlwt is unmaintained since
2017), so it is converted from the .xlsx by LibreOffice when `soffice` is installed, and committed
as bytes. files/excel/password.xlsx is plain.xlsx encrypted once with msoffcrypto-tool
(`msoffcrypto-tool -e -p hemligt plain.xlsx password.xlsx`; not a dependency of the project) and
committed as bytes. Every personnummer here is made up; the tests import PNR to prove none leaks.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import openpyxl
from odf.opendocument import OpenDocumentSpreadsheet
from odf.style import Style, TableColumnProperties
from odf.table import CoveredTableCell, Table, TableCell, TableColumn, TableRow
from odf.text import P
from openpyxl.utils import get_column_letter

FILES = Path(__file__).with_name("files")

# made-up people: name -> the personnummer as written in the fixtures
PNR = {
    "anna": "19850312-2346",  # text, 12 digits with dash
    "bo": 199203154324,  # a number, 12 digits
    "cecilia": "761224-5188",  # text, 10 digits with dash
    "david": "19880808-1123",  # bad check digit (should be 2)
    "eva": 103151239,  # 0103151239 as a number that lost its leading zero
    "fredrik": "196701015551",
    "gun": "950630-2463",
    "hugo": "20030211 9870",  # a stray space
}
NAMES = {"anna": "Anna Andersson", "bo": "Bo Berg", "cecilia": "Cecilia Carlsson",
         "david": "David Dahl", "eva": "Eva Ek", "fredrik": "Fredrik Fors", "gun": "Gun Gran",
         "hugo": "Hugo Holm"}  # fmt: skip


@dataclass
class SheetSpec:
    name: str
    rows: list[list]  # rows[0] is row 1; None = empty cell
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # 1-based r0, c0, r1, c1
    hidden_rows: list[int] = field(default_factory=list)  # 1-based
    hidden_cols: list[int] = field(default_factory=list)  # 1-based


# --- the Excel participant list ------------------------------------------------------------------

PARTICIPANT_HEADER = [
    "Personnummer", "Namn", None, "Deltagarnr", "Insats", "Startdatum", "Slutdatum",
    "Avslutsorsak", "Status 3 mån", "Status 6 mån", "Status 12 mån", "Född utomlands",
    "Remiss från", "Målgrupp",
]  # fmt: skip


def _person(key: str) -> list:
    first, last = NAMES[key].split()
    return [PNR[key], first, last]


def sheet_2023() -> SheetSpec:
    """Title rows, a merged title and header cell, header on row 4, a hidden row and column."""
    rows = [
        ["Deltagare AME 2023"] + [None] * 13,
        [None] * 14,
        ["Enhet: Jobbcentrum", None, None, None, None, None, None, "Uppdaterad 2024-01-15"],
        PARTICIPANT_HEADER,
        # 5: real dates; stray case and spaces in statuses
        _person("anna")
        + [
            12,
            "Arbetsträning",
            date(2023, 1, 9),
            date(2023, 4, 28),
            "Arbete",
            "  Jobb ",
            "SFI",
            None,
            "Ja",
            "IFO",
            "Unga",
        ],
        # 6: a serial number and a month-only end; 'vet ej' and '-' are observations
        _person("bo")
        + [" 14 ", "Praktik", 44958, "2023-06", "Studier", "vet ej", "-", None, "Nej", "AF", None],
        # 7 (hidden): day-first and Swedish month names; an unmapped status
        _person("cecilia")
        + [
            15.0,
            "Jobbklubb",
            "1/3 2023",
            "31 maj 2023",
            "avslutad enligt plan",
            "Kurs på folkhögskolan",
            "SFI ",
            None,
            "Ja",
            "Egen",
            None,
        ],
        [None] * 14,  # 8: an empty row in the middle
        # 9: bad check digit
        _person("david")
        + [16, "Praktik", date(2023, 2, 1), None, None, None, None, None, None, None, None],
        # 10: lost its leading zero; month-only start; ongoing, so no follow-up date
        _person("eva")
        + [17, "SFI", "2023-03", None, None, "Arbetslös", None, None, None, None, None],
        # 11: no start date
        _person("fredrik")
        + [18, "Praktik", None, date(2023, 5, 1), None, None, None, None, None, None, None],
        # 12: a start date that does not exist
        _person("gun")
        + [19, "Praktik", "2023-02-30", None, None, None, None, None, None, None, None],
        # 13: end before start
        _person("hugo")
        + [
            20,
            "Praktik",
            date(2023, 5, 1),
            date(2023, 4, 1),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        # 14: compact text date, keyword insats name, unmapped referral, 'Nej' in the hidden column
        _person("fredrik")
        + [
            21,
            "ATR Arbetsträning Returbutik",
            "20230301",
            date(2023, 8, 31),
            "Avbrott",
            None,
            None,
            "Anställd",
            "Nej",
            "Kommunen",
            None,
        ],
        ["Summa", None, None, 10] + [None] * 10,  # 15: the total row
    ]
    return SheetSpec(
        "2023", rows, merges=[(1, 1, 1, 6), (4, 2, 4, 3)], hidden_rows=[7], hidden_cols=[12]
    )


def sheet_2022() -> SheetSpec:
    """A two-level header: 'Status' merged over three follow-up columns."""
    rows = [
        ["Deltagare 2022", None, None, None, None, None, None, None],
        ["Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum", "Status", None, None],
        [None, None, None, None, None, "3 mån", "6 mån", "12 mån"],
        [
            PNR["gun"],
            NAMES["gun"],
            "Lönebidrag",
            datetime(2022, 5, 2),
            datetime(2022, 11, 30),
            "Extratjänst",
            "Timanställd",
            "Okänt",
        ],
        [
            PNR["anna"],
            NAMES["anna"],
            "Komvux",
            date(2022, 8, 15),
            date(2022, 12, 16),
            "Studier",
            None,
            "Eget företag",
        ],
    ]
    return SheetSpec("2022", rows, merges=[(1, 1, 1, 5), (2, 1, 3, 1), (2, 2, 3, 2), (2, 6, 2, 8)])


def sheet_pivot() -> SheetSpec:
    rows = [
        ["Radetiketter", "Antal av Personnummer"],
        ["Insats", None],
        ["Arbetsträning", 3],
        ["Praktik", 5],
        ["Totalsumma", 8],
    ]
    return SheetSpec("Pivot", rows)


def plain_list() -> SheetSpec:
    """What a municipality without configuration sends: a title, then common Swedish names."""
    rows = [
        ["Deltagarlista Jobbtorget", None, None, None, None, None, None, None],
        [
            "Personnr",
            "För- och efternamn",
            "Insats",
            "Inskrivningsdatum",
            "Avslutsdatum",
            "Avslutsorsak",
            "6 mån",
            "Aktuell status",
            "Status per",
        ],
        [
            PNR["anna"],
            NAMES["anna"],
            "Jobbcoachning",
            "2023-01-16",
            "2023-03-31",
            "Fått arbete",
            "Arbete",
            "Arbete",
            "2024-01-10",
        ],
        [
            PNR["hugo"],
            NAMES["hugo"],
            "Språkpraktik",
            "2023-02-01",
            None,
            None,
            None,
            "Sjukskriven",
            None,
        ],
        ["Totalt", None, None, None, None, None, None, None, None],
    ]
    return SheetSpec("Blad1", rows)


# --- SKAPA ---------------------------------------------------------------------------------------


def skapa_export() -> SheetSpec:
    header = [
        "Personnummer",
        "Namn",
        "Datum",
        "Bedömning",
        "Motivation (1-7)",
        "Hälsa (1-7)",
        "Social förmåga (1-7)",
        "Struktur (1-7)",
        "Kommentar",
    ]
    rows = [
        header,
        [PNR["anna"], NAMES["anna"], date(2023, 2, 1), "Självskattning", 3, 4, 5, 2, "Bra start"],
        [PNR["anna"], NAMES["anna"], date(2023, 2, 1), "Handledare", 4, 4, None, 3, None],
        [PNR["bo"], NAMES["bo"], "2023-03-15", " coach ", 7, 1, 2, 6, None],
        [PNR["bo"], NAMES["bo"], date(2023, 9, 1), "Självskattning", 8, 4, 4, 4, None],
        [PNR["cecilia"], NAMES["cecilia"], date(2023, 3, 1), "Mentor", 4, 4, 4, 4, None],
        [PNR["david"], NAMES["david"], date(2023, 3, 1), "Självskattning", 4, 4, 4, 4, None],
        [PNR["gun"], NAMES["gun"], date(2023, 4, 3), "Handledare", 4, "fyra", 4, 4, None],
        [PNR["gun"], NAMES["gun"], None, "Handledare", 4, 4, 4, 4, None],
        [
            PNR["eva"],
            NAMES["eva"],
            date(2023, 4, 4),
            "Självskattning",
            None,
            None,
            None,
            None,
            "Ej genomförd",
        ],
    ]
    return SheetSpec("Export", rows)


SKAPA_CSV = (
    "SKAPA-export Mölndal 2023;;;;;;\n"
    "Deltagarnr;Datum;Bedömning;Drivkraft;Mående;Vardagsstruktur;Kommentar\n"
    "12;2023-05-02;Självskattning;7;4;9;\n"
    " 12 ;2023-09-01;Handledare;8;5;10;Klar för praktik\n"
    "A-77;2023-05-03;Coach;;6;;\n"
    ";2023-05-04;Självskattning;5;;;\n"
    "15;1/3 2023;coach;2;2;2,5;\n"
)


# --- writers -------------------------------------------------------------------------------------


def write_xlsx(path: Path, sheets: list[SheetSpec]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for spec in sheets:
        ws = book.create_sheet(spec.name)
        for r, row in enumerate(spec.rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(r, c, value)
                    if isinstance(value, (date, datetime)):
                        ws.cell(r, c).number_format = "yyyy-mm-dd"
        for r0, c0, r1, c1 in spec.merges:
            ws.merge_cells(start_row=r0, start_column=c0, end_row=r1, end_column=c1)
        for r in spec.hidden_rows:
            ws.row_dimensions[r].hidden = True
        for c in spec.hidden_cols:
            ws.column_dimensions[get_column_letter(c)].hidden = True
    book.save(path)


def write_ods(path: Path, sheets: list[SheetSpec]) -> None:
    doc = OpenDocumentSpreadsheet()
    hidden = Style(name="hiddencol", family="table-column")
    hidden.addElement(TableColumnProperties(columnwidth="0.5in"))
    doc.automaticstyles.addElement(hidden)
    for spec in sheets:
        table = Table(name=spec.name)
        width = max(len(r) for r in spec.rows)
        for c in range(1, width + 1):
            col = TableColumn(visibility="collapse") if c in spec.hidden_cols else TableColumn()
            table.addElement(col)
        covered = _covered(spec)
        for r, row in enumerate(spec.rows, start=1):
            tr = TableRow(visibility="collapse") if r in spec.hidden_rows else TableRow()
            for c in range(1, width + 1):
                value = row[c - 1] if c <= len(row) else None
                tr.addElement(
                    CoveredTableCell() if (r, c) in covered else _ods_cell(spec, r, c, value)
                )
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    doc.save(str(path))


def _covered(spec: SheetSpec) -> set[tuple[int, int]]:
    return {
        (r, c)
        for r0, c0, r1, c1 in spec.merges
        for r in range(r0, r1 + 1)
        for c in range(c0, c1 + 1)
        if (r, c) != (r0, c0)
    }


def _ods_cell(spec: SheetSpec, r: int, c: int, value) -> TableCell:
    span = {}
    for r0, c0, r1, c1 in spec.merges:
        if (r, c) == (r0, c0):
            span = {"numbercolumnsspanned": c1 - c0 + 1, "numberrowsspanned": r1 - r0 + 1}
    if value is None:
        return TableCell(**span)
    if isinstance(value, (date, datetime)):
        cell = TableCell(valuetype="date", datevalue=value.isoformat(), **span)
    elif isinstance(value, (int, float)):
        cell = TableCell(valuetype="float", value=value, **span)
    else:
        cell = TableCell(valuetype="string", **span)
    cell.addElement(P(text=str(value)))
    return cell


def to_xls(xlsx: Path, target: Path) -> bool:
    """LibreOffice's conversion, when it is installed; False when it is not."""
    soffice = shutil.which("soffice")
    if soffice is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                soffice,
                "--headless",
                f"-env:UserInstallation=file://{tmp}/profile",
                "--convert-to",
                "xls",
                "--outdir",
                tmp,
                str(xlsx),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        shutil.move(Path(tmp) / f"{xlsx.stem}.xls", target)
    return True


def main() -> None:
    excel, skapa = FILES / "excel", FILES / "skapa"
    excel.mkdir(parents=True, exist_ok=True)
    skapa.mkdir(parents=True, exist_ok=True)
    participants = [sheet_2023(), sheet_2022(), sheet_pivot()]
    write_xlsx(excel / "deltagare.xlsx", participants)
    write_ods(excel / "deltagare.ods", participants)
    if not to_xls(excel / "deltagare.xlsx", excel / "deltagare.xls"):
        print("soffice not found: deltagare.xls left as it is")
    write_xlsx(excel / "plain.xlsx", [plain_list()])
    write_xlsx(excel / "pivot_only.xlsx", [sheet_pivot()])
    write_xlsx(skapa / "skapa_export.xlsx", [skapa_export()])
    (skapa / "skapa_deltagarnr.csv").write_text(SKAPA_CSV, encoding="utf-8")


if __name__ == "__main__":
    main()
