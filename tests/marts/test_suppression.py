"""Small cells: primary and secondary suppression, and that nothing suppressed can be recovered
by subtraction within a group (property-based, on random spells)."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.marts.coredb import CoreDb

pytestmark = pytest.mark.unit
AS_OF = date(2024, 6, 30)


def _spells(db, n_women, n_men, kommun="1480"):
    for i in range(n_women + n_men):
        key = f"{kommun}-{i}"
        db.person(key, 1980, 1, "K" if i < n_women else "M")
        db.episode(key, kommun, "PRAKTIK", date(2023, 2, 1), date(2023, 3, 1), "ARBETE")


def test_primary_and_secondary_suppression_of_counts():
    db = CoreDb()
    _spells(db, n_women=3, n_men=10)
    db.build(AS_OF, min_cell=5)
    assert db.kpi("AME_AVSLUTADE", period="2023") == (13, None, 13, None, None, False)
    assert db.kpi("AME_AVSLUTADE", dimension="KON", value="K") == (None,) * 5 + (True,)
    # the only other value of the group goes too, or 13 - 10 would give the women's 3
    assert db.kpi("AME_AVSLUTADE", dimension="KON", value="M") == (None,) * 5 + (True,)


def test_share_suppressed_below_min_cell_denominator():
    db = CoreDb()
    _spells(db, n_women=4, n_men=0)
    db.build(AS_OF, min_cell=5)
    assert db.kpi("AME_AVSLUT_ARB_STUD") == (None,) * 5 + (True,)
    db2 = CoreDb()
    _spells(db2, n_women=5, n_men=0)
    db2.build(AS_OF, min_cell=5)
    num, den, value, lo, hi, sup = db2.kpi("AME_AVSLUT_ARB_STUD")
    assert (num, den, value, sup) == (5, 5, 1.0, False)
    assert lo == pytest.approx(0.5655175313, abs=1e-9) and hi == pytest.approx(1.0)  # Wilson, z = 1.959964


def test_secondary_picks_smallest_denominator_then_first_value():
    db = CoreDb()
    # ALDER: 16-24 -> 2 (suppressed), 25-29 -> 6, 30-49 -> 6, 50+ -> 9
    births = [2003] * 2 + [1996] * 6 + [1985] * 6 + [1960] * 9
    for i, year in enumerate(births):
        db.person(f"p{i}", year, 1, "K")
        db.episode(f"p{i}", "1480", "PRAKTIK", date(2023, 2, 1), date(2023, 3, 1))
    db.build(AS_OF, min_cell=5)
    sup = dict(db.con.execute(
        "select dimension_value, suppressed from marts.kpi_value where kpi_id = 'AME_AVSLUTADE' "
        "and period = '2023' and kommun_kod = '1480' and dimension = 'ALDER'").fetchall())
    assert sup == {"16-24": True, "25-29": True, "30-49": False, "50+": False}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["K", "M"]), st.integers(1950, 2006),
                          st.sampled_from(["PRAKTIK", "KARTLAGGNING", "UTBILDNING"]),
                          st.sampled_from(["1480", "1402"]), st.integers(0, 500)),
                min_size=1, max_size=40))
def test_no_group_has_exactly_one_suppressed_value_beside_published_ones(people):
    db = CoreDb()
    for i, (sex, year, typ, kommun, day) in enumerate(people):
        db.person(f"p{i}", year, 6, sex)
        start = date.fromordinal(date(2022, 1, 1).toordinal() + day)
        db.episode(f"p{i}", kommun, typ, start, date.fromordinal(start.toordinal() + 40))
    db.build(AS_OF, min_cell=5)
    lonely = db.con.execute(
        "select count(*) from (select kpi_id, kommun_kod, period, dimension from marts.kpi_value "
        "where dimension <> 'TOTAL' group by all "
        "having count(*) filter (where suppressed) = 1 "
        "and count(*) filter (where not suppressed) > 0)").fetchone()[0]
    assert lonely == 0
    published_small = db.con.execute(
        "select count(*) from marts.kpi_value as v join marts.kpi using (kpi_id) where not suppressed "
        "and ((unit = 'count' and numerator < 5) or (unit <> 'count' and denominator < 5))"
    ).fetchone()[0]
    assert published_small == 0
