"""marts.kpi_published: metrics.md's "Disclosure control" on hand-made cores. The units' person
keys are chosen (by search, with the spec's record keys computed here in Python) so that each
cell gets the noise the test needs."""

import hashlib
import itertools
import math
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


def noise_wilson(x: int, m: int) -> tuple[float, float]:
    """metrics.md's noise-aware interval, written here from its text: Wilson with m / deff."""
    q = (x + 2) / (m + 4)
    n = m / (1 + 4.083 * (1 + q * q) / (m * q * (1 - q)))
    z, p = 1.959964, x / m
    mid, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (mid - half) / (1 + z * z / n)), min(1.0, (mid + half) / (1 + z * z / n))


@pytest.mark.parametrize("x, m, low, high", [
    (0, 19, 0.0, 0.4297302329),       # metrics.md: 0 to 43 % (plain Wilson: 0 to 17 %)
    (15, 50, 0.1747427884, 0.4645058723),  # 17.5 to 46.5 %
    (150, 500, 0.2607132182, 0.3424644825),  # 26.07 to 34.25 %
])
def test_the_noise_aware_interval_of_metrics_md(x, m, low, high):
    db = CoreDb().build(AS_OF)
    got = db.con.execute("select noise_wilson_low(?, ?), noise_wilson_high(?, ?)",
                         [x, m, x, m]).fetchone()
    assert got == pytest.approx((low, high), abs=1e-9)
    assert noise_wilson(x, m) == pytest.approx((low, high), abs=1e-9)
    assert (round(got[0] * 100), round(got[1] * 100)) == {19: (0, 43), 50: (17, 46),
                                                          500: (26, 34)}[m]


def test_a_share_from_perturbed_counts_with_its_noise_aware_interval():
    people = _share_people(20, 8, lambda dd, dn: dd == 1 and dn == -2)
    num, den, value, lo, hi, sup = _share_db(people, 8).published("AME_AVSLUT_ARB_STUD")
    assert (num, den, value, sup) == (6, 21, 6 / 21, False)
    assert (lo, hi) == pytest.approx((0.1027497500, 0.5828434183), abs=1e-9)
    assert (lo, hi) == pytest.approx(noise_wilson(6, 21), abs=1e-12)


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
    assert kand[3:5] == pytest.approx(noise_wilson(min(p_work, den), den), abs=1e-12)
    assert db.kpi("AME_ARB_STUD_KAND_3M")[:3] == (6, 11, 6 / 11)  # the exact table is exact


def _fs_after(people, months):
    """Exits on START..END in 1480, covered 2022-01 to 2024-06; person i has FS in the first
    months[i] of the 12 months after the exit month (2023-04 on)."""
    db = CoreDb()
    db.coverage("1480", "2022-01", "2024-06")
    for p, n in zip(people, months):
        db.person(p, 1980, 1, "M")
        db.episode(p, "1480", "PRAKTIK", START, END)
        if n:
            db.fs(p, "1480", "2023-04", f"{2023 + (n + 2) // 12}-{(n + 2) % 12 + 1:02d}")
    return db.build(AS_OF)


@pytest.mark.parametrize("p_den, suppressed", [(17, True), (18, False)])
def test_a_mean_is_published_from_a_perturbed_count_of_2_min_cell_plus_8(p_den, suppressed):
    people = people_with(20, lambda d: 20 + d == p_den, prefix=f"g{p_den}-")
    db = _fs_after(people, [3] * 20)
    assert db.kpi("FS_MAN_EFTER_12")[:3] == (60, 20, 3.0)
    expected = (None,) * 5 + (True,) if suppressed else (None, p_den, 3.0, None, None, False)
    assert db.published("FS_MAN_EFTER_12") == expected


@pytest.mark.parametrize("total, published", [
    (3, 0.2),    # 0.15: a double of it lies below the half and rounds to 0.1
    (29, 1.5),   # 1.45, likewise below the half as a double
    (45, 2.3),   # 2.25, metrics.md's example
    (46, 2.3),   # 2.30
    (0, 0.0),    # a mean of 0 is published like any other value
    (240, 12.0),  # and so is a mean of 12
])
def test_a_mean_is_rounded_half_up_to_one_decimal_in_exact_arithmetic(total, published):
    people = people_with(20, lambda d: d >= -2, prefix="r")
    months = [min(12, max(0, total - 12 * i)) for i in range(20)]
    assert sum(months) == total
    db = _fs_after(people, months)
    assert db.kpi("FS_MAN_EFTER_12")[:2] == (total, 20)
    p_d = 20 + noise([spell_rk(p) for p in people])
    assert db.published("FS_MAN_EFTER_12") == (None, p_d, published, None, None, False)


def test_fs_man_fore_12_has_no_long_term_fs_rows_in_the_published_table():
    people = people_with(20, lambda d: d >= -2, prefix="f")
    db = _fs_after(people, [3] * 20)
    dims = dict(db.con.execute(
        "select kpi_id, count(*) filter (where dimension = 'LANGVARIGT_FS_FORE') "
        "from marts.kpi_published where kpi_id in ('FS_MAN_FORE_12', 'FS_MAN_EFTER_12') "
        "and kommun_kod = '1480' and period = '2023' group by all").fetchall())
    assert dims == {"FS_MAN_FORE_12": 0, "FS_MAN_EFTER_12": 3}
    # the exact table keeps it
    assert db.kpi("FS_MAN_FORE_12", dimension="LANGVARIGT_FS_FORE", value="NEJ")[:2] == (0, 20)


def test_the_published_rule_reads_each_kpis_kind_and_breakdowns_from_the_catalogue():
    from utfall import transform
    from utfall.marts.catalogue import CATALOGUE

    kinds = {k.kpi_id: k.kind for k in CATALOGUE}
    assert {i: kinds[i] for i in ("AME_STARTADE", "AME_ARB_STUD_3M", "AME_ARB_STUD_KAND_3M",
                                  "AME_ARB_STUD_3M_FORVANTAT", "FS_MAN_FORE_12",
                                  "FS_MEDIAN_MAN")} == {
        "AME_STARTADE": "count", "AME_ARB_STUD_3M": "share", "AME_ARB_STUD_KAND_3M": "derived",
        "AME_ARB_STUD_3M_FORVANTAT": "expected", "FS_MAN_FORE_12": "mean",
        "FS_MEDIAN_MAN": "median"}
    assert {k.kpi_id: k.published_without for k in CATALOGUE if k.published_without} == {
        "FS_MAN_FORE_12": ("LANGVARIGT_FS_FORE",)}
    people = people_with(20, lambda d: d >= -2, prefix="f")
    db = _fs_after(people, [3] * 20)
    # the catalogue, not the SQL, decides: a catalogue that leaves FS_MAN_EFTER_12's KON rows out
    # and calls it a count gets a table without them and a count where the mean was
    db.con.execute("update marts.kpi set published_without = ['KON'], kind = 'count' "
                   "where kpi_id = 'FS_MAN_EFTER_12'")
    db.con.execute("delete from marts.kpi_published")  # as build_marts' fresh table
    transform.run_sql_file(db.con, transform.MARTS_SQL_DIR / "40_kpi_published.sql")
    (kon,) = db.con.execute("select count(*) from marts.kpi_published where kpi_id = "
                            "'FS_MAN_EFTER_12' and dimension = 'KON'").fetchone()
    assert kon == 0
    p_d = 20 + noise([spell_rk(p) for p in people])
    assert db.published("FS_MAN_EFTER_12") == (p_d, None, p_d, None, None, False)


@pytest.mark.parametrize("p_den, suppressed", [(17, True), (18, False)])
def test_the_median_is_published_from_a_perturbed_count_of_2_min_cell_plus_8(p_den, suppressed):
    # 20 spells on FS from their start month (2023-02): 10 leave after 2 months, 10 after 5
    people = people_with(20, lambda d: 20 + d == p_den, prefix=f"k{p_den}-")
    db = CoreDb()
    db.coverage("1480", "2022-01", "2024-06")
    for i, p in enumerate(people):
        db.person(p, 1980, 1, "M")
        db.episode(p, "1480", "PRAKTIK", START, END)
        db.fs(p, "1480", "2023-02", "2023-03" if i < 10 else "2023-06")
    db.build(AS_OF)
    assert db.kpi("FS_MEDIAN_MAN")[:3] == (20, 20, 2)
    # every exit observed: N is D, the same units and the same noise
    expected = (None,) * 5 + (True,) if suppressed else (p_den, p_den, 2, None, None, False)
    assert db.published("FS_MEDIAN_MAN") == expected


def _exit_at(db, key, kommun, works, sex="K"):
    """An exit START..END with status ARBETE or ARBETSSOKANDE 3 months after it."""
    db.person(key, 1980, 1, sex)
    db.episode(key, kommun, "PRAKTIK", START, END)
    db.observation(key, kommun, date(2023, 6, 1), "ARBETE" if works else "ARBETSSOKANDE")


@pytest.mark.parametrize("p_den, suppressed", [(14, True), (15, False)])
def test_expected_values_from_the_published_share_from_a_perturbed_15(p_den, suppressed):
    # 1480: 16 women, 6 at work; 1402: 10 women, 2 at work. r(K) = 8/26, so for 1480
    # E / n = 8/26 = 0.30769..: F = 0.308
    people = people_with(16, lambda d: 16 + d == p_den, prefix=f"x{p_den}-")
    db = CoreDb()
    for i, p in enumerate(people):
        _exit_at(db, p, "1480", works=i < 6)
    for i in range(10):
        _exit_at(db, f"y{i}", "1402", works=i < 2)
    db.build(AS_OF)
    keys = [spell_rk(p) for p in people]
    p_work = min(max(0, 6 + noise(keys[:6])), p_den)
    share = db.published("AME_ARB_STUD_3M")
    assert share[:2] == (p_work, p_den) and share[5] is False
    forvantat = db.published("AME_ARB_STUD_3M_FORVANTAT")
    avvikelse = db.published("AME_ARB_STUD_3M_AVVIKELSE")
    if suppressed:
        assert forvantat == avvikelse == (None,) * 5 + (True,)
        return
    assert forvantat == (None, None, 0.308, None, None, False)
    s, low, high = p_work / p_den, *noise_wilson(p_work, p_den)
    assert avvikelse[:2] == (None, None) and avvikelse[5] is False
    assert avvikelse[2:5] == pytest.approx((s - 0.308, low - 0.308, high - 0.308), abs=1e-12)
    # expected + difference = the published share, on the page
    assert forvantat[2] + avvikelse[2] == pytest.approx(share[2], abs=1e-12)
    # the exact table keeps the definitions of "Expected values"
    assert db.kpi("AME_ARB_STUD_3M_FORVANTAT")[:3] == pytest.approx((16 * 8 / 26, 16, 8 / 26))


def test_the_expected_value_is_rounded_half_up_at_x_xxx5():
    # one municipality, one stratum, 1 of 16 at work: E / n = 1/16 = 0.0625 exactly, which
    # half up is 0.063 (a round-half-even or a double below the half would give 0.062)
    people = people_with(16, lambda d: d >= 0, prefix="h")
    db = CoreDb()
    for i, p in enumerate(people):
        _exit_at(db, p, "1480", works=i == 0)
    db.build(AS_OF)
    assert db.published("AME_ARB_STUD_3M_FORVANTAT")[2:] == (0.063, None, None, False)


def test_min_cell_is_a_run_parameter():
    people = people_with(7, lambda d: d == 0)
    db = CoreDb()
    exits(db, people)
    assert db.build(AS_OF, min_cell=5).published("AME_AVSLUTADE")[5] is False
    assert db.build(AS_OF, min_cell=8).published("AME_AVSLUTADE")[5] is True
