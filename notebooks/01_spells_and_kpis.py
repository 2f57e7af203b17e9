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
# # Deltagarperioder och nyckeltal
#
# The database holds pseudonymised microdata (`person_key` is a keyed hash, no personnummer).
# Open it **read-only**: DuckDB takes one writer at a time, and the pipeline is that writer.
# Set `UTFALL_DB` to the database to read (default: the one `make demo` builds); `make notebooks`
# opens JupyterLab on it.
#
# Which table is which (spec/metrics.md, "The exact table and the published table"):
#
# - `marts.participation_spell` and `marts.kpi_value` are for analysts and researchers: the
#   microdata and the exact KPIs, nothing perturbed or suppressed. Fine for research; never
#   shown, printed or sent outside the analysts.
# - `marts.kpi_published` is the KPIs *as published*: what the report and `utfall export` give
#   the managers' network, counts perturbed by the cell key method (at most ±8), small cells
#   suppressed, breakdowns per year, quarters for `TOTAL` only. Never add up its cells: they are
#   perturbed, and suppressed ones are missing. Research figures below come from the microdata.

# %%
import os

import duckdb
import pandas as pd

from utfall.schemas.kommuner import KOMMUNER

db_path = os.environ.get("UTFALL_DB", "../build/utfall.duckdb")
con = duckdb.connect(db_path, read_only=True)
WORK_OR_STUDIES = ("ARBETE", "ARBETE_SUBVENTIONERAT", "STUDIER")


def kommun(code: str) -> str:
    return "Alla kommuner" if code == "ALLA" else KOMMUNER.get(code, code)


def procent(x) -> str:
    """42,3 % for people; unknown stays unknown."""
    return "okänt" if pd.isna(x) else f"{100 * x:.1f}\u00a0%".replace(".", ",")


def tal(n) -> str:
    return "okänt" if pd.isna(n) else f"{int(n):,}".replace(",", "\u00a0")


run = con.execute("select key_label, as_of from meta.run order by finished_at desc limit 1").fetchall()[0]
print(f"Databas: {db_path}\nData till och med: {run[1]:%Y-%m-%d}"
      + ("\nDEMODATA: påhittade personer, publik demonyckel." if run[0] == "DEMO" else ""))

# %% [markdown]
# ## Deltagarperioder per kommun
#
# On FS at start is `JA`, `NEJ` or `OKAND` (metrics.md): a municipality that delivered no FS data
# has only `OKAND`, so its share on FS is *unknown*, not 0 %. The share is therefore taken over the
# spells whose FS status is known, and the share unknown is shown beside it.

# %%
per_kommun = con.sql("""
    select kommun_kod, count(*) as spells, count(exit_date) as exits,
           count(*) filter (where fs_at_start = 'JA') as fs_yes,
           count(*) filter (where fs_at_start in ('JA', 'NEJ')) as fs_known
    from marts.participation_spell group by kommun_kod order by kommun_kod
""").df()
pd.DataFrame({
    "Kommun": per_kommun["kommun_kod"].map(kommun),
    "Deltagarperioder": per_kommun["spells"].map(tal),
    "Avslutade": per_kommun["exits"].map(tal),
    "Försörjningsstöd vid start (av kända)": (
        per_kommun["fs_yes"] / per_kommun["fs_known"].where(per_kommun["fs_known"] > 0)).map(procent),
    "Okänt om försörjningsstöd vid start": (
        1 - per_kommun["fs_known"] / per_kommun["spells"]).map(procent),
})

# %% [markdown]
# ## Status 6 månader efter avslut
#
# Mature exits only (`mature_6m`: exit + 6 months on or before as_of), as in the KPIs; immature
# exits are left out, never counted as failures.

# %%
STATUS_SV = {"ARBETE": "Arbete", "ARBETE_SUBVENTIONERAT": "Arbete med stöd", "STUDIER": "Studier",
             "ARBETSSOKANDE": "Arbetssökande", "I_INSATS": "I insats",
             "EJ_TILLGANGLIG": "Ej tillgänglig", "OVRIGT": "Övrigt", "OKAND": "Okänt"}
status = con.sql("""
    select kommun_kod, status_6m, count(*) as n from marts.participation_spell
    where mature_6m group by all
""").df()
table = status.pivot_table(index="kommun_kod", columns="status_6m", values="n", aggfunc="sum",
                           fill_value=0)
table = table.reindex(columns=[s for s in STATUS_SV if s in table.columns])
table.index = table.index.map(kommun)
table.index.name = "Kommun"
table.rename(columns=STATUS_SV).rename_axis(columns=None).map(tal)

# %% [markdown]
# ## I arbete eller studier 6 månader efter avslut, från mikrodata
#
# `AME_ARB_STUD_6M` per municipality and exit year, computed from `marts.participation_spell`
# (metrics.md: mature exits with status `ARBETE`, `ARBETE_SUBVENTIONERAT` or `STUDIER` / all mature
# exits), `ALLA` over every spell of the run. It must equal the exact KPI in `marts.kpi_value`:
# the cell below stops with an error if it does not.

# %%
def work_or_studies_6m(by: str = "") -> pd.DataFrame:
    group = f", {by}" if by else ""
    return con.execute(f"""
        with mature as (
            select kommun_kod, cast(year(exit_date) as varchar) as period {group},
                   status_6m in {WORK_OR_STUDIES} as success
            from marts.participation_spell where mature_6m
        )
        select kommun_kod, period {group}, count(*) filter (where success) as numerator,
               count(*) as denominator
        from mature group by all
        union all
        select 'ALLA', period {group}, count(*) filter (where success), count(*)
        from mature group by all
    """).df()


mine = work_or_studies_6m()
exact = con.sql("""
    select kommun_kod, period, numerator, denominator, value
    from marts.kpi_value  -- the exact table: for analysts and researchers, never published
    where kpi_id = 'AME_ARB_STUD_6M' and period_type = 'YEAR' and dimension = 'TOTAL'
""").df()
both = mine.merge(exact, on=["kommun_kod", "period"], how="outer", indicator=True,
                  suffixes=("", "_kpi"))
assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
assert (both["numerator"] == both["numerator_kpi"]).all()
assert (both["denominator"] == both["denominator_kpi"]).all()
assert ((both["numerator"] / both["denominator"] - both["value"]).abs() < 1e-12).all()
print(f"Samma som marts.kpi_value i alla {len(both)} rader.")

both = both.sort_values(["period", "kommun_kod"])
pd.DataFrame({
    "Avslutsår": both["period"],
    "Kommun": both["kommun_kod"].map(kommun),
    "I arbete eller studier": both["numerator"].map(tal),
    "Mogna avslut": both["denominator"].map(tal),
    "Andel": (both["numerator"] / both["denominator"]).map(procent),
}).reset_index(drop=True)

# %% [markdown]
# ## Som nätverket ser det (marts.kpi_published)
#
# The same KPI as published: counts perturbed, small groups suppressed ("för få"). For reading
# only: summing or differencing these cells gives neither the exact figures nor anything else.

# %%
published = con.sql("""
    select kommun_kod, period, numerator, denominator, value, suppressed
    from marts.kpi_published
    where kpi_id = 'AME_ARB_STUD_6M' and period_type = 'YEAR' and dimension = 'TOTAL'
    order by period, kommun_kod
""").df()
pd.DataFrame({
    "Avslutsår": published["period"],
    "Kommun": published["kommun_kod"].map(kommun),
    "Andel": [("för få" if s else procent(v))
              for s, v in zip(published["suppressed"], published["value"])],
    "Underlag (ungefärligt)": [("för få" if s else tal(d))
                               for s, d in zip(published["suppressed"], published["denominator"])],
})

# %% [markdown]
# ## Jämföra grupper: kom de med försörjningsstöd vid start lika ofta i arbete eller studier?
#
# A research question, so from the microdata, per exit year (the KPI's own period), for all
# municipalities together; checked against the exact breakdown `FS_VID_START`.

# %%
cohorts = work_or_studies_6m("fs_at_start")
cohorts = cohorts[cohorts["kommun_kod"] == "ALLA"]
exact_cohorts = con.sql("""
    select period, dimension_value as fs_at_start, numerator, denominator
    from marts.kpi_value  -- the exact table: for analysts and researchers, never published
    where kpi_id = 'AME_ARB_STUD_6M' and kommun_kod = 'ALLA' and period_type = 'YEAR'
      and dimension = 'FS_VID_START'
""").df()
check = cohorts.merge(exact_cohorts, on=["period", "fs_at_start"], how="outer",
                      suffixes=("", "_kpi"))
assert (check["numerator"] == check["numerator_kpi"]).all()
assert (check["denominator"] == check["denominator_kpi"]).all()

FS_SV = {"JA": "Ja", "NEJ": "Nej", "OKAND": "Okänt"}
check = check.sort_values(["period", "fs_at_start"])
pd.DataFrame({
    "Avslutsår": check["period"],
    "Försörjningsstöd vid start": check["fs_at_start"].map(FS_SV),
    "I arbete eller studier": check["numerator"].map(tal),
    "Mogna avslut": check["denominator"].map(tal),
    "Andel": (check["numerator"] / check["denominator"]).map(procent),
}).reset_index(drop=True)
