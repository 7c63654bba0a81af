"""The one place that reads the wall clock, so services can be given another in tests."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def now_ms() -> int:
    return time.time_ns() // 1_000_000
