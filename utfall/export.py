"""Exports: the published marts.kpi_published for the managers' network, as a Swedish analyst opens
it in Excel, and the yearly rows in the shape of Kolada's open data for the analysts' own tools.

Everything here reads the published table. The analysts' exact table is read only on request
(`--format kolada --exact`), through utfall.exact, so that this module never names it."""

from __future__ import annotations

import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pandas as pd

from utfall.files import open_read_only

DEFAULT_MIN_CELL = 5
DEFAULT_DECIMALS = 4
PUBLISHED = "marts.kpi_published"
MONTHS_DECIMALS = 2
SUPPRESSED_MARK = {True: "ja", False: "nej"}

# Every exported column and what it means to the reader (the workbook's "kolumner" sheet).
COLUMNS = {
    "kpi_id": "Nyckeltalets id; titel och beskrivning på bladet kpi.",
    "kommun_kod": "SCB:s kommunkod (fyra siffror, text), eller ALLA för alla kommuner tillsammans.",
    "period": "År (2023) eller kvartal (2023-Q2).",
    "period_type": "YEAR för år, QUARTER för kvartal (kvartal bara för totalen).",
    "dimension": "Uppdelning: TOTAL, KON, ALDER, INSATS, FODD_UTRIKES, FS_VID_START, "
                 "LANGVARIGT_FS_FORE, REMITTERAD, AVSTAND.",
    "dimension_value": "Gruppen inom uppdelningen, t.ex. K eller M för KON; ALLA för TOTAL.",
    "unit": "Enhet: count (antal), share (andel 0-1), share_difference (skillnad i andel), "
            "months (månader).",
    "numerator": "Täljaren: antal personer/perioder med utfallet (heltal, lätt förändrat med "
                 "cellnyckelmetoden); tom för medelvärden och undertryckta rader.",
    "denominator": "Nämnaren: antal perioder eller personer som ingår (heltal, lätt förändrat); "
                   "tom för antal och undertryckta rader.",
    "value": "Värdet: antal som heltal, andel mellan 0 och 1 med {decimals} decimaler, månader "
             "med 2 decimaler. Tomt när raden är undertryckt eller värdet saknas (en median som "
             "aldrig nås).",
    "ci_low": "Nedre gräns för 95 % konfidensintervall (Wilson) för andelar, {decimals} decimaler.",
    "ci_high": "Övre gräns för 95 % konfidensintervall (Wilson) för andelar, {decimals} decimaler.",
    "suppressed": "ja: raden är undertryckt (för få personer), alla tal är tomma; nej: publicerad.",
}


# Each column's heading for a reader (the CSV's header and the workbook's "kolumner" sheet).
HEADINGS = {
    "kpi_id": "Nyckeltal", "kommun_kod": "Kommun", "period": "Period",
    "period_type": "Periodtyp", "dimension": "Uppdelning", "dimension_value": "Grupp",
    "unit": "Enhet", "numerator": "Täljare", "denominator": "Nämnare", "value": "Värde",
    "ci_low": "Nedre gräns", "ci_high": "Övre gräns", "suppressed": "Undertryckt",
}


def csv_heading(column: str) -> str:
    """`Värde (value)`: the reader's word, then the column's code.

    One header row that says both, rather than a second header row under the codes: the CSV is
    for Excel (see `export`), and Excel takes the first row as the header and every later one as
    data, so a second header row would be sorted, filtered and summed with the figures, and
    would turn every numeric column into text for any program that reads the file. The code in
    parentheses keeps each column identifiable (as the workbook and the Kolada file name it)."""
    return f"{HEADINGS[column]} ({column})"


def _decimals_for(unit: str, decimals: int) -> int:
    places = {"count": 0, "share": decimals, "share_difference": decimals,
              "months": MONTHS_DECIMALS}
    if unit not in places:
        raise ValueError(f"unknown unit {unit!r} in marts.kpi: the export does not know how "
                         "to round it")
    return places[unit]


def published_frame(con: duckdb.DuckDBPyConnection, decimals: int = DEFAULT_DECIMALS) -> pd.DataFrame:
    """kpi_published with its unit, counts as whole numbers and values rounded per unit."""
    units = dict(con.execute("select kpi_id, unit from marts.kpi").fetchall())
    places = {kpi: _decimals_for(unit, decimals) for kpi, unit in units.items()}
    con.execute("create or replace temp table export_places (kpi_id varchar, places integer)")
    con.executemany("insert into export_places values (?, ?)", list(places.items()))
    frame = con.execute(f"""
        select p.kpi_id, p.kommun_kod, p.period, p.period_type, p.dimension, p.dimension_value,
               k.unit, p.numerator, p.denominator,
               round(p.value, x.places) as value,
               round(p.ci_low, x.places) as ci_low, round(p.ci_high, x.places) as ci_high,
               p.suppressed, x.places
        from {PUBLISHED} p
        left join marts.kpi k using (kpi_id)
        left join export_places x using (kpi_id)
        order by p.kpi_id, p.kommun_kod, p.period_type, p.period, p.dimension, p.dimension_value
    """).df()
    missing = sorted(set(frame.loc[frame["unit"].isna(), "kpi_id"]))
    if missing:
        raise ValueError(f"kpi_id without a row in marts.kpi: {', '.join(missing)}")
    for column in ("numerator", "denominator"):
        # published counts are whole by construction; a fraction would be a bug, not rounding
        frame[column] = frame[column].astype("Int64")
    return frame


def _csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as text with a decimal comma and exactly the row's stated decimals."""
    out = frame[list(COLUMNS)].copy()
    for column in ("value", "ci_low", "ci_high"):
        out[column] = [None if pd.isna(v) else f"{v:.{p}f}".replace(".", ",")
                       for v, p in zip(frame[column], frame["places"])]
    out["suppressed"] = frame["suppressed"].map(SUPPRESSED_MARK)
    return out


def key_label(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("select key_label from meta.run order by finished_at desc limit 1").fetchone()
    return row[0] if row else None


def run_min_cell(con: duckdb.DuckDBPyConnection) -> int:
    """The smallest published cell of the latest run (the default when none is recorded)."""
    row = con.execute("select min_cell from meta.run order by finished_at desc limit 1").fetchone()
    return DEFAULT_MIN_CELL if row is None or row[0] is None else int(row[0])


def export(db_path: Path, out_dir: Path, formats: tuple[str, ...] = ("csv", "xlsx"),
           decimals: int = DEFAULT_DECIMALS) -> list[Path]:
    """Write kpi_published (and the KPI catalogue) as CSV and/or Excel; files built with the demo
    key carry DEMO in their name and say so inside."""
    with open_read_only(db_path) as con:
        values = published_frame(con, decimals)
        catalogue = con.execute("select * from marts.kpi order by kpi_id").df()
        demo = key_label(con) == "DEMO"
        min_cell = run_min_cell(con)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "utfall-kpi-DEMO" if demo else "utfall-kpi"
    written = []
    if "csv" in formats:
        written.append(_write_csv(values, out_dir / f"{stem}.csv"))
    if "xlsx" in formats:
        written.append(_write_xlsx(values, catalogue, out_dir / f"{stem}.xlsx",
                                   _about(demo, min_cell, decimals), decimals))
    for path in written:
        os.chmod(path, 0o600)
    return written


def _write_csv(values: pd.DataFrame, path: Path) -> Path:
    # utf-8-sig: the BOM makes Excel read UTF-8 (å, ä, ö); ';' is its list separator in Sweden
    _csv_text(values).rename(columns=csv_heading).to_csv(path, index=False, sep=";",
                                                         encoding="utf-8-sig")
    return path


def _write_xlsx(values: pd.DataFrame, catalogue: pd.DataFrame, path: Path, about: str,
                decimals: int) -> Path:
    sheet = values[list(COLUMNS)]
    explained = pd.DataFrame({"kolumn": list(COLUMNS),
                              "betydelse": [t.format(decimals=decimals) for t in COLUMNS.values()],
                              "rubrik i CSV": [csv_heading(c) for c in COLUMNS]})
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        sheet.to_excel(xl, sheet_name="kpi_published", index=False)
        explained.to_excel(xl, sheet_name="kolumner", index=False)
        catalogue.to_excel(xl, sheet_name="kpi", index=False)
        pd.DataFrame({"om": [about]}).to_excel(xl, sheet_name="om", index=False)
        _format_values(xl.sheets["kpi_published"], values["places"].tolist())
        for name in ("kpi_published", "kolumner", "kpi", "om"):
            xl.sheets[name].freeze_panes = "A2"
    return path


def _format_values(ws, places: list[int]) -> None:
    """Each value cell shows its row's stated decimals; the cell keeps the rounded number."""
    columns = list(COLUMNS)
    numeric = [columns.index(c) + 1 for c in ("value", "ci_low", "ci_high")]
    for row, p in enumerate(places, start=2):
        number_format = "0" if p == 0 else "0." + "0" * p
        for col in numeric:
            ws.cell(row=row, column=col).number_format = number_format
    ws.auto_filter.ref = ws.dimensions


def kolada(db_path: Path, out_dir: Path, exact: bool = False) -> Path:
    """The yearly TOTAL and KON rows in the shape of Kolada's open data (kpi, municipality, period,
    gender T/K/M, value, count, status), for the analysts' own tools: comma-separated, decimal
    point, shares in percent as Kolada gives them. From the published table unless `exact`; the
    exact file says in its name that it must not leave the analysts."""
    if exact:
        from utfall.exact import TABLE as table
    else:
        table = PUBLISHED
    with open_read_only(db_path) as con:
        frame = con.execute(_kolada_sql(table, exact)).df()
        demo = key_label(con) == "DEMO"
    frame["count"] = frame["count"].astype("Int64")
    shown = _exact_value if exact else kolada_value
    frame["value"] = [shown(v, unit) for v, unit in zip(frame["value"], frame.pop("unit"))]
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "utfall-kolada-EXAKT-ej-for-spridning" if exact else "utfall-kolada"
    path = out_dir / f"{stem}{'-DEMO' if demo else ''}.csv"
    frame.to_csv(path, index=False)
    os.chmod(path, 0o600)
    return path


PERCENT_UNITS = ("share", "share_difference")


def kolada_value(value: float | None, unit: str) -> str | None:
    """A published value as Kolada publishes it: shares and differences of shares in percent and
    months with one decimal, counts whole; halves rounded up (away from zero), and no "-0.0".

    Rounded from the decimal the stored double stands for (its shortest repr), never from the
    double times 100: 23/80 is 0.2875, and 100 * 0.2875 is 28.749999999999996 in binary."""
    if value is None or pd.isna(value):
        return None
    number = Decimal(repr(float(value))) * (100 if unit in PERCENT_UNITS else 1)
    rounded = number.quantize(Decimal(1) if unit == "count" else Decimal("0.1"), ROUND_HALF_UP)
    return str(abs(rounded) if rounded == 0 else rounded)


def _exact_value(value: float | None, unit: str) -> str | None:
    """An exact value for the analysts' checks: shares in percent, nothing rounded."""
    if value is None or pd.isna(value):
        return None
    if unit == "count":
        return str(round(value))
    return repr(100 * float(value) if unit in PERCENT_UNITS else float(value))


def _kolada_sql(table: str, exact: bool) -> str:
    suppressed = "false" if exact else "v.suppressed"
    return f"""
        with yearly as (
            select v.kpi_id as kpi, v.kommun_kod as municipality, cast(v.period as integer) as period,
                   case v.dimension when 'TOTAL' then 'T' else v.dimension_value end as gender,
                   v.value, {suppressed} as suppressed, k.unit
            from {table} v join marts.kpi k using (kpi_id)
            where v.period_type = 'YEAR'
              and (v.dimension = 'TOTAL' or (v.dimension = 'KON' and v.dimension_value in ('K', 'M')))
        )
        select kpi, municipality, period, gender, value, unit,
               -- Kolada's count: 1 for a municipality; for a group, how many of its members
               -- contributed to the value. Every municipality with a row contributed people to
               -- ALLA, also where its own row is suppressed or has no value.
               case when municipality = 'ALLA'
                    then count(*) filter (where municipality <> 'ALLA')
                         over (partition by kpi, period, gender)
                    else 1 end as count,
               case when suppressed then 'SUPPRESSED' else '' end as status
        from yearly
        order by kpi, municipality = 'ALLA', municipality, period,
                 case gender when 'T' then 0 when 'K' then 1 else 2 end
    """


def _about(demo: bool, min_cell: int = DEFAULT_MIN_CELL, decimals: int = DEFAULT_DECIMALS) -> str:
    text = ("Publicerade nyckeltal från utfall (marts.kpi_published). Antalen är lätt slumpmässigt "
            "förändrade med cellnyckelmetoden (som ABS och ONS använder): högst 8 uppåt eller "
            "nedåt, samma grupp av personer alltid på samma sätt, för att skydda enskilda "
            "personer; därför går delarna inte alltid exakt jämnt upp med totalen. Andelar "
            "räknas på de förändrade antalen, med ett intervall som också rymmer förändringen; "
            "medelvärden är avrundade till en decimal. En rad är "
            f"undertryckt (suppressed: ja i CSV, SANT i Excel) när det förändrade underlaget är under {min_cell}, "
            f"eller under {2 * min_cell} med 0 % eller 100 %; medelvärden och medianer när det är "
            f"under {2 * min_cell + 8}; förväntade värden när det förändrade antalet avslut är "
            "under 15. Förväntat värde plus skillnad är den publicerade andelen. "
            "Inga andra värden döljs (ingen sekundär undertryckning). "
            "Uppdelningar finns per år, kvartal bara för totalen. "
            f"Andelar är avrundade till {decimals} decimaler, månader till {MONTHS_DECIMALS}.")
    if demo:
        text += " DEMODATA: byggd med den publika demonyckeln på påhittade personer."
    return text
