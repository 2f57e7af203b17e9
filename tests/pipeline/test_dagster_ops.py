"""Running Dagster as the analyst does: `make dagster` serves the code location `utfall`, and one
SIGTERM or Ctrl-C to its process group stops every process of it, even when it was started in
the background by a shell without job control (SIGINT ignored, which dg dev used to pass on to
SIGTERM and to every process it started)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.pipeline.conftest import ROOT
from utfall.pipelines import dev

pytestmark = [pytest.mark.pipeline,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

VENV = Path(sys.prefix)
STARTUP = 240  # seconds for dg dev to answer on two busy cores (about 30 when idle)
# seconds from the one SIGTERM until no process of it is left: about 10, at most dev.GRACE
# for dg dev and dev.LEFTOVER_WAIT for what it left
STOPPED_WITHIN = dev.GRACE + dev.LEFTOVER_WAIT + 10


def _ignore_sigint():
    """As a shell without job control starts a background command (`make dagster &`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent, start time) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def _alive(pid: int, started: int) -> bool:
    found = _stat(pid)
    return found is not None and found[0] != "Z" and found[2] == started


def _tree(root: int) -> dict[int, int]:
    """Every living process descended from `root` (itself included): pid -> start time."""
    stats = {int(p.name): s for p in Path("/proc").iterdir() if p.name.isdigit()
             for s in [_stat(int(p.name))] if s and s[0] != "Z"}
    found, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in stats:
            found[pid] = stats[pid][2]
            frontier += [c for c, s in stats.items() if s[1] == pid]
    return found


def _mentioning(text: str) -> list[int]:
    """Living processes whose command line holds `text` (the test's own instance folder)."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and text.encode() in (p / "cmdline").read_bytes():
                state = _stat(int(p.name))
                pids += [int(p.name)] if state and state[0] != "Z" else []
        except OSError:
            continue
    return pids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the code location ---------------------------------------------------------------------------

def test_dg_loads_the_code_location_as_utfall():
    from dagster_dg_cli.cli.utils import create_temp_workspace_file
    from dagster_dg_core.context import DgContext

    context = DgContext.for_project_environment(ROOT, {})
    with create_temp_workspace_file(context) as workspace:
        [entry] = yaml.safe_load(Path(workspace).read_text())["load_from"]
    assert entry["python_module"]["location_name"] == "utfall"
    assert entry["python_module"]["module_name"] == "utfall.pipelines.definitions"
    # the `dagster` CLI without -m (dagster definitions validate) reads [tool.dagster]
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert tool["dagster"] == {"module_name": "utfall.pipelines.definitions",
                               "code_location_name": "utfall"}


def test_make_dagster_runs_dg_dev_through_the_launcher_without_naming_a_module():
    """A target on the command line (-m, -f, -w) would override [tool.dg] and its name."""
    assert shutil.which("make"), "make is needed to run the project's commands"
    recipe = subprocess.run(
        ["make", "-n", "-s", "-o", f"{VENV}/.installed", "dagster", f"VENV={VENV}"],
        cwd=ROOT, capture_output=True, text=True, check=True, env=_clean_env()).stdout
    assert f"exec {VENV}/bin/python -m utfall.pipelines.dev -p 3000" in recipe
    assert dev.dg_dev(["-p", "3000"])[1:] == ["dev", "--no-check-yaml", "-p", "3000"]


# --- the launcher on stand-ins for dg dev (fast) -------------------------------------------------

FAKE_DG_DEV = """
import signal, subprocess, sys, time
from pathlib import Path
out = Path(sys.argv[1])
if sys.argv[2] == "stuck":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
# a child it leaves behind when interrupted, as dg dev may leave a code server
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
out.write_text(f"{child.pid}\\n")
try:
    time.sleep(120)
except KeyboardInterrupt:
    out.write_text(out.read_text() + "interrupted\\n")
"""
LAUNCH = "import sys; from utfall.pipelines.dev import supervise; sys.exit(supervise(sys.argv[1:], {}))"


def _launch(tmp_path: Path, mode: str, grace: float = dev.GRACE):
    fake, out = tmp_path / "fake_dg_dev.py", tmp_path / "out.txt"
    fake.write_text(FAKE_DG_DEV, encoding="utf-8")
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCH.format(grace), sys.executable, str(fake), str(out),
         mode], cwd=ROOT, start_new_session=True, preexec_fn=_ignore_sigint,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text().endswith("\n")):
        assert time.monotonic() < deadline and launcher.poll() is None, launcher.stderr.read()
        time.sleep(0.05)
    return launcher, _tree(launcher.pid), out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_to_the_group_interrupts_dg_dev_and_ends_all_it_started(tmp_path, sig):
    launcher, processes, out = _launch(tmp_path, "polite")
    assert len(processes) == 3  # the launcher, the stand-in and its child
    os.killpg(launcher.pid, sig)
    assert launcher.wait(timeout=15) == 0
    # dg dev got a SIGINT it did not ignore: it stops its services itself
    assert out.read_text().splitlines()[1] == "interrupted"
    assert [p for p, started in processes.items() if _alive(p, started)] == []
    assert f"{signal.Signals(sig).name} received, stopping Dagster" in launcher.stderr.read()


def test_a_dg_dev_that_does_not_stop_is_killed_after_the_grace_period(tmp_path):
    launcher, processes, _ = _launch(tmp_path, "stuck", grace=1.0)
    start = time.monotonic()
    os.killpg(launcher.pid, signal.SIGTERM)
    assert launcher.wait(timeout=15) == 0
    assert time.monotonic() - start < 1.0 + dev.LEFTOVER_WAIT + 3
    assert [p for p, started in processes.items() if _alive(p, started)] == []
    assert "dg dev did not stop in time; killing it" in launcher.stderr.read()


def test_without_a_signal_the_launcher_exits_as_dg_dev_does():
    assert dev.supervise([sys.executable, "-c", "raise SystemExit(3)"]) == 3


# --- the real thing ------------------------------------------------------------------------------

def _clean_env(**extra: str) -> dict[str, str]:
    """Without an outer make's flags (its jobserver is not ours)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return {**env, **extra}


def _wait_for_webserver(port: int, make: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        assert make.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"dg dev did not answer within {STARTUP} s:\n"
                + log.read_text(errors="replace")[-3000:])


def _location_names(port: int) -> list[str]:
    query = b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"}'
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        workspace = json.load(response)["data"]["workspaceOrError"]
    return [entry["name"] for entry in workspace["locationEntries"]]


def test_make_dagster_serves_utfall_and_one_sigterm_to_its_group_stops_it_all(tmp_path):
    assert shutil.which("make"), "make is needed to run the project's commands"
    port, home, log = _free_port(), tmp_path / "dagster_home", tmp_path / "dagster.log"
    env = _clean_env(UTFALL_DB=str(tmp_path / "dagster.duckdb"),
                     UTFALL_SETTINGS=str(tmp_path / "no.env"))
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "-s", "-o", f"{VENV}/.installed", "dagster", f"VENV={VENV}",
             f"DAGSTER_PORT={port}", f"DAGSTER_INSTANCE={home}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_ignore_sigint)
    processes: dict[int, int] = {}
    try:
        _wait_for_webserver(port, make, log)
        processes = _tree(make.pid)
        assert _location_names(port) == ["utfall"]
        # make, the launcher, dg dev, its webserver, daemon, code server and that one's child
        assert len(processes) >= 6, processes
        start = time.monotonic()
        os.killpg(make.pid, signal.SIGTERM)
        while time.monotonic() - start < STOPPED_WITHIN and (
                any(_alive(p, s) for p, s in processes.items()) or _mentioning(str(home))):
            time.sleep(0.2)
        left = [p for p, s in processes.items() if _alive(p, s)] + _mentioning(str(home))
        assert left == [], log.read_text(errors="replace")[-3000:]
        assert "SIGTERM received, stopping Dagster" in log.read_text(errors="replace")
    finally:
        for pid, started in processes.items():
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(timeout=10)
