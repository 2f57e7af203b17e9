"""utfall audit models what a reader of the published table sees (issue 21, privacy.md "Small
cells"): the side channels that pinned small counts in tables published under the old rules
(exact means, exact expected values, sets that are provably the same set, a breakdown defined by
the very months a mean counts, the either/or of a suppression rule) are found on hand-made
tables, with exact ranges worked out by hand; the same tables under the revised rules of
metrics.md are not pinned. Then each kind of fact on its own, with exact ranges."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from tests.test_audit import database
from utfall.marts.audit import audit, build, exact_range

SUPPRESSED = None


def published(con, kpi, kommun, period, dim, val, num=None, den=None, value=None):
    """One published row; value None with num and den: their ratio (a share)."""
    if value is None and num is not None and den:
        value = num / den
    con.execute("insert into marts.kpi_published values (?, ?, ?, ?, ?, ?, ?, ?, ?, null, null, "
                "false)", [kpi, kommun, period, "QUARTER" if "-Q" in period else "YEAR", dim, val,
                           num, den, value])


def suppressed(con, kpi, kommun, period, dim, val):
    con.execute("insert into marts.kpi_published values (?, ?, ?, ?, ?, ?, null, null, null, null,"
                " null, true)", [kpi, kommun, period, "QUARTER" if "-Q" in period else "YEAR", dim,
                                 val])


def exact(con, kpi, kommun, period, dim, val, num, den):
    """One row of the exact table (the truth the audit checks its relations against)."""
    con.execute("insert into marts.kpi_value values (?, ?, ?, 'YEAR', ?, ?, ?, ?, ?, null, null)",
                [kpi, kommun, period, dim, val, num, den, None if not den else num / den])


def run_on(con, as_of: date) -> None:
    con.execute("insert into meta.run (run_id, finished_at, as_of, min_cell) values "
                "('test', ?, ?, 5)", [datetime(2030, 1, 1), as_of])


def var(model, name, *cell):
    return model.index[(name, *cell)]


def year(kommun, period, dim="TOTAL", val="ALLA"):
    return (kommun, period, "YEAR", dim, val)


# ---- exact means: the group's size is a multiple of the mean's denominator ----

def efter_by_langvarigt(rule: str):
    """FS_MAN_EFTER_12, ALLA, 2020, by LANGVARIGT_FS_FORE (issue 21): true TOTAL 89 months over
    62 exits, NEJ 55 over 27, OKAND 22 over 34, JA 12 over 1 (suppressed)."""
    con = database()
    rows = [("TOTAL", "ALLA", 60, 89 / 62, 1.4), ("LANGVARIGT_FS_FORE", "NEJ", 25, 55 / 27, 2.0),
            ("LANGVARIGT_FS_FORE", "OKAND", 30, 22 / 34, 0.6)]
    for dim, val, den, exact_mean, rounded in rows:
        published(con, "FS_MAN_EFTER_12", "ALLA", "2020", dim, val, None, den,
                  exact_mean if rule == "old" else rounded)
    suppressed(con, "FS_MAN_EFTER_12", "ALLA", "2020", "LANGVARIGT_FS_FORE", "JA")
    for dim, val, s, n in [("TOTAL", "ALLA", 89, 62), ("LANGVARIGT_FS_FORE", "NEJ", 55, 27),
                           ("LANGVARIGT_FS_FORE", "OKAND", 22, 34),
                           ("LANGVARIGT_FS_FORE", "JA", 12, 1)]:
        exact(con, "FS_MAN_EFTER_12", "ALLA", "2020", dim, val, s, n)
    return con


def test_exact_means_pin_the_suppressed_ja_cell_through_total_nej_and_okand():
    # 89/62 with p = 60 (52..68): 62; 55/27 with p = 25 (17..33): 27; 11/17 with p = 30
    # (22..38): 34; JA = 62 - 27 - 34 = 1 (with 89 - 55 - 22 = 12 months: one person's value)
    r = audit(efter_by_langvarigt("old"), exact=True)
    assert r.range_of("FS_MAN_EFTER_12 ALLA 2020 LANGVARIGT_FS_FORE=JA D") == (1, 1)
    assert r.pinned == 1 and r.pinned_below_min_cell == 1 and not r.safe
    assert r.truth_violations == 0 and r.true_small_pinned == 1


def test_the_same_means_rounded_to_one_decimal_pin_nothing():
    # 1.4, 2.0, 0.6 from p(D) >= g = 18; JA suppressed: p(D) < 18, so at most 25 exits.
    # JA = 0 fits (TOTAL 55, NEJ 33 with 65 months, OKAND 22 with 13: 78 of 55 * 1.35..1.45);
    # JA = 25 fits too (TOTAL 68 with 95 months, NEJ 17 with 34, OKAND 26 with 16, JA 45)
    r = audit(efter_by_langvarigt("new"), exact=True)
    assert r.range_of("FS_MAN_EFTER_12 ALLA 2020 LANGVARIGT_FS_FORE=JA D") == (0, 25)
    assert r.pinned == 0 and r.safe and r.truth_violations == 0


# ---- expected values: F + A = O / n exactly under the old rule ----

def expected_table(rule: str):
    """AME_ARB_STUD_3M, 1402, 2021: 0 of 17 published; truly 3 of 21, E = 2.5."""
    con = database()
    published(con, "AME_ARB_STUD_3M", "1402", "2021", "TOTAL", "ALLA", 0, 17)
    if rule == "old":
        f, a = 2.5 / 21, (3 - 2.5) / 21
    else:
        f = 0.119  # round(2.5 / 21, 3); A = s - F with s = 0 / 17
        a = 0.0 - f
    published(con, "AME_ARB_STUD_3M_FORVANTAT", "1402", "2021", "TOTAL", "ALLA", value=f)
    published(con, "AME_ARB_STUD_3M_AVVIKELSE", "1402", "2021", "TOTAL", "ALLA", value=a)
    exact(con, "AME_ARB_STUD_3M", "1402", "2021", "TOTAL", "ALLA", 3, 21)
    return con


def test_expected_values_reveal_n_and_o_under_the_old_rule():
    # F + A = 1/7: n a multiple of 7 in 9..25, and n >= 15 (published on the exact n): n = 21,
    # O = 3 (p(N) = 0 allows 0..8)
    r = audit(expected_table("old"), exact=True)
    assert r.range_of("AME_ARB_STUD_3M 1402 2021 TOTAL=ALLA N") == (3, 3)
    assert r.pinned_below_min_cell == 1 and r.truth_violations == 0
    model = build(expected_table("old"))[0]
    n = var(model, "MATURE_3", *year("1402", "2021"))
    assert exact_range(model, {n: 1.0}) == (21, 21)


def test_expected_values_from_the_published_share_reveal_nothing():
    # F = 0.119, A = -0.119: F + A is the published 0 / 17; n 9..25 (and p(n) >= 15: >= 7)
    r = audit(expected_table("new"), exact=True)
    assert r.range_of("AME_ARB_STUD_3M 1402 2021 TOTAL=ALLA N") == (0, 8)
    assert r.pinned == 0 and r.truth_violations == 0


def test_without_the_threshold_fact_two_sizes_would_fit():
    # suppose the expected values were published from n >= 14: n = 14 (O = 2) or 21 (O = 3);
    # the audit's n >= 15 is what the old rule says, and the truth (21) satisfies it
    model = build(expected_table("old"))[0]
    o = var(model, "ARB_STUD_3", *year("1402", "2021"))
    n = var(model, "MATURE_3", *year("1402", "2021"))
    model.lb[n] = 9
    assert exact_range(model, {o: 1.0}) == (2, 3)


# ---- sets that are the same set: coverage (FS_LANGVARIGT rows) and maturity (as_of) ----

def same_set_table(rule: str, covered: bool = True, as_of: date | None = date(2023, 6, 30)):
    """1480, exits of 2021: FS_MAN_EFTER_12 (true 23 months over 19 exits, K 20 over 17),
    AME_AVSLUTADE (TOTAL 19, K 17, M 2) and AME_ARB_STUD_12M (all exits mature at 12)."""
    con = database()
    if as_of:
        run_on(con, as_of)
    if covered:  # 12 covered months in 2021 and 2022: the 12 months after every exit of 2021
        for y in ("2021", "2022"):
            published(con, "FS_LANGVARIGT", "1480", y, "TOTAL", "ALLA", 30, 100)
    mean = (lambda s, n, v: s / n) if rule == "old" else (lambda s, n, v: v)
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "TOTAL", "ALLA", None, 20,
              mean(23, 19, 1.2))
    if rule == "old":
        published(con, "FS_MAN_EFTER_12", "1480", "2021", "KON", "K", None, 16, 20 / 17)
    else:
        suppressed(con, "FS_MAN_EFTER_12", "1480", "2021", "KON", "K")  # 16 < g
    suppressed(con, "FS_MAN_EFTER_12", "1480", "2021", "KON", "M")
    published(con, "AME_AVSLUTADE", "1480", "2021", "TOTAL", "ALLA", 21)
    published(con, "AME_AVSLUTADE", "1480", "2021", "KON", "K", 15)
    suppressed(con, "AME_AVSLUTADE", "1480", "2021", "KON", "M")
    published(con, "AME_ARB_STUD_12M", "1480", "2021", "TOTAL", "ALLA", 8, 20)
    published(con, "AME_ARB_STUD_12M", "1480", "2021", "KON", "K", 6, 16)
    suppressed(con, "AME_ARB_STUD_12M", "1480", "2021", "KON", "M")
    for kpi, dim, val, num, den in [
            ("FS_MAN_EFTER_12", "TOTAL", "ALLA", 23, 19), ("FS_MAN_EFTER_12", "KON", "K", 20, 17),
            ("FS_MAN_EFTER_12", "KON", "M", 3, 2), ("AME_AVSLUTADE", "TOTAL", "ALLA", 19, None),
            ("AME_AVSLUTADE", "KON", "K", 17, None), ("AME_AVSLUTADE", "KON", "M", 2, None),
            ("AME_ARB_STUD_12M", "TOTAL", "ALLA", 7, 19), ("AME_ARB_STUD_12M", "KON", "K", 6, 17),
            ("AME_ARB_STUD_12M", "KON", "M", 1, 2), ("FS_LANGVARIGT", "TOTAL", "ALLA", 30, 99)]:
        for y in (("2021", "2022") if kpi == "FS_LANGVARIGT" else ("2021",)):
            if kpi != "FS_LANGVARIGT" or covered:
                exact(con, kpi, "1480", y, dim, val, num, den)
    return con


AVSLUT_M = "AME_AVSLUTADE 1480 2021 KON=M D"
MATURE_M = "AME_ARB_STUD_12M 1480 2021 KON=M D"


def test_coverage_and_maturity_carry_a_mean_s_pinned_size_to_the_exits():
    # 23/19 with p = 20: 19 exits with all 12 months after covered; 20/17 with p = 16: 17. With
    # 2021 and 2022 covered they are all the exits: AVSLUT M = 19 - 17 = 2; every exit of 2021
    # is mature at 12 on 2023-06-30: the mature exits are the exits, M = 2
    r = audit(same_set_table("old"), exact=True)
    assert r.range_of("FS_MAN_EFTER_12 1480 2021 KON=M D") == (2, 2)
    assert r.range_of(AVSLUT_M) == (2, 2)
    assert r.range_of(MATURE_M) == (2, 2)
    assert r.range_of("AME_ARB_STUD_12M 1480 2021 KON=M N") == (0, 2)
    assert r.truth_violations == 0


def test_without_proved_coverage_the_exits_are_only_a_superset():
    # the exits are the mature ones (19..28, K 17..23 as at least the means' 19 and 17): M at
    # most 28 - 17 = 11, and at least the 2 of FS_MAN_EFTER_12 (19 - 17), a subset
    r = audit(same_set_table("old", covered=False), exact=True)
    assert r.range_of(AVSLUT_M) == (2, 11)
    assert r.range_of(MATURE_M) == (2, 11)
    assert r.truth_violations == 0


def test_without_as_of_the_mature_exits_are_only_a_subset():
    r = audit(same_set_table("old", as_of=None), exact=True)
    assert r.range_of(AVSLUT_M) == (2, 2)
    assert r.range_of(MATURE_M) == (0, 2)  # a subset of the exits, M of them at most 2


def test_the_same_sets_under_rounded_means_pin_nothing():
    # 1.2 over p = 20: 12..28 exits, 14..34 months; K and M suppressed (p < 18)
    r = audit(same_set_table("new"), exact=True)
    assert r.range_of(AVSLUT_M) == (0, 12)
    assert r.range_of(MATURE_M) == (0, 12)
    assert r.pinned == 0 and r.truth_violations == 0


# ---- a breakdown defined by the months a mean counts (FS_MAN_FORE_12 by LANGVARIGT_FS_FORE) ----

def fore_table(with_breakdown: bool):
    """1480, starts of 2021, 12 months before covered: TOTAL 0.4 months on average (p = 30),
    NEJ 0.0 (p = 26), JA suppressed; truly 25 starts, 1 JA with 10 months."""
    con = database()
    for y in ("2020", "2021"):
        published(con, "FS_LANGVARIGT", "1480", y, "TOTAL", "ALLA", 30, 100)
    published(con, "FS_MAN_FORE_12", "1480", "2021", "TOTAL", "ALLA", None, 30, 0.4)
    published(con, "AME_STARTADE", "1480", "2021", "TOTAL", "ALLA", 30)
    published(con, "AME_STARTADE", "1480", "2021", "LANGVARIGT_FS_FORE", "NEJ", 26)
    suppressed(con, "AME_STARTADE", "1480", "2021", "LANGVARIGT_FS_FORE", "JA")
    suppressed(con, "AME_STARTADE", "1480", "2021", "LANGVARIGT_FS_FORE", "OKAND")
    if with_breakdown:
        published(con, "FS_MAN_FORE_12", "1480", "2021", "LANGVARIGT_FS_FORE", "NEJ", None, 26,
                  0.0)
        suppressed(con, "FS_MAN_FORE_12", "1480", "2021", "LANGVARIGT_FS_FORE", "JA")
        suppressed(con, "FS_MAN_FORE_12", "1480", "2021", "LANGVARIGT_FS_FORE", "OKAND")
    return con


def test_a_rounded_mean_by_langvarigt_fs_fore_pins_the_ja_group():
    # the first draft of the revision (rounded means, the breakdown kept): TOTAL 22..38 starts
    # with 0.35..0.45 months each (8..17 months); NEJ < 0.05 each (at most 1 month); JA spells
    # have 10..12 months: JA = 0 leaves at most 1 month, JA = 2 needs 20: JA = 1
    r = audit(fore_table(with_breakdown=True), exact=True)
    assert r.range_of("FS_MAN_FORE_12 1480 2021 LANGVARIGT_FS_FORE=JA D") == (1, 1)
    assert r.range_of("AME_STARTADE 1480 2021 LANGVARIGT_FS_FORE=JA D") == (1, 1)
    assert not any("OKAND D" in c["rows"][0] for c in r.cells)  # empty by definition: no target


def test_without_that_breakdown_the_ja_group_is_not_pinned():
    # the revised table: the TOTAL mean still says JA starts have at most 17 months: JA 0..1
    r = audit(fore_table(with_breakdown=False), exact=True)
    assert r.range_of("AME_STARTADE 1480 2021 LANGVARIGT_FS_FORE=JA D") == (0, 1)
    assert r.pinned == 0


# ---- the either/or of the share rule (exact counts: the suppression-only rule) ----

def either_or_table():
    """1480, 2023, counts exact (noise 0): 7 mature exits, 2 in unsubsidised work or studies
    (published), work or studies suppressed although 7 >= min_cell: so 0 or all 7."""
    con = database()
    published(con, "AME_OSUB_ARB_STUD_3M", "1480", "2023", "TOTAL", "ALLA", 2, 7)
    suppressed(con, "AME_ARB_STUD_3M", "1480", "2023", "TOTAL", "ALLA")
    exact(con, "AME_OSUB_ARB_STUD_3M", "1480", "2023", "TOTAL", "ALLA", 2, 7)
    exact(con, "AME_ARB_STUD_3M", "1480", "2023", "TOTAL", "ALLA", 7, 7)
    return con


def test_a_share_suppressed_by_the_0_or_100_percent_rule_is_all_or_nothing():
    r = audit(either_or_table(), noise=0, exact=True)
    assert r.range_of("AME_ARB_STUD_3M 1480 2023 TOTAL=ALLA N") == (7, 7)  # at least 2: all
    assert r.truth_violations == 0
    model = build(either_or_table(), noise=0)[0]
    n = var(model, "ARB_STUD_3", *year("1480", "2023"))
    model.ub[var(model, "OSUB_ARB_STUD_3", *year("1480", "2023"))] = 0
    model.lb[var(model, "OSUB_ARB_STUD_3", *year("1480", "2023"))] = 0
    assert exact_range(model, {n: 1.0}) == (0, 7)  # 1..6 is neither


def test_with_cell_key_noise_the_either_or_is_its_hull():
    # |d| <= 8 >= min_cell - 1: either branch allows every N, so no binaries are needed
    model = build(either_or_table())[0]
    assert not model.either_or and all(model.integer)


# ---- each fact on its own, exact ranges ----

def mean_model(value, den, rule_rows=()):
    con = database()
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "TOTAL", "ALLA", None, den, value)
    for row in rule_rows:
        published(con, *row)
    model = build(con, noise=0)[0]
    return (model, var(model, "FS_MAN_EFTER_12.S", *year("1480", "2021")),
            var(model, "FS_MAN_EFTER_12.D", *year("1480", "2021")))


@pytest.mark.parametrize("value, den, months", [
    (2.3, 20, (45, 46)),    # 2.25 * 20 <= S < 2.35 * 20
    (2.3, 4, (9, 9)),       # 2.25 rounds half up to 2.3: included
    (0.0, 20, (0, 0)),      # a mean of 0 like any other: S < 1
    (12.0, 20, (239, 240)),  # and 12: S >= 11.95 * 20
])
def test_a_rounded_mean_bounds_the_month_sum_half_up(value, den, months):
    model, s, _ = mean_model(value, den)
    assert exact_range(model, {s: 1.0}) == months


def test_a_rounded_mean_excludes_its_upper_half():
    # 2.2 over 4 units: 8.6 <= S < 9 (9 / 4 = 2.25 would round to 2.3): no whole S
    model, s, _ = mean_model(2.2, 4)
    lo, hi = exact_range(model, {s: 1.0})
    assert math.isnan(lo) and math.isnan(hi)


def test_an_exact_mean_makes_the_size_a_multiple_of_its_denominator():
    con = database()
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "TOTAL", "ALLA", None, 20, 23 / 19)
    model = build(con)[0]
    d = var(model, "FS_MAN_EFTER_12.D", *year("1480", "2021"))
    assert (model.lb[d], model.ub[d]) == (12, 28)
    assert exact_range(model, {d: 1.0}) == (19, 19)


def test_an_exact_mean_of_one_and_a_half_makes_the_size_even():
    con = database()
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "TOTAL", "ALLA", None, 20, 1.55)
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "KON", "K", None, 9, 1.5)
    model = build(con)[0]  # 1.55 = 31/20 with 12..28 units: 20; K: 3/2, an even 2..16
    total = var(model, "FS_MAN_EFTER_12.D", *year("1480", "2021"))
    assert exact_range(model, {total: 1.0}) == (20, 20)
    d = var(model, "FS_MAN_EFTER_12.D", *year("1480", "2021", "KON", "K"))
    assert exact_range(model, {d: 1.0}) == (2, 16)
    model.ub[d] = 3
    assert exact_range(model, {d: 1.0}) == (2, 2)


def test_month_sums_add_up_like_counts():
    # K 2.0 over exactly 5 (S 9.75..10.25: 10), TOTAL 1.1 over 9 (S 9.45..10.35: 10): M, 4
    # exits, has 0 months
    con = database()
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "TOTAL", "ALLA", None, 9, 1.1)
    published(con, "FS_MAN_EFTER_12", "1480", "2021", "KON", "K", None, 5, 2.0)
    suppressed(con, "FS_MAN_EFTER_12", "1480", "2021", "KON", "M")
    model = build(con, noise=0)[0]
    s_m = var(model, "FS_MAN_EFTER_12.S", *year("1480", "2021", "KON", "M"))
    assert exact_range(model, {s_m: 1.0}) == (0, 0)


@pytest.mark.parametrize("val, months", [("JA", (30, 36)), ("NEJ", (0, 27))])
def test_langvarigt_fs_fore_bounds_the_months_before(val, months):
    con = database()
    published(con, "FS_MAN_FORE_12", "1480", "2021", "LANGVARIGT_FS_FORE", val, None, 3, None)
    con.execute("update marts.kpi_published set value = null")  # only the size is known: 3
    model = build(con, noise=0)[0]
    s = var(model, "FS_MAN_FORE_12.S", *year("1480", "2021", "LANGVARIGT_FS_FORE", val))
    assert exact_range(model, {s: 1.0}) == months


@pytest.mark.parametrize("extra, most", [
    ((), 25),  # revised: p(D) < g = 18, so at most 25
    ((("FS_MAN_EFTER_12", "1480", "2022", "TOTAL", "ALLA", None, 10, 1.5),), 12),  # old: < 5
])
def test_a_suppressed_mean_says_its_perturbed_size_is_below_the_threshold(extra, most):
    con = database()
    suppressed(con, "FS_MAN_EFTER_12", "1480", "2021", "TOTAL", "ALLA")
    for row in extra:
        published(con, *row)
    model = build(con)[0]
    d = var(model, "FS_MAN_EFTER_12.D", *year("1480", "2021"))
    assert exact_range(model, {d: 1.0}) == (1, most)


@pytest.mark.parametrize("f, a, n_range", [
    (0.119, -0.119, (9, 25)),  # revised, published: p(n) = 17 >= 15 says n >= 7, no more
    (None, None, (9, 25)),     # revised, suppressed: says nothing beyond the share row
])
def test_expected_values_under_the_revised_rule_add_nothing(f, a, n_range):
    con = database()
    published(con, "AME_ARB_STUD_3M", "1402", "2021", "TOTAL", "ALLA", 0, 17)
    for kpi, value in (("AME_ARB_STUD_3M_FORVANTAT", f), ("AME_ARB_STUD_3M_AVVIKELSE", a)):
        if value is None:
            suppressed(con, kpi, "1402", "2021", "TOTAL", "ALLA")
        else:
            published(con, kpi, "1402", "2021", "TOTAL", "ALLA", value=value)
    model = build(con)[0]
    n = var(model, "MATURE_3", *year("1402", "2021"))
    assert exact_range(model, {n: 1.0}) == n_range


def test_expected_values_suppressed_under_the_old_rule_say_n_is_below_15():
    con = expected_table("old")
    for h in ("3", "6"):
        published(con, f"AME_ARB_STUD_{h}M", "1402", "2022", "TOTAL", "ALLA", 5, 17)
    suppressed(con, "AME_ARB_STUD_6M_FORVANTAT", "1402", "2022", "TOTAL", "ALLA")
    suppressed(con, "AME_ARB_STUD_6M_AVVIKELSE", "1402", "2022", "TOTAL", "ALLA")
    model = build(con)[0]
    n = var(model, "MATURE_6", *year("1402", "2022"))
    assert exact_range(model, {n: 1.0}) == (9, 14)


def test_returns_count_the_exits_mature_at_12_months():
    con = database()
    published(con, "AME_ATERKOMST_12M", "1480", "2021", "TOTAL", "ALLA", 2, 20)
    published(con, "AME_ARB_STUD_12M", "1480", "2021", "TOTAL", "ALLA", 8, 20)
    model, targets = build(con)[:2]
    assert ("MATURE_12", *year("1480", "2021")) in model.index
    assert ("AME_ATERKOMST_12M.D", *year("1480", "2021")) not in model.index


@pytest.mark.parametrize("as_of, same", [(date(2024, 6, 30), True), (date(2024, 6, 29), False)])
def test_exits_of_a_year_are_all_mature_at_6_months_from_the_end_of_june(as_of, same):
    con = database()
    run_on(con, as_of)
    published(con, "AME_AVSLUTADE", "1480", "2023", "TOTAL", "ALLA", 20)
    published(con, "AME_ARB_STUD_6M", "1480", "2023", "TOTAL", "ALLA", 3, 12)
    model = build(con)[0]
    mature = var(model, "MATURE_6", *year("1480", "2023"))
    assert exact_range(model, {mature: 1.0}) == ((12, 20) if same else (4, 20))


@pytest.mark.parametrize("years, same", [(("2020", "2021"), True), (("2021",), False)])
def test_fs_man_fore_12_counts_every_start_where_the_year_before_is_covered(years, same):
    con = database()
    for y in years:
        published(con, "FS_LANGVARIGT", "1480", y, "TOTAL", "ALLA", 30, 100)
    published(con, "AME_STARTADE", "1480", "2021", "TOTAL", "ALLA", 30)
    published(con, "FS_MAN_FORE_12", "1480", "2021", "TOTAL", "ALLA", None, 20, 2.0)
    model = build(con)[0]
    d = var(model, "FS_MAN_FORE_12.D", *year("1480", "2021"))
    assert exact_range(model, {d: 1.0}) == ((22, 28) if same else (12, 28))


def test_fs_at_start_kpis_count_only_ja_starts():
    con = database()
    published(con, "AME_STARTADE", "1480", "2021", "FS_VID_START", "JA", 6)
    published(con, "FS_MEDIAN_MAN", "1480", "2021", "TOTAL", "ALLA", 4, 20, 5)
    for val in ("JA", "NEJ", "OKAND"):
        suppressed(con, "FS_MEDIAN_MAN", "1480", "2021", "FS_VID_START", val)
    model, targets = build(con)[:2]
    d = var(model, "FS_MEDIAN_MAN.D", *year("1480", "2021"))
    assert exact_range(model, {d: 1.0}) == (12, 14)  # 12..28, and at most the 14 JA starts
    rows = {row for t in targets for row in t.rows}
    assert "FS_MEDIAN_MAN 1480 2021 FS_VID_START=JA D" in rows
    assert "FS_MEDIAN_MAN 1480 2021 FS_VID_START=NEJ D" not in rows  # empty by definition


def test_every_variable_is_a_whole_number():
    model = build(expected_table("old"))[0]
    assert len(model.integer) == len(model.lb) and all(model.integer)


@pytest.mark.parametrize("table, noise, pinned", [
    (lambda: efter_by_langvarigt("old"), 8, {"FS_MAN_EFTER_12 ALLA 2020 LANGVARIGT_FS_FORE=JA D"}),
    (lambda: expected_table("old"), 8, {"AME_ARB_STUD_3M 1402 2021 TOTAL=ALLA N"}),
    (lambda: same_set_table("old"), 8, {AVSLUT_M, MATURE_M}),
    (lambda: fore_table(with_breakdown=True), 8,
     {"AME_STARTADE 1480 2021 LANGVARIGT_FS_FORE=JA D"}),
    (either_or_table, 0, {"AME_ARB_STUD_3M 1480 2023 TOTAL=ALLA N"}),
])
def test_the_run_s_audit_finds_every_channel_too(table, noise, pinned):
    # the audit as the run calls it (not exact=True) must not pass a leaking table either
    r = audit(table(), noise=noise)
    assert pinned <= {c["rows"][0] for c in r.pinned_cells} and not r.safe
