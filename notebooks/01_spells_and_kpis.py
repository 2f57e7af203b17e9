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
# Set `UTFALL_DB` to the database to read (default: the one `make demo` builds).
#
# Which table is which (spec/metrics.md, "The exact table and the published table"):
#
# - `marts.participation_spell` and `marts.kpi_value` are for analysts and researchers: the
#   microdata and the exact KPIs, nothing perturbed or suppressed. Fine for research; never
#   shown, printed or sent outside the analysts.
# - `marts.kpi_published` is the KPIs *as published*: what the report and `utfall export` give
#   the managers' network, counts perturbed by the cell key method (at most ±8), small cells
#   suppressed, breakdowns per year, quarters for `TOTAL` only. Anything "as published" below
#   reads it.

# %%
import os

import duckdb

db_path = os.environ.get("UTFALL_DB", "../build/utfall.duckdb")
con = duckdb.connect(db_path, read_only=True)
con.sql("select key_label, as_of, finished_at from meta.run order by finished_at desc limit 1")

# %% [markdown]
# ## Spells: one row per person, municipality and continuous participation

# %%
spells = con.sql("select * from marts.participation_spell").df()
spells.groupby("kommun_kod").agg(
    spells=("spell_id", "count"),
    exited=("exit_date", "count"),
    on_fs_at_start=("fs_at_start", lambda s: (s == "JA").mean()),
)

# %% [markdown]
# Status 6 months after exit, by municipality (mature exits only, as in the KPIs):

# %%
mature = spells[spells["mature_6m"]]
mature.pivot_table(index="kommun_kod", columns="status_6m", values="spell_id",
                   aggfunc="count", fill_value=0)

# %% [markdown]
# ## The KPIs as published (marts.kpi_published)
#
# What the managers' network sees: counts perturbed by the cell key method, small groups
# suppressed. Researchers compute from the exact `marts.kpi_value` or the microdata instead.

# %%
con.sql("""
    select kommun_kod, period, numerator, denominator, round(value, 3) as value,
           round(ci_low, 3) as ci_low, round(ci_high, 3) as ci_high, suppressed
    from marts.kpi_published
    where kpi_id = 'AME_ARB_STUD_6M' and period_type = 'YEAR' and dimension = 'TOTAL'
    order by period, kommun_kod
""").df()

# %% [markdown]
# ## Comparing cohorts: were those on FS at start less often in work or studies?
#
# A research question, so from the exact `marts.kpi_value` (not for publication).

# %%
con.sql("""
    select dimension_value as fs_vid_start, sum(numerator) as in_work_or_studies,
           sum(denominator) as exits, round(sum(numerator) / sum(denominator), 3) as share
    from marts.kpi_value  -- the exact table: for analysts and researchers, never published
    where kpi_id = 'AME_ARB_STUD_6M' and kommun_kod = 'ALLA' and period_type = 'YEAR'
      and dimension = 'FS_VID_START'
    group by all order by 1
""").df()
