"""The developer portal's rules: sign-up, sign-in (rate-limited, no account enumeration), sessions,
keys and what the dashboard shows. Only ever the signed-in account's own data."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadsmith.access import repository as access_repository
from leadsmith.access.schemas import Account, CreatedKey, KeyInfo
from leadsmith.access.service import AccessService
from leadsmith.clock import DAY_MS, HOUR_MS, Clock, now_ms
from leadsmith.config import Settings
from leadsmith.db.database import Database
from leadsmith.errors import BadRequest, Conflict, Forbidden, RateLimited, Unauthorized, coded
from leadsmith.metering import repository as metering_repository
from leadsmith.metering.counters import Counters
from leadsmith.metering.credits import KIND_NAMES
from leadsmith.metering.schemas import POOL_KINDS
from leadsmith.metering.service import MeteringService
from leadsmith.portal import repository
from leadsmith.portal.security import check_password, hash_password, new_token, password_problem, token_hash
from leadsmith.providers import repository as provider_repository
from leadsmith.usage import recorder as usage

LOGIN_WINDOW_MS = 15 * 60_000


@dataclass(frozen=True, slots=True)
class KeyState:
    info: KeyInfo
    used: int
    limit: int
    reset_ms: int


@dataclass
class PortalService:
    db: Database
    settings: Settings
    access: AccessService
    counters: Counters
    metering: MeteringService
    jobs: Any = None  # the bulk jobs service (see leadsmith/jobs)
    clock: Clock = now_ms

    async def sign_up(self, email: str, password: str, client: str) -> None:
        """Create an account (its keys are created on the dashboard, where each is shown once). An address
        already registered is not revealed: the caller shows the same page either way."""
        if not self.settings.portal_signup_open:
            raise coded(Forbidden, "signup_closed", "sign-up is closed on this server; ask its operator for an account")
        problem = password_problem(password)
        if problem:
            raise coded(BadRequest, "weak_password", problem)
        await self._throttle("signup-ip", client, per_ip=True)
        try:
            async with self.db.transaction() as tx:
                await self.access.create_account(
                    tx,
                    email,
                    credits_=self.settings.signup_credits,
                    rate_limit=self.settings.portal_signup_rate_limit,
                    password_hash=hash_password(password),
                )
        except Conflict:
            return  # same answer as a new account: no enumeration

    async def sign_in(self, email: str, password: str, client: str) -> str:
        """A new session token for a right e-mail and password; one message for every failure."""
        await self._throttle("login-ip", client, per_ip=True)
        await self._throttle("login-email", email.strip().lower())
        found = await repository.password_hash(self.db, email.strip())
        ok = check_password(found[1] if found else None, password)
        if not found or not ok:
            raise coded(Unauthorized, "bad_credentials", "wrong e-mail or password")
        if found[2]:
            raise coded(Forbidden, "account_disabled", "this account is disabled")
        token = new_token()
        now = self.clock()
        async with self.db.transaction() as tx:
            await repository.add_session(
                tx, token_hash(token), found[0], now, now + int(self.settings.portal_session_days * DAY_MS)
            )
        return token

    async def _throttle(self, kind: str, who: str, per_ip: bool = False) -> None:
        """At most ``portal_login_attempts`` per 15 minutes per e-mail, ten times that per IP address
        (many people may share one)."""
        limit = self.settings.portal_login_attempts * (10 if per_ip else 1)
        name = f"{await self.metering.namespace()}:portal:{kind}:{who}"
        window = await self.counters.hit(name, LOGIN_WINDOW_MS, self.clock())
        if window.count > limit:
            minutes = max(1, -(-window.reset_ms // 60_000))
            raise RateLimited(
                f"too many attempts; try again in {minutes} minute(s)", headers={"Retry-After": str(minutes * 60)}
            )

    async def session(self, token: str | None) -> Account | None:
        if not token:
            return None
        account_id = await repository.session_account(self.db, token_hash(token), self.clock())
        if account_id is None:
            return None
        account = await access_repository.account_by_id(self.db, account_id)
        return account if account is not None and not account.disabled else None

    async def sign_out(self, token: str | None) -> None:
        if token:
            async with self.db.transaction() as tx:
                await repository.end_session(tx, token_hash(token))

    async def create_key(self, account: Account, name: str) -> CreatedKey:
        async with self.db.transaction() as tx:
            return await self.access.create_key(tx, account.id, name)

    async def revoke_key(self, account: Account, key_id: int) -> KeyInfo:
        """Only a key of this account: another account's id is "not found", like a key that does not exist."""
        async with self.db.transaction() as tx:
            return await self.access.revoke_key(tx, account.id, str(key_id))

    async def keys(self, account: Account) -> list[KeyState]:
        # This worker's record of keys just used goes to the store first, so that "last used" never lags
        # the window's count (other workers write theirs every few seconds).
        await self.access.flush_last_used()
        now = self.clock()
        window_ms = self.settings.rate_window_seconds * 1000
        limit = account.rate_limit or self.settings.rate_limit_per_hour
        out = []
        for info in await self.access.keys_of(self.db, account.id):
            (hourly,) = await self.metering.key_windows(info.id, info.prefix, limit)
            w = await self.counters.peek(hourly.key, window_ms, now)
            out.append(KeyState(info, w.count, limit, w.reset_ms))
        return out

    async def start_job(self, account: Account, key_id: int, data: bytes, mapping: dict[str, str]) -> str:
        """A bulk job from an uploaded CSV, run as one of the account's keys: the columns as mapped (or, for
        those not mapped, as ``leadsmith enrich`` finds them); the job's id."""
        from leadsmith.enrich import Plan, plan_of
        from leadsmith.jobs.schemas import BulkRequest

        if key_id not in {k.id for k in await self.access.keys_of(self.db, account.id) if k.revoked_at is None}:
            raise coded(BadRequest, "invalid_request", "choose one of your active keys to run the job as")
        text = data.decode("utf-8-sig", errors="replace")
        first = text.split("\n", 1)[0]
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=max(",;\t|", key=first.count))
        rows = list(reader)
        header = list(reader.fieldnames or [])
        if not rows:
            raise coded(BadRequest, "invalid_request", "the file has no rows under its header line")
        chosen = {k: v for k, v in mapping.items() if v in header}
        try:
            found = plan_of(header)
        except ValueError:
            found = Plan("profile")
        plan = Plan(
            mode="finder"
            if chosen.get("domain") or (found.mode == "finder" and not chosen.get("linkedin"))
            else "profile",
            linkedin=chosen.get("linkedin") or found.linkedin,
            name=chosen.get("name") or found.name,
            first=chosen.get("first") or found.first,
            last=chosen.get("last") or found.last,
            domain=chosen.get("domain") or found.domain,
        )
        if plan.mode == "profile" and not plan.linkedin:
            raise coded(BadRequest, "invalid_request", "map a column to the LinkedIn URL, or one to the domain")
        items = []
        for n, row in enumerate(rows):
            name = (row.get(plan.name or "") or "").strip() or " ".join(
                x for x in ((row.get(plan.first or "") or "").strip(), (row.get(plan.last or "") or "").strip()) if x
            )
            if plan.mode == "profile":
                items.append({"id": (row.get(plan.linkedin or "") or "").strip(), "name": name, "ref": str(n + 1)})
            else:
                items.append({"domain": (row.get(plan.domain or "") or "").strip(), "name": name, "ref": str(n + 1)})
        caller = await self.access.caller_of_key(key_id)
        assert self.jobs is not None
        job = await self.jobs.create(
            caller, "profile" if plan.mode == "profile" else "emailFinder", BulkRequest(items=items)
        )
        return str(job["id"])

    async def jobs_of(self, account: Account) -> list[dict[str, Any]]:
        from leadsmith.jobs import repository as jobs_repository
        from leadsmith.jobs.service import job_view

        rows, _ = await jobs_repository.jobs_of(self.db, account.id, 20, 0)
        return [job_view(r) for r in rows]

    async def dashboard(self, account: Account, days: int = 7) -> dict[str, Any]:
        now = self.clock()
        since = (now - days * DAY_MS) // HOUR_MS * HOUR_MS
        rows = await usage.by_hour(self.db, account.id, since)
        hours = list(range(since, now // HOUR_MS * HOUR_MS + 1, HOUR_MS))
        by_hour: defaultdict[int, dict[str, int]] = defaultdict(lambda: {"ok": 0, "error": 0})
        table: defaultdict[tuple[str, int], int] = defaultdict(int)
        for hour, endpoint, status, n in rows:
            by_hour[hour]["ok" if status < 400 else "error"] += n
            table[endpoint, status] += n
        series = [{"hour": h, **by_hour[h]} for h in hours]
        ledger = await metering_repository.ledger_of(self.db, account.id, 50)
        month = datetime.fromtimestamp(now / 1000, UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        upstream: dict[str, dict[str, float]] = {}
        for provider, outcome, calls, units, _ in await provider_repository.usage(
            self.db, int(month.timestamp() * 1000), account.id
        ):
            entry = upstream.setdefault(provider, {"calls": 0, "hit": 0, "units": 0.0})
            entry["calls"] += calls
            entry["units"] += units
            if outcome == "hit":
                entry["hit"] += calls
        purse = await metering_repository.purse(self.db, account.id)
        return {
            "balance": purse.credits,
            "pools": [(KIND_NAMES[k], purse.pool(k)) for k in POOL_KINDS if purse.pool(k) is not None],
            "series": series,
            "peak": max([0, *(p["ok"] + p["error"] for p in series)]),
            "by_endpoint": sorted(((e, s, n) for (e, s), n in table.items()), key=lambda r: (r[0], r[1])),
            "total": sum(n for _, _, _, n in rows),
            "ledger": ledger,
            "upstream": sorted(upstream.items()),
            "days": days,
        }
