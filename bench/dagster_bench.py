"""A full Dagster build against `utfall run` on a copy of the sample, each in its own process
from a fresh database, alternately, so that a busy machine weighs on both alike (BENCHMARKS.md).

    .venv/bin/python -m bench.dagster_bench [rounds]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from utfall import keys

DAGSTER = """
import sys, dagster as dg
from utfall.pipelines.definitions import defs
from utfall.pipelines.settings import UtfallSettings
inbox, db, key = sys.argv[1:4]
result = defs.resolve_job_def("build_all").execute_in_process(
    instance=dg.DagsterInstance.ephemeral(),
    resources={"settings": UtfallSettings(inbox=inbox, db=db, key_file=key)})
sys.exit(0 if result.success else 1)
"""


def _timed(command: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(rounds: int = 3) -> None:
    root = Path(tempfile.mkdtemp(prefix="utfall-bench-dagster-"))
    inbox = root / "inbox"
    shutil.copytree(keys.SAMPLE_INBOX, inbox)
    key = str(keys.generate(root / "key"))
    times: dict[str, list[float]] = {"utfall run": [], "dagster build_all": [],
                                     "utfall run, unchanged inbox": [],
                                     "dagster build_all, unchanged inbox": []}
    for i in range(rounds):
        cli_db, dg_db = str(root / f"cli{i}.duckdb"), str(root / f"dg{i}.duckdb")
        cli = [str(Path(sys.executable).with_name("utfall")), "run", "--inbox", str(inbox),
               "--db", cli_db, "--key-file", key]
        dagster = [sys.executable, "-c", DAGSTER, str(inbox), dg_db, key]
        times["utfall run"].append(_timed(cli))
        times["dagster build_all"].append(_timed(dagster))
        times["utfall run, unchanged inbox"].append(_timed(cli))
        times["dagster build_all, unchanged inbox"].append(_timed(dagster))
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.1f} s "
              f"({', '.join(f'{v:.1f}' for v in values)})")
    shutil.rmtree(root)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
