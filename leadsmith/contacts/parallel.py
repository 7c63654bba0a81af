"""Parsing import rows in worker processes, a chunk at a time and in order, while the importer writes.

Parsing a row (names, LinkedIn ids, e-mail syntax, phone numbers) is pure CPU work, about 40% of a
one-process import; the look-ups and writes are the importing process's own. With ``jobs`` > 1, chunks of raw rows go
to a process pool and come back as records in the order they were read, a few chunks ahead of the
writer, so parsing and writing overlap and use every core.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from itertools import islice

from leadsmith.contacts.files import RawRow
from leadsmith.contacts.records import Record, RowError, parse_row

CHUNK_ROWS = 2000


def default_jobs() -> int:
    return os.cpu_count() or 1


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of fresh interpreters (spawned, not forked: the importer already runs database threads)
    that exit when the importing process dies, however it dies."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )


def exit_with_parent(parent: int) -> None:
    """In a pool worker: leave as soon as ``parent`` is gone (killed with SIGKILL, say, the pool's own
    shutdown never runs, and an idle worker would wait for work forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def parse_chunk(rows: list[RawRow], default_region: str | None) -> list[Record | RowError]:
    return [
        RowError(raw.line, raw.error or "unreadable row")
        if raw.values is None
        else parse_row(raw.values, raw.line, default_region)
        for raw in rows
    ]


def parse_rows(rows: Iterable[RawRow], default_region: str | None) -> Iterator[Record | RowError]:
    """Records (or the reason a row was refused), in this process."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        yield from parse_chunk(chunk, default_region)


def parse_rows_in(
    pool: Executor | None, rows: Iterable[RawRow], default_region: str | None, ahead: int = 4
) -> Iterator[Record | RowError]:
    """``parse_rows`` with the parsing done in ``pool``, ``ahead`` chunks ahead of the consumer."""
    if pool is None:
        yield from parse_rows(rows, default_region)
        return
    iterator = iter(rows)
    pending: deque[Future[list[Record | RowError]]] = deque()
    try:
        while True:
            while len(pending) < ahead and (chunk := list(islice(iterator, CHUNK_ROWS))):
                pending.append(pool.submit(parse_chunk, chunk, default_region))
            if not pending:
                return
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
