"""Build the header-layout workbooks of tests/adapters/files/headers, saved by LibreOffice.

    .venv/bin/python -m tests.adapters.make_header_fixtures

Each layout is first written with openpyxl (cells, merged ranges, line breaks in cells), then
opened and saved again by LibreOffice (`soffice --headless --convert-to xlsx`, and `ods` / `xls`
for the first layout), so that the committed files are what a real spreadsheet application
writes: its own merge records, shared strings and styles. The tests read the committed files and
do not need LibreOffice; this script needs it (apt-get install libreoffice-calc). Every
personnummer is one of make_spreadsheet_fixtures.PNR (made up).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from tests.adapters.make_spreadsheet_fixtures import NAMES, PNR, SheetSpec, write_xlsx

HEADERS = Path(__file__).with_name("files") / "headers"


def _who(key: str) -> list:
    return [PNR[key], NAMES[key]]


def merged_from_above() -> SheetSpec:
    """'Avslutsorsak' merged over the header row and the blank row above it (F2:F3), its text in
    F2, F3 empty: the layout that lost a municipality's end reasons."""
    rows = [
        ["Deltagare Jobbcentrum 2023", None, None, None, None, None, None],
        [None, None, None, None, None, "Avslutsorsak", None],
        ["Personnummer", "Namn", "Insats", "Startdatum", "Slutdatum", None, "Status 6 mån"],
        _who("anna") + ["Arbetsträning", date(2023, 1, 9), date(2023, 4, 28), "Arbete", "Jobb"],
        _who("gun") + ["Praktik", date(2023, 2, 1), date(2023, 6, 30), "Studier", None],
        _who("hugo") + ["SFI", date(2023, 3, 1), None, None, None],
        _who("fredrik") + ["Praktik", date(2023, 3, 15), date(2023, 5, 31), "Avbrott", "-"],
    ]
    return SheetSpec("2023", rows, merges=[(1, 1, 1, 7), (2, 6, 3, 6)])


def status_merged_over_horizons() -> SheetSpec:
    """'Status' merged across three columns over '3 mån', '6 mån', '12 mån'; the other header
    cells merged down over both header rows."""
    rows = [
        ["Personnummer", "Insats", "Startdatum", "Slutdatum", "Status", None, None],
        [None, None, None, None, "3 mån", "6 mån", "12 mån"],
        [PNR["anna"], "Praktik", date(2022, 8, 15), date(2022, 12, 16), "Studier", None, "Arbete"],
        [PNR["gun"], "Lönebidrag", date(2022, 5, 2), date(2022, 11, 30), "Extratjänst",
         "Timanställd", "Okänt"],
    ]  # fmt: skip
    merges = [(1, c, 2, c) for c in range(1, 5)] + [(1, 5, 1, 7)]
    return SheetSpec("2022", rows, merges=merges)


def status_over_horizons_unmerged() -> SheetSpec:
    """'Status' typed above '3 mån' with blank cells to its right, nothing merged."""
    rows = [
        ["Personnummer", "Startdatum", "Slutdatum", "Status", None, None],
        [None, None, None, "3 mån", "6 mån", "12 mån"],
        [PNR["cecilia"], date(2023, 1, 2), date(2023, 3, 31), "Arbetslös", "Arbete", None],
    ]
    return SheetSpec("Blad1", rows)


def group_row_above() -> SheetSpec:
    """A group label 'Uppföljning' merged over the follow-up columns in the row above the header
    row, and 'Avslutsorsak' merged down beside it from that row."""
    rows = [
        [None, None, None, "Avslutsorsak", "Uppföljning", None, None],
        ["Personnummer", "Startdatum", "Slutdatum", None, "3 mån", "6 mån", "12 mån"],
        [PNR["anna"], date(2023, 1, 9), date(2023, 4, 28), "Arbete", "Jobb", "Arbete", None],
        [PNR["hugo"], date(2023, 2, 1), date(2023, 5, 31), "Flyttat", None, None, "Studier"],
    ]
    return SheetSpec("Uppföljning", rows, merges=[(1, 4, 2, 4), (1, 5, 1, 7)])


def line_breaks() -> SheetSpec:
    """Header cells with line breaks, as typed with Alt+Enter."""
    rows = [
        ["Person-\nnummer", "Start\ndatum", "Slut\ndatum", "Avslut-\norsak", "Status\n3 mån"],
        [PNR["fredrik"], date(2023, 1, 2), date(2023, 2, 28), "Arbete", "Anställd"],
        [PNR["gun"], "2023-03", "2023-05", "Studier", "SFI"],
    ]
    return SheetSpec("Lista", rows)


def unknown_headers() -> SheetSpec:
    """A misspelt 'Avslutsorsk' (an alias nearly matches) and a 'Kommentar' nothing matches."""
    rows = [
        ["Personnummer", "Namn", "Startdatum", "Slutdatum", "Avslutsorsk", "Kommentar"],
        _who("anna") + [date(2023, 1, 9), date(2023, 4, 28), "Arbete", "Bra"],
    ]
    return SheetSpec("Deltagare", rows)


LAYOUTS = {
    "avslutsorsak_fran_raden_ovanfor": ([merged_from_above()], ("xlsx", "ods", "xls")),
    "status_sammanfogad": ([status_merged_over_horizons()], ("xlsx",)),
    "status_utan_sammanfogning": ([status_over_horizons_unmerged()], ("xlsx",)),
    "uppfoljning_ovanfor": ([group_row_above()], ("xlsx",)),
    "radbrytningar": ([line_breaks()], ("xlsx",)),
    "okanda_rubriker": ([unknown_headers()], ("xlsx",)),
}


def save_with_libreoffice(source: Path, fmt: str, target: Path) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:
        sys.exit("soffice not found: install LibreOffice (apt-get install libreoffice-calc)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [soffice, "--headless", f"-env:UserInstallation=file://{tmp}/profile",
             "--convert-to", fmt, "--outdir", f"{tmp}/out", str(source)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        shutil.move(Path(tmp) / "out" / f"{source.stem}.{fmt}", target)


def main() -> None:
    HEADERS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sheets, formats) in LAYOUTS.items():
            written = Path(tmp) / f"{name}.xlsx"
            write_xlsx(written, sheets)
            for fmt in formats:
                save_with_libreoffice(written, fmt, HEADERS / f"{name}.{fmt}")


if __name__ == "__main__":
    main()
