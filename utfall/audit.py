"""An intruder's audit of the published KPI table (spec/privacy.md "Small cells").

The intruder knows the rules of metrics.md "Disclosure control": every published count p of a set
of units is max(0, x + d) with |d| <= 8, so the true size x lies in [p - 8, p + 8] (and x >= 1 when
p > 0, x <= 8 when p = 0); a suppressed row says p(D) < min_cell (a share: p(D) < 2 * min_cell);
a TOTAL row exists only where the exact table has at least one unit. Every relation a reader can
use between cells is a linear constraint on the true sizes of the unit sets (breakdowns and their
total, quarters and their year, municipalities and ALLA, KPIs sharing a cohort, subsets). The
narrowest range [lo, hi] of each small or suppressed count is the minimum and maximum of its
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

import json
import math
import os
import re
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
from scipy import sparse
from scipy.optimize import linprog

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
MEANS = {"FS_MAN_FORE_12", "FS_MAN_EFTER_12"}
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


def kpi_kind(kpi_id: str, unit: str | None = None) -> str | None:
    """count, mean, median, share, kand (derived from its neighbours) or None (no counts)."""
    if kpi_id.endswith(("_FORVANTAT", "_AVVIKELSE")):
        return None
    m = HORIZON_KPI.fullmatch(kpi_id)
    if m and m[1] == "ARB_STUD_KAND":
        return "kand"
    if kpi_id in ("AME_STARTADE", "AME_AVSLUTADE") or unit == "count":
        return "count"
    if kpi_id in MEANS:
        return "mean"
    if kpi_id == "FS_MEDIAN_MAN":
        return "median"  # D the curve's spells, N its observed exits; suppressed below min_cell
    return "share"


def set_name(kpi_id: str, role: str, kommun: str) -> str:
    """The unit set a KPI's D or N counts: KPIs counting the same units name the same set."""
    m = HORIZON_KPI.fullmatch(kpi_id)
    if m:
        return f"MATURE_{m[2]}" if role == "D" else f"{m[1]}_{m[2]}"
    if kpi_id == "AME_AVSLUTADE" or (kpi_id == "AME_AVSLUT_ARB_STUD" and role == "D"):
        return "AVSLUT"
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
    """The unit-set variables, their bounds and the linear relations between them."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}
        self.keys: list[tuple] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.cons: dict[tuple, tuple] = {}  # canonical key -> (coefs, sense, rhs)
        self.published: dict[int, float] = {}  # variable -> its published (uncapped) count

    def var(self, key: tuple) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.lb)
            self.keys.append(key)
            self.lb.append(0.0)
            self.ub.append(math.inf)
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


def _count_bounds(p: float, noise: int, capped: bool = False) -> tuple[float, float]:
    """The true size's range from a published count p (capped: p is min(p(N), p(D)) = p(D))."""
    if p <= 0:
        return 0.0, float(noise)
    return max(p - noise, 1.0), (math.inf if capped else p + noise)


def _load(con, table: str, with_suppressed: bool):
    cols = ("kpi_id, kommun_kod, period, period_type, dimension, dimension_value, numerator, "
            "denominator" + (", suppressed" if with_suppressed else ""))
    return con.execute(f"select {cols} from {table}").fetchall()


def build(con, min_cell: int = 5, noise: int = NOISE):
    """The model, the targets and the published rows of marts.kpi_published."""
    try:
        rows = _load(con, "marts.kpi_published", True)
    except duckdb.Error as exc:
        raise AuditError(f"no published table to audit: {exc}") from None
    try:
        units = dict(con.execute("select kpi_id, unit from marts.kpi").fetchall())
    except duckdb.Error:
        units = {}
    model = _Model()
    present: dict[tuple, tuple] = {}
    for r in rows:
        kind = kpi_kind(r[0], units.get(r[0]))
        if kind is not None:
            present[r[:6]] = (kind, r)

    def v(kpi, role, kommun, period, ptype, dim, val):
        if (kpi, kommun, period, ptype, dim, val) not in present:
            return None
        return model.var((set_name(kpi, role, kommun), kommun, period, ptype, dim, val))

    kinds = {k[0]: kind for k, (kind, _) in present.items()}
    roles = {kpi: (("D",) if kind in ("count", "mean") else ("D", "N"))
             for kpi, kind in kinds.items() if kind != "kand"}
    targets: dict[tuple, Target] = {}

    def target(coefs, label, published):
        key = tuple(sorted(coefs.items()))
        t = targets.get(key)
        if t is None:
            targets[key] = Target([label], dict(coefs), published)
        else:
            t.rows.append(label)

    # bounds from each published row, and the targets
    for key, (kind, r) in present.items():
        kpi, kommun, period, ptype, dim, val, num, den, suppressed = r
        label = f"{kpi} {kommun} {period} {dim}={val}"
        if kind == "kand":
            d_arb = v(kpi.replace("_KAND_", "_"), "D", *key[1:])
            n_okand = v(kpi.replace("AME_ARB_STUD_KAND_", "AME_OKAND_"), "N", *key[1:])
            if d_arb is None or n_okand is None:
                continue
            coefs = {d_arb: 1.0, n_okand: -1.0}
            if dim == "TOTAL":
                model.add({d_arb: -1.0, n_okand: 1.0}, "le", -1.0)  # the exact row has a unit
            if suppressed or (den is not None and den < min_cell + noise):
                target(coefs, label + " D", None if suppressed else den)
            continue
        d = v(*key[:1], "D", *key[1:])
        n = v(*key[:1], "N", *key[1:]) if "N" in roles[kpi] else None
        if n is not None:
            model.add({n: 1.0, d: -1.0}, "le")  # N is a subset of D
        if dim == "TOTAL":
            model.bound(d, lo=1.0)
        if suppressed:
            limit = 2 * min_cell if kind == "share" else min_cell
            model.bound(d, hi=limit - 1 + noise)
            target({d: 1.0}, label + " D", None)
            if n is not None:
                target({n: 1.0}, label + " N", None)  # at most D: small too
            continue
        p_d = num if kind == "count" else den
        if p_d is None:
            continue
        model.bound(d, *_count_bounds(p_d, noise))
        model.published[d] = p_d
        if p_d < min_cell + noise:
            target({d: 1.0}, label + " D", p_d)
        if n is not None and num is not None:
            model.bound(n, *_count_bounds(num, noise, capped=num >= p_d))
            if num < p_d:
                model.published[n] = num
            if num < min_cell + noise:  # num = p(D) says only p(N) >= p(D)
                target({n: 1.0}, label + " N", num if num < p_d else None)

    # relations
    by_cell: dict[tuple, list] = defaultdict(list)  # (kpi, kommun, period, ptype, dim) -> values
    alla_members: dict[tuple, list] = defaultdict(list)  # (kpi, period, ptype, dim, val) -> kommuner
    quarters: dict[tuple, list] = defaultdict(list)  # (kpi, kommun, year) -> quarter periods
    for key in present:
        kpi, kommun, period, ptype, dim, val = key
        if kinds[kpi] == "kand":
            continue
        by_cell[key[:5]].append(val)
        alla_members[(kpi, period, ptype, dim, val)].append(kommun)
        if ptype == "QUARTER" and dim == "TOTAL":
            quarters[(kpi, kommun, period[:4])].append(period)
    for (kpi, kommun, period, ptype, dim), values in by_cell.items():
        if dim == "TOTAL" or ptype != "YEAR":
            continue
        for role in roles[kpi]:
            total = v(kpi, role, kommun, period, ptype, "TOTAL", "ALLA")
            if total is None:
                continue
            coefs = defaultdict(float)
            for val in values:
                coefs[v(kpi, role, kommun, period, ptype, dim, val)] += 1.0
            coefs[total] -= 1.0
            complete = dim in PARTITIONS and set(PARTITIONS[dim]) <= set(values)
            model.add(coefs, "eq" if complete else "le")
    for (kpi, kommun, year), periods in quarters.items():
        for role in roles[kpi]:
            total = v(kpi, role, kommun, year, "YEAR", "TOTAL", "ALLA")
            if total is None:
                continue
            coefs = defaultdict(float)
            for q in periods:
                coefs[v(kpi, role, kommun, q, "QUARTER", "TOTAL", "ALLA")] += 1.0
            coefs[total] -= 1.0
            model.add(coefs, "eq")  # a quarter without a row has no units
    for (kpi, period, ptype, dim, val), kommuner in alla_members.items():
        if "ALLA" not in kommuner or len(kommuner) < 2:
            continue
        parts = [k for k in kommuner if k != "ALLA"]
        for role in roles[kpi]:
            alla = v(kpi, role, "ALLA", period, ptype, dim, val)
            members = [v(kpi, role, k, period, ptype, dim, val) for k in parts]
            coefs = defaultdict(float)
            for m in members:
                coefs[m] += 1.0
            coefs[alla] -= 1.0
            if _spell_based(kpi):
                model.add(coefs, "eq")
            elif kpi in FS_POPULATION_KPIS:
                model.add({k: -c for k, c in coefs.items()}, "le")  # ALLA <= the sum
                for m in members:
                    if m != alla:
                        model.add({m: 1.0, alla: -1.0}, "le")  # each municipality <= ALLA
    # across KPIs, cell by cell
    for key in present:
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
    for small, big in SUBSETS:
        for key in present:
            if key[0] != small:
                continue
            a, b = v(small, "D", *key[1:]), v(big, "D", *key[1:])
            if a is not None and b is not None and a != b:
                model.add({a: 1.0, b: -1.0}, "le")
    return model, list(targets.values()), rows, present, units


def _truth(con, model: _Model, units: dict) -> np.ndarray | None:
    """The true size of every set from marts.kpi_value (absent: 0); None without it."""
    try:
        rows = _load(con, "marts.kpi_value", False)
    except duckdb.Error:
        return None
    if not rows:
        return None
    x = np.zeros(len(model.lb))
    for kpi, kommun, period, ptype, dim, val, num, den in rows:
        kind = kpi_kind(kpi, units.get(kpi))
        if kind in (None, "kand"):
            continue
        for role, value in (("D", num if kind == "count" else den),
                            ("N", num if kind in ("share", "median") else None)):
            i = model.index.get((set_name(kpi, role, kommun), kommun, period, ptype, dim, val))
            if i is not None and value is not None:
                x[i] = value
    return x


class _Component:
    def __init__(self, variables, cons, model):
        self.vars = np.array(variables)
        local = {g: i for i, g in enumerate(variables)}
        ub_rows, eq_rows = [], []
        for coefs, sense, rhs in cons:
            (eq_rows if sense == "eq" else ub_rows).append(
                ({local[k]: c for k, c in coefs.items()}, rhs))
        self.n = len(variables)
        self.A_ub, self.b_ub = self._matrix(ub_rows)
        self.A_eq, self.b_eq = self._matrix(eq_rows)
        self.bounds = np.array([(model.lb[g], None if math.isinf(model.ub[g]) else model.ub[g])
                                for g in variables], dtype=object)
        self.local = local
        by_set: dict[str, list[int]] = defaultdict(list)
        for i, g in enumerate(variables):
            by_set[model.keys[g][0]].append(i)
        self.blocks = [np.array(b) for b in by_set.values()]  # one unit-set name each
        self.A_ub_csc = None if self.A_ub is None else self.A_ub.tocsc()
        self.A_eq_csc = None if self.A_eq is None else self.A_eq.tocsc()

    def block_solve(self, J, c, x0):
        """Minimise c over the variables J with every other variable fixed at the feasible x0:
        a smaller LP whose solutions, completed by x0, satisfy every constraint."""
        parts = {}
        for name, A, A_csc, b in (("ub", self.A_ub, self.A_ub_csc, self.b_ub),
                                  ("eq", self.A_eq, self.A_eq_csc, self.b_eq)):
            if A is None:
                parts[name] = (None, None)
                continue
            AJ = A_csc[:, J]
            rows = np.unique(AJ.tocoo().row)
            if len(rows) == 0:
                parts[name] = (None, None)
                continue
            AJr = AJ.tocsr()[rows, :]
            rhs = b[rows] - (A @ x0)[rows] + AJr @ x0[J]
            parts[name] = (AJr, rhs)
        (A_ub, b_ub), (A_eq, b_eq) = parts["ub"], parts["eq"]
        return linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                       bounds=list(self.bounds[J]), method="highs")

    def _matrix(self, rows):
        if not rows:
            return None, None
        r, c, d = [], [], []
        for i, (coefs, _) in enumerate(rows):
            for k, val in coefs.items():
                r.append(i)
                c.append(k)
                d.append(val)
        return (sparse.csr_array((d, (r, c)), shape=(len(rows), self.n)),
                np.array([rhs for _, rhs in rows], dtype=float))

    def solve(self, c, extra_ub=None, extra_b=None, bounds=None, n=None):
        n = n or self.n
        A_ub, b_ub, A_eq = self.A_ub, self.b_ub, self.A_eq
        if n != self.n:  # extra columns
            pad = lambda A: None if A is None else sparse.hstack(  # noqa: E731
                [A, sparse.csr_array((A.shape[0], n - self.n))]).tocsr()
            A_ub, A_eq = pad(A_ub), pad(A_eq)
        if extra_ub is not None:
            A_ub = extra_ub if A_ub is None else sparse.vstack([A_ub, extra_ub]).tocsr()
            b_ub = extra_b if b_ub is None else np.concatenate([b_ub, extra_b])
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=self.b_eq,
                      bounds=list(self.bounds) if bounds is None else bounds, method="highs")
        return res


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


def _solve_component(comp: _Component, ts: list[Target], model: _Model, exact: bool, rng,
                     witnesses: int, rounds: int = 8) -> tuple[int, bool]:
    """Each target's range in one component: (LPs solved for single targets, feasible)."""
    T = _target_matrix(comp, ts)
    outer_lo = np.array([sum(c * (model.lb[k] if c > 0 else model.ub[k])
                             for k, c in t.coefs.items()) for t in ts])
    outer_hi = np.array([sum(c * (model.ub[k] if c > 0 else model.lb[k])
                             for k, c in t.coefs.items()) for t in ts])
    lo = np.full(len(ts), np.inf)
    hi = np.full(len(ts), -np.inf)
    lo_exact = np.zeros(len(ts), bool)
    hi_exact = np.zeros(len(ts), bool)

    def seen(x):  # a feasible point: every target's range holds its value there
        vals = T @ x
        np.minimum(lo, vals, out=lo)
        np.maximum(hi, vals, out=hi)

    objectives = [T.sum(axis=0), -T.sum(axis=0)]
    objectives += [rng.uniform(-1, 1, len(ts)) @ T for _ in range(witnesses // 2)]
    objectives += [rng.uniform(-1, 1, comp.n) for _ in range(witnesses - witnesses // 2)]
    bases = []
    for c in objectives:
        res = comp.solve(np.asarray(c, dtype=float).ravel())
        if res.status == 2:
            for t in ts:
                t.lo, t.hi = -math.inf, math.inf
            return 0, False
        if res.status == 0:
            seen(res.x)
            bases.append(res.x)
    def unproven():
        return np.flatnonzero(np.floor(hi + EPS) - np.ceil(lo - EPS) < 1)

    # one unit set at a time, every other variable held at a feasible point: small LPs whose
    # points are feasible for the whole component
    Tc = T.tocsc()
    # a convex combination of feasible points is feasible, and more central than either vertex
    for x0 in ([sum(bases) / len(bases)] if bases else []):
        for J in comp.blocks:
            todo = unproven()
            if len(todo) == 0:
                break
            TJ = Tc[:, J].tocsr()[todo, :]
            hit = np.flatnonzero(np.diff(TJ.indptr))
            if len(hit) == 0:
                continue
            weights = rng.uniform(0.5, 1.5, len(hit))
            for sign in (1.0, -1.0):
                res = comp.block_solve(J, sign * (weights @ TJ[hit, :]), x0)
                if res.status == 0:
                    x = x0.copy()
                    x[J] = res.x
                    seen(x)
    # then the targets not yet proved wide pushed to their extremes all at once, a few rounds
    for _ in range(rounds):
        todo = unproven()
        if len(todo) <= 2:
            break
        before = len(todo)
        # random directions: targets tied by a sum are pushed apart, not against each other
        weights = rng.uniform(0.5, 1.5, len(todo)) * rng.choice([-1.0, 1.0], len(todo))
        for sign in (1.0, -1.0):
            res = comp.solve(sign * (weights @ T[todo, :]))
            if res.status == 0:
                seen(res.x)
        if len(unproven()) >= before:
            break
    # a feasible value at the outer bound from the variables' own bounds is the LP's extreme
    lo_exact |= lo <= outer_lo + EPS
    hi_exact |= hi >= outer_hi - EPS
    n_lps = 0
    for i in range(len(ts)):
        wide = math.floor(hi[i] + EPS) - math.ceil(lo[i] - EPS) >= 1
        if wide and not (exact or ts[i].force):
            continue  # two integers are feasible: it cannot be pinned
        row = T[[i], :].toarray().ravel()
        for sign, done, arr in ((1.0, lo_exact, lo), (-1.0, hi_exact, hi)):
            if done[i]:
                continue
            res = comp.solve(sign * row)
            n_lps += 1
            if res.status == 0:
                seen(res.x)
                arr[i] = sign * res.fun
                done[i] = True
            elif res.status == 3 and sign < 0:  # unbounded above
                hi[i], hi_exact[i] = math.inf, True
    for i, t in enumerate(ts):
        t.lo, t.hi = float(lo[i]), float(hi[i])
        t.outer_lo, t.outer_hi = float(outer_lo[i]), float(outer_hi[i])
        t.exact = bool(lo_exact[i] and hi_exact[i])
    return n_lps, True


def _target_matrix(comp: _Component, ts: list[Target]):
    return sparse.csr_array(
        ([c for t in ts for c in t.coefs.values()],
         ([i for i, t in enumerate(ts) for _ in t.coefs],
          [comp.local[k] for t in ts for k in t.coefs])), shape=(len(ts), comp.n))



def audit(con, min_cell: int = 5, exact: bool = False, noise: int = NOISE, witnesses: int = 0,
          seed: int = 20261201, exact_sample: int = 0, workers: int | None = None) -> AuditResult:
    """Audit marts.kpi_published; with exact=True every target's range is the LP's own.

    exact_sample: solve that many cells, drawn at random, exactly even when proved wide, to state
    the distribution of the exact widths without solving every cell.

    noise: the bound the intruder assumes on |d| (8 by the cell key method of metrics.md; 0
    audits a table of exact counts, the old suppression-only rule)."""
    start = time.perf_counter()
    workers = workers or min(2, os.cpu_count() or 1)
    model, targets, rows, present, units = build(con, min_cell, noise)
    truth = _truth(con, model, units)
    comps, find = _components(model)
    by_comp: dict[int, list[Target]] = defaultdict(list)
    for t in targets:
        by_comp[find(next(iter(t.coefs)))].append(t)
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(targets), min(exact_sample, len(targets)), replace=False):
        targets[i].force = True
    jobs = [(variables, cons, by_comp[find(variables[0])]) for variables, cons in comps
            if by_comp.get(find(variables[0]))]
    jobs.sort(key=lambda job: -len(job[0]))  # the largest first: two workers end together

    def run(job_seed):
        (variables, cons, ts), job_rng = job_seed
        comp = _Component(variables, cons, model)
        n_lps, ok = _solve_component(comp, ts, model, exact, job_rng, witnesses)
        if ok and truth is not None:
            _intruder(comp, ts, model)
        return n_lps, ok

    # HiGHS runs outside the GIL for the most part: components in threads, a stream each
    streams = [np.random.default_rng([seed, i]) for i in range(len(jobs))]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        outcomes = list(pool.map(run, zip(jobs, streams)))
    exact_lps = sum(n for n, _ in outcomes)
    infeasible = sum(not ok for _, ok in outcomes)
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


def _intruder(comp: _Component, ts: list[Target], model: _Model) -> None:
    """The L1 intruder: x minimising sum |x_i - p_i| over the published counts, same constraints."""
    terms = [(j, model.published[g]) for j, g in enumerate(comp.vars) if g in model.published]
    m = len(terms)
    if m == 0:
        x = np.zeros(comp.n)
    else:
        n = comp.n + m
        r, c, d, b = [], [], [], []
        for k, (j, p) in enumerate(terms):
            # x_j - t_k <= p ; -x_j - t_k <= -p
            r += [2 * k, 2 * k, 2 * k + 1, 2 * k + 1]
            c += [j, comp.n + k, j, comp.n + k]
            d += [1.0, -1.0, -1.0, -1.0]
            b += [p, -p]
        extra = sparse.csr_array((d, (r, c)), shape=(2 * m, n))
        cost = np.concatenate([np.zeros(comp.n), np.ones(m)])
        bounds = list(comp.bounds) + [(0, None)] * m
        res = comp.solve(cost, extra, np.array(b), bounds=bounds, n=n)
        x = res.x[: comp.n] if res.status == 0 else np.full(comp.n, np.nan)
    est = _target_matrix(comp, ts) @ x
    for i, t in enumerate(ts):
        t.estimate = float(est[i])


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
