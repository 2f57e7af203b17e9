"""`make dagster`: `dg dev` that one Ctrl-C or SIGTERM stops whole.

Why a launcher: a shell without job control (a script's `make dagster &`, an IDE's task, CI)
starts a background command with SIGINT ignored, and Dagster maps SIGTERM to whatever SIGINT
does (dagster._utils.interrupts.setup_interrupt_handlers). dg dev started that way ignored both,
and so did its webserver, daemon and code servers, which inherit it. Here dg dev starts with the
default handlers (a caught signal is reset by exec, an ignored one would not be) in a process
group of its own. The first SIGINT, SIGTERM or SIGHUP, to this process or its group, becomes one
SIGINT to dg dev, which stops its services in order; what of its group still runs after GRACE
seconds is killed. Further signals are not forwarded: make passes its SIGTERM on to us, and a
second SIGINT would cut dg dev's orderly shutdown short.

Usage: python -m utfall.pipelines.dev [dg dev options], e.g. `-p 3000`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# dg dev stops in about 10 s on two busy cores; it would wait 60 s for each stuck service
GRACE = 30.0
LEFTOVER_WAIT = 3.0  # for processes of the group that outlive dg dev (a code server's child)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL = 0.2


def dg_dev(args: list[str]) -> list[str]:
    """`dg dev` of this environment; the code location comes from pyproject.toml's [tool.dg].
    Without the check of component YAML: utfall defines its assets in Python, and dg looks for
    a `defs` folder inside the root module's folder (utfall/), which the one import root does
    not have (utfall.pipelines is the folder pipelines/)."""
    return [str(Path(sys.executable).with_name("dg")), "dev", "--no-check-yaml", *args]


def supervise(command: list[str], grace: float = GRACE, env: dict[str, str] | None = None) -> int:
    """Run `command` in its own process group until it ends or a stop signal arrives; then
    stop the group. 0 when stopped by a signal, else the command's exit code."""
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: received.append(signum))
                for s in STOP_SIGNALS}
    try:
        child = subprocess.Popen(command, process_group=0, env=env)
        while child.poll() is None and not received:
            time.sleep(POLL)
        if received:
            print(f"utfall: {signal.Signals(received[0]).name} received, stopping Dagster "
                  f"(at most {grace:.0f} s)", file=sys.stderr, flush=True)
            _interrupt(child)
        code = _wait(child, grace)
        _stop_group(child.pid)
        return 0 if received else code
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _interrupt(child: subprocess.Popen) -> None:
    try:
        child.send_signal(signal.SIGINT)  # as Ctrl-C would: dg dev's own orderly shutdown
    except ProcessLookupError:
        pass


def _wait(child: subprocess.Popen, grace: float) -> int:
    try:
        return child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print("utfall: dg dev did not stop in time; killing it", file=sys.stderr, flush=True)
        _signal_group(child.pid, signal.SIGKILL)
        return child.wait()


def _stop_group(pgid: int) -> None:
    """dg dev has ended: whatever it started and left behind gets SIGTERM, then SIGKILL."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + LEFTOVER_WAIT
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(POLL)
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _group_alive(pgid: int) -> bool:
    return _signal_group(pgid, 0)


def main(argv: list[str] | None = None) -> int:
    # dg warns when the environment it runs from is not the activated one; it is this one
    env = {**os.environ, "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV", sys.prefix)}
    return supervise(dg_dev(sys.argv[1:] if argv is None else argv), env=env)


if __name__ == "__main__":
    sys.exit(main())
