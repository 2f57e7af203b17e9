"""The comparison report for the managers' network (chefsnätverket): one HTML file, in Swedish.

The file must open on a meeting-room laptop without internet, so plotly.js is inlined once in the
page head and every chart is a bare `<div>` that uses it. It reads only the published table
(marts.kpi_published: perturbed counts, small cells suppressed), the KPI catalogue (marts.kpi) and
the meta tables: never the exact table of the analysts, never microdata.

Chart choice: one horizontal bar chart per KPI for one year (the latest complete calendar year),
municipalities one per row, `Alla kommuner` as a distinct bar on top and a dashed reference line
(for counts, whose ALLA is the sum, as a line of text instead).
Horizontal bars keep the 13 names readable without rotated labels, and leave room on each row to
write "för få för att visa" where a value is suppressed. Earlier years are in a table below.
"""

from __future__ import annotations

import html
import math
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from marts.catalogue import CATALOGUE

TITLE = "utfall – jämförelse av AME-resultat i Göteborgsregionen"
DEMO_BANNER = "Demodata: byggd med demonyckeln, inte riktiga personer"
DEMO_CHART_MARK = "DEMODATA – inte riktiga personer"
SUPPRESSED_TEXT = "för få för att visa"
NO_VALUE_TEXT = "inget värde"
NO_DATA_TEXT = "inga uppgifter"
NO_VALUES_NOTE = ("Inga värden: tabellen med publicerade nyckeltal (marts.kpi_published) är "
                  "tom. Det finns ännu inget att jämföra – kontrollera leveranserna under "
                  "Datakvalitet nedan.")
DEFAULT_MIN_CELL = 5
PERTURBATION_SENTENCE = (
    "Publicerade antal är lätt slumpmässigt förändrade (med högst 8 uppåt eller nedåt) för att "
    "skydda enskilda personer, och därför går delarna inte alltid exakt jämnt upp med totalen.")

ALLA = "ALLA"
ALLA_NAME = "Alla kommuner"
# The 13 municipalities of Göteborgsregionen, in Swedish alphabetical order (the order of the rows).
KOMMUNER = {
    "1440": "Ale",
    "1489": "Alingsås",
    "1480": "Göteborg",
    "1401": "Härryda",
    "1384": "Kungsbacka",
    "1482": "Kungälv",
    "1441": "Lerum",
    "1462": "Lilla Edet",
    "1481": "Mölndal",
    "1402": "Partille",
    "1415": "Stenungsund",
    "1419": "Tjörn",
    "1407": "Öckerö",
}

DIMENSIONS = {
    "KON": "Kön",
    "ALDER": "Ålder",
    "INSATS": "Insats",
    "FODD_UTRIKES": "Född utrikes",
    "FS_VID_START": "Försörjningsstöd vid start",
    "LANGVARIGT_FS_FORE": "Långvarigt försörjningsstöd före start",
}
VALUE_LABELS = {
    "KON": {"K": "Kvinnor", "M": "Män"},
    "ALDER": {"16-24": "16–24 år", "25-29": "25–29 år", "30-49": "30–49 år",
              "50+": "50 år och äldre"},
    "INSATS": {
        "KARTLAGGNING": "Kartläggning", "VAGLEDNING": "Vägledning",
        "ARBETSTRANING": "Arbetsträning", "PRAKTIK": "Praktik",
        "SUBVENTIONERAD_ANSTALLNING": "Subventionerad anställning", "UTBILDNING": "Utbildning",
        "STODJAT_ARBETE": "Supported employment (SE, IPS)", "SOCIAL_REHAB": "Social rehabilitering",
        "OVRIGT": "Övrigt",
    },
}
YES_NO_LABELS = {"JA": "Ja", "NEJ": "Nej", "OKAND": "Okänt"}
for _dim in ("FODD_UTRIKES", "FS_VID_START", "LANGVARIGT_FS_FORE"):
    VALUE_LABELS[_dim] = YES_NO_LABELS

STATUS_LABELS = {"LOADED": "Inläst", "REJECTED": "Avvisad", "DUPLICATE": "Dubblett",
                 "REPLACED": "Ersatt av ny leverans", "UNCHANGED": "Oförändrad"}
REASON_LABELS = {
    "PNR_INVALID": "Ogiltigt personnummer", "PNR_MISSING": "Personnummer saknas",
    "ID_MISSING": "Varken personnummer eller deltagarnummer",
    "DATE_INVALID": "Ogiltigt datum", "DATE_MISSING": "Datum saknas",
    "END_BEFORE_START": "Slutdatum före startdatum", "AMOUNT_INVALID": "Ogiltigt belopp",
    "MONTH_INVALID": "Ogiltig månad", "HOUSEHOLD_MISSING": "Hushåll saknas",
    "SCORE_INVALID": "Ogiltig bedömningspoäng", "RATER_INVALID": "Ogiltig bedömare",
}
GROUPS = (("AME_", "Arbetsmarknadsinsatser"), ("FS_", "Försörjningsstöd"),
          ("PROG_", "Progression"), ("", "Övriga nyckeltal"))

BAR_COLOR = "#2b6a99"
ALLA_COLOR = "#d9782d"
GAP_COLOR = "#6b6b6b"
# breakdown colours: neither the municipalities' blue nor the orange of Alla kommuner
PALETTE = ("#7a5fb0", "#3d9970", "#c9a227", "#b04a7a", "#4fa3c7", "#8c6d31", "#5f7f3a",
           "#e377c2", "#17becf")
OKAND_COLOR = "#a6a6a6"
CATALOGUE_ORDER = {k.kpi_id: i for i, k in enumerate(CATALOGUE)}


# ---------------------------------------------------------------------------------------------
# Public entry points


def write_report(con: duckdb.DuckDBPyConnection, out_path: Path, *,
                 min_cell: int = DEFAULT_MIN_CELL) -> Path:
    """Write the comparison report to out_path (owner-only: it describes the deliveries)."""
    data = load(con)
    page = render_page(data, min_cell)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(out_path, page)
    return out_path


def kpi_figure(frame: pd.DataFrame, kpi_row, kommuner=None) -> go.Figure:
    """One KPI, dimension TOTAL, one period (the latest in frame): a bar per municipality.

    A suppressed value has no bar (x is None, never 0) and a marker with the text "för få för att
    visa" on its row; `kommuner` lists municipalities to show even without a row ("inga uppgifter").
    """
    return go.Figure(total_spec(frame, kpi_row, kommuner))


def breakdown_figure(frame: pd.DataFrame, kpi_row) -> go.Figure | None:
    """The breakdowns (KON, ALDER, ...) of one KPI for one period, one dimension at a time,
    chosen in a dropdown. None when the KPI has no breakdown rows in frame."""
    spec = breakdown_spec(frame, kpi_row)
    return None if spec is None else go.Figure(spec)


# The report renders these specs without plotly's validation (it costs seconds per report);
# kpi_figure and breakdown_figure validate the very same dicts, and the tests call them.


def total_spec(frame: pd.DataFrame, kpi_row, kommuner=None) -> dict:
    unit = kpi_row["unit"]
    rows = _records(frame, dimension="TOTAL")
    period = max((r.period for r in rows), default=None)
    by_code = {r.kommun_kod: r for r in rows if r.period == period}
    # a count's ALLA is the sum of the others: as a bar it would squeeze them, as a line it is no
    # reference; it is written above the chart instead
    with_alla = unit != "count"
    codes = order_kommuner(set(by_code) | set(kommuner or ()) | ({ALLA} if with_alla else set()))
    codes = [c for c in codes if with_alla or c != ALLA]
    points = [(kommun_name(c), by_code.get(c)) for c in codes]
    traces = [
        _bar([p for c, p in zip(codes, points) if c != ALLA], unit, "Kommuner", BAR_COLOR, period),
        *([_bar([p for c, p in zip(codes, points) if c == ALLA], unit, ALLA_NAME, ALLA_COLOR,
                period)] if with_alla else []),
        *_gap_traces(points, unit, period),
    ]
    drawn = [r for c, r in by_code.items() if with_alla or c != ALLA]
    layout = _layout([label for label, _ in points], unit, _max_plotted(drawn, unit),
                     _total_height(len(points)))
    layout.update(_reference_line(by_code.get(ALLA), unit) if with_alla
                  else _sum_note(by_code.get(ALLA), unit))
    return {"data": traces, "layout": layout}


def breakdown_spec(frame: pd.DataFrame, kpi_row) -> dict | None:
    unit = kpi_row["unit"]
    # counts leave out ALLA here too: the sum would squeeze every municipality's bars
    rows = [r for r in _records(frame) if r.dimension != "TOTAL"
            and (unit != "count" or r.kommun_kod != ALLA)]
    period = max((r.period for r in rows), default=None)
    rows = [r for r in rows if r.period == period]
    if not rows:
        return None
    labels = [kommun_name(c) for c in order_kommuner({r.kommun_kod for r in rows})]
    traces, spans = [], []
    for dim in _ordered({r.dimension for r in rows}, list(DIMENSIONS)):
        first = len(traces)
        dim_rows = [r for r in rows if r.dimension == dim]
        values = _ordered({r.dimension_value for r in dim_rows}, list(VALUE_LABELS.get(dim, {})))
        for i, value in enumerate(values):
            traces += _breakdown_traces(dim_rows, dim, value, i, labels, unit, period)
        spans.append((dim, first, len(traces), len(values)))
    layout = _layout(labels, unit, _max_plotted(rows, unit), 0)
    layout.update(_dropdown(traces, spans, len(labels)))
    return {"data": traces, "layout": layout}


def trend_spec(total: pd.DataFrame, kpi_row) -> dict | None:
    """TOTAL per year: a line per municipality, Alla kommuner dashed. A suppressed year is left
    out of its line (never drawn as 0); the hover of its neighbours does not bridge it."""
    unit = kpi_row["unit"]
    rows = _records(total, dimension="TOTAL")
    years = sorted({r.period for r in rows})
    if len(years) < 2:
        return None
    codes = [c for c in order_kommuner({r.kommun_kod for r in rows})
             if unit != "count" or c != ALLA]
    by_key = {(r.kommun_kod, r.period): r for r in rows}
    traces = []
    for code in codes:
        points = [by_key.get((code, y)) for y in years]
        traces.append({
            "type": "scatter", "mode": "lines+markers", "x": years, "name": kommun_name(code),
            "y": [_plot_value(p, unit) for p in points], "connectgaps": False,
            "line": {"dash": "dash", "width": 3, "color": ALLA_COLOR} if code == ALLA else {},
            "hovertext": [_hover(kommun_name(code), p, unit, y) if p is not None else None
                          for p, y in zip(points, years)],
            "hoverinfo": "text",
        })
    layout = _layout([], unit, _max_plotted([r for r in rows if r.kommun_kod in codes], unit), 360)
    layout["xaxis"], layout["yaxis"] = {"type": "category", "title": {"text": "År"}}, layout["xaxis"]
    layout["yaxis"]["automargin"] = True
    return {"data": traces, "layout": layout}


def _records(frame: pd.DataFrame, dimension: str | None = None) -> list:
    """Rows as plain tuples: pandas row access is far slower than plotting them."""
    if dimension is not None:
        frame = frame[frame["dimension"] == dimension]
    return list(frame.itertuples(index=False, name="Row"))


# ---------------------------------------------------------------------------------------------
# Names, order and numbers


def kommun_name(code: str) -> str:
    if code == ALLA:
        return ALLA_NAME
    return KOMMUNER.get(code, code)


def order_kommuner(codes) -> list[str]:
    """ALLA first, then GR's municipalities alphabetically, then unknown codes by code: the same
    place on every chart, so a manager finds their own row without reading the ranking."""
    known = list(KOMMUNER)
    return sorted(codes, key=lambda c: (c != ALLA, c not in KOMMUNER,
                                        known.index(c) if c in KOMMUNER else 0, str(c)))


def format_value(value, unit: str) -> str:
    """A value as the managers read it: 42,3 %, 1 234, 3,4 mån."""
    if _missing(value):
        return "–"
    if unit == "share":
        return f"{_decimal(value * 100)}\u00a0%"
    if unit == "count":
        return f"{round(value):,}".replace(",", "\u00a0")
    if unit == "months":
        return f"{_decimal(value)}\u00a0mån"
    return _decimal(value, 2)


def _decimal(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA or x is pd.NaT


def _ordered(items, preferred: list[str]) -> list[str]:
    """Items in the spec's order where it has one, the rest sorted after."""
    return sorted(items, key=lambda v: (v not in preferred,
                                        preferred.index(v) if v in preferred else 0, str(v)))


def kpi_sort_key(kpi_id: str) -> tuple:
    """AME first, then FS, then PROG; inside a group the catalogue's order (3, 6, 12 months),
    unknown ids after it with numbers compared as numbers."""
    group = next(i for i, (prefix, _) in enumerate(GROUPS) if kpi_id.startswith(prefix))
    natural = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", kpi_id)]
    return group, CATALOGUE_ORDER.get(kpi_id, len(CATALOGUE_ORDER)), natural


def chart_year(years, as_of: date | None) -> str | None:
    """The latest calendar year that as_of covers completely, else the latest year there is:
    a half year of starts next to whole years would read as a fall."""
    years = sorted(years)
    complete = [y for y in years if as_of is None or date(int(y), 12, 31) <= as_of]
    return (complete or years or [None])[-1]


# ---------------------------------------------------------------------------------------------
# Chart pieces


def _plot_value(row, unit: str):
    """What a bar shows: None (no bar) for a missing or suppressed value, never 0."""
    if row is None or row.suppressed or _missing(row.value):
        return None
    # rounded: a chart needs no 15 digits, and they make up much of the file
    return round(row.value * 100, 3) if unit == "share" else round(float(row.value), 3)


def _gap_text(row) -> str | None:
    if row is None:
        return NO_DATA_TEXT
    if row.suppressed:
        return SUPPRESSED_TEXT
    if _missing(row.value):
        return NO_VALUE_TEXT
    return None


def _hover(label: str, row, unit: str, period) -> str:
    head = f"<b>{html.escape(label)}</b> {html.escape(str(period))}<br>"
    gap = _gap_text(row)
    if gap == SUPPRESSED_TEXT:
        return head + f"{SUPPRESSED_TEXT} (för få personer i underlaget)"
    if gap == NO_VALUE_TEXT:
        return head + "inget värde kunde beräknas (t.ex. medianen nås inte)"
    if gap == NO_DATA_TEXT:
        return head + "inga uppgifter för perioden"
    return head + _value_detail(row, unit)


def _value_detail(row, unit: str) -> str:
    text = format_value(row.value, unit)
    if unit == "share" and not _missing(row.ci_low) and not _missing(row.ci_high):
        text += (f"<br>95 % konfidensintervall: {_decimal(row.ci_low * 100)}–"
                 f"{_decimal(row.ci_high * 100)}\u00a0%")
    if unit == "share" and not _missing(row.denominator):
        text += f"<br>{round(row.numerator)} av {round(row.denominator)}"
    elif unit != "count" and not _missing(row.denominator):
        text += f"<br>underlag: {round(row.denominator)}"
    return text


def _error_bars(rows: list, unit: str) -> dict | None:
    """Wilson interval as asymmetric error bars, for shares only (null for other units)."""
    if unit != "share":
        return None
    plus, minus = [], []
    for row in rows:
        shown = _plot_value(row, unit) is not None
        ok = shown and not _missing(row.ci_low) and not _missing(row.ci_high)
        plus.append(round((row.ci_high - row.value) * 100, 3) if ok else None)
        minus.append(round((row.value - row.ci_low) * 100, 3) if ok else None)
    return {"type": "data", "array": plus, "arrayminus": minus, "color": "#333333",
            "thickness": 1.2, "width": 4}


def _bar(points: list, unit: str, name: str, color: str, period, suffix: str = "",
         **extra) -> dict:
    rows = [row for _, row in points]
    return {
        "type": "bar", "y": [label for label, _ in points],
        "x": [_plot_value(r, unit) for r in rows], "orientation": "h", "name": name,
        "marker": {"color": color}, "error_x": _error_bars(rows, unit),
        # rows without a bar get their hover text from the gap markers
        "hovertext": [_hover(label + suffix, r, unit, period) if _gap_text(r) is None else ""
                      for label, r in points],
        "hoverinfo": "text", **extra}


def _gap_traces(points: list, unit: str, period) -> list[dict]:
    """Markers with text where there is no bar, so that no gap reads as zero."""
    suppressed = [(label, row) for label, row in points if _gap_text(row) == SUPPRESSED_TEXT]
    other = [(label, row) for label, row in points
             if _gap_text(row) not in (None, SUPPRESSED_TEXT)]
    return [_gap_trace(chosen, unit, period, name, symbol) for chosen, name, symbol in (
        (suppressed, SUPPRESSED_TEXT, "diamond-open"),
        (other, f"{NO_VALUE_TEXT} / {NO_DATA_TEXT}", "circle-open")) if chosen]


def _gap_trace(chosen: list, unit: str, period, name: str, symbol: str) -> dict:
    return {
        "type": "scatter", "y": [label for label, _ in chosen], "x": [0] * len(chosen),
        "mode": "markers+text", "name": name, "text": [f"  {_gap_text(row)}" for _, row in chosen],
        "textposition": "middle right", "textfont": {"color": GAP_COLOR, "size": 12},
        "marker": {"symbol": symbol, "color": GAP_COLOR, "size": 9},
        "hovertext": [_hover(label, row, unit, period) for label, row in chosen],
        "hoverinfo": "text", "cliponaxis": False}


def _reference_line(alla_row, unit: str) -> dict:
    """A dashed vertical line at the value of all municipalities together."""
    value = _plot_value(alla_row, unit)
    if value is None:
        return {}
    line = {"type": "line", "xref": "x", "yref": "paper", "x0": value, "x1": value,
            "y0": 0, "y1": 1, "line": {"color": ALLA_COLOR, "dash": "dash", "width": 2}}
    label = {"xref": "x", "yref": "paper", "x": value, "y": 1, "yanchor": "bottom",
             "showarrow": False, "font": {"color": ALLA_COLOR},
             "text": html.escape(f"{ALLA_NAME}: {format_value(alla_row.value, unit)}")}
    return {"shapes": [line], "annotations": [label]}


def _sum_note(alla_row, unit: str) -> dict:
    text = (f"{ALLA_NAME} tillsammans: {SUPPRESSED_TEXT}" if alla_row is not None
            and alla_row.suppressed else f"{ALLA_NAME} tillsammans: "
            f"{format_value(None if alla_row is None else alla_row.value, unit)}")
    note = {"xref": "paper", "yref": "paper", "x": 0, "y": 1, "xanchor": "left",
            "yanchor": "bottom", "showarrow": False, "text": html.escape(text),
            "font": {"color": ALLA_COLOR}}
    return {"annotations": [note]}


def _breakdown_traces(rows, dim, value, i, labels, unit, period) -> list[dict]:
    """A bar trace and its gap-marker trace for one dimension value; they share an offsetgroup
    so the marker stands where the bar would be."""
    name = VALUE_LABELS.get(dim, {}).get(value, value)
    color = OKAND_COLOR if value == "OKAND" else PALETTE[i % len(PALETTE)]
    by_label = {kommun_name(r.kommun_kod): r for r in rows if r.dimension_value == value}
    points = [(label, by_label.get(label)) for label in labels]
    group = {"offsetgroup": f"{dim}:{value}", "legendgroup": f"{dim}:{value}"}
    bar = _bar(points, unit, name, color, period, suffix=f" – {name}", **group)
    # the published table has a row for every code-list value (an empty group is suppressed);
    # a value without a row at all gets no marker
    gaps = [_gap_text(row) if row is not None else None for _, row in points]
    marker = {
        "type": "scatter", "y": labels, "x": [0 if g else None for g in gaps],
        "mode": "markers+text", "orientation": "h", "text": [f"  {g}" if g else "" for g in gaps],
        "textposition": "middle right", "textfont": {"color": GAP_COLOR, "size": 10},
        "marker": {"symbol": "diamond-open", "color": color, "size": 7},
        "hovertext": [_hover(f"{label} – {name}", row, unit, period) if g else ""
                      for (label, row), g in zip(points, gaps)],
        "hoverinfo": "text", "showlegend": False, "cliponaxis": False, **group}
    return [bar, marker]


def _dropdown(traces: list[dict], spans: list, n_rows: int) -> dict:
    """One button per dimension: shows its traces and sizes the chart to its number of values.
    Sets the first dimension's traces visible and returns the layout part."""
    n = len(traces)
    buttons = []
    for dim, first, last, n_values in spans:
        visible = [first <= i < last for i in range(n)]
        buttons.append({"label": DIMENSIONS.get(dim, dim), "method": "update",
                        "args": [{"visible": visible},
                                 {"height": _breakdown_height(n_rows, n_values)}]})
    _, first, last, n_values = spans[0]
    for i, trace in enumerate(traces):
        trace["visible"] = first <= i < last
    menu = {"type": "dropdown", "buttons": buttons, "active": 0, "showactive": True,
            "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom", "pad": {"b": 8}}
    return {"height": _breakdown_height(n_rows, n_values), "barmode": "group",
            "scattermode": "group", "updatemenus": [menu]}


def _layout(labels: list[str], unit: str, top: float, height: int) -> dict:
    axis = {"range": [0, 100], "ticksuffix": " %"} if unit == "share" else {
        "range": [0, (top or 1) * 1.15]}
    return {
        "template": {}, "separators": ", ", "barmode": "overlay", "bargap": 0.25,
        "height": height or None,
        "font": {"family": "Segoe UI, Helvetica, Arial, sans-serif", "size": 13},
        "margin": {"l": 10, "r": 20, "t": 50, "b": 50},
        "plot_bgcolor": "white", "paper_bgcolor": "white",
        "hoverlabel": {"bgcolor": "white"}, "showlegend": True,
        "xaxis": {"showgrid": True, "gridcolor": "#e5e5e5", "zeroline": True,
                  "zerolinecolor": "#999", "title": {"text": _unit_title(unit)}, **axis},
        "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": labels,
                  "autorange": "reversed", "automargin": True, "showgrid": False,
                  "ticksuffix": "  "}}


def _unit_title(unit: str) -> str:
    return {"share": "Andel (procent)", "count": "Antal", "months": "Månader"}.get(unit, unit)


def _max_plotted(rows, unit: str) -> float:
    """The axis' top: the largest value or interval end that is drawn."""
    drawn = [x for r in rows if not r.suppressed for x in (r.value, r.ci_high) if not _missing(x)]
    top = max(drawn, default=0.0)
    return top * 100 if unit == "share" else float(top)


def _total_height(n_rows: int) -> int:
    return 130 + 30 * n_rows


def _breakdown_height(n_rows: int, n_values: int) -> int:
    return 140 + n_rows * max(30, 15 * n_values)


# ---------------------------------------------------------------------------------------------
# Reading the database


@dataclass
class ReportData:
    run: dict | None
    kpis: pd.DataFrame
    values: pd.DataFrame  # YEAR rows of marts.kpi_published
    deliveries: pd.DataFrame
    quarantine: pd.DataFrame
    unmapped: pd.DataFrame
    checks: pd.DataFrame  # meta.quality_check, without the quarantine counts shown above
    audit: dict | None = None  # meta.disclosure_audit


def load(con: duckdb.DuckDBPyConnection) -> ReportData:
    return ReportData(_latest_run(con), _kpis(con), _year_values(con), _deliveries(con),
                      _quarantine(con), _unmapped(con), _checks(con), _audit(con))


def _audit(con) -> dict | None:
    cur = con.execute("select * from meta.disclosure_audit limit 1")
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _checks(con) -> pd.DataFrame:
    return con.execute(
        "select kommun_kod, table_name, check_name, description, severity, rows_checked, "
        "unexpected, passed, error from meta.quality_check where check_name not like 'quarantine_%' "
        "order by passed, severity, kommun_kod, table_name, check_name").df()


def _latest_run(con) -> dict | None:
    cur = con.execute("select * from meta.run "
                      "order by coalesce(finished_at, started_at) desc nulls last limit 1")
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _kpis(con) -> pd.DataFrame:
    kpis = con.execute("select * from marts.kpi").df()
    order = sorted(range(len(kpis)), key=lambda i: kpi_sort_key(kpis["kpi_id"].iloc[i]))
    return kpis.iloc[order].reset_index(drop=True)


def _year_values(con) -> pd.DataFrame:
    # quarters stay in the exports: a year per chart is what the network compares
    return con.execute(
        "select kpi_id, kommun_kod, period, dimension, dimension_value, numerator, denominator, "
        "value, ci_low, ci_high, suppressed from marts.kpi_published where period_type = 'YEAR' "
        "order by kpi_id, kommun_kod, period, dimension, dimension_value").df()


def _deliveries(con) -> pd.DataFrame:
    return con.execute(
        "select kommun_kod, path, system, kind, status, message, period_start, period_end, "
        "rows_read, rows_loaded, rows_quarantined, rows_skipped from meta.delivery "
        "order by path, loaded_at").df()


# Rows of replaced or duplicate deliveries no longer count: their data was taken out of the run.
_CURRENT = ("delivery_id not in (select delivery_id from meta.delivery "
            "where status in ('REPLACED', 'DUPLICATE'))")


def _quarantine(con) -> pd.DataFrame:
    return con.execute(
        f"select kommun_kod, reason, count(*) as n from meta.quarantine where {_CURRENT} "
        "group by kommun_kod, reason order by kommun_kod, n desc, reason").df()


def _unmapped(con) -> pd.DataFrame:
    return con.execute(
        f"select kommun_kod, system, field, value_local, sum(n) as n from meta.unmapped_value "
        f"where {_CURRENT} group by kommun_kod, system, field, value_local "
        "order by kommun_kod, field, n desc, value_local").df()


# ---------------------------------------------------------------------------------------------
# HTML


def _e(value) -> str:
    """Escaped text for HTML; an empty cell for null."""
    return "" if _missing(value) else html.escape(str(value))


def render_page(data: ReportData, min_cell: int = DEFAULT_MIN_CELL) -> str:
    as_of = _as_date((data.run or {}).get("as_of"))
    body = [_header(data.run), _audit_banner(data.audit), _contents(data.kpis), _kpi_sections(data, as_of),
            _quality_section(data), _method_section(data.kpis, min_cell)]
    return (
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(TITLE)}</title>\n<style>{CSS}</style>\n"
        # plotly.js once, here; every chart below is a bare div using it
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script>\n</head>\n<body>\n<main>\n"
        + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _as_date(value) -> date | None:
    if _missing(value):
        return None
    return value.date() if isinstance(value, datetime) else value


AUDIT_FAILED_BANNER = ("Får inte lämnas ut: granskningen visar att små grupper kan räknas fram "
                       "ur de publicerade talen (se Datakvalitet).")


def _audit_banner(audit: dict | None) -> str:
    if audit is None or audit.get("safe") is not False:
        return ""
    return f"<div class=\"demo\" role=\"alert\">{_e(AUDIT_FAILED_BANNER)}</div>"


def _audit_text(audit: dict | None) -> str:
    if audit is None:
        return "<p>Den publicerade tabellen har inte granskats i den här körningen.</p>"
    return f"<p>{_e(audit['summary_sv'])}</p>"


def _header(run: dict | None) -> str:
    parts = [f"<header><h1>{_e(TITLE)}</h1>"]
    if run is None:
        parts.append("<p class=\"meta\">Ingen körning är registrerad (meta.run är tom).</p>")
    else:
        ran = run.get("finished_at") or run.get("started_at")
        ran_text = ran.strftime("%Y-%m-%d %H:%M") if isinstance(ran, datetime) else _e(ran)
        parts.append(f"<p class=\"meta\">Data till och med <strong>{_e(run.get('as_of'))}</strong>"
                     f" · körd {_e(ran_text)}</p>")
        if run.get("key_label") == "DEMO":
            parts.append(f"<div class=\"demo\" role=\"alert\">{_e(DEMO_BANNER)}</div>")
    parts.append(
        "<p>Rapporten jämför kommunernas resultat med samma definitioner för alla. "
        f"<em>{_e(ALLA_NAME)}</em> är alla kommuner i körningen räknade tillsammans. Värden som "
        f"bygger på för få personer visas inte utan står som <em>{_e(SUPPRESSED_TEXT)}</em>. "
        f"{_e(PERTURBATION_SENTENCE)}</p>"
        "</header>")
    return "\n".join(parts)


def _contents(kpis: pd.DataFrame) -> str:
    items = "".join(f"<li><a href=\"#{_anchor(k.kpi_id)}\">{_e(k.title_sv)}</a></li>"
                    for k in kpis.itertuples(index=False))
    return (f"<nav><h2>Innehåll</h2><ol>{items}"
            "<li><a href=\"#datakvalitet\">Datakvalitet</a></li>"
            "<li><a href=\"#sa-raknas\">Så räknas siffrorna</a></li></ol></nav>")


def _anchor(kpi_id: str) -> str:
    return "kpi-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(kpi_id))


def _kpi_sections(data: ReportData, as_of: date | None) -> str:
    parts = ["<section id=\"nyckeltal\"><h2>Nyckeltal</h2>"]
    if data.values.empty:
        parts.append(f"<p class=\"note\">{_e(NO_VALUES_NOTE)}</p>")
    kommuner = set(data.values["kommun_kod"])
    demo = (data.run or {}).get("key_label") == "DEMO"
    group = None
    for kpi in data.kpis.to_dict("records"):
        title = GROUPS[kpi_sort_key(kpi["kpi_id"])[0]][1]
        if title != group:
            parts.append(f"<h2 class=\"group\">{_e(title)}</h2>")
            group = title
        frame = data.values[data.values["kpi_id"] == kpi["kpi_id"]]
        parts.append(_kpi_section(kpi, frame, kommuner, as_of, demo))
    parts.append("</section>")
    return "\n".join(parts)


def _kpi_section(kpi: dict, frame: pd.DataFrame, kommuner: set, as_of: date | None,
                 demo: bool) -> str:
    head = (f"<article id=\"{_anchor(kpi['kpi_id'])}\"><h3>{_e(kpi['title_sv'])}</h3>"
            f"<p class=\"desc\">{_e(kpi['description_sv'])}</p>"
            f"<p class=\"meta\">{_e(_reading_hint(kpi))} · <code>{_e(kpi['kpi_id'])}</code></p>")
    total = frame[frame["dimension"] == "TOTAL"]
    if total.empty:
        return head + "<p class=\"note\">Inga värden för det här nyckeltalet.</p></article>"
    year = chart_year(total["period"].unique(), as_of)
    chosen = frame[frame["period"] == year]
    total_chart = total_spec(chosen, kpi, kommuner)
    parts = [head, f"<h4>{_e(_year_caption(year, as_of))}</h4>",
             _figure_html(_marked(total_chart, demo), f"{_anchor(kpi['kpi_id'])}-total")]
    breakdown = breakdown_spec(chosen, kpi)
    if breakdown is not None:
        parts.append(f"<h4>Uppdelat {_e(year)} – välj uppdelning i menyn</h4>")
        parts.append(_figure_html(_marked(breakdown, demo),
                                  f"{_anchor(kpi['kpi_id'])}-uppdelning"))
    trend = trend_spec(total, kpi)
    if trend is not None:
        parts.append("<h4>Över tid – punkter som saknas är för få för att visa</h4>")
        parts.append(_figure_html(_marked(trend, demo), f"{_anchor(kpi['kpi_id'])}-trend"))
    parts.append(_years_table(total, kpi["unit"]))
    return "\n".join(parts) + "</article>"


def _marked(spec: dict, demo: bool) -> dict:
    """Demo charts say so inside the chart too: a chart copied into slides loses the banner."""
    if demo:
        note = {"xref": "paper", "yref": "paper", "x": 1, "y": 1, "xanchor": "right",
                "yanchor": "bottom", "showarrow": False, "text": html.escape(DEMO_CHART_MARK),
                "font": {"color": "#b00020", "size": 14}}
        spec["layout"]["annotations"] = [*spec["layout"].get("annotations", []), note]
    return spec


def _reading_hint(kpi: dict) -> str:
    unit = {"share": "Andel i procent", "count": "Antal", "months": "Månader"}.get(
        kpi["unit"], str(kpi["unit"]))
    better = kpi.get("higher_is_better")
    if _missing(better):
        return unit
    return unit + (" · högre är bättre" if better else " · lägre är bättre")


def _year_caption(year, as_of: date | None) -> str:
    if as_of is not None and year is not None and date(int(year), 12, 31) > as_of:
        return f"{year} (till och med {as_of.isoformat()}, året är inte slut)"
    return str(year)


def _figure_html(spec: dict, div_id: str) -> str:
    """A bare div for one chart; plotly.js itself is in the page head, once."""
    return pio.to_html(spec, full_html=False, include_plotlyjs=False, validate=False,
                       div_id=div_id, default_height=f"{spec['layout']['height']}px",
                       config={"displaylogo": False, "responsive": True})


def _years_table(total: pd.DataFrame, unit: str) -> str:
    """Every year's TOTAL value per municipality: the trend the chart leaves out."""
    years = sorted(total["period"].unique())
    cells = {(r.kommun_kod, r.period): _cell_text(r, unit) for r in total.itertuples(index=False)}
    head = "".join(f"<th>{_e(y)}</th>" for y in years)
    body = "".join(
        f"<tr><th scope=\"row\">{_e(kommun_name(c))}</th>"
        + "".join(f"<td>{_e(cells.get((c, y), '–'))}</td>" for y in years) + "</tr>"
        for c in order_kommuner(set(total["kommun_kod"])))
    return (f"<details><summary>Alla år i tabellform</summary><table class=\"values\">"
            f"<thead><tr><th>Kommun</th>{head}</tr></thead><tbody>{body}</tbody></table></details>")


def _cell_text(row, unit: str) -> str:
    gap = _gap_text(row)
    if gap:
        return gap
    text = format_value(row.value, unit)
    if unit != "count" and not _missing(row.denominator):
        text += f" (n\u00a0=\u00a0{round(row.denominator)})"
    return text


QUALITY_TEXT = (
    "<p>Vad som levererats och lästs in. Rader som inte gick att läsa ligger i karantän; värden "
    "som ingen översättning täcker räknas upp så att de kan läggas till. Leveranser som ersatts "
    "av en rättad fil räknas inte i karantän och oöversatta värden.</p>")


def _quality_section(data: ReportData) -> str:
    return "\n".join([
        "<section id=\"datakvalitet\"><h2>Datakvalitet</h2>",
        QUALITY_TEXT,
        "<h3>Avvisade filer</h3>", _rejected_table(data.deliveries),
        "<h3>Leveranser</h3>", _delivery_table(data.deliveries),
        "<h3>Rader i karantän, per orsak</h3>", _quarantine_table(data.quarantine),
        "<h3>Värden utan översättning</h3>", _unmapped_table(data.unmapped),
        "<h3>Kontroller av tabellerna</h3>", _checks_table(data.checks),
        "<h3>Skydd för enskilda: granskning av de publicerade talen</h3>", _audit_text(data.audit),
        "</section>"])


def _checks_table(checks: pd.DataFrame) -> str:
    failed = checks[~checks["passed"].astype(bool)] if len(checks) else checks
    summary = (f"<p>{len(checks)} kontroller körda, {len(failed)} visar avvikelser. "
               "FEL gör nyckeltalen osäkra; VARNING är värt att titta på.</p>")
    rows = [[_kommun_cell(r["kommun_kod"]) if not _missing(r["kommun_kod"]) else "alla",
             r["table_name"], r["description"], "FEL" if r["severity"] == "ERROR" else "VARNING",
             r["error"] if not _missing(r["error"]) else
             (None if _missing(r["unexpected"]) else int(r["unexpected"])),
             None if _missing(r["rows_checked"]) else int(r["rows_checked"])]
            for r in _by_kommun(failed.fillna({"kommun_kod": ""}))] if len(failed) else []
    return summary + _table(["Kommun", "Tabell", "Kontroll", "Allvar", "Avvikande rader", "Rader"],
                            rows, "Alla kontroller godkända.", numeric={4, 5})


def _table(headers: list[str], rows: list[list], empty: str,
           numeric: set[int] | frozenset[int] = frozenset()) -> str:
    if not rows:
        return f"<p class=\"note\">{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{_e(v)}</td>" if i in numeric else f"<td>{_e(v)}</td>"
                         for i, v in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _by_kommun(frame: pd.DataFrame) -> list:
    """Records sorted by municipality in the charts' order, keeping the query's order inside."""
    codes = order_kommuner({c for c in frame["kommun_kod"] if not _missing(c)})
    rank = {c: i for i, c in enumerate(codes)}
    records = frame.to_dict("records")
    return sorted(records, key=lambda r: rank.get(r["kommun_kod"], len(rank)))


def _kommun_cell(code) -> str:
    return "okänd" if _missing(code) else f"{kommun_name(code)} ({code})"


def _rejected_table(deliveries: pd.DataFrame) -> str:
    rejected = deliveries[deliveries["status"] == "REJECTED"]
    rows = [[_kommun_cell(r["kommun_kod"]), r["path"], r["message"]] for r in _by_kommun(rejected)]
    return _table(["Kommun", "Fil", "Varför"], rows, "Inga filer har avvisats.")


def _delivery_table(deliveries: pd.DataFrame) -> str:
    rows = [[_kommun_cell(r["kommun_kod"]), r["path"], r["system"],
             STATUS_LABELS.get(r["status"], r["status"]), _period_text(r),
             *_counts(r), _reconciles(r), r["message"]] for r in _by_kommun(deliveries)]
    return _table(["Kommun", "Fil", "System", "Status", "Period", "Lästa", "Inlästa",
                   "Karantän", "Överhoppade", "Stämmer", "Meddelande"],
                  rows, "Inga leveranser är registrerade.", numeric={5, 6, 7, 8})


def _counts(r: dict) -> list:
    return [None if _missing(r[k]) else int(r[k])
            for k in ("rows_read", "rows_loaded", "rows_quarantined", "rows_skipped")]


def _reconciles(r: dict) -> str:
    """read = loaded + quarantined + skipped must hold for every file (privacy.md)."""
    read, loaded, quarantined, skipped = _counts(r)
    if None in (read, loaded, quarantined, skipped):
        return ""
    return "ja" if read == loaded + quarantined + skipped else "NEJ"


def _period_text(r: dict) -> str:
    start, end = _as_date(r["period_start"]), _as_date(r["period_end"])
    if start is None and end is None:
        return ""
    return f"{start or '?'} – {end or '?'}"


def _quarantine_table(quarantine: pd.DataFrame) -> str:
    rows = [[_kommun_cell(r["kommun_kod"]), _reason(r["reason"]), int(r["n"])]
            for r in _by_kommun(quarantine)]
    return _table(["Kommun", "Orsak", "Rader"], rows, "Inga rader i karantän.", numeric={2})


def _reason(code: str) -> str:
    return f"{REASON_LABELS[code]} ({code})" if code in REASON_LABELS else code


def _unmapped_table(unmapped: pd.DataFrame) -> str:
    rows = [[_kommun_cell(r["kommun_kod"]), r["system"], r["field"], r["value_local"], int(r["n"])]
            for r in _by_kommun(unmapped)]
    return _table(["Kommun", "System", "Fält", "Värde som levererats", "Antal"], rows,
                  "Alla levererade värden kunde översättas.", numeric={4})


METHOD_TEXT = (
    "<p>Alla kommuners siffror räknas på samma sätt ur samma definitioner, så att en skillnad "
    "mellan två kommuner är en skillnad i vad som hände och inte i hur det räknades. Resultat "
    "räknas per <em>deltagarperiod</em>: en persons sammanhängande insatser i en kommun, med "
    "uppehåll på högst 30 dagar. Uppföljning efter 3, 6 och 12 månader tar bara med avslut där "
    "den tiden har hunnit gå.</p>"
    "<p>Andelar visas med ett 95 % konfidensintervall (Wilson), strecket på stapeln: med små "
    "underlag kan skillnader mellan kommuner vara slumpen. Den streckade linjen är värdet för "
    "alla kommuner tillsammans; för antal står summan i stället ovanför diagrammet. I "
    "uppdelningarna har varje grupp en rad för varje kommun, också en grupp där ingen fanns: "
    "den står som för få för att visa, så att det inte syns om en grupp är tom. Diagrammen "
    "visar det senaste hela kalenderåret; alla år finns i tabellen under varje diagram.</p>"
)


def _suppression_text(min_cell: int) -> str:
    return (
        f"<p><strong>Skydd för enskilda.</strong> {_e(PERTURBATION_SENTENCE)} Varje antal har "
        "fått ett litet tillägg eller avdrag som bestäms av vilka personer som ingår (samma "
        "grupp får alltid samma tillägg), andelar räknas på de förändrade antalen, medan "
        "medelvärden och medianer är exakta. Ett värde visas inte när det förändrade underlaget "
        f"(nämnaren, för antal antalet självt) är under {min_cell}, och inte heller en andel på "
        f"0 % eller 100 % när underlaget är under {2 * min_cell}. Sådana värden står som "
        f"<em>{_e(SUPPRESSED_TEXT)}</em> – aldrig som noll. Förväntade värden och avvikelser "
        "visas inte när färre än 15 avslut ingår. Inga andra värden döljs. Uppdelningar "
        "redovisas per år, kvartal bara för totalen.</p>")


def _method_section(kpis: pd.DataFrame, min_cell: int) -> str:
    items = "".join(f"<dt>{_e(k.title_sv)} <code>{_e(k.kpi_id)}</code></dt>"
                    f"<dd>{_e(k.description_sv)}</dd>" for k in kpis.itertuples(index=False))
    return "\n".join([
        "<section id=\"sa-raknas\"><h2>Så räknas siffrorna</h2>",
        METHOD_TEXT, _suppression_text(min_cell),
        f"<h3>Nyckeltalen</h3><dl>{items}</dl>",
        "</section>"])


def _write_private(path: Path, text: str) -> None:
    """Write via a temporary file created owner-only, then move it in place: a reader never
    sees half a report and the file is never readable by others."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


CSS = """
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 0;
       background: #f6f6f4; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem; background: white; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { border-bottom: 2px solid #2b6a99; padding-bottom: .2rem; margin-top: 2.5rem; }
h2.group { border-bottom-color: #d9782d; }
article { margin: 1.5rem 0 2.5rem; }
.meta { color: #555; font-size: .95rem; }
.desc { max-width: 60rem; }
.note { background: #fff7e0; border-left: 4px solid #d9a400; padding: .5rem .8rem; }
.demo { background: #b00020; color: white; font-weight: bold; font-size: 1.2rem;
        padding: .8rem 1rem; margin: 1rem 0; border-radius: 4px; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #eef3f7; }
td.num, table.values td { text-align: right; }
details { margin: .5rem 0; }
summary { cursor: pointer; color: #2b6a99; }
dt { font-weight: bold; margin-top: .6rem; }
code { font-size: .8rem; color: #666; }
"""
