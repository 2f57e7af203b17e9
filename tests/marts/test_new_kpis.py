"""The KPIs of metrics.md's "Status after start", "Returns to the AME" and "Expected values", and
the REMITTERAD and AVSTAND breakdowns, at their boundaries on hand-made cores."""

import math
from datetime import date

import pandas as pd
import pytest

from tests.marts.coredb import CoreDb

pytestmark = pytest.mark.unit
AS_OF = date(2024, 6, 30)
Z = 1.959964


def person(db, key, sex="K", birth_year=1985):
    db.person(key, birth_year, 3, sex)


# --- returns to the AME -------------------------------------------------------------------------


@pytest.mark.parametrize("next_start, returned", [
    (date(2024, 3, 15), True),    # exactly add_months(exit, 12)
    (date(2024, 3, 16), False),   # one day later
    (date(2023, 3, 16), True),    # the day after the exit (1402: another spell)
])
def test_return_within_12_months_of_exit(next_start, returned):
    db = CoreDb()
    person(db, "A")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 10), date(2023, 3, 15), "AVBROTT")
    db.episode("A", "1402", "VAGLEDNING", next_start, date(2024, 4, 30))
    db.build(AS_OF)
    first = db.spell(kommun_kod="1480").iloc[0]
    assert bool(first.returned_12m) is returned
    assert db.kpi("AME_ATERKOMST_12M")[:3] == (int(returned), 1, float(returned))


def test_return_in_another_municipality_counts_for_the_spell_that_exited():
    db = CoreDb()
    person(db, "A")
    person(db, "B")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 10), date(2023, 3, 15))
    db.episode("A", "1402", "PRAKTIK", date(2023, 9, 1), date(2023, 10, 1))
    db.episode("B", "1480", "PRAKTIK", date(2023, 1, 10), date(2023, 3, 15))
    db.build(AS_OF)
    assert db.kpi("AME_ATERKOMST_12M")[:3] == (1, 2, 0.5)
    # the later spell in 1402 exited 2023-10-01: not mature for returns on 2024-06-30
    assert pd.isna(db.spell(kommun_kod="1402").iloc[0].returned_12m)
    assert db.kpi("AME_ATERKOMST_12M", kommun="1402", period="2023") is None
    assert db.kpi("AME_ATERKOMST_12M", kommun="ALLA")[:3] == (1, 2, 0.5)


def test_a_new_episode_within_30_days_is_the_same_spell_not_a_return():
    db = CoreDb()
    person(db, "A")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 10), date(2023, 3, 15))
    db.episode("A", "1480", "PRAKTIK", date(2023, 4, 14), date(2023, 5, 1))  # 30 days: joins
    db.build(AS_OF)
    assert len(db.spell()) == 1
    assert db.kpi("AME_ATERKOMST_12M", period="2023")[:3] == (0, 1, 0.0)


@pytest.mark.parametrize("exit_date, mature", [(date(2023, 6, 30), True), (date(2023, 7, 1), False)])
def test_return_maturity_is_exit_plus_12_months_on_or_before_as_of(exit_date, mature):
    db = CoreDb()
    person(db, "A")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 10), exit_date)
    db.build(AS_OF)
    s = db.spell().iloc[0]
    assert pd.isna(s.returned_12m) is (not mature)
    assert (db.kpi("AME_ATERKOMST_12M") is not None) is mature


# --- status after start -------------------------------------------------------------------------


def test_spell_still_running_at_six_months_after_start_is_in_insats():
    db = CoreDb()
    person(db, "A")
    person(db, "B")
    db.episode("A", "1480", "ARBETSTRANING", date(2023, 1, 10), None)          # still ongoing
    db.episode("B", "1480", "ARBETSTRANING", date(2023, 1, 10), date(2023, 9, 1))
    db.observation("B", "1480", date(2023, 8, 24), "ARBETE", "REPORTED")         # 45 days after t_6
    db.build(AS_OF)
    a, b = db.spell(person_key="A").iloc[0], db.spell(person_key="B").iloc[0]
    assert (a.mature_start_6m, a.status_start_6m) == (True, "I_INSATS")
    assert (b.mature_start_6m, b.status_start_6m) == (True, "ARBETE")  # an observation wins
    assert (a.status_start_12m, b.status_start_12m) == ("I_INSATS", "OKAND")
    assert db.kpi("AME_ARB_STUD_START_6M")[:3] == (1, 2, 0.5)
    assert db.kpi("AME_ARB_STUD_START_6M", period="2023-Q1")[:3] == (1, 2, 0.5)
    assert db.kpi("AME_ARB_STUD_START_12M")[:3] == (0, 2, 0.0)


@pytest.mark.parametrize("start, mature", [
    (date(2023, 12, 30), True),
    (date(2023, 12, 31), True),   # add_months: 2024-06-31 does not exist, 2024-06-30
    (date(2024, 1, 1), False),
])
def test_mature_from_start_at_as_of(start, mature):
    db = CoreDb()
    person(db, "A")
    db.episode("A", "1480", "PRAKTIK", start, date(2024, 1, 20))
    db.build(AS_OF)
    s = db.spell().iloc[0]
    assert bool(s.mature_start_6m) is mature and bool(s.mature_start_12m) is False
    assert (db.kpi("AME_ARB_STUD_START_6M", period=str(start.year)) is not None) is mature


def test_off_fs_after_start_needs_fs_at_start_and_coverage_of_month_t_h():
    db = CoreDb()
    db.coverage("1480", "2022-01", "2023-07")  # 2023-08 and later uncovered
    for key in ("A", "B", "C", "D"):
        person(db, key)
    db.fs("A", "1480", "2022-12", "2023-01")   # on FS at start, none in 2023-07 (t_6 = 2023-07-05)
    db.fs("B", "1480", "2023-01", "2023-07")   # on FS at start and in 2023-07
    db.fs("C", "1480", "2023-03")              # not on FS at start: outside the denominator
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 5), date(2023, 2, 1))
    db.episode("B", "1480", "PRAKTIK", date(2023, 1, 5), date(2023, 2, 1))
    db.episode("C", "1480", "PRAKTIK", date(2023, 1, 5), date(2023, 2, 1))
    db.fs("D", "1480", "2023-02")              # on FS at start, but 2023-08 is not covered
    db.episode("D", "1480", "PRAKTIK", date(2023, 2, 5), date(2023, 3, 1))
    db.build(AS_OF)
    assert db.kpi("AME_EJ_FS_START_6M")[:3] == (1, 2, 0.5)
    assert db.kpi("AME_EJ_FS_START_12M") is None  # 2024-01 is covered nowhere
    assert pd.isna(db.spell(person_key="D").iloc[0].off_fs_start_6m)


# --- REMITTERAD and AVSTAND ---------------------------------------------------------------------


def test_first_non_null_referral_and_distance_in_rule_1_order():
    db = CoreDb()
    person(db, "A")
    person(db, "B")
    # same start: the earlier end comes first in rule 1's order, whatever the insertion order
    db.episode("A", "1480", "KARTLAGGNING", date(2023, 1, 2), date(2023, 3, 1), referred="IFO")
    db.episode("A", "1480", "VAGLEDNING", date(2023, 1, 2), date(2023, 2, 1), distance=None,
               referred="AF")
    db.episode("A", "1480", "PRAKTIK", date(2023, 3, 10), date(2023, 4, 1), distance="LANGT")
    db.episode("A", "1480", "PRAKTIK", date(2023, 4, 10), date(2023, 5, 1), distance="NARA")
    db.episode("B", "1480", "PRAKTIK", date(2023, 1, 2), date(2023, 2, 1))
    db.build(AS_OF)
    a, b = db.spell(person_key="A").iloc[0], db.spell(person_key="B").iloc[0]
    assert (a.referred_from, a.distance) == ("AF", "LANGT")
    assert (b.referred_from, b.distance) == (None, None)
    assert db.kpi("AME_STARTADE", dimension="REMITTERAD", value="AF")[0] == 1
    assert db.kpi("AME_STARTADE", dimension="REMITTERAD", value="IFO") is None
    assert db.kpi("AME_STARTADE", dimension="REMITTERAD", value="OKAND")[0] == 1
    assert db.kpi("AME_AVSLUTADE", dimension="AVSTAND", value="LANGT")[0] == 1
    assert db.kpi("AME_AVSLUTADE", dimension="AVSTAND", value="OKAND")[0] == 1
    assert db.kpi("AME_AVSLUTADE", kommun="ALLA", dimension="AVSTAND", value="NARA") is None
    # the published grid has every value of both lists, OKAND included
    grid = db.con.execute(
        "select dimension, list(dimension_value order by dimension_value) from marts.kpi_published "
        "where kpi_id = 'AME_ARB_STUD_START_6M' and kommun_kod = '1480' and period = '2023' "
        "and dimension in ('REMITTERAD', 'AVSTAND') group by all").fetchall()
    assert dict(grid) == {"REMITTERAD": ["AF", "EGEN", "FK", "IFO", "OKAND", "OVRIGT"],
                          "AVSTAND": ["LANGT", "NARA", "OKAND", "OSAKER"]}


@pytest.mark.parametrize("first", ["PRAKTIK", "KARTLAGGNING"])
def test_episodes_with_the_same_dates_are_ordered_by_insats_typ_before_episode_id(first):
    # two episodes with the same dates, numbered in either order: KARTLAGGNING comes first in rule
    # 1's order (alphabetically), so its referral, distance and (the tie of rule 5) end reason are
    # the spell's, whichever episode the source numbered first
    db = CoreDb()
    person(db, "A")
    said = {"KARTLAGGNING": ("IFO", "LANGT", "PLANERAT"), "PRAKTIK": ("AF", "NARA", "ARBETE")}
    second = "KARTLAGGNING" if first == "PRAKTIK" else "PRAKTIK"
    for typ in (first, second):
        referred, distance, reason = said[typ]
        db.episode("A", "1480", typ, date(2023, 1, 2), date(2023, 3, 1), reason,
                   referred=referred, distance=distance)
    db.build(AS_OF)
    spell = db.spell(person_key="A").iloc[0]
    assert (spell.insats_typ, spell.referred_from, spell.distance, spell.end_reason) == \
        ("KARTLAGGNING", "IFO", "LANGT", "PLANERAT")
    assert db.kpi("AME_STARTADE", dimension="REMITTERAD", value="IFO")[0] == 1


def test_breakdowns_reach_the_kaplan_meier_median_and_the_fs_population_has_none():
    db = CoreDb()
    db.coverage("1480", "2022-01", "2024-06")
    person(db, "A")
    db.fs("A", "1480", "2023-01", "2023-04")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 5), date(2023, 2, 1), referred="FK",
               distance="OSAKER")
    db.build(AS_OF)
    assert db.kpi("FS_MEDIAN_MAN", dimension="REMITTERAD", value="FK")[:3] == (1, 1, 4.0)
    assert db.kpi("FS_MEDIAN_MAN", dimension="AVSTAND", value="OSAKER")[:3] == (1, 1, 4.0)
    rows = db.con.execute("select count(*) from marts.kpi_published where kpi_id like 'FS\\_LANG%' "
                          "escape '\\' and dimension in ('REMITTERAD', 'AVSTAND')").fetchone()
    assert rows == (0,)


# --- expected values ----------------------------------------------------------------------------


def _mature_exit(db, key, kommun, sex, works):
    """An exit on 2023-03-01 with status at 3 months ARBETE or ARBETSSOKANDE."""
    person(db, key, sex)
    db.episode(key, kommun, "PRAKTIK", date(2023, 1, 2), date(2023, 3, 1))
    db.observation(key, kommun, date(2023, 6, 1), "ARBETE" if works else "ARBETSSOKANDE")


def test_expected_value_by_hand_for_two_municipalities_and_two_strata():
    """Strata K and M (same age group, FS unknown). r(K) = 2/4, r(M) = 1/4.
    1480: K work, K work, M no:          n = 3, O = 2, E = 1/2 + 1/2 + 1/4 = 1.25,
                                         V = 1/4 + 1/4 + 3/16 = 0.6875.
    1402: K no, K no, M work, M no, M no: n = 5, O = 1, E = 1/2 + 1/2 + 3/4 = 1.75,
                                         V = 1/4 + 1/4 + 9/16 = 1.0625."""
    db = CoreDb()
    for i, (kommun, sex, works) in enumerate([
            ("1480", "K", True), ("1480", "K", True), ("1480", "M", False),
            ("1402", "K", False), ("1402", "K", False), ("1402", "M", True),
            ("1402", "M", False), ("1402", "M", False)]):
        _mature_exit(db, f"p{i}", kommun, sex, works)
    db.build(AS_OF)
    assert db.kpi("AME_ARB_STUD_3M_FORVANTAT") == pytest.approx((1.25, 3, 1.25 / 3, None, None))
    half = Z * math.sqrt(0.6875) / 3
    assert db.kpi("AME_ARB_STUD_3M_AVVIKELSE") == pytest.approx(
        (0.75, 3, 0.25, 0.25 - half, 0.25 + half), abs=1e-12)
    assert db.kpi("AME_ARB_STUD_3M_FORVANTAT", kommun="1402") == pytest.approx(
        (1.75, 5, 0.35, None, None))
    half = Z * math.sqrt(1.0625) / 5
    assert db.kpi("AME_ARB_STUD_3M_AVVIKELSE", kommun="1402") == pytest.approx(
        (-0.75, 5, -0.15, -0.15 - half, -0.15 + half), abs=1e-12)
    # every status is OKAND at 6 months: expected 0, difference 0, an interval of width 0
    assert db.kpi("AME_ARB_STUD_6M_AVVIKELSE", kommun="1402") == (0, 5, 0, 0, 0)
    # per municipality, YEAR, TOTAL only
    others = db.con.execute(
        "select count(*) from marts.kpi_value where kpi_id like '%\\_AVVIKELSE' escape '\\' "
        "and (kommun_kod = 'ALLA' or period_type <> 'YEAR' or dimension <> 'TOTAL')").fetchone()
    assert others == (0,)


def test_expected_values_are_published_from_the_published_share_without_counts():
    """Both sides of the threshold of a perturbed 15 are in tests/marts/test_published.py; here:
    the published pair reads the published share of its municipality and year, has no counts, and
    exists per municipality, YEAR and TOTAL only."""
    db = CoreDb()
    for i in range(30):
        _mature_exit(db, f"a{i}", "1480", "K" if i < 20 else "M", works=i % 3 == 0)
    for i in range(30):
        _mature_exit(db, f"b{i}", "1402", "K" if i < 8 else "M", works=i % 2 == 0)
    db.build(AS_OF)
    for kommun in ("1480", "1402"):
        share = db.published("AME_ARB_STUD_3M", kommun=kommun)
        expected = db.published("AME_ARB_STUD_3M_FORVANTAT", kommun=kommun)
        deviation = db.published("AME_ARB_STUD_3M_AVVIKELSE", kommun=kommun)
        assert share[1] >= 15 and not share[5]
        e_over_n = db.kpi("AME_ARB_STUD_3M_FORVANTAT", kommun=kommun)[2]
        f = math.floor(e_over_n * 1000 + 0.5) / 1000
        assert expected == (None, None, f, None, None, False)
        assert deviation == pytest.approx(
            (None, None, share[2] - f, share[3] - f, share[4] - f, False), abs=1e-12)
    assert db.published("AME_ARB_STUD_3M_AVVIKELSE", kommun="ALLA") is None
    assert db.published("AME_ARB_STUD_3M_AVVIKELSE", dimension="KON", value="K") is None
