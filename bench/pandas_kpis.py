"""An independent plain-pandas reading of spec/metrics.md: `marts.kpi_value` (exact) and
`marts.kpi_published` (the cell key method of "Disclosure control").

Written from the specification only (not from marts/sql), as a competent analyst would write it
without this project: DataFrames, merges, group-bys and a few Python loops. It serves two purposes:

- a differential oracle for the SQL marts (tests/test_pandas_reference.py), and
- the "without this project" baseline of a later benchmark, so it is deliberately not optimised.

    core = load_core(con)                      # the six core tables as DataFrames
    kpi_value = compute(core, date(2024, 6, 30))
    kpi_value, kpi_published = compute_both(core, date(2024, 6, 30), min_cell=5)

Readings of the spec where it leaves a choice open are marked "READING:" below.
"""

from __future__ import annotations

import calendar
import hashlib
import math
from datetime import date, datetime, timedelta
from fractions import Fraction

import numpy as np
import pandas as pd

from utfall.marts.catalogue import CATALOGUE

Z = 1.959964
HORIZONS = (3, 6, 12)
CORE_TABLES = ("person", "insats_episode", "fs_month", "fs_coverage", "status_observation",
               "progression_assessment")
COLUMNS = ["kpi_id", "kommun_kod", "period", "period_type", "dimension", "dimension_value",
           "numerator", "denominator", "value", "ci_low", "ci_high"]
PUBLISHED_COLUMNS = [*COLUMNS, "suppressed"]
# the true sizes of a cell's numerator and denominator units and the sums of their record keys,
# and the exact value (a Fraction) that a published mean or expected value is rounded from
CELL_FACTS = ["cell_kind", "n_size", "d_size", "n_ck", "d_ck", "exact"]

# schema.md's status table, in its order (ties between observations are broken by it)
STATUS_ORDER = ("ARBETE", "ARBETE_SUBVENTIONERAT", "STUDIER", "ARBETSSOKANDE", "I_INSATS",
                "EJ_TILLGANGLIG", "OVRIGT", "OKAND")
WORK_OR_STUDIES = {"ARBETE", "ARBETE_SUBVENTIONERAT", "STUDIER"}
UNSUBSIDISED_WORK_OR_STUDIES = {"ARBETE", "STUDIER"}
END_REASON_WORK_OR_STUDIES = {"ARBETE", "STUDIER"}

START_HORIZONS = (6, 12)
SPELL_DIMS = ("TOTAL", "KON", "ALDER", "INSATS", "FODD_UTRIKES", "FS_VID_START",
              "LANGVARIGT_FS_FORE", "REMITTERAD", "AVSTAND")
# every value of each dimension's list (metrics.md "Breakdowns", schema.md's insats_typ)
DIM_VALUES = {
    "TOTAL": ["ALLA"], "KON": ["K", "M"], "ALDER": ["16-24", "25-29", "30-49", "50+"],
    "INSATS": ["KARTLAGGNING", "VAGLEDNING", "ARBETSTRANING", "PRAKTIK",
               "SUBVENTIONERAD_ANSTALLNING", "UTBILDNING", "STODJAT_ARBETE", "SOCIAL_REHAB",
               "OVRIGT"],
    "FODD_UTRIKES": ["JA", "NEJ", "OKAND"], "FS_VID_START": ["JA", "NEJ", "OKAND"],
    "LANGVARIGT_FS_FORE": ["JA", "NEJ", "OKAND"],
    "REMITTERAD": ["IFO", "AF", "FK", "EGEN", "OVRIGT", "OKAND"],
    "AVSTAND": ["NARA", "OSAKER", "LANGT", "OKAND"],
}
EXPECTED_MIN_N = 15  # SALSA's smallest unit: expected values are published from p(D) = 15
NOISE_VARIANCE = 4.083  # sigma^2 of the cell key noise d, for the noise-aware interval
POPULATION_DIMS = ("TOTAL", "KON", "ALDER", "FODD_UTRIKES")
COUNT_KPIS = {"AME_STARTADE", "AME_AVSLUTADE"}


# --------------------------------------------------------------------------------------------
# dates and months


def _as_date(x) -> date | None:
    if x is None:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    if x is pd.NaT:
        return None
    if isinstance(x, pd.Timestamp):
        return x.date()
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    if isinstance(x, np.datetime64):
        return None if np.isnat(x) else pd.Timestamp(x).date()
    return pd.Timestamp(x).date()


def _dates(series: pd.Series) -> pd.Series:
    return series.map(_as_date).astype(object)


def month_index(d: date) -> int:
    """Months since year 0: month arithmetic on months is plain integer arithmetic."""
    return d.year * 12 + d.month - 1


def add_months(d: date, h: int) -> date:
    """The same day h months later, or the last day of that month."""
    y, m0 = divmod(d.month - 1 + h, 12)
    y += d.year
    return date(y, m0 + 1, min(d.day, calendar.monthrange(y, m0 + 1)[1]))


def year_label(mi: int) -> str:
    return str(mi // 12)


def quarter_label(mi: int) -> str:
    return f"{mi // 12}-Q{mi % 12 // 3 + 1}"


def age_at(birth_year, birth_month, d: date) -> int | None:
    """floor(months from the birth month to month(d) / 12)."""
    if birth_year is None or pd.isna(birth_year) or pd.isna(birth_month):
        return None
    months = month_index(d) - (int(birth_year) * 12 + int(birth_month) - 1)
    return months // 12


def age_band(age) -> str | None:
    if age is None or pd.isna(age) or age < 16:
        return None
    if age <= 24:
        return "16-24"
    if age <= 29:
        return "25-29"
    if age <= 49:
        return "30-49"
    return "50+"


def _born_abroad(x) -> str:
    if x is None or pd.isna(x):
        return "OKAND"
    return "JA" if bool(x) else "NEJ"


# --------------------------------------------------------------------------------------------
# statistics


def wilson(x: float, n: float) -> tuple[float, float]:
    return wilson_p(x / n, n)


def wilson_p(p: float, n: float) -> tuple[float, float]:
    """Wilson 95 % bounds of a proportion p on a (possibly effective, non-whole) size n."""
    z2 = Z * Z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def noise_aware_interval(x: float, m: float) -> tuple[float, float]:
    """Wilson of x / m on m_eff = m / deff ("Disclosure control"): the published counts carry the
    cell key noise (variance NOISE_VARIANCE), which a reader must allow for besides sampling."""
    q = (x + 2) / (m + 4)
    deff = 1 + NOISE_VARIANCE * (1 + q * q) / (m * q * (1 - q))
    return wilson_p(x / m, m / deff)


def round_half_up(x: Fraction, places: int) -> Fraction:
    """x rounded to `places` decimals, halves up, in exact arithmetic (a double such as
    2.2499999999999996 for 2.25 would round the wrong way). Values here are never negative."""
    scale = 10 ** places
    return Fraction(math.floor(x * scale + Fraction(1, 2)), scale)


def km_median(times, events) -> float | None:
    """Kaplan-Meier median, exact: the smallest event time t with S(t) <= 1/2."""
    times = [int(t) for t in times]
    events = [bool(e) for e in events]
    s = Fraction(1)
    for u in sorted({t for t, e in zip(times, events) if e}):
        at_risk = sum(1 for t in times if t >= u)  # censored at u is still at risk at u
        exits = sum(1 for t, e in zip(times, events) if e and t == u)
        s *= Fraction(at_risk - exits, at_risk)
        if s <= Fraction(1, 2):
            return float(u)
    return None


# --------------------------------------------------------------------------------------------
# loading


def _text_last(value) -> tuple[bool, str]:
    """A sort key that puts missing text (None, or NaN from a pandas string column) last."""
    return (False, value) if isinstance(value, str) else (True, "")


def load_core(con) -> dict[str, pd.DataFrame]:
    """The core tables of a DuckDB connection as DataFrames."""
    return {t: con.execute(f"select * from core.{t}").df() for t in CORE_TABLES}


def _prepare(core: dict[str, pd.DataFrame], as_of: date):
    """The core as known on as_of (metrics.md, "Dates and months")."""
    as_of_mi = month_index(as_of)

    person = core["person"].copy()

    ep = core["insats_episode"].copy()
    ep["start_date"] = _dates(ep["start_date"])
    ep["end_date"] = _dates(ep["end_date"])
    ep = ep[ep["start_date"].map(lambda d: d <= as_of).astype(bool)].copy()
    # an episode that ends after as_of is still ongoing
    ep["end_date"] = ep["end_date"].map(lambda d: d if d is not None and d <= as_of else None)
    ep["end_date"] = ep["end_date"].astype(object)

    fs = core["fs_month"].copy()
    fs["mi"] = _dates(fs["month"]).map(month_index)
    fs["fs_amount"] = pd.to_numeric(fs["fs_amount"], errors="coerce").astype(float)
    fs = fs[(fs["mi"] <= as_of_mi) & (fs["fs_amount"] > 0)]
    paid = fs[["person_key", "kommun_kod", "mi"]].drop_duplicates().reset_index(drop=True)

    cov = core["fs_coverage"].copy()
    cov["mi"] = _dates(cov["month"]).map(month_index)
    cov = cov[cov["mi"] <= as_of_mi]
    coverage = {k: set(g["mi"]) for k, g in cov.groupby("kommun_kod")}

    on_fs = {p: set(g["mi"]) for p, g in paid.groupby("person_key")}

    # READING: an unmapped status (null) is no observation, like OKAND
    obs = core["status_observation"].copy()
    obs["observed_on"] = _dates(obs["observed_on"])
    obs = obs[obs["status"].notna() & obs["observed_on"].map(lambda d: d <= as_of).astype(bool)].copy()

    pa = core["progression_assessment"].copy()
    pa["assessed_on"] = _dates(pa["assessed_on"])
    pa = pa[pa["person_key"].notna() & pa["assessed_on"].map(lambda d: d <= as_of).astype(bool)].copy()

    return person, ep, paid, coverage, on_fs, obs, pa


# --------------------------------------------------------------------------------------------
# participation spells


def build_spells(ep: pd.DataFrame, person: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Rules 1-6 of "Participation spells"."""
    ep = ep.copy()
    ep["_end_sort"] = ep["end_date"].map(lambda d: d if d is not None else date.max)
    ep["days"] = [((e if e is not None else as_of) - s).days + 1
                  for s, e in zip(ep["start_date"], ep["end_date"])]
    # rule 1: equal dates are ordered by what the episodes are (insats_typ), and only then by
    # episode_id, which is an implementation's numbering; READING: a null type sorts last
    ep["_typ_null"] = ep["insats_typ"].map(lambda t: not isinstance(t, str))
    ep["_typ"] = ep["insats_typ"].map(lambda t: t if isinstance(t, str) else "")
    ep = ep.sort_values(["person_key", "kommun_kod", "start_date", "_end_sort", "_typ_null",
                         "_typ", "episode_id"])
    # plain Python objects: iterating over Arrow-backed columns row by row is slow
    ep = ep.astype(object)

    rows = []
    spell = None
    for pos, e in enumerate(ep.itertuples(index=False)):
        same_group = spell is not None and (e.person_key, e.kommun_kod) == spell["group"]
        joins = same_group and (
            spell["ongoing"] or (e.start_date - spell["latest_end"]).days <= 30)
        if not joins:
            spell = {"group": (e.person_key, e.kommun_kod), "person_key": e.person_key,
                     "kommun_kod": e.kommun_kod, "episodes": [], "ongoing": False,
                     "latest_end": None}
            rows.append(spell)
        spell["episodes"].append((pos, e))  # pos: the order of rule 1
        if e.end_date is None:
            spell["ongoing"] = True
        elif spell["latest_end"] is None or e.end_date > spell["latest_end"]:
            spell["latest_end"] = e.end_date

    out = []
    for i, sp in enumerate(rows):
        eps = sp["episodes"]
        start = min(e.start_date for _, e in eps)
        exit_date = None if sp["ongoing"] else sp["latest_end"]
        # type: most days; ties: later start, then the code that sorts first
        typ_ep = sorted(eps, key=lambda pe: (-pe[1].days, -pe[1].start_date.toordinal(),
                                             *_text_last(pe[1].insats_typ)))[0][1]
        # the first non-null referral and distance among the episodes, in rule-1 order
        referred = next((e.referred_from for _, e in eps if isinstance(e.referred_from, str)), None)
        distance = next((e.distance for _, e in eps if isinstance(e.distance, str)), None)
        end_reason = None
        if exit_date is not None:
            # latest end; ties: the longer, then rule-1 order
            er_ep = sorted(eps, key=lambda pe: (-pe[1].end_date.toordinal(), -pe[1].days,
                                                pe[0]))[0][1]
            end_reason = er_ep.end_reason
        out.append({"spell_id": i, "person_key": sp["person_key"], "kommun_kod": sp["kommun_kod"],
                    "start_date": start, "exit_date": exit_date, "insats_typ": typ_ep.insats_typ,
                    "end_reason": end_reason, "referred_from": referred, "distance": distance})
    spells = pd.DataFrame(out, columns=["spell_id", "person_key", "kommun_kod", "start_date",
                                        "exit_date", "insats_typ", "end_reason", "referred_from",
                                        "distance"])
    spells = spells.merge(person[["person_key", "birth_year", "birth_month", "sex", "born_abroad"]],
                          on="person_key", how="left")
    spells["start_mi"] = spells["start_date"].map(month_index)
    spells["exit_mi"] = pd.Series([month_index(d) if d is not None else None
                                   for d in spells["exit_date"]], index=spells.index, dtype=object)
    spells["age_at_start"] = [age_at(by, bm, d) for by, bm, d in
                              zip(spells["birth_year"], spells["birth_month"], spells["start_date"])]
    return spells


def _time_on_fs(s0: int, fs: set, cov: set) -> tuple[int, bool]:
    """Time on FS from month s0 (on FS and covered): (T, observed exit)."""
    last = max(cov)
    m = s0
    while m + 2 <= last:
        if all(x in cov and x not in fs for x in (m, m + 1, m + 2)):
            return m - s0, True
        m += 1
    f = max(x for x in cov if x in fs)
    return f - s0 + 1, False


def add_fs_attributes(spells: pd.DataFrame, on_fs: dict, coverage: dict) -> pd.DataFrame:
    # READING: "on FS" is any municipality's FS, also where the spell's own municipality has no
    # coverage, so such a spell can be JA at start (only NEJ needs its own coverage)
    def per_spell(s):
        fs = on_fs.get(s.person_key, set())
        cov = coverage.get(s.kommun_kod, set())
        s0 = s.start_mi
        if s0 in fs or s0 - 1 in fs:
            at_start = "JA"
        elif s0 in cov and s0 - 1 in cov:
            at_start = "NEJ"
        else:
            at_start = "OKAND"
        before = range(s0 - 12, s0)
        n_before = sum(m in fs for m in before)
        all_before_covered = all(m in cov for m in before)
        if n_before >= 10:
            long_before = "JA"
        elif all_before_covered:
            long_before = "NEJ"
        else:
            long_before = "OKAND"
        after = None
        if s.exit_date is not None:
            months = range(s.exit_mi + 1, s.exit_mi + 13)
            if all(m in cov for m in months):
                after = sum(m in fs for m in months)
        km_t, km_exit = None, None
        if s0 in fs and s0 in cov:
            km_t, km_exit = _time_on_fs(s0, fs, cov)
        return {"fs_at_start": at_start, "long_fs_before": long_before,
                "fs_months_before_12": n_before if all_before_covered else None,
                "fs_months_after_12": after, "km_t": km_t, "km_exit": km_exit}

    if spells.empty:
        for c in ("fs_at_start", "long_fs_before", "fs_months_before_12", "fs_months_after_12",
                  "km_t", "km_exit"):
            spells[c] = pd.Series(dtype=object)
        return spells
    cols = spells[["person_key", "kommun_kod", "start_mi", "exit_date", "exit_mi"]].astype(object)
    attrs = pd.DataFrame([per_spell(s) for s in cols.itertuples(index=False)],
                         index=spells.index, dtype=object)
    return pd.concat([spells, attrs], axis=1)


def add_horizon_status(spells, obs, ep, on_fs, coverage, as_of):
    """mature_h, status_h, off_fs_h (metrics.md, "Status at a horizon") and, from the start of
    every spell, mature_start_h, status_start_h, off_fs_start_h ("Status after start")."""
    obs, ep = _status_inputs(obs, ep, as_of)
    for h in HORIZONS:
        r = spells["exit_date"].map(lambda d, h=h: add_months(d, h) if d is not None else None)
        _status_columns(spells, r, f"{h}m", obs, ep, on_fs, coverage, as_of)
    for h in START_HORIZONS:
        t = spells["start_date"].map(lambda d, h=h: add_months(d, h))
        _status_columns(spells, t, f"start_{h}m", obs, ep, on_fs, coverage, as_of)
    return spells


def _status_inputs(obs, ep, as_of):
    obs = obs[obs["status"] != "OKAND"].copy()
    obs["basis_rank"] = (obs["basis"] != "FOLLOWUP").astype(int)
    obs["status_rank"] = obs["status"].map(lambda s: STATUS_ORDER.index(s)
                                           if s in STATUS_ORDER else len(STATUS_ORDER))
    obs["obs_ord"] = obs["observed_on"].map(lambda d: d.toordinal())
    ep = ep.copy()
    ep["start_ord"] = ep["start_date"].map(lambda d: d.toordinal())
    ep["end_ord"] = ep["end_date"].map(lambda d: (d if d is not None else as_of).toordinal())
    return obs, ep


def _status_columns(spells, r, suffix, obs, ep, on_fs, coverage, as_of):
    """The status at the dates r (None: no such date) and off FS in month(r), as columns."""
    spells[f"r_{suffix}"] = r
    spells[f"mature_{suffix}"] = r.map(lambda d: d is not None and d <= as_of)
    mature = spells.loc[spells[f"mature_{suffix}"], ["spell_id", "person_key"]].copy()
    mature["r_ord"] = r[spells[f"mature_{suffix}"]].map(lambda d: d.toordinal())

    cand = mature.merge(obs, on="person_key")
    cand["dist"] = (cand["obs_ord"] - cand["r_ord"]).abs()
    cand = cand[cand["dist"] <= 45]
    cand = cand.sort_values(["spell_id", "dist", "basis_rank", "obs_ord", "status_rank"],
                            ascending=[True, True, True, False, True])
    observed = cand.drop_duplicates("spell_id").set_index("spell_id")["status"]

    active = mature.merge(ep[["person_key", "start_ord", "end_ord"]], on="person_key")
    active = active[(active["start_ord"] <= active["r_ord"]) &
                    (active["r_ord"] <= active["end_ord"])]
    in_insats = set(active["spell_id"])

    # status: the closest observation, else an active insats, else OKAND
    mature_ids = set(mature["spell_id"])
    status = []
    for sid in spells["spell_id"]:
        if sid not in mature_ids:
            status.append(None)
        elif sid in observed.index:
            status.append(observed[sid])
        elif sid in in_insats:
            status.append("I_INSATS")
        else:
            status.append("OKAND")
    spells[f"status_{suffix}"] = pd.Series(status, index=spells.index, dtype=object)

    # off FS at month(r): mature, on FS at start, month(r) covered by the spell's kommun
    off = []
    for mat, at_start, rh, kommun, pkey in zip(
            spells[f"mature_{suffix}"], spells["fs_at_start"], spells[f"r_{suffix}"],
            spells["kommun_kod"], spells["person_key"]):
        m = month_index(rh) if mat else None
        if not mat or at_start != "JA" or m not in coverage.get(kommun, set()):
            off.append(None)
        else:
            off.append(m not in on_fs.get(pkey, set()))
    spells[f"off_fs_{suffix}"] = pd.Series(off, index=spells.index, dtype=object)


def add_returns(spells: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """returned_12m ("Returns to the AME"): True / False for exits with exit + 12 months <= as_of,
    None for the others."""
    starts = {p: sorted(g["start_date"]) for p, g in spells.groupby("person_key")}
    returned = []
    for pkey, exit_date in zip(spells["person_key"], spells["exit_date"]):
        if exit_date is None or add_months(exit_date, 12) > as_of:
            returned.append(None)
            continue
        until = add_months(exit_date, 12)
        returned.append(any(exit_date < s <= until for s in starts[pkey]))
    spells["returned_12m"] = pd.Series(returned, index=spells.index, dtype=object)
    return spells


def add_progression(spells: pd.DataFrame, pa: pd.DataFrame) -> pd.DataFrame:
    """prog_delta: last minus first occasion mean score_norm, of one rater, in the window."""
    ex = spells.loc[spells["exit_date"].notna(),
                    ["spell_id", "person_key", "kommun_kod", "start_date", "exit_date"]]
    a = ex.merge(pa[["person_key", "kommun_kod", "assessed_on", "rater", "dimension", "score",
                     "scale_min", "scale_max", "score_norm"]], on=["person_key", "kommun_kod"])
    a = a[(a["assessed_on"] >= a["start_date"].map(lambda d: d - timedelta(days=30))) &
          (a["assessed_on"] <= a["exit_date"].map(lambda d: d + timedelta(days=30)))].copy()
    # "strictly greater" compared exactly: score_norm as a fraction of the delivered score and
    # scale, so that means that are equal on paper are equal here (0.6 + 0 + 0 vs 0.1 + 0.2 + 0.3)
    a["norm"] = [_exact_norm(sc, lo, hi, sn) for sc, lo, hi, sn in
                 zip(a["score"], a["scale_min"], a["scale_max"], a["score_norm"])]
    occasions = (a.groupby(["spell_id", "rater", "assessed_on"])["norm"]
                 .agg(lambda v: sum(v, Fraction(0)) / len(v))
                 .reset_index().sort_values(["spell_id", "rater", "assessed_on"]))
    # staff ratings when there are two or more staff occasions, else self-ratings (if two or more)
    n_occ = occasions.groupby(["spell_id", "rater"]).size().unstack(fill_value=0)
    staff = n_occ["STAFF"] if "STAFF" in n_occ else pd.Series(0, index=n_occ.index)
    own = n_occ["SELF"] if "SELF" in n_occ else pd.Series(0, index=n_occ.index)
    chosen = pd.Series(np.where(staff >= 2, "STAFF", np.where(own >= 2, "SELF", None)),
                       index=n_occ.index, dtype=object).dropna().rename("chosen")
    used = occasions.merge(chosen.reset_index().rename(columns={"chosen": "rater"}),
                           on=["spell_id", "rater"])
    first_last = used.groupby("spell_id")["norm"].agg(["first", "last"])
    deltas = {sid: last - first for sid, first, last in
              zip(first_last.index, first_last["first"], first_last["last"])}
    spells["prog_delta"] = spells["spell_id"].map(
        lambda sid: float(deltas[sid]) if sid in deltas else np.nan)
    spells["prog_improved"] = spells["spell_id"].map(
        lambda sid: deltas[sid] > 0 if sid in deltas else None)
    return spells


def _exact_norm(score, lo, hi, score_norm) -> Fraction:
    if hi != lo:
        return (Fraction(score) - Fraction(lo)) / (Fraction(hi) - Fraction(lo))
    return Fraction(score_norm)


# --------------------------------------------------------------------------------------------
# aggregation to kpi_value rows


def _aggregate(kpi_id: str, kind: str, units: pd.DataFrame, dims, yearly_only=False,
               alla_units: pd.DataFrame | None = None) -> pd.DataFrame:
    """units: one row per unit (spell, person, person-exit) with kommun_kod, pmi (the month that
    sets the period), one column per dimension, and x (numerator contribution) or km_t/km_exit.
    kind: count, share, mean, km."""
    if units.empty:
        return pd.DataFrame(columns=COLUMNS)
    if alla_units is None:
        alla_units = units.assign(kommun_kod="ALLA")
    u = pd.concat([units, alla_units], ignore_index=True)

    per_period = [u.assign(period_type="YEAR", period=u["pmi"].map(year_label))]
    if not yearly_only:
        per_period.append(u.assign(period_type="QUARTER", period=u["pmi"].map(quarter_label)))
    u = pd.concat(per_period, ignore_index=True)

    per_dim = []
    for d in dims:
        part = u.assign(dimension=d, dimension_value=u[d])
        per_dim.append(part[part["dimension_value"].notna()])
    u = pd.concat(per_dim, ignore_index=True)

    keys = ["kommun_kod", "period", "period_type", "dimension", "dimension_value"]
    if kind == "km":
        curves = u.groupby(keys, sort=True)[["km_t", "km_exit", "rk"]].agg(list).reset_index()
        medians = [km_median(t, e) for t, e in zip(curves["km_t"], curves["km_exit"])]
        agg = curves[keys].copy()
        agg["numerator"] = [float(sum(bool(x) for x in e)) for e in curves["km_exit"]]
        agg["denominator"] = [float(len(t)) for t in curves["km_t"]]
        agg["value"] = [np.nan if m is None else m for m in medians]
        agg["n_size"] = agg["numerator"]
        agg["d_size"] = agg["denominator"]
        agg["n_ck"] = [sum(k for k, e in zip(ks, es) if e)
                       for ks, es in zip(curves["rk"], curves["km_exit"])]
        agg["d_ck"] = [sum(ks) for ks in curves["rk"]]
    else:
        if kind == "count":
            u = u.assign(x=1)
        u = u.assign(_rk_num=np.where(u["x"] > 0, u["rk"], 0))
        agg = u.groupby(keys, sort=True).agg(numerator=("x", "sum"), denominator=("x", "size"),
                                             n_ck=("_rk_num", "sum"), d_ck=("rk", "sum"))
        agg = agg.reset_index()
        agg["numerator"] = agg["numerator"].astype(float)
        agg["denominator"] = agg["denominator"].astype(float)
        agg["n_size"] = agg["numerator"] if kind != "count" else agg["denominator"]
        agg["d_size"] = agg["denominator"]
        agg["value"] = agg["numerator"] / agg["denominator"]
        if kind == "count":  # numerator = value = the count, no denominator
            agg["value"] = agg["numerator"]
            agg["denominator"] = np.nan
    agg["kpi_id"] = kpi_id
    agg["ci_low"] = np.nan
    agg["ci_high"] = np.nan
    if kind == "share":
        ci = [wilson(x, n) for x, n in zip(agg["numerator"], agg["denominator"])]
        agg["ci_low"] = [lo for lo, _ in ci]
        agg["ci_high"] = [hi for _, hi in ci]
    elif kind not in ("count", "mean", "km"):
        raise ValueError(kind)
    agg["cell_kind"] = kind
    agg["exact"] = None
    if kind == "mean":  # the sum and the count are whole numbers: their Fraction is exact
        agg["exact"] = [Fraction(int(x), int(n)) for x, n in
                        zip(agg["numerator"], agg["denominator"])]
    return agg[COLUMNS + CELL_FACTS]


def _spell_kpis(spells: pd.DataFrame, coverage: dict) -> list[pd.DataFrame]:
    s = spells.copy()
    s["TOTAL"] = "ALLA"
    s["KON"] = s["sex"]
    s["ALDER"] = s["age_at_start"].map(age_band)
    s["INSATS"] = s["insats_typ"]
    s["FODD_UTRIKES"] = s["born_abroad"].map(_born_abroad)
    s["FS_VID_START"] = s["fs_at_start"]
    s["LANGVARIGT_FS_FORE"] = s["long_fs_before"]
    s["REMITTERAD"] = s["referred_from"].map(lambda v: v if isinstance(v, str) else "OKAND")
    s["AVSTAND"] = s["distance"].map(lambda v: v if isinstance(v, str) else "OKAND")
    s["rk"] = [record_key(f"{p}|{k}|{_as_date(d).isoformat()}")
               for p, k, d in zip(s["person_key"], s["kommun_kod"], s["start_date"])]
    base = ["kommun_kod", "pmi", *SPELL_DIMS, "rk"]

    started = s.assign(pmi=s["start_mi"])
    exits = s[s["exit_date"].notna()].assign(pmi=lambda d: d["exit_mi"])

    out = [
        _aggregate("AME_STARTADE", "count", started[base], SPELL_DIMS),
        _aggregate("AME_AVSLUTADE", "count", exits[base], SPELL_DIMS),
        _aggregate("AME_AVSLUT_ARB_STUD", "share",
                   exits.assign(x=exits["end_reason"].isin(END_REASON_WORK_OR_STUDIES)
                                .astype(int))[base + ["x"]], SPELL_DIMS),
    ]
    for h in HORIZONS:
        mat = exits[exits[f"mature_{h}m"].astype(bool)]
        st = mat[f"status_{h}m"]
        out.append(_aggregate(f"AME_ARB_STUD_{h}M", "share",
                              mat.assign(x=st.isin(WORK_OR_STUDIES).astype(int))[base + ["x"]],
                              SPELL_DIMS))
        known = mat[st != "OKAND"]
        out.append(_aggregate(f"AME_ARB_STUD_KAND_{h}M", "share",
                              known.assign(x=known[f"status_{h}m"].isin(WORK_OR_STUDIES)
                                           .astype(int))[base + ["x"]], SPELL_DIMS))
        out.append(_aggregate(f"AME_OSUB_ARB_STUD_{h}M", "share",
                              mat.assign(x=st.isin(UNSUBSIDISED_WORK_OR_STUDIES).astype(int))
                              [base + ["x"]], SPELL_DIMS))
        out.append(_aggregate(f"AME_OKAND_{h}M", "share",
                              mat.assign(x=(st == "OKAND").astype(int))[base + ["x"]], SPELL_DIMS))
        ejfs = mat[mat[f"off_fs_{h}m"].notna()]
        out.append(_aggregate(f"AME_EJ_FS_{h}M", "share",
                              ejfs.assign(x=ejfs[f"off_fs_{h}m"].astype(bool).astype(int))
                              [base + ["x"]], SPELL_DIMS))

    for h in START_HORIZONS:
        mat = started[started[f"mature_start_{h}m"].astype(bool)]
        out.append(_aggregate(f"AME_ARB_STUD_START_{h}M", "share",
                              mat.assign(x=mat[f"status_start_{h}m"].isin(WORK_OR_STUDIES)
                                         .astype(int))[base + ["x"]], SPELL_DIMS))
        ejfs = mat[mat[f"off_fs_start_{h}m"].notna()]
        out.append(_aggregate(f"AME_EJ_FS_START_{h}M", "share",
                              ejfs.assign(x=ejfs[f"off_fs_start_{h}m"].astype(bool).astype(int))
                              [base + ["x"]], SPELL_DIMS))
    ret = exits[exits["returned_12m"].notna()]
    out.append(_aggregate("AME_ATERKOMST_12M", "share",
                          ret.assign(x=ret["returned_12m"].astype(bool).astype(int))[base + ["x"]],
                          SPELL_DIMS))

    before = started[started["fs_months_before_12"].notna()]
    out.append(_aggregate("FS_MAN_FORE_12", "mean",
                          before.assign(x=before["fs_months_before_12"].astype(int))[base + ["x"]],
                          SPELL_DIMS))
    after = exits[exits["fs_months_after_12"].notna()]
    out.append(_aggregate("FS_MAN_EFTER_12", "mean",
                          after.assign(x=after["fs_months_after_12"].astype(int))[base + ["x"]],
                          SPELL_DIMS))
    km = started[started["km_t"].notna()]
    out.append(_aggregate("FS_MEDIAN_MAN", "km", km[base + ["km_t", "km_exit"]], SPELL_DIMS))

    prog = exits[exits["prog_improved"].notna()]
    out.append(_aggregate("PROG_FORBATTRAD", "share",
                          prog.assign(x=prog["prog_improved"].astype(bool).astype(int))
                          [base + ["x"]],
                          SPELL_DIMS))
    return out


# --------------------------------------------------------------------------------------------
# expected values (indirect standardisation)


def _age_group(age) -> str:
    """The ALDER groups, with 0-15 below 16 and OKAND when the birth month is unknown."""
    if age is None or pd.isna(age):
        return "OKAND"
    return "0-15" if age < 16 else age_band(age)


def _expected_kpis(spells: pd.DataFrame) -> list[pd.DataFrame]:
    """AME_ARB_STUD_{h}M_FORVANTAT and _AVVIKELSE: per municipality and exit year, TOTAL only.
    Each mature exit's expected outcome is its stratum's rate over all municipalities that year."""
    out = []
    exits = spells[spells["exit_date"].notna()].copy()
    exits["year"] = exits["exit_date"].map(lambda d: str(d.year))
    # READING: an unknown sex or born_abroad is a stratum value of its own, like OKAND
    exits["stratum"] = [
        (sex if isinstance(sex, str) else "OKAND", _age_group(age), _born_abroad(abroad),
         fs_start, long_before)
        for sex, age, abroad, fs_start, long_before in zip(
            exits["sex"], exits["age_at_start"], exits["born_abroad"], exits["fs_at_start"],
            exits["long_fs_before"])]
    for h in HORIZONS:
        mat = exits[exits[f"mature_{h}m"].astype(bool)].copy()
        if mat.empty:
            continue
        mat["o"] = mat[f"status_{h}m"].isin(WORK_OR_STUDIES).astype(int)
        rates = mat.groupby(["year", "stratum"])["o"].agg(["sum", "size"])
        rate = {key: Fraction(int(r["sum"]), int(r["size"])) for key, r in rates.iterrows()}
        rows = []
        for (kommun, year), g in mat.groupby(["kommun_kod", "year"]):
            n = len(g)
            r = [rate[(year, st)] for st in g["stratum"]]
            o, e = int(g["o"].sum()), sum(r, Fraction(0))
            v = sum((x * (1 - x) for x in r), Fraction(0))
            diff = float(o - e) / n
            half = Z * math.sqrt(float(v)) / n
            # both rows carry E / n exactly: the published ones are rounded from it
            rows.append((f"AME_ARB_STUD_{h}M_FORVANTAT", kommun, year, float(e), n,
                         float(e) / n, np.nan, np.nan, e / n))
            rows.append((f"AME_ARB_STUD_{h}M_AVVIKELSE", kommun, year, float(o - e), n, diff,
                         diff - half, diff + half, e / n))
        frame = pd.DataFrame(rows, columns=["kpi_id", "kommun_kod", "period", "numerator",
                                            "denominator", "value", "ci_low", "ci_high", "exact"])
        frame = frame.assign(period_type="YEAR", dimension="TOTAL", dimension_value="ALLA",
                             cell_kind="expected", n_size=np.nan,
                             d_size=frame["denominator"], n_ck=0, d_ck=0)
        out.append(frame[COLUMNS + CELL_FACTS])
    return out


# --------------------------------------------------------------------------------------------
# FS-population KPIs


def _population_kpis(paid: pd.DataFrame, person: pd.DataFrame, on_fs: dict,
                     coverage: dict) -> list[pd.DataFrame]:
    people = person.set_index("person_key")

    def covers(kommun, months) -> bool:
        cov = coverage.get(kommun, set())
        return all(m in cov for m in months)

    def dims(frame: pd.DataFrame, year: pd.Series) -> pd.DataFrame:
        p = people.reindex(frame["person_key"])
        frame = frame.copy()
        frame["TOTAL"] = "ALLA"
        frame["KON"] = p["sex"].to_numpy()
        ages = year.to_numpy() - p["birth_year"].to_numpy()
        frame["ALDER"] = [age_band(a) for a in ages]
        frame["FODD_UTRIKES"] = [_born_abroad(b) for b in p["born_abroad"].to_numpy()]
        return frame

    # READING: "Adults are 18 or older in the month": a person belongs to a paying municipality
    # through the months in which that municipality paid them FS while they were 18 or older.
    paid = paid.copy()
    if not paid.empty:
        p = people.reindex(paid["person_key"])
        birth_mi = (p["birth_year"].to_numpy() * 12 + p["birth_month"].to_numpy() - 1)
        paid["age"] = np.floor((paid["mi"].to_numpy() - birth_mi) / 12)
        paid = paid[paid["age"] >= 18]
    if paid.empty:
        return []
    paid["year"] = paid["mi"] // 12
    base = ["kommun_kod", "pmi", *POPULATION_DIMS, "x", "rk"]
    out = []

    # FS_LANGVARIGT, FS_MYCKET_LANGVARIGT: person x paying municipality x year
    members = paid[["person_key", "kommun_kod", "year"]].drop_duplicates()
    members["n12"] = [sum(m in on_fs.get(pk, set()) for m in range(y * 12, y * 12 + 12))
                      for pk, y in zip(members["person_key"], members["year"])]
    members["n36"] = [sum(m in on_fs.get(pk, set()) for m in range(y * 12 - 24, y * 12 + 12))
                      for pk, y in zip(members["person_key"], members["year"])]
    members["cov12"] = [covers(k, range(y * 12, y * 12 + 12))
                        for k, y in zip(members["kommun_kod"], members["year"])]
    members["cov36"] = [covers(k, range(y * 12 - 24, y * 12 + 12))
                        for k, y in zip(members["kommun_kod"], members["year"])]
    members["pmi"] = members["year"] * 12
    for kpi_id, cov_col, x in (("FS_LANGVARIGT", "cov12", members["n12"] >= 10),
                               ("FS_MYCKET_LANGVARIGT", "cov36", members["n36"] >= 27)):
        u = members.assign(x=x.astype(int),
                           rk=[record_key(f"{p}|{y}") for p, y in
                               zip(members["person_key"], members["year"])])
        u = u[u[cov_col]]
        u = dims(u, u["year"])
        alla = u.drop_duplicates(["person_key", "year"]).assign(kommun_kod="ALLA")
        out.append(_aggregate(kpi_id, "share", u[base], POPULATION_DIMS, yearly_only=True,
                              alla_units=alla[base]))

    # FS_ATERKOMST_12M: an FS exit in month m of a person paid by the municipality in m - 1
    ex = paid[["person_key", "kommun_kod", "mi"]].drop_duplicates().copy()
    ex["m"] = ex["mi"] + 1
    ex["is_exit"] = [not any(x in on_fs.get(pk, set()) for x in (m, m + 1, m + 2))
                     for pk, m in zip(ex["person_key"], ex["m"])]
    ex["mature"] = [covers(k, range(m, m + 12)) for k, m in zip(ex["kommun_kod"], ex["m"])]
    ex = ex[ex["is_exit"] & ex["mature"]].copy()
    ex["x"] = [int(any(x in on_fs.get(pk, set()) for x in range(m + 3, m + 12)))
               for pk, m in zip(ex["person_key"], ex["m"])]
    ex["pmi"] = ex["m"]
    ex["rk"] = [record_key(f"{p}|{m // 12}-{m % 12 + 1:02d}") for p, m in zip(ex["person_key"], ex["m"])]
    if not ex.empty:
        ex = dims(ex, ex["m"] // 12)
        alla = ex.drop_duplicates(["person_key", "m"]).assign(kommun_kod="ALLA")
        out.append(_aggregate("FS_ATERKOMST_12M", "share", ex[base], POPULATION_DIMS,
                              alla_units=alla[base]))
    return out


# --------------------------------------------------------------------------------------------
# disclosure control: the cell key method


def record_key(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def _threshold(k: int) -> int:
    """T(k) = round(2^32 * Phi((k + 0.5) / 2)); T(8) = 2^32."""
    if k >= 8:
        return 2**32
    phi = 0.5 * (1 + math.erf((k + 0.5) / 2 / math.sqrt(2)))
    return round(2**32 * phi)


THRESHOLDS = [(k, _threshold(k)) for k in range(-8, 9)]


def perturbed(size: float, key_sum: int) -> int:
    if not size:
        return 0
    c = int(key_sum) % 2**32
    d = next(k for k, t in THRESHOLDS if c < t)
    return max(0, int(size) + d)


POPULATION_KPIS = {"FS_LANGVARIGT", "FS_MYCKET_LANGVARIGT", "FS_ATERKOMST_12M"}


# what the catalogue says of each KPI (marts/catalogue.py): its kind, and the breakdowns the
# published table leaves out (FS_MAN_FORE_12 by LANGVARIGT_FS_FORE: defined by the very months it
# averages, its groups' rounded means would tell how many spells are in each)
KIND = {k.kpi_id: k.kind for k in CATALOGUE}
PUBLISHED_WITHOUT = {k.kpi_id: k.published_without for k in CATALOGUE}


def _grid_dims(kpi_id: str, period_type: str) -> tuple[str, ...]:
    if period_type != "YEAR" or KIND[kpi_id] == "expected":
        return ("TOTAL",)  # QUARTER rows and expected values: TOTAL only
    dims = POPULATION_DIMS if kpi_id in POPULATION_KPIS else SPELL_DIMS
    return tuple(d for d in dims if d not in PUBLISHED_WITHOUT[kpi_id])


def _grid(kv: pd.DataFrame) -> pd.DataFrame:
    """Every value of each dimension's list for every KPI, municipality and period with a TOTAL
    row, so that a row's presence says nothing."""
    totals = kv[kv["dimension"] == "TOTAL"]
    rows = []
    for kpi_id, kommun, period, ptype in totals[
            ["kpi_id", "kommun_kod", "period", "period_type"]].itertuples(index=False):
        for d in _grid_dims(kpi_id, ptype):
            rows += [(kpi_id, kommun, period, ptype, d, v) for v in DIM_VALUES[d]]
    return pd.DataFrame(rows, columns=COLUMNS[:6])


# a published row: numerator, denominator, value, ci_low, ci_high, suppressed
SUPPRESSED = (None, None, None, None, None, True)


def _share(num, den, min_cell):
    """A published share from its published counts: suppressed below min_cell, and below
    2 * min_cell when everyone or no one of the group is counted; else the noise-aware interval."""
    if den is None or num is None or den < min_cell or (den < 2 * min_cell and num in (0, den)):
        return SUPPRESSED
    return (num, den, num / den, *noise_aware_interval(num, den), False)


def _publish_cell(r, min_cell: int):
    """A row that is published from its own perturbed counts (not KAND, not expected)."""
    g = 2 * min_cell + 8  # p(D) >= g guarantees 2 * min_cell true units
    kind = r.cell_kind if isinstance(r.cell_kind, str) else None
    if kind is None:  # a value without units: suppressed, whatever the KPI
        return SUPPRESSED
    p_d = perturbed(_or0(r.d_size), _or0(r.d_ck))
    p_n = perturbed(_or0(r.n_size), _or0(r.n_ck))
    if kind == "count":
        return (p_d, None, p_d, None, None, False) if p_d >= min_cell else SUPPRESSED
    if kind == "mean":  # decided on p(D) alone, never on the value
        if p_d < g:
            return SUPPRESSED
        return (None, p_d, float(round_half_up(r.exact, 1)), None, None, False)
    if kind == "km":
        return (min(p_n, p_d), p_d, r.value, None, None, False) if p_d >= g else SUPPRESSED
    return _share(min(p_n, p_d), p_d, min_cell)


def _or0(x):
    return 0 if x is None or pd.isna(x) else x


def _publish_kand(out: dict, key: tuple, min_cell: int):
    """AME_ARB_STUD_KAND_{h}M from the published AME_ARB_STUD_{h}M and AME_OKAND_{h}M rows."""
    h = key[0].rsplit("_", 1)[1]
    a = out[(f"AME_ARB_STUD_{h}",) + key[1:]]
    o = out[(f"AME_OKAND_{h}",) + key[1:]]
    if a[5] or o[5]:  # a suppressed row publishes nothing to derive from
        return SUPPRESSED
    den = a[1] - o[0]
    return _share(min(a[0], den), den, min_cell)


def _publish_expected(out: dict, key: tuple, exact: Fraction):
    """_FORVANTAT / _AVVIKELSE from the published AME_ARB_STUD_{h}M TOTAL row of the same
    municipality and year; exact = E / n."""
    h = key[0].split("_")[3]
    num, den, s, lo, hi, sup = out[(f"AME_ARB_STUD_{h}",) + key[1:]]
    if sup or den < EXPECTED_MIN_N:
        return SUPPRESSED
    f = float(round_half_up(exact, 3))
    if key[0].endswith("_FORVANTAT"):
        return (None, None, f, None, None, False)
    # the interval of s shifted by F: expected, actual and difference add up on a page
    return (None, None, s - f, lo - f, hi - f, False)


def publish(kv: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """marts.kpi_published from the exact table and its cell facts."""
    cells = _grid(kv).merge(kv, how="left", on=COLUMNS[:6])
    out, kand, expected = {}, [], []
    for r in cells.itertuples(index=False):
        key = tuple(getattr(r, c) for c in COLUMNS[:6])
        if KIND[r.kpi_id] == "derived":
            kand.append(key)
        elif KIND[r.kpi_id] == "expected":
            expected.append((key, r.exact))
        else:
            out[key] = _publish_cell(r, min_cell)
    # derived rows read published ones, which are all in `out` by now
    for key in kand:
        out[key] = _publish_kand(out, key, min_cell)
    for key, exact in expected:
        out[key] = _publish_expected(out, key, exact)
    rows = [key + tuple(np.nan if v is None or pd.isna(v) else float(v) for v in pub[:5])
            + (pub[5],) for key, pub in out.items()]
    published = pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)
    return published.sort_values(COLUMNS[:6]).reset_index(drop=True)


def compute_spells(core: dict[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """The per-spell table (close to marts.participation_spell), for inspection."""
    person, ep, paid, coverage, on_fs, obs, pa = _prepare(core, as_of)
    spells = build_spells(ep, person, as_of)
    spells = add_fs_attributes(spells, on_fs, coverage)
    spells = add_horizon_status(spells, obs, ep, on_fs, coverage, as_of)
    spells = add_returns(spells, as_of)
    spells = add_progression(spells, pa)
    return spells


def compute_both(core: dict[str, pd.DataFrame], as_of: date,
                 min_cell: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(marts.kpi_value, marts.kpi_published), computed from the core tables in plain pandas."""
    person, ep, paid, coverage, on_fs, obs, pa = _prepare(core, as_of)
    spells = build_spells(ep, person, as_of)
    spells = add_fs_attributes(spells, on_fs, coverage)
    spells = add_horizon_status(spells, obs, ep, on_fs, coverage, as_of)
    spells = add_returns(spells, as_of)
    spells = add_progression(spells, pa)

    parts = (_spell_kpis(spells, coverage) + _expected_kpis(spells)
             + _population_kpis(paid, person, on_fs, coverage))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return (pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}),
                pd.DataFrame({c: pd.Series(dtype=object) for c in PUBLISHED_COLUMNS}))
    kv = pd.concat(parts, ignore_index=True)
    for c in ("numerator", "denominator", "value", "ci_low", "ci_high"):
        kv[c] = kv[c].astype(float)
    published = publish(kv, min_cell)
    kv = kv[COLUMNS].sort_values(["kpi_id", "kommun_kod", "period", "dimension",
                                  "dimension_value"]).reset_index(drop=True)
    return kv, published


def compute(core: dict[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """marts.kpi_value, computed from the core tables in plain pandas."""
    return compute_both(core, as_of)[0]
