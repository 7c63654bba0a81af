"""Bulk jobs: made from a list, worked through in batches by whichever worker holds the job's lease.

Why the store and leases, not a job library: a job's items, their results and the credits they draw
must move together, in one transaction per batch, on SQLite as on PostgreSQL; the libraries that run on
both (or on SQLite at all) keep their queue apart from the data, so a crash between the two would either
charge an item twice or lose it. Here a batch's results, its job's progress and its charge commit
together: a worker killed mid-batch leaves the batch pending, and whoever takes the job after the lease
runs out does it once.

- Each item is run by the same rules as its single endpoint: the same look-up (and upstream providers),
  the same charge and free re-reveals (``credits.charge_batch``), the same validation.
- Each item counts as one request against the key's windows (``counters.take``); a job whose key has
  spent a window rests until it resets.
- One job at a time per account across workers, a batch at a time, so a big job leaves room for the
  account's interactive requests and everyone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from leadsmith.access.schemas import Caller
from leadsmith.access.service import AccessService
from leadsmith.clock import DAY_MS, Clock, now_ms
from leadsmith.config import Settings
from leadsmith.contacts.lead import EMAIL_ONLY, DataKind, Lead, LeadQuery
from leadsmith.contacts.schemas import ProfileRequest
from leadsmith.contacts.service import ContactsService, profile_payload
from leadsmith.db.database import Database, Executor
from leadsmith.engine.identifiers import normalise_linkedin
from leadsmith.engine.phones import international
from leadsmith.errors import BadRequest, LeadsmithError, NotFound, coded, describe_validation_errors
from leadsmith.jobs import repository, webhooks
from leadsmith.jobs.schemas import BulkRequest, Kind
from leadsmith.loops import every
from leadsmith.metering import credits
from leadsmith.metering.schemas import Item
from leadsmith.metering.service import MeteringService, installation_secret
from leadsmith.patterns.schemas import FinderRequest
from leadsmith.patterns.service import PatternService, finder_ask
from leadsmith.verification.schemas import VerifyRequest
from leadsmith.verification.service import VerificationService

log = logging.getLogger("leadsmith.jobs")

MAX_OFFSET = 1_000_000_000  # far beyond any account's jobs, and inside every database's integers
ENDPOINTS: dict[Kind, str] = {"profile": "/bulk/profile", "emailFinder": "/bulk/emailFinder", "verify": "/bulk/verify"}
ITEM_MODELS: dict[Kind, type[BaseModel]] = {
    "profile": ProfileRequest,
    "emailFinder": FinderRequest,
    "verify": VerifyRequest,
}
RESULT_FIELD: dict[Kind, str] = {"profile": "profile", "emailFinder": "emails", "verify": "verification"}


def job_view(row: Any) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "total": int(row.total),
        "processed": int(row.processed),
        "found": int(row.found),
        "creditsSpent": int(row.credits_spent),
        "counts": orjson.loads(row.counts or "{}"),
        "createdAt": int(row.created_at),
        "startedAt": row.started_at,
        "finishedAt": row.finished_at,
        "callbackUrl": row.callback_url,
        "error": row.error,
    }


def _line(idx: int, ref: str | None, status: str, kind: Kind, result: Any = None, error: str | None = None) -> bytes:
    out: dict[str, Any] = {"index": idx, "ref": ref, "status": status}
    if result is not None:
        out[RESULT_FIELD[kind]] = result
    if error is not None:
        out["error"] = {"message": error}
    return orjson.dumps(out)


class _Stop(Exception):
    """The job was cancelled, or taken by another worker, while this batch ran: nothing of it is kept."""


@dataclass
class JobsService:
    db: Database
    settings: Settings
    access: AccessService
    metering: MeteringService
    contacts: ContactsService
    patterns: PatternService
    verification: VerificationService
    clock: Clock = now_ms
    _holder: str = field(default_factory=lambda: f"{os.getpid()}-{secrets.token_hex(4)}")
    _wake: asyncio.Event | None = None

    # --- the API

    async def create(self, caller: Caller, kind: Kind, req: BulkRequest) -> dict[str, Any]:
        limit = self.settings.bulk_max_items
        if len(req.items) > limit:
            raise coded(BadRequest, "too_many_items", f"items: at most {limit} items a job, got {len(req.items)}")
        callback = await webhooks.checked_url(req.callbackUrl, self.settings.webhook_private_networks)
        now = self.clock()
        job_id = "job_" + secrets.token_urlsafe(18)
        rows, counts = [], Counter[str]()
        for idx, raw in enumerate(req.items):
            ref = raw.get("ref")
            ref_text = str(ref)[:255] if ref is not None else None
            problem = _invalid(kind, raw)
            item = {"job_id": job_id, "idx": idx, "ref": ref_text, "input": orjson.dumps(raw).decode()}
            if problem is None:
                rows.append({**item, "status": None, "result": None, "finished_at": None})
            else:
                counts["invalid"] += 1
                line = _line(idx, ref_text, "invalid", kind, error=problem).decode()
                rows.append({**item, "status": "invalid", "result": line, "finished_at": now})
        options = {"verify": req.verify} if req.verify is not None else {}
        values = {
            "id": job_id,
            "account_id": caller.account_id,
            "key_id": caller.key_id,
            "kind": kind,
            "status": "queued",
            "total": len(rows),
            "processed": sum(counts.values()),
            "found": 0,
            "credits_spent": 0,
            "counts": orjson.dumps(dict(counts)).decode(),
            "options": orjson.dumps(options).decode(),
            "callback_url": callback,
            "webhook_attempts": 0,
            "created_at": now,
        }
        async with self.db.transaction() as tx:
            await repository.insert_job(tx, values, rows)
        if self._wake is not None:
            self._wake.set()
        found = await repository.job(self.db, job_id)
        assert found is not None
        return job_view(found)

    async def get(self, caller: Caller, job_id: str) -> dict[str, Any]:
        return await self.job_of(caller.account_id, job_id)

    async def job_of(self, account_id: int, job_id: str) -> dict[str, Any]:
        row = await repository.job(self.db, job_id, account_id)
        if row is None:
            raise coded(NotFound, "job_not_found", f"no job {job_id!r} on this account")
        return job_view(row)

    async def list_jobs(self, caller: Caller, limit: int, offset: int) -> dict[str, Any]:
        if not 1 <= limit <= 100:
            raise coded(BadRequest, "invalid_request", f"limit: must be between 1 and 100, got {limit}")
        if not 0 <= offset <= MAX_OFFSET:
            raise coded(BadRequest, "invalid_request", f"offset: must be between 0 and {MAX_OFFSET}, got {offset}")
        rows, total = await repository.jobs_of(self.db, caller.account_id, limit, offset)
        return {"jobs": [job_view(r) for r in rows], "total": total, "limit": limit, "offset": offset}

    async def cancel(self, caller: Caller, job_id: str) -> dict[str, Any]:
        await self.get(caller, job_id)  # another account's job is "not found"
        async with self.db.transaction() as tx:
            await repository.cancel(tx, job_id, caller.account_id, self.clock())
        return await self.get(caller, job_id)

    async def results(self, caller: Caller, job_id: str, fmt: str) -> AsyncIterator[bytes]:
        return await self.results_of(caller.account_id, job_id, fmt)

    async def results_of(self, account_id: int, job_id: str, fmt: str) -> AsyncIterator[bytes]:
        """The finished lines in input order (JSON Lines, or CSV with one column per field); the
        cancelled items too once the job has ended."""
        job = await self.job_of(account_id, job_id)
        if fmt not in ("jsonl", "csv"):
            raise coded(BadRequest, "invalid_request", f"format: jsonl or csv, not {fmt!r}")
        kind: Kind = job["kind"]
        ended = job["status"] in repository.FINAL

        async def lines() -> AsyncIterator[dict[str, Any]]:
            after = -1
            while True:
                rows = await repository.results(self.db, job_id, after, 2000)
                if not rows:
                    return
                for r in rows:
                    if r.result is not None:
                        yield orjson.loads(r.result)
                    elif ended and job["status"] == "cancelled":
                        yield {"index": r.idx, "ref": r.ref, "status": "cancelled"}
                after = rows[-1].idx

        if fmt == "jsonl":
            return (orjson.dumps(line) + b"\n" async for line in lines())
        return _csv(kind, lines())

    # --- the runner

    async def run(self, idle_seconds: float = 1.0) -> None:
        """Take jobs and work them through, one at a time, while this worker lives."""
        self._wake = asyncio.Event()
        while True:
            try:
                job = await self._claim()
                if job is None:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(idle_seconds):
                            await self._wake.wait()
                    self._wake.clear()
                    continue
                await self._work(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bulk job runner failed; going on")
                await asyncio.sleep(idle_seconds)

    async def _claim(self) -> Any:
        async with self.db.transaction() as tx:
            return await repository.claim(tx, self._holder, self.clock(), self._lease_ms)

    @property
    def _lease_ms(self) -> int:
        return int(self.settings.bulk_lease_seconds * 1000)

    async def _work(self, job: Any) -> None:
        kind: Kind = job.kind
        options = orjson.loads(job.options or "{}")
        try:
            caller = await self.access.caller_of_key(job.key_id) if job.key_id is not None else None
        except LeadsmithError as exc:
            caller = None
            problem = exc.message
        else:
            problem = "the job's API key no longer exists"
        if caller is None:
            await self._end(job, "failed", problem)
            return
        after = -1
        while True:
            async with self.db.transaction() as tx:
                if not await repository.renew(tx, job.id, self._holder, self.clock() + self._lease_ms):
                    return  # cancelled, or taken by another worker
            rows = await repository.pending(self.db, job.id, self.settings.bulk_batch, after)
            if not rows:
                await self._end(job, "done")
                return
            limits = await self.metering.key_windows(
                caller.key_id, caller.key_prefix, caller.rate_limit, caller.minutely_limit, caller.daily_limit
            )
            granted, windows = await self.metering.counters.take(limits, self.clock(), len(rows))
            if granted == 0:
                wait = max(w.reset_ms for w, lim in zip(windows, limits, strict=True) if w.count >= lim.limit)
                async with self.db.transaction() as tx:
                    await repository.release(tx, job.id, self._holder, self.clock() + max(wait, 1000))
                return
            try:
                refused = await self._batch(job, kind, caller, rows[:granted], options)
            except _Stop:
                return
            after = rows[granted - 1].idx
            if refused:
                await self._refuse_the_rest(job, kind)
                await self._end(job, "done")
                return
            await asyncio.sleep(0)  # interactive requests go first

    async def _batch(self, job: Any, kind: Kind, caller: Caller, rows: Sequence[Any], options: dict[str, Any]) -> bool:
        """One batch: looked up, charged and written in one transaction. True if the account could not
        cover an item."""
        inputs = [orjson.loads(r.input) for r in rows]
        done = await self._compute(kind, caller, inputs, options)
        await asyncio.sleep(0)  # the look-ups are done: interactive requests go before the charge
        now = self.clock()
        batch = [(r.idx, items) for r, (_, _, items) in zip(rows, done, strict=True) if items]
        by_idx = {r.idx: (r, d) for r, d in zip(rows, done, strict=True)}

        async def write(tx: Executor, outcome: dict[int, int | None]) -> None:
            locked = await repository.lock_job(tx, job.id)
            if locked is None or locked.status != "running" or locked.holder != self._holder:
                raise _Stop
            counts = Counter[str](orjson.loads(locked.counts or "{}"))
            out, found, spent = [], 0, 0
            for idx, (row, (status, result, _)) in by_idx.items():
                drawn = outcome.get(idx, 0)
                if drawn is None:
                    line = _line(idx, row.ref, "insufficient_credits", kind,
                                 error="the account's credits ran out before this item")  # fmt: skip
                    status, drawn = "insufficient_credits", 0
                else:
                    line = _line(idx, row.ref, status, kind, result)
                counts[status] += 1
                found += status == "found"
                spent += drawn
                out.append({"i": idx, "s": status, "r": line.decode(), "c": drawn, "at": now})
            await repository.finish_items(tx, job.id, out)
            await repository.add_progress(tx, job.id, len(out), found, spent, orjson.dumps(dict(counts)).decode())

        outcome = await credits.charge_batch(
            self.db,
            caller.account_id,
            caller.prices,
            batch,
            endpoint=ENDPOINTS[kind],
            request_id=f"{job.id}:{rows[0].idx}",
            now=now,
            fresh_since=self.metering.fresh_since(now),
            then=write,
        )
        if self.metering.on_reveal is not None:
            for idx, items in batch:
                if outcome.get(idx) is not None:
                    self.metering.on_reveal(caller.account_id, caller.key_id, ENDPOINTS[kind], items)
        return any(v is None for v in outcome.values())

    async def _compute(
        self, kind: Kind, caller: Caller, inputs: Sequence[dict[str, Any]], options: dict[str, Any]
    ) -> list[tuple[str, Any, tuple[Item, ...]]]:
        """Each item's (status, result, what it reveals), by its single endpoint's rules."""
        if kind == "profile":
            return await self._profiles(caller, inputs)
        if kind == "emailFinder":
            asks = [finder_ask(FinderRequest.model_validate(raw)) for raw in inputs]
            verify = options.get("verify")
            works = await self.patterns.finder_works(
                caller.account_id, asks, self.patterns.finder_verify if verify is None else bool(verify)
            )
            out = []
            for work in works:
                emails = work.payload["emails"]  # type: ignore[index]
                out.append(("found" if emails else "not_found", emails, work.items))
            return out
        results = await self.verification.verify_batch([str(raw["email"]) for raw in inputs])
        return [("found", r.as_dict(), self.verification.verdict_items(r)) for r in results]

    async def _profiles(
        self, caller: Caller, inputs: Sequence[dict[str, Any]]
    ) -> list[tuple[str, Any, tuple[Item, ...]]]:
        queries = []
        for raw in inputs:
            req = ProfileRequest.model_validate(raw)
            phone: frozenset[DataKind] = frozenset({"phone"}) if req.isPhoneRequired else frozenset()
            queries.append(LeadQuery(normalise_linkedin(req.id), req.id, req.name, EMAIL_ONLY | phone, phone))
        started = time.perf_counter()
        out: list[tuple[str, Any, tuple[Item, ...]]] = []
        for lead in await self.contacts.leads(caller.account_id, queries):
            out.append(_profile_result(lead, started))
        return out

    async def _refuse_the_rest(self, job: Any, kind: Kind) -> None:
        """Once the account's credits ran out, every item not done yet is refused too."""
        while rows := await repository.pending(self.db, job.id, 5000):
            now = self.clock()
            async with self.db.transaction() as tx:
                locked = await repository.lock_job(tx, job.id)
                if locked is None or locked.holder != self._holder:
                    return
                counts = Counter[str](orjson.loads(locked.counts or "{}"))
                counts["insufficient_credits"] += len(rows)
                out = [
                    {"i": r.idx, "s": "insufficient_credits", "c": 0, "at": now,
                     "r": _line(r.idx, r.ref, "insufficient_credits", kind,
                                error="the account's credits ran out before this item").decode()}
                    for r in rows
                ]  # fmt: skip
                await repository.finish_items(tx, job.id, out)
                await repository.add_progress(tx, job.id, len(out), 0, 0, orjson.dumps(dict(counts)).decode())

    async def _end(self, job: Any, status: str, error: str | None = None) -> None:
        async with self.db.transaction() as tx:
            await repository.end(tx, job.id, status, self.clock(), webhook=job.callback_url is not None, error=error)

    # --- callbacks and clean-up

    async def run_webhooks(self, every_seconds: float = 1.0) -> None:
        """Send the callbacks of jobs that ended, retried with backoff until the receiver takes them."""
        secret = await self._installation_secret()
        while True:
            await asyncio.sleep(every_seconds)
            try:
                async with self.db.transaction() as tx:
                    due = await repository.due_webhooks(tx, self.clock(), self._holder, 60_000)
                for row in due:
                    await self._deliver(row, secret)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not send bulk job callbacks; retrying")

    async def _deliver(self, row: Any, secret: str) -> None:
        body = orjson.dumps({"job": job_view(row)})
        problem = await webhooks.check_url(row.callback_url, self.settings.webhook_private_networks)
        if problem is None:
            problem = await webhooks.send(row.callback_url, body, webhooks.account_secret(secret, row.account_id))
        attempts = int(row.webhook_attempts) + 1
        if problem is None:
            state, next_at = "delivered", None
        elif attempts > len(webhooks.BACKOFF_SECONDS):
            state, next_at = "failed", None
            log.warning("job %s: its callback was given up after %d attempts: %s", row.id, attempts, problem)
        else:
            state, next_at = "pending", self.clock() + webhooks.BACKOFF_SECONDS[attempts - 1] * 1000
        async with self.db.transaction() as tx:
            await repository.webhook_done(tx, row.id, state, attempts, next_at)

    async def _installation_secret(self) -> str:
        return await installation_secret(self.db)

    async def webhook_secret(self, account_id: int) -> str:
        return webhooks.account_secret(await self._installation_secret(), account_id)

    async def purge(self) -> int:
        """Forget jobs that ended more than ``bulk_retention_days`` ago, with their results."""
        async with self.db.transaction() as tx:
            return await repository.purge(tx, self.clock() - int(self.settings.bulk_retention_days * DAY_MS))

    async def run_purger(self, every_seconds: float = 3600.0) -> None:
        await every(every_seconds, self.purge, log, "could not purge old bulk jobs; retrying")


def _invalid(kind: Kind, raw: Any) -> str | None:
    """Why an item would be refused by its single endpoint, in its words; None if it would not."""
    if not isinstance(raw, dict):
        return "each item must be a JSON object"
    try:
        req = ITEM_MODELS[kind].model_validate(raw)
    except ValidationError as exc:
        return describe_validation_errors(exc.errors(include_url=False, include_input=False))[0]
    try:
        if isinstance(req, ProfileRequest) and normalise_linkedin(req.id) is None:
            return "id: not a LinkedIn profile id or URL (e.g. john-doe or https://www.linkedin.com/in/john-doe/)"
        if isinstance(req, FinderRequest):
            finder_ask(req)
    except LeadsmithError as exc:
        return exc.message
    return None


def _profile_result(lead: Lead, started: float) -> tuple[str, Any, tuple[Item, ...]]:
    if lead.person is None:
        return "not_found", None, ()
    if lead.missing:
        return "not_found", None, ()
    payload = profile_payload(lead.person, lead.emails, lead.phones, started)
    payload["profile"]["sources"] = lead.sources(international)
    return "found", payload["profile"], lead.items()


_CSV_FIELDS: dict[Kind, list[str]] = {
    "profile": ["index", "ref", "status", "id", "name", "firstName", "lastName", "email", "emails", "phone",
                "phones", "title", "company", "location", "error"],
    "emailFinder": ["index", "ref", "status", "email", "score", "pattern", "valid", "emails", "error"],
    "verify": ["index", "ref", "status", "email", "result", "valid", "score", "error"],
}  # fmt: skip


def _flat(kind: Kind, line: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"index": line["index"], "ref": line.get("ref"), "status": line["status"]}
    out["error"] = (line.get("error") or {}).get("message")
    if kind == "profile" and line.get("profile"):
        p = line["profile"]
        out |= {k: p.get(k) for k in ("id", "name", "firstName", "lastName", "title", "location")}
        out["company"] = p.get("companyName")
        out["email"] = p.get("currentEmail")
        out["emails"] = ";".join(e["email"] for e in p.get("emails", []))
        out["phones"] = ";".join(p.get("phones", []))
        out["phone"] = (p.get("phones") or [None])[0]
    elif kind == "emailFinder" and line.get("emails"):
        best = line["emails"][0]
        out |= {"email": best["email"], "score": best["score"], "pattern": best["pattern"], "valid": best["valid"]}
        out["emails"] = ";".join(e["email"] for e in line["emails"])
    elif kind == "verify" and line.get("verification"):
        v = line["verification"]
        out |= {"email": v["email"], "result": v["status"], "valid": v["valid"], "score": v["score"]}
    return out


async def _csv(kind: Kind, lines: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS[kind], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    async for line in lines:
        writer.writerow(_flat(kind, line))
        if buffer.tell() > 65536:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
