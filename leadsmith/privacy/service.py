"""Privacy as a service: opt-outs (the suppression list), erasure, access export, removal requests and
retention. The CLI (``leadsmith privacy ...``), the admin API (``/admin/privacy/*``) and the portal's
"Remove my data" page all call this, so each right is served one way whatever asks for it."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from leadsmith.clock import DAY_MS, Clock, now_ms
from leadsmith.config import Settings
from leadsmith.db.database import Database
from leadsmith.engine.phones import international
from leadsmith.errors import BadRequest, NotFound, RateLimited, coded
from leadsmith.metering.counters import Counters
from leadsmith.privacy import mail, repository
from leadsmith.privacy.audit import RevealLog
from leadsmith.privacy.identity import Identity, NotAnIdentity, digest, parse_identity, traits
from leadsmith.privacy.suppression import FOLLOW_SECONDS, SuppressionList

log = logging.getLogger("leadsmith.privacy")

# The tables an erasure deletes from or rewrites: what is vacuumed (PostgreSQL) after it.
ERASED_TABLES = (
    "people",
    "emails",
    "phones",
    "predicted_emails",
    "verifications",
    "reveals",
    "reveal_log",
    "idempotency",
    "job_items",
    "upstream_misses",
    "upstream_calls",
    "privacy_requests",
)
REQUEST_DAYS = 7  # a mailed confirmation link works this long; the request is forgotten after
HOUSEKEEPING_LEASE = "privacy-housekeeping"


def iso(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if ms else None


@dataclass(frozen=True, slots=True)
class Needles:
    """What an erased person's data looks like inside stored text (a bulk item, a stored response): each
    group matches a text that holds all its strings (lower-cased), e.g. a first and a last name."""

    groups: tuple[tuple[str, ...], ...]


def needles_of(people: Sequence[dict[str, Any]], identities: Iterable[Identity]) -> Needles:
    groups: set[tuple[str, ...]] = set()

    def one(value: str | None, least: int = 5) -> None:
        if value and len(value) >= least:
            groups.add((value.lower(),))

    for p in people:
        person = p["person"]
        for e in p["emails"]:
            one(e["address"])
        if p["predicted"]:
            one(p["predicted"]["address"])
        for ph in p["phones"]:
            one(ph["e164"])
            one(international(ph["e164"]))
        for v in (person["linkedin_id"], person["linkedin_key"], person["sales_nav_id"]):
            one(v, 3)
        one(person["full_name"], 4)
        first, last = person["first_name"], person["last_name"]
        if first and last:  # a finder's item names them apart: {"firstName": "Jane", "lastName": "Doe"}
            groups.add((orjson.dumps(first).decode().lower(), orjson.dumps(last).decode().lower()))
    for identity in identities:
        if identity.kind != "domain":  # a domain is in every item about its company: its people's data is found above
            one(identity.value.removeprefix("sn:"), 3)
    return Needles(tuple(sorted(groups)))


def _miss_keys(people: Sequence[dict[str, Any]], identities: Iterable[Identity]) -> list[str]:
    """The remembered upstream misses about these people (``profile:<key>:``, ``email:<domain>:<first>:<last>``)."""
    prefixes = set()
    for identity in identities:
        if identity.kind == "linkedin":
            prefixes.add(f"profile:{identity.value.removeprefix('sn:')}:")
    for p in people:
        person = p["person"]
        for key in (person["linkedin_key"], person["sales_nav_id"]):
            if key:
                prefixes.add(f"profile:{key}:")
        first, last = person["first_name"], person["last_name"]
        if first and last:
            domains = {e["domain"] for e in p["emails"]} | ({person["company_domain"]} - {None})
            for d in domains:
                prefixes.add(f"email:{d}:{first.lower()}:{last.lower()}")
    return sorted(prefixes)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure removed, by table, and how many identities it suppressed."""

    people: int
    removed: dict[str, int]
    suppressed: int

    def as_dict(self) -> dict[str, Any]:
        return {"people": self.people, "removed": self.removed, "suppressed": self.suppressed}


@dataclass
class PrivacyService:
    db: Database
    settings: Settings
    suppressions: SuppressionList
    reveal_log: RevealLog
    counters: Counters | None = None
    patterns: Any = None  # PatternService: the erased addresses' domains are learned again without them
    clock: Clock = now_ms
    # How long other workers may take to see a suppression (they reload the list once a second): an
    # erasure waits this long after suppressing, so nothing they answer meanwhile is left behind.
    settle_seconds: float = 2 * FOLLOW_SECONDS + 0.5
    _mail_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # --- identities

    def identity(self, text: str, *, field_name: str = "identity") -> Identity:
        try:
            return parse_identity(text, self.settings.default_phone_region)
        except NotAnIdentity as exc:
            raise coded(BadRequest, "invalid_identity", f"{field_name}: {exc}") from None

    def identities(self, texts: Sequence[str], field_name: str = "identities") -> list[Identity]:
        if not texts:
            raise coded(BadRequest, "invalid_identity", f"{field_name}: give at least one identity")
        return [self.identity(t, field_name=f"{field_name}[{n}]") for n, t in enumerate(texts)]

    async def _digest(self, identity: Identity) -> str:
        shield = await self.suppressions.current()
        return shield.digest(identity)

    # --- the suppression list

    async def suppress(self, identities: Sequence[Identity], origin: str = "cli") -> int:
        """Add identities to the list; how many were not on it yet. Every worker follows within a second."""
        rows = [(await self._digest(i), i.kind) for i in identities]
        async with self.db.transaction() as tx:
            added = await repository.add_suppressions(tx, rows, origin, self.clock())
        await self.suppressions.reload()
        return added

    async def unsuppress(self, identities: Sequence[Identity]) -> int:
        hashes = [await self._digest(i) for i in identities]
        async with self.db.transaction() as tx:
            removed = await repository.remove_suppressions(tx, hashes)
        await self.suppressions.reload()
        return removed

    async def is_suppressed(self, identity: Identity) -> bool:
        return bool(await repository.is_suppressed(self.db, [await self._digest(identity)]))

    async def suppressed(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The list as it is stored: keyed hashes, never who."""
        return [
            {"hash": r.hash, "kind": r.kind, "origin": r.origin, "createdAt": iso(r.created_at)}
            for r in await repository.list_suppressions(self.db, kind)
        ]

    # --- access export

    async def export(self, identity: Identity) -> dict[str, Any]:
        """Everything stored about the person an identity names, with sources and dates, and the reveal log
        (which accounts received what, when): one JSON document."""
        await self.reveal_log.flush()
        ids = await repository.people_of(self.db, identity)
        people = await repository.dossier(self.db, ids)
        keys = {e["address_key"] for p in people for e in p["emails"]}
        keys |= {p["predicted"]["address"].lower() for p in people if p["predicted"]}
        if identity.kind == "email":
            keys.add(identity.value)
        checks = await repository.verifications_of(self.db, keys)
        return {
            "identity": {"kind": identity.kind, "value": identity.label},
            "generatedAt": iso(self.clock()),
            "suppressed": await self.is_suppressed(identity),
            "people": [_person_document(p) for p in people],
            "verifications": [
                {
                    "email": v["address_key"],
                    "status": v["status"],
                    "score": v["score"],
                    "reasons": orjson.loads(v["reasons"]),
                    "verifiedAt": iso(v["verified_at"]),
                }
                for v in checks
            ],
            "notes": (
                "people: what the store holds, each value with its source (an import's label, or provider:<name> "
                "for an upstream provider's answer) and when it was first and last seen; reveals: every answer "
                "that gave the person's data to an account, kept for "
                f"{self.settings.audit_retention_days:g} days"
            ),
        }

    # --- erasure

    async def erase(self, identity: Identity, *, full: bool = False, origin: str = "erasure") -> Erasure:
        """Remove the person an identity names and everything derived from or about them, then keep them
        suppressed (by every identity they had: LinkedIn profile, addresses, and the one given)."""
        return await self._erase([identity], full=full, suppress=True, origin=origin)

    async def _erase(
        self,
        identities: Sequence[Identity],
        *,
        ids: Sequence[int] | None = None,
        full: bool = False,
        suppress: bool = True,
        origin: str = "erasure",
    ) -> Erasure:
        await self.reveal_log.flush()
        found: set[int] = set(ids or ())
        for identity in identities:
            found |= set(await repository.people_of(self.db, identity))
        people = await repository.dossier(self.db, sorted(found))
        to_suppress = list(identities)
        if suppress:
            for p in people:
                if any(i.kind == "domain" for i in identities):
                    break  # a domain's opt-out is the domain's: its people are not each suppressed
                person = p["person"]
                t = traits(
                    linkedin_key=person["linkedin_key"],
                    sales_nav_id=person["sales_nav_id"],
                    emails=[e["address_key"] for e in p["emails"]],
                )
                to_suppress += [i for i in t.identities() if i.kind in ("linkedin", "email")]
            # Suppressed first, so nothing is served or collected about them while they are erased.
            suppressed = await self.suppress(list(dict.fromkeys(to_suppress)), origin)
            await asyncio.sleep(self.settle_seconds)
        else:
            suppressed = 0
        keys = {e["address_key"] for p in people for e in p["emails"]}
        keys |= {p["predicted"]["address"].lower() for p in people if p["predicted"]}
        keys |= {i.value for i in identities if i.kind == "email"}
        needles = needles_of(people, identities)
        misses = _miss_keys(people, identities)
        removed = await self._remove(sorted(found), keys, misses, needles)
        # A bulk batch or a request another worker had under way may have stored something since.
        again = await self._remove([], set(), [], needles)
        for table, n in again.items():
            removed[table] = removed.get(table, 0) + n
        await self._close_requests_about(to_suppress)
        domains = {e["domain"] for p in people for e in p["emails"] if e["kind"] == "pro"}
        if self.patterns is not None and domains:
            await self.patterns.refresh(domains)  # the patterns learned from their addresses, without them
        await self.db.scrub(ERASED_TABLES, full=full)
        return Erasure(len(people), {k: v for k, v in removed.items() if v}, suppressed)

    async def _remove(
        self, ids: Sequence[int], keys: set[str], misses: Sequence[str], needles: Needles
    ) -> dict[str, int]:
        items = await repository.job_items_mentioning(self.db, needles.groups)
        responses = await repository.responses_mentioning(self.db, needles.groups)
        calls = await repository.calls_mentioning(self.db, needles.groups)
        if not (ids or keys or misses or items or responses or calls):
            return {}
        async with self.db.transaction() as tx:
            return await repository.erase_people(tx, ids, keys, misses, items, responses, calls, self.clock())

    async def _close_requests_about(self, identities: Sequence[Identity]) -> None:
        """Removal requests still open about an erased identity are done with it."""
        hashes = {await self._digest(i) for i in identities}
        for r in await repository.requests(self.db, ("pending", "mailed")):
            try:
                identity = parse_identity(r.identity, self.settings.default_phone_region)
            except NotAnIdentity:
                continue
            digest_ = await self._digest(identity)
            if digest_ in hashes:
                async with self.db.transaction() as tx:
                    await repository.close_request(tx, r.id, "done", self.clock(), digest_)

    # --- retention

    async def forget_stale(self, batch: int = 500) -> int:
        """Erase people no import or upstream answer named for ``LEADSMITH_RETENTION_DAYS`` (not suppressed:
        they did not opt out, they aged)."""
        days = self.settings.retention_days
        if not days:
            return 0
        before = self.clock() - int(days * DAY_MS)
        total = 0
        while ids := await repository.stale_people(self.db, before, batch):
            done = await self._erase([], ids=ids, suppress=False)
            total += done.people
            if done.people == 0:
                break
        if total:
            log.info("retention: erased %d people not seen for %g days", total, days)
        return total

    async def housekeeping(self) -> dict[str, int]:
        """The reveal log purged past its retention, stale people erased, unconfirmed requests forgotten."""
        purged = await self.reveal_log.purge()
        stale = await self.forget_stale()
        async with self.db.transaction() as tx:
            expired = await repository.expire_requests(tx, self.clock() - REQUEST_DAYS * DAY_MS)
        return {"reveals_purged": purged, "people_erased": stale, "requests_expired": len(expired)}

    async def run_housekeeping(self, every_seconds: float = 3600.0, holder: str | None = None) -> None:
        """``housekeeping`` every hour, by one worker at a time (a lease in the store)."""
        from leadsmith.verification.repository import take_lease

        me = holder or secrets.token_hex(8)
        while True:
            await asyncio.sleep(min(every_seconds, 60.0))
            try:
                async with self.db.transaction() as tx:
                    mine = await take_lease(tx, HOUSEKEEPING_LEASE, me, self.clock(), int(every_seconds * 1000))
                if mine:
                    await self.housekeeping()
                    await asyncio.sleep(max(0.0, every_seconds - 60.0))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("privacy housekeeping failed; retried next round")

    # --- removal requests (the portal's "Remove my data")

    async def request_removal(self, text: str, client: str, link_base: str) -> None:
        """A person asks to have their data removed. The answer is the same whatever was given and whatever
        the store holds; only the format of ``text`` may be refused (an e-mail address or a LinkedIn URL)."""
        await self._throttle(client)
        identity = self.identity(text, field_name="email or LinkedIn")
        if identity.kind not in ("email", "linkedin"):
            raise coded(BadRequest, "invalid_identity", "give your e-mail address or your LinkedIn profile URL")
        now = self.clock()
        recipients: list[str] = []
        if self.settings.mail_url:
            if identity.kind == "email":
                recipients = [identity.value]
            else:  # the link goes to an address the store holds for the profile, never to the asker's
                ids = await repository.people_of(self.db, identity)
                people = await repository.dossier(self.db, ids)
                recipients = [e["address"] for p in people for e in p["emails"]][:1]
        token = secrets.token_urlsafe(32) if recipients else None
        async with self.db.transaction() as tx:
            await repository.add_request(
                tx,
                identity.label,
                identity.kind,
                "mailed" if recipients else "pending",
                _token_hash(token) if token else None,
                now,
            )
        if token is not None and self.settings.mail_url:
            link = f"{link_base.rstrip('/')}/portal/remove-my-data/confirm?token={token}"
            task = asyncio.create_task(self._send(recipients[0], link))  # the page does not wait for the relay
            self._mail_tasks.add(task)
            task.add_done_callback(self._mail_tasks.discard)

    async def _send(self, to: str, link: str) -> None:
        assert self.settings.mail_url is not None
        try:
            await mail.send_confirmation(self.settings.mail_url, self.settings.mail_from, to, link)
        except Exception as exc:  # noqa: BLE001 - the request stays; the operator sees it in `privacy requests`
            log.warning(
                "could not send a removal confirmation through %s: %r", mail.safe_url(self.settings.mail_url), exc
            )

    async def _throttle(self, client: str) -> None:
        if self.counters is None:
            return
        per_hour = self.settings.privacy_requests_per_hour
        now = self.clock()
        for who, limit in ((f"ip:{client}", per_hour), ("all", per_hour * 20)):
            window = await self.counters.hit(f"privacy:remove:{who}", 3_600_000, now)
            if window.count > limit:
                minutes = max(1, -(-window.reset_ms // 60_000))
                raise RateLimited(
                    f"too many removal requests; try again in {minutes} minute(s)",
                    headers={"Retry-After": str(minutes * 60)},
                )

    async def pending_confirmation(self, token: str) -> bool:
        row = await repository.request_by_token(self.db, _token_hash(token))
        return row is not None and row.state == "mailed" and row.created_at >= self.clock() - REQUEST_DAYS * DAY_MS

    async def confirm(self, token: str) -> bool:
        """The link mailed to the person was followed: erase, suppress, close. False for a link that is
        unknown, used or expired."""
        row = await repository.request_by_token(self.db, _token_hash(token))
        if row is None or row.state != "mailed" or row.created_at < self.clock() - REQUEST_DAYS * DAY_MS:
            return False
        await self._carry_out(row)
        return True

    async def requests(self, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return [
            {
                "id": int(r.id),
                "kind": r.kind,
                "identity": r.identity if r.state in ("pending", "mailed") else None,
                "state": r.state,
                "createdAt": iso(r.created_at),
                "doneAt": iso(r.done_at),
            }
            for r in await repository.requests(self.db, states)
        ]

    async def approve(self, request_id: int) -> Erasure:
        row = await self._open_request(request_id)
        return await self._carry_out(row)

    async def reject(self, request_id: int) -> None:
        row = await self._open_request(request_id)
        identity = self.identity(row.identity)
        async with self.db.transaction() as tx:
            await repository.close_request(tx, row.id, "rejected", self.clock(), await self._digest(identity))

    async def _open_request(self, request_id: int) -> Any:
        row = await repository.request(self.db, request_id) if 0 < request_id < 2**63 else None
        if row is None or row.state not in ("pending", "mailed"):
            raise coded(NotFound, "request_not_found", f"no open removal request #{request_id}")
        return row

    async def _carry_out(self, row: Any) -> Erasure:
        identity = self.identity(row.identity)
        done = await self.erase(identity, origin="request")
        async with self.db.transaction() as tx:
            await repository.close_request(tx, row.id, "done", self.clock(), await self._digest(identity))
        return done

    async def close(self) -> None:
        for task in list(self._mail_tasks):
            await asyncio.gather(task, return_exceptions=True)
        await self.reveal_log.flush()


def _token_hash(token: str) -> str:
    return digest(b"privacy-request", "email", token)


def _person_document(p: dict[str, Any]) -> dict[str, Any]:
    person = p["person"]
    predicted = p["predicted"]
    return {
        "linkedinId": person["linkedin_id"],
        "salesNavigatorId": person["sales_nav_id"],
        "name": person["full_name"],
        "firstName": person["first_name"],
        "lastName": person["last_name"],
        "title": person["title"],
        "location": person["location"],
        "companyName": person["company_name"] or person["company_known_name"],
        "companyDomain": person["company_domain"],
        "createdAt": iso(person["created_at"]),
        "updatedAt": iso(person["updated_at"]),
        "lastSeenAt": iso(person["seen_at"]),
        "emails": [
            {
                "email": e["address"],
                "kind": "work" if e["kind"] == "pro" else "personal",
                "valid": e["valid"],
                "source": e["source"],
                "confidence": e["confidence"],
                "firstSeen": iso(e["first_seen"]),
                "lastSeen": iso(e["last_seen"]),
            }
            for e in p["emails"]
        ],
        "phones": [
            {
                "phone": international(ph["e164"]),
                "type": ph["type"],
                "source": ph["source"],
                "firstSeen": iso(ph["first_seen"]),
                "lastSeen": iso(ph["last_seen"]),
            }
            for ph in p["phones"]
        ],
        "predictedEmail": (
            {
                "email": predicted["address"],
                "score": predicted["score"],
                "pattern": predicted["pattern"],
                "source": "prediction",
                "updatedAt": iso(predicted["updated_at"]),
            }
            if predicted
            else None
        ),
        "reveals": [
            {
                "account": r["account_email"],
                "accountId": r["account_id"],
                "key": r["key_prefix"],
                "fields": r["fields"].split(","),
                "endpoint": r["endpoint"],
                "at": iso(r["created_at"]),
                "times": r["count"],  # how many times within that second
            }
            for r in p["reveals"]
        ],
    }
