"""The comparison report for the managers' network (chefsnätverket): HTML, in Swedish.

The page is built from the Jinja2 templates in utfall/report/templates/; this module only prepares
the data. It reads only the published table (marts.kpi_published: perturbed counts, small cells
suppressed), the KPI catalogue (marts.kpi), the breakdown code list (codes.breakdown) and the meta
tables: never the exact table of the analysts, never microdata.

Order of the page: an overview table (municipalities x headline KPIs, the latest complete year),
expected against actual, the quarters of the current year, one page per municipality (shown one
at a time through its anchor), the detail per KPI with charts, data quality and method.

A national report (more than SINGLE_FILE_MAX_KOMMUNER municipalities) is an overview file (the
header, overview, expected against actual, quarters, lists of links, method: no chart and no
script) and a folder beside it named as the file less .html, with a page per municipality, per
KPI and for data quality that load the folder's one plotly.js by a relative link; the whole
folder is replaced with the file (files.staged_report). Up to that size it is one file.

The file must open on a meeting-room laptop without internet, so plotly.js is inlined once, at the
end of the body (the tables above paint before it is parsed), and every chart is an empty `<div>`
whose figure sits in one JSON block; a chart is drawn when it scrolls into view. The plotly.js
inlined is its basic bundle (bar, pie and scatter traces: all the report draws), vendored in
templates/vendor/ at the version the plotly package ships: a quarter of the full bundle.

Chart choice: one horizontal bar chart per KPI for one year, municipalities one per row,
`Alla kommuner` as a distinct bar on top and a dashed reference line (for counts, whose ALLA is the
sum, as a line of text instead). Horizontal bars keep the names readable without rotated labels,
and leave room on each row to write "för få för att visa" where a value is suppressed. Every chart
has its numbers in a table beside it.
"""

from __future__ import annotations

import calendar
import dataclasses
import functools
import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import quote

import duckdb
import jinja2
import pandas as pd
import plotly.graph_objects as go

from utfall import files
from utfall.marts.catalogue import CATALOGUE

try:  # SCB's list of municipalities, where it is installed
    from utfall.schemas.kommuner import name as _scb_name
except ImportError:  # pragma: no cover - depends on the checkout
    _scb_name = None

TEMPLATES = Path(__file__).resolve().parent / "templates"
# npm's plotly.js-basic-dist-min; vendor/README.md says how to update it with the plotly package
PLOTLY_BASIC = TEMPLATES / "vendor" / "plotly-basic.min.js"
TITLE = "utfall – jämförelse av AME-resultat i {where}"
GR_NAME = "Göteborgsregionen"
DEMO_BANNER = "Demodata: byggd med demonyckeln, inte riktiga personer"
DEMO_CHART_MARK = "DEMODATA – inte riktiga personer"
SUPPRESSED_TEXT = "för få för att visa"
SUPPRESSED_SHORT = "för få"
NO_VALUE_TEXT = "inget värde"
NO_DATA_TEXT = "inga uppgifter"
# a median (FS_MEDIAN_MAN) published without a value: the Kaplan-Meier curve has not reached one half
NOT_REACHED_TEXT = "ej uppnådd"
NOT_YET_TEXT = "—"
NO_VALUES_NOTE = ("Inga värden: tabellen med publicerade nyckeltal (marts.kpi_published) är "
                  "tom. Det finns ännu inget att jämföra – kontrollera leveranserna under "
                  "Datakvalitet nedan.")
DEFAULT_MIN_CELL = 5
PERTURBATION_SENTENCE = (
    "Publicerade antal är lätt slumpmässigt förändrade (med högst 8 uppåt eller nedåt) för att "
    "skydda enskilda personer, och därför går delarna inte alltid exakt jämnt upp med totalen.")
EXPECTED_SENTENCES = (
    "Förväntad andel är den andel kommunen skulle ha haft om dess egna deltagare – med sin "
    "fördelning på kön, ålder, född utrikes, försörjningsstöd vid start och långvarigt "
    "försörjningsstöd före start – hade fått hela regionens resultat för personer som liknar dem.",
    "Den säger ingenting om det som de uppgifterna inte fångar (till exempel hälsa, språk eller "
    "arbetsmarknaden på orten), så en skillnad mot det förväntade är en fråga att ställa, inte "
    "ett betyg.")

ALLA = "ALLA"
ALLA_NAME = "Alla kommuner"
# The 13 municipalities of Göteborgsregionen: the names used when SCB's list is not installed.
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

# The overview's columns (issue 16): kpi_id and the short heading the table shows.
HEADLINE = (
    ("AME_ARB_STUD_6M", "Arbete/studier 6 mån efter avslut"),
    ("AME_ARB_STUD_12M", "Arbete/studier 12 mån efter avslut"),
    ("AME_ARB_STUD_START_6M", "Arbete/studier 6 mån efter start"),
    ("AME_EJ_FS_6M", "Utan försörjningsstöd 6 mån efter avslut"),
    ("AME_ATERKOMST_12M", "Tillbaka till AME inom 12 mån"),
    ("AME_OKAND_6M", "Okänd status 6 mån efter avslut"),
    ("FS_MEDIAN_MAN", "Mediantid med försörjningsstöd"),
)
HORIZONS = (6, 3, 12)  # expected against actual: 6 months first, the others folded
# The quarters of the current year: the headline KPIs first, then those that a young year
# already has values for (the 6- and 12-month horizons are not mature for its exits yet).
QUARTER_KPIS = (*(k for k, _ in HEADLINE), "AME_ARB_STUD_3M", "AME_AVSLUT_ARB_STUD",
                "AME_STARTADE", "AME_AVSLUTADE")

# Above this published share of unknown status (AME_OKAND_{h}M) a status KPI of the same
# municipality, period and breakdown gets no marker but a note (method.html says why): more
# unknown than known leaves the share of work or studies anywhere in a range wider than 50
# percentage points, wider than any difference between municipalities.
UNKNOWN_THRESHOLD = 0.5
# The KPIs whose outcome is the status at h (metrics.md): AME_OKAND_{h}M is their unknown part.
# Counted from the start they have no unknown counterpart in the catalogue yet; one named
# AME_OKAND_START_{h}M would be used as soon as it is published.
_STATUS_AT_EXIT = re.compile(r"AME_(?:ARB_STUD|OSUB_ARB_STUD|ARB_STUD_KAND)_(\d+)M(?:_AVVIKELSE)?")
_STATUS_AT_START = re.compile(r"AME_(?:ARB_STUD|OSUB_ARB_STUD)_START_(\d+)M")

DIMENSIONS = {
    "KON": "Kön",
    "ALDER": "Ålder",
    "INSATS": "Insats",
    "FODD_UTRIKES": "Född utrikes",
    "FS_VID_START": "Försörjningsstöd vid start",
    "LANGVARIGT_FS_FORE": "Långvarigt försörjningsstöd före start",
    "REMITTERAD": "Remitterad från",
    "AVSTAND": "Avstånd till arbetsmarknaden",
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
    "REMITTERAD": {"IFO": "Socialtjänsten (IFO)", "AF": "Arbetsförmedlingen",
                   "FK": "Försäkringskassan", "EGEN": "Egen anmälan", "OVRIGT": "Annan",
                   "OKAND": "Okänt"},
    "AVSTAND": {"NARA": "Nära arbetsmarknaden (grön)", "OSAKER": "Oklar arbetsförmåga (gul)",
                "LANGT": "Långt från arbetsmarknaden (röd)", "OKAND": "Okänt"},
}
YES_NO_LABELS = {"JA": "Ja", "NEJ": "Nej", "OKAND": "Okänt"}
for _dim in ("FODD_UTRIKES", "FS_VID_START", "LANGVARIGT_FS_FORE"):
    VALUE_LABELS[_dim] = YES_NO_LABELS

STATUS_LABELS = {"LOADED": "Inläst", "REJECTED": "Avvisad", "DUPLICATE": "Dubblett",
                 "REPLACED": "Ersatt av ny leverans", "UNCHANGED": "Oförändrad",
                 "WITHDRAWN": "Återkallad"}
REASON_LABELS = {
    "PNR_INVALID": "Ogiltigt personnummer", "PNR_MISSING": "Personnummer saknas",
    "PNR_INTERIM": "Reservnummer (inte ett personnummer)",
    "LINE_MALFORMED": "Raden går inte att läsa (citattecken eller antal fält)",
    "ID_MISSING": "Varken personnummer eller deltagarnummer",
    "DATE_INVALID": "Ogiltigt datum", "DATE_MISSING": "Datum saknas",
    "DATE_FUTURE": "Datum i framtiden",
    "END_BEFORE_START": "Slutdatum före startdatum", "AMOUNT_INVALID": "Ogiltigt belopp",
    "AMOUNT_IMPLAUSIBLE": "Orimligt belopp för försörjningsstöd",
    "NUMBER_IS_PNR": "Ett personnummer i en nummerkolumn (aldrig inläst)",
    "MONTH_INVALID": "Ogiltig månad", "HOUSEHOLD_MISSING": "Hushåll saknas",
    "SCORE_INVALID": "Ogiltig bedömningspoäng", "RATER_INVALID": "Ogiltig bedömare",
}
FIELD_LABELS = {"status": "Status", "insats_typ": "Insats", "end_reason": "Avslutsorsak",
                "hinder": "Hinder", "dimension": "Bedömningsdimension",
                "referred_from": "Remitterad från", "distance": "Avstånd till arbetsmarknaden",
                "bistand_class": "Biståndstyp", "rater": "Bedömare", "role": "Roll",
                "born_abroad": "Född utrikes"}
# A rejection message is written by the adapters in English (it is logged too); the report
# says it in Swedish. Patterns are tried on each "; "-separated part; an unknown one is kept.
MESSAGE_SV = (
    (r"the workbook is damaged \(broken zip archive\)", "arbetsboken är skadad (trasigt zip-arkiv)"),
    (r"the workbook is damaged or not in a format that can be read \((.*)\)",
     r"arbetsboken är skadad eller i ett format som inte kan läsas (\1)"),
    (r"the workbook is password-protected", "arbetsboken är lösenordsskyddad"),
    (r"the workbook is empty", "arbetsboken är tom"),
    (r"the file is empty \(0 bytes\)", "filen är tom (0 byte)"),
    (r"the file is empty", "filen är tom"),
    (r"the file cannot be opened \((.*)\)", r"filen kan inte öppnas (\1)"),
    (r"not a workbook \(expected \.xlsx, \.xls or \.ods content\)",
     "inte en arbetsbok (väntade .xlsx, .xls eller .ods)"),
    (r"a zip archive, but not a workbook \(\.xlsx or \.ods\)",
     "ett zip-arkiv men inte en arbetsbok (.xlsx eller .ods)"),
    (r"binary content \(NUL bytes\), not a text export",
     "binärt innehåll (NUL-tecken), inte en textexport"),
    (r"this is (.*), not a text export", r"filen är \1, inte en textexport"),
    (r"no Personnummer column \(headers seen: (.*)\)",
     r"ingen kolumn Personnummer (rubriker i filen: \1)"),
    (r"not a Procapita payments, household-member or insats extract \(headers seen: (.*)\)",
     r"inte ett Procapita-uttag av utbetalningar, hushållsmedlemmar eller insatser "
     r"(rubriker i filen: \1)"),
    (r"looks like a Procapita (.*) extract but has no (.*) column \(headers seen: (.*)\)",
     r"ser ut som ett Procapita-uttag (\1) men saknar kolumnen \2 (rubriker i filen: \3)"),
    (r"the header row has no (.*)", r"rubrikraden saknar \1"),
    (r"no sheet has a header row with (.*) within its first (\d+) rows \((.*)\)",
     r"inget blad har en rubrikrad med \1 bland de första \2 raderna (\3)"),
    (r"unknown encoding (.*) in configuration \((.*)\)", r"okänd teckenkodning \1 i "
     r"konfigurationen (\2)"),
    (r"same content as (.*): not loaded twice", r"samma innehåll som \1: inte inläst två gånger"),
    (r"sheet (.*) skipped: not among the configured sheets",
     r"bladet \1 hoppades över: inte bland de konfigurerade bladen"),
    (r"sheet (.*) skipped: no header row with a personnummer column and a start date column "
     r"within the first (\d+) rows",
     r"bladet \1 hoppades över: ingen rubrikrad med personnummer och startdatum bland de "
     r"första \2 raderna"),
    (r"no header row with at least two known columns in the first (\d+) lines \(headers seen: "
     r"(.*)\)", r"ingen rubrikrad med minst två kända kolumner bland de första \1 raderna "
     r"(rubriker i filen: \2)"),
    (r"no line break in its first (\d+) kB \(one line of (.*) MB or more\): not a text export "
     r"with one row per line", r"ingen radbrytning bland de första \1 kB (en rad på \2 MB eller "
     r"mer): inte en textexport med en rad per post"),
    (r"(\d+) of the (\d+) lines below the header do not parse as rows of (\d+) fields "
     r"separated by (.*) \(first: (.*)\); the file seems damaged or saved with another layout: "
     r"nothing of it was loaded",
     r"\1 av de \2 raderna under rubrikraden går inte att läsa som rader med \3 fält åtskilda "
     r"av \4 (först: \5); filen verkar skadad eller sparad med en annan layout: inget av den "
     r"lästes in"),
    (r"the workbook unpacks to more than (\S+) MB \((.*) MB or more; "
     r"limits.workbook_unpacked_mb\): not read, as a workbook of this size is more likely a "
     r"damaged or hostile file than an export; raise the limit in the municipality's "
     r"configuration if it is a real one",
     r"arbetsboken packas upp till mer än \1 MB (\2 MB eller mer; "
     r"limits.workbook_unpacked_mb): inte läst, eftersom en så stor arbetsbok snarare är en "
     r"skadad eller fientlig fil än en export; höj gränsen i kommunens konfiguration om den "
     r"är äkta"),
    (r"a sheet (?:declares|spans) (.*) rows x (.*) columns, more than (.*) cells "
     r"\(limits.sheet_cells\): not read; save the sheet again with only its used range, or "
     r"raise the limit in the municipality's configuration",
     r"ett blad med \1 rader x \2 kolumner, fler än \3 celler (limits.sheet_cells): inte läst; "
     r"spara bladet igen med bara det använda området, eller höj gränsen i kommunens "
     r"konfiguration"),
    # why a delivery left the run (utfall.ingest) and what the inbox skipped (utfall.inbox)
    (r"replaced by a corrected version of (.*)", r"ersatt av en rättad version av \1"),
    (r"moved to (.*)", r"flyttad till \1"),
    (r"(.*) is no longer in the inbox", r"\1 finns inte längre i inkorgen"),
    (r"counts do not reconcile \(read (\d+) != loaded (\d+) \+ quarantined (\d+) \+ skipped "
     r"(\d+)\); nothing loaded",
     r"antalen stämmer inte (lästa \1 ≠ inlästa \2 + i karantän \3 + överhoppade \4); "
     r"inget inläst"),
    (r"(.*) is not a municipality code; did you mean (.*)\?",
     r"\1 är inte en kommunkod; menade du \2?"),
    (r"(.*) is not a municipality code", r"\1 är inte en kommunkod"),
    (r"(.*) is not a system folder; did you mean (.*)\? \(folder names are lower case\)",
     r"\1 är inte en systemmapp; menade du \2? (mappnamn skrivs med små bokstäver)"),
    (r"(.*) is not a system folder; did you mean (.*)\?",
     r"\1 är inte en systemmapp; menade du \2?"),
    (r"(.*) is not a system folder: use (.*)", r"\1 är inte en systemmapp: använd \2"),
    (r"files belong in (.*); move it into its municipality's system folder",
     r"filer hör hemma i \1; flytta den till kommunens systemmapp"),
    (r"files belong in (.*); move it into (.*)", r"filer hör hemma i \1; flytta den till \2"),
    (r"the name is not valid UTF-8 \(shown with (.*)\); rename it",
     r"namnet är inte giltig UTF-8 (visas med \1); byt namn"),
    (r"is a link to (.*), which does not exist \(an unmounted share\?\)",
     r"är en länk till \1, som inte finns (en utdelning som inte är monterad?)"),
    (r"is a link to a folder that is read already \((.*)\); skipped: remove the link",
     r"är en länk till en mapp som redan läses (\1); hoppades över: ta bort länken"),
    (r"is not a regular file \(a pipe or device\); remove it",
     "är inte en vanlig fil (ett rör eller en enhet); ta bort den"),
    (r"folder cannot be read \((.*)\); nothing in it is loaded: give utfall read access",
     r"mappen kan inte läsas (\1); inget i den läses in: ge utfall läsrätt"),
    (r"(?:file )?cannot be read \((.*)\); give utfall read access",
     r"kan inte läsas (\1); ge utfall läsrätt"),
)
# The descriptions of the data-quality checks (utfall.quality), written in English for the
# analysts' log; the report says them in Swedish. An unknown one is kept as it is.
CHECK_SV = (
    (r"(\w+) is not null", r"\1 saknas aldrig"),
    (r"(\w+) is unique \(one row per intervention\)", r"\1 är unikt (en rad per insats)"),
    (r"(\w+) is unique", r"\1 är unikt"),
    (r"(\w+) is one of (.*) or null \(unmapped\)",
     r"\1 är ett av \2 eller tomt (utan översättning)"),
    (r"(\w+) is one of (.*)", r"\1 är ett av \2"),
    (r"(\w+) between (\S+) and as_of \+ 1 year \((\S+)\)",
     r"\1 mellan \2 och datum för data + 1 år (\3)"),
    (r"(\w+) between (\S+) and (\S+)", r"\1 mellan \2 och \3"),
    (r"end_date is not before start_date", "end_date är inte före start_date"),
    (r"every assessed participant is linked to a person_key \(unexpected = distinct unlinked "
     r"participant_ref\)", "varje bedömd deltagare är kopplad till en person_key (avvikande = "
     "antal olika participant_ref utan koppling)"),
    (r"no episode overlaps another of the same person, municipality and insats_typ",
     "ingen insats överlappar en annan för samma person, kommun och insats_typ"),
    (r"every FS month lies in a month core.fs_coverage covers",
     "varje månad med försörjningsstöd ligger i en månad som core.fs_coverage täcker"),
    (r"no row repeats an earlier row in every column but delivery, sheet and row number",
     "ingen rad upprepar en tidigare rad i alla kolumner utom leverans, blad och radnummer"),
    (r"every delivery has the columns its system normally carries",
     "varje leverans har de kolumner som dess system brukar ha"),
    (r"every field is at least half as often known as in the municipality's earlier "
     r"deliveries of the same kind", "varje fält är känt minst hälften så ofta som i "
     "kommunens tidigare leveranser av samma slag"),
    (r"(.*): no (.*) column \((\w+)\), which its system normally carries; unexpected = rows "
     r"left without (\w+)", r"\1: ingen kolumn \2 (\3), som systemet brukar ha; avvikande = "
     r"rader utan \4"),
    (r"(.*): (\w+) known in (\d+%) of (\d+) rows; the municipality's earlier (\w+) "
     r"deliveries had it known in (\d+%) \(median\); below (\d+%) of that is a warning",
     r"\1: \2 känt i \3 av \4 rader; kommunens tidigare leveranser (\5) hade det känt i \6 "
     r"(median); under \7 av det är en varning"),
    (r"(.*): (\w+) no column of (\d+) rows; the municipality's earlier (\w+) "
     r"deliveries had it known in (\d+%) \(median\); below (\d+%) of that is a warning",
     r"\1: \2 utan kolumn i \3 rader; kommunens tidigare leveranser (\4) hade det känt i "
     r"\5 (median); under \6 av det är en varning"),
    (r"rows of the delivery quarantined with reason (\w+)",
     r"leveransens rader i karantän med orsaken \1"),
)
GROUPS = (("AME_", "Arbetsmarknadsinsatser"), ("FS_", "Försörjningsstöd"),
          ("PROG_", "Progression"), ("", "Övriga nyckeltal"))

# Okabe-Ito colours: told apart with every common form of colour blindness
BAR_COLOR = "#0072B2"
ALLA_COLOR = "#E69F00"
GAP_COLOR = "#6b6b6b"
PALETTE = ("#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#8c6d31", "#F0E442",
           "#5f7f3a", "#7a5fb0")
OKAND_COLOR = "#a6a6a6"
CATALOGUE_ORDER = {k.kpi_id: i for i, k in enumerate(CATALOGUE)}


# ---------------------------------------------------------------------------------------------
# Public entry points


def write_report(con: duckdb.DuckDBPyConnection, out_path: Path, *,
                 min_cell: int = DEFAULT_MIN_CELL, staged: files.StagedReport | None = None,
                 split: bool | None = None) -> Path:
    """Write the comparison report to out_path (owner-only: it describes the deliveries).

    Up to SINGLE_FILE_MAX_KOMMUNER municipalities it is one file; above, out_path is an
    overview and the folder beside it (files.report_folder: out_path less .html) holds a page
    per municipality, per KPI and for data quality, with one plotly.js (`split` forces either
    way). `staged` is the run's files.staged_report(out_path): the report is written to its
    temporary places and the run commits it with the database. Without it the report is
    staged and committed here; either way a reader never sees half a report, and a folder an
    earlier, larger report left is removed with it."""
    data = load(con)
    out_path = Path(out_path)
    if split is None:
        # a staged file's hidden name (files.staged) without `staged`: the caller moves the file
        # alone, so its pages would stay behind under a hidden name; one file, as before
        split = is_split(con) and (staged is not None or not files.is_staged_name(out_path))
    if staged is not None:
        if staged.final != out_path:
            raise ValueError(f"staged is for {staged.final}, not {out_path}")
        _write_staged(data, staged, min_cell, split)
        return out_path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with files.staged_report(out_path) as own:
        _write_staged(data, own, min_cell, split)
        own.commit()
    return out_path


def _write_staged(data: ReportData, staged: files.StagedReport, min_cell: int,
                  split: bool) -> None:
    if not split:
        _write_private(staged.tmp, render_page(data, min_cell))
        return
    staged.check_folder()  # before anything is written: a refusal changes nothing
    pages = render_pages(data, min_cell, folder=staged.folder.name,
                         overview_file=staged.final.name)
    staged.folder_tmp.mkdir(mode=0o700)
    for name, text in pages.items():
        if name:
            _write_new(staged.folder_tmp / name, text)
    _write_new(staged.folder_tmp / PAGES_PLOTLY, plotly_basic_js())
    _write_new(staged.folder_tmp / files.REPORT_FOLDER_MARK, FOLDER_NOTE.format(
        overview=staged.final.name, folder=staged.folder.name))
    _write_private(staged.tmp, pages[""])


def _write_new(path: Path, text: str) -> None:
    """A new owner-only file in a folder nobody else sees yet."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def kpi_figure(frame: pd.DataFrame, kpi_row, kommuner=None) -> go.Figure:
    """One KPI, dimension TOTAL, one period (the latest in frame): a bar per municipality.

    A suppressed value has no bar (x is None, never 0) and a marker with the text "för få för att
    visa" on its row; `kommuner` lists municipalities to show even without a row ("inga uppgifter").
    """
    return go.Figure(with_hover_texts(total_spec(frame, kpi_row, kommuner)))


def breakdown_figure(frame: pd.DataFrame, kpi_row, order=None) -> go.Figure | None:
    """The breakdowns (KON, ALDER, ...) of one KPI for one period, one dimension at a time,
    chosen in a dropdown. None when the KPI has no breakdown rows in frame. `order` maps each
    dimension to its values in the code list's order (codes.breakdown)."""
    spec = breakdown_spec(frame, kpi_row, order)
    return None if spec is None else go.Figure(with_hover_texts(spec))


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


def breakdown_spec(frame: pd.DataFrame, kpi_row, order=None) -> dict | None:
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
    order = order or {d: list(VALUE_LABELS.get(d, {})) for d in DIMENSIONS}
    for dim in _ordered({r.dimension for r in rows}, list(order)):
        first = len(traces)
        dim_rows = [r for r in rows if r.dimension == dim]
        values = _ordered({r.dimension_value for r in dim_rows}, list(order.get(dim, ())))
        for i, value in enumerate(values):
            traces += _breakdown_traces(dim_rows, dim, value, i, labels, unit, period)
        spans.append((dim, first, len(traces), len(values)))
    layout = _layout(labels, unit, _max_plotted(rows, unit), 0)
    layout.update(_dropdown(traces, spans, len(labels)))
    return {"data": traces, "layout": layout}


def trend_spec(total: pd.DataFrame, kpi_row) -> dict | None:
    """TOTAL per year: a line per municipality, Alla kommuner dashed. A suppressed year is left
    out of its line (never drawn as 0); the hover of its neighbours does not bridge it."""
    return _trend(_records(total, dimension="TOTAL"), kpi_row)


def _trend(rows: list, kpi_row) -> dict | None:
    unit = kpi_row["unit"]
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
            "customdata": [_hover_data(p, unit) if p is not None else None for p in points],
            "meta": {"hover": {"unit": unit, "label": kommun_name(code)}},
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
    """SCB's name of a municipality where the list is installed, else GR's, else the code."""
    if code == ALLA:
        return ALLA_NAME
    if _scb_name is not None:
        try:
            found = _scb_name(code)
        except (KeyError, ValueError, LookupError):
            found = None
        if found and found != code:
            return found
    return KOMMUNER.get(code, code)


_SWEDISH = str.maketrans({"å": "{", "ä": "|", "ö": "}", "é": "e", "ü": "y"})


def order_kommuner(codes) -> list[str]:
    """ALLA first, then the municipalities by name in Swedish alphabetical order (å, ä, ö after
    z), then codes without a name: the same place on every chart and table, so that a manager
    finds their own row without reading the ranking."""
    def key(c):
        name = kommun_name(c)
        return c != ALLA, name == c, name.lower().translate(_SWEDISH), str(c)
    return sorted(codes, key=key)


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
    if unit == "share_difference":
        return f"{format_points(value)}\u00a0procentenheter"
    return _decimal(value, 2)


def format_points(value) -> str:
    """A share difference in percentage points with its sign: +3,2, −1,0 (a real minus)."""
    if _missing(value):
        return "–"
    text = _decimal(value * 100)
    if text.lstrip("-") == "0,0":
        return "0,0"
    return "\u2212" + text[1:] if text.startswith("-") else "+" + text


def _decimal(x: float, digits: int = 1) -> str:
    """Rounded on the decimal value, not the binary one, ties upwards (6,25 reads 6,3 and
    −0,05 reads −0,0): rounding then commutes with adding a published expected value (three
    decimals), so expected + difference = actual holds on the page as it does in the table.
    The 9-digit step drops float noise such as 4.8500000000000005."""
    exact = Decimal(repr(round(float(x), 9)))
    ties = ROUND_HALF_UP if exact >= 0 else ROUND_HALF_DOWN
    rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ties)
    return f"{rounded:.{digits}f}".replace(".", ",")


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


def message_sv(message) -> str:
    """A delivery's message in Swedish (the adapters write English, for the log)."""
    if _missing(message):
        return ""
    # a message of one sentence with "; " inside (the inbox's "…; did you mean …?") is matched
    # whole; the others are lists of parts ("sheet … skipped; sheet … skipped"), each matched
    whole = _part_sv(str(message), [p for p in MESSAGE_SV if "; " in p[0]])
    if whole != str(message):
        return whole
    return "; ".join(_part_sv(part) for part in str(message).split("; "))


def _part_sv(part: str, patterns=MESSAGE_SV) -> str:
    # a message may start with the file's path and ": "; the pattern covers the rest
    for pattern, swedish in patterns:
        found = re.search(f"(?:^|(?<=: ))(?:{pattern})$", part)
        if found:
            return part[:found.start()] + found.expand(swedish)
    return part


def check_sv(description) -> str:
    """A data-quality check's description in Swedish (utfall.quality writes English)."""
    if _missing(description):
        return ""
    for pattern, swedish in CHECK_SV:
        found = re.fullmatch(pattern, str(description))
        if found:
            return found.expand(swedish)
    return str(description)


def reason_sv(code: str) -> str:
    return f"{REASON_LABELS[code]} ({code})" if code in REASON_LABELS else str(code)


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
        return _no_value(row)[0]
    return None


# Hover texts. A chart point carries only what its text needs (customdata: a gap's code, or its
# value, interval and counts as the page writes them) and its trace the rest (meta.hover: unit,
# period, the label's suffix); the page's script writes the texts when it draws the chart
# (report.js hoverText). Stored whole, one per bar and point, they were 60 % of the charts'
# data at national size. hover_texts() writes the same texts here (kpi_figure, the tests). The
# few gap markers of a KPI's total chart (_gap_trace) keep their texts stored.
HOVER_GAPS = {SUPPRESSED_TEXT: "s", NO_VALUE_TEXT: "v", NOT_REACHED_TEXT: "r", NO_DATA_TEXT: "d"}
HOVER_WORDS = {
    "gaps": {
        "s": f"{SUPPRESSED_TEXT} (för få personer i underlaget)",
        "v": "inget värde kunde beräknas",
        "r": ("ej uppnådd: färre än hälften har lämnat försörjningsstödet under uppföljningen, "
              "så medianen är längre än den tid som har gått"),
        "d": "inga uppgifter för perioden"},
    "interval": "95 % konfidensintervall: ", "of": " av ", "base": "underlag: ",
}


def _hover(label: str, row, unit: str, period) -> str:
    return _hover_from(label, period, unit, _hover_data(row, unit))


def _hover_data(row, unit: str):
    """One point's hover data: a gap's code (HOVER_GAPS), or [value, interval low, interval
    high, numerator, denominator] as the page writes them, trailing nulls left out."""
    gap = _gap_text(row)
    if gap is not None:
        return HOVER_GAPS[gap]
    ci = unit == "share" and not _missing(row.ci_low) and not _missing(row.ci_high)
    den = not _missing(row.denominator) and (unit != "share" or not _missing(row.numerator))
    data = [format_value(row.value, unit),
            _decimal(row.ci_low * 100) if ci else None,
            _decimal(row.ci_high * 100) if ci else None,
            round(row.numerator) if den and unit == "share" else None,
            round(row.denominator) if den and unit != "count" else None]
    while data[-1] is None:
        data.pop()
    return data


def _hover_from(label, period, unit: str, data) -> str:
    """The hover text of one point from its data (report.js hoverText writes the same)."""
    if data is None:
        return ""
    head = f"<b>{html.escape(str(label))}</b> {html.escape(str(period))}<br>"
    if isinstance(data, str):
        return head + HOVER_WORDS["gaps"][data]
    value, low, high, numerator, denominator = (*data, None, None, None, None)[:5]
    text = value
    if low is not None and high is not None:
        text += f"<br>{HOVER_WORDS['interval']}{low}–{high}\u00a0%"
    if denominator is not None:
        text += ("<br>" + (f"{numerator}{HOVER_WORDS['of']}{denominator}" if unit == "share"
                           else f"{HOVER_WORDS['base']}{denominator}"))
    return head + text


def _hover_meta(unit: str, period=None, suffix: str = "", label: str | None = None) -> dict:
    hover = {"unit": unit}
    if period is not None:
        hover["period"] = str(period)
    if suffix:
        hover["suffix"] = suffix
    if label is not None:
        hover["label"] = label
    return {"hover": hover}


def hover_texts(trace: dict) -> list | None:
    """A trace's hover texts as the page's script writes them: from customdata where the trace
    has meta.hover (a bar or trend point: label y[i] + suffix, or the trace's label; period
    meta's, or x[i]), else its stored hovertext (the few gap markers of a total chart)."""
    hover = (trace.get("meta") or {}).get("hover") if isinstance(trace.get("meta"), dict) else None
    if hover is None or trace.get("customdata") is None:
        return trace.get("hovertext")
    texts = []
    for i, data in enumerate(trace["customdata"]):
        label = hover["label"] if "label" in hover else f"{trace['y'][i]}{hover.get('suffix', '')}"
        period = hover["period"] if "period" in hover else trace["x"][i]
        texts.append(_hover_from(label, period, hover["unit"], data))
    return texts


def with_hover_texts(spec: dict | None) -> dict | None:
    """The spec with every trace's hover texts written out (for plotly.py's Figure)."""
    if spec is None:
        return None
    return {**spec, "data": [{**t, "hovertext": hover_texts(t)} if "customdata" in t else t
                             for t in spec["data"]]}


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
        "customdata": [_hover_data(r, unit) if _gap_text(r) is None else None for r in rows],
        "meta": _hover_meta(unit, period, suffix), "hoverinfo": "text", **extra}


def _gap_traces(points: list, unit: str, period) -> list[dict]:
    """Markers with text where there is no bar, so that no gap reads as zero."""
    suppressed = [(label, row) for label, row in points if _gap_text(row) == SUPPRESSED_TEXT]
    other = [(label, row) for label, row in points
             if _gap_text(row) not in (None, SUPPRESSED_TEXT)]
    # the legend names what the open circles say here ("ej uppnådd" for a median)
    other_name = " / ".join(sorted({_gap_text(row) for _, row in other}))
    return [_gap_trace(chosen, unit, period, name, symbol) for chosen, name, symbol in (
        (suppressed, SUPPRESSED_TEXT, "diamond-open"),
        (other, other_name, "circle-open")) if chosen]


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
        "customdata": [_hover_data(row, unit) if g else None for (_, row), g in zip(points, gaps)],
        "meta": _hover_meta(unit, period, f" – {name}"),
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
        # lines without a colour of their own: Okabe-Ito, never the orange of Alla kommuner
        "colorway": [BAR_COLOR, *PALETTE],
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
    quarters: pd.DataFrame | None = None  # QUARTER rows (TOTAL only) of marts.kpi_published
    breakdown_order: dict = field(default_factory=dict)  # dimension -> values, codes.breakdown
    completeness: list = field(default_factory=list)  # utfall.completeness
    completeness_sentences: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # meta.run_warning: about the run's as_of
    problems: list[tuple[str, str]] = field(default_factory=list)  # meta.inbox_problem


def load(con: duckdb.DuckDBPyConnection) -> ReportData:
    table, sentences = _completeness(con)
    return ReportData(_latest_run(con), _plain(_kpis(con)), _plain(_year_values(con)),
                      _plain(_deliveries(con)), _plain(_quarantine(con)),
                      _plain(_unmapped(con)), _plain(_checks(con)), _audit(con),
                      _plain(_quarter_values(con)), _breakdown_order(con), table, sentences,
                      _run_warnings(con), _inbox_problems(con))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python strings: pandas' Arrow-backed strings cost a Python object per
    value each time they are iterated, and the report iterates them many times (at 290
    municipalities that was a third of writing the report)."""
    text = [c for c in frame.columns
            if frame[c].dtype != object and pd.api.types.is_string_dtype(frame[c].dtype)]
    return frame.astype({c: object for c in text}) if text else frame


def _run_warnings(con) -> list[str]:
    return [m for (m,) in con.execute("select coalesce(message_sv, message) "
                                      "from meta.run_warning").fetchall()]


def _inbox_problems(con) -> list[tuple[str, str]]:
    return con.execute("select path, message from meta.inbox_problem order by path").fetchall()


def _audit(con) -> dict | None:
    cur = con.execute("select * from meta.disclosure_audit limit 1")
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _checks(con) -> pd.DataFrame:
    checks = con.execute(
        "select kommun_kod, table_name, check_name, description, severity, rows_checked, "
        "unexpected, passed, error from meta.quality_check where check_name not like 'quarantine_%' "
        "order by passed, severity, kommun_kod, table_name, check_name").df()
    checks = _plain(checks)
    # said in Swedish where it is read, so that every table that shows a check says it so; a
    # national build has tens of thousands of checks but a few dozen descriptions
    swedish = {d: check_sv(d) for d in set(checks["description"])}
    return checks.assign(description=checks["description"].map(swedish))


def _latest_run(con) -> dict | None:
    cur = con.execute("select * from meta.run "
                      "order by coalesce(finished_at, started_at) desc nulls last limit 1")
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _kpis(con) -> pd.DataFrame:
    kpis = con.execute("select * from marts.kpi").df()
    order = sorted(range(len(kpis)), key=lambda i: kpi_sort_key(kpis["kpi_id"].iloc[i]))
    return kpis.iloc[order].reset_index(drop=True)


_PUBLISHED = ("select kpi_id, kommun_kod, period, dimension, dimension_value, numerator, "
              "denominator, value, ci_low, ci_high, suppressed from marts.kpi_published ")


def _year_values(con) -> pd.DataFrame:
    return con.execute(
        _PUBLISHED + "where period_type = 'YEAR' "
        "order by kpi_id, kommun_kod, period, dimension, dimension_value").df()


def _quarter_values(con) -> pd.DataFrame:
    return con.execute(
        _PUBLISHED + "where period_type = 'QUARTER' and dimension = 'TOTAL' "
        "order by kpi_id, kommun_kod, period").df()


def _breakdown_order(con) -> dict:
    """dimension -> its values in the code list's order; the report's own order without it."""
    exists = con.execute("select count(*) from information_schema.tables "
                         "where table_schema = 'codes' and table_name = 'breakdown'").fetchone()[0]
    if not exists:
        return {}
    rows = con.execute("select dimension, dimension_value from codes.breakdown "
                       "where dimension <> 'TOTAL' order by sort_order").fetchall()
    order: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    for dim, value in rows:
        order.setdefault(dim, []).append(value)
    return {d: v for d, v in order.items() if v}


def _completeness(con) -> tuple[list[dict], list[dict]]:
    """Field completeness per municipality and the missing columns (utfall.completeness), as
    records that carry their municipality."""
    from utfall import completeness

    table = [{"kommun_kod": k.kommun_kod, **dataclasses.asdict(f)}
             for k in completeness.completeness_table(con) for f in k.fields]
    sentences = [dataclasses.asdict(m) for m in completeness.missing_columns(con)]
    return table, sentences


def _deliveries(con) -> pd.DataFrame:
    return con.execute(
        "select kommun_kod, path, system, kind, status, message, period_start, period_end, "
        "rows_read, rows_loaded, rows_quarantined, rows_skipped from meta.delivery "
        "order by path, loaded_at").df()


# Rows of replaced or duplicate deliveries no longer count: their data was taken out of the run.
_CURRENT = ("delivery_id not in (select delivery_id from meta.delivery "
            "where status in ('REPLACED', 'DUPLICATE', 'WITHDRAWN'))")


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
# What the templates show: plain values, every text already in Swedish


@dataclass
class Cell:
    """One value as a table shows it; marker and tone say how it compares with Alla kommuner."""

    text: str
    kpi_id: str = ""
    kommun: str = ""
    marker: str = ""  # "over", "under" or ""
    tone: str = ""  # "better", "worse" or "neutral" (a KPI without a better direction)
    sr: str = ""  # what a screen reader says beside the text
    alla: str = ""  # Alla kommuner's value, where the cell sits beside it
    footnote: bool = False
    note: str = ""  # a plain note shown under the value: why it is not compared


MARKER_SYMBOL = {"over": "▲", "under": "▼"}
BREAKDOWN_TABLE_MAX_KOMMUNER = 30  # beyond that the per-KPI tables would outgrow the page
# Up to this many municipalities the report is one file that can be mailed; above, an overview
# and a folder of pages beside it (issue 24: 290 municipalities made one file of 90 MB). One
# file is plotly.js (1.2 MB) and 0.3-0.45 MB per municipality (the sample's 5: 3.4 MB; the
# benchmark's 29: 9.7 MB): GR's 13 about 5-7 MB, 16 about 6-8 MB, which mail systems that take
# 10-25 MB carry once encoded (a third larger). 16 keeps every county's report one file but
# Stockholm's (26), Skåne's (33) and Västra Götaland's (49).
SINGLE_FILE_MAX_KOMMUNER = 16
PAGES_PLOTLY = "plotly-basic.min.js"  # the one plotly.js of a folder of pages
FOLDER_NOTE = ("Sidorna i den här mappen hör till rapporten {overview}: öppna den filen.\n"
               "Kommunernas sidor, nyckeltalen i detalj och datakvaliteten ligger här, och "
               "översikten länkar till dem.\nFlytta eller skicka filen och mappen {folder} "
               "tillsammans. utfall skriver om mappen vid varje körning: lägg inget eget här.\n")


class Charts:
    """The figures of the page, drawn by the page's script from one JSON block."""

    def __init__(self, demo: bool):
        self.demo, self.specs = demo, {}

    def add(self, chart_id: str, spec: dict | None) -> dict | None:
        if spec is None:
            return None
        self.specs[chart_id] = _marked(spec, self.demo)
        return {"id": chart_id, "height": spec["layout"].get("height") or 360}

    def json(self, ids=None) -> str:
        """The JSON block of a page: its charts (`ids`; all by default) and the words of the
        hover texts its script writes."""
        specs = self.specs if ids is None else {i: self.specs[i] for i in ids if i in self.specs}
        # no "</script>" or "<!--" can close the block early, whatever a text holds (JSON may
        # escape "/" as "\\/")
        text = json.dumps({"charts": specs, "hover": HOVER_WORDS}, separators=(",", ":"),
                          allow_nan=False, ensure_ascii=False)
        return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


class Index:
    """TOTAL rows by (kpi_id, kommun_kod, period), looked up a thousand times per page."""

    def __init__(self, frame: pd.DataFrame):
        self.rows = {(r.kpi_id, r.kommun_kod, r.period): r for r in _records(frame, "TOTAL")}

    def get(self, kpi_id, kommun, period):
        return self.rows.get((kpi_id, kommun, period))


def unknown_kpi(kpi_id: str) -> str | None:
    """The KPI that holds the unknown part of a status KPI's outcome, None for other KPIs."""
    if found := _STATUS_AT_EXIT.fullmatch(kpi_id):
        return f"AME_OKAND_{found.group(1)}M"
    if found := _STATUS_AT_START.fullmatch(kpi_id):
        return f"AME_OKAND_START_{found.group(1)}M"
    return None


class UnknownStatus:
    """The published shares of unknown status, by KPI, municipality, period and breakdown: a
    status KPI is not compared where its unknown part is above UNKNOWN_THRESHOLD."""

    def __init__(self, *frames: pd.DataFrame | None):
        self.shares = {}
        for frame in frames:
            if frame is None or frame.empty:
                continue
            for r in _records(frame[frame["kpi_id"].str.startswith("AME_OKAND_")]):
                if not r.suppressed and not _missing(r.value):
                    key = (r.kpi_id, r.kommun_kod, r.period, r.dimension, r.dimension_value)
                    self.shares[key] = r.value

    def above(self, kpi_id: str, row) -> float | None:
        """The unknown share of row's units when it is above the threshold, else None."""
        okand = unknown_kpi(kpi_id)
        if okand is None or row is None:
            return None
        share = self.shares.get((okand, row.kommun_kod, row.period, row.dimension,
                                 row.dimension_value))
        return share if share is not None and share > UNKNOWN_THRESHOLD else None


NO_UNKNOWN = UnknownStatus()


def _value_cell(row, kpi: dict, alla=None, short: bool = False,
                unknown: UnknownStatus = NO_UNKNOWN) -> Cell:
    unit = kpi["unit"]
    cell = Cell("", kpi["kpi_id"], "" if row is None else row.kommun_kod)
    if row is None:
        cell.text, cell.sr = "saknas", NO_DATA_TEXT
    elif row.suppressed:
        cell.text = SUPPRESSED_SHORT if short else SUPPRESSED_TEXT
        cell.sr = "för få personer i underlaget för att visa"
    elif _missing(row.value):
        cell.text, cell.sr = _no_value(row)
    else:
        cell.text = format_value(row.value, unit)
        cell.marker = compare_with_alla(row, alla)
        _unknown_note(cell, row, alla, unknown)
    if cell.marker:
        cell.tone = _tone(cell.marker, kpi.get("higher_is_better"))
        cell.sr = _marker_words(cell.marker, cell.tone)
    return cell


def _no_value(row) -> tuple[str, str]:
    """The text and screen-reader words of a published row without a value."""
    if _is_median(row):
        return NOT_REACHED_TEXT, "medianen är inte uppnådd: färre än hälften har lämnat stödet"
    return NO_VALUE_TEXT, "inget värde kunde beräknas"


def _is_median(row) -> bool:
    # a Kaplan-Meier median is null, unsuppressed, exactly when the curve never reaches 0.5
    return "MEDIAN" in str(getattr(row, "kpi_id", ""))


def _whole_percent(share: float) -> str:
    return f"{round(share * 100)}\u00a0%"


def _unknown_note(cell: Cell, row, alla, unknown: UnknownStatus) -> None:
    """No marker where the status is mostly unknown, the municipality's or the region's: a
    data-quality finding, not a result. The note says so in place of the marker."""
    own, region = unknown.above(cell.kpi_id, row), unknown.above(cell.kpi_id, alla)
    if own is not None:  # said wherever the value is shown: it is the municipality's finding
        cell.note = f"status okänd för {format_value(own, 'share')}"
    elif region is not None and cell.marker:  # said only where a marker is held back
        cell.note = f"jämförs inte: status okänd för {format_value(region, 'share')} i {ALLA_NAME}"
    else:
        return
    cell.marker, cell.sr = "", ""  # the note is visible text: read out as it is


def compare_with_alla(row, alla) -> str:
    """"over" when the municipality's 95 % interval lies wholly above the value of all
    municipalities together, "under" when wholly below, else "" (also without an interval).
    The interval is the published one (ci_low, ci_high of marts.kpi_published): noise-aware, it
    allows for the perturbation too (metrics.md "Disclosure control"). It is never recomputed
    here from the perturbed counts, which would leave the noise out."""
    if row is None or alla is None or row.kommun_kod == ALLA or row.suppressed or alla.suppressed:
        return ""
    if _missing(alla.value) or _missing(row.ci_low) or _missing(row.ci_high):
        return ""
    if row.ci_low > alla.value:
        return "over"
    if row.ci_high < alla.value:
        return "under"
    return ""


def _tone(marker: str, higher_is_better) -> str:
    if _missing(higher_is_better):
        return "neutral"
    return "better" if (marker == "over") == bool(higher_is_better) else "worse"


def _marker_words(marker: str, tone: str) -> str:
    words = "tydligt högre än" if marker == "over" else "tydligt lägre än"
    judgement = {"better": ", bättre", "worse": ", sämre"}.get(tone, "")
    return f"{words} {ALLA_NAME}{judgement}"


def _kommun_anchor(code: str) -> str:
    return "kommun-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(code))


def _anchor(kpi_id: str) -> str:
    return "kpi-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(kpi_id))


def is_split(con) -> bool:
    """Whether the report has pages beside its overview: more municipalities (_kommun_codes'
    count, in SQL) than one file holds. write_report decides by it, and so does utfall run's
    "nothing to do" without loading the report's data."""
    (n,) = con.execute(
        "select count(distinct kommun_kod) from (select kommun_kod from marts.kpi_published "
        "where period_type = 'YEAR' union all select kommun_kod from meta.delivery) "
        "where kommun_kod is not null and kommun_kod <> ?", [ALLA]).fetchone()
    return n > SINGLE_FILE_MAX_KOMMUNER


def title(codes: list[str]) -> str:
    """Göteborgsregionen while every municipality is one of its 13; else their number (a
    national build is not Göteborgsregionen's)."""
    where = GR_NAME if set(codes) <= set(KOMMUNER) else f"{len(codes)} kommuner"
    return TITLE.format(where=where)


def _kommun_codes(data: ReportData) -> list[str]:
    """Every municipality with published values or a delivery: one whose files were all
    rejected still needs its page, to say what to fix."""
    codes = set(data.values["kommun_kod"]) | set(data.deliveries["kommun_kod"].dropna())
    return [c for c in order_kommuner(codes) if c != ALLA]


def _overview(idx: Index, kpis: dict, codes: list[str], year,
              unknown: UnknownStatus = NO_UNKNOWN) -> dict:
    columns = [{"kpi_id": k, "heading": heading, "present": k in kpis, "anchor": _anchor(k),
                "title": kpis[k]["title_sv"] if k in kpis else heading} for k, heading in HEADLINE]
    rows = []
    for code in [ALLA, *codes]:
        cells = []
        for col in columns:
            if not col["present"]:
                cells.append(Cell(NOT_YET_TEXT, col["kpi_id"], code,
                                  sr="finns inte i databasen än", footnote=True))
                continue
            kpi = kpis[col["kpi_id"]]
            cells.append(_value_cell(idx.get(col["kpi_id"], code, year), kpi,
                                     idx.get(col["kpi_id"], ALLA, year), short=True,
                                     unknown=unknown))
            cells[-1].kommun = code
        rows.append({"code": code, "name": kommun_name(code), "cells": cells,
                     "anchor": None if code == ALLA else _kommun_anchor(code)})
    return {"year": year, "columns": columns, "rows": rows,
            "missing": [c for c in columns if not c["present"]],
            "threshold": _whole_percent(UNKNOWN_THRESHOLD)}


def _expected(idx: Index, kpis: dict, codes: list[str], year,
              unknown: UnknownStatus = NO_UNKNOWN) -> dict:
    sections = []
    for h in HORIZONS:
        actual, expected = f"AME_ARB_STUD_{h}M", f"AME_ARB_STUD_{h}M_FORVANTAT"
        deviation = f"AME_ARB_STUD_{h}M_AVVIKELSE"
        if expected not in kpis or deviation not in kpis:
            continue
        rows = [_expected_row(idx, kpis, code, year, (actual, expected, deviation), unknown)
                for code in codes]
        sections.append({"h": h, "open": h == HORIZONS[0], "rows": rows,
                         "adds_up": all(r["adds_up"] for r in rows),
                         "title": f"I arbete eller studier {h} månader efter avslut"})
    return {"year": year, "sections": sections, "sentences": EXPECTED_SENTENCES}


def _expected_row(idx, kpis, code, year, ids, unknown: UnknownStatus) -> dict:
    """Actual (the published share of AME_ARB_STUD_{h}M), expected and their difference: the
    published rows are derived so that expected + difference = actual (metrics.md)."""
    actual, expected, deviation = ids
    share = {"kpi_id": actual, "unit": "share", "higher_is_better": True}
    own = idx.get(actual, code, year)
    exp_row, dev_row = idx.get(expected, code, year), idx.get(deviation, code, year)
    return {"code": code, "name": kommun_name(code), "anchor": _kommun_anchor(code),
            "actual": _value_cell(own, kpis.get(actual, share), short=True),
            "expected": _value_cell(exp_row, {**kpis[expected], "unit": "share"}, short=True),
            "deviation": _deviation_cell(dev_row, deviation, code, unknown),
            "interval": _deviation_interval(dev_row), "adds_up": _adds_up(own, exp_row, dev_row)}


def _deviation_cell(dev_row, deviation: str, code: str, unknown: UnknownStatus) -> Cell:
    dev = Cell("saknas", deviation, code, sr=NO_DATA_TEXT)
    if dev_row is not None and dev_row.suppressed:
        dev.text, dev.sr = "för få (under 15 avslut)", "för få avslut för att jämföra"
    elif dev_row is not None and not _missing(dev_row.value):
        dev.text, dev.sr = format_points(dev_row.value), "procentenheter"
        dev.marker = _deviation_marker(dev_row)
        _unknown_note(dev, dev_row, None, unknown)
    if dev.marker:
        dev.tone = "better" if dev.marker == "over" else "worse"
        dev.sr = ("procentenheter, tydligt " + ("bättre" if dev.marker == "over" else "sämre")
                  + " än förväntat")
    return dev


def _deviation_interval(dev_row) -> str:
    if dev_row is None or dev_row.suppressed or _missing(dev_row.value):
        return ""
    return f"{format_points(dev_row.ci_low)} till {format_points(dev_row.ci_high)}"


def _adds_up(own, exp_row, dev_row) -> bool:
    """Whether actual = expected + difference holds for the published rows (a database built
    before they were derived from the published share does not; the page then says so)."""
    rows = (own, exp_row, dev_row)
    if any(r is None or r.suppressed or _missing(r.value) for r in rows):
        return True
    return abs(own.value - exp_row.value - dev_row.value) < 1e-6


def _deviation_marker(row) -> str:
    """A difference counts as clear when its whole interval lies on one side of zero."""
    if _missing(row.ci_low) or _missing(row.ci_high):
        return ""
    return "over" if row.ci_low > 0 else "under" if row.ci_high < 0 else ""


def _quarters(data: ReportData, kpis: dict, as_of: date | None,
              unknown: UnknownStatus = NO_UNKNOWN) -> dict | None:
    """The quarters of the current year: only the KPIs that have a value in some quarter, and
    no section at all when none has (a table of "för få" or "inget värde" tells nothing)."""
    frame = data.quarters
    if frame is None or frame.empty:
        return None
    years = sorted({p[:4] for p in frame["period"]})
    year = str(as_of.year) if as_of is not None and str(as_of.year) in years else years[-1]
    frame = frame[frame["period"].str.startswith(f"{year}-")]
    shown = frame[frame["kpi_id"].isin([k for k in QUARTER_KPIS if k in kpis])
                  & ~frame["suppressed"].astype(bool) & frame["value"].notna()]
    if shown.empty:
        return None
    idx = Index(frame)
    tables = [_quarter_table(frame, idx, kpis[k], unknown)
              for k in QUARTER_KPIS if (shown["kpi_id"] == k).any()]
    return {"year": year, "tables": tables,
            "partial": as_of is not None and str(as_of.year) == year and as_of.month < 12,
            "as_of": as_of}


def _quarter_table(frame: pd.DataFrame, idx: Index, kpi: dict, unknown: UnknownStatus) -> dict:
    """One KPI's quarters: those it has rows for (a quarter whose horizon has not passed has
    none); a quarter whose rows are all "för få" stays, it says that the quarter was counted."""
    kpi_id = kpi["kpi_id"]
    own = frame[frame["kpi_id"] == kpi_id]
    periods = sorted(set(own["period"]))
    rows = [{"name": kommun_name(c), "code": c,
             "cells": [_value_cell(idx.get(kpi_id, c, p), kpi, idx.get(kpi_id, ALLA, p),
                                   short=True, unknown=unknown) for p in periods]}
            for c in order_kommuner(set(own["kommun_kod"]))]
    return {"kpi_id": kpi_id, "title": kpi["title_sv"], "rows": rows,
            "periods": [f"Kvartal {p[-1]}" for p in periods]}


def _kommun_pages(data: ReportData, idx: Index, kpis: dict, codes: list[str], year,
                  charts: Charts, unknown: UnknownStatus = NO_UNKNOWN,
                  data_end: dict | None = None) -> list[dict]:
    headline = [k for k, _ in HEADLINE if k in kpis]
    years = sorted(set(data.values["period"]))
    yearly = data.values[data.values["kpi_id"].isin(headline)]
    total = _grouped(_records(yearly, "TOTAL"), lambda r: (r.kpi_id, r.kommun_kod))
    broken = _grouped(_records(yearly[(yearly["dimension"] != "TOTAL")
                                      & (yearly["period"] == year)]), lambda r: r.kommun_kod)
    alla = broken.get(ALLA, [])
    region = {(r.kpi_id, r.dimension, r.dimension_value): r for r in alla}
    quality = _KommunQuality(data)
    ends = (data_end or {}).get("own", {})
    pages = []
    for code in codes:
        page = _kommun_page(idx, kpis, code, headline, years, year, total, broken.get(code),
                            region, charts, unknown, quality, data.breakdown_order)
        pages.append({**page, "data_end": ends.get(code)})
    return pages


def _grouped(records: list, key) -> dict:
    """Records by key, each group in the records' order: one pass instead of a filter of the
    whole frame per municipality (290 of them)."""
    groups: dict = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    return groups


def _kommun_page(idx, kpis, code, headline, years, year, total, broken, region, charts,
                 unknown: UnknownStatus, quality: _KommunQuality, order: dict) -> dict:
    rows = []
    for kpi_id in headline:
        cells = [_beside_alla(idx.get(kpi_id, code, y), idx.get(kpi_id, ALLA, y), kpis[kpi_id],
                              unknown) for y in years]
        if any(c.text != "saknas" for c in cells):
            rows.append({"kpi_id": kpi_id, "title": kpis[kpi_id]["title_sv"], "cells": cells})
    return {"code": code, "name": kommun_name(code), "anchor": _kommun_anchor(code),
            "years": years, "rows": rows, "year": year,
            "chart": _kommun_chart(total, kpis, headline, code, charts),
            "breakdowns": _kommun_breakdowns(broken, region, kpis, headline, order, unknown),
            "quality": quality.page(code)}


def _beside_alla(own, alla, kpi: dict, unknown: UnknownStatus = NO_UNKNOWN) -> Cell:
    cell = _value_cell(own, kpi, alla, unknown=unknown)
    if alla is not None:
        cell.alla = _value_cell(alla, kpi).text
    return cell


def _kommun_chart(total: dict, kpis: dict, headline: list[str], code: str,
                  charts: Charts) -> dict | None:
    """The first headline KPI with two years or more: the municipality against the region.
    `total`: TOTAL rows by (kpi_id, kommun_kod)."""
    for kpi_id in headline:
        own = total.get((kpi_id, code))
        spec = _trend(own + total.get((kpi_id, ALLA), []), kpis[kpi_id]) if own else None
        if spec is not None:
            chart = charts.add(f"{_kommun_anchor(code)}-trend", spec)
            return {**chart, "title": kpis[kpi_id]["title_sv"]}
    return None


def _kommun_breakdowns(own: list | None, region: dict, kpis: dict, headline: list[str],
                       order: dict, unknown: UnknownStatus = NO_UNKNOWN) -> dict | None:
    """`own`: the municipality's breakdown rows of the year; `region`: Alla kommuner's, by
    (kpi_id, dimension, dimension_value)."""
    if not own:
        return None
    order = order or {d: list(VALUE_LABELS.get(d, {})) for d in DIMENSIONS}
    present = {r.kpi_id for r in own}
    columns = [k for k in headline if k in present]
    mine = {(r.kpi_id, r.dimension, r.dimension_value): r for r in own}
    rows = []
    for dim in _ordered({r.dimension for r in own}, list(order)):
        values = _ordered({r.dimension_value for r in own if r.dimension == dim},
                          order.get(dim, []))
        for i, value in enumerate(values):
            cells = [_beside_alla(mine.get((k, dim, value)), region.get((k, dim, value)),
                                  kpis[k], unknown) for k in columns]
            rows.append({"dimension": DIMENSIONS.get(dim, dim) if i == 0 else "",
                         "span": len(values) if i == 0 else 0,
                         "value": VALUE_LABELS.get(dim, {}).get(value, value), "cells": cells})
    return {"columns": [{"kpi_id": k, "title": kpis[k]["title_sv"]} for k in columns],
            "rows": rows}


class _KommunQuality:
    """What each municipality's page says about its deliveries: the meta tables read once and
    grouped by municipality."""

    def __init__(self, data: ReportData):
        def by_kommun(frame: pd.DataFrame) -> dict:
            return _grouped(frame.to_dict("records"), lambda r: r["kommun_kod"])
        checks = data.checks[~data.checks["passed"].astype(bool)] if len(data.checks) else (
            data.checks)
        self.deliveries = by_kommun(data.deliveries)
        self.quarantine = by_kommun(data.quarantine)
        self.unmapped = by_kommun(data.unmapped)
        self.checks = by_kommun(checks)
        self.completeness = _grouped(data.completeness, lambda r: r["kommun_kod"])
        self.sentences = _grouped(data.completeness_sentences, lambda r: r["kommun_kod"])
        self.has_completeness = bool(data.completeness or data.completeness_sentences)

    def page(self, code: str) -> dict:
        deliveries = self.deliveries.get(code, [])
        rejected = [r for r in deliveries if r["status"] == "REJECTED"]
        quarantine, unmapped = self.quarantine.get(code, []), self.unmapped.get(code, [])
        loaded = sum(r["status"] == "LOADED" for r in deliveries)
        return {
            "summary": (f"{loaded} filer inlästa, {len(rejected)} avvisade, "
                        f"{int(sum(r['n'] for r in quarantine))} rader i karantän, "
                        f"{int(sum(r['n'] for r in unmapped))} värden utan översättning."),
            "deliveries": _deliveries_table(deliveries, with_kommun=False),
            "rejected": _table(["Fil", "Varför"],
                               [[r["path"], message_sv(r["message"])] for r in rejected],
                               "Inga filer har avvisats."),
            "quarantine": _table(["Orsak", "Rader"],
                                 [[reason_sv(r["reason"]), int(r["n"])] for r in quarantine],
                                 "Inga rader i karantän.", numeric={1}),
            "unmapped": _table(["System", "Fält", "Värde som levererats", "Antal"],
                               [[r["system"], FIELD_LABELS.get(r["field"], r["field"]),
                                 r["value_local"], int(r["n"])] for r in unmapped],
                               "Alla levererade värden kunde översättas.", numeric={3}),
            "checks": _table(["Tabell", "Kontroll", "Allvar", "Avvikande rader"],
                             [[r["table_name"], r["description"],
                               "FEL" if r["severity"] == "ERROR" else "VARNING",
                               None if _missing(r["unexpected"]) else int(r["unexpected"])]
                              for r in self.checks.get(code, [])],
                             "Inga kontroller visar avvikelser.", numeric={3}),
            "completeness": _completeness_table(self.completeness.get(code, []), code),
            "sentences": [r["sentence"] for r in self.sentences.get(code, [])],
            "has_completeness": self.has_completeness,
        }


# the completeness table's columns (utfall.completeness.FieldRow), in order, with their headers
COMPLETENESS_COLUMNS = [("kind_sv", "Leverans"), ("label", "Fält"), ("parts", "Filer/blad"),
                        ("parts_without_column", "Utan kolumnen"), ("rows", "Rader"),
                        ("rows_known", "Med känt värde"), ("share_known", "Andel kända")]


def _completeness_table(records: list[dict], code: str) -> dict:
    rows = [[format_value(r[key], "share") if key == "share_known" and not _missing(r[key])
             else r[key] for key, _ in COMPLETENESS_COLUMNS]
            for r in records if r["kommun_kod"] == code]
    return _table([header for _, header in COMPLETENESS_COLUMNS], rows,
                  "Inga uppgifter om fältens fullständighet.", numeric={2, 3, 4, 5, 6})


def _table(headers: list[str], rows: list[list], empty: str,
           numeric: set[int] | frozenset[int] = frozenset()) -> dict:
    return {"headers": headers, "rows": [["" if _missing(v) else str(v) for v in row]
                                         for row in rows],
            "empty": empty, "numeric": set(numeric)}


def _kpi_groups(data: ReportData, as_of: date | None, charts: Charts) -> list[dict]:
    kommuner = set(data.values["kommun_kod"])
    by_kpi = {k: f for k, f in data.values.groupby("kpi_id")}
    groups: list[dict] = []
    for kpi in data.kpis.to_dict("records"):
        title = GROUPS[kpi_sort_key(kpi["kpi_id"])[0]][1]
        if not groups or groups[-1]["title"] != title:
            groups.append({"title": title, "kpis": []})
        frame = by_kpi.get(kpi["kpi_id"], data.values.iloc[0:0])
        groups[-1]["kpis"].append(_kpi_detail(kpi, frame, kommuner, as_of, charts,
                                              data.breakdown_order))
    return groups


def _kpi_detail(kpi: dict, frame: pd.DataFrame, kommuner: set, as_of: date | None,
                charts: Charts, order: dict) -> dict:
    anchor = _anchor(kpi["kpi_id"])
    detail = {"kpi": kpi, "anchor": anchor, "hint": _reading_hint(kpi), "charts": []}
    total = frame[frame["dimension"] == "TOTAL"]
    if total.empty:
        return detail
    year = chart_year(total["period"].unique(), as_of)
    chosen = frame[frame["period"] == year]
    detail["charts"] = [c for c in (
        _captioned(charts.add(f"{anchor}-total", total_spec(chosen, kpi, kommuner)),
                   _year_caption(year, as_of)),
        _captioned(charts.add(f"{anchor}-uppdelning", breakdown_spec(chosen, kpi, order)),
                   f"Uppdelat {year} – välj uppdelning i menyn"),
        _captioned(charts.add(f"{anchor}-trend", trend_spec(total, kpi)),
                   "Över tid – punkter som saknas är för få för att visa"),
    ) if c is not None]
    detail["years"] = _years_table(total, kpi["unit"])
    # the template asks for it always (StrictUndefined): empty above the limit
    detail["breakdown"] = (_breakdown_table(chosen, kpi["unit"], order)
                           if len(kommuner) <= BREAKDOWN_TABLE_MAX_KOMMUNER else [])
    return detail


def _captioned(chart: dict | None, caption: str) -> dict | None:
    return None if chart is None else {**chart, "caption": caption}


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


def _years_table(total: pd.DataFrame, unit: str) -> dict:
    """Every year's TOTAL value per municipality: the numbers of the bar and trend charts."""
    years = sorted(total["period"].unique())
    cells = {(r.kommun_kod, r.period): _cell_text(r, unit) for r in total.itertuples(index=False)}
    rows = [{"name": kommun_name(c), "cells": [cells.get((c, y), "–") for y in years]}
            for c in order_kommuner(set(total["kommun_kod"]))]
    return {"years": years, "rows": rows}


def _breakdown_table(chosen: pd.DataFrame, unit: str, order: dict) -> list[dict]:
    """The breakdown chart's numbers: a table per dimension, municipalities as rows."""
    rows = chosen[chosen["dimension"] != "TOTAL"]
    order = order or {d: list(VALUE_LABELS.get(d, {})) for d in DIMENSIONS}
    tables = []
    for dim in _ordered(set(rows["dimension"]), list(order)):
        part = rows[rows["dimension"] == dim]
        values = _ordered(set(part["dimension_value"]), order.get(dim, []))
        cells = {(r.kommun_kod, r.dimension_value): _cell_text(r, unit) for r in _records(part)}
        tables.append({
            "title": DIMENSIONS.get(dim, dim),
            "groups": [VALUE_LABELS.get(dim, {}).get(v, v) for v in values],
            "rows": [{"name": kommun_name(c), "cells": [cells.get((c, v), "–") for v in values]}
                     for c in order_kommuner(set(part["kommun_kod"]))]})
    return tables


def _cell_text(row, unit: str) -> str:
    gap = _gap_text(row)
    if gap:
        return gap
    text = format_value(row.value, unit)
    if unit != "count" and not _missing(row.denominator):
        text += f" (n\u00a0=\u00a0{round(row.denominator)})"
    return text


def _marked(spec: dict, demo: bool) -> dict:
    """Demo charts say so inside the chart too: a chart copied into slides loses the banner."""
    if demo:
        note = {"xref": "paper", "yref": "paper", "x": 1, "y": 1, "xanchor": "right",
                "yanchor": "bottom", "showarrow": False, "text": html.escape(DEMO_CHART_MARK),
                "font": {"color": "#b00020", "size": 14}}
        spec["layout"]["annotations"] = [*spec["layout"].get("annotations", []), note]
    return spec


def _quality(data: ReportData) -> dict:
    d, failed = data.deliveries, data.checks
    failed = failed[~failed["passed"].astype(bool)] if len(failed) else failed
    return {
        "skipped": _table(["Fil eller mapp", "Varför"],
                          [[path, message_sv(message)] for path, message in data.problems],
                          "Inget i inkorgen hoppades över."),
        "rejected": _table(["Kommun", "Fil", "Varför"],
                           [[_kommun_cell(r["kommun_kod"]), r["path"], message_sv(r["message"])]
                            for r in _by_kommun(d[d["status"] == "REJECTED"])],
                           "Inga filer har avvisats."),
        "deliveries": _deliveries_table(_by_kommun(d), with_kommun=True),
        "deliveries_by_kommun": _deliveries_by_kommun(d),
        "quarantine": _table(["Kommun", "Orsak", "Rader"],
                             [[_kommun_cell(r["kommun_kod"]), reason_sv(r["reason"]), int(r["n"])]
                              for r in _by_kommun(data.quarantine)],
                             "Inga rader i karantän.", numeric={2}),
        "unmapped": _table(["Kommun", "System", "Fält", "Värde som levererats", "Antal"],
                           [[_kommun_cell(r["kommun_kod"]), r["system"],
                             FIELD_LABELS.get(r["field"], r["field"]), r["value_local"],
                             int(r["n"])] for r in _by_kommun(data.unmapped)],
                           "Alla levererade värden kunde översättas.", numeric={4}),
        "counts": _quality_counts(data),
        "checks_summary": (f"{len(data.checks)} kontroller körda, {len(failed)} visar avvikelser. "
                           "FEL gör nyckeltalen osäkra; VARNING är värt att titta på."),
        "checks": _table(
            ["Kommun", "Tabell", "Kontroll", "Allvar", "Avvikande rader", "Rader"],
            [[_kommun_cell(r["kommun_kod"]) if r["kommun_kod"] else "alla", r["table_name"],
              r["description"], "FEL" if r["severity"] == "ERROR" else "VARNING",
              r["error"] if not _missing(r["error"]) else
              (None if _missing(r["unexpected"]) else int(r["unexpected"])),
              None if _missing(r["rows_checked"]) else int(r["rows_checked"])]
             for r in _by_kommun(failed.fillna({"kommun_kod": ""}))] if len(failed) else [],
            "Alla kontroller godkända.", numeric={4, 5}),
        "audit": ("Den publicerade tabellen har inte granskats i den här körningen."
                  if data.audit is None else data.audit["summary_sv"]),
    }


def _deliveries_table(records: list[dict], with_kommun: bool) -> dict:
    first = ["Kommun"] if with_kommun else []
    return _table(
        [*first, "Fil", "System", "Status", "Period", "Lästa", "Inlästa", "Karantän",
         "Överhoppade", "Stämmer", "Meddelande"],
        [[*([_kommun_cell(r["kommun_kod"])] if with_kommun else []), r["path"], r["system"],
          STATUS_LABELS.get(r["status"], r["status"]), _period_text(r), *_counts(r),
          _reconciles(r), message_sv(r["message"])] for r in records],
        "Inga leveranser är registrerade.",
        numeric={i + len(first) for i in (4, 5, 6, 7)})


def _deliveries_by_kommun(d: pd.DataFrame) -> dict:
    """The deliveries in one row per municipality: the national data-quality page's (36,000
    files at national scale made it 10 MB); each municipality's page lists its own files."""
    rows = []
    for code, own in _grouped(_by_kommun(d), lambda r: r["kommun_kod"]).items():
        loaded = [r for r in own if r["status"] == "LOADED"]  # replaced files no longer count
        counts = [sum(0 if c is None else c for c in col)
                  for col in zip(*(_counts(r) for r in loaded), strict=True)] or [0, 0, 0, 0]
        wrong = sum(_reconciles(r) == "NEJ" for r in own)
        rows.append([_kommun_cell(code), *(sum(r["status"] == s for r in own)
                                           for s in ("LOADED", "REJECTED", "REPLACED")),
                     *counts, "ja" if not wrong else f"NEJ ({wrong} filer)"])
    return _table(["Kommun", "Inlästa filer", "Avvisade", "Ersatta", "Lästa rader",
                   "Inlästa rader", "Karantän", "Överhoppade", "Stämmer"], rows,
                  "Inga leveranser är registrerade.", numeric={1, 2, 3, 4, 5, 6, 7})


def _quality_counts(data: ReportData) -> str:
    """The data-quality section of a national overview in one sentence (its tables are on the
    data-quality page)."""
    d = data.deliveries
    def n(x) -> str:
        return format_value(int(x), "count")
    return (f"{n((d['status'] == 'LOADED').sum())} filer inlästa, "
            f"{n((d['status'] == 'REJECTED').sum())} avvisade, "
            f"{n(len(data.problems))} överhoppade i inkorgen, "
            f"{n(data.quarantine['n'].sum())} rader i karantän, "
            f"{n(data.unmapped['n'].sum())} värden utan översättning.")


def _by_kommun(frame: pd.DataFrame) -> list:
    """Records sorted by municipality in the charts' order, keeping the query's order inside."""
    codes = order_kommuner({c for c in frame["kommun_kod"] if not _missing(c)})
    rank = {c: i for i, c in enumerate(codes)}
    records = frame.to_dict("records")
    return sorted(records, key=lambda r: rank.get(r["kommun_kod"], len(rank)))


def _kommun_cell(code) -> str:
    return "okänd" if _missing(code) else f"{kommun_name(code)} ({code})"


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


def _as_date(value) -> date | None:
    if _missing(value):
        return None
    return value.date() if isinstance(value, datetime) else value


AUDIT_FAILED_BANNER = ("Får inte lämnas ut: granskningen visar att små grupper kan räknas fram "
                       "ur de publicerade talen (se Datakvalitet).")


def _header(run: dict | None) -> dict:
    if run is None:
        return {"run": None, "demo": False}
    ran = run.get("finished_at") or run.get("started_at")
    ran_text = ran.strftime("%Y-%m-%d %H:%M") if isinstance(ran, datetime) else ran
    return {"run": run, "as_of": run.get("as_of"), "ran": ran_text,
            "demo": run.get("key_label") == "DEMO"}


def data_end(deliveries: pd.DataFrame, as_of: date | None) -> dict:
    """How far each municipality's data goes: the end of the last month its loaded deliveries
    cover (meta.delivery.period_end; a payment file's last covered month), never past as_of.
    The header gives the date every municipality has reached, and names the ones that go
    further; a municipality's page gives its own date where it differs from the header's."""
    ends = _delivered_until(deliveries, as_of)
    common = min(ends.values()) if len(set(ends.values())) > 1 else as_of
    later = [{"name": kommun_name(c), "end": ends[c]} for c in order_kommuner(ends)
             if ends[c] > common]
    own = {c: end for c, end in ends.items() if end != common}
    return {"common": common, "later": later, "own": own}


def _delivered_until(deliveries: pd.DataFrame, as_of: date | None) -> dict[str, date]:
    loaded = deliveries[(deliveries["status"] == "LOADED") & deliveries["period_end"].notna()
                        & deliveries["kommun_kod"].notna()]
    ends = {}
    for code, last in loaded.groupby("kommun_kod")["period_end"].max().items():
        last = _as_date(last)
        end = date(last.year, last.month, calendar.monthrange(last.year, last.month)[1])
        ends[code] = min(end, as_of) if as_of is not None else end
    return ends


@dataclass(frozen=True)
class Links:
    """Where the report's links point: to anchors in one file, or, for a report with a folder
    of pages, from the overview into the folder (`folder`, as the overview links it) and from a
    page in the folder (`inside`) back to the overview (`overview_file`)."""

    folder: str | None = None
    overview_file: str = ""
    inside: bool = False

    @property
    def split(self) -> bool:
        return self.folder is not None

    def page(self, anchor: str) -> str:
        """A municipality's or a KPI's page (their anchor is the page's name), or data quality."""
        if self.folder is None:
            return f"#{anchor}"
        return f"{anchor}.html" if self.inside else f"{self.folder}/{anchor}.html"

    def overview(self, anchor: str = "oversikt") -> str:
        return f"../{self.overview_file}#{anchor}" if self.inside else f"#{anchor}"


ONE_FILE = Links()
QUALITY_PAGE = "datakvalitet"


def _context(data: ReportData, min_cell: int, charts: Charts) -> dict:
    """What every page of the report is laid out from; the charts go into `charts`."""
    as_of = _as_date((data.run or {}).get("as_of"))
    header = _header(data.run)
    kpis = {k["kpi_id"]: k for k in data.kpis.to_dict("records")}
    idx = Index(data.values)
    codes = _kommun_codes(data)
    headline = data.values[data.values["kpi_id"].isin([k for k, _ in HEADLINE])]
    year = chart_year(set(headline["period"]) or set(data.values["period"]), as_of)
    unknown = UnknownStatus(data.values, data.quarters)
    ends = data_end(data.deliveries, as_of)
    return {
        "title": title(codes), "header": header, "demo_banner": DEMO_BANNER,
        "audit_banner": AUDIT_FAILED_BANNER if (data.audit or {}).get("safe") is False else None,
        "run_warnings": data.warnings,
        "alla_name": ALLA_NAME, "suppressed_text": SUPPRESSED_TEXT,
        "perturbation": PERTURBATION_SENTENCE, "no_values_note": NO_VALUES_NOTE,
        "empty": data.values.empty, "min_cell": min_cell, "symbols": MARKER_SYMBOL,
        "data_end": ends, "unknown_threshold": _whole_percent(UNKNOWN_THRESHOLD),
        "overview": _overview(idx, kpis, codes, year, unknown),
        "expected": _expected(idx, kpis, codes, year, unknown),
        "quarters": _quarters(data, kpis, as_of, unknown),
        "kommuner": _kommun_pages(data, idx, kpis, codes, year, charts, unknown, ends),
        "groups": _kpi_groups(data, as_of, charts),
        "quality": _quality(data),
        "kpis": data.kpis.to_dict("records"),
        "links": ONE_FILE, "quality_anchor": QUALITY_PAGE,
    }


def render_page(data: ReportData, min_cell: int = DEFAULT_MIN_CELL) -> str:
    """The whole report as one page: the view of `data` that the templates lay out."""
    charts = Charts(_header(data.run)["demo"])
    context = _context(data, min_cell, charts)
    context["charts_json"] = charts.json()
    context["plotly_js"] = plotly_basic_js()
    return _environment().get_template("page.html").render(**context)


def render_pages(data: ReportData, min_cell: int = DEFAULT_MIN_CELL, *,
                 folder: str = "rapport", overview_file: str = "rapport.html") -> dict[str, str]:
    """The report as an overview and a folder of pages: {"": the overview, name: page} with
    the pages' names in the folder. `folder` and `overview_file` are the names the links use
    (the folder's and the overview's final names). The overview has no chart and no script;
    each page has its charts' JSON and loads plotly.js from the folder (PAGES_PLOTLY)."""
    charts = Charts(_header(data.run)["demo"])
    context = _context(data, min_cell, charts)
    env = _environment()
    outside = Links(folder=quote(folder))
    inside = Links(folder=quote(folder), overview_file=quote(overview_file), inside=True)
    pages = {"": env.get_template("page.html").render(**{**context, "links": outside})}
    part = env.get_template("part.html")

    def render(name: str, kind: str, title: str, ids: list[str], **extra) -> None:
        pages[f"{name}.html"] = part.render(**{
            **context, "links": inside, "part": {"kind": kind, "title": title, **extra},
            "charts_json": charts.json(ids) if ids else None, "plotly_src": PAGES_PLOTLY})

    for k in context["kommuner"]:
        render(k["anchor"], "kommun", k["name"], [k["chart"]["id"]] if k["chart"] else [], k=k)
    for g in context["groups"]:
        for d in g["kpis"]:
            render(d["anchor"], "kpi", d["kpi"]["title_sv"], [c["id"] for c in d["charts"]],
                   d=d, group=g["title"])
    render(QUALITY_PAGE, "quality", "Datakvalitet", [])
    return pages


@functools.cache
def plotly_basic_js() -> str:
    """The vendored basic bundle of plotly.js: read once per process, it is 1.2 MB."""
    return PLOTLY_BASIC.read_text(encoding="utf-8")


def plotly_basic_version() -> str:
    """The vendored bundle's plotly.js version, from its licence header ("... v4.1.1")."""
    found = re.search(r"plotly\.js \(basic - minified\) v(\S+)", plotly_basic_js()[:300])
    if found is None:
        raise ValueError(f"{PLOTLY_BASIC} has no plotly.js version in its header")
    return found.group(1)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _write_private(path: Path, text: str) -> None:
    """Write a file created owner-only (its place is a staged, hidden name: files.staged_report
    moves it in place)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
