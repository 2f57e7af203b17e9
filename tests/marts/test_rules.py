"""Each rule of metrics.md pinned at its boundaries, on hand-made core tables."""

from datetime import date

import pytest

from tests.marts.coredb import CoreDb

pytestmark = pytest.mark.unit
AS_OF = date(2024, 6, 30)


def spells(db):
    return db.con.execute(
        "select start_date, exit_date, insats_typ, end_reason from marts.participation_spell "
        "order by start_date").fetchall()


@pytest.mark.parametrize("gap_days, n_spells", [(30, 1), (31, 2)])
def test_spell_gap_of_30_days_joins_and_31_does_not(gap_days, n_spells):
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "KARTLAGGNING", date(2023, 1, 1), date(2023, 1, 31))
    start = date.fromordinal(date(2023, 1, 31).toordinal() + gap_days)
    db.episode("A", "1480", "PRAKTIK", start, date(2023, 3, 31))
    assert len(spells(db.build(AS_OF))) == n_spells


def test_ongoing_episode_keeps_the_spell_open_and_without_exit():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "ARBETSTRANING", date(2023, 1, 1), None)
    db.episode("A", "1480", "PRAKTIK", date(2023, 9, 1), date(2023, 10, 1))
    db.build(AS_OF)
    assert spells(db) == [(date(2023, 1, 1), None, "ARBETSTRANING", None)]
    assert db.kpi("AME_AVSLUTADE") is None


def test_episode_ending_after_as_of_is_ongoing():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2024, 1, 1), date(2024, 8, 1), "ARBETE")
    db.build(AS_OF)
    assert spells(db) == [(date(2024, 1, 1), None, "PRAKTIK", None)]


def test_type_tie_goes_to_later_start_then_alphabetical():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 1, 10))
    db.episode("A", "1480", "KARTLAGGNING", date(2023, 1, 11), date(2023, 1, 20), "PLANERAT")
    db.build(AS_OF)
    assert spells(db)[0][2:] == ("KARTLAGGNING", "PLANERAT")
    db2 = CoreDb()
    db2.person("A", 1980, 1, "M")
    db2.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 1, 10), "AVBROTT")
    db2.episode("A", "1480", "KARTLAGGNING", date(2023, 1, 1), date(2023, 1, 10), "ARBETE")
    db2.build(AS_OF)
    # same length and start: the code that sorts first; same end: the longer, then rule 1 order
    assert spells(db2)[0][2] == "KARTLAGGNING"


@pytest.mark.parametrize("exit_date, h, r_h", [
    (date(2023, 8, 31), 6, date(2024, 2, 29)),
    (date(2022, 11, 30), 3, date(2023, 2, 28)),
    (date(2023, 5, 31), 12, date(2024, 5, 31)),
])
def test_month_end_arithmetic_of_horizons(exit_date, h, r_h):
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2022, 1, 1), exit_date)
    db.observation("A", "1480", r_h, "STUDIER")
    db.build(AS_OF)
    assert db.spell().iloc[0][f"status_{h}m"] == "STUDIER"


@pytest.mark.parametrize("offset, expected", [(45, "ARBETE"), (-45, "ARBETE"), (46, "OKAND"), (-46, "OKAND")])
def test_observation_window_is_45_days(offset, expected):
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 3, 15))
    r3 = date(2023, 6, 15)
    db.observation("A", "1480", date.fromordinal(r3.toordinal() + offset), "ARBETE", "REPORTED")
    db.build(AS_OF)
    assert db.spell().iloc[0]["status_3m"] == expected


def test_followup_beats_reported_at_equal_distance_then_later_date():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 3, 15))
    db.observation("A", "1480", date(2023, 6, 20), "ARBETSSOKANDE", "REPORTED")
    db.observation("A", "1480", date(2023, 6, 10), "STUDIER", "FOLLOWUP")
    db.observation("A", "1480", date(2023, 9, 10), "ARBETSSOKANDE", "REPORTED")  # 6 m: 2023-09-15
    db.observation("A", "1480", date(2023, 9, 20), "STUDIER", "REPORTED")
    db.build(AS_OF)
    s = db.spell().iloc[0]
    assert (s.status_3m, s.status_6m) == ("STUDIER", "STUDIER")


def test_same_day_same_basis_tie_goes_to_status_listed_first():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 3, 15))
    db.observation("A", "1480", date(2023, 6, 15), "STUDIER", "REPORTED")
    db.observation("A", "1480", date(2023, 6, 15), "ARBETE_SUBVENTIONERAT", "REPORTED")
    db.build(AS_OF)
    assert db.spell().iloc[0]["status_3m"] == "ARBETE_SUBVENTIONERAT"


def test_okand_observation_gives_way_to_an_active_insats():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2023, 3, 15))
    db.episode("A", "1481", "ARBETSTRANING", date(2023, 6, 1), None)  # another municipality
    db.observation("A", "1480", date(2023, 6, 15), "OKAND")
    db.build(AS_OF)
    assert db.spell(kommun_kod="1480").iloc[0]["status_3m"] == "I_INSATS"


def test_immature_horizon_is_left_out_not_a_failure():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 1), date(2024, 1, 15))
    db.build(AS_OF)
    s = db.spell().iloc[0]
    assert (s.mature_3m, s.mature_6m, s.mature_12m) == (True, False, False)
    assert s.status_12m is None
    assert db.kpi("AME_ARB_STUD_3M", period="2024")[:2] == (0, 1)
    assert db.kpi("AME_ARB_STUD_12M", period="2024") is None


@pytest.mark.parametrize("gap_months, t, observed", [(1, 8, True), (2, 8, True), (3, 3, True)])
def test_fs_exit_needs_three_covered_months_without_fs(gap_months, t, observed):
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.coverage("1480", "2022-01", "2024-06")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 10), date(2023, 5, 1))
    db.fs("A", "1480", "2023-01", "2023-03")
    gap_end = 3 + gap_months
    db.fs("A", "1480", f"2023-{gap_end + 1:02d}", "2023-08")
    db.build(AS_OF)
    s = db.spell().iloc[0]
    if gap_months < 3:
        assert (s.fs_km_months, s.fs_km_exit) == (t, observed)  # exit month 2023-09
    else:
        assert (s.fs_km_months, s.fs_km_exit) == (3, True)  # exit month 2023-04


def test_fs_time_censored_at_end_of_coverage():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.coverage("1480", "2023-01", "2023-12")
    db.episode("A", "1480", "PRAKTIK", date(2023, 2, 1), date(2023, 5, 1))
    db.fs("A", "1480", "2023-02", "2023-10")
    db.build(date(2023, 12, 31))
    s = db.spell().iloc[0]
    assert (s.fs_km_months, s.fs_km_exit) == (9, False)  # f = 2023-10: T = 10 - 2 + 1
    assert db.kpi("FS_MEDIAN_MAN", period="2023")[:3] == (0, 1, None)


def test_kaplan_meier_median_with_censoring():
    db = CoreDb()
    db.coverage("1480", "2022-01", "2024-06")
    # exits after 2, 4, 4 months; one censored at 3 (coverage gap) ... all start 2023-01
    for key, last in (("A", "2023-02"), ("B", "2023-04"), ("C", "2023-04"), ("D", "2023-06")):
        db.person(key, 1980, 1, "M")
        db.episode(key, "1480", "PRAKTIK", date(2023, 1, 5), date(2023, 3, 1))
        db.fs(key, "1480", "2023-01", last)
    db.build(AS_OF)
    # S(2) = 3/4, S(4) = 3/4 * (1 - 2/3) = 1/4 <= 0.5 -> median 4
    assert db.kpi("FS_MEDIAN_MAN", period="2023")[:3] == (4, 4, 4.0)


def test_km_median_exactly_half_counts():
    db = CoreDb()
    db.coverage("1480", "2022-01", "2024-06")
    for key, last in (("A", "2023-02"), ("B", "2023-06")):
        db.person(key, 1980, 1, "M")
        db.episode(key, "1480", "PRAKTIK", date(2023, 1, 5), date(2023, 3, 1))
        db.fs(key, "1480", "2023-01", last)
    db.build(AS_OF)
    assert db.kpi("FS_MEDIAN_MAN", period="2023")[2] == 2.0  # S(2) = 0.5 exactly


def test_municipality_without_fs_data_has_no_fs_rows_and_okand_breakdowns():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1402", "PRAKTIK", date(2023, 1, 1), date(2023, 3, 15))
    db.build(AS_OF)
    fs_rows = db.con.execute(
        "select count(*) from marts.kpi_value where kommun_kod = '1402' and "
        "(kpi_id like 'FS_%' or kpi_id like 'AME_EJ_FS%')").fetchone()[0]
    assert fs_rows == 0
    assert db.kpi("AME_AVSLUTADE", kommun="1402", dimension="FS_VID_START", value="OKAND")[0] == 1
    assert db.kpi("AME_AVSLUTADE", kommun="1402", dimension="LANGVARIGT_FS_FORE", value="OKAND")[0] == 1


def test_long_term_fs_before_and_at_start():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.coverage("1480", "2022-01", "2024-06")
    db.fs("A", "1480", "2022-03", "2022-12")  # 10 of the 12 months before 2023-01
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 20), date(2023, 3, 15))
    db.build(AS_OF)
    s = db.spell().iloc[0]
    assert (s.fs_at_start, s.long_fs_before, s.fs_months_before_12) == ("JA", "JA", 10)


def test_samordningsnummer_style_birth_gives_age_by_birth_month():
    db = CoreDb()
    db.person("A", 2007, 2, "K")
    db.episode("A", "1480", "PRAKTIK", date(2023, 1, 31), date(2023, 3, 15))
    db.episode("A", "1480", "PRAKTIK", date(2023, 6, 1), date(2023, 7, 15))
    db.build(AS_OF)
    ages = sorted(db.con.execute("select age_at_start from marts.participation_spell").fetchall())
    assert ages == [(15,), (16,)]
    assert db.kpi("AME_STARTADE", dimension="ALDER", value="16-24")[0] == 1
    assert db.kpi("AME_STARTADE")[0] == 2  # under 16 counts in TOTAL


def test_progression_uses_staff_when_two_staff_occasions():
    db = CoreDb()
    db.person("A", 1980, 1, "M")
    db.episode("A", "1480", "PRAKTIK", date(2023, 2, 1), date(2023, 6, 1))
    db.assessment("A", "1480", date(2023, 1, 2), "STAFF", "MOTIVATION", 2)  # start - 30 days
    db.assessment("A", "1480", date(2023, 7, 1), "STAFF", "MOTIVATION", 3)  # exit + 30 days
    db.assessment("A", "1480", date(2023, 3, 1), "SELF", "MOTIVATION", 5)
    db.assessment("A", "1480", date(2023, 5, 1), "SELF", "MOTIVATION", 1)
    db.assessment("A", "1480", date(2023, 7, 2), "STAFF", "MOTIVATION", 1)  # outside the window
    db.build(AS_OF)
    assert db.spell().iloc[0]["prog_delta"] == pytest.approx(0.25)
    assert db.kpi("PROG_FORBATTRAD")[:3] == (1, 1, 1.0)
