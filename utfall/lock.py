"""One writer per database: a lock file beside it, held with flock for the whole run.

flock is released by the kernel when the holding process dies, so a killed run never leaves a
stale lock; the file itself only says who holds it (pid, host, since when) for the message."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path


class Locked(RuntimeError):
    """Another run holds the database; the message says who and since when."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def writer_lock(db_path: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the database's lock, waiting up to `wait_seconds` for another run to finish."""
    path = lock_path(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, db_path, wait_seconds)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()} {datetime.now():%Y-%m-%d %H:%M:%S}\n"
                 .encode())
        yield
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, path: Path, db_path: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Locked(_held_by(path, db_path)) from None
            time.sleep(0.2)


def _held_by(path: Path, db_path: Path) -> str:
    try:
        pid, host, day, clock = path.read_text(encoding="utf-8").split()[:4]
    except (OSError, ValueError):
        return f"another run is writing {db_path}; wait for it to finish (or use --wait SECONDS)"
    return (f"another run is writing {db_path} since {day} {clock} (pid {pid} on {host}); "
            "wait for it to finish (or use --wait SECONDS)")
