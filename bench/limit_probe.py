"""Ingest against the limit (issue 24): the project's ingest beside DuckDB alone, on one inbox.

    python -m bench.limit_probe --inbox build/bench/national-0.1 --work build/bench/probe-0.1
    python -m bench.limit_probe --inbox build/bench/national-0.1 --work build/bench/cmp-0.1 \
        --compare

Probe (the default): three rounds (--rounds), each timing in turn, in fresh child processes,

- **limit**: DuckDB alone reads the Procapita payment files (those whose header names Belopp)
  into a table of typed columns: personnummer, household and texts as varchar, `Avser månad` and
  the payment date as dates, the amount as decimal(14, 2), one row per payment line (title and
  header lines left out, Roll = Barn left out, as ingest skips them). One `read_csv` over the
  list of files of each municipality and layout (`filename=true`), every column as text, then
  one `insert ... select` that types them. Windows-1252 files are read as latin-1: DuckDB has no
  Windows-1252 (STACK-NOTES.md), and the benchmark's files hold no character where the two
  differ; a file that does would fail the probe, not the ingest.
- **ingest**: the project's ingest (`utfall.ingest.ingest`, demo key, fresh database, two
  workers; batched, or `--ingest per-file` for the way before issue 24) of the same files: an inbox of links to the payment files only (`--whole-inbox` takes
  the inbox as it is), so both read the same bytes;

then prints each round's wall and CPU seconds (the child's from its start, interpreter and
imports included, workers included; and the seconds of the work itself after start-up) and the
ratio ingest / limit of the wall times. Ingest does more than the limit by design (a personnummer checked and
pseudonymised, each value parsed and validated, quarantine and counts per file, the meta
tables); the issue's target is ingest within 3x of the limit.

`--compare` instead ingests the inbox twice, per file (UTFALL_INGEST=per-file) and batched,
and compares the two databases table by table (every table of every schema; timestamps left
out); it exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.compare_databases import compare

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config" / "kommuner"
TODAY = date(2026, 11, 23)  # fixed, so that both sides of a comparison judge dates alike


# --- the project's ingest, in a child process ----------------------------------------------------


def ingest_into(inbox: Path, db: Path, mode: str, workers: int | None = 2) -> dict:
    """utfall.ingest.ingest of `inbox` into a fresh `db` (UTFALL_INGEST=`mode`), in a child
    process so that its CPU (workers included) and memory are its own."""
    if db.exists():
        db.unlink()
    code = (
        "import json, sys, time\n"
        "from datetime import date\nfrom pathlib import Path\nimport duckdb\n"
        "from utfall.adapters.config import ConfigStore\nfrom utfall import keys, transform\n"
        "from utfall.ingest import ingest\n"
        "if __name__ == '__main__':\n"
        f"    con = duckdb.connect({str(db)!r})\n"
        "    transform.create_schemas(con)\n"
        "    t0 = time.perf_counter()\n"
        f"    s = ingest(con, Path({str(inbox)!r}), ConfigStore(Path({str(CONFIG_DIR)!r})),\n"
        f"               keys.demo(), date.fromisoformat({TODAY.isoformat()!r}),"
        f" workers={workers!r})\n"
        "    seconds = time.perf_counter() - t0\n"
        "    con.close()\n"
        "    print(json.dumps({'seconds': seconds, 'files': len(s.files),\n"
        "        'batched': sum(f.batched for f in s.files),\n"
        "        'loaded': s.count('LOADED'), 'rejected': s.count('REJECTED'),\n"
        "        'rows_read': s.total('rows_read'), 'rows_loaded': s.total('rows_loaded'),\n"
        "        'rows_quarantined': s.total('rows_quarantined')}))\n")
    return _child([sys.executable, "-c", code], {"UTFALL_INGEST": mode})


def _child(command: list[str], env: dict[str, str]) -> dict:
    """Run a child; its JSON line, its wall time, its CPU time (user + system, workers
    included: children's CPU as the kernel accounts it once they are waited for) and the peak
    of its and its children's RSS (sampled every 0.2 s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=out,
                                 stderr=err, text=True)
        peak = 0
        while True:
            peak = max(peak, _family_rss(child.pid))
            try:
                child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                continue
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{stderr[-3000:]}")
    found = json.loads(stdout.strip().splitlines()[-1])
    found["wall"] = wall
    found["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found["peak_rss_gb"] = peak / 2**30
    return found


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _family_rss(pid: int) -> int:
    """RSS of a process and its children (ingest's readers), in bytes."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[21]) * _PAGE
    return total


def main_compare(inbox: Path, work: Path, workers: int | None) -> int:
    work.mkdir(parents=True, exist_ok=True)
    dbs = {mode: work / f"ingest-{mode}.duckdb" for mode in ("per-file", "batched")}
    for mode, db in dbs.items():
        done = ingest_into(inbox, db, mode, workers)
        print(f"{mode:>9}: {done['wall']:6.1f} s wall, {done['cpu']:6.1f} s CPU, "
              f"peak RSS {done['peak_rss_gb']:.2f} GB, "
              f"{done['files']} files ({done['batched']} read in batches), "
              f"{done['rows_read']:,} lines read, {done['rows_loaded']:,} loaded, "
              f"{done['rows_quarantined']:,} quarantined")
    counts, problems = compare(dbs["per-file"], dbs["batched"])
    for name, n in counts.items():
        if n:
            print(f"  {name:<40} {n:>12,} rows")
    if problems:
        print("DIFFERENT:\n  " + "\n  ".join(problems))
        return 1
    print(f"equal: {len(counts)} tables, {sum(counts.values()):,} rows")
    return 0


# --- the limit: DuckDB alone ----------------------------------------------------------------------

# header words (lower case) -> the probe's column; the benchmark's two wordings and the sample's
PROBE_COLUMNS = {
    "personnummer": "pnr", "personnr": "pnr",
    "hushållsnummer": "household", "ärendenr": "household",
    "roll": "role",
    "avser månad": "month", "avser period": "month",
    "utbetalningsdatum": "paid_on", "utbetalningsdag": "paid_on", "utbet.datum": "paid_on",
    "belopp": "amount", "belopp (kr)": "amount",
    "biståndstyp": "bistandstyp", "ändamål": "bistandstyp",
    "försörjningshinder": "hinder",
}
PROBE_TABLE = """create or replace table payment (
    file varchar, pnr varchar, household varchar, role varchar, month date, paid_on date,
    amount decimal(14, 2), bistandstyp varchar, hinder varchar)"""
HEAD_LINES = 15


def payment_files(inbox: Path) -> list[tuple[Path, str, str, int, tuple[str, ...]]]:
    """(path, encoding for DuckDB, delimiter, lines above the header, header) of every Procapita
    file whose header names Belopp: the first 15 lines of each file looked at, nothing more."""
    found = []
    for path in sorted(inbox.glob("*/procapita/**/*")):
        if not path.is_file():
            continue
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
        try:  # incremental: the 64 kB may end inside a character
            text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
            encoding = "utf-8"
        except UnicodeDecodeError:
            text, encoding = head.decode("latin-1"), "latin-1"
        for index, line in enumerate(text.splitlines()[:HEAD_LINES]):
            delimiter = "\t" if "\t" in line else ";"
            cells = tuple(c.strip() for c in line.split(delimiter))
            if any(c.casefold().startswith("belopp") for c in cells):
                found.append((path, encoding, delimiter, index, cells))
                break
    return found


def probe_sql(files: list[tuple[Path, str, str, int, tuple[str, ...]]]) -> list[str]:
    """One insert per layout (encoding, delimiter, lines above the header, header)."""
    layouts: dict[tuple, list[str]] = {}
    for path, encoding, delimiter, skip, header in files:
        layouts.setdefault((encoding, delimiter, skip, header), []).append(str(path))
    statements = [PROBE_TABLE]
    for (encoding, delimiter, skip, header), paths in layouts.items():
        names = [f"c{i}" for i in range(len(header))]
        at = {PROBE_COLUMNS.get(h.casefold()): name for h, name in zip(header, names,
                                                                        strict=True)}
        columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"

        def col(what: str, at: dict = at) -> str:
            return at.get(what, "null")

        month = col("month")
        amount = (f"replace(replace(replace({col('amount')}, ' ', ''), chr(160), ''), ',', '.')")
        listed = ", ".join(f"'{p}'" for p in paths)
        delim = "\\t" if delimiter == "\t" else delimiter
        statements.append(f"""
            insert into payment select
                filename, {col('pnr')}, {col('household')}, {col('role')},
                case when {month} like '____-__' then strptime({month}, '%Y-%m')
                     else strptime({month}, '%Y%m') end::date,
                try_cast({col('paid_on')} as date),
                cast({amount} as decimal(14, 2)),
                {col('bistandstyp')}, {col('hinder')}
            from read_csv([{listed}], delim = E'{delim}', skip = {skip + 1}, header = false,
                          columns = {columns}, encoding = '{encoding}', quote = '',
                          filename = true, null_padding = true)
            where {col('role')} is distinct from 'Barn' and trim({col('pnr')}) <> ''
        """)
    return statements


def probe_into(inbox: Path, db: Path) -> dict:
    """The limit, in a child process: DuckDB reads every payment file into typed columns."""
    if db.exists():
        db.unlink()
    code = (
        "import json, sys, time\nfrom pathlib import Path\nimport duckdb\n"
        "from bench.limit_probe import payment_files, probe_sql\n"
        "t0 = time.perf_counter()\n"
        f"files = payment_files(Path({str(inbox)!r}))\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "for statement in probe_sql(files):\n"
        "    con.execute(statement)\n"
        "(rows,) = con.execute('select count(*) from payment').fetchone()\n"
        "con.close()\n"
        "print(json.dumps({'seconds': time.perf_counter() - t0, 'files': len(files),"
        " 'rows': rows}))\n")
    return _child([sys.executable, "-c", code], {})


def payments_only(inbox: Path, into: Path) -> Path:
    """An inbox of links to the payment files (what the probe reads), for the ingest side."""
    if into.exists():
        shutil.rmtree(into)
    for path, *_ in payment_files(inbox):
        link = into / path.relative_to(inbox)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    return into


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main_probe(inbox: Path, work: Path, rounds: int, whole: bool, workers: int | None,
               mode: str = "batched") -> dict:
    work.mkdir(parents=True, exist_ok=True)
    ingest_inbox = inbox if whole else payments_only(inbox, work / "payments-inbox")
    rows = []
    for number in range(1, rounds + 1):
        load = load_average()
        limit = probe_into(inbox, work / "probe.duckdb")
        ours = ingest_into(ingest_inbox, work / "ingest.duckdb", mode, workers)
        ratio = ours["wall"] / limit["wall"]
        rows.append({"round": number, "load_before": load, "limit": limit, "ingest": ours,
                     "ratio": ratio})
        print(f"round {number} (load {load}): limit {limit['wall']:6.2f} s wall "
              f"{limit['cpu']:6.2f} s CPU ({limit['seconds']:.2f} s after start-up; "
              f"{limit['files']} files, {limit['rows']:,} lines) | ingest {ours['wall']:6.2f} s "
              f"wall {ours['cpu']:6.2f} s CPU ({ours['seconds']:.2f} s after start-up; "
              f"{ours['files']} files, {ours['batched']} in batches, {ours['rows_loaded']:,} "
              f"loaded, {ours['rows_quarantined']:,} quarantined) | ratio {ratio:4.2f}x wall, "
              f"{ours['cpu'] / limit['cpu']:4.2f}x CPU | peak RSS limit "
              f"{limit['peak_rss_gb']:.2f} GB, ingest {ours['peak_rss_gb']:.2f} GB", flush=True)
    ratios = sorted(r["ratio"] for r in rows)
    print(f"ingest / limit (wall): median {ratios[len(ratios) // 2]:.2f}x, range "
          f"{ratios[0]:.2f}-{ratios[-1]:.2f}x; load average now {load_average()}")
    return {"inbox": str(inbox), "whole_inbox": whole, "ingest_mode": mode, "rounds": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--work", type=Path,
                        help="databases and results (default: a temporary folder, removed after)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="ingest's reader processes")
    parser.add_argument("--whole-inbox", action="store_true",
                        help="ingest the whole inbox, not only the payment files")
    parser.add_argument("--ingest", choices=("batched", "per-file"), default="batched",
                        help="how the probe's ingest reads Procapita files (UTFALL_INGEST)")
    parser.add_argument("--compare", action="store_true",
                        help="per-file against batched ingest, table by table")
    parser.add_argument("--json", type=Path, help="write the probe's figures here")
    args = parser.parse_args(argv)
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="limit-probe-") as work:
            return _main(args, Path(work))
    return _main(args, args.work.resolve())


def _main(args: argparse.Namespace, work: Path) -> int:
    if args.compare:
        return main_compare(args.inbox.resolve(), work, args.workers)
    figures = main_probe(args.inbox.resolve(), work, args.rounds, args.whole_inbox,
                         args.workers, args.ingest)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
