"""marts.kpi_published: metrics.md's "Disclosure control" on hand-made cores. The units' person
keys are chosen (by search, with the spec's record keys computed here in Python) so that each
cell gets the noise the test needs."""

import hashlib
import itertools
from datetime import date

import pytest

from tests.marts.coredb import CoreDb

pytestmark = pytest.mark.unit
AS_OF = date(2024, 6, 30)
START, END = date(2023, 2, 1), date(2023, 3, 1)
T = [379749, 2478304, 12797986, 52503710, 172052769, 453762323, 973357067, 1723543207,
     2571424089, 3321610229, 3841204973, 4122914527, 4242463586, 4282169310, 4292488992,
     4294587547, 2**32]


def rk(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def noise(keys: list[int]) -> int:
    c = sum(keys) % 2**32
    return next(k for k, t in zip(range(-8, 9), T) if c < t)


def spell_rk(person: str, kommun: str = "1480", start: date = START) -> int:
    return rk(f"{person}|{kommun}|{start.isoformat()}")


def people_with(n: int, want, prefix: str = "p") -> list[str]:
    """n person keys whose spells (START in 1480) have a cell noise d with want(d)."""
    for seed in itertools.count():
        people = [f"{prefix}{seed}-{i}" for i in range(n)]
        if want(noise([spell_rk(p) for p in people])):
            return people
    raise AssertionError  # pragma: no cover


def exits(db: CoreDb, people, reason="ARBETE", sex="K", birth_year=1980):
    for p in people:
        db.person(p, birth_year, 1, sex)
        db.episode(p, "1480", "PRAKTIK", START, END, reason)


@pytest.mark.parametrize("k", range(-8, 8))
def test_noise_table_on_both_sides_of_every_threshold(k):
    db = CoreDb().build(AS_OF)
    t = T[k + 8]
    assert db.con.execute("select cell_noise(?), cell_noise(?)", [t - 1, t]).fetchone() == (k, k + 1)


def test_noise_of_the_largest_cell_key_and_of_zero():
    db = CoreDb().build(AS_OF)
    assert db.con.execute("select cell_noise(0), cell_noise(4294967295)").fetchone() == (-8, 8)
    # the cell key is the sum modulo 2^32; a set without units is 0, whatever its key
    assert db.con.execute("select perturbed(3, 4294967296 + 2571424089), perturbed(0, 5), "
                          "perturbed(2, 0)").fetchone() == (4, 0, 0)


def test_a_true_count_of_5_can_be_suppressed():
    people = people_with(5, lambda d: d <= -1)
    db = CoreDb()
    exits(db, people)
    db.build(AS_OF)
    assert db.kpi("AME_AVSLUTADE")[:3] == (5, None, 5)  # exact
    assert db.published("AME_AVSLUTADE") == (None,) * 5 + (True,)


def test_a_true_count_of_3_can_be_published():
    people = people_with(3, lambda d: d >= 2)
    d = noise([spell_rk(p) for p in people])
    db = CoreDb()
    exits(db, people)
    db.build(AS_OF)
    assert db.published("AME_AVSLUTADE") == (3 + d, None, 3 + d, None, None, False)


def test_the_same_units_get_the_same_noise_in_every_row():
    people = people_with(12, lambda d: d != 0)
    d = noise([spell_rk(p) for p in people])
    db = CoreDb()
    exits(db, people)  # all women, all PRAKTIK, all 30-49: each breakdown has one value
    db.build(AS_OF)
    total = db.published("AME_AVSLUTADE")
    assert total == (12 + d, None, 12 + d, None, None, False)
    for dimension, value in [("KON", "K"), ("ALDER", "30-49"), ("INSATS", "PRAKTIK"),
                             ("FODD_UTRIKES", "OKAND"), ("FS_VID_START", "OKAND")]:
        assert db.published("AME_AVSLUTADE", dimension=dimension, value=value) == total
    # the quarter is the same units too; so are the municipality and ALLA
    assert db.published("AME_AVSLUTADE", period="2023-Q1") == total
    assert db.published("AME_AVSLUTADE", kommun="ALLA") == total
    # and a share of the same exits publishes the same denominator
    assert db.published("AME_AVSLUT_ARB_STUD")[1] == 12 + d


def test_a_value_with_no_units_is_a_suppressed_row_and_quarters_have_only_total():
    db = CoreDb()
    exits(db, people_with(12, lambda d: True))
    db.build(AS_OF)
    assert db.published("AME_AVSLUTADE", dimension="KON", value="M") == (None,) * 5 + (True,)
    assert db.published("AME_AVSLUTADE", dimension="INSATS", value="SOCIAL_REHAB") == \
        (None,) * 5 + (True,)
    assert db.published("AME_AVSLUTADE", period="2023-Q1", dimension="KON", value="K") is None
    assert db.published("AME_AVSLUTADE", period="2023-Q2") is None  # no TOTAL row, no grid
    grid = db.con.execute(
        "select dimension, count(*) from marts.kpi_published where kpi_id = 'AME_AVSLUTADE' "
        "and kommun_kod = '1480' and period = '2023' group by all").fetchall()
    assert dict(grid) == {"TOTAL": 1, "KON": 2, "ALDER": 4, "INSATS": 9, "FODD_UTRIKES": 3,
                          "FS_VID_START": 3, "LANGVARIGT_FS_FORE": 3, "REMITTERAD": 6,
                          "AVSTAND": 4}


def _share_people(n_den: int, n_num: int, want):
    """n_den exits of which the first n_num ended in work, with want(d(D), d(N))."""
    for seed in itertools.count():
        people = [f"s{seed}-{i}" for i in range(n_den)]
        keys = [spell_rk(p) for p in people]
        if want(noise(keys), noise(keys[:n_num]) if n_num else None):
            return people


def _share_db(people, n_num):
    db = CoreDb()
    exits(db, people[:n_num], "ARBETE")
    exits(db, people[n_num:], "AVBROTT")
    return db.build(AS_OF)


def test_a_share_from_perturbed_counts_with_its_wilson_interval():
    people = _share_people(20, 8, lambda dd, dn: dd == 1 and dn == -2)
    num, den, value, lo, hi, sup = _share_db(people, 8).published("AME_AVSLUT_ARB_STUD")
    assert (num, den, value, sup) == (6, 21, 6 / 21, False)
    assert lo == pytest.approx(0.1381386287, abs=1e-9) and hi == pytest.approx(0.4995638088, abs=1e-9)


def test_a_numerator_is_capped_at_its_denominator():
    people = _share_people(12, 11, lambda dd, dn: 11 + dn > 12 + dd)
    dd = noise([spell_rk(p) for p in people])
    assert _share_db(people, 11).published("AME_AVSLUT_ARB_STUD")[:3] == (12 + dd, 12 + dd, 1.0)


@pytest.mark.parametrize("p_den, suppressed", [(9, True), (10, False)])
def test_everyone_of_a_small_group_is_suppressed_below_twice_min_cell(p_den, suppressed):
    # everyone ended in work: N = D, the same set, the same noise; p(D) = p_den
    people = _share_people(p_den, p_den, lambda dd, dn: dd == 0)
    row = _share_db(people, p_den).published("AME_AVSLUT_ARB_STUD")
    assert row == ((None,) * 5 + (True,) if suppressed else row[:5] + (False,))
    if not suppressed:
        assert row[:3] == (10, 10, 1.0)


@pytest.mark.parametrize("p_den, suppressed", [(9, True), (10, False)])
def test_no_one_of_a_small_group_is_suppressed_below_twice_min_cell(p_den, suppressed):
    people = _share_people(p_den, 0, lambda dd, dn: dd == 0)
    row = _share_db(people, 0).published("AME_AVSLUT_ARB_STUD")
    assert row[5] is suppressed
    if not suppressed:
        assert row[:3] == (0, 10, 0.0)


def test_kand_is_derived_from_its_published_neighbours():
    # 14 mature exits at 3 months: 6 in work, 3 with status OKAND, 5 ARBETSSOKANDE
    people = [f"k{i}" for i in range(14)]
    db = CoreDb()
    exits(db, people)
    for i, p in enumerate(people):
        status = "ARBETE" if i < 6 else "OKAND" if i < 9 else "ARBETSSOKANDE"
        if status != "OKAND":  # OKAND at 3 months: no observation, no insats
            db.observation(p, "1480", date(2023, 6, 1), status)
    db.build(AS_OF)
    a = db.published("AME_ARB_STUD_3M")
    o = db.published("AME_OKAND_3M")
    assert a[1] == o[1]  # one cohort, one perturbed denominator
    keys = [spell_rk(p) for p in people]
    p_d = 14 + noise(keys)
    p_work = min(6 + noise(keys[:6]), p_d)
    p_unknown = min(max(0, 3 + noise(keys[6:9])), p_d)
    assert (a[0], a[1], o[0]) == (p_work, p_d, p_unknown)
    kand = db.published("AME_ARB_STUD_KAND_3M")
    den = p_d - p_unknown
    assert kand[:3] == (min(p_work, den), den, min(p_work, den) / den)
    assert db.kpi("AME_ARB_STUD_KAND_3M")[:3] == (6, 11, 6 / 11)  # the exact table is exact


def test_means_and_median_keep_the_exact_value_with_a_perturbed_denominator():
    db = CoreDb()
    people = [f"m{i}" for i in range(10)]
    db.coverage("1480", "2022-01", "2024-06")
    for i, p in enumerate(people):
        db.person(p, 1980, 1, "M")
        db.episode(p, "1480", "PRAKTIK", START, END)
        db.fs(p, "1480", "2022-11", f"2023-{i % 6 + 1:02d}")  # until 2023-01 .. 2023-06
    db.build(AS_OF)
    keys = [spell_rk(p) for p in people]
    exact_mean = db.kpi("FS_MAN_FORE_12")
    assert exact_mean[:3] == (30, 10, 3.0)  # 2022-11 to 2023-01 in the year before 2023-02
    assert db.published("FS_MAN_FORE_12") == (None, 10 + noise(keys), 3.0, None, None, False)
    exact_median = db.kpi("FS_MEDIAN_MAN")
    published = db.published("FS_MEDIAN_MAN")
    on_fs = [k for k, p in zip(keys, people) if int(p[1:]) % 6 + 1 >= 2]  # FS in 2023-02
    assert exact_median[1] == len(on_fs)
    p_d = len(on_fs) + noise(on_fs)
    assert published[1:] == (p_d, exact_median[2], None, None, False)
    assert published[0] == min(exact_median[0] + noise(on_fs), p_d)  # every exit observed


def test_min_cell_is_a_run_parameter():
    people = people_with(7, lambda d: d == 0)
    db = CoreDb()
    exits(db, people)
    assert db.build(AS_OF, min_cell=5).published("AME_AVSLUTADE")[5] is False
    assert db.build(AS_OF, min_cell=8).published("AME_AVSLUTADE")[5] is True
