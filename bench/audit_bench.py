"""Benchmark of the disclosure audit alone (marts.audit.audit) on a built database.

    python -m synth.national --out build/bench/national-0.01 --scale 0.01 --seed 1
    python -m bench.audit_bench --inbox build/bench/national-0.01 --db build/bench/audit-0.01.duckdb
    python -m bench.audit_bench --db build/bench/audit-0.01.duckdb        # an existing database

With --inbox and no database at --db, the database is built first (utfall.run.run with the demo
key, the audit left out). Then `audit()` runs on it, cold (no cache), as the run calls it (without
the statistics against the exact table; --truth adds them, as `utfall audit` does), and prints
its time, the table's and the model's size and the outcome; --json writes the figures, --cells
each cell's verdict (pinned / wide / unsolved, one line a cell, in the audit's order: compare two
runs with `cmp`), and the CPU seconds of the audit and its workers are printed beside the wall
time (the machine is shared: CPU seconds are what a change to the engine is measured in).
--relax-integers drops the model's integrality (a measurement of the LP engine alone: its
ranges are then the LP relaxation's, not what the audit reports).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config" / "kommuner"


def build_db(inbox: Path, db_path: Path) -> float:
    from utfall import keys
    from utfall.run import run

    t0 = time.perf_counter()
    run(inbox, db_path, keys.demo(), CONFIG_DIR, write_report=False, audit=False)
    return time.perf_counter() - t0


def time_audit(db_path: Path, min_cell: int, workers: int | None, exact: bool, truth: bool,
               relax: bool, cells: Path | None = None) -> dict:
    from utfall.marts import audit_engine
    from utfall.marts.audit import audit

    if relax:
        plain = audit_engine.problem

        def relaxed(*args, **kwargs):
            p = plain(*args, **kwargs)
            p.integer[:] = False
            return p

        audit_engine.problem = relaxed
    with duckdb.connect(str(db_path), read_only=True) as con:
        t0, c0 = time.perf_counter(), _cpu_seconds()
        r = audit(con, min_cell, exact=exact, workers=workers, with_truth=truth)
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    if cells is not None:
        cells.write_text("".join(f"{_verdict(c)}\t{c['rows'][0]}\n" for c in r.cells),
                         encoding="utf-8")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "rows": r.rows,
            "variables": r.variables,
            "constraints": r.constraints, "components": r.components,
            "largest_component": r.largest_component, "cells_checked": r.cells_checked,
            "pinned": r.pinned, "exact_lps": r.exact_lps, "proved_by_witness": r.proved_by_witness,
            "unsolved": r.unsolved_cells, "infeasible": r.infeasible_components,
            "safe": r.safe, "peak_rss_gb": round(_peak_rss_gb(), 2),
            "load_average_after": os.getloadavg()}


def _cpu_seconds() -> float:
    """User and system CPU of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _verdict(cell: dict) -> str:
    """As marts.audit.Target: unsolved (no range), pinned (one integer), else wide."""
    lo, hi = cell["lo"], cell["hi"]
    if not (math.isfinite(lo) and not math.isnan(hi) and hi >= lo - 1e-6):
        return "unsolved"
    if not math.isinf(hi) and math.ceil(lo - 1e-6) >= math.floor(hi + 1e-6):
        return "pinned"
    return "wide"


def _peak_rss_gb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + kids) / 1024 / 1024  # kB; the children's is the largest child's


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--inbox", type=Path)
    ap.add_argument("--min-cell", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--exact", action="store_true", help="solve every target's range exactly")
    ap.add_argument("--truth", action="store_true", help="also the figures against the truth")
    ap.add_argument("--relax-integers", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cells", type=Path, help="write each cell's verdict here")
    args = ap.parse_args(argv)
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_average_before": os.getloadavg()}}
    if not args.db.exists():
        if args.inbox is None:
            ap.error(f"{args.db} does not exist: give --inbox to build it")
        out["build_seconds"] = round(build_db(args.inbox, args.db), 1)
    out["audit"] = time_audit(args.db, args.min_cell, args.workers, args.exact, args.truth,
                              args.relax_integers, args.cells)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
