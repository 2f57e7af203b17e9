"""metrics.md's worked example, every number in it, on a hand-made core."""

from datetime import date

import pandas as pd
import pytest

from tests.marts.coredb import worked_example

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def db():
    return worked_example().build(as_of=date(2024, 6, 30))


def test_one_spell_with_the_example_attributes(db):
    spells = db.spell()
    assert len(spells) == 1
    s = spells.iloc[0]
    assert (s.start_date.date(), s.exit_date.date()) == (date(2023, 1, 9), date(2023, 5, 15))
    assert (s.insats_typ, s.end_reason, s.age_at_start, s.sex) == ("PRAKTIK", "ARBETE", 32, "K")
    assert (s.fs_at_start, s.long_fs_before) == ("JA", "NEJ")
    assert (s.fs_months_before_12, s.fs_months_after_12) == (3, 1)
    assert [s.mature_3m, s.mature_6m, s.mature_12m] == [True, True, True]
    assert [s.status_3m, s.status_6m, s.status_12m] == ["ARBETE", "OKAND", "OKAND"]
    assert [s.off_fs_3m, s.off_fs_6m, s.off_fs_12m] == [True, True, True]
    assert (s.fs_km_months, s.fs_km_exit) == (5, True)


def test_exit_cohort_2023_and_q2(db):
    assert db.kpi("AME_AVSLUTADE", period="2023") == (1, None, 1, None, None)
    assert db.kpi("AME_AVSLUTADE", period="2023-Q2") == (1, None, 1, None, None)
    assert db.kpi("AME_STARTADE", period="2023-Q1") == (1, None, 1, None, None)


def test_the_exact_table_is_not_suppressed_and_the_published_one_is(db):
    """One person: exact in marts.kpi_value, never published (p(D) <= 1 + 8 < 2 * min_cell for
    a share, and a count of 1 is published only with noise of at least +4)."""
    assert db.kpi("AME_ARB_STUD_3M")[:3] == (1, 1, 1.0)
    assert db.published("AME_ARB_STUD_3M") == (None,) * 5 + (True,)


def test_at_exit_end_reason_counts(db):
    assert db.kpi("AME_AVSLUT_ARB_STUD")[:3] == (1, 1, 1.0)


def test_horizons(db):
    assert db.kpi("AME_ARB_STUD_3M")[:3] == (1, 1, 1.0)
    assert db.kpi("AME_ARB_STUD_6M")[:3] == (0, 1, 0.0)
    assert db.kpi("AME_OKAND_6M")[:3] == (1, 1, 1.0)
    assert db.kpi("AME_ARB_STUD_12M")[:3] == (0, 1, 0.0)
    assert db.kpi("AME_OKAND_12M")[:3] == (1, 1, 1.0)
    assert db.kpi("AME_ARB_STUD_KAND_3M")[:3] == (1, 1, 1.0)
    assert db.kpi("AME_ARB_STUD_KAND_6M") is None  # no known status: no denominator, no row
    for h in (3, 6, 12):
        assert db.kpi(f"AME_EJ_FS_{h}M")[:3] == (1, 1, 1.0)


def test_fs_before_and_after(db):
    assert db.kpi("FS_MAN_FORE_12", period="2023")[:3] == (3, 1, 3.0)
    assert db.kpi("FS_MAN_EFTER_12", period="2023")[:3] == (1, 1, 1.0)


def test_time_on_fs_is_five_months_observed(db):
    assert db.kpi("FS_MEDIAN_MAN", period="2023")[:3] == (1, 1, 5.0)


def test_return_counted_for_2023_and_second_exit_immature(db):
    assert db.kpi("FS_ATERKOMST_12M", period="2023")[:3] == (1, 1, 1.0)
    assert db.kpi("FS_ATERKOMST_12M", period="2023-Q2")[:3] == (1, 1, 1.0)
    assert db.kpi("FS_ATERKOMST_12M", period="2023-Q4") is None


def test_not_long_term_in_2023(db):
    assert db.kpi("FS_LANGVARIGT", period="2023")[:3] == (0, 1, 0.0)
    assert db.kpi("FS_LANGVARIGT", period="2023-Q1") is None  # yearly only


def test_age_band_and_alla(db):
    assert db.kpi("AME_AVSLUTADE", dimension="ALDER", value="30-49")[0] == 1
    assert db.kpi("AME_AVSLUTADE", kommun="ALLA")[0] == 1
    assert db.kpi("AME_ARB_STUD_3M", kommun="ALLA", dimension="FS_VID_START", value="JA")[:3] == (1, 1, 1.0)


def test_spell_columns_after_start_returns_referral_and_distance(db):
    s = db.spell().iloc[0]
    assert [s.mature_start_6m, s.mature_start_12m] == [True, True]
    assert [s.status_start_6m, s.status_start_12m] == ["ARBETE", "OKAND"]
    assert [s.off_fs_start_6m, s.off_fs_start_12m] == [True, True]
    assert not pd.isna(s.returned_12m) and not s.returned_12m  # mature, no return
    assert (s.referred_from, s.distance) == (None, None)


def test_from_start_t6_observation_37_days_away_and_t12_okand(db):
    """t_6 = 2023-07-09: the ARBETE of 2023-08-15 is 37 days away; t_12 = 2024-01-09: OKAND.
    The start cohort is 2023 / 2023-Q1; FS: 2023-07 and 2024-01 without FS."""
    for period in ("2023", "2023-Q1"):
        assert db.kpi("AME_ARB_STUD_START_6M", period=period)[:3] == (1, 1, 1.0)
        assert db.kpi("AME_EJ_FS_START_6M", period=period)[:3] == (1, 1, 1.0)
        assert db.kpi("AME_ARB_STUD_START_12M", period=period)[:3] == (0, 1, 0.0)
        assert db.kpi("AME_EJ_FS_START_12M", period=period)[:3] == (1, 1, 1.0)
    assert db.kpi("AME_ARB_STUD_START_6M", period="2023-Q2") is None


def test_no_return_within_12_months(db):
    """exit 2023-05-15 + 12 months = 2024-05-15 <= as_of: mature, no later spell."""
    assert db.kpi("AME_ATERKOMST_12M")[:3] == (0, 1, 0.0)
    assert db.kpi("AME_ATERKOMST_12M", period="2023-Q2")[:3] == (0, 1, 0.0)
    assert db.kpi("AME_ATERKOMST_12M", kommun="ALLA")[:3] == (0, 1, 0.0)


def test_referral_and_distance_unknown(db):
    assert db.kpi("AME_STARTADE", dimension="REMITTERAD", value="OKAND")[0] == 1
    assert db.kpi("AME_AVSLUTADE", dimension="AVSTAND", value="OKAND")[0] == 1
    assert db.kpi("AME_ATERKOMST_12M", dimension="REMITTERAD", value="IFO") is None


def test_expected_values_of_a_region_of_one(db):
    """One exit: its stratum's rate is its own outcome, so E = O and the difference is 0."""
    assert db.kpi("AME_ARB_STUD_3M_FORVANTAT") == (1, 1, 1.0, None, None)
    assert db.kpi("AME_ARB_STUD_3M_AVVIKELSE") == (0, 1, 0.0, 0.0, 0.0)
    assert db.kpi("AME_ARB_STUD_6M_FORVANTAT") == (0, 1, 0.0, None, None)
    assert db.kpi("AME_ARB_STUD_12M_AVVIKELSE") == (0, 1, 0.0, 0.0, 0.0)
    assert db.kpi("AME_ARB_STUD_3M_FORVANTAT", kommun="ALLA") is None
    assert db.published("AME_ARB_STUD_3M_AVVIKELSE") == (None,) * 5 + (True,)  # n < 15
