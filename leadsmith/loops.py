"""The background loops every worker runs (flushing buffered writes, purging what has expired): one way
to run them, so that none dies of its first error and none fails silently."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

# A buffer of rows written by a background flush asks for it early once it holds this many (``every``'s
# ``wake``): the flush is one transaction on the event loop, and every request waits for it (and, on
# SQLite, the other workers' writes too, behind the store's lock). Once a second, a few hundred rows a
# worker under load held the loop for 2-14 ms (bench/upstream.py); 64 rows take a fraction of a millisecond.
FLUSH_ROWS = 64


async def _wait_a_round(seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep ``seconds``, or less once ``wake`` is set (and clear it)."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
    wake.clear()


async def every(
    seconds: float,
    work: Callable[[], Awaitable[object]],
    log: logging.Logger,
    failed: str,
    wake: asyncio.Event | None = None,
) -> None:
    """``work()`` every ``seconds`` (sooner whenever ``wake`` is set), until cancelled. A failure is logged
    (``failed`` and the traceback) and the next round tries again after the whole interval, however often
    ``wake`` is set meanwhile (a store that cannot be written is not asked again on every request): what
    was not written is kept by ``work`` for then."""
    ok = True
    while True:
        await _wait_a_round(seconds, wake if ok else None)
        try:
            await work()
            ok = True
        except Exception:  # cancellation is not an Exception: it ends the loop
            log.exception("%s", failed)
            ok = False
