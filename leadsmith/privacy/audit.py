"""The reveal log: who received whose data. Every answer that reveals a person (a profile, an employee, a
found address, a bulk item) adds one row per person: the account, the key, the person, which fields, the
endpoint and the time.

Off the request's path: ``record`` counts the reveal in this worker's buffer (a dictionary update), and a
flush writes the buffer once a second, or as soon as it holds ``loops.FLUSH_ROWS`` rows, in one bulk insert:
one row per account, key, person, fields and endpoint since the last flush, with how many times (``count``)
and when first. Only rows whose person still exists are written (one erased in between is not named again).
A worker killed outright loses at most its last second. Rows older than ``LEADSMITH_AUDIT_RETENTION_DAYS``
are purged (0: nothing is logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from leadsmith.clock import DAY_MS, Clock, now_ms
from leadsmith.db.database import Database
from leadsmith.loops import FLUSH_ROWS, every
from leadsmith.metering.schemas import Item
from leadsmith.privacy import repository

log = logging.getLogger("leadsmith.privacy")

# What the log calls each kind of item revealed (a verification reveals nothing stored: not logged).
FIELDS = {"work_email": "work_email", "direct_email": "direct_email", "phone": "phone", "employee": "employee"}
MAX_BUFFERED = 200_000


@dataclass
class RevealLog:
    db: Database
    retention_days: float = 365
    clock: Clock = now_ms
    # (account, key, person, fields, endpoint) -> [first time, count] since the last flush
    _rows: dict[tuple[int, int | None, int | None, str, str], list[int]] = field(default_factory=dict)
    _dropped: int = 0
    _full: asyncio.Event = field(default_factory=asyncio.Event)  # set: flush now, not at the end of the second

    @property
    def enabled(self) -> bool:
        return self.retention_days > 0

    def record(self, account_id: int, key_id: int | None, endpoint: str, items: Iterable[Item]) -> None:
        """What one answer revealed, buffered until the next flush."""
        if self.retention_days <= 0:
            return
        fields: dict[int | None, list[str]] = {}
        for item in items:
            name = FIELDS.get(item.kind)
            if name is not None:
                fields.setdefault(item.person_id, []).append(name)
        if not fields:
            return
        rows = self._rows
        now = 0
        for person_id, names in fields.items():
            key = (account_id, key_id, person_id, ",".join(names), endpoint)
            seen = rows.get(key)
            if seen is not None:
                seen[1] += 1
            elif len(rows) >= MAX_BUFFERED:  # the store has been unwritable for a long time
                self._dropped += 1
            else:
                rows[key] = [now or (now := self.clock()), 1]
        if len(rows) >= FLUSH_ROWS:
            self._full.set()

    async def flush(self) -> int:
        if not self._rows:
            return 0
        rows, self._rows = self._rows, {}
        try:
            async with self.db.transaction() as tx:
                await repository.write_reveals(tx, [(*key, at, n) for key, (at, n) in rows.items()])
        except Exception:
            for key, (at, n) in rows.items():  # kept for the next flush
                seen = self._rows.setdefault(key, [at, 0])
                seen[0], seen[1] = min(seen[0], at), seen[1] + n
            raise
        if self._dropped:
            log.warning("the reveal log dropped %d rows while the store could not be written", self._dropped)
            self._dropped = 0
        return len(rows)

    async def run_flusher(self, every_seconds: float = 1.0) -> None:
        await every(every_seconds, self.flush, log, "could not write the reveal log; retrying", self._full)

    async def purge(self) -> int:
        """Delete rows older than the retention; how many."""
        if self.retention_days <= 0:
            return 0
        before = self.clock() - int(self.retention_days * DAY_MS)
        total = 0
        while True:
            async with self.db.transaction() as tx:
                gone = await repository.purge_reveals(tx, before)
            total += gone
            if gone == 0:
                return total
