"""The comparison report in a browser (issue 24): file sizes, first contentful paint and load.

Writes the report of each built database with `utfall.report.write_report` (one file up to
SINGLE_FILE_MAX_KOMMUNER municipalities, else an overview and a folder of pages; --split forces
either), then opens it in Debian's headless Chromium through Playwright (1400 x 1000, offline:
every http(s) request is aborted), as BENCHMARKS.md describes: first paint is the
`first-contentful-paint` entry, load the navigation's `loadEventEnd`. Each file is loaded
--loads times, each time in a new tab of one browser. For a report with a folder it also opens
the largest municipality page, the largest KPI page (and times `utfallDrawAll()` there, every
chart at once) and the data-quality page. The load average is printed before and after.

    .venv/bin/python -m bench.report_bench --db build/utfall.duckdb:sample \\
        --db build/bench/report-0.1.duckdb:0.1 --db build/bench/report-1.0.duckdb:1.0

Build a national database first, e.g. `bench.audit_bench`'s build_db, or utfall.run.run(...,
write_report=False, audit=False) on `synth.national`'s inbox.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMES = """(() => { const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {fcp: fcp ? fcp.startTime / 1000 : null, load: nav.loadEventEnd / 1000}; })()"""


def write(db: Path, out: Path, split: bool | None) -> dict:
    import duckdb

    from utfall.report import write_report

    with duckdb.connect(str(db), read_only=True) as con:
        t0 = time.perf_counter()
        # an older checkout (run from its folder, for a before/after) has one file only
        write_report(con, out, **({} if split is None else {"split": split}))
        seconds = time.perf_counter() - t0
    folder = out.with_suffix("")  # files.report_folder
    result = {"write_s": round(seconds, 2), "file_mb": _mb(out.stat().st_size), "pages": {}}
    if folder.is_dir():
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
        kommun = {n: s for n, s in sizes.items() if n.startswith("kommun-")}
        kpi = {n: s for n, s in sizes.items() if n.startswith("kpi-")}
        result.update({
            "folder_mb": _mb(sum(sizes.values())), "files_in_folder": len(sizes),
            "kommun_pages": len(kommun), "kpi_pages": len(kpi),
            "kommun_page_mb": [_mb(min(kommun.values())), _mb(statistics.median(kommun.values())),
                               _mb(max(kommun.values()))],
            "kpi_page_mb": [_mb(min(kpi.values())), _mb(statistics.median(kpi.values())),
                            _mb(max(kpi.values()))],
            "quality_page_mb": _mb(sizes.get("datakvalitet.html", 0)),
            "plotly_mb": _mb(sizes.get("plotly-basic.min.js", 0))})
        result["pages"] = {"largest municipality page": folder / max(kommun, key=kommun.get),
                           "largest KPI page": folder / max(kpi, key=kpi.get),
                           "data quality page": folder / "datakvalitet.html"}
    return result


def _mb(n: float) -> float:
    return round(n / 1e6, 3)


def measure(browser, path: Path, loads: int, draw_all: bool = False) -> dict:
    fcp, load, draw, errors = [], [], [], []
    for _ in range(loads):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("http*://**", lambda route: route.abort())
        page.goto(path.as_uri(), wait_until="load", timeout=300_000)
        page.wait_for_timeout(100)  # loadEventEnd is set just after the load handlers
        times = page.evaluate(TIMES)
        fcp.append(times["fcp"])
        load.append(times["load"])
        if draw_all:
            t0 = time.perf_counter()
            page.evaluate("utfallDrawAll()")
            draw.append(time.perf_counter() - t0)
        page.close()
    result = {"fcp_s": _range(fcp), "load_s": _range(load), "errors": errors[:3]}
    if draw:
        result["draw_all_s"] = _range(draw)
    return result


def _range(values: list) -> list:
    values = [v for v in values if v is not None]
    return [round(min(values), 2), round(max(values), 2)] if values else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", required=True,
                        help="a built database, optionally :label (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "report-bench")
    parser.add_argument("--loads", type=int, default=5, help="loads of each file")
    parser.add_argument("--split", choices=["auto", "yes", "no"], default="auto",
                        help="one file or overview and folder (auto: by the number of "
                             "municipalities, as utfall run does)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    split = {"auto": None, "yes": True, "no": False}[args.split]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        for spec in args.db:
            db, _, label = spec.partition(":")
            label = label or Path(db).stem
            out = args.out / f"{label}-rapport.html"
            result = {"db": db, "label": label, "split": args.split,
                      "loadavg_before": os.getloadavg(), **write(Path(db), out, split)}
            pages = result.pop("pages")
            result["report"] = measure(browser, out, args.loads)
            for name, path in pages.items():
                result[name] = {"mb": _mb(path.stat().st_size),
                                **measure(browser, path, args.loads,
                                          draw_all=name == "largest KPI page")}
            result["loadavg_after"] = os.getloadavg()
            results.append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)
        browser.close()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
