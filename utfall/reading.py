"""Files through their adapters, in several processes. Reading is most of a national build (tens
of thousands of files, tens of millions of lines) and each file is independent of the others, so
it is spread over the machine's cores; what is read comes back in the order it was asked for, and
writing it stays with the one process that holds the database."""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context

import pandas as pd
import pyarrow as pa

from adapters import read as read_with_adapter
from adapters.base import STOPS, AdapterResult, FileRejected, SourceFile
from adapters.config import ConfigStore
from adapters.personnummer import Pseudonymiser

# Starting a worker costs about a second of imports (pandas, pyarrow): below this many files one
# process reads them all.
PARALLEL_FROM_FILES = 64
# Files read ahead of the writer: enough to keep the workers busy while the writer inserts a
# batch (about a second at national scale; with 3 files per worker the cores idled a fifth of
# the time), bounded in count and in input bytes so that what waits to be written stays small.
AHEAD_PER_WORKER = 24
AHEAD_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Job:
    system: str
    source: SourceFile


@dataclass
class Read:
    """An adapter's result, or why the file was rejected; and what reading it cost. A failure
    of the adapter itself carries its traceback, for the writer's log (a worker has none)."""

    result: AdapterResult | None
    error: str | None
    seconds: float
    cpu_seconds: float
    trace: str | None = None


def read_all(jobs: list[Job], configs: ConfigStore, pseudo: Pseudonymiser, today: date,
             workers: int | None = None) -> Iterator[Read]:
    """Every job's Read, in the order of `jobs`."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < PARALLEL_FROM_FILES:
        return (read_one(job, configs, pseudo, today) for job in jobs)
    return _in_processes(jobs, configs, pseudo, today, workers)


def _in_processes(jobs, configs, pseudo, today, workers) -> Iterator[Read]:
    # spawn, not fork: the parent holds a DuckDB connection and its threads
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_start_worker,
                             initargs=(configs, pseudo, today)) as pool:
        ahead: deque[tuple[Future, int]] = deque()
        ahead_bytes = 0
        for job in jobs:
            size = _size(job)
            ahead.append((pool.submit(_read_in_worker, job), size))
            ahead_bytes += size
            while len(ahead) >= workers * AHEAD_PER_WORKER or (
                    ahead_bytes > AHEAD_BYTES and len(ahead) > workers):
                future, size = ahead.popleft()
                ahead_bytes -= size
                yield future.result()
        for future, _ in ahead:
            yield future.result()


def _size(job: Job) -> int:
    try:
        return job.source.path.stat().st_size
    except OSError:  # the adapter will say what is wrong with it
        return 0


_worker: dict[str, object] = {}  # what every file in a worker process is read with


def _start_worker(configs: ConfigStore, pseudo: Pseudonymiser, today: date) -> None:
    _die_with_parent()
    _worker.update(configs=configs, pseudo=pseudo, today=today)


def _die_with_parent() -> None:
    """A reader must not outlive a killed run (it would hold memory and files for nothing):
    Linux ends it when its parent dies. Elsewhere the pool's own shutdown has to do."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


def _read_in_worker(job: Job) -> Read:
    return read_one(job, _worker["configs"], _worker["pseudo"], _worker["today"])


def read_one(job: Job, configs: ConfigStore, pseudo: Pseudonymiser, today: date) -> Read:
    """One file through its adapter, with its configuration."""
    source = job.source
    wall, cpu = time.perf_counter(), time.process_time()
    result, error, trace = None, None, None
    try:
        config = configs.for_system(source.kommun_kod, job.system)
        result = read_with_adapter(job.system, source, config, pseudo, today)
        result.tables = {name: as_arrow(frame) for name, frame in result.tables.items()}
    except FileRejected as exc:
        error = str(exc)
    except STOPS:
        raise
    # BaseException: a native reader's panic (pyo3's PanicException) is no Exception, and one
    # unreadable file must not stop the inbox
    except BaseException as exc:  # noqa: BLE001
        error = (f"{source.rel_path}: the file could not be read (the reader failed with "
                 f"{type(exc).__name__}); run with -v for the details")
        trace = traceback.format_exc()
    return Read(result, error, time.perf_counter() - wall, time.process_time() - cpu, trace)


def as_arrow(frame: pd.DataFrame | pa.Table) -> pa.Table | pd.DataFrame:
    """Staging rows as an Arrow table, which crosses processes and goes into DuckDB cheaper than a
    frame; the frame itself where Arrow cannot type a column (mixed Python types)."""
    if isinstance(frame, pa.Table):
        return frame
    try:  # column by column: Table.from_pandas spends milliseconds per file on metadata
        return pa.table({name: pa.array(frame[name], from_pandas=True) for name in frame.columns})
    except (pa.ArrowException, ValueError):
        return frame
