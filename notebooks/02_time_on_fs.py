# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tid med försörjningsstöd från start (Kaplan-Meier)
#
# `marts.participation_spell` carries, for spells that were on FS in their start month (in a
# month their municipality's FS data covers), the time on FS in months (`fs_km_months`) and
# whether the FS exit was observed (`fs_km_exit`) or censored at the end of the covered months.
# This is the curve behind the KPI `FS_MEDIAN_MAN`, which is computed per **start year**: the
# curves below are too (pooling the years mixes cohorts that had different lengths of follow-up).
#
# Microdata for researchers (pseudonymised, not perturbed or suppressed): these curves are never
# for published charts. What the managers' network sees of the median is `FS_MEDIAN_MAN` in
# `marts.kpi_published`, whose median is exact where the row is not suppressed; the medians here
# are checked against it.

# %%
import os

import duckdb
import pandas as pd
import plotly.graph_objects as go
from lifelines import KaplanMeierFitter
from plotly.colors import qualitative

from utfall.schemas.kommuner import KOMMUNER

db_path = os.environ.get("UTFALL_DB", "../build/utfall.duckdb")
con = duckdb.connect(db_path, read_only=True)
spells = con.sql("""
    select kommun_kod, cast(year(start_date) as varchar) as start_year, insats_typ,
           fs_km_months as t, fs_km_exit as exited
    from marts.participation_spell where fs_km_months is not null
""").df()


def kommun(code: str) -> str:
    return "Alla kommuner" if code == "ALLA" else KOMMUNER.get(code, code)


def tal(n) -> str:
    return "–" if pd.isna(n) else f"{int(n):,}".replace(",", "\u00a0")


def fit(group: pd.DataFrame, label: str) -> KaplanMeierFitter:
    return KaplanMeierFitter(label=label).fit(group["t"], group["exited"])


def median(kmf: KaplanMeierFitter) -> int | None:
    """The smallest t with S(t) <= 0.5 (metrics.md), with its tolerance: in floating point S(t)
    often lands on 0.5000000000000001, which lifelines' own median_survival_time_ would pass by."""
    s = kmf.survival_function_.iloc[:, 0]
    reached = s[s <= 0.5 + 1e-9]
    return None if reached.empty else int(reached.index.min())


counts = spells.groupby(["start_year", "kommun_kod"])["exited"].agg(["count", "sum"]).reset_index()
pd.DataFrame({
    "Startår": counts["start_year"],
    "Kommun": counts["kommun_kod"].map(kommun),
    "Perioder med försörjningsstöd vid start": counts["count"].map(tal),
    "Observerade avslut av stödet": counts["sum"].map(tal),
})

# %% [markdown]
# ## Kurvor per startår, alla kommuner
#
# Kaplan-Meier (lifelines) with its 95 % confidence band (Greenwood, log-log); a spell censored at
# t is still at risk at t, as metrics.md says.

# %%
fig = go.Figure()
fits = {}
for (year, group), colour in zip(spells.groupby("start_year"), qualitative.Safe):
    kmf = fits[year] = fit(group, f"Startår {year}")
    s, band = kmf.survival_function_.iloc[:, 0], kmf.confidence_interval_survival_function_
    fig.add_trace(go.Scatter(x=band.index, y=band.iloc[:, 1], mode="lines", line_shape="hv",
                             line_width=0, showlegend=False, hoverinfo="skip",
                             legendgroup=year))
    fig.add_trace(go.Scatter(x=band.index, y=band.iloc[:, 0], mode="lines", line_shape="hv",
                             line_width=0, fill="tonexty", fillcolor=colour, opacity=0.2,
                             showlegend=False, hoverinfo="skip", legendgroup=year))
    fig.add_trace(go.Scatter(x=s.index, y=s, mode="lines", line_shape="hv", line_color=colour,
                             name=f"Startår {year}", legendgroup=year,
                             hovertemplate="%{x} mån: %{y:.1%}<extra></extra>"))
fig.add_hline(y=0.5, line_dash="dot")
fig.update_layout(xaxis_title="Månader från start", yaxis_title="Andel kvar med försörjningsstöd",
                  yaxis_tickformat=".0%", separators=", ", legend_title="95 % konfidensband")
fig

# %% [markdown]
# Antal i risk (still on FS and followed) at each time, per start year: where few remain, the
# curve's tail says little.

# %%
MONTHS = [0, 3, 6, 9, 12, 18, 24, 36]
at_risk = pd.DataFrame(
    {f"{m} mån": [tal((group["t"] >= m).sum()) for _, group in spells.groupby("start_year")]
     for m in MONTHS},
    index=pd.Index(sorted(spells["start_year"].unique()), name="Startår"))
at_risk

# %% [markdown]
# ## Medianen per kommun och startår, jämförd med det publicerade nyckeltalet
#
# The median of every curve, for each municipality and for `ALLA` (every spell of the run). Where
# `FS_MEDIAN_MAN` is published (not suppressed) its value is the exact median: the cell stops
# with an error if a median here differs from it. "ej nådd": the curve never reaches 50 %.

# %%
curves = pd.concat([spells, spells.assign(kommun_kod="ALLA")])
medians = pd.DataFrame(
    [(k, y, len(g), median(fit(g, f"{k} {y}"))) for (k, y), g in curves.groupby(["kommun_kod", "start_year"])],
    columns=["kommun_kod", "period", "spells", "median"])
published = con.sql("""
    select kommun_kod, period, value, suppressed from marts.kpi_published
    where kpi_id = 'FS_MEDIAN_MAN' and period_type = 'YEAR' and dimension = 'TOTAL'
""").df()
check = medians.merge(published, on=["kommun_kod", "period"], how="outer", indicator=True)
assert (check["_merge"] == "both").all(), check[check["_merge"] != "both"]
shown = check[~check["suppressed"]]
assert (shown["median"].isna() == shown["value"].isna()).all()
assert (shown["median"].dropna() == shown["value"].dropna()).all()
print(f"Samma median som det publicerade FS_MEDIAN_MAN i alla {len(shown)} publicerade rader "
      f"({int(check['suppressed'].sum())} är undertryckta där).")

check = check.sort_values(["period", "kommun_kod"])
pd.DataFrame({
    "Startår": check["period"],
    "Kommun": check["kommun_kod"].map(kommun),
    "Perioder i kurvan": check["spells"].map(tal),
    "Median, månader": check["median"].map(lambda m: "ej nådd" if pd.isna(m) else tal(m)),
    "Publicerat": [("för få" if s else "ej nådd" if pd.isna(v) else tal(v))
                   for s, v in zip(check["suppressed"], check["value"])],
}).reset_index(drop=True)

# %% [markdown]
# ## Jämföra grupper: per typ av insats och startår

# %%
by_type = pd.DataFrame(
    [(t, y, len(g), median(fit(g, f"{t} {y}"))) for (t, y), g in spells.groupby(["insats_typ", "start_year"])],
    columns=["Insats", "Startår", "Perioder", "median"])
by_type["Median, månader"] = by_type.pop("median").map(lambda m: "ej nådd" if pd.isna(m) else tal(m))
by_type["Perioder"] = by_type["Perioder"].map(tal)
by_type
