"""Parsing import rows in worker processes, a block at a time and in order, while the importer writes.

Reading CSV and parsing a row (names, LinkedIn ids, e-mail syntax, phone numbers) is pure CPU work,
~36 us a row, more than the importer's own look-ups and writes. With ``jobs`` > 1, blocks of the
file's bytes go to a process pool and come back as records (plain tuples: cheap to unpickle) in the
order they were read, sixteen blocks ahead of the writer, so parsing and writing overlap and use every
core, and the importing process spends ~2 us a row on reading and receiving.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from leadsmith.collector import collector_paused
from leadsmith.contacts.files import Block, ImportFile, RawRow, block_rows
from leadsmith.contacts.records import Record, RowError, parse_row

T = TypeVar("T")
SIDE_NICENESS = 10


def default_jobs() -> int:
    return os.cpu_count() or 1


def process_pool(jobs: int, niceness: int = 0) -> ProcessPoolExecutor:
    """A pool of fresh interpreters (spawned, not forked: the importer already runs database threads)
    that exit when the importing process dies, however it dies; ``niceness`` lower priority than it."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(), niceness),
    )


class SidePool(Executor):
    """One worker process for a server's occasional heavy pure work (learning a big domain's patterns),
    spawned the first time work is handed to it (most servers never need it) and again if it died. It
    runs at a lower priority than the server (nice 10): requests come first on a busy machine."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._pool is None:
                self._pool = process_pool(1, SIDE_NICENESS)
            try:
                return self._pool.submit(fn, *args, **kwargs)
            except BrokenProcessPool:  # its process was killed (out of memory, say): a new one
                self._pool.shutdown(wait=False)
                self._pool = process_pool(1, SIDE_NICENESS)
                return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def exit_with_parent(parent: int, niceness: int = 0) -> None:
    """In a pool worker: leave as soon as ``parent`` is gone (killed with SIGKILL, say, the pool's own
    shutdown never runs, and an idle worker would wait for work forever)."""
    if niceness:
        os.nice(niceness)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def parse_rows(rows: Iterable[RawRow], default_region: str | None) -> Iterator[Record | RowError]:
    """Records (or the reason a row was refused), in this process."""
    for raw in rows:
        if raw.values is None:
            yield RowError(raw.line, raw.error or "unreadable row")
        else:
            yield parse_row(raw.values, raw.line, default_region)


def parse_block(block: Block, default_region: str | None) -> list[tuple[Any, ...] | RowError]:
    """In a pool worker: a block's records as plain tuples (see ``Record``), refusals as they are."""
    with collector_paused():  # ~3% of the parsing
        return [
            tuple(item) if isinstance(item, Record) else item for item in parse_rows(block_rows(block), default_region)
        ]


def parse_file_in(
    pool: Executor | None, file: ImportFile, default_region: str | None, ahead: int = 16
) -> Iterator[Record | RowError]:
    """The records of a file, parsed in ``pool`` ``ahead`` blocks ahead of the consumer (in this
    process without a pool): this process only reads bytes. Sixteen blocks (~50,000 rows) are more
    than an import batch, so the pool keeps parsing while the importer writes one (with four it sat
    idle for most of each write)."""
    if pool is None:
        yield from parse_rows(file.rows(), default_region)
        return
    blocks = file.blocks()
    pending: deque[Future[list[tuple[Any, ...] | RowError]]] = deque()
    make = Record._make
    try:
        while True:
            while len(pending) < ahead and (block := next(blocks, None)) is not None:
                pending.append(pool.submit(parse_block, block, default_region))
            if not pending:
                return
            for item in pending.popleft().result():
                yield item if isinstance(item, RowError) else make(item)
    finally:
        for future in pending:
            future.cancel()
