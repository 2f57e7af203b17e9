"""Text files cannot lose lines (issue 14): one physical line is one row; a line that is not a
row of the header's layout is quarantined under its own number, never merged into another; a
file with too many such lines is rejected whole.

Files here are written as exports are (Windows-1252 or UTF-8, ';' or tab, CRLF), with invented
personnummer (tests/adapters/files/procapita/fixtures.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.adapters.files.procapita import fixtures as fx
from utfall.adapters import procapita, skapa
from utfall.adapters.base import AdapterResult, FileRejected, Reason, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser
from utfall.adapters.textfile import MAX_BAD_LINES, MAX_BAD_SHARE

pytestmark = pytest.mark.adapter

TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
FS_HEADER = ["Personnummer", "Hushållsnummer", "Roll", "Avser månad", "Belopp", "Biståndstyp"]
ADULTS = [fx.P1, fx.P4, fx.P5, fx.P7]
UNCLOSED = 'a quote (") opens a value and does not close before the end of the line'


def read(path: Path, system: str = "procapita") -> AdapterResult:
    source = SourceFile(path, f"1480/{system}/{path.name}", "1480", system)
    adapter = {"procapita": procapita, "skapa": skapa}[system]
    return adapter.read(source, ConfigStore(None).for_system("1480", system), PSEUDO, TODAY)


def write(tmp_path: Path, name: str, lines: list[str], encoding: str, eol: str = "\r\n") -> Path:
    path = tmp_path / name
    path.write_bytes("".join(line + eol for line in lines).encode(encoding))
    return path


def fs_line(i: int, amount: str = "1 000,00", kind: str = "Riksnorm") -> str:
    return ";".join([fx.dashed(ADULTS[i % 4]), f"H{i % 50}", "Sökande", f"2023-{i % 12 + 1:02d}",
                     amount, kind])


def lines_of(result: AdapterResult) -> list[int]:
    return [int(n) for n in result.frame("procapita_fs_line")["row_number"]]


def bad(result: AdapterResult) -> list[tuple[int, Reason, str]]:
    return [(q.row_number, q.reason, q.message) for q in result.quarantine]


# --- the case of the issue -----------------------------------------------------------------------


def test_an_unclosed_quote_costs_its_own_line_only(tmp_path):
    """2,305 lines, one '"' that never closes on line 1,001: before, it swallowed the 1,305
    lines after it into one text cell. Now that line alone is quarantined; every other line
    loads, and the amounts add up to the file's."""
    lines = [";".join(FS_HEADER)] + [fs_line(i, f"{100 + i},50") for i in range(2304)]
    lines[1000] = lines[1000].replace("Sökande", '"Sökande')
    path = write(tmp_path, "fs_2023.csv", lines, "cp1252")
    r = read(path)
    assert bad(r) == [(1001, Reason.LINE_MALFORMED, f"1480/procapita/fs_2023.csv line 1001: {UNCLOSED}")]
    assert lines_of(r) == [n for n in range(2, 2306) if n != 1001]
    expected = sum(Decimal(f"{100 + i}.50") for i in range(2304)) - Decimal("1099.50")
    assert sum(r.frame("procapita_fs_line")["amount"]) == expected
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (2304, 2303, 0)


def test_quoted_values_with_the_delimiter_and_quotes_load_beside_bad_lines(tmp_path):
    """Windows-1252, ';', a title line: quoted Biståndstyp with ';' and '""' in it load as
    written; an unclosed quote, a short line, a line with a filled cell past the header are
    quarantined by number; a repeated header, a total line and a blank line are skipped."""
    header = ";".join(FS_HEADER)
    lines = [
        "Utbetalningar ekonomiskt bistånd 2023",  # 1
        header,  # 2
        fs_line(0, kind='"Boende; hyra"'),  # 3
        fs_line(1, kind='"Riksnorm ""utökad"""'),  # 4
        fs_line(2).replace("H2", '"H2'),  # 5: unclosed, mid-line
        fs_line(3, kind="Riks\"norm"),  # 6: a quote inside an unquoted value is a character
        ";".join(fs_line(4).split(";")[:4]),  # 7: short of Belopp and Biståndstyp
        fs_line(5) + ";Anna Andersson",  # 8: a filled cell past the header
        header,  # 9: repeated (two exports pasted together)
        fs_line(6) + ";;",  # 10: a trailing delimiter: blank cells past the header
        "",  # 11
        "Summa;;;;7 000,00",  # 12: a total line, short as they are
        fs_line(7, kind='"Hushållsel'),  # 13: unclosed at the end of the file
    ]
    r = read(write(tmp_path, "fs.csv", lines, "cp1252"))
    name = "1480/procapita/fs.csv"
    assert bad(r) == [
        (5, Reason.LINE_MALFORMED, f"{name} line 5: {UNCLOSED}"),
        (7, Reason.LINE_MALFORMED, f"{name} line 7: 4 fields where the header has 6"),
        (8, Reason.LINE_MALFORMED, f"{name} line 8: 7 fields where the header has 6"),
        (13, Reason.LINE_MALFORMED, f"{name} line 13: {UNCLOSED}"),
    ]
    frame = r.frame("procapita_fs_line")
    assert lines_of(r) == [3, 4, 6, 10]
    assert list(frame["bistandstyp_local"]) == ["Boende; hyra", 'Riksnorm "utökad"', 'Riks"norm',
                                                "Riksnorm"]
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (12, 4, 4)  # title, header, blank, total
    assert r.reconciles()
    assert "Anna Andersson" not in str(r.quarantine) + str(r.notes)


def test_utf8_tab_insats_export_with_repeated_headers_and_lf(tmp_path):
    header = "Personnummer\tInsats\tStartdatum\tSlutdatum"
    lines = [header]
    for page in range(3):  # a report printed page by page repeats its header
        lines += [f"{fx.dashed(ADULTS[i])}\tPraktik på café\t2023-0{page + 1}-0{i + 1}\t"
                  for i in range(4)]
        lines += ["Totalt\t4", header]
    lines[8] = f'{fx.dashed(fx.P1)}\t"Arbetsträning\t2023-01-20\t2023-03-01'  # line 9
    r = read(write(tmp_path, "insatser.txt", lines, "utf-8", eol="\n"))
    frame = r.frame("procapita_insats")
    assert [int(n) for n in frame["row_number"]] == [2, 3, 4, 5, 8, 10, 11, 14, 15, 16, 17]
    assert set(frame["insats_local"]) == {"Praktik på café"}
    assert bad(r) == [(9, Reason.LINE_MALFORMED, f"1480/procapita/insatser.txt line 9: {UNCLOSED}")]
    # skipped: the totals on lines 6, 12, 18 and the headers repeated on lines 7, 13, 19
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (18, 11, 6)


def test_old_mac_line_ends_keep_their_numbers(tmp_path):
    lines = [";".join(FS_HEADER), fs_line(0), fs_line(1, kind='"Boende'), fs_line(2)]
    r = read(write(tmp_path, "fs_cr.csv", lines, "cp1252", eol="\r"))
    assert lines_of(r) == [2, 4]
    assert [(q.row_number, q.reason) for q in r.quarantine] == [(3, Reason.LINE_MALFORMED)]


def test_skapa_text_export_sets_bad_lines_aside_too(tmp_path):
    lines = ["Deltagarnr;Datum;Bedömning;Motivation;Hälsa",
             "12;2023-05-02;Självskattning;4;3",
             '13;2023-05-02;"Handledare;4;3',
             "14;2023-05-03;Handledare;5",
             "Deltagarnr;Datum;Bedömning;Motivation;Hälsa",
             "15;2023-05-04;Självskattning;2;2"]
    r = read(write(tmp_path, "skapa.csv", lines, "utf-8"), "skapa")
    assert sorted({int(n) for n in r.frame("skapa_assessment")["row_number"]}) == [2, 6]
    assert [(q.row_number, q.reason) for q in r.quarantine] == [
        (3, Reason.LINE_MALFORMED), (4, Reason.LINE_MALFORMED)]
    assert (r.rows_read, r.rows_loaded, r.rows_skipped) == (5, 2, 1)


# --- too many bad lines: the file is rejected ----------------------------------------------------


@pytest.mark.parametrize(("data_lines", "bad_lines", "rejected"), [
    (100, MAX_BAD_LINES, False),  # 10 % but only 10 lines: quarantined one by one
    (300, MAX_BAD_LINES + 1, False),  # 11 lines but 3.7 %
    (220, MAX_BAD_LINES + 1, False),  # 11 of 220 is 5 %: not more than the share
    (200, MAX_BAD_LINES + 1, True),  # 11 of 200: 5.5 %
])
def test_a_file_with_many_bad_lines_is_rejected_whole(tmp_path, data_lines, bad_lines, rejected):
    assert MAX_BAD_SHARE == 0.05
    lines = [";".join(FS_HEADER)] + [fs_line(i) for i in range(data_lines)]
    for n in range(bad_lines):  # every fifth line from line 3 has a stray quote
        lines[2 + 5 * n] = lines[2 + 5 * n].replace("Sökande", '"Sökande')
    path = write(tmp_path, "trasig.csv", lines, "cp1252")
    if not rejected:
        r = read(path)
        assert [q.row_number for q in r.quarantine] == [3 + 5 * n for n in range(bad_lines)]
        assert r.rows_loaded == data_lines - bad_lines
        return
    with pytest.raises(FileRejected) as caught:
        read(path)
    assert str(caught.value) == (
        f"1480/procapita/trasig.csv: 11 of the 200 lines below the header do not parse as rows "
        f"of 6 fields separated by ';' (first: line 3 ({UNCLOSED}), line 8 ({UNCLOSED}), line 13 "
        f"({UNCLOSED})); the file seems damaged or saved with another layout: nothing of it was "
        f"loaded"
    )


def test_a_file_saved_with_another_delimiter_inside_is_rejected(tmp_path):
    """Lines re-saved with ',' below a ';' header: each is one long field, not a row."""
    lines = [";".join(FS_HEADER)] + [fs_line(i).replace(";", ",") for i in range(30)]
    with pytest.raises(FileRejected, match=r"30 of the 30 lines below the header .*\(1 field "
                                           r"where the header has 6\)"):
        read(write(tmp_path, "komma.csv", lines, "utf-8"))


# --- the property: every physical line accounted for once ----------------------------------------

KINDS = ("good", "good", "good", "good", "unclosed", "short", "long", "blank", "delimiters",
         "header", "total")
TEXTS = ["Riksnorm", "Boende; hyra", 'Riks"norm', '"Hyra" och el', "Hushållsel", "El;vatten;värme",
         'sa "ja"; sedan', "  Tandvård  "]


@dataclass
class Expected:
    above: int  # title and blank lines above the header
    loaded: dict[int, tuple[Decimal, str]]  # line -> (amount, Biståndstyp as it loads)
    bad: list[int]
    skipped: int  # below the header
    below_header: int


def _quoted(cells: list[str], delimiter: str, quoting: int) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="").writerow(cells)
    return out.getvalue()


@st.composite
def fs_files(draw) -> tuple[bytes, Expected]:
    delimiter = draw(st.sampled_from([";", "\t"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    header = delimiter.join(FS_HEADER)
    titles = draw(st.sampled_from([[], ["Utbetalningar 2023"], ["Rapport", ""]]))
    lines, expected = [*titles, header], Expected(len(titles), {}, [], 0, 0)
    for i, kind in enumerate(draw(st.lists(st.sampled_from(KINDS), max_size=60))):
        number = len(lines) + 1
        text = draw(st.sampled_from(TEXTS))
        cells = [fx.dashed(ADULTS[i % 4]), f"H{i}", "Sökande", f"2023-{i % 12 + 1:02d}",
                 f"{i},50", text]
        if kind == "good":
            lines.append(_quoted(cells, delimiter, quoting))
            expected.loaded[number] = (Decimal(f"{i}.50"), text.strip())
        elif kind == "unclosed":  # plain cells, one of them opened by a quote that never closes
            plain = [c.replace('"', "").replace(delimiter, " ") for c in cells]
            # often the last cell: only there can Arrow read an open quote as a row of the
            # header's width (at the end of the file, where it swallows nothing)
            at = draw(st.just(len(plain) - 1) | st.integers(0, len(plain) - 1))
            plain[at] = '"' + plain[at]
            lines.append(delimiter.join(plain))
            expected.bad.append(number)
        elif kind in ("short", "long"):
            cut = cells[:draw(st.integers(1, 5))] if kind == "short" else cells + ["x"]
            lines.append(_quoted(cut, delimiter, quoting))
            expected.bad.append(number)
        else:
            lines.append({"blank": "", "delimiters": delimiter * 5, "header": header,
                          "total": delimiter.join(["Summa", "", "", "", "9 999,00"])}[kind])
            expected.skipped += 1
        expected.below_header += 1
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    # a blank last line exists only with a line break after it
    text = eol.join(lines) + (eol if lines[-1] == "" or draw(st.booleans()) else "")
    return text.encode(draw(st.sampled_from(["cp1252", "utf-8", "utf-8-sig"]))), expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=fs_files())
@example(file=(  # found by the explore profile: the one line below the header is open at its end
    ";".join(FS_HEADER).encode("cp1252") + b"\r\n" + fs_line(0, kind='"Riksnorm').encode("cp1252"),
    Expected(0, {}, [2], 0, 1)))
def test_every_physical_line_is_loaded_quarantined_or_skipped_once(tmp_path, file):
    data, expected = file
    path = tmp_path / "fs.csv"
    path.write_bytes(data)
    too_many = (len(expected.bad) > MAX_BAD_LINES
                and len(expected.bad) > MAX_BAD_SHARE * expected.below_header)
    if too_many:
        with pytest.raises(FileRejected, match="do not parse as rows"):
            read(path)
        return
    r = read(path)
    frame = r.frame("procapita_fs_line")
    loaded = dict(zip(map(int, frame["row_number"]),
                      zip(frame["amount"], frame["bistandstyp_local"], strict=True), strict=True))
    assert loaded == expected.loaded  # exactly the well-formed lines, with their values
    assert [(q.row_number, q.reason) for q in r.quarantine] == [
        (n, Reason.LINE_MALFORMED) for n in expected.bad]
    assert r.rows_skipped == expected.above + expected.skipped
    assert r.rows_read == expected.above + expected.below_header
    assert r.reconciles()
