"""The background loops every worker runs (flushing buffered writes, purging what has expired): one way
to run them, so that none dies of its first error and none fails silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(seconds: float, work: Callable[[], Awaitable[object]], log: logging.Logger, failed: str) -> None:
    """``work()`` every ``seconds``, until cancelled. A failure is logged (``failed`` and the traceback)
    and the next round tries again: what was not written is kept by ``work`` for then."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:  # cancellation is not an Exception: it ends the loop
            log.exception("%s", failed)
