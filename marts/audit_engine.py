"""The range engine of the disclosure audit (marts.audit): for each target (a linear expression of
unit-set sizes) the range [lo, hi] of its value over one connected component of the intruder's
model, or a proof that the range holds two integers.

Soundness rests on two kinds of evidence and never on a heuristic:
- narrow: the range is no wider than an OUTER bound, from bound propagation (interval arithmetic
  over the relations, iterated: every step only drops values no feasible point has), from an LP
  over a relaxation (fewer constraints: a larger set), or from the LP over the whole component;
- wide: the range is at least as wide as the values the target takes at feasible points of the
  WHOLE component (witnesses). Where variables must be integers a witness must be integer too.
A side of a range is exact when a witness reaches the outer bound there.

Speed: one HiGHS model per component or block, built once, whose objective changes from target
to target and which starts from the last basis (the old audit solved each LP cold); components
too large for that are split into a municipality and ALLA at a time with every other
municipality held at a feasible point (points of the whole component: witnesses), and their
relaxation with the other municipalities replaced by their propagated bounds (outer bounds).
Every block's witnesses come before any block's single-target MIPs; a block's witnesses are its
targets' sum down and a "spread" (one MIP that moves as many open targets as it can by one), each
from the rounded LP optimum repaired by small MIPs around the relations it breaks, the block's
MIP only when that finds no point (BENCHMARKS.md, "Fewer and smaller MIPs").
Components run in worker processes, which a SIGTERM or SIGINT to the audit ends at once.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import multiprocessing
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

EPS = 1e-6  # as marts.audit: the tolerance of a solution's values
INF = math.inf
RELAX = 1e-9  # derived bounds are widened by this (relative): float rounding never cuts a point
SPLIT_VARIABLES = 2000  # components above this are solved a municipality at a time
INLINE_VARIABLES = 20_000  # a model below this is solved in the calling process
MIP_SECONDS = 20.0  # per MILP; beyond it its bound is used and the target may stay open
MIP_WITNESS_SECONDS = 2.0  # a MIP that only looks for integer points stops early
REPAIR_HOPS = 3  # a rounded LP point is repaired over at most this many rows around its breaks
WHOLE_TARGETS = 50  # after the blocks, at most this many open targets are solved over the whole
                    # component (its LPs take seconds each); more leave the audit inconclusive


@dataclass
class Problem:
    """One connected component: lo_row <= A x <= hi_row, lb <= x <= ub, targets T x."""
    A: sparse.csr_array
    row_lo: np.ndarray
    row_hi: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    T: sparse.csr_array
    integer: np.ndarray          # bool per variable
    group: np.ndarray            # per variable: its municipality's number, -1 for ALLA
    force: np.ndarray            # bool per target: solve exactly even when proved wide
    exact: bool = False
    seed: int = 0
    published: tuple = ((), ())  # (variables, published counts) for the L1 intruder
    intruder: bool = False
    x0: np.ndarray | None = None  # a point believed feasible (the true counts), checked first


@dataclass
class Ranges:
    lo: np.ndarray
    hi: np.ndarray
    lo_exact: np.ndarray
    hi_exact: np.ndarray
    outer_lo: np.ndarray
    outer_hi: np.ndarray
    estimate: np.ndarray | None = None
    lps: int = 0                 # LPs solved for single targets
    feasible: bool = True
    notes: dict = field(default_factory=dict)


# ---- bound propagation ----------------------------------------------------------------------

def propagate(A, row_lo, row_hi, lb, ub, integer, rounds: int = 200):
    """Outer bounds of every variable over {lb <= x <= ub, row_lo <= A x <= row_hi}; None when
    the bounds cross (no feasible point)."""
    A = sparse.csr_array(A)
    L, U = lb.astype(float).copy(), ub.astype(float).copy()
    if A.nnz == 0:
        return (L, U) if np.all(L <= U + EPS) else None
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    cols, a = A.indices, A.data
    order = np.argsort(cols, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(cols[order]) != 0])
    touched = cols[order][starts]
    for _ in range(rounds):
        newL, newU = _implied(rows, cols, a, row_lo, row_hi, L, U, A.shape[0])
        candU = np.minimum.reduceat(newU[order], starts)
        candL = np.maximum.reduceat(newL[order], starts)
        nU, nL = U.copy(), L.copy()
        nU[touched] = np.minimum(U[touched], candU)
        nL[touched] = np.maximum(L[touched], candL)
        nU = np.where(integer, np.floor(nU + EPS), nU)
        nL = np.where(integer, np.ceil(nL - EPS), nL)
        if np.any(nL > nU + EPS):
            return None
        moved = _moved(L, nL) | _moved(U, nU)
        L, U = nL, nU
        if not moved:
            break
    return L, U


def _moved(old, new) -> bool:
    finite = np.isfinite(new)
    with np.errstate(invalid="ignore"):
        change = np.where(finite & ~np.isfinite(old), np.inf, np.abs(new - old))
    return bool(np.any(change[finite] > 1e-9 * (1 + np.abs(new[finite]))))


def _implied(rows, cols, a, row_lo, row_hi, L, U, m):
    """Per nonzero: the bounds its variable gets from its row and the other variables' bounds."""
    lo_c = np.where(a > 0, a * L[cols], a * U[cols])  # smallest contribution of a_j x_j
    hi_c = np.where(a > 0, a * U[cols], a * L[cols])
    lo_inf, hi_inf = ~np.isfinite(lo_c), ~np.isfinite(hi_c)
    min_act = np.bincount(rows, np.where(lo_inf, 0.0, lo_c), m)
    max_act = np.bincount(rows, np.where(hi_inf, 0.0, hi_c), m)
    n_lo_inf = np.bincount(rows, lo_inf, m)
    n_hi_inf = np.bincount(rows, hi_inf, m)
    # the rest of the row without this term: finite only when no other term is infinite
    rest_min = np.where(n_lo_inf[rows] - lo_inf == 0,
                        min_act[rows] - np.where(lo_inf, 0.0, lo_c), -np.inf)
    rest_max = np.where(n_hi_inf[rows] - hi_inf == 0,
                        max_act[rows] - np.where(hi_inf, 0.0, hi_c), np.inf)
    with np.errstate(invalid="ignore"):
        term_hi = row_hi[rows] - rest_min  # a_j x_j <= term_hi
        term_lo = row_lo[rows] - rest_max  # a_j x_j >= term_lo
    term_hi = np.where(np.isnan(term_hi), np.inf, term_hi)
    term_lo = np.where(np.isnan(term_lo), -np.inf, term_lo)
    term_hi = term_hi + RELAX * (1 + np.abs(np.where(np.isfinite(term_hi), term_hi, 0)))
    term_lo = term_lo - RELAX * (1 + np.abs(np.where(np.isfinite(term_lo), term_lo, 0)))
    up = np.where(a > 0, term_hi / a, term_lo / a)
    down = np.where(a > 0, term_lo / a, term_hi / a)
    return down, up


def outer_range(T, L, U):
    """Each target's range from the variables' own bounds (an outer bound)."""
    T = sparse.csr_array(T)
    if T.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    pos = T.maximum(0)
    neg = T.minimum(0)
    return _dot_inf(pos, L) + _dot_inf(neg, U), _dot_inf(pos, U) + _dot_inf(neg, L)


def _dot_inf(M, v):
    """M @ v where v may hold infinities and M >= 0 or M <= 0 (0 * inf counts as 0)."""
    M = sparse.csr_array(M)
    M.eliminate_zeros()
    vals = M.data * v[M.indices]
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    out = np.bincount(rows, np.where(np.isfinite(vals), vals, 0.0), M.shape[0]).astype(float)
    pos = np.bincount(rows, vals == np.inf, M.shape[0]) > 0
    neg = np.bincount(rows, vals == -np.inf, M.shape[0]) > 0
    out[pos] = np.inf
    out[neg & ~pos] = -np.inf
    return out


# ---- one persistent HiGHS model --------------------------------------------------------------

class Lp:
    """A HiGHS model built once; each solve changes only the objective and starts from the last
    basis (presolve off: it would throw the basis away)."""

    def __init__(self, A, row_lo, row_hi, lb, ub, integer=None):
        import highspy

        self.h = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")
        h.setOptionValue("threads", 1)
        inf = highspy.kHighsInf
        A = sparse.csc_array(A)
        self.n = A.shape[1]
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, A.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = np.where(np.isfinite(lb), lb, -inf)
        lp.col_upper_ = np.where(np.isfinite(ub), ub, inf)
        lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -inf)
        lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(float)
        self.mip = integer is not None and bool(np.any(integer))
        if self.mip:
            kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
            lp.integrality_ = [kinds[i] for i in np.asarray(integer, bool).astype(int).tolist()]
            h.setOptionValue("mip_rel_gap", 0.0)  # the range must be the MILP's own
            h.setOptionValue("mip_abs_gap", 0.0)
            h.setOptionValue("presolve", "on")
        h.passModel(lp)
        self.status = st = highspy.HighsModelStatus
        self.answers = {st.kOptimal, st.kUnbounded, st.kInfeasible, st.kTimeLimit}
        self.cost_idx = np.zeros(0, np.int32)
        self.all_idx = np.arange(self.n, dtype=np.int32)

    def minimise(self, c) -> tuple[str, float, np.ndarray | None]:
        """('optimal', value, x), ('unbounded', -inf, None), ('infeasible', nan, None) or
        ('failed', nan, None)."""
        c = np.asarray(c, dtype=float).ravel()
        nz = np.flatnonzero(c).astype(np.int32)
        idx = np.union1d(self.cost_idx, nz).astype(np.int32)
        self.h.changeColsCost(len(idx), idx, c[idx])
        self.cost_idx = nz
        self.h.run()
        s = self.h.getModelStatus()
        if s not in self.answers:  # HiGHS gave up from the old basis (seen: unbounded): cold
            self.h.clearSolver()
            self.h.run()
            s = self.h.getModelStatus()
        if s == self.status.kOptimal:
            x = np.asarray(self.h.getSolution().col_value)
            return "optimal", float(c @ x), x
        if s == self.status.kUnbounded:
            return "unbounded", -INF, None
        if self.mip and s == self.status.kTimeLimit:
            bound = self.h.getInfo().mip_dual_bound
            sol = self.h.getSolution()
            x = np.asarray(sol.col_value) if sol.value_valid else None
            return "bound", float(bound), x
        if s == self.status.kInfeasible:
            return "infeasible", math.nan, None
        return "failed", math.nan, None

    def set_time_limit(self, seconds: float) -> None:
        self.h.setOptionValue("time_limit", float(seconds))


# ---- the ranges of one component ------------------------------------------------------------

class _Book:
    """What is known of each target: the values seen at witnesses and the outer bounds."""

    def __init__(self, T, outer_lo, outer_hi, accept=None):
        self.T = sparse.csr_array(T)
        k = self.T.shape[0]
        self.lo, self.hi = np.full(k, np.inf), np.full(k, -np.inf)
        self.outer_lo, self.outer_hi = outer_lo.copy(), outer_hi.copy()
        self.accept = accept  # x -> a point of the model near x, or None (integers: rounding)

    def seen(self, x) -> None:
        if self.accept is not None:
            x = self.accept(x)
            if x is None:
                return
        vals = self.T @ x
        np.minimum(self.lo, vals, out=self.lo)
        np.maximum(self.hi, vals, out=self.hi)

    def wide(self, idx=slice(None)):
        return np.floor(self.hi[idx] + EPS) - np.ceil(self.lo[idx] - EPS) >= 1

    def lo_exact(self):
        return self.lo <= self.outer_lo + EPS

    def hi_exact(self):
        return self.hi >= self.outer_hi - EPS


def solve_problem(p: Problem) -> Ranges:
    """Every target's range over one component (the worker's entry point)."""
    bounds = propagate(p.A, p.row_lo, p.row_hi, p.lb, p.ub, p.integer)
    k = p.T.shape[0]
    if bounds is None:
        return _infeasible(k)
    L, U = bounds
    integers = bool(np.any(p.integer))
    book = _Book(p.T, *outer_range(p.T, L, U), accept=_rounder(p) if integers else None)
    rng = np.random.default_rng(p.seed)
    lps = 0
    x0 = p.x0 if p.x0 is not None and feasible_point(p, p.x0) else None
    if x0 is not None:
        book.seen(x0)
    split = p.A.shape[1] > SPLIT_VARIABLES and len(np.unique(p.group[p.group >= 0])) > 1
    if split:
        if x0 is None:
            lp = Lp(p.A, p.row_lo, p.row_hi, L, U)
            state, _, x0 = lp.minimise(np.zeros(p.A.shape[1]))
            if state == "infeasible":
                return _infeasible(k)
        if x0 is not None:
            book.seen(x0)  # a vertex: the blocks move away from it
            lps += solve_split(p, L, U, book, rng, x0)
    todo = _open(book, p)
    wanted = p.exact or bool(np.any(p.force[todo]))  # exact ranges asked for: whatever the size
    if len(todo) and (not split or len(todo) <= WHOLE_TARGETS or wanted):
        lp = Lp(p.A, p.row_lo, p.row_hi, L, U)
        ok, n = _solve_whole(lp, p, book, rng, single=not integers)
        if not ok:
            return _infeasible(k)
        if integers:  # LP points rarely round to points of the model: MIP points, then the
            # relaxation's optimum of each target they leave open (an outer bound)
            _solve_whole(_mip(p.A, p.row_lo, p.row_hi, L, U, p.integer, MIP_WITNESS_SECONDS),
                         p, book, rng, rounds=0, single=False)
            _spread(book, p, np.arange(k), p.A, p.row_lo, p.row_hi, L, U, p.integer, book.T,
                    np.zeros(k), book.seen)
            n = _each_target(lp, p, book)
        lps += n
    if integers and len(_open(book, p)):  # the LP relaxation left them open: a MILP each
        lps += _each_target(_mip(p.A, p.row_lo, p.row_hi, L, U, p.integer, MIP_SECONDS), p,
                            book)
    ranges = _ranges(book, lps)
    if p.intruder:
        ranges.estimate = intruder_split(p, L, U) if split else intruder(p, L, U)
    return ranges


def _mip(A, row_lo, row_hi, L, U, integer, seconds: float) -> Lp:
    lp = Lp(A, row_lo, row_hi, L, U, integer)
    lp.set_time_limit(seconds)
    return lp


def _rounder(p: Problem):
    """Witnesses of a model with integer variables must be integer: an LP point is rounded on
    them and kept only when the rounded point still satisfies every relation."""
    def accept(x):
        x = x.copy()
        x[p.integer] = np.round(x[p.integer])
        return x if feasible_point(p, x) else None
    return accept


def feasible_point(p: Problem, x, tol: float = 1e-7) -> bool:
    """x satisfies every bound and relation of p (and is integer where p wants integers)."""
    act = p.A @ x
    return bool(np.all(x >= p.lb - tol) and np.all(x <= p.ub + tol)
                and np.all(act >= p.row_lo - tol) and np.all(act <= p.row_hi + tol)
                and np.all(np.abs(x[p.integer] - np.round(x[p.integer])) <= tol))


def _infeasible(k: int) -> Ranges:
    z = np.zeros(k, bool)
    return Ranges(np.full(k, -INF), np.full(k, INF), z, z.copy(), np.full(k, -INF),
                  np.full(k, INF), feasible=False)


def _ranges(book: _Book, lps: int) -> Ranges:
    """Exact where a witness reached the outer bound; proved wide by witnesses; else the outer
    bounds when they prove the range narrow; else unknown (NaN: the audit is inconclusive)."""
    lo_exact, hi_exact = book.lo_exact(), book.hi_exact()
    lo, hi = book.lo.copy(), book.hi.copy()
    known = (lo_exact & hi_exact) | book.wide()
    outer_narrow = np.floor(book.outer_hi + EPS) - np.ceil(book.outer_lo - EPS) < 1
    use_outer = ~known & outer_narrow
    lo[use_outer], hi[use_outer] = book.outer_lo[use_outer], book.outer_hi[use_outer]
    lo[~known & ~outer_narrow] = np.nan
    hi[~known & ~outer_narrow] = np.nan
    return Ranges(lo, hi, lo_exact, hi_exact, book.outer_lo, book.outer_hi, lps=lps)


def _solve_whole(lp: Lp, p: Problem, book: _Book, rng, rounds: int = 8,
                 single: bool = True) -> tuple[bool, int]:
    """Witnesses from a few objectives, then each target not yet settled on its own: every LP
    starts from the basis the last one ended in."""
    T = book.T
    total = np.asarray(T.sum(axis=0)).ravel()
    for c in (total, -total):
        state, _, x = lp.minimise(c)
        if state == "infeasible":
            return False, 0
        if x is not None:
            book.seen(x)
    for _ in range(rounds):  # targets tied by a sum are pushed apart, not against each other
        todo = _open(book, p)
        if len(todo) <= 2:
            break
        before = len(todo)
        w = rng.uniform(0.5, 1.5, len(todo)) * rng.choice([-1.0, 1.0], len(todo))
        for sign in (1.0, -1.0):
            _, _, x = lp.minimise(sign * (w @ T[todo, :]))
            if x is not None:
                book.seen(x)
        if len(_open(book, p)) >= before:
            break
    return True, _each_target(lp, p, book) if single else 0


def _open(book: _Book, p: Problem) -> np.ndarray:
    """Targets not settled: not proved wide (or wanted exactly) and a side not yet exact."""
    want = ~book.wide() | p.exact | p.force
    return np.flatnonzero(want & ~(book.lo_exact() & book.hi_exact()))


def _open_in(book: _Book, p: Problem, idx) -> np.ndarray:
    """Which of the targets idx are open (as _open, over those alone: a block's targets are a
    small part of a large component's)."""
    want = ~book.wide(idx) | p.exact | p.force[idx]
    exact = (book.lo[idx] <= book.outer_lo[idx] + EPS) & (book.hi[idx] >= book.outer_hi[idx] - EPS)
    return want & ~exact


def _each_target(lp: Lp, p: Problem, book: _Book) -> int:
    lps = 0
    T = book.T
    for i in _open(book, p):
        row = T[[i], :].toarray().ravel()
        for sign in (1.0, -1.0):
            if not (p.exact or p.force[i]) and book.wide()[i]:
                break  # proved wide by the other side's solution
            if (book.lo_exact() if sign > 0 else book.hi_exact())[i]:
                continue
            state, value, x = lp.minimise(sign * row)
            lps += 1
            if x is not None:
                book.seen(x)
            if state == "optimal" and (lp.mip or book.accept is None):
                _set_side(book, i, sign, sign * value)
            elif state in ("optimal", "bound"):  # a relaxation's optimum, a MILP's bound
                _tighten(book, i, sign, sign * value)
            elif state == "unbounded":
                _set_side(book, i, sign, -sign * INF)
    return lps


def _set_side(book: _Book, i: int, sign: float, value: float) -> None:
    """The LP's own optimum: the outer bound and the value seen are both that value."""
    if sign > 0:
        book.outer_lo[i] = value
        book.lo[i] = min(book.lo[i], value)
    else:
        book.outer_hi[i] = value
        book.hi[i] = max(book.hi[i], value)


# ---- a municipality and ALLA at a time ------------------------------------------------------

def solve_split(p: Problem, L, U, book: _Book, rng, x0) -> int:
    """Each municipality with ALLA free and every other municipality held at the feasible x0:
    its points are points of the whole component (witnesses). Then the same block with the other
    municipalities' share of each relation relaxed to what their bounds allow: its optima are
    outer bounds. LPs for single targets solved (on blocks)."""
    # blocks check their witnesses over their own rows when x0 is a point of the whole model
    # (book has seen it: solve_problem): x0 the point as book.seen took it (rounded)
    checked = book.accept is None or feasible_point(p, x0)
    if checked and book.accept is not None:
        x0 = book.accept(x0)
    A = sparse.csc_array(p.A)
    act = p.A @ x0
    rest = _RowRange(p.A, L, U)
    Tc = sparse.csc_array(book.T)
    lps = 0
    groups = rng.permutation(np.unique(p.group[p.group >= 0]))
    cols_of = {k: np.flatnonzero((p.group == k) | (p.group < 0)) for k in groups}
    mine_of = {k: np.unique(Tc[:, cols_of[k]].indices) for k in groups}
    # witnesses of every block first: a target one block leaves open another block's points
    # often settle (ALLA is free in all of them), and they cost a few MIPs a block where the
    # single-target MIPs of outer() cost up to four a target
    for k in groups:
        if not np.any(_open_in(book, p, mine_of[k])):
            continue  # settled by the blocks before: nothing to look for
        block = _Block(A, cols_of[k], act, x0, p, L, U, rest, book, mine_of[k], checked)
        lps += block.witnesses(book, mine_of[k], p)
    for k in groups:
        if not np.any(_open_in(book, p, mine_of[k])):
            continue
        block = _Block(A, cols_of[k], act, x0, p, L, U, rest, book, mine_of[k], checked)
        lps += block.outer(book, mine_of[k], p)
    return lps


class _RowRange:
    """Each row's smallest and largest activity over the variables' bounds, kept as a finite
    part and a count of infinite terms, so that a block's own terms can be taken out."""

    def __init__(self, A, L, U):
        self.lo_fin, self.lo_inf, self.hi_fin, self.hi_inf = _activity(sparse.csr_array(A), L, U)

    def without(self, sub, rows, L, U):
        """The range of each of `rows` without the terms of the sub-matrix (those rows)."""
        lo_fin, lo_inf, hi_fin, hi_inf = _activity(sub, L, U)
        lo = np.where(self.lo_inf[rows] - lo_inf > 0, -INF, self.lo_fin[rows] - lo_fin)
        hi = np.where(self.hi_inf[rows] - hi_inf > 0, INF, self.hi_fin[rows] - hi_fin)
        return lo, hi


def _activity(A, L, U):
    A = sparse.csr_array(A)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    a = A.data
    lo_c = np.where(a > 0, a * L[A.indices], a * U[A.indices])
    hi_c = np.where(a > 0, a * U[A.indices], a * L[A.indices])
    m = A.shape[0]
    fin = lambda v: np.where(np.isfinite(v), v, 0.0)  # noqa: E731
    return (np.bincount(rows, fin(lo_c), m), np.bincount(rows, ~np.isfinite(lo_c), m),
            np.bincount(rows, fin(hi_c), m), np.bincount(rows, ~np.isfinite(hi_c), m))


class _Block:
    def __init__(self, A, cols, act, x0, p: Problem, L, U, rest: _RowRange, book: _Book, mine,
                 checked: bool):
        sub = A[:, cols]
        self.rows = np.unique(sub.indices)
        self.sub = sparse.csr_array(sub)[self.rows, :]
        self.cols, self.x0 = cols, x0
        self.outside = np.ones(A.shape[1])
        self.outside[cols] = 0.0
        self.bounds = (L, U)
        self.fixed = act[self.rows] - self.sub @ x0[cols]  # the held variables' part of each row
        lo, hi = p.row_lo[self.rows] - self.fixed, p.row_hi[self.rows] - self.fixed
        self._lp = None
        r_lo, r_hi = rest.without(self.sub, self.rows, L[cols], U[cols])
        self.relaxed = (p.row_lo[self.rows] - r_hi, p.row_hi[self.rows] - r_lo)
        self.held = (lo, hi)
        self.p, self.book, self.mine = p, book, mine
        T = sparse.csr_array(book.T[mine, :])
        self.t_inner, self.t_held = sparse.csr_array(T[:, cols]), T @ (x0 * self.outside)
        self.checked = checked  # x0 is a point of the whole model that book has seen

    @property
    def lp(self) -> Lp:
        """The block's MIP (built when first asked for: the repair finds most witnesses)."""
        if self._lp is None:
            L, U = self.bounds
            self._lp = _mip(self.sub, *self.held, L[self.cols], U[self.cols],
                            self.p.integer[self.cols], MIP_WITNESS_SECONDS)
        return self._lp

    def seen(self, x_cols) -> None:
        """book.seen(self.point(x_cols)) without the work over the whole component: when x0 is a
        point of the whole model the book has seen, a point that differs from it in the block's
        variables only is one where the rows through the block hold (the others keep x0's
        activity), and only the block's targets take other values."""
        if not self.checked:
            self.book.seen(self.point(x_cols))
            return
        p, book, cols, tol = self.p, self.book, self.cols, 1e-7
        x = np.asarray(x_cols, float)
        if book.accept is not None:  # integers: as _rounder and feasible_point on the whole
            x = x.copy()
            integer = p.integer[cols]
            x[integer] = np.round(x[integer])
            act = self.sub @ x + self.fixed
            if not (np.all(x >= p.lb[cols] - tol) and np.all(x <= p.ub[cols] + tol)
                    and np.all(act >= p.row_lo[self.rows] - tol)
                    and np.all(act <= p.row_hi[self.rows] + tol)):
                return
        vals = self.t_inner @ x + self.t_held
        book.lo[self.mine] = np.minimum(book.lo[self.mine], vals)
        book.hi[self.mine] = np.maximum(book.hi[self.mine], vals)

    def _rest_of(self, book: _Book, i: int):
        """The range of target i's terms outside the block, over the variables' bounds."""
        t = sparse.csr_array(book.T[[i], :])
        t = t.multiply(self.outside).tocsr() if t.nnz else t
        lo, hi = outer_range(t, *self.bounds)
        return float(lo[0]), float(hi[0])

    def point(self, x_cols):
        x = self.x0.copy()
        x[self.cols] = x_cols
        return x

    def witnesses(self, book: _Book, mine, p: Problem) -> int:
        """Every target's sum down, then the targets left open spread apart; when some are still
        open, the sum up and the spread again (the sum up always, or the spread alone from the
        held point, cost more MIP time at 0.1). Each sum's point from the rounded LP optimum
        repaired (_repaired), the block's MIP only when that finds none."""
        T = book.T[mine, :][:, self.cols]
        total = np.asarray(T.sum(axis=0)).ravel()
        for c in (total, -total):
            if c is not total and not np.any(_open_in(book, p, mine)):
                break
            x = _repaired(self.sub, *self.held, self.bounds[0][self.cols],
                          self.bounds[1][self.cols], p.integer[self.cols], c)
            if x is None:
                _, _, x = self.lp.minimise(c)
            if x is not None:
                self.seen(x)
            self.spread(book, mine, p)
        return 0  # no LP for a single target

    def spread(self, book: _Book, mine, p: Problem) -> None:
        _spread(book, p, mine, self.sub, *self.held, self.bounds[0][self.cols],
                self.bounds[1][self.cols], p.integer[self.cols], self.t_inner, self.t_held,
                self.seen)

    def outer(self, book: _Book, mine, p: Problem) -> int:
        """Each open target of the block alone, first with the others held (a witness, and
        exact when it reaches the outer bound), then relaxed (an outer bound)."""
        todo = mine[_open_in(book, p, mine)]
        if len(todo) == 0:
            return 0
        T = book.T[todo, :][:, self.cols]
        n = 0
        for relaxed in (False, True):
            if relaxed:
                self.lp.h.changeRowsBounds(len(self.rows), np.arange(len(self.rows), dtype=np.int32),
                                           *_highs_bounds(*self.relaxed))
            for j, i in enumerate(todo):
                n += self._sides(book, i, T[[j], :].toarray().ravel(), p, relaxed)
        self.lp.h.changeRowsBounds(len(self.rows), np.arange(len(self.rows), dtype=np.int32),
                                   *_highs_bounds(*self.held))
        return n

    def _sides(self, book, i, row, p, relaxed) -> int:
        n = 0
        for sign in (1.0, -1.0):
            if not (p.exact or p.force[i]) and book.wide(i):
                break
            if (book.lo[i] <= book.outer_lo[i] + EPS if sign > 0
                    else book.hi[i] >= book.outer_hi[i] - EPS):
                continue
            state, value, x = self.lp.minimise(sign * row)
            n += 1
            if relaxed and state in ("optimal", "bound"):  # and the held part at its extreme
                _tighten(book, i, sign, sign * value + self._rest_of(book, i)[sign < 0])
            elif not relaxed and state == "unbounded":  # unbounded on a part: on the whole too
                _set_side(book, i, sign, -sign * INF)
            elif not relaxed and x is not None:
                self.seen(x)
        return n


def _spread(book: _Book, p: Problem, mine, A, row_lo, row_hi, lb, ub, integer, inner, held,
            seen, rounds: int = 3) -> None:
    """Witnesses that move as many open targets as they can by one from the one integer seen so
    far (a target one witness moves is wide): maximise sum y_i, 0 <= y_i <= 1,
    y_i <= s_i (T_i x - v_i), over the integer points of {row_lo <= A x <= row_hi, lb <= x <= ub}
    (a block, or the whole component), with v_i the seen integer on the side s_i (+1 up, -1
    down) the target asks for. One MIP a round instead of one a target (outer(), _each_target);
    the y_i are the MIP's own, only x is a witness (seen(x): book.seen of the whole component's
    point, checked against the whole model as every witness). T_i x is inner_i x + held_i
    (held: the part of the target outside the block, at the held point)."""
    n = A.shape[1]
    last = np.zeros(len(mine))  # the side each target asked for in the last round
    for _ in range(rounds):
        with np.errstate(invalid="ignore"):
            lo_int, hi_int = np.ceil(book.lo[mine] - EPS), np.floor(book.hi[mine] + EPS)
            up = book.outer_hi[mine] - (lo_int + 1) >= -EPS  # room for one more
            down = (hi_int - 1) - book.outer_lo[mine] >= -EPS
            prefer_up = (book.outer_hi[mine] - hi_int) >= (lo_int - book.outer_lo[mine])
        todo = (_open_in(book, p, mine) & ~book.wide(mine)
                & np.isfinite(lo_int) & np.isfinite(hi_int))
        # the roomier side; a target asked before and not moved (its side may be shut, or it
        # lost to another target that is settled now) asks for the other side if that has room,
        # else for the same one again
        want_up = np.where(last > 0, ~down, np.where(last < 0, up, prefer_up | ~down))
        side = np.where(up & want_up, 1.0, np.where(down, -1.0, np.where(up, 1.0, 0.0)))
        sel = np.flatnonzero(todo & (side != 0))
        if not len(sel):
            break
        last[:] = 0
        last[sel] = side[sel]
        s = side[sel]
        v = np.where(s > 0, lo_int[sel], hi_int[sel])
        k, m = len(sel), A.shape[0]
        # y_i - s_i inner_i x <= s_i (held_i - v_i)
        top = sparse.hstack([A, sparse.csr_array((m, k))])
        bottom = sparse.hstack([-(sparse.csr_array(inner[sel, :]).multiply(s[:, None])),
                                sparse.identity(k, format="csr")])
        model = (sparse.vstack([top, bottom]).tocsr(), np.r_[row_lo, np.full(k, -INF)],
                 np.r_[row_hi, s * (held[sel] - v)], np.r_[lb, np.zeros(k)], np.r_[ub, np.ones(k)],
                 np.r_[integer, np.zeros(k, bool)])
        cost = np.r_[np.zeros(n), -np.ones(k)]
        x = _repaired(*model, cost)
        if x is None:
            _, _, x = _mip(*model, MIP_WITNESS_SECONDS).minimise(cost)
        if x is not None:
            seen(x[:n])


def _repaired(A, row_lo, row_hi, lb, ub, integer, c, seconds: float = MIP_WITNESS_SECONDS):
    """An integer point of {row_lo <= A x <= row_hi, lb <= x <= ub} near the optimum of c: the
    LP relaxation's optimum rounded, and where that breaks relations, the variables rounding
    moved and those of the broken rows, with their neighbours (one row away), solved again as a
    small MIP with every other variable held at its (integer) LP value; when that MIP has no
    point, again with the neighbours' neighbours (REPAIR_HOPS in all). None when no point is
    found so (the caller then solves the whole MIP). A heuristic for witnesses only: what it
    returns is checked against the whole model like every witness (book.seen). An LP and a few
    MIPs of a few hundred variables cost less than one MIP over the block, whose time HiGHS
    spends mostly on cuts at the root."""
    A = sparse.csr_array(A)
    state, _, x = Lp(A, row_lo, row_hi, lb, ub).minimise(c)
    if state != "optimal":
        return None
    fractional = np.flatnonzero(integer & (np.abs(x - np.round(x)) > 1e-9))
    x = np.where(integer, np.round(x), x)
    x = np.minimum(np.maximum(x, lb), ub)
    act = A @ x
    broken = np.flatnonzero((act < row_lo - 1e-7) | (act > row_hi + 1e-7))
    if not len(broken):
        return x
    Ac = sparse.csc_array(A)
    # free: every variable the rounding moved and those of the rows it broke (the rounded
    # values of the others, kept, are the LP's own)
    free = np.union1d(np.unique(A[broken, :].indices), fractional)
    for _ in range(REPAIR_HOPS):  # the neighbours one row further, until the small MIP has a point
        free = np.unique(A[np.unique(Ac[:, free].indices), :].indices)
        if len(free) > A.shape[1] // 2:
            return None  # not small: the whole MIP
        rows = np.unique(Ac[:, free].indices)
        sub = A[rows, :]
        part = sub[:, free]
        fixed = sub @ x - part @ x[free]
        lp = _mip(part, row_lo[rows] - fixed, row_hi[rows] - fixed, lb[free], ub[free],
                  integer[free], seconds)
        state, _, y = lp.minimise(c[free])
        if y is not None and state in ("optimal", "bound"):
            x[free] = y
            return x
    return None


def _tighten(book: _Book, i: int, sign: float, value: float) -> None:
    """An optimum over a relaxation bounds the range from outside."""
    if sign > 0:
        book.outer_lo[i] = max(book.outer_lo[i], value - EPS / 10)
    else:
        book.outer_hi[i] = min(book.outer_hi[i], value + EPS / 10)


def _highs_bounds(lo, hi):
    return (np.where(np.isfinite(lo), lo, -1e30), np.where(np.isfinite(hi), hi, 1e30))


# ---- the L1 intruder ------------------------------------------------------------------------

def intruder(p: Problem, L, U) -> np.ndarray:
    """x minimising sum |x_j - p_j| over the published counts under every relation and bound;
    each target's value there (NaN when HiGHS finds none)."""
    x = _l1_point(p, L, U)
    return np.full(p.T.shape[0], np.nan) if x is None else p.T @ x


def _l1_point(p: Problem, L, U):
    idx, pub = np.asarray(p.published[0], int), np.asarray(p.published[1], float)
    n, m = p.A.shape[1], len(idx)
    if m == 0:
        return np.zeros(n)
    # x_j - t_k <= p_k and x_j + t_k >= p_k, t >= 0
    r = np.r_[np.arange(m), np.arange(m), np.arange(m, 2 * m), np.arange(m, 2 * m)]
    c = np.r_[idx, n + np.arange(m), idx, n + np.arange(m)]
    d = np.r_[np.ones(m), -np.ones(m), np.ones(m), np.ones(m)]
    extra = sparse.csr_array((d, (r, c)), shape=(2 * m, n + m))
    A = sparse.vstack([sparse.hstack([p.A, sparse.csr_array((p.A.shape[0], m))]), extra])
    lp = Lp(A, np.r_[p.row_lo, np.full(m, -INF), pub], np.r_[p.row_hi, pub, np.full(m, INF)],
            np.r_[L, np.zeros(m)], np.r_[U, np.full(m, INF)])
    state, _, x = lp.minimise(np.r_[np.zeros(n), np.ones(m)])
    if x is None:
        return None
    return x[:n]


def intruder_split(p: Problem, L, U) -> np.ndarray:
    """The L1 intruder of a component too large for one LP: each municipality, and ALLA, on its
    own (the relations within it, the propagated bounds, which carry what ALLA says about it)."""
    x = np.zeros(p.A.shape[1])
    A = sparse.csr_array(p.A)
    pub_idx = np.asarray(p.published[0], int)
    pub = np.asarray(p.published[1], float)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    g_of = p.group[A.indices]
    lowest = np.full(A.shape[0], np.iinfo(np.int64).max)
    highest = np.full(A.shape[0], np.iinfo(np.int64).min)
    np.minimum.at(lowest, rows, g_of)
    np.maximum.at(highest, rows, g_of)
    for g in np.unique(p.group):
        cols = np.flatnonzero(p.group == g)
        inside = np.flatnonzero((lowest == g) & (highest == g))  # the rows within g alone
        local = {c: j for j, c in enumerate(cols)}
        mine = np.isin(pub_idx, cols)
        sub = Problem(A=A[inside, :][:, cols], row_lo=p.row_lo[inside], row_hi=p.row_hi[inside],
                      lb=L[cols], ub=U[cols], T=sparse.csr_array((0, len(cols))),
                      integer=p.integer[cols], group=p.group[cols], force=np.zeros(0, bool),
                      published=([local[c] for c in pub_idx[mine]], pub[mine]))
        est = _l1_point(sub, L[cols], U[cols])
        x[cols] = est if est is not None else np.nan
    return p.T @ x


# ---- many components: worker processes that a signal ends -----------------------------------

def solve_all(problems: list[Problem], workers: int) -> list[Ranges]:
    """Each problem's ranges, in order; large ones in worker processes (spawned: they share no
    DuckDB threads with the caller). A KeyboardInterrupt (SIGINT, or SIGTERM as utfall.cli maps
    it) terminates the workers before it goes on."""
    size = sum(q.A.shape[1] for q in problems)
    if workers <= 1 or size < INLINE_VARIABLES or len(problems) < 2:
        return [solve_problem(q) for q in problems]
    order = sorted(range(len(problems)), key=lambda i: -problems[i].A.shape[1])
    out: list[Ranges | None] = [None] * len(problems)
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(min(workers, len(problems)), initializer=_worker_start)
    try:
        done = pool.imap_unordered(_indexed, [(i, problems[i]) for i in order])
        for i, ranges in done:
            out[i] = ranges
        pool.close()
    finally:
        pool.terminate()  # on every way out: no worker runs on after the audit
        pool.join()
    return out


def _indexed(item):
    i, problem = item
    return i, solve_problem(problem)


def _worker_start() -> None:
    """Workers leave signals to the parent, and die with it even when it is killed outright."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _integer_sensitive(coefs, integer, ub) -> bool:
    """Integrality is kept only where it can change a range (marts.audit's refine_exact
    contract): a relation with a coefficient other than +-1 (means, ratios), or a binary.
    Elsewhere the relations are plain sums of counts and the LP relaxation's range is taken."""
    return bool(np.any(np.abs(np.asarray(coefs, float)) != 1) or np.any(integer & (ub <= 1)))


# ---- the cache key ---------------------------------------------------------------------------

AUDIT_VERSION = "2"  # raise when the audit's meaning changes without its code changing


def content_key(con, min_cell: int, noise: int) -> str:
    """What an audit's outcome depends on: the published table's rows (an order-free digest of
    every row, all columns), the KPI catalogue's units, min_cell, the noise bound and the audit's
    own code. The same key means the same audit; any change to a row changes it."""
    digests = []
    for table in ("marts.kpi_published", "marts.kpi"):
        digests.append(con.execute(
            f"select count(*), bit_xor(md5_number(t::varchar)), "
            f"sum(md5_number_lower(t::varchar)::hugeint) from {table} t").fetchone())
    code = hashlib.sha256()
    for name in ("audit.py", "audit_engine.py"):
        code.update((Path(__file__).with_name(name)).read_bytes())
    text = repr((AUDIT_VERSION, code.hexdigest(), min_cell, noise, digests))
    return hashlib.sha256(text.encode()).hexdigest()


# ---- from marts.audit's model ---------------------------------------------------------------

def relations(variables, cons):
    """The relations (coefs, 'eq' | 'le', rhs) over `variables` as a sparse matrix A with row
    bounds lo <= A x <= hi, columns in the order of `variables`."""
    local = {g: i for i, g in enumerate(variables)}
    sizes = np.fromiter((len(coefs) for coefs, _, _ in cons), np.int64, count=len(cons))
    nnz = int(sizes.sum())
    r = np.repeat(np.arange(len(cons)), sizes)
    c = np.fromiter((local[k] for coefs, _, _ in cons for k in coefs), np.int64, count=nnz)
    d = np.fromiter((v for coefs, _, _ in cons for v in coefs.values()), float, count=nnz)
    lo = np.fromiter((rhs if sense == "eq" else -INF for _, sense, rhs in cons), float,
                     count=len(cons))
    hi = np.fromiter((rhs for _, _, rhs in cons), float, count=len(cons))
    A = sparse.csr_array((d, (r, c)), shape=(len(cons), len(variables)))
    return A, lo, hi


def model_arrays(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's bounds and integrality as arrays (lb, ub, integer), made once for all its
    components (problem() would otherwise turn the whole model's lists into arrays for each)."""
    return (np.asarray(model.lb, float), np.asarray(model.ub, float),
            np.asarray(model.integer, bool))


def problem(model, variables, cons, targets, exact: bool, seed, intruder: bool,
            x0=None, arrays=None) -> Problem:
    """One component of marts.audit's _Model (its variables, relations and targets); arrays:
    model_arrays(model), when the caller has them."""
    local = {g: i for i, g in enumerate(variables)}
    A, lo, hi = relations(variables, cons)
    n = len(variables)
    g = np.asarray(variables)
    lb_all, ub_all, integer_all = model_arrays(model) if arrays is None else arrays
    integer = integer_all[g]
    if not _integer_sensitive(A.data, integer, ub_all[g]):
        integer = np.zeros(n, bool)
    kommun = [model.keys[v][1] if len(model.keys[v]) > 1 else "ALLA" for v in variables]
    names = {k: j for j, k in enumerate(sorted(set(kommun) - {"ALLA"}))}
    T = sparse.csr_array(
        ([v for t in targets for v in t.coefs.values()],
         ([i for i, t in enumerate(targets) for _ in t.coefs],
          [local[k] for t in targets for k in t.coefs])), shape=(len(targets), n))
    pub = [(local[v], model.published[v]) for v in variables if v in model.published]
    return Problem(A=A, row_lo=lo, row_hi=hi,
                   lb=lb_all[g], ub=ub_all[g], T=T,
                   integer=integer, group=np.array([names.get(k, -1) for k in kommun]),
                   force=np.array([t.force for t in targets], bool), exact=exact, seed=seed,
                   published=([i for i, _ in pub], [p for _, p in pub]), intruder=intruder,
                   x0=None if x0 is None else np.asarray(x0, float)[g])
