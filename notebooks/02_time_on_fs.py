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
# # Time on försörjningsstöd from the start of a spell (Kaplan-Meier)
#
# `marts.participation_spell` carries, for spells that were on FS in their start month, the time
# on FS in months (`fs_km_months`) and whether the FS exit was observed (`fs_km_exit`) or censored
# at the end of the covered months. This is the curve behind the KPI `FS_MEDIAN_MAN`.
#
# Microdata for researchers (pseudonymised, not perturbed or suppressed): these curves are never
# for published charts. What the managers' network sees of the median is `FS_MEDIAN_MAN` in
# `marts.kpi_published`.

# %%
import os

import duckdb
import pandas as pd
import plotly.graph_objects as go

db_path = os.environ.get("UTFALL_DB", "../build/utfall.duckdb")
con = duckdb.connect(db_path, read_only=True)
spells = con.sql("""
    select kommun_kod, insats_typ, fs_km_months as t, fs_km_exit as exited
    from marts.participation_spell where fs_km_months is not null
""").df()
spells.groupby("kommun_kod")["exited"].agg(["count", "sum"])


# %%
def kaplan_meier(t: pd.Series, exited: pd.Series) -> pd.DataFrame:
    """S(t) = product over event times u <= t of (1 - d_u / n_u); censored at t is at risk at t."""
    frame = pd.DataFrame({"t": t, "d": exited.astype(int), "c": (~exited).astype(int)})
    table = frame.groupby("t")[["d", "c"]].sum().sort_index()
    table["n"] = len(frame) - (table["d"] + table["c"]).cumsum().shift(fill_value=0)
    table["s"] = (1 - table["d"] / table["n"]).cumprod()
    return table.reset_index()


fig = go.Figure()
for kommun, group in spells.groupby("kommun_kod"):
    curve = kaplan_meier(group["t"], group["exited"])
    fig.add_trace(go.Scatter(x=[0, *curve["t"]], y=[1, *curve["s"]], mode="lines",
                             line_shape="hv", name=kommun))
fig.add_hline(y=0.5, line_dash="dot")
fig.update_layout(xaxis_title="Månader från start", yaxis_title="Andel kvar med försörjningsstöd")
fig

# %% [markdown]
# The median is the first month where the curve reaches 0.5 or below; compare with the KPI table:

# %%
medians = {k: kaplan_meier(g["t"], g["exited"]).query("s <= 0.5 + 1e-9")["t"].min()
           for k, g in spells.groupby("kommun_kod")}
medians

# %% [markdown]
# ## Comparing cohorts: by type of intervention

# %%
by_type = spells.groupby("insats_typ").apply(
    lambda g: kaplan_meier(g["t"], g["exited"]).query("s <= 0.5 + 1e-9")["t"].min(),
    include_groups=False,
)
by_type.rename("median_months").to_frame()
