"""What the API was asked, counted in memory on the request path and written out every few seconds:
requests per key, hour, endpoint and status (the portal's usage chart), and the figures ``/metrics``
exports (requests, latencies, rate-limit refusals, credits charged, by endpoint)."""

from __future__ import annotations

import bisect
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from leadsmith.clock import HOUR_MS, Clock, now_ms
from leadsmith.db.database import Database, Executor, upsert
from leadsmith.db.tables import usage_hourly
from leadsmith.loops import every

log = logging.getLogger("leadsmith.usage")
# Latency buckets (seconds) of the request-duration histogram.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OTHER = "other"

UsageKey = tuple[int, int, int, str, int]  # account, key, hour, endpoint, status


@dataclass
class UsageRecorder:
    db: Database
    endpoints: frozenset[str] = frozenset()
    clock: Clock = now_ms
    _pending: Counter[UsageKey] = field(default_factory=Counter)
    _pending_credits: Counter[UsageKey] = field(default_factory=Counter)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)
    credits: Counter[str] = field(default_factory=Counter)
    latency: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * (len(BUCKETS) + 1)))
    latency_sum: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def endpoint_of(self, path: str) -> str:
        return path if path in self.endpoints else OTHER

    def record(
        self, path: str, status: int, seconds: float, account_id: int | None, key_id: int | None, charged: int
    ) -> None:
        """One finished request (a few dictionary updates: this runs on every request)."""
        endpoint = self.endpoint_of(path)
        self.requests[endpoint, status] += 1
        self.latency[endpoint][bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[endpoint] += seconds
        if status == 429:
            self.rate_limited[endpoint] += 1
        if charged:
            self.credits[endpoint] += charged
        if account_id is not None and key_id is not None:
            k = (account_id, key_id, self.clock() // HOUR_MS * HOUR_MS, endpoint, status)
            self._pending[k] += 1
            if charged:
                self._pending_credits[k] += charged

    async def flush(self) -> int:
        """Add what was counted since the last flush to ``usage_hourly``; returns the rows written."""
        if not self._pending:
            return 0
        pending, credits = self._pending, self._pending_credits
        self._pending, self._pending_credits = Counter(), Counter()
        columns = ("account_id", "key_id", "hour", "endpoint", "status")
        rows = [
            {**dict(zip(columns, key, strict=True)), "count": n, "credits": credits[key]} for key, n in pending.items()
        ]
        try:
            async with self.db.transaction() as tx:
                await add_usage(tx, rows)
        except Exception:
            # Put the counts back for the next flush rather than lose them.
            self._pending.update(pending)
            self._pending_credits.update(credits)
            raise
        return len(rows)

    async def run_flusher(self, every_seconds: float = 5.0) -> None:
        await every(every_seconds, self.flush, log, "could not write usage; retrying")

    def prometheus(self, totals: Sequence[tuple[str, int, int, int]]) -> str:
        """The Prometheus text format. ``totals`` are (endpoint, status, requests, credits) from the store,
        summed over every worker; the latency histogram is this worker's (labelled with its pid)."""
        worker = str(os.getpid())
        lines = [
            "# HELP leadsmith_requests_total API requests by endpoint and status (all workers, from the store).",
            "# TYPE leadsmith_requests_total counter",
        ]
        credits: Counter[str] = Counter()
        limited: Counter[str] = Counter()
        for endpoint, status, n, charged in totals:
            lines.append(f'leadsmith_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
            credits[endpoint] += charged
            if status == 429:
                limited[endpoint] += n
        lines += [
            "# HELP leadsmith_rate_limited_total Requests refused by a key's hourly limit (all workers).",
            "# TYPE leadsmith_rate_limited_total counter",
            *(f'leadsmith_rate_limited_total{{endpoint="{e}"}} {n}' for e, n in sorted(limited.items())),
            "# HELP leadsmith_credits_charged_total Credits charged (all workers).",
            "# TYPE leadsmith_credits_charged_total counter",
            *(f'leadsmith_credits_charged_total{{endpoint="{e}"}} {n}' for e, n in sorted(credits.items())),
            "# HELP leadsmith_request_duration_seconds Time to the response's first byte, this worker.",
            "# TYPE leadsmith_request_duration_seconds histogram",
        ]
        for endpoint in sorted(self.latency):
            counts = self.latency[endpoint]
            cumulative = 0
            labels = f'endpoint="{endpoint}",worker="{worker}"'
            for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'leadsmith_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
            lines.append(f"leadsmith_request_duration_seconds_sum{{{labels}}} {self.latency_sum[endpoint]:.6f}")
            lines.append(f"leadsmith_request_duration_seconds_count{{{labels}}} {cumulative}")
        return "\n".join(lines) + "\n"


async def add_usage(tx: Executor, rows: Iterable[Mapping[str, object]]) -> None:
    rows = list(rows)
    if not rows:
        return
    stmt = upsert(tx.dialect, usage_hourly)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            usage_hourly.c.account_id,
            usage_hourly.c.key_id,
            usage_hourly.c.hour,
            usage_hourly.c.endpoint,
            usage_hourly.c.status,
        ],
        set_={
            "count": usage_hourly.c.count + stmt.excluded.count,
            "credits": usage_hourly.c.credits + stmt.excluded.credits,
        },
    )
    await tx.execute(stmt, rows)


async def totals(db: Executor) -> list[tuple[str, int, int, int]]:
    """Requests and credits by endpoint and status, over all time and every worker."""
    stmt = (
        sa.select(
            usage_hourly.c.endpoint,
            usage_hourly.c.status,
            sa.func.sum(usage_hourly.c.count).label("n"),
            sa.func.sum(usage_hourly.c.credits).label("charged"),
        )
        .group_by(usage_hourly.c.endpoint, usage_hourly.c.status)
        .order_by(usage_hourly.c.endpoint, usage_hourly.c.status)
    )
    return [(str(r.endpoint), int(r.status), int(r.n), int(r.charged)) for r in await db.fetch_all(stmt)]


async def by_hour(db: Executor, account_id: int, since: int) -> list[tuple[int, str, int, int]]:
    """One account's requests per (hour, endpoint, status) since ``since``."""
    stmt = (
        sa.select(
            usage_hourly.c.hour,
            usage_hourly.c.endpoint,
            usage_hourly.c.status,
            sa.func.sum(usage_hourly.c.count).label("n"),
        )
        .where(usage_hourly.c.account_id == account_id, usage_hourly.c.hour >= since)
        .group_by(usage_hourly.c.hour, usage_hourly.c.endpoint, usage_hourly.c.status)
        .order_by(usage_hourly.c.hour)
    )
    return [(int(r.hour), str(r.endpoint), int(r.status), int(r.n)) for r in await db.fetch_all(stmt)]
