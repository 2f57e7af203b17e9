"""Exports for the managers' network: the published marts.kpi_published only (never the
analysts' exact table)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

DEFAULT_MIN_CELL = 5
PUBLISHED_COLUMNS = ("kpi_id, kommun_kod, period, period_type, dimension, dimension_value, "
                     "numerator, denominator, value, ci_low, ci_high, suppressed")


def published_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        f"select {PUBLISHED_COLUMNS} from marts.kpi_published "
        "order by kpi_id, kommun_kod, period_type, period, dimension, dimension_value"
    ).df()


def key_label(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("select key_label from meta.run order by finished_at desc limit 1").fetchone()
    return row[0] if row else None


def run_min_cell(con: duckdb.DuckDBPyConnection) -> int:
    """The smallest published cell of the latest run (the default when none is recorded)."""
    row = con.execute("select min_cell from meta.run order by finished_at desc limit 1").fetchone()
    return DEFAULT_MIN_CELL if row is None or row[0] is None else int(row[0])


def export(db_path: Path, out_dir: Path, formats: tuple[str, ...] = ("csv", "xlsx")) -> list[Path]:
    """Write kpi_published (and the KPI catalogue) as CSV and/or Excel; files built with the demo
    key carry DEMO in their name and say so inside."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        values = published_frame(con)
        catalogue = con.execute("select * from marts.kpi order by kpi_id").df()
        demo = key_label(con) == "DEMO"
        min_cell = run_min_cell(con)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "utfall-kpi-DEMO" if demo else "utfall-kpi"
    written = []
    if "csv" in formats:
        path = out_dir / f"{stem}.csv"
        values.to_csv(path, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        written.append(path)
    if "xlsx" in formats:
        path = out_dir / f"{stem}.xlsx"
        with pd.ExcelWriter(path, engine="openpyxl") as xl:
            values.to_excel(xl, sheet_name="kpi_published", index=False)
            catalogue.to_excel(xl, sheet_name="kpi", index=False)
            pd.DataFrame({"om": [_about(demo, min_cell)]}).to_excel(xl, sheet_name="om", index=False)
        written.append(path)
    for path in written:
        os.chmod(path, 0o600)
    return written


def _about(demo: bool, min_cell: int = DEFAULT_MIN_CELL) -> str:
    text = ("Publicerade nyckeltal från utfall (marts.kpi_published). Antalen är lätt slumpmässigt "
            "förändrade med cellnyckelmetoden (som ABS och ONS använder): högst 8 uppåt eller "
            "nedåt, samma grupp av personer alltid på samma sätt, för att skydda enskilda "
            "personer; därför går delarna inte alltid exakt jämnt upp med totalen. Andelar "
            "räknas på de förändrade antalen; medelvärden och medianer är exakta. En rad är "
            f"undertryckt (suppressed = true) när det förändrade underlaget är under {min_cell}, "
            f"eller under {2 * min_cell} med 0 % eller 100 %; förväntade värden när färre än 15 "
            "avslut ingår. Inga andra värden döljs (ingen sekundär undertryckning). "
            "Uppdelningar finns per år, kvartal bara för totalen.")
    if demo:
        text += " DEMODATA: byggd med den publika demonyckeln på påhittade personer."
    return text
