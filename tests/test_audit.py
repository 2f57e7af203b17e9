"""utfall audit: the intruder's linear programme over every relation of marts.kpi_published, on
hand-made published tables whose answers are worked out by hand, and on random unit-level data
perturbed by the cell key method of metrics.md. (The bundled sample: tests/pipeline.)"""

from __future__ import annotations

import json
import random

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utfall import transform
from utfall.cli import main
from utfall.marts import catalogue
from utfall.marts.audit import audit

SUPPRESSED = None
T = [379749, 2478304, 12797986, 52503710, 172052769, 453762323, 973357067, 1723543207,
     2571424089, 3321610229, 3841204973, 4122914527, 4242463586, 4282169310, 4292488992,
     4294587547, 2**32]  # metrics.md: T(k) for k = -8..8


def database() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    transform.create_schemas(con)
    con.executemany("insert into marts.kpi values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", catalogue.rows())
    return con


def counts(rows, kpi="AME_AVSLUTADE"):
    """A published table of one count KPI: (kommun, period, dimension, value, p or SUPPRESSED)."""
    con = database()
    for kommun, period, dim, value, p in rows:
        con.execute(
            "insert into marts.kpi_published values (?, ?, ?, ?, ?, ?, ?, null, ?, null, null, ?)",
            [kpi, kommun, period, "QUARTER" if "-Q" in period else "YEAR", dim, value, p, p,
             p is None])
    return con


def test_a_suppressed_sex_gets_its_range_from_the_total_and_the_other_sex():
    # TOTAL p=20: [12, 28]; K p=12: [4, 20]; M suppressed: [0, 12]; K + M = TOTAL
    con = counts([("1480", "2023", "TOTAL", "ALLA", 20), ("1480", "2023", "KON", "K", 12),
                  ("1480", "2023", "KON", "M", SUPPRESSED)])
    r = audit(con, exact=True)
    assert r.range_of("AME_AVSLUTADE 1480 2023 KON=M D") == (0, 12)
    assert r.range_of("AME_AVSLUTADE 1480 2023 KON=K D") == (4, 20)
    assert r.cells_checked == 2  # TOTAL (p=20, at least 12) cannot be below min_cell
    assert r.pinned == 0 and r.safe
    assert r.summary_sv().startswith("Granskning av den publicerade tabellen: 0 av 2 små")


def test_quarters_bound_each_other_through_their_year():
    # year p=6: [6, 14] (at least Q1); Q1 p=14: [6, 22]; Q2 suppressed: [0, 12]; Q1 + Q2 = year,
    # Q3 and Q4 have no row, so no units: Q2 = year - Q1 <= 14 - 6
    con = counts([("1480", "2023", "TOTAL", "ALLA", 6), ("1480", "2023-Q1", "TOTAL", "ALLA", 14),
                  ("1480", "2023-Q2", "TOTAL", "ALLA", SUPPRESSED)])
    r = audit(con, exact=True)
    assert r.range_of("AME_AVSLUTADE 1480 2023-Q2 TOTAL=ALLA D") == (1, 8)  # a TOTAL row: >= 1
    assert r.range_of("AME_AVSLUTADE 1480 2023 TOTAL=ALLA D") == (7, 14)
    assert r.pinned == 0


def test_alla_is_the_sum_of_the_municipalities_for_spells():
    # ALLA p=3: [1, 11]; 1480 p=17: [9, 25]; 1402 suppressed: [1, 12] -> 1480 = 9..10, 1402 = 1..2
    con = counts([("ALLA", "2023", "TOTAL", "ALLA", 3), ("1480", "2023", "TOTAL", "ALLA", 17),
                  ("1402", "2023", "TOTAL", "ALLA", SUPPRESSED)])
    r = audit(con, exact=True)
    assert r.range_of("AME_AVSLUTADE 1402 2023 TOTAL=ALLA D") == (1, 2)
    assert r.range_of("AME_AVSLUTADE ALLA 2023 TOTAL=ALLA D") == (10, 11)
    assert r.cells_checked == 2 and r.pinned == 0


def test_alla_of_the_fs_population_is_only_bounded_by_the_municipalities():
    # a person may belong to both: max(1480, 1402) <= ALLA <= 1480 + 1402
    con = counts([("ALLA", "2023", "TOTAL", "ALLA", 3), ("1480", "2023", "TOTAL", "ALLA", 17),
                  ("1402", "2023", "TOTAL", "ALLA", SUPPRESSED)], kpi="FS_ATERKOMST_12M")
    con.execute("update marts.kpi_published set denominator = numerator")
    r = audit(con, exact=True)
    # ALLA in [1, 11] and >= 1480 >= 9; 1402 suppressed (a share: below 2 * min_cell) in [1, 17]
    assert r.range_of("FS_ATERKOMST_12M ALLA 2023 TOTAL=ALLA D") == (9, 11)
    assert r.range_of("FS_ATERKOMST_12M 1402 2023 TOTAL=ALLA D") == (1, 11)


def test_kpis_counting_the_same_exits_are_one_set():
    con = counts([("1480", "2023", "TOTAL", "ALLA", 9)])
    con.execute("insert into marts.kpi_published values ('AME_AVSLUT_ARB_STUD', '1480', '2023', "
                "'YEAR', 'TOTAL', 'ALLA', 3, 9, 3 / 9, null, null, false)")
    r = audit(con, exact=True)
    cell = next(c for c in r.cells if "AME_AVSLUTADE 1480 2023 TOTAL=ALLA D" in c["rows"])
    assert cell["rows"] == ["AME_AVSLUTADE 1480 2023 TOTAL=ALLA D",
                            "AME_AVSLUT_ARB_STUD 1480 2023 TOTAL=ALLA D"]
    assert r.range_of("AME_AVSLUT_ARB_STUD 1480 2023 TOTAL=ALLA N") == (1, 11)  # N <= D <= 17


def leaky_path(tmp_path):
    """The old rule: exact counts published, a small cell suppressed, the total published."""
    con = counts([("1480", "2023", "TOTAL", "ALLA", 20), ("1480", "2023", "KON", "K", 17),
                  ("1480", "2023", "KON", "M", SUPPRESSED)])
    path = tmp_path / "leaky.duckdb"
    con.execute(f"attach '{path}' as f")
    con.execute("copy from database memory to f")
    con.close()
    return path


def test_a_table_of_exact_counts_is_found_leaky_and_the_command_fails(tmp_path):
    path = leaky_path(tmp_path)
    with duckdb.connect(str(path), read_only=True) as con:
        r = audit(con, noise=0)
        assert audit(con).pinned == 0  # read as noisy counts, M could be anything in 0..12
    assert r.pinned == 1 and r.pinned_below_min_cell == 1 and not r.safe
    assert r.range_of("AME_AVSLUTADE 1480 2023 KON=M D") == (3, 3)
    out = tmp_path / "a.json"
    result = CliRunner().invoke(main, ["audit", "--db", str(path), "--noise", "0", "--json",
                                       str(out)])
    assert result.exit_code == 1
    assert "PINNED AME_AVSLUTADE 1480 2023 KON=M D = 3" in result.output
    assert "do not publish this table" in result.output
    assert "Traceback" not in result.output
    assert json.loads(out.read_text())["pinned"] == 1
    ok = CliRunner().invoke(main, ["audit", "--db", str(path)])
    assert ok.exit_code == 0 and "Pinned with certainty: 0" in ok.output


def test_noise_at_its_bounds_on_linked_cells_can_pin_and_the_audit_says_so(tmp_path):
    # TOTAL p=5 says at most 13, K p=21 at least 13: TOTAL = K = 13 and M = 0
    con = counts([("1480", "2023", "TOTAL", "ALLA", 5), ("1480", "2023", "KON", "K", 21),
                  ("1480", "2023", "KON", "M", SUPPRESSED)])
    r = audit(con)
    assert r.pinned == 2 and r.pinned_below_min_cell == 1
    assert r.range_of("AME_AVSLUTADE 1480 2023 KON=M D") == (0, 0)
    assert r.range_of("AME_AVSLUTADE 1480 2023 TOTAL=ALLA D") == (13, 13)


def test_the_command_without_a_published_table_says_so(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    result = CliRunner().invoke(main, ["audit", "--db", str(path)])
    assert result.exit_code == 1
    assert "no published table" in result.output and "Traceback" not in result.output


# ---- random units, perturbed by the cell key method (metrics.md "Disclosure control") ----

def noise(cell_key: int) -> int:
    return next(k for k, t in zip(range(-8, 9), T) if cell_key < t)


def perturbed(keys: list[int]) -> int:
    return 0 if not keys else max(0, len(keys) + noise(sum(keys) % 2**32))


def random_table(seed: int, n: int, min_cell: int = 5) -> duckdb.DuckDBPyConnection:
    """Exits (municipality, quarter of 2023, sex, to work or studies) with random record keys;
    AME_AVSLUTADE and AME_AVSLUT_ARB_STUD per municipality and ALLA, YEAR rows by TOTAL and KON,
    QUARTER rows for TOTAL, published by the rules of metrics.md, beside the exact table."""
    rng = random.Random(seed)
    units = [(rng.choice(["1480", "1402", "1384"]), rng.randint(1, 4), rng.choice("KM"),
              rng.random() < 0.4, rng.getrandbits(32)) for _ in range(n)]
    con = database()
    cells = [("2023", "YEAR", "TOTAL", "ALLA", lambda u: True)]
    cells += [("2023", "YEAR", "KON", s, lambda u, s=s: u[2] == s) for s in "KM"]
    cells += [(f"2023-Q{q}", "QUARTER", "TOTAL", "ALLA", lambda u, q=q: u[1] == q)
              for q in range(1, 5)]
    for kommun in ["1480", "1402", "1384", "ALLA"]:
        mine = [u for u in units if kommun in ("ALLA", u[0])]
        for period, ptype, dim, value, member in cells:
            d = [u for u in mine if member(u)]
            total = [u for u in mine if u[1] == int(period[-1])] if ptype == "QUARTER" else mine
            if not total:
                continue  # no TOTAL row in the exact table: no row at all
            nn = [u for u in d if u[3]]
            p_d, p_n = perturbed([u[4] for u in d]), perturbed([u[4] for u in nn])
            key = [kommun, period, ptype, dim, value]
            if d:
                con.execute("insert into marts.kpi_value values ('AME_AVSLUTADE', ?, ?, ?, ?, ?, "
                            "?, null, ?, null, null)", [*key, len(d), len(d)])
                con.execute("insert into marts.kpi_value values ('AME_AVSLUT_ARB_STUD', ?, ?, ?, "
                            "?, ?, ?, ?, ?, null, null)", [*key, len(nn), len(d), len(nn) / len(d)])
            small = p_d < min_cell
            con.execute("insert into marts.kpi_published values ('AME_AVSLUTADE', ?, ?, ?, ?, ?, "
                        "?, null, ?, null, null, ?)",
                        [*key, None if small else p_d, None if small else p_d, small])
            num = min(p_n, p_d)
            hidden = small or (p_d < 2 * min_cell and num in (0, p_d))
            con.execute("insert into marts.kpi_published values ('AME_AVSLUT_ARB_STUD', ?, ?, ?, "
                        "?, ?, ?, ?, ?, null, null, ?)",
                        [*key, None if hidden else num, None if hidden else p_d,
                         None if hidden else num / p_d, hidden])
    return con


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(3, 70))
def test_random_units_with_cell_key_noise_pin_no_small_count(seed, n):
    con = random_table(seed, n)
    r = audit(con, exact=True)
    assert r.truth_available and r.truth_violations == 0  # the relations hold for the truth
    assert r.true_small_pinned == 0
    assert r.pinned_below_min_cell == 0


def test_a_table_contradicting_the_relations_makes_the_audit_inconclusive(tmp_path):
    # TOTAL p=40 says at least 32, K and M p=5 at most 13 each: no true counts fit
    con = counts([("1480", "2023", "TOTAL", "ALLA", 40), ("1480", "2023", "KON", "K", 5),
                  ("1480", "2023", "KON", "M", 5)])
    r = audit(con)
    assert r.infeasible_components == 1 and not r.safe and r.pinned == 0
    assert "ofullständig" in r.summary_sv()
    path = tmp_path / "bad.duckdb"
    con.execute(f"attach '{path}' as f")
    con.execute("copy from database memory to f")
    con.close()
    result = CliRunner().invoke(main, ["audit", "--db", str(path)])
    assert result.exit_code == 1 and "inconclusive" in result.output


def test_the_audit_reads_each_kpis_kind_from_the_catalogue_and_refuses_a_kpi_without_one():
    from utfall.marts.audit import AuditError

    con = counts([("1480", "2023", "TOTAL", "ALLA", 20)])
    con.execute("delete from marts.kpi where kpi_id = 'AME_AVSLUTADE'")
    with pytest.raises(AuditError, match="gives AME_AVSLUTADE no kind the audit knows"):
        audit(con, 5)
