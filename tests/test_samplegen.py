"""The sample inbox (data/sample): it regenerates byte for byte, and holds exactly the faults that
data/sample/README.md and manifest.json document, no more.

The files are read back here without the adapters: a header row is found with the configuration's
header aliases (adapters.config), and values are checked with adapters.personnummer and the
configuration's value mappings.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from synth import sample as sg
from utfall.adapters.config import ConfigStore, SystemConfig, normalise
from utfall.adapters.personnummer import InvalidPersonnummer, parse
from utfall.adapters.values import parse_date

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
INBOX = SAMPLE / "inbox"
CONFIG_DIR = ROOT / "config" / "kommuner"

UNMAPPED_KINDS = (sg.INSATS_UNMAPPED, sg.STATUS_UNMAPPED, sg.END_REASON_UNMAPPED)
# canonical column -> (value field of the configuration, the fault kind that may leave it unmapped)
MAPPED_COLUMNS = {
    "insats": ("insats_typ", sg.INSATS_UNMAPPED),
    "status_3": ("status", sg.STATUS_UNMAPPED),
    "status_6": ("status", sg.STATUS_UNMAPPED),
    "status_12": ("status", sg.STATUS_UNMAPPED),
    "avslutsorsak": ("end_reason", sg.END_REASON_UNMAPPED),
    "remitterad_fran": ("referred_from", None),
    "avstand": ("distance", None),
    "roll": ("role", None),
    "bistandstyp": ("bistand_class", None),
    "bedomning": ("rater", None),
    "fodd_utomlands": ("born_abroad", None),
}
# what a run must quarantine, by fault kind
QUARANTINE = {
    sg.PNR_CHECK: "PNR_INVALID",
    sg.PNR_DATE: "PNR_INVALID",
    sg.START_UNPARSEABLE: "DATE_INVALID",
    sg.END_BEFORE_START: "END_BEFORE_START",
}


# --- reading the sample back ---------------------------------------------------------------------


@dataclass
class Table:
    sheet: str | None
    headers: list[str]
    columns: list[str | None]  # the canonical column each header names
    rows: list[list[object]]  # data rows: no title, blank or 'Summa' rows

    def values(self, canonical: str) -> list[object]:
        if canonical not in self.columns:
            return []
        i = self.columns.index(canonical)
        return [row[i] if i < len(row) else None for row in self.rows]


def text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, (date, datetime)):
        return cell.isoformat()[:10]
    return str(cell).strip()


def decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def header_at(cells: list[object], config: SystemConfig) -> list[str | None] | None:
    columns = [config.column_for(c) if isinstance(c, str) and c.strip() else None for c in cells]
    return columns if sum(c is not None for c in columns) >= 2 else None


def is_data(row: list[object]) -> bool:
    filled = [c for c in row if text(c)]
    return bool(filled) and not normalise(text(filled[0])).startswith(("summa", "totalt"))


def text_tables(path: Path, config: SystemConfig) -> list[Table]:
    lines = re.split(r"\r\n|\n", decode(path.read_bytes()))
    for i, line in enumerate(lines[:15]):
        for sep in (";", "\t"):
            headers = line.split(sep)
            columns = header_at(headers, config)
            if columns:
                rows = [x.split(sep) for x in lines[i + 1 :] if x.strip()]
                return [Table(None, headers, columns, rows)]
    raise AssertionError(f"{path.name}: no header row")


def workbook_tables(path: Path, config: SystemConfig) -> list[Table]:
    book = CalamineWorkbook.from_path(str(path))
    tables = []
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for i, row in enumerate(rows[:15]):
            columns = header_at(row, config)
            if columns:
                data = [r for r in rows[i + 1 :] if is_data(r)]
                tables.append(Table(name, [text(c) for c in row], columns, data))
                break
    return tables


def read_file(rel: str, configs: ConfigStore) -> list[Table]:
    kommun, system = rel.split("/")[:2]
    config = configs.for_system(kommun, system)
    path = INBOX / rel
    if path.suffix in (".xlsx", ".ods"):
        return workbook_tables(path, config)
    return text_tables(path, config)


def written_faults(entry: dict) -> Counter:
    """The faults a file's content holds (a duplicate holds its original's)."""
    return Counter(entry.get("content_faults", entry["faults"]))


def only(faults: Counter, kinds) -> dict:
    return {k: v for k, v in faults.items() if k in kinds and v}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def configs() -> ConfigStore:
    return ConfigStore(CONFIG_DIR)


@pytest.fixture(scope="module")
def sample(manifest, configs) -> dict[str, tuple[dict, list[Table]]]:
    """Every readable file: its manifest entry and its tables."""
    return {
        rel: (entry, read_file(rel, configs))
        for rel, entry in manifest["files"].items()
        if entry["kind"] != "corrupt"
    }


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- determinism and bookkeeping -----------------------------------------------------------------


def test_regenerating_gives_the_same_bytes(tmp_path, manifest):
    fresh = sg.generate(tmp_path / "inbox", manifest["seed"])
    assert digests(tmp_path / "inbox") == digests(INBOX)
    assert sg.manifest_json(fresh) == (SAMPLE / "manifest.json").read_text(encoding="utf-8")


def test_workbooks_carry_fixed_timestamps(manifest):
    for rel, entry in manifest["files"].items():
        if entry["kind"] == "corrupt" or not rel.endswith((".xlsx", ".ods")):
            continue
        with zipfile.ZipFile(INBOX / rel) as archive:
            assert {i.date_time for i in archive.infolist()} == {sg.ZIP_TIME}, rel
            if rel.endswith(".xlsx"):
                core = archive.read("docProps/core.xml")
                assert core.count(sg.DOC_TIME) == 2, rel


def test_the_manifest_lists_every_file_in_the_inbox_layout(manifest):
    assert set(manifest["files"]) == set(digests(INBOX))
    for rel in manifest["files"]:
        assert re.fullmatch(r"\d{4}/(procapita|skapa|excel)/[^/]+", rel), rel
    assert {rel[:4] for rel in manifest["files"]} == {"1480", "1384", "1415", "1402", "1401"}


def test_totals_add_up_and_the_readme_shows_them(manifest):
    totals = Counter()
    for entry in manifest["files"].values():
        totals.update(entry["faults"])
    assert dict(totals) == manifest["totals"]
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert sg.fault_table(manifest) in readme
    reasons = Counter()
    for kind, reason in QUARANTINE.items():
        reasons[reason] += totals[kind]
    assert f"quarantines {sum(reasons.values())} rows in all" in readme
    for reason, n in reasons.items():
        assert f"{n} `{reason}`" in readme


def test_configuration_is_valid_and_1401_has_none(configs):
    assert sorted(configs.kommuner) == ["1384", "1402", "1415", "1480"]
    assert not (CONFIG_DIR / "1401.yaml").exists()


def test_a_few_hundred_people_per_municipality(manifest):
    for kommun, people in manifest["people"].items():
        adults = people["participants"] + people["households_on_bistand"] + people["couples"]
        assert adults >= 150, kommun


# --- the faults, read back from the files ------------------------------------------------------


def pnr_problem(cell: object) -> str | None:
    try:
        parse(text(cell), date.today())
    except InvalidPersonnummer as exc:
        if "check digit" in str(exc):
            return sg.PNR_CHECK
        if "date" in str(exc):
            return sg.PNR_DATE
        return f"unexpected: {exc}"
    return None


def test_every_personnummer_is_valid_or_a_documented_fault(sample):
    valid = set()
    for rel, (entry, tables) in sample.items():
        found = Counter()
        for table in tables:
            for cell in table.values("personnummer"):
                if not text(cell):
                    continue
                problem = pnr_problem(cell)
                if problem:
                    found[problem] += 1
                else:
                    valid.add(parse(text(cell), date.today()).digits12)
        assert dict(found) == only(written_faults(entry), (sg.PNR_CHECK, sg.PNR_DATE)), rel
    assert len(valid) > 1000


def test_numbers_that_lost_a_leading_zero_are_documented(sample):
    total = 0
    for rel, (entry, tables) in sample.items():
        nine = sum(
            1
            for table in tables
            for cell in table.values("personnummer")
            if isinstance(cell, (int, float)) and len(text(cell)) == 9
        )
        assert nine == entry["features"].get(sg.PNR_LOST_ZERO, 0), rel
        total += nine
    assert total > 0


def test_aged_100_plus_appears_only_in_bistand_files(sample):
    for rel, (entry, tables) in sample.items():
        plus = sum(1 for t in tables for c in t.values("personnummer") if "+" in text(c))
        assert plus == entry["features"].get("pnr_plus", 0), rel
        assert not plus or rel.startswith("1415/procapita/"), rel


def test_row_counts_match_the_manifest(sample):
    for rel, (entry, tables) in sample.items():
        assert sum(len(t.rows) for t in tables) == entry["rows"], rel


def test_every_value_maps_except_the_deliberate_ones(sample, manifest, configs):
    for rel, (entry, tables) in sample.items():
        config = configs.for_system(*rel.split("/")[:2])
        unmapped = Counter()
        for table in tables:
            for column, (fld, kind) in MAPPED_COLUMNS.items():
                for value in map(text, table.values(column)):
                    if value and config.map_value(fld, value) is None:
                        assert kind and value in manifest["fault_values"][kind], (rel, column)
                        unmapped[kind] += 1
            for value in map(text, table.values("forsorjningshinder")):
                without_code = re.sub(r"^\d+\s+", "", value)
                assert config.map_value("hinder", without_code), (rel, value)
        assert dict(unmapped) == only(written_faults(entry), UNMAPPED_KINDS), rel


def test_skapa_dimensions_are_known(sample, configs):
    for rel, (entry, tables) in sample.items():
        if entry["kind"] != "skapa":
            continue
        config = configs.for_system(*rel.split("/")[:2])
        for table in tables:
            for header, column in zip(table.headers, table.columns, strict=True):
                if column is None and header:
                    name = re.sub(r"\s*\(\d+-\d+\)$", "", header)
                    known = normalise(name) in config.dimensions
                    assert known or config.map_value("dimension", name), (rel, header)


def date_problem(start_cell: object, end_cell: object) -> str | None:
    try:
        start = parse_date(start_cell)
    except ValueError:
        return sg.START_UNPARSEABLE
    end = parse_date(end_cell, end_of_month=True)
    return sg.END_BEFORE_START if start and end and end < start else None


def test_dates_hold_exactly_the_documented_faults(sample):
    kinds = (sg.START_UNPARSEABLE, sg.END_BEFORE_START)
    for rel, (entry, tables) in sample.items():
        found = Counter()
        for table in tables:
            pairs = zip(
                table.values("startdatum"), table.values("slutdatum") or [None] * len(table.rows)
            )
            found.update(p for p in (date_problem(s, e) for s, e in pairs) if p)
        assert dict(found) == only(written_faults(entry), kinds), rel


# --- the deliberate shapes ----------------------------------------------------------------------


def test_one_duplicate_and_one_corrupt_file(manifest):
    copies = {rel: e["duplicate_of"] for rel, e in manifest["files"].items() if "duplicate_of" in e}
    assert len(copies) == 1
    for copy, original in copies.items():
        assert (INBOX / copy).read_bytes() == (INBOX / original).read_bytes()
        assert copy > original  # sorted after it: the copy is the one recorded as duplicate
    corrupt = [rel for rel, e in manifest["files"].items() if e["kind"] == "corrupt"]
    assert len(corrupt) == 1 and corrupt[0].startswith("1384/excel/")
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(INBOX / corrupt[0])


def test_the_1480_list_repeats_procapita_insatser(sample, configs):
    def keys(rel: str, system: str) -> list[tuple]:
        config = configs.for_system("1480", system)
        (table,) = sample[rel][1]
        return [
            (text(p), config.map_value("insats_typ", text(i)), parse_date(s), parse_date(e))
            for p, i, s, e in zip(
                *(table.values(c) for c in ("personnummer", "insats", "startdatum", "slutdatum")),
                strict=True,
            )
        ]

    procapita = set(keys("1480/procapita/insatser_2021-2024.csv", "procapita"))
    excel = keys("1480/excel/Returbutiken uppföljning.xlsx", "excel")
    entry = sample["1480/excel/Returbutiken uppföljning.xlsx"][0]
    assert len(excel) == entry["features"]["repeats_procapita_insats"] > 0
    assert all(key in procapita for key in excel)


def test_some_1402_assessments_link_to_no_list(sample):
    (listed,) = sample["1402/excel/Deltagarlista Partille.xlsx"][1]
    entry, (skapa,) = sample["1402/skapa/skapa_export_partille.csv"]
    refs = {text(c) for c in listed.values("deltagarnr")}
    unlinked = [text(c) for c in skapa.values("deltagarnr") if text(c) not in refs]
    assert len(unlinked) == entry["features"]["unlinked_rows"] > 0
    assert len(set(unlinked)) == entry["features"]["unlinked_deltagarnr"]


def test_bistand_covers_2021_01_to_2024_06_wherever_there_is_bistand(sample):
    months = defaultdict(set)
    for rel, (entry, tables) in sample.items():
        if entry["kind"] == "procapita_fs":
            for table in tables:
                months[rel[:4]].update(
                    text(v).replace("-", "") for v in table.values("avser_manad")
                )
    assert sorted(months) == ["1384", "1415", "1480"]
    for kommun, seen in months.items():
        assert min(seen) == "202101" and max(seen) == "202406" and len(seen) == 42, kommun
