"""An intruder's audit of the published KPI table (spec/privacy.md "Small cells").

The intruder knows the rules of metrics.md "Disclosure control": every published count p of a set
of units is max(0, x + d) with |d| <= 8, so the true size x lies in [p - 8, p + 8] (and x >= 1 when
p > 0, x <= 8 when p = 0); a suppressed row says p(D) < its threshold (a count min_cell, a mean or
median g = 2 min_cell + 8, a share the either/or of its rule); a TOTAL row exists only where the
exact table has at least one unit. Every relation a reader can use between cells is a linear
constraint on whole numbers (build()): the true sizes of the unit sets and the month sums of means
(breakdowns and their total, quarters and their year, municipalities and ALLA, KPIs sharing a
cohort, subsets, sets that maturity or proved FS coverage make the same set), rounded means as
intervals on sums (exact means of the old rule as ratios), what a breakdown's definition says
about a mean's months, and the expected values (under the old rule, F + A = O / n exactly). Which
rule a table follows is read from the table itself (_Rules). Integrality can pin what the
relaxation leaves wide (a size that must be a multiple of 7): refine_exact and exact_range solve
MILPs where it can. The narrowest range [lo, hi] of each small or suppressed count is the minimum and maximum of its
variable over that linear programme (solved with HiGHS through scipy), one programme per
connected component of the constraint graph (in practice: a cohort family and a year).

Ranges are proved wide cheaply and soundly: every LP solution is a point that satisfies every
constraint, so the values a target takes at such points lie inside its true range; when they
already span two integers the target cannot be pinned, whatever the exact range is. Only the
targets that no such point proves wide get their own two LPs (all of them with ``exact=True``).

Against the exact table (which the analysts running the audit own) it also measures how many true
counts below min_cell are pinned, and how well a least-squares-like intruder (the point minimising
the L1 distance to the published counts under the same constraints, an LP solved by HiGHS) guesses
the true counts 1..min_cell-1, beside guessing the published count and guessing uniformly.
"""

from __future__ import annotations

import calendar
import functools
import itertools
import json
import math
import os
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path

import duckdb
import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from utfall.marts import audit_engine

NOISE = 8  # the noise lies in -8..8
EPS = 1e-6

# breakdowns whose values partition TOTAL; the others (ALDER, INSATS) may miss units
PARTITIONS = {
    "KON": ("K", "M"),
    "FODD_UTRIKES": ("JA", "NEJ", "OKAND"),
    "FS_VID_START": ("JA", "NEJ", "OKAND"),
    "LANGVARIGT_FS_FORE": ("JA", "NEJ", "OKAND"),
    "REMITTERAD": ("IFO", "AF", "FK", "EGEN", "OVRIGT", "OKAND"),
    "AVSTAND": ("NARA", "OSAKER", "LANGT", "OKAND"),
}
SPELL_FS_KPIS = {"FS_MAN_FORE_12", "FS_MAN_EFTER_12", "FS_MEDIAN_MAN", "PROG_FORBATTRAD"}
FS_POPULATION_KPIS = {"FS_LANGVARIGT", "FS_MYCKET_LANGVARIGT", "FS_ATERKOMST_12M"}
HORIZON_KPI = re.compile(r"AME_(ARB_STUD|OSUB_ARB_STUD|OKAND|ARB_STUD_KAND)_(\d+)M")
# D of the first is a subset of D of the second, cell by cell (same municipality, period, breakdown)
SUBSETS = [
    ("AME_ARB_STUD_12M", "AME_ARB_STUD_6M"), ("AME_ARB_STUD_6M", "AME_ARB_STUD_3M"),
    ("AME_ARB_STUD_3M", "AME_AVSLUTADE"),
    ("AME_EJ_FS_3M", "AME_ARB_STUD_3M"), ("AME_EJ_FS_6M", "AME_ARB_STUD_6M"),
    ("AME_EJ_FS_12M", "AME_ARB_STUD_12M"),
    ("AME_ARB_STUD_START_12M", "AME_ARB_STUD_START_6M"),
    ("AME_ARB_STUD_START_6M", "AME_STARTADE"),
    ("AME_EJ_FS_START_6M", "AME_ARB_STUD_START_6M"),
    ("AME_EJ_FS_START_12M", "AME_ARB_STUD_START_12M"),
    ("AME_ATERKOMST_12M", "AME_AVSLUTADE"), ("FS_MAN_EFTER_12", "AME_AVSLUTADE"),
    ("PROG_FORBATTRAD", "AME_AVSLUTADE"), ("FS_MAN_FORE_12", "AME_STARTADE"),
    ("FS_MEDIAN_MAN", "AME_STARTADE"),
]


class AuditError(Exception):
    """The database has no published table to audit."""


# the catalogue's kind (marts.kpi.kind, marts/catalogue.py) as the model treats it: a derived
# share (AME_ARB_STUD_KAND_{h}M) has no sets of its own, expected values no counts
_MODEL_KIND = {"count": "count", "share": "share", "mean": "mean", "median": "median",
               "derived": "kand", "expected": None}


def kpi_kind(kpi_id: str, kinds: dict[str, str]) -> str | None:
    """count, mean, median, share, kand (derived from its neighbours) or None (no counts)."""
    kind = kinds.get(kpi_id)
    if kind not in _MODEL_KIND:
        raise AuditError(f"the catalogue marts.kpi gives {kpi_id} no kind the audit knows "
                         f"({kind!r}): run utfall run again to rebuild it")
    return _MODEL_KIND[kind]


@functools.cache  # called once per variable lookup: a few names, many calls
def set_name(kpi_id: str, role: str, kommun: str) -> str:
    """The unit set a KPI's D or N counts: KPIs counting the same units name the same set."""
    m = HORIZON_KPI.fullmatch(kpi_id)
    if m:
        return f"MATURE_{m[2]}" if role == "D" else f"{m[1]}_{m[2]}"
    if kpi_id == "AME_AVSLUTADE" or (kpi_id == "AME_AVSLUT_ARB_STUD" and role == "D"):
        return "AVSLUT"
    if kpi_id == "AME_ATERKOMST_12M" and role == "D":
        return "MATURE_12"  # mature for returns: add_months(exit, 12) <= as_of, as at h = 12
    if kpi_id in ("FS_LANGVARIGT", "FS_MYCKET_LANGVARIGT") and role == "D" and kommun != "ALLA":
        return "FSPOP"  # adults with FS in any month of Y: the same people in a municipality
    return f"{kpi_id}.{role}"


def _spell_based(kpi_id: str) -> bool:
    return kpi_id.startswith("AME_") or kpi_id in SPELL_FS_KPIS


@dataclass
class Target:
    rows: list[str]              # the published rows that count this set
    coefs: dict[int, float]      # the linear expression of the set's true size
    published: float | None      # the published count (None: suppressed)
    lo: float = math.nan
    hi: float = math.nan
    exact: bool = False          # lo and hi are the LP's own minimum and maximum
    truth: float | None = None
    estimate: float | None = None
    outer_lo: float = math.nan   # from the variables' own bounds: the range can be no wider
    outer_hi: float = math.nan
    force: bool = False          # solve exactly even when proved wide (the sample of cells)

    @property
    def solved(self) -> bool:
        return math.isfinite(self.lo) and not math.isnan(self.hi) and self.hi >= self.lo - EPS

    @property
    def pinned(self) -> bool:
        if not self.solved or math.isinf(self.hi):
            return False
        return math.ceil(self.lo - EPS) >= math.floor(self.hi + EPS)


@dataclass
class AuditResult:
    min_cell: int
    noise: int
    rows: int
    suppressed_rows: int
    variables: int
    constraints: int
    components: int
    largest_component: int
    cells_checked: int
    pinned: int
    pinned_below_min_cell: int
    pinned_cells: list[dict]
    narrowest_width: float | None
    narrowest_cell: str | None
    narrowest_exact: bool
    narrowest_exact_width: float | None  # the narrowest among the ranges solved exactly
    sample_exact: int                    # cells drawn at random and solved exactly
    sample_widths: list[float]           # their exact widths
    exact_lps: int
    proved_by_witness: int
    infeasible_components: int
    unsolved_cells: int                  # no range found (a solver failure): inconclusive
    seconds: float
    truth_available: bool = False
    true_small: int = 0
    true_small_pinned: int = 0
    truth_violations: int = 0
    truth_violation_examples: list[str] = field(default_factory=list)
    intruder_method: str = ("L1: minimise sum |x - p| over published counts under every relation "
                            "and bound (LP, HiGHS), rounded")
    intruder_cells: int = 0
    intruder_hit_rate: float | None = None
    guess_published_hit_rate: float | None = None
    guess_uniform_hit_rate: float | None = None  # over the range seen at feasible points
    guess_uniform_outer_hit_rate: float | None = None  # over the variables' own bounds
    cells: list[dict] = field(default_factory=list)  # every target: its rows, range, truth

    def range_of(self, row: str) -> tuple[float, float]:
        """The range of the set a published row counts, e.g. 'AME_AVSLUTADE 1480 2023 KON=M D'."""
        for c in self.cells:
            if row in c["rows"]:
                return (round(c["lo"], 6) + 0.0, round(c["hi"], 6) + 0.0)
        raise KeyError(row)

    @property
    def safe(self) -> bool:
        return self.pinned == 0 and self.infeasible_components == 0 and self.unsolved_cells == 0

    def summary_sv(self) -> str:
        n = _sv_int(self.cells_checked)
        if self.infeasible_components or self.unsolved_cells:
            return ("Granskning av den publicerade tabellen: delar av tabellen gick inte att "
                    "pröva (sambanden motsäger de publicerade talen eller lösaren gav inget svar), "
                    "så granskningen är ofullständig.")
        width = ""
        if self.narrowest_width is not None and self.narrowest_exact:
            width = (f"; det snävaste intervallet en angripare kan räkna fram är "
                     f"{self.narrowest_width:.0f} personer brett")
        return (f"Granskning av den publicerade tabellen: {_sv_int(self.pinned)} av {n} små eller "
                "undertryckta värden kan räknas fram exakt genom att lägga ihop och dra ifrån "
                f"publicerade tal{width}.")

    def summary(self) -> str:
        lines = [
            f"Published rows: {self.rows} ({self.suppressed_rows} suppressed), min_cell {self.min_cell}",
            f"Unit sets: {self.variables} variables, {self.constraints} relations, "
            f"{self.components} components (largest {self.largest_component} variables)",
            f"Cells checked: {self.cells_checked} (suppressed, or published below min_cell + "
            f"{self.noise})",
            f"Pinned with certainty: {self.pinned} ({self.pinned_below_min_cell} below min_cell)",
        ]
        for c in self.pinned_cells[:20]:
            lines.append(f"  PINNED {c['rows'][0]} = {c['lo']:g}")
        if self.narrowest_width is not None:
            lines.append(f"Narrowest range: width {self.narrowest_width:.2f} ({self.narrowest_cell}"
                         f"{'' if self.narrowest_exact else ', at least'})")
        if self.sample_widths:
            w = self.sample_widths
            lines.append(f"Random sample of {self.sample_exact} cells solved exactly: narrowest "
                         f"width {w[0]:.2f}, median {w[len(w) // 2]:.2f}")
        if self.narrowest_exact_width is not None:
            lines.append(f"Narrowest range solved exactly: width {self.narrowest_exact_width:.2f}")
        lines.append(f"Exact LPs: {self.exact_lps}; proved wide by feasible points (two integers "
                     f"feasible, range not solved): {self.proved_by_witness}")
        if self.unsolved_cells:
            lines.append(f"UNSOLVED cells: {self.unsolved_cells} (the solver found no range: "
                         "audit inconclusive)")
        if self.infeasible_components:
            lines.append(f"INFEASIBLE components: {self.infeasible_components} (the relations "
                         "contradict the published figures: audit inconclusive)")
        if self.truth_available:
            share = self.true_small_pinned / self.true_small if self.true_small else 0.0
            lines.append(f"Against the exact table: {self.true_small} true counts below min_cell, "
                         f"{self.true_small_pinned} pinned ({share:.1%})")
            if self.intruder_cells:
                lines.append(
                    f"Intruder ({self.intruder_method}) on {self.intruder_cells} true counts "
                    f"1..{self.min_cell - 1}: hit rate {self.intruder_hit_rate:.1%}; guessing the "
                    f"published count clamped to 1..{self.min_cell - 1}: "
                    f"{self.guess_published_hit_rate:.1%}; guessing uniformly in the feasible "
                    f"range: between {self.guess_uniform_outer_hit_rate:.1%} (over the cells' own "
                    f"bounds) and {self.guess_uniform_hit_rate:.1%} (over the values seen at "
                    "feasible points; the exact range lies between the two)")
            lines.append(f"Relations or bounds violated by the true counts: {self.truth_violations}")
            lines.extend(f"  {e}" for e in self.truth_violation_examples[:5])
        lines.append(f"Time: {self.seconds:.1f} s")
        return "\n".join(lines)

    def to_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n",
                              encoding="utf-8")


def _sv_int(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


class _Model:
    """The unit-set variables, their bounds and the linear relations between them.

    Every variable is a whole number (`integer`): the true size of a unit set, a month sum of a
    mean, or a binary that picks one side of a decision rule's either/or (`either_or` lists the
    binaries of one rule together, so that _truth can give them the values the truth implies)."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}
        self.keys: list[tuple] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integer: list[bool] = []
        self.cons: dict[tuple, tuple] = {}  # canonical key -> (coefs, sense, rhs)
        self.published: dict[int, float] = {}  # variable -> its published (uncapped) count
        self.either_or: list[tuple[int, ...]] = []
        self.structural: set[int] = set()  # sets empty by definition: no disclosure to pin them

    def var(self, key: tuple, integer: bool = True) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.lb)
            self.keys.append(key)
            self.lb.append(0.0)
            self.ub.append(math.inf)
            self.integer.append(integer)
        return i

    def binary(self, key: tuple) -> int:
        i = self.var(key)
        self.bound(i, 0.0, 1.0)
        return i

    def bound(self, i: int, lo: float | None = None, hi: float | None = None) -> None:
        if lo is not None:
            self.lb[i] = max(self.lb[i], lo)
        if hi is not None:
            self.ub[i] = min(self.ub[i], hi)

    def add(self, coefs: dict[int, float], sense: str, rhs: float = 0.0) -> None:
        coefs = {k: v for k, v in coefs.items() if v != 0}
        if not coefs:
            return
        key = (tuple(sorted(coefs.items())), sense, rhs)
        self.cons.setdefault(key, (coefs, sense, rhs))

    def empty(self, i: int | None) -> None:
        """A set that is empty by the definitions (or by proved coverage): 0, and no target."""
        if i is not None:
            self.bound(i, hi=0.0)
            self.structural.add(i)


def _count_bounds(p: float, noise: int, capped: bool = False) -> tuple[float, float]:
    """The true size's range from a published count p (capped: p is min(p(N), p(D)) = p(D))."""
    if p <= 0:
        return 0.0, float(noise)
    return max(p - noise, 1.0), (math.inf if capped else p + noise)


def _load(con, table: str, with_suppressed: bool):
    """Rows (key, numerator, denominator[, suppressed], value)."""
    cols = ("kpi_id, kommun_kod, period, period_type, dimension, dimension_value, numerator, "
            "denominator" + (", suppressed" if with_suppressed else "") + ", value")
    return con.execute(f"select {cols} from {table}").fetchall()


def _as_of(con) -> date | None:
    """The run's as_of (the report prints it): a reader knows which exits are mature."""
    try:
        row = con.execute("select as_of from meta.run where as_of is not null "
                          "order by finished_at desc nulls last limit 1").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def _basis(con) -> dict[str, str]:
    try:
        return dict(con.execute("select kpi_id, cohort_basis from marts.kpi").fetchall())
    except duckdb.Error:
        return {}


def _months(period: str) -> tuple[int, int]:
    """The first and last month of a period, as year * 12 + month - 1."""
    y = int(period[:4])
    if "-Q" in period:
        q = int(period[-1])
        return y * 12 + 3 * (q - 1), y * 12 + 3 * q - 1
    return y * 12, y * 12 + 11


def _month_end(m: int) -> date:
    y, mo = divmod(m, 12)
    return date(y, mo + 1, calendar.monthrange(y, mo + 1)[1])


def _exact_ratio(value: float, most: float) -> tuple[int, int] | None:
    """(a, b): the fraction a/b with b <= most that the double `value` is, or None. Two fractions
    with denominators up to 1e5 differ by at least 1e-10, and the double of a/b lies within 1e-15
    of it, so the nearest such fraction is the one the table computed; a value farther than 1e-11
    from every such fraction was not computed that way and says nothing here."""
    if value is None or not math.isfinite(most) or most > 1e5:
        return None
    f = Fraction(value).limit_denominator(max(1, int(most)))
    if abs(float(f) - value) > 1e-11:
        return None
    return f.numerator, f.denominator


def _is_multiple(value: float, step: float) -> bool:
    return abs(value / step - round(value / step)) < 1e-6


@dataclass
class _Rules:
    """Which revision of metrics.md the table follows, as a reader can tell from the table itself.
    Each flag is set only by something the revised rule never publishes, so a table that shows
    neither reading is read the revised way, whose facts also hold under the old rule: sound."""
    exact_means: bool = False     # a mean that is no multiple of 0.1: every mean is S / |D| exactly
    small_means: bool = False     # a mean published below g: suppressed ones are below min_cell
    small_medians: bool = False   # a median published below g: suppressed ones are below min_cell
    exact_expected: bool = False  # expected values F + A = O / n exactly, decided on the exact n


class _Table:
    """The published table as a reader holds it, and the model being built from it."""

    def __init__(self, rows, kinds, basis, as_of, min_cell, noise):
        self.model = _Model()
        self.min_cell, self.noise, self.as_of = min_cell, noise, as_of
        self.g = 2 * min_cell + 8  # means and medians are published from p(D) >= g
        self.basis = basis
        self.present: dict[tuple, tuple] = {}
        self.expected: dict[tuple, dict] = defaultdict(dict)  # (h, kommun, year) -> F/A row
        for r in rows:
            kind = kpi_kind(r[0], kinds)
            if kind is not None:
                self.present[r[:6]] = (kind, r)
            elif kinds[r[0]] == "expected" and r[4] == "TOTAL":
                h = int(HORIZON_KPI.match(r[0])[2])
                self.expected[(h, r[1], r[2])][r[0][-9]] = r  # F(ORVANTAT) or A(VVIKELSE)
        self.kinds = {k[0]: kind for k, (kind, _) in self.present.items()}
        self.roles = {kpi: {"count": ("D",), "mean": ("D", "S")}.get(kind, ("D", "N"))
                      for kpi, kind in self.kinds.items() if kind != "kand"}
        self.targets: dict[tuple, Target] = {}
        self.rules = self._rules()

    def v(self, kpi, role, kommun, period, ptype, dim, val):
        """The variable of a KPI's D, N or S in a published cell (None: no such row)."""
        if (kpi, kommun, period, ptype, dim, val) not in self.present:
            return None
        return self.model.var((set_name(kpi, role, kommun), kommun, period, ptype, dim, val))

    def set_var(self, name, kommun, period, ptype, dim, val):
        """The variable of a unit set in a cell, when some published row counts it."""
        return self.model.index.get((name, kommun, period, ptype, dim, val))

    def target(self, coefs, label, published):
        key = tuple(sorted(coefs.items()))
        t = self.targets.get(key)
        if t is None:
            self.targets[key] = Target([label], dict(coefs), published)
        else:
            t.rows.append(label)

    def _rules(self) -> _Rules:
        rules = _Rules()
        for kind, r in self.present.values():
            den, suppressed, value = r[7], r[8], r[9]
            if kind == "mean" and not suppressed and den is not None:
                rules.small_means |= den < self.g
                rules.exact_means |= value is not None and not _is_multiple(value, 0.1)
            if kind == "median" and not suppressed and den is not None:
                rules.small_medians |= den < self.g
        rules.exact_expected = any(self._old_expected(k) for k in self.expected)
        return rules

    def _old_expected(self, key) -> bool:
        """F + A is not the published share s, or F has more than three decimals: the old rule."""
        h, kommun, year = key
        f, a = self.expected[key].get("F"), self.expected[key].get("A")
        if f is None or a is None or f[8] or a[8] or f[9] is None or a[9] is None:
            return False
        share = self.present.get((f"AME_ARB_STUD_{h}M", kommun, year, "YEAR", "TOTAL", "ALLA"))
        s = None if share is None or share[1][8] else share[1][9]
        return s is None or abs(f[9] + a[9] - s) > 1e-9 or not _is_multiple(f[9], 0.001)


def build(con, min_cell: int = 5, noise: int = NOISE):
    """The model, the targets and the published rows of marts.kpi_published."""
    try:
        rows = _load(con, "marts.kpi_published", True)
    except duckdb.Error as exc:
        raise AuditError(f"no published table to audit: {exc}") from None
    try:
        kinds = dict(con.execute("select kpi_id, kind from marts.kpi").fetchall())
    except duckdb.Error as exc:
        raise AuditError(f"no KPI catalogue with kinds to read ({exc}): run utfall run again "
                         "to rebuild it") from None
    t = _Table(rows, kinds, _basis(con), _as_of(con), min_cell, noise)
    for key, (kind, r) in t.present.items():
        _row_facts(t, key, kind, r)
    _sum_relations(t)
    _kpi_relations(t)
    _mean_facts(t)
    _definition_facts(t)
    _same_sets(t)
    _expected_facts(t)
    targets = [x for x in t.targets.values() if not set(x.coefs) <= t.model.structural]
    return t.model, targets, rows, t.present, kinds


def _row_facts(t: _Table, key, kind, r) -> None:
    """Bounds from one published row, what its suppression says, and its targets."""
    model, noise = t.model, t.noise
    kpi, kommun, period, ptype, dim, val, num, den, suppressed, _ = r
    label = f"{kpi} {kommun} {period} {dim}={val}"
    if kind == "kand":
        _kand_facts(t, key, r, label)
        return
    d = t.v(*key[:1], "D", *key[1:])
    n = t.v(*key[:1], "N", *key[1:]) if "N" in t.roles[kpi] else None
    if n is not None:
        model.add({n: 1.0, d: -1.0}, "le")  # N is a subset of D
    if kind == "mean":  # the month sum: 0..12 months per unit
        model.add({t.v(*key[:1], "S", *key[1:]): 1.0, d: -12.0}, "le")
    if dim == "TOTAL":
        model.bound(d, lo=1.0)
    if suppressed:
        model.bound(d, hi=_suppressed_below(t, kind) - 1 + noise)
        if kind == "share":
            _share_either_or(t, d, n, label)
        t.target({d: 1.0}, label + " D", None)
        if n is not None:
            t.target({n: 1.0}, label + " N", None)  # at most D: small too
        return
    p_d = num if kind == "count" else den
    if p_d is None:
        return
    model.bound(d, *_count_bounds(p_d, noise))
    model.published[d] = p_d
    if p_d < t.min_cell + noise:
        t.target({d: 1.0}, label + " D", p_d)
    if n is not None and num is not None:
        model.bound(n, *_count_bounds(num, noise, capped=num >= p_d))
        if num < p_d:
            model.published[n] = num
        if num < t.min_cell + noise:  # num = p(D) says only p(N) >= p(D)
            t.target({n: 1.0}, label + " N", num if num < p_d else None)


def _suppressed_below(t: _Table, kind: str) -> int:
    """A suppressed row says p(D) < this (a share: the hull of its either/or)."""
    if kind == "share":
        return 2 * t.min_cell
    if kind == "mean":
        return t.min_cell if t.rules.small_means else t.g
    if kind == "median":
        return t.min_cell if t.rules.small_medians else t.g
    return t.min_cell


def _kand_facts(t: _Table, key, r, label) -> None:
    """AME_ARB_STUD_KAND_{h}M: D = D(AME_ARB_STUD_{h}M) - N(AME_OKAND_{h}M), nothing of its own."""
    kpi, den, suppressed = key[0], r[7], r[8]
    d_arb = t.v(kpi.replace("_KAND_", "_"), "D", *key[1:])
    n_okand = t.v(kpi.replace("AME_ARB_STUD_KAND_", "AME_OKAND_"), "N", *key[1:])
    if d_arb is None or n_okand is None:
        return
    if key[4] == "TOTAL":
        t.model.add({d_arb: -1.0, n_okand: 1.0}, "le", -1.0)  # the exact row has a unit
    if suppressed or (den is not None and den < t.min_cell + t.noise):
        t.target({d_arb: 1.0, n_okand: -1.0}, label + " D", None if suppressed else den)


def _share_either_or(t: _Table, d: int, n: int | None, label: str) -> None:
    """A suppressed share: p(D) < min_cell, or p(D) < 2 min_cell and (p(N) = 0 or p(N) >= p(D)).
    With |noise| <= e, in true sizes: D <= min_cell - 1 + e, or (D <= 2 min_cell - 1 + e and
    (N <= e or D - N <= 2e)). The hull (D <= 2 min_cell - 1 + e) is the bound already; the
    binaries z (second branch) and w (D - N <= 2e) make it exact. Where the second branch holds
    for every N (min_cell <= e + 1, the cell key method's case), the hull is exact and nothing
    is added."""
    mc, e = t.min_cell, t.noise
    if n is None or mc <= e + 1:
        return
    model = t.model
    z, w = model.binary(("EITHER", label, "z")), model.binary(("EITHER", label, "w"))
    big = 2 * mc - 1 + e  # D and N are at most this
    model.add({d: 1.0, z: -float(mc)}, "le", mc - 1 + e)
    model.add({n: 1.0, z: big, w: -big}, "le", e + big)              # z and not w: N <= e
    model.add({d: 1.0, n: -1.0, z: big, w: big}, "le", 2 * e + 2 * big)  # z and w: D - N <= 2e
    model.either_or.append((z, w))


def _sum_relations(t: _Table) -> None:
    """Breakdowns add up to TOTAL, quarters to their year, municipalities to ALLA: for the sets
    (D, N) and for the month sums of means (S) alike."""
    by_cell: dict[tuple, list] = defaultdict(list)  # (kpi, kommun, period, ptype, dim) -> values
    alla_members: dict[tuple, list] = defaultdict(list)  # (kpi, period, ptype, dim, val) -> kommuner
    quarters: dict[tuple, list] = defaultdict(list)  # (kpi, kommun, year) -> quarter periods
    for key in t.present:
        kpi, kommun, period, ptype, dim, val = key
        if t.kinds[kpi] == "kand":
            continue
        by_cell[key[:5]].append(val)
        alla_members[(kpi, period, ptype, dim, val)].append(kommun)
        if ptype == "QUARTER" and dim == "TOTAL":
            quarters[(kpi, kommun, period[:4])].append(period)
    for (kpi, kommun, period, ptype, dim), values in by_cell.items():
        if dim == "TOTAL" or ptype != "YEAR":
            continue
        complete = dim in PARTITIONS and set(PARTITIONS[dim]) <= set(values)
        for role in t.roles[kpi]:
            parts = [t.v(kpi, role, kommun, period, ptype, dim, val) for val in values]
            _sum(t, parts, t.v(kpi, role, kommun, period, ptype, "TOTAL", "ALLA"),
                 "eq" if complete else "le")
    for (kpi, kommun, year), periods in quarters.items():
        for role in t.roles[kpi]:
            parts = [t.v(kpi, role, kommun, q, "QUARTER", "TOTAL", "ALLA") for q in periods]
            _sum(t, parts, t.v(kpi, role, kommun, year, "YEAR", "TOTAL", "ALLA"), "eq")
    for (kpi, period, ptype, dim, val), kommuner in alla_members.items():
        if "ALLA" not in kommuner or len(kommuner) < 2:
            continue
        for role in t.roles[kpi]:
            alla = t.v(kpi, role, "ALLA", period, ptype, dim, val)
            members = [t.v(kpi, role, k, period, ptype, dim, val) for k in kommuner if k != "ALLA"]
            if _spell_based(kpi):
                _sum(t, members, alla, "eq")
            elif kpi in FS_POPULATION_KPIS:  # a person may count in several municipalities
                _sum(t, members, alla, "ge")
                for m in members:
                    if m != alla:
                        t.model.add({m: 1.0, alla: -1.0}, "le")  # each municipality <= ALLA


def _sum(t: _Table, parts: list, total: int | None, sense: str) -> None:
    """sum(parts) = total ('eq'), <= total ('le': a breakdown that may miss units), >= ('ge')."""
    if total is None:
        return
    coefs: dict[int, float] = defaultdict(float)
    for p in parts:
        coefs[p] += 1.0
    coefs[total] -= 1.0
    if sense == "ge":
        coefs = {k: -c for k, c in coefs.items()}
    t.model.add(coefs, "eq" if sense == "eq" else "le")


def _kpi_relations(t: _Table) -> None:
    """Across KPIs, cell by cell: numerators within numerators, subsets of units."""
    model, v = t.model, t.v
    for key in t.present:
        kpi, rest = key[0], key[1:]
        m = HORIZON_KPI.fullmatch(kpi)
        if m and m[1] == "ARB_STUD":
            h = m[2]
            arb = v(kpi, "N", *rest)
            osub = v(f"AME_OSUB_ARB_STUD_{h}M", "N", *rest)
            okand = v(f"AME_OKAND_{h}M", "N", *rest)
            if osub is not None:
                model.add({osub: 1.0, arb: -1.0}, "le")
            if okand is not None:
                model.add({arb: 1.0, okand: 1.0, v(kpi, "D", *rest): -1.0}, "le")
        if kpi == "FS_MYCKET_LANGVARIGT" and rest[0] == "ALLA":
            other = v("FS_LANGVARIGT", "D", *rest)
            if other is not None:
                model.add({v(kpi, "D", *rest): 1.0, other: -1.0}, "le")
    bigger: dict[str, list[str]] = defaultdict(list)
    for small, big in SUBSETS:
        bigger[small].append(big)
    for key in t.present:
        a = v(key[0], "D", *key[1:]) if key[0] in bigger else None
        todo = list(bigger.get(key[0], ()))
        while todo:  # the nearest published superset on each chain (the next may be absent)
            big = todo.pop()
            b = v(big, "D", *key[1:])
            if b is None:
                todo.extend(bigger.get(big, ()))
            elif b != a:
                model.add({a: 1.0, b: -1.0}, "le")


def _mean_facts(t: _Table) -> None:
    """A published mean v of units D and month sum S. Revised rule: v is S / |D| rounded half up
    to one decimal, so (10v - 0.5) |D| <= 10 S < (10v + 0.5) |D|; in whole numbers (k = 10v):
    (2k - 1) |D| <= 20 S <= (2k + 1) |D| - 1. Old rule: v is the double of S / |D| exactly, a/b
    in lowest terms, so b S = a |D| (|D| a multiple of b)."""
    for key, (kind, r) in t.present.items():
        value = r[9]
        if kind != "mean" or r[8] or value is None:
            continue
        d, s = t.v(*key[:1], "D", *key[1:]), t.v(*key[:1], "S", *key[1:])
        if t.rules.exact_means:
            ratio = _exact_ratio(value, t.model.ub[d])
            if ratio is not None:
                t.model.add({s: float(ratio[1]), d: -float(ratio[0])}, "eq")
            else:  # too many units to name the fraction: S / |D| within a double's error
                t.model.add({s: 1.0, d: -(value + 1e-9)}, "le")
                t.model.add({d: value - 1e-9, s: -1.0}, "le")
            continue
        k = round(value * 10)  # a multiple of 0.1 under the revised rule: no tie to break
        t.model.add({d: 2.0 * k - 1, s: -20.0}, "le")
        t.model.add({s: 20.0, d: -(2.0 * k + 1)}, "le", -1.0)


def _definition_facts(t: _Table) -> None:
    """What a breakdown's definition says about a KPI's units or months (metrics.md "FS rules"):
    LANGVARIGT_FS_FORE = JA spells have 10..12 FS months in the 12 before the start, NEJ at most 9,
    and FS_MAN_FORE_12's spells (all 12 months covered) are never OKAND; an FS_VID_START = NEJ spell
    had no FS the month before its start (at most 11 of 12); FS_MEDIAN_MAN's spells were on FS in
    their start month, AME_EJ_FS_*'s on FS at start: all FS_VID_START = JA."""
    model = t.model
    for key in t.present:
        kpi, dim, val = key[0], key[4], key[5]
        d = t.v(kpi, "D", *key[1:])
        if kpi == "FS_MAN_FORE_12" and dim in ("LANGVARIGT_FS_FORE", "FS_VID_START"):
            s = t.v(kpi, "S", *key[1:])
            if (dim, val) == ("LANGVARIGT_FS_FORE", "JA"):
                model.add({d: 10.0, s: -1.0}, "le")
            elif (dim, val) == ("LANGVARIGT_FS_FORE", "NEJ"):
                model.add({s: 1.0, d: -9.0}, "le")
            elif (dim, val) == ("LANGVARIGT_FS_FORE", "OKAND"):
                model.empty(d)
            elif val == "NEJ":
                model.add({s: 1.0, d: -11.0}, "le")
        if not _on_fs_at_start(kpi):
            continue
        if dim == "FS_VID_START" and val != "JA":
            model.empty(d)
            model.empty(t.v(kpi, "N", *key[1:]) if "N" in t.roles[kpi] else None)
        if dim == "TOTAL":
            ja = t.set_var(_cohort_set(kpi), *key[1:4], "FS_VID_START", "JA")
            if ja is not None:
                model.add({d: 1.0, ja: -1.0}, "le")


def _on_fs_at_start(kpi: str) -> bool:
    return kpi == "FS_MEDIAN_MAN" or kpi.startswith("AME_EJ_FS_")


def _cohort_set(kpi: str) -> str:
    """The set an FS-at-start KPI's units are drawn from: the matching cohort (mature at h)."""
    if kpi == "FS_MEDIAN_MAN":
        return "AME_STARTADE.D"
    h = re.search(r"_(\d+)M$", kpi)[1]
    if "_START_" in kpi:
        return set_name(f"AME_ARB_STUD_START_{h}M", "D", "")
    return set_name(f"AME_ARB_STUD_{h}M", "D", "")


def _langvarigt_months(t: _Table, key, proved) -> None:
    """FS_MAN_FORE_12 (k, Y, TOTAL) where the 12 months before every start are proved covered:
    its units are the year's starts, each LANGVARIGT_FS_FORE = JA start adds 10..12 months to
    the sum, each NEJ at most 9, each FS_VID_START = NEJ at most 11 (AME_STARTADE's rows)."""
    kpi, kommun, period, ptype, dim, _ = key
    first, last = _months(period)
    if (kpi != "FS_MAN_FORE_12" or kommun == "ALLA" or dim != "TOTAL"
            or not proved(kommun, first - 12, last - 1)):
        return
    s, d = t.v(kpi, "S", *key[1:]), t.v(kpi, "D", *key[1:])
    start = lambda dim, val: t.set_var("AME_STARTADE.D", kommun, period, ptype, dim, val)  # noqa: E731
    ja, nej = start("LANGVARIGT_FS_FORE", "JA"), start("LANGVARIGT_FS_FORE", "NEJ")
    if ja is not None:
        t.model.add({ja: 10.0, s: -1.0}, "le")
        if nej is not None:
            t.model.add({s: 1.0, ja: -12.0, nej: -9.0}, "le")
    no_fs = start("FS_VID_START", "NEJ")
    if no_fs is not None:
        t.model.add({s: 1.0, d: -12.0, no_fs: 1.0}, "le")


def _covered_years(t: _Table) -> set[tuple[str, int]]:
    """(kommun, year) whose 12 months the municipality's FS coverage proves: FS_LANGVARIGT has a
    row only for a year with 12 covered months (metrics.md KPIs)."""
    return {(k[1], int(k[2])) for k in t.present
            if k[0] == "FS_LANGVARIGT" and k[1] != "ALLA" and k[3] == "YEAR" and k[4] == "TOTAL"}


def _same_sets(t: _Table) -> None:
    """Unit sets that are provably the same set. Maturity (as_of is printed in the report): when
    every exit of a period is mature at h, the mature exits are the exits (starts likewise).
    Coverage (FS_LANGVARIGT rows): when every month a KPI needs is covered for a municipality, its
    units are the whole cohort, and no start there has an unknown FS status before it."""
    covered = _covered_years(t)

    def proved(kommun, first, last):
        return all((kommun, y) in covered for y in range(first // 12, last // 12 + 1))

    for key in t.present:
        kpi, kommun, period, ptype, dim, val = key
        first, last = _months(period)
        if kpi == "AME_STARTADE" and kommun != "ALLA":
            d = t.v(kpi, "D", *key[1:])
            if dim == "FS_VID_START" and val == "OKAND" and proved(kommun, first - 1, last):
                t.model.empty(d)
            if dim == "LANGVARIGT_FS_FORE" and val == "OKAND" and proved(kommun, first - 12,
                                                                          last - 1):
                t.model.empty(d)
        _langvarigt_months(t, key, proved)
        same = _same_set(t, key, first, last, proved)
        if same is not None:
            a, b = same
            if a is not None and b is not None and a != b:
                t.model.add({a: 1.0, b: -1.0}, "eq")
    for key, (kind, _) in t.present.items():  # the empty cohort cells empty their subsets too
        if key[0] != "AME_STARTADE" and t.basis.get(key[0]) == "start" and kind != "kand":
            if t.set_var("AME_STARTADE.D", *key[1:]) in t.model.structural:
                _empty_cell(t, key)
    _empty_alla(t)


def _empty_cell(t: _Table, key) -> None:
    for role in t.roles[key[0]]:
        t.model.empty(t.v(key[0], role, *key[1:]))


def _empty_alla(t: _Table) -> None:
    """An ALLA cell of a spell-based KPI whose municipalities' cells are all empty by the
    definitions is empty by them too (ALLA is their sum)."""
    members: dict[tuple, list[bool]] = defaultdict(list)
    for key, (kind, _) in t.present.items():
        if key[1] != "ALLA" and kind != "kand" and _spell_based(key[0]):
            members[(key[0], *key[2:])].append(t.v(key[0], "D", *key[1:]) in t.model.structural)
    for (kpi, *cell), empty in members.items():
        if all(empty) and (kpi, "ALLA", *cell) in t.present:
            _empty_cell(t, (kpi, "ALLA", *cell))


def _same_set(t: _Table, key, first, last, proved):
    """(a, b): two variables of one cell that count the same units, or None."""
    kpi, kommun, period, ptype, dim, val = key
    cell = key[1:]
    d = t.v(kpi, "D", *cell)
    m = HORIZON_KPI.fullmatch(kpi)
    start = re.fullmatch(r"AME_ARB_STUD_START_(\d+)M", kpi)
    if m and m[1] == "ARB_STUD" and _mature(t, last, int(m[2])):
        return d, t.set_var("AVSLUT", *cell)
    if kpi == "AME_ATERKOMST_12M" and _mature(t, last, 12):
        return d, t.set_var("AVSLUT", *cell)
    if start and _mature(t, last, int(start[1])):
        return d, t.set_var("AME_STARTADE.D", *cell)
    if kommun == "ALLA":
        return None  # ALLA follows from its municipalities
    if kpi == "FS_MAN_FORE_12" and proved(kommun, first - 12, last - 1):
        return d, t.set_var("AME_STARTADE.D", *cell)
    if kpi == "FS_MAN_EFTER_12" and proved(kommun, first + 1, last + 12):
        return d, t.set_var("AVSLUT", *cell)
    ej = re.fullmatch(r"AME_EJ_FS(_START)?_(\d+)M", kpi)
    if ej and (dim, val) in (("TOTAL", "ALLA"), ("FS_VID_START", "JA")):
        h = int(ej[2])
        if proved(kommun, first + h, last + h):  # month(r_h) or month(t_h) is covered
            return d, t.set_var(_cohort_set(kpi), kommun, period, ptype, "FS_VID_START", "JA")
    return None


def _mature(t: _Table, last_month: int, h: int) -> bool:
    """Every exit (start) of a period ending in last_month is mature at h: add_months(end, h)
    <= as_of, the period's last day the latest date h months on."""
    return t.as_of is not None and _month_end(last_month + h) <= t.as_of


def _expected_facts(t: _Table) -> None:
    """AME_ARB_STUD_{h}M_FORVANTAT and _AVVIKELSE for municipality k and year Y, n and O the D and
    N of AME_ARB_STUD_{h}M (k, Y, TOTAL). Revised rule: F rounded, A = s - F (s published anyway),
    published when that row is published with p(D) >= 15: nothing beyond that row. Old rule:
    F + A = O / n exactly, and published exactly when n >= 15."""
    for (h, kommun, year), pair in t.expected.items():
        cell = (kommun, year, "YEAR", "TOTAL", "ALLA")
        n = t.v(f"AME_ARB_STUD_{h}M", "D", *cell)
        o = t.v(f"AME_ARB_STUD_{h}M", "N", *cell)
        if n is None:
            continue
        f, a = pair.get("F"), pair.get("A")
        published = f is not None and not f[8]
        if not t.rules.exact_expected:
            if published:
                t.model.bound(n, lo=15 - t.noise)
            continue
        if not published:
            t.model.bound(n, hi=14)
            continue
        t.model.bound(n, lo=15)
        if a is None or a[8] or o is None or f[9] is None or a[9] is None:
            continue
        ratio = _exact_ratio(f[9] + a[9], t.model.ub[n])
        if ratio is not None:
            t.model.add({o: float(ratio[1]), n: -float(ratio[0])}, "eq")


def _truth(con, model: _Model, kinds: dict) -> np.ndarray | None:
    """The true value of every variable from marts.kpi_value (absent: 0); None without it. The
    binaries of an either/or take values that the truth satisfies, when there are such."""
    try:
        rows = _load(con, "marts.kpi_value", False)
    except duckdb.Error:
        return None
    if not rows:
        return None
    x = np.zeros(len(model.lb))
    for kpi, kommun, period, ptype, dim, val, num, den, _ in rows:
        kind = kpi_kind(kpi, kinds)
        if kind in (None, "kand"):
            continue
        for role, value in (("D", num if kind == "count" else den),
                            ("N", num if kind in ("share", "median") else None),
                            ("S", num if kind == "mean" else None)):
            i = model.index.get((set_name(kpi, role, kommun), kommun, period, ptype, dim, val))
            if i is not None and value is not None:
                x[i] = value
    _truth_binaries(model, x)
    return x


def _truth_binaries(model: _Model, x: np.ndarray) -> None:
    if not model.either_or:
        return
    touching: dict[int, list] = defaultdict(list)
    binaries = {b for group in model.either_or for b in group}
    for coefs, sense, rhs in model.cons.values():
        for b in binaries.intersection(coefs):
            touching[b].append((coefs, sense, rhs))
    for group in model.either_or:
        cons = [c for b in group for c in touching[b]]
        for values in itertools.product((0.0, 1.0), repeat=len(group)):
            x[list(group)] = values
            if all(_holds(c, x) for c in cons):
                break


def _holds(con, x) -> bool:
    coefs, sense, rhs = con
    s = sum(c * x[k] for k, c in coefs.items())
    return abs(s - rhs) <= EPS if sense == "eq" else s <= rhs + EPS


# ---- integrality: exact ranges by MILP (the hook of audit(exact=True)) ----

def _component_of(model: _Model, start: list[int]) -> tuple[list[int], list[tuple]]:
    """The variables and constraints connected to `start` (other components are independent)."""
    adj = getattr(model, "_adjacency", None)
    if adj is None or adj[0] != len(model.cons):
        by_var: dict[int, list] = defaultdict(list)
        for con in model.cons.values():
            for k in con[0]:
                by_var[k].append(con)
        adj = model._adjacency = (len(model.cons), by_var)
    by_var = adj[1]
    seen, todo, cons, seen_cons = set(start), list(start), [], set()
    while todo:
        for con in by_var.get(todo.pop(), ()):
            if id(con) in seen_cons:
                continue
            seen_cons.add(id(con))
            cons.append(con)
            for k in con[0]:
                if k not in seen:
                    seen.add(k)
                    todo.append(k)
    return sorted(seen), cons


def _milp(model: _Model, variables: list[int], cons: list[tuple], c: np.ndarray,
          time_limit: float):
    constraints = []
    if cons:
        constraints = [LinearConstraint(*audit_engine.relations(variables, cons))]
    return milp(c, integrality=np.array([model.integer[g] for g in variables], dtype=int),
                bounds=Bounds(np.array([model.lb[g] for g in variables]),
                              np.array([model.ub[g] for g in variables])),
                constraints=constraints, options={"time_limit": time_limit})


def exact_range(model: _Model, coefs: dict[int, float],
                time_limit: float = 60.0) -> tuple[float, float]:
    """(lo, hi): the minimum and maximum of sum(c * x) over the model's integer points (every
    variable flagged in model.integer a whole number), two MILPs (scipy.optimize.milp, HiGHS) over
    the target's connected component. Sound when a solve stops early: lo is then HiGHS's proved
    lower bound (hi likewise), so the range can only be wider than the exact one. (nan, nan):
    no integer point at all (the table contradicts the relations: inconclusive)."""
    variables, cons = _component_of(model, list(coefs))
    local = {g: i for i, g in enumerate(variables)}
    c = np.zeros(len(variables))
    for k, a in coefs.items():
        c[local[k]] = a
    out = []
    for sign in (1.0, -1.0):
        res = _milp(model, variables, cons, sign * c, time_limit)
        if res.status == 2:
            return math.nan, math.nan
        if res.status == 3 and sign < 0:
            out.append(math.inf)
            continue
        bound = getattr(res, "mip_dual_bound", None)
        if res.status == 0 and res.fun is not None:
            out.append(sign * res.fun)
        elif bound is not None and math.isfinite(bound):
            out.append(sign * bound)
        else:
            out.append(-math.inf if sign > 0 else math.inf)
    return out[0], out[1]


def refine_exact(model: _Model, targets: list[Target], time_limit: float = 60.0) -> int:
    """The integrality hook of audit(exact=True), run after the LP ranges are in the targets:
    returns the number of MILPs solved.

    Contract with the solving engine: the engine fills t.lo, t.hi (and t.exact) from the LP
    relaxation. A relaxation's range contains the integer range, so a target the LP pins stays
    pinned (or the table is inconsistent); but a feasible LP point that is not integral proves
    nothing about the integer range. So every target whose component has a constraint that is
    not a plain sum (a coefficient other than +-1: means, ratios) or a binary gets its range
    from integer points: in a component of up to SMALL_COMPONENT variables, two MILPs per target
    (exact_range); in a larger one, first two MILPs for the component (all its targets pushed
    down, then up), whose integer optima prove wide the targets that take two integers there
    (t.exact False), and exact_range for the others. The targets' lo, hi and exact are
    overwritten; a component without integer points leaves lo = hi = nan (inconclusive)."""
    sensitive = _integer_sensitive(model)
    groups: dict[int, list[Target]] = defaultdict(list)
    for t in targets:
        root = sensitive.get(next(iter(t.coefs)))
        if root is not None and t.solved:
            groups[root].append(t)
    return sum(_refine_group(model, ts, time_limit) for ts in groups.values())


SMALL_COMPONENT = 500


def _integer_sensitive(model: _Model) -> dict[int, int]:
    """variable -> a component id, for the components where integrality can change a range."""
    out: dict[int, int] = {}
    for coefs, _, _ in model.cons.values():
        if coefs.keys() & out.keys() or not (
                any(abs(a) != 1 for a in coefs.values())
                or any(model.ub[k] <= 1 and model.integer[k] and model.keys[k][0] == "EITHER"
                       for k in coefs)):
            continue
        variables, _ = _component_of(model, list(coefs))
        root = variables[0]
        out.update(dict.fromkeys(variables, root))
    return out


def _refine_group(model: _Model, ts: list[Target], time_limit: float) -> int:
    variables, cons = _component_of(model, list(ts[0].coefs))
    lo, hi = np.full(len(ts), np.inf), np.full(len(ts), -np.inf)
    n = 0
    if len(variables) > SMALL_COMPONENT:
        local = {g: i for i, g in enumerate(variables)}
        T = np.zeros((len(ts), len(variables)))
        for i, t in enumerate(ts):
            for k, a in t.coefs.items():
                T[i, local[k]] = a
        for sign in (1.0, -1.0):
            res = _milp(model, variables, cons, sign * T.sum(axis=0), time_limit)
            n += 1
            if res.status == 2:
                for t in ts:
                    t.lo = t.hi = math.nan
                return n
            if res.x is not None:
                vals = T @ np.round(res.x)
                lo, hi = np.minimum(lo, vals), np.maximum(hi, vals)
    for i, t in enumerate(ts):
        if hi[i] - lo[i] >= 1 - EPS and not t.force:
            t.lo, t.hi, t.exact = float(lo[i]), float(hi[i]), False  # two integer points
            continue
        t.lo, t.hi = exact_range(model, t.coefs, time_limit)
        t.exact = True
        n += 2
    return n


def _components(model: _Model):
    parent = list(range(len(model.lb)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for coefs, _, _ in model.cons.values():
        ks = list(coefs)
        ra = find(ks[0])
        for k in ks[1:]:
            rb = find(k)
            if rb != ra:
                parent[rb] = ra
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(parent)):
        groups[find(i)].append(i)
    cons: dict[int, list] = defaultdict(list)
    for coefs, sense, rhs in model.cons.values():
        cons[find(next(iter(coefs)))].append((coefs, sense, rhs))
    return [(vs, cons[root]) for root, vs in groups.items()], find


def audit(con, min_cell: int = 5, exact: bool = False, noise: int = NOISE, witnesses: int = 0,
          seed: int = 20261201, exact_sample: int = 0, workers: int | None = None,
          with_truth: bool = True) -> AuditResult:
    """Audit marts.kpi_published; with exact=True every target's range is the LP's own.

    with_truth: also measure against marts.kpi_value (the run leaves it to `utfall audit`).

    exact_sample: solve that many cells, drawn at random, exactly even when proved wide, to state
    the distribution of the exact widths without solving every cell.

    noise: the bound the intruder assumes on |d| (8 by the cell key method of metrics.md; 0
    audits a table of exact counts, the old suppression-only rule)."""
    start = time.perf_counter()
    workers = workers or min(2, os.cpu_count() or 1)
    model, targets, rows, present, kinds = build(con, min_cell, noise)
    seed_point = _truth(con, model, kinds)  # a feasible point, when the relations hold for it
    truth = seed_point if with_truth else None
    comps, find = _components(model)
    by_comp: dict[int, list[Target]] = defaultdict(list)
    for t in targets:
        by_comp[find(next(iter(t.coefs)))].append(t)
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(targets), min(exact_sample, len(targets)), replace=False):
        targets[i].force = True
    jobs = [(variables, cons, by_comp[find(variables[0])]) for variables, cons in comps
            if by_comp.get(find(variables[0]))]
    arrays = audit_engine.model_arrays(model)
    problems = [audit_engine.problem(model, variables, cons, ts, exact, [seed, i],
                                     truth is not None, seed_point, arrays)
                for i, (variables, cons, ts) in enumerate(jobs)]
    outcomes = audit_engine.solve_all(problems, workers)
    for (_, _, ts), ranges in zip(jobs, outcomes):
        _take(ts, ranges)
    exact_lps = sum(r.lps for r in outcomes)
    infeasible = sum(not r.feasible for r in outcomes)
    if exact:  # integrality: the integer ranges where a relaxation's need not be (refine_exact)
        exact_lps += refine_exact(model, targets)
    proved = sum(not t.exact and not t.pinned for t in targets if math.isfinite(t.lo))
    violations = _violations(model, truth) if truth is not None else []
    for t in targets:
        if truth is not None:
            t.truth = float(sum(c * truth[k] for k, c in t.coefs.items()))
    pinned = [t for t in targets if t.pinned]
    unsolved = sum(not t.solved for t in targets)
    finite = [t for t in targets if math.isfinite(t.lo) and math.isfinite(t.hi)]
    narrow = min(finite, key=lambda t: t.hi - t.lo, default=None)
    result = AuditResult(
        min_cell=min_cell, noise=noise, rows=len(rows),
        suppressed_rows=sum(bool(r[8]) for r in rows),
        variables=len(model.lb), constraints=len(model.cons), components=len(comps),
        largest_component=max((len(vs) for vs, _ in comps), default=0),
        cells_checked=len(targets), pinned=len(pinned),
        pinned_below_min_cell=sum(t.lo < min_cell - EPS for t in pinned),
        pinned_cells=[{"rows": t.rows, "lo": t.lo, "hi": t.hi, "published": t.published,
                       "truth": t.truth} for t in pinned],
        narrowest_width=None if narrow is None else narrow.hi - narrow.lo,
        narrowest_cell=None if narrow is None else narrow.rows[0],
        narrowest_exact=bool(narrow is not None and narrow.exact),
        narrowest_exact_width=min((t.hi - t.lo for t in finite if t.exact), default=None),
        sample_exact=sum(t.force for t in targets),
        sample_widths=sorted(t.hi - t.lo for t in targets if t.force and t.exact),
        cells=[{"rows": t.rows, "lo": t.lo, "hi": t.hi, "exact": t.exact,
                "published": t.published, "truth": t.truth, "estimate": t.estimate}
               for t in targets],
        exact_lps=exact_lps, proved_by_witness=proved, infeasible_components=infeasible,
        unsolved_cells=unsolved,
        seconds=0.0,
    )
    if truth is not None:
        _truth_stats(result, targets, min_cell, violations)
    result.seconds = time.perf_counter() - start
    return result


def _take(ts: list[Target], r: audit_engine.Ranges) -> None:
    """A component's ranges into its targets (an infeasible component: -inf..inf)."""
    for i, t in enumerate(ts):
        t.lo, t.hi = float(r.lo[i]), float(r.hi[i])
        t.outer_lo, t.outer_hi = float(r.outer_lo[i]), float(r.outer_hi[i])
        t.exact = bool(r.lo_exact[i] and r.hi_exact[i])
        if r.estimate is not None:
            t.estimate = float(r.estimate[i])


def _violations(model: _Model, x) -> list[str]:
    out = []
    names = {i: k for k, i in model.index.items()}
    for i in range(len(x)):
        if x[i] < model.lb[i] - EPS or x[i] > model.ub[i] + EPS:
            out.append(f"bound [{model.lb[i]:g}, {model.ub[i]:g}] of {names[i]}: true {x[i]:g}")
    for coefs, sense, rhs in model.cons.values():
        s = sum(c * x[k] for k, c in coefs.items())
        if (sense == "eq" and abs(s - rhs) > EPS) or (sense == "le" and s > rhs + EPS):
            terms = " ".join(f"{c:+g}*{names[k]}" for k, c in coefs.items())
            out.append(f"{terms} {'=' if sense == 'eq' else '<='} {rhs:g}: true {s:g}")
    return out


def _truth_stats(result: AuditResult, targets: list[Target], min_cell: int,
                 violations: list[str]) -> None:
    result.truth_available = True
    result.truth_violations = len(violations)
    result.truth_violation_examples = violations[:20]
    small = [t for t in targets if t.truth is not None and t.truth < min_cell - EPS
             and math.isfinite(t.lo)]
    result.true_small = len(small)
    result.true_small_pinned = sum(t.pinned for t in small)
    cells = [t for t in small if t.truth >= 1 - EPS and t.estimate is not None
             and not math.isnan(t.estimate)]
    result.intruder_cells = len(cells)
    if not cells:
        return
    hits = sum(round(t.estimate) == round(t.truth) for t in cells)
    middle = max(1, min_cell // 2)

    def guess(t):
        if t.published is None:
            return middle  # suppressed: nothing published, guess the middle of 1..min_cell-1
        return min(max(round(t.published), 1), min_cell - 1)

    result.intruder_hit_rate = hits / len(cells)
    result.guess_published_hit_rate = sum(guess(t) == round(t.truth) for t in cells) / len(cells)
    def uniform(lo, hi):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return 0.0
        return 1.0 / max(1, math.floor(hi + EPS) - math.ceil(lo - EPS) + 1)

    result.guess_uniform_hit_rate = float(np.mean([uniform(t.lo, t.hi) for t in cells]))
    result.guess_uniform_outer_hit_rate = float(np.mean(
        [uniform(t.outer_lo, t.outer_hi) for t in cells]))
