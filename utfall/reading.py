"""Files through their adapters, in several processes. Reading is most of a national build (tens
of thousands of files, tens of millions of lines) and each file is independent of the others, so
it is spread over the machine's cores; what is read comes back in the order it was asked for, and
writing it stays with the one process that holds the database.

By layout, not by file (issue 24): a municipality's files of a system whose adapter has
`read_batch` (Procapita) go to a worker together, in runs of adjacent files of at most
BATCH_BYTES, and the adapter reads those of one layout as one batch; a file it leaves out (a
layout of its own, anything unusual) and every file of a batch that fails is read alone, so a
broken file still costs only itself and is named. `UTFALL_INGEST=per-file` (or
`read_all(..., batched=False)`) reads every file alone: the comparison of the two
(tests/pipeline/test_batched_ingest.py, `python -m bench.limit_probe --compare`) needs it.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context

import pandas as pd
import pyarrow as pa

from utfall.adapters import read as read_with_adapter
from utfall.adapters.base import STOPS, AdapterResult, FileRejected, SourceFile
from utfall.adapters.config import ConfigStore
from utfall.adapters.personnummer import Pseudonymiser

# Starting a worker costs about a second of imports (pandas, pyarrow): below this many files one
# process reads them all. A batch counts as one file per MiB it holds (a MiB of a batch costs
# about what one file read alone does).
PARALLEL_FROM_FILES = 64
# Files read ahead of the writer: enough to keep the workers busy while the writer inserts a
# batch (about a second at national scale; with 3 files per worker the cores idled a fifth of
# the time), bounded in count and in input bytes so that what waits to be written stays small.
AHEAD_PER_WORKER = 24
AHEAD_BYTES = 256 * 2**20
# A batch: adjacent files of one municipality and system, at most this many bytes or files (the
# adapter holds their text at once; several batches keep both workers busy)
BATCH_BYTES = 8 * 2**20
BATCH_FILES = 512
# Batches read ahead of the writer, per worker: a batch's tables are larger than a file's, and
# what waits to be written must stay small
BATCHES_AHEAD_PER_WORKER = 3
# Systems whose adapter reads many files at once (`read_batch`)
BATCHED_SYSTEMS = ("procapita",)
INGEST_MODE_VARIABLE = "UTFALL_INGEST"  # 'per-file' reads every file alone


def batched_by_default() -> bool:
    """Batched unless UTFALL_INGEST=per-file (for comparing the two ways)."""
    mode = os.environ.get(INGEST_MODE_VARIABLE, "batched").strip().casefold()
    if mode not in ("batched", "per-file"):
        raise ValueError(f"{INGEST_MODE_VARIABLE} must be 'batched' or 'per-file', not {mode!r}")
    return mode == "batched"


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
    batched: bool = False  # read in a batch of its layout (its times are its share of it)


def read_all(jobs: list[Job], configs: ConfigStore, pseudo: Pseudonymiser, today: date,
             workers: int | None = None, batched: bool | None = None) -> Iterator[Read]:
    """Every job's Read, in the order of `jobs`. `batched` None: batched_by_default()."""
    workers = workers or os.cpu_count() or 1
    batched = batched_by_default() if batched is None else batched
    units = _units(jobs) if batched else list(jobs)
    if workers == 1 or _files_worth(units) < PARALLEL_FROM_FILES:
        return (read for unit in units for read in _read_unit(unit, configs, pseudo, today))
    return _in_processes(units, configs, pseudo, today, workers)


def _units(jobs: Sequence[Job]) -> list[Job | tuple[Job, ...]]:
    """Jobs as they go to a reader: a file alone, or a run of adjacent files of one
    municipality and batched system (at most BATCH_BYTES and BATCH_FILES)."""
    units: list[Job | tuple[Job, ...]] = []
    run: list[Job] = []
    run_bytes = 0

    def close() -> None:
        if len(run) == 1:
            units.append(run[0])
        elif run:
            units.append(tuple(run))
        run.clear()

    for job in jobs:
        same = run and (job.system, job.source.kommun_kod) == (run[0].system,
                                                             run[0].source.kommun_kod)
        size = _size(job)
        if not same or run_bytes + size > BATCH_BYTES or len(run) >= BATCH_FILES:
            close()
            run_bytes = 0
        if job.system in BATCHED_SYSTEMS:
            run.append(job)
            run_bytes += size
        else:
            close()
            units.append(job)
    close()
    return units


def _files_worth(units: list[Job | tuple[Job, ...]]) -> float:
    return sum(1 if isinstance(unit, Job) else max(1.0, sum(map(_size, unit)) / 2**20)
               for unit in units)


def _read_unit(unit: Job | tuple[Job, ...], configs, pseudo, today) -> list[Read]:
    if isinstance(unit, Job):
        return [read_one(unit, configs, pseudo, today)]
    return read_batch(list(unit), configs, pseudo, today)


def _in_processes(units, configs, pseudo, today, workers) -> Iterator[Read]:
    # spawn, not fork: the parent holds a DuckDB connection and its threads
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_start_worker,
                             initargs=(configs, pseudo, today)) as pool:
        ahead: deque[tuple[Future, int, bool]] = deque()
        ahead_bytes = ahead_batches = 0
        for unit in units:
            batch = not isinstance(unit, Job)
            if batch:
                size = sum(map(_size, unit))
                future = pool.submit(_read_batch_in_worker, unit)
            else:
                size = _size(unit)
                future = pool.submit(_read_in_worker, unit)
            ahead.append((future, size, batch))
            ahead_bytes += size
            ahead_batches += batch
            while len(ahead) >= workers * AHEAD_PER_WORKER or (
                    ahead_bytes > AHEAD_BYTES and len(ahead) > workers) or (
                    ahead_batches > workers * BATCHES_AHEAD_PER_WORKER):
                future, size, batch = ahead.popleft()
                ahead_bytes -= size
                ahead_batches -= batch
                yield from _unpacked(future.result())
        for future, _, _ in ahead:
            yield from _unpacked(future.result())


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


def _read_batch_in_worker(jobs: tuple[Job, ...]) -> tuple[list[Read], dict]:
    reads = read_batch(list(jobs), _worker["configs"], _worker["pseudo"], _worker["today"])
    return _packed(reads)


# A batch's files hold slices of the batch's tables, and pickle copies the whole buffer under
# every slice: the tables cross to the writer once, joined, and are sliced again there.


def _packed(reads: list[Read]) -> tuple[list[Read], dict]:
    parts: dict[tuple[str, pa.Schema], list[tuple[int, pa.Table]]] = {}
    for index, read in enumerate(reads):
        if read.batched:
            for name, rows in read.result.tables.items():
                if isinstance(rows, pa.Table):  # a frame (as_arrow could not type it) as it is
                    parts.setdefault((name, rows.schema), []).append((index, rows))
                    read.result.tables[name] = None
    joined = {key: (pa.concat_tables([rows for _, rows in found]).combine_chunks(),
                    [(index, len(rows)) for index, rows in found])
              for key, found in parts.items()}
    return reads, joined


def _unpacked(done: Read | tuple[list[Read], dict]) -> list[Read]:
    if isinstance(done, Read):
        return [done]
    reads, joined = done
    for (name, _), (rows, placed) in joined.items():
        offset = 0
        for index, n in placed:
            reads[index].result.tables[name] = rows.slice(offset, n)
            offset += n
    return reads


def read_batch(jobs: list[Job], configs: ConfigStore, pseudo: Pseudonymiser,
               today: date) -> list[Read]:
    """Adjacent files of one municipality and system (see _units) through the adapter's
    read_batch; the files it leaves out, or all of them if it fails, are read alone."""
    source = jobs[0].source
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        config = configs.for_system(source.kommun_kod, jobs[0].system)
        adapter = importlib.import_module(f"utfall.adapters.{jobs[0].system}")
        results = adapter.read_batch([job.source for job in jobs], config, pseudo, today)
        results = [None if r is None else _with_arrow_tables(r) for r in results]
    except STOPS:
        raise
    except BaseException:  # noqa: BLE001  (each file read alone names its own failure)
        results = [None] * len(jobs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sizes = [_size(job) if result is not None else 0 for job, result in zip(jobs, results,
                                                                           strict=True)]
    total = sum(sizes) or 1
    return [read_one(job, configs, pseudo, today) if result is None else
            Read(result, None, wall * size / total, cpu * size / total, batched=True)
            for job, result, size in zip(jobs, results, sizes, strict=True)]


def _with_arrow_tables(result: AdapterResult) -> AdapterResult:
    result.tables = {name: as_arrow(frame) for name, frame in result.tables.items()}
    return result


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
