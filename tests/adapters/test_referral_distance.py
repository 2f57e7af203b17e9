"""Who referred the participant and the distance to the labour market (schema.md's referred_from
and distance lists), read from a Procapita insats export and an Excel list with the headers and
terms of sources.md, and a local term added by configuration."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.adapters.make_spreadsheet_fixtures import SheetSpec, write_xlsx
from utfall.adapters import excel, procapita
from utfall.adapters.base import SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser

pytestmark = pytest.mark.adapter
TODAY = date(2024, 6, 1)
PSEUDO = Pseudonymiser(b"adapter tests only - not a secret key", "DEMO")
PNRS = ["19850312-2346", "19920315-4324", "19670101-5551", "19761224-5188"]


def column(frame: pd.DataFrame, name: str) -> list:
    return [None if pd.isna(v) else v for v in frame[name]]


def test_procapita_kategori_and_remitterad_fran(tmp_path: Path):
    lines = ["Personnummer;Insats;Startdatum;Slutdatum;Remitterad från;Kategori;Handläggare",
             f"{PNRS[0]};Praktik;2023-01-16;2023-06-30;Försäkringskassan;Grön;Karin Karlsson",
             f"{PNRS[1]};Praktik;2023-02-01;;soc;  GUL ;Karin Karlsson",
             f"{PNRS[2]};Praktik;2023-03-01;;Självmant;röd;Bo Berg",
             f"{PNRS[3]};Praktik;2023-03-01;;;Lila;Bo Berg"]
    path = tmp_path / "insatser.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    source = SourceFile(path, "1480/procapita/insatser.csv", "1480", "procapita")
    r = procapita.read(source, ConfigStore(None).for_system("1480", "procapita"), PSEUDO, TODAY)
    frame = r.frame("procapita_insats")
    assert column(frame, "referred_from") == ["FK", "IFO", "EGEN", None]
    assert column(frame, "distance_local") == ["Grön", "GUL", "röd", "Lila"]
    assert column(frame, "distance") == ["NARA", "OSAKER", "LANGT", None]
    assert dict(r.unmapped) == {("distance", "Lila"): 1}


def test_excel_farg_and_avstand_with_a_local_term(tmp_path: Path):
    header = ["Personnummer", "Insats", "Startdatum", "Remiss från", "Avstånd till arbetsmarknaden"]
    rows = [header,
            [PNRS[0], "Praktik", "2023-01-16", "Arbetsförmedlingen", "Nära arbetsmarknaden"],
            [PNRS[1], "Praktik", "2023-02-01", "Psykiatrin", "Långt ifrån"],
            [PNRS[2], "Praktik", "2023-03-01", None, "Oklar arbetsförmåga"],
            [PNRS[3], "Praktik", "2023-03-01", "IFO", "Steg 3"]]
    path = tmp_path / "deltagare.xlsx"
    write_xlsx(path, [SheetSpec("2023", rows)])
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "1384.yaml").write_text(
        'kommun_kod: "1384"\nvalues:\n  distance:\n    exact:\n      "Steg 3": LANGT\n',
        encoding="utf-8")
    source = SourceFile(path, "1384/excel/deltagare.xlsx", "1384", "excel")
    r = excel.read(source, ConfigStore(config_dir).for_system("1384", "excel"), PSEUDO, TODAY)
    frame = r.frame("excel_participant")
    assert column(frame, "referred_from") == ["AF", "OVRIGT", None, "IFO"]
    assert column(frame, "distance") == ["NARA", "LANGT", "OSAKER", "LANGT"]
    assert not r.unmapped
