"""Smoke test of the benchmark tooling at a tiny scale: the national generator and the benchmark
command run end to end and print their figures. Nothing here is timed: benchmarks are commands
(`make bench`, BENCHMARKS.md), not tests."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import numpy as np

from bench import run_bench
from synth import national
from utfall.adapters.personnummer import parse


def test_personnummer_are_valid():
    rng = np.random.default_rng(3)
    people = national.new_people(rng, national.adults_born(rng, np.arange(500)))
    for style in ("12dash", "12", "10dash"):
        for text in national.personnummer(people, style).to_pylist():
            parse(text, date(2025, 6, 1))  # raises on a bad check digit or date


def test_same_seed_same_files(tmp_path):
    kommun = national.chosen(5, 0.001)[1]
    digests = []
    for run in ("a", "b"):
        national.generate_kommun(tmp_path / run, kommun[0], kommun[1] / 20, seed=5)
        digests.append(_digests(tmp_path / run))
    assert digests[0] == digests[1]
    assert len(digests[0]) > 10


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_and_benchmark_run_end_to_end(tmp_path, capsys):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    manifest = national.generate(inbox, scale=0.0005, seed=7, workers=1)
    assert set(manifest["totals"]["files_by_system"]) == {"procapita", "excel", "skapa"}
    run_bench.main(["--inbox", str(inbox), "--work", str(work), "--pandas",
                    "--pandas-timeout", "300"])
    out = capsys.readouterr().out
    for words in ("ingest", "procapita", "excel", "skapa", "core", "marts", "report",
                  "incremental", "pandas baseline", "targets", "peak RSS"):
        assert words in out
    result = json.loads((work / "bench-result.json").read_text(encoding="utf-8"))
    full, incremental = result["full"], result["incremental"]
    assert full["files"]["REJECTED"] == 0 and full["rows_quarantined"] == 0
    assert full["stages"]["ingest"]["rows_in"] > 0 and full["kpi_rows"] > 0
    assert incremental["files"]["LOADED"] == 1  # only the new month; the rest is unchanged
    assert incremental["as_of"] > full["as_of"]
    assert "ratio" in result["pandas"]
