"""marts.audit_engine: its ranges are the plain LP's (scipy linprog) and MILP's (scipy milp) on
random small models, through every path (one model, a municipality at a time, integers); the
run's audit is reused only for the same published table; a SIGTERM ends `utfall audit` at once."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from utfall import run as run_module
from utfall.marts import audit_engine as engine

EPS = 1e-6
ROOT = Path(__file__).resolve().parents[1]


@st.composite
def models(draw, integer: bool = False):
    """A random model around a random integer point (so it is feasible): bounds and relations
    with coefficients -1..1 like the audit's; targets single variables or differences."""
    n = draw(st.integers(2, 9))
    groups = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, 12, n).astype(float)
    lb = np.maximum(0.0, x - rng.integers(0, 9, n))
    ub = np.where(rng.random(n) < 0.15, np.inf, x + rng.integers(0, 9, n))
    m = draw(st.integers(0, 8))
    A = rng.integers(-1, 2, (m, n)).astype(float)
    act = A @ x
    eq = rng.random(m) < 0.4
    row_lo = np.where(eq, act, -np.inf)
    row_hi = act + np.where(eq, 0, rng.integers(0, 4, m))
    k = draw(st.integers(1, 5))
    T = np.zeros((k, n))
    for i in range(k):
        T[i, rng.integers(n)] += 1
        if rng.random() < 0.3:
            T[i, rng.integers(n)] -= 1
    group = rng.integers(-1, groups, n)
    ints = rng.random(n) < 0.5 if integer else np.zeros(n, bool)
    return engine.Problem(A=sparse.csr_array(A), row_lo=row_lo, row_hi=row_hi, lb=lb, ub=ub,
                          T=sparse.csr_array(T), integer=ints, group=group,
                          force=np.zeros(k, bool), exact=True, seed=1, x0=x)


def plain_range(p: engine.Problem, i: int) -> tuple[float, float]:
    """The target's minimum and maximum by scipy (linprog, or milp with integers)."""
    c = p.T.toarray()[i]
    out = []
    for sign in (1.0, -1.0):
        if p.integer.any():
            cons = [LinearConstraint(p.A.toarray(), p.row_lo, p.row_hi)] if p.A.shape[0] else []
            res = milp(sign * c, constraints=cons, integrality=p.integer.astype(int),
                       bounds=Bounds(p.lb, p.ub))
            unbounded = res.status == 3 or (res.status != 0 and "unbounded" in res.message)
        else:
            ub_rows = np.isfinite(p.row_hi)
            lo_rows = np.isfinite(p.row_lo)
            A = p.A.toarray()
            A_ub = np.vstack([A[ub_rows], -A[lo_rows]])
            b_ub = np.concatenate([p.row_hi[ub_rows], -p.row_lo[lo_rows]])
            res = linprog(sign * c, A_ub=A_ub if len(b_ub) else None,
                          b_ub=b_ub if len(b_ub) else None,
                          bounds=list(zip(p.lb, [None if math.isinf(u) else u for u in p.ub])),
                          method="highs")
            unbounded = res.status == 3
        if unbounded:
            out.append(-sign * math.inf)
        else:
            assert res.status == 0, res.message
            out.append(sign * res.fun)
    return out[0], out[1]


def check_exact(p: engine.Problem) -> None:
    r = engine.solve_problem(p)
    assert r.feasible
    for i in range(p.T.shape[0]):
        lo, hi = plain_range(p, i)
        assert r.lo[i] == pytest.approx(lo, abs=1e-5) and r.hi[i] == pytest.approx(hi, abs=1e-5)
        assert r.lo_exact[i] and r.hi_exact[i]


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(p=models())
def test_exact_ranges_are_the_plain_lps(p):
    check_exact(p)


@SETTINGS
@given(p=models())
def test_exact_ranges_a_municipality_at_a_time_are_the_plain_lps(p, monkeypatch_split):
    check_exact(p)


@SETTINGS
@given(p=models(integer=True))
def test_exact_ranges_with_integers_are_the_plain_milps(p):
    check_exact(p)


@SETTINGS
@given(p=models(integer=True))
def test_wide_and_narrow_are_proved_as_the_milp_says(p, monkeypatch_split):
    """Without exact: a target is wide only when the MILP's range holds two integers, and a
    narrow one gets the MILP's range (or a narrow outer bound)."""
    p.exact = False
    r = engine.solve_problem(p)
    for i in range(p.T.shape[0]):
        lo, hi = plain_range(p, i)
        two = np.floor(hi + EPS) - np.ceil(lo - EPS) >= 1
        mine = np.floor(r.hi[i] + EPS) - np.ceil(r.lo[i] - EPS) >= 1
        assert not math.isnan(r.lo[i])
        assert mine == two
        assert lo - EPS <= r.lo[i] or not mine  # wide: values seen lie inside the range
        if mine:
            assert lo - EPS <= r.lo[i] <= r.hi[i] <= hi + EPS


@SETTINGS
@given(p=models(integer=True), seed=st.integers(0, 2**32 - 1))
def test_a_repaired_point_is_an_integer_point_of_the_model(p, seed):
    """_repaired (a rounded LP optimum, repaired by small MIPs) gives a point that satisfies
    every relation and bound and is integer where the model says, or None."""
    c = np.random.default_rng(seed).integers(-2, 3, p.A.shape[1]).astype(float)
    x = engine._repaired(p.A, p.row_lo, p.row_hi, p.lb, p.ub, p.integer, c)
    assert x is None or engine.feasible_point(p, x)


@SETTINGS
@given(p=models(integer=True), seed=st.integers(0, 2**32 - 1))
def test_a_block_takes_the_witnesses_the_whole_model_takes(p, seed):
    """_Block.seen, which checks a point over the block's rows only, takes a point exactly when
    book.seen of the whole component's point does, with the same values for every target."""
    assume(engine.feasible_point(p, p.x0) and np.any(p.group >= 0))
    rng = np.random.default_rng(seed)
    L, U = p.lb, p.ub
    k = int(rng.choice(np.unique(p.group[p.group >= 0])))
    cols = np.flatnonzero((p.group == k) | (p.group < 0))
    whole = engine._Book(p.T, *engine.outer_range(p.T, L, U), accept=engine._rounder(p))
    local = engine._Book(p.T, *engine.outer_range(p.T, L, U), accept=engine._rounder(p))
    whole.seen(p.x0)
    local.seen(p.x0)
    mine = np.unique(sparse.csc_array(p.T)[:, cols].indices)
    block = engine._Block(sparse.csc_array(p.A), cols, p.A @ p.x0, p.x0, p, L, U,
                          engine._RowRange(p.A, L, U), local, mine, True)
    for _ in range(20):
        x = p.x0[cols] + rng.integers(-2, 3, len(cols)) * (rng.random(len(cols)) < 0.5)
        x = x + rng.choice([0.0, 0.3], len(cols))  # fractions: rounded as book.seen rounds
        whole.seen(block.point(x))
        block.seen(x)
        assert np.array_equal(whole.lo, local.lo) and np.array_equal(whole.hi, local.hi)


@pytest.fixture
def monkeypatch_split(monkeypatch):
    """Every model with two municipalities goes through the block path."""
    monkeypatch.setattr(engine, "SPLIT_VARIABLES", 0)


def test_an_infeasible_model_is_said_to_be():
    p = engine.Problem(A=sparse.csr_array(np.array([[1.0, 1.0]])), row_lo=np.array([30.0]),
                       row_hi=np.array([30.0]), lb=np.zeros(2), ub=np.full(2, 10.0),
                       T=sparse.csr_array(np.eye(2)), integer=np.zeros(2, bool),
                       group=np.zeros(2, int), force=np.zeros(2, bool))
    assert not engine.solve_problem(p).feasible


# ---- the run's cache -----------------------------------------------------------------------

def published_db() -> duckdb.DuckDBPyConnection:
    from tests.test_audit import counts

    return counts([("1480", "2023", "TOTAL", "ALLA", 20), ("1480", "2023", "KON", "K", 12),
                   ("1480", "2023", "KON", "M", None)])


def test_the_runs_audit_is_kept_only_for_the_same_published_table(monkeypatch):
    con = published_db()
    calls = []
    import utfall.marts.audit as audit_module

    real = audit_module.audit
    monkeypatch.setattr(audit_module, "audit", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = run_module._audit(con, 5, True)
    assert first[0] is True and len(calls) == 1
    assert run_module._audit(con, 5, True) == first and len(calls) == 1  # same table: kept
    assert run_module._audit(con, 6, True)[0] is not None and len(calls) == 2  # min_cell
    con.execute("update marts.kpi_published set numerator = 13, denominator = 13 "
                "where dimension_value = 'K'")
    run_module._audit(con, 6, True)
    assert len(calls) == 3  # one number changed: audited again
    run_module._audit(con, 6, True)
    assert len(calls) == 3
    (rows,) = con.execute("select count(*) from meta.disclosure_audit").fetchone()
    assert rows == 1


def test_the_content_key_sees_every_column():
    con = published_db()
    key = engine.content_key(con, 5, 8)
    assert engine.content_key(con, 5, 8) == key
    assert engine.content_key(con, 5, 0) != key
    con.execute("update marts.kpi_published set suppressed = not suppressed "
                "where dimension_value = 'M'")
    assert engine.content_key(con, 5, 8) != key


def test_an_old_database_without_the_key_column_gets_it():
    con = published_db()
    con.execute("alter table meta.disclosure_audit drop column content_key")
    assert run_module._audit(con, 5, True)[0] is True
    assert con.execute("select content_key from meta.disclosure_audit").fetchone()[0]


# ---- SIGTERM ---------------------------------------------------------------------------------

def large_table(path: Path, kommuner: int = 1500) -> None:
    """Many municipalities of exits by quarter and sex in two years (two components, so worker
    processes), tied by ALLA, published with noise and no exact table: a model the audit needs
    a while for when every range is solved exactly."""
    import pandas as pd

    from tests.test_audit import database

    rng = np.random.default_rng(5)
    rows = []
    for year in ("2022", "2023"):
        true = {k: rng.poisson(4, (4, 2)) for k in range(kommuner)}  # quarter x sex
        true["ALLA"] = sum(true.values())
        for k, x in true.items():
            kommun = k if k == "ALLA" else f"{1000 + k}"
            cells = [(year, "YEAR", "TOTAL", "ALLA", x.sum()),
                     (year, "YEAR", "KON", "K", x[:, 0].sum()),
                     (year, "YEAR", "KON", "M", x[:, 1].sum())]
            cells += [(f"{year}-Q{q + 1}", "QUARTER", "TOTAL", "ALLA", x[q].sum())
                      for q in range(4)]
            for period, ptype, dim, value, n in cells:
                p = max(0, int(n) + int(rng.integers(-8, 9)))
                small = p < 5
                rows.append(["AME_AVSLUTADE", kommun, period, ptype, dim, value,
                             None if small else p, None if small else p, small])
    frame = pd.DataFrame(rows, columns=["k", "m", "p", "t", "d", "v", "num", "den", "s"])  # noqa: F841
    con = database()
    con.execute("insert into marts.kpi_published select k, m, p, t, d, v, num, null, den, null, "
                "null, s from frame")
    con.execute(f"attach '{path}' as f")
    con.execute("copy from database memory to f")
    con.close()


@pytest.mark.slow
def test_sigterm_ends_the_audit_and_its_workers_within_seconds(tmp_path):
    db = tmp_path / "large.duckdb"
    large_table(db)
    utfall = Path(sys.executable).with_name("utfall")
    proc = subprocess.Popen([str(utfall), "audit", "--db", str(db), "--exact", "--json",
                             str(tmp_path / "a.json")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = _children(proc.pid)  # the solver processes have started
    time.sleep(1.0)
    assert proc.poll() is None, "the audit ended before it could be stopped: make it larger"
    assert workers
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - start < 5
    assert proc.returncode == 1
    assert out.strip().splitlines()[-1] == "Error: stopped before the end: nothing was changed"
    assert not (tmp_path / "a.json").exists()
    time.sleep(0.5)
    assert [w for w in workers if _alive(w)] == []


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
