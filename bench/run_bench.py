"""Benchmark of a full build, an incremental build and the pandas baseline on one inbox.

    python -m synth.national --out /tmp/national --scale 0.1 --seed 1
    python -m bench.run_bench --inbox /tmp/national --work /tmp/bench-work --pandas

1. Full build from an empty database: `utfall.run.run` with the demo key (called directly: the
   CLI refuses the demo key outside data/sample). Per stage (ingest, split by source system from
   the time spent on each file; core; marts; report): wall time, rows per second, peak RSS.
2. The pandas baseline (bench/pandas_kpis.compute on the same core), in a child process so that
   its memory is its own, timed against the marts stage.
3. Incremental build: one municipality delivers one new month (2025-01, written into the inbox by
   synth.national.write_extra_month), and the same database is built again.

Prints a table and writes the figures as JSON (default <work>/bench-result.json). Before the full
build, any new-month file an earlier benchmark left in the inbox is removed, so runs repeat.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import threading
import time
from datetime import date
from pathlib import Path

import duckdb

from synth import national
from utfall import keys, transform
from utfall.run import run

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config" / "kommuner"
PAGE = os.sysconf("SC_PAGE_SIZE")
STAGES = ("ingest", "core", "quality", "marts", "report")  # as utfall.run records them
TARGETS = {"full_build_seconds": 600, "peak_rss_gb": 6.0, "marts_speedup": 10.0,
           "incremental_share": 0.05}
STAGING = ("procapita_fs_line", "procapita_household_member", "procapita_insats",
           "excel_participant", "excel_status", "skapa_assessment")
CORE = ("person", "insats_episode", "fs_month", "fs_coverage", "status_observation",
        "progression_assessment")


# --- memory ---------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's RSS plus its children's: ingest reads files in worker processes."""
    return sum(rss for rss, _ in _family().values())


def _family() -> dict[int, tuple[int, float]]:
    me = os.getpid()
    family = {me: _stat(me)}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != me:
            stat = _stat(int(entry.name), parent=me)
            if stat is not None:
                family[int(entry.name)] = stat
    return {pid: stat for pid, stat in family.items() if stat is not None}


TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int, parent: int | None = None) -> tuple[int, float] | None:
    """(RSS bytes, CPU seconds) of a process; None if it is gone or not a child of `parent`."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if parent is not None and int(fields[1]) != parent:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return int(fields[21]) * PAGE, cpu


def peak_rss_bytes() -> int:
    """VmHWM: the process's resident high-water mark so far."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class RssSampler:
    """Samples this process's RSS every `interval` seconds in a background thread."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self._cpu_seen: dict[int, float] = {}  # pid -> CPU seconds when last seen (workers end)
        self.samples: list[tuple[float, int, float]] = []  # wall clock, RSS, process CPU
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            family = _family()
            self._cpu_seen.update({pid: cpu for pid, (_, cpu) in family.items()})
            self.samples.append((time.perf_counter(), sum(r for r, _ in family.values()),
                                 sum(self._cpu_seen.values())))
            self._stop.wait(self.interval)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss, _ in self.samples if start <= t <= end]
        return max(inside, default=0)

    def cpu(self, start: float, end: float) -> float:
        """Process CPU seconds (all threads) between two wall-clock times, to a sample."""
        return self._cpu_at(end) - self._cpu_at(start)

    def _cpu_at(self, moment: float) -> float:
        before = [cpu for t, _, cpu in self.samples if t <= moment]
        return before[-1] if before else (self.samples[0][2] if self.samples else 0.0)


# --- one build ------------------------------------------------------------------------------------


class IngestWindow:
    """A `progress` wrapper for utfall.run: when ingest started and ended."""

    def __init__(self):
        self.started = self.ended = 0.0

    def __call__(self, paths):
        self.started = time.perf_counter()
        yield from paths
        self.ended = time.perf_counter()


def build(inbox: Path, db_path: Path, write_report: bool) -> dict:
    """One run of utfall.run.run; wall time, rows and peak RSS per stage."""
    timer = IngestWindow()
    with RssSampler() as sampler:
        t0 = time.perf_counter()
        # the disclosure audit has its own benchmark (bench/audit_bench.py)
        summary = run(inbox, db_path, keys.demo(), CONFIG_DIR, progress=timer,
                      write_report=write_report, audit=False)
        t1 = time.perf_counter()
    windows = _stage_windows(timer, summary.seconds, t0, t1)
    rows = _rows(db_path, summary)
    stages = {}
    for stage, (start, end) in windows.items():
        seconds = summary.seconds[stage]
        stages[stage] = {"seconds": seconds, "rows_in": rows.get(stage, 0),
                         "rows_per_second": rows.get(stage, 0) / seconds if seconds > 0.01 else None,
                         "cpu_seconds": sampler.cpu(start, end),
                         "peak_rss_bytes": sampler.peak(start, end)}
    return {
        "seconds": t1 - t0, "stages": stages, "ingest_by_system": _by_system(summary),
        "peak_rss_bytes": sampler.peak(t0, t1), "cpu_seconds": sampler.cpu(t0, t1),
        "load_average_after": os.getloadavg(), "as_of": summary.as_of.isoformat(),
        "kpi_rows": summary.kpi_rows, "rows": rows["tables"],
        "files": {status: summary.ingest.count(status)
                  for status in ("LOADED", "REJECTED", "DUPLICATE", "UNCHANGED")},
        "rows_quarantined": summary.ingest.total("rows_quarantined"),
    }


def _stage_windows(timer: IngestWindow, seconds: dict, t0: float, t1: float) -> dict:
    """When each stage ran (run() records only durations, in order): ingest from the progress wrapper,
    the stages after it back to back, the report at the very end."""
    windows = {"ingest": (timer.started or t0, timer.ended or t0)}
    clock = timer.ended or t0
    for stage, took in seconds.items():
        if stage in ("ingest", "report"):
            continue
        windows[stage] = (clock, clock + took)
        clock += took
    windows["report"] = (t1 - seconds.get("report", 0.0), t1)
    return windows


def _by_system(summary) -> dict:
    """Per source system: files, lines and the adapters' own wall and CPU time. Files are read in
    parallel processes, so these seconds add up to more than the ingest stage's wall time."""
    out: dict[str, dict] = {}
    for outcome in summary.ingest.files:
        if outcome.system is None or outcome.status != "LOADED":
            continue
        entry = out.setdefault(outcome.system, {"files": 0, "seconds": 0.0, "cpu_seconds": 0.0,
                                                "rows_read": 0})
        entry["files"] += 1
        entry["seconds"] += outcome.read_seconds
        entry["cpu_seconds"] += outcome.read_cpu_seconds
        entry["rows_read"] += outcome.rows_read
    for entry in out.values():
        entry["rows_per_second"] = entry["rows_read"] / entry["seconds"] if entry["seconds"] else None
    return out


def _rows(db_path: Path, summary) -> dict:
    """Rows in per stage: lines read (ingest), staging rows (core), core rows (quality, marts),
    KPI rows (report); and every table's row count."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        tables = {f"staging.{t}": _count(con, f"staging.{t}") for t in STAGING}
        tables |= {f"core.{t}": _count(con, f"core.{t}") for t in CORE}
        tables["marts.participation_spell"] = _count(con, "marts.participation_spell")
        tables["marts.kpi_value"] = _count(con, "marts.kpi_value")
    return {
        "ingest": summary.ingest.total("rows_read"),
        "core": sum(n for t, n in tables.items() if t.startswith("staging.")),
        "quality": sum(n for t, n in tables.items() if t.startswith("core.")),
        "marts": sum(n for t, n in tables.items() if t.startswith("core.")),
        "report": tables["marts.kpi_value"],
        "tables": tables,
    }


def _count(con, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchone()[0]


# --- the pandas baseline --------------------------------------------------------------------------


def _pandas_child(db_path: str, as_of: str, min_cell: int, queue) -> None:
    from bench import pandas_kpis

    t0 = time.perf_counter()
    with duckdb.connect(db_path, read_only=True) as con:
        core = pandas_kpis.load_core(con)
    t1, c1 = time.perf_counter(), time.process_time()
    result, _ = pandas_kpis.compute_both(core, date.fromisoformat(as_of), min_cell)
    t2, c2 = time.perf_counter(), time.process_time()
    queue.put({"load_seconds": t1 - t0, "compute_seconds": t2 - t1, "compute_cpu_seconds": c2 - c1,
               "kpi_rows": len(result), "peak_rss_bytes": peak_rss_bytes()})


def pandas_baseline(db_path: Path, as_of: str, timeout: float | None) -> dict:
    """bench/pandas_kpis.compute on the built core, in a child process (its own memory)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_pandas_child,
                        args=(str(db_path), as_of, transform.DEFAULT_MIN_CELL, queue))
    t0 = time.perf_counter()
    child.start()
    try:
        result = queue.get(timeout=timeout)
    except Exception:  # noqa: BLE001 - timed out, or the child died without a result
        result = {"timed_out_after_seconds": time.perf_counter() - t0,
                  "exitcode": child.exitcode}
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()
    return result


# --- the incremental delivery ---------------------------------------------------------------------


def remove_extra_months(inbox: Path) -> list[Path]:
    """New-month files (2025) that an earlier benchmark wrote: the full build runs without them."""
    found = [p for p in inbox.glob("*/procapita/*")
             if p.name.startswith(("utbetalningar_2025", "ekbistand_2025"))]
    for path in found:
        path.unlink()
    return found


# --- report ---------------------------------------------------------------------------------------


def machine() -> dict:
    with open("/proc/meminfo") as fh:
        mem_kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    import numpy
    import pandas
    import pyarrow

    return {"nproc": os.cpu_count(), "ram_gb": round(mem_kb / 1024**2, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "numpy": numpy.__version__, "platform": platform.platform()}


def _gb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024**3:.2f}"


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def table(result: dict) -> str:
    full = result["full"]
    lines = [f"inbox {result['inbox']}  ({_inbox_line(result)})",
             f"machine: {result['machine']['nproc']} cores, {result['machine']['ram_gb']} GB RAM, "
             f"Python {result['machine']['python']}, duckdb {result['machine']['duckdb']}", "",
             f"load average after the full build: {_load(full)}", "",
             f"{'full build':<22}{'seconds':>10}{'CPU s':>9}{'rows in':>14}{'rows/s':>12}"
             f"{'peak RSS GB':>13}"]
    for stage, s in full["stages"].items():
        lines.append(f"  {stage:<20}{s['seconds']:>10.1f}{s['cpu_seconds']:>9.1f}"
                     f"{s['rows_in']:>14,}{_rate(s['rows_per_second']):>12}"
                     f"{_gb(s['peak_rss_bytes']):>13}")
        if stage == "ingest":
            for system, e in sorted(full["ingest_by_system"].items()):
                lines.append(f"    {system:<18}{e['seconds']:>10.1f}{e['cpu_seconds']:>9.1f}"
                             f"{e['rows_read']:>14,}{_rate(e['rows_per_second']):>12}"
                             f"{'':>13}  {e['files']:,} files (adapter time in workers)")
    other = full["seconds"] - sum(s["seconds"] for s in full["stages"].values())
    lines.append(f"  {'other (db copy, swap)':<20}{other:>10.1f}")
    lines.append(f"  {'total':<20}{full['seconds']:>10.1f}{full['cpu_seconds']:>9.1f}{'':>14}"
                 f"{'':>12}{_gb(full['peak_rss_bytes']):>13}")
    if "incremental" in result:
        inc = result["incremental"]
        lines += ["", f"incremental: kommun {inc['kommun']} delivers one new month "
                      f"({inc['new_lines']:,} lines): {inc['seconds']:.1f} s = "
                      f"{inc['share_of_full']:.1%} of the full build",
                  "  " + ", ".join(f"{stage} {s['seconds']:.1f}" for stage, s in inc["stages"].items())
                  + f", other {inc['seconds'] - sum(s['seconds'] for s in inc['stages'].values()):.1f} s"]
    if "pandas" in result:
        lines += ["", _pandas_line(result["pandas"], result["pandas"]["marts_seconds"])]
    lines += ["", "targets:"] + [f"  {t}" for t in result["targets"]]
    return "\n".join(lines)


def _load(build_result: dict) -> str:
    return ", ".join(f"{x:.1f}" for x in build_result["load_average_after"])


def _inbox_line(result: dict) -> str:
    t = result.get("inbox_totals") or {}
    if not t:
        return "no manifest"
    return (f"scale {result.get('scale')}, {t['files']:,} files, {t['bytes'] / 1e9:.2f} GB, "
            f"{t['fs_lines']:,} payment lines, {t['episodes']:,} insats episodes")


def _pandas_line(p: dict, marts_seconds: float) -> str:
    if "compute_seconds" not in p:
        return (f"pandas baseline: no result after {p['timed_out_after_seconds']:.0f} s "
                f"(marts stage {marts_seconds:.1f} s): ratio > {p['ratio']:.1f}x")
    return (f"pandas baseline: compute {p['compute_seconds']:.1f} s "
            f"(CPU {p.get('compute_cpu_seconds', float('nan')):.1f} s; + load_core "
            f"{p['load_seconds']:.1f} s), peak RSS {_gb(p['peak_rss_bytes'])} GB, "
            f"{p['kpi_rows']:,} KPI rows; marts stage {marts_seconds:.1f} s: "
            f"marts is {p['ratio']:.1f}x faster")


def verdicts(result: dict) -> list[str]:
    full = result["full"]
    out = [_verdict("full build < 10 min", full["seconds"], TARGETS["full_build_seconds"],
                    f"{full['seconds']:.0f} s"),
           _verdict("peak RSS < 6 GB", full["peak_rss_bytes"] / 1024**3, TARGETS["peak_rss_gb"],
                    f"{_gb(full['peak_rss_bytes'])} GB")]
    if "pandas" in result:
        ratio = result["pandas"]["ratio"]
        bound = "compute_seconds" not in result["pandas"]  # timed out: a lower bound only
        met = ratio >= TARGETS["marts_speedup"]
        word = "MET" if met else ("UNDECIDED (pandas timed out)" if bound else "NOT MET")
        out.append(f"{word}: marts >= 10x faster than pandas ({'>' if bound else ''}{ratio:.1f}x)")
    if "incremental" in result:
        share = result["incremental"]["share_of_full"]
        out.append(_verdict("incremental month <= 5 % of full build", share,
                            TARGETS["incremental_share"], f"{share:.1%}", inclusive=True))
    return out


def _verdict(name: str, value: float, limit: float, shown: str, inclusive: bool = False) -> str:
    met = value <= limit if inclusive else value < limit
    return f"{'MET' if met else 'NOT MET'}: {name} ({shown})"


# --- main -----------------------------------------------------------------------------------------


def benchmark(inbox: Path, work: Path, with_pandas: bool, pandas_timeout: float | None,
              kommun: str | None, incremental: bool, write_report: bool,
              out: Path | None = None) -> dict:
    """Full build, then the incremental one, then pandas; the result so far is saved to `out`
    after each, so a long run that is stopped still leaves its figures."""
    work.mkdir(parents=True, exist_ok=True)
    save = (lambda r: out.write_text(json.dumps(r, indent=1, default=str), encoding="utf-8")) \
        if out else (lambda r: None)
    db_path = work / "utfall.duckdb"
    for stale in (db_path, db_path.with_name(db_path.stem + "-rapport.html")):
        stale.unlink(missing_ok=True)
    remove_extra_months(inbox)
    result = {"inbox": str(inbox), "machine": machine(), "load_average_before": os.getloadavg(),
              **_manifest_summary(inbox)}
    result["full"] = build(inbox, db_path, write_report)
    _progress(f"full build {result['full']['seconds']:.1f} s")
    save(result)
    if incremental:
        result["incremental"] = _incremental(inbox, db_path, kommun, write_report, result["full"])
        _progress(f"incremental build {result['incremental']['seconds']:.1f} s")
        save(result)
    if with_pandas:  # on the core the latest build left, against that build's marts stage
        latest = result.get("incremental") or result["full"]
        result["pandas"] = pandas_baseline(db_path, latest["as_of"], pandas_timeout)
        _add_ratio(result, latest)
        _progress("pandas baseline done")
    result["targets"] = verdicts(result)
    return result


def pandas_only(work: Path, result_file: Path, timeout: float | None) -> dict:
    """The pandas baseline added to an earlier result (whose database is still in `work`)."""
    result = json.loads(result_file.read_text(encoding="utf-8"))
    latest = result.get("incremental") or result["full"]
    result["pandas"] = pandas_baseline(work / "utfall.duckdb", latest["as_of"], timeout)
    _add_ratio(result, latest)
    result["targets"] = verdicts(result)
    return result


def _incremental(inbox: Path, db_path: Path, kommun: str | None, write_report: bool,
                 full: dict) -> dict:
    new = national.write_extra_month(inbox, kommun)
    new_lines = sum(max(0, len(p.read_bytes().splitlines()) - 1) for p in new)
    inc = build(inbox, db_path, write_report)
    inc["kommun"] = new[0].relative_to(inbox).parts[0]
    inc["new_files"] = [p.relative_to(inbox).as_posix() for p in new]
    inc["new_lines"] = new_lines
    inc["share_of_full"] = inc["seconds"] / full["seconds"]
    return inc


def _add_ratio(result: dict, latest: dict) -> None:
    p = result["pandas"]
    marts = latest["stages"]["marts"]["seconds"]
    p["marts_seconds"] = marts
    pandas_seconds = p.get("compute_seconds", p.get("timed_out_after_seconds"))
    p["ratio"] = pandas_seconds / marts if marts else None


def _manifest_summary(inbox: Path) -> dict:
    path = inbox / national.MANIFEST
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return {"scale": manifest["scale"], "seed": manifest["seed"],
            "generation_seconds": manifest["seconds"], "inbox_totals": manifest["totals"]}


def _progress(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="for the database and results")
    parser.add_argument("--pandas", action="store_true", help="also time the pandas baseline")
    parser.add_argument("--pandas-timeout", type=float, default=None, metavar="SECONDS",
                        help="stop the pandas baseline after this long and report a lower bound")
    parser.add_argument("--kommun", help="who delivers the new month (default: the largest "
                                         "municipality that delivers monthly)")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--pandas-only", action="store_true",
                        help="only the pandas baseline, on the database and result file an "
                             "earlier run left in --work (added to that result)")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report stage")
    parser.add_argument("--json", type=Path, help="result file (default <work>/bench-result.json)")
    parser.add_argument("--ingest", choices=("batched", "per-file"), default=None,
                        help="read Procapita files by layout (batched, the default) or each "
                             "alone (per-file): sets UTFALL_INGEST for the builds (issue 24)")
    args = parser.parse_args(argv)
    if args.ingest:
        os.environ["UTFALL_INGEST"] = args.ingest
    out = args.json or args.work / "bench-result.json"
    if args.pandas_only:
        result = pandas_only(args.work.resolve(), out, args.pandas_timeout)
    else:
        result = benchmark(args.inbox.resolve(), args.work.resolve(), args.pandas,
                           args.pandas_timeout, args.kommun, not args.no_incremental,
                           not args.no_report, out)
    result.setdefault("ingest_mode", os.environ.get("UTFALL_INGEST", "batched"))
    out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(table(result))
    print(f"\nresults: {out}")
    return result


if __name__ == "__main__":
    main()
