"""The Kaspr lookups: find what is known, shape it as the reference does, charge for what it reveals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadsmith.access.schemas import Caller
from leadsmith.body import domain_field
from leadsmith.config import Settings
from leadsmith.contacts import repository, v2
from leadsmith.contacts.lead import EMAIL_ONLY, DataKind, Lead, LeadQuery, known_kinds
from leadsmith.contacts.repository import EmailRow, PersonRow
from leadsmith.contacts.schemas import DomainRequest, EmployeesRequest, LinkedinRequest, ProfileRequest
from leadsmith.db.database import Database, Executor
from leadsmith.engine.identifiers import ProfileRef, normalise_linkedin
from leadsmith.engine.names import join_name
from leadsmith.engine.phones import international
from leadsmith.errors import NotFound, coded, field_error
from leadsmith.metering.schemas import Charged, Item, Standing, Work
from leadsmith.metering.service import MeteringService, RequestContext
from leadsmith.patterns.service import PatternService
from leadsmith.privacy.identity import Identity, linkedin_value, traits
from leadsmith.privacy.suppression import SuppressionList
from leadsmith.providers.waterfall import Need
from leadsmith.verification.rules import valid_of

if TYPE_CHECKING:
    from leadsmith.providers.waterfall import Upstream


# A lead as read from the store: the person, their addresses, the asking account's standing, their phones.
_Found = tuple[PersonRow, list[EmailRow], Standing, list[tuple[str, str, int]]]


def _email_items(rows: Sequence[EmailRow]) -> list[dict[str, Any]]:
    """Known work addresses, then known personal ones, then predicted ones."""
    pro = [r for r in rows if r.kind == "pro" and not r.predicted]
    personal = [r for r in rows if r.kind != "pro" and not r.predicted]
    predicted = [r for r in rows if r.predicted]
    return [{"email": r.address, "valid": r.valid} for r in pro + personal + predicted]


def _usable(rows: Sequence[EmailRow], kind: str) -> list[str]:
    return [r.address for r in rows if r.kind == kind and r.valid is not False]


def _names(p: PersonRow) -> tuple[str, str, str]:
    first, last = p.first_name or "", p.last_name or ""
    return first, last, p.full_name or join_name(first, last)


def profile_payload(p: PersonRow, emails: Sequence[EmailRow], phones: Sequence[str], started: float) -> dict[str, Any]:
    first, last, full = _names(p)
    pro, personal = _usable(emails, "pro"), _usable(emails, "personal")
    current_pro = pro[0] if pro else None
    return {
        "profile": {
            "id": p.linkedin_id,
            "name": full,
            "firstName": first,
            "lastName": last,
            "emails": _email_items(emails),
            "currentProEmails": pro,
            "currentPersonalEmails": personal,
            "phones": [international(e) for e in phones],
            "location": p.location,
            "title": p.title,
            "companyName": p.company_name,
            "fetchedAt": p.updated_at,
            "currentProEmail": current_pro,
            "processingTime": round(time.perf_counter() - started, 4),
            "currentEmail": current_pro or (personal[0] if personal else None),
        }
    }


def with_prediction(person: PersonRow, emails: Sequence[EmailRow], min_score: float) -> list[EmailRow]:
    """A person's addresses, plus their stored predicted work address when no usable one is known
    (with its verified validity; one verified undeliverable is not shown)."""
    usable_pro = any(e.kind == "pro" and e.valid is not False for e in emails)
    score = person.predicted_score or 0.0
    if usable_pro or person.predicted_address is None or score < min_score:
        return list(emails)
    valid = valid_of(person.predicted_status) if person.predicted_status else None
    if valid is False:
        return list(emails)
    return [*emails, EmailRow(person.predicted_address, "pro", valid, predicted=True)]


def employee_payload(p: PersonRow, emails: Sequence[EmailRow], phones: Sequence[str]) -> dict[str, Any]:
    first, last, full = _names(p)
    usable = _usable(emails, "pro") + _usable(emails, "personal")
    shown = [international(e) for e in phones]
    return {
        "firstName": first,
        "lastName": last,
        "name": full,
        "company": p.company_name,
        "job": p.title,
        "email": usable[0] if usable else None,
        "emails": _email_items(emails),
        "phones": shown,
        "phone": shown[0] if shown else None,
        "location": p.location,
    }


def need_of(query: LeadQuery, emails: Sequence[EmailRow] | None, phones: Sequence[object]) -> Need:
    """What the store lacks for ``query`` (``emails`` None: the lead is not known): an e-mail of a kind asked
    for (any one of them, as a v1 profile takes either), a phone when one is asked for. A prediction is
    not a known address."""
    kinds = frozenset(
        kind for kind, wanted in (("pro", "work_email"), ("personal", "direct_email")) if wanted in query.want
    )
    has_email = emails is not None and any(e.kind in kinds and e.valid is not False and not e.predicted for e in emails)
    phone = "phone" in query.want and not phones
    return Need(frozenset() if has_email else kinds, phone)


def hidden(shield: SuppressionList, person: PersonRow, emails: Sequence[EmailRow], phones: Sequence[str] = ()) -> bool:
    """Whether any identity of the person is suppressed: their LinkedIn profile, an address (their
    predicted one too), a phone, their company's or an address's domain."""
    if not shield.active:
        return False
    addresses = [e.address for e in emails]
    if person.predicted_address:
        addresses.append(person.predicted_address)
    return shield.hides_any(
        traits(
            linkedin_key=person.linkedin_key,
            sales_nav_id=person.sales_nav_id,
            emails=addresses,
            phones=phones,
            domains=(person.company_domain,),
        )
    )


def domain_hidden(shield: SuppressionList, domain: str) -> bool:
    return shield.active and shield.hides(Identity("domain", domain))


@dataclass
class ContactsService:
    db: Database
    settings: Settings
    metering: MeteringService
    patterns: PatternService
    upstream: Upstream | None = None
    suppressions: SuppressionList | None = None

    async def _shield(self) -> SuppressionList | None:
        """The suppression list when it holds anything (None: nobody is hidden, nothing to check)."""
        if self.suppressions is None:
            return None
        shield = await self.suppressions.current()
        return shield if shield.active else None

    async def _hidden(
        self, shield: SuppressionList, person: PersonRow, emails: Sequence[EmailRow], db: Executor | None = None
    ) -> bool:
        """``hidden``, reading the person's phones when a phone number is suppressed."""
        if not shield.has("phone"):
            return hidden(shield, person, emails)
        phones = [e for e, _, _ in await repository.phone_rows(db or self.db, person.id)]
        return hidden(shield, person, emails, phones)

    async def lead(
        self, caller: Caller, ctx: RequestContext, query: LeadQuery, shape: Callable[[Lead], object]
    ) -> Charged:
        """Look a lead up, cut what is known to what was asked, and charge for what is newly revealed: the
        one service call under ``/profile/profile`` and ``/profile/linkedin``, which differ only in
        ``shape`` (the answer under their own names; it may refuse a lead with an error)."""

        ref_key = query.ref.key if query.ref is not None else query.id_text
        params = {"ref": ref_key, "want": sorted(query.want), "require": sorted(query.require)}
        shield: SuppressionList | None = None

        async def look(ref: ProfileRef, db: Executor = self.db) -> _Found | None:
            found = await repository.person_by_linkedin(
                db, ref.key, ref.kind == "sales_navigator", caller.account_id, self.metering.fresh_since()
            )
            if found is None:
                return None
            person, emails, standing = found
            phones = await repository.phone_rows(db, person.id) if "phone" in query.want else []
            return person, emails, standing, phones

        def made(found: _Found) -> Work:
            person, emails, standing, phone_rows = found
            lead = self.lead_of(query, person, emails, phone_rows)
            return Work(shape(lead), lead.items(), standing=standing)

        bill = self.metering.bill(caller, ctx, params)

        async def then(tx: Executor) -> None:
            """In the transaction that keeps the upstream answer: the lead read, shaped and charged there,
            so that a miss commits once. Anything that stops it (a refusal ``shape`` raises, a charge that
            cannot be made) is left for the usual path after, which answers it."""
            bill.forget()  # what an attempt whose transaction was rolled back settled (a group written again)
            try:
                assert query.ref is not None
                found = await look(query.ref, tx)
                if found is None or (shield is not None and await self._hidden(shield, found[0], found[1], tx)):
                    return
                result = made(found)
            except Exception:  # noqa: BLE001 - done again, and answered, after the keep
                return
            await bill.settle_in(tx, result)

        async def work() -> Work:
            nonlocal shield
            ref = query.ref
            if ref is None or not query.want:
                return Work(shape(Lead(query)))
            shield = await self._shield()
            if shield is not None and shield.hides(Identity("linkedin", linkedin_value(ref))):
                return Work(shape(Lead(query)))  # as for a lead not known; no provider is asked
            found = await look(ref)
            if shield is not None and found is not None and await self._hidden(shield, found[0], found[1]):
                return Work(shape(Lead(query)))
            if self.upstream is not None:
                need = need_of(query, found[1] if found else None, found[3] if found else [])
                if not need.empty:
                    # On SQLite a commit is what a miss costs most (the WAL's pages, the store's lock, a
                    # group commit's turn), so the charge rides in the keep's; on PostgreSQL the charge's
                    # one statement after (``credits.charge_at_once``) is cheaper than its statements in
                    # the keep's transaction, each a round trip, holding the keep's locks meanwhile.
                    within = then if self.db.dialect == "sqlite" else None
                    await self.upstream.profile(caller.account_id, ref, query.name, need, within)
                    if bill.settled is not None:
                        return bill.settled  # read and charged in the keep's transaction
                    found = await look(ref)
                    if shield is not None and found is not None and await self._hidden(shield, found[0], found[1]):
                        return Work(shape(Lead(query)))
            if found is None:
                return Work(shape(Lead(query)))
            return made(found)

        return await self.metering.charged(caller, ctx, params, work, bill)

    def lead_of(
        self, query: LeadQuery, person: PersonRow, emails: list[EmailRow], phone_rows: Sequence[tuple[str, str, int]]
    ) -> Lead:
        """What is known of a person, cut to ``query``: the prediction added, requirements checked."""
        emails = with_prediction(person, emails, self.settings.finder_min_score)
        phones = [e164 for e164, _, _ in phone_rows]
        missing = frozenset(query.require - known_kinds(emails, phones))
        origins = tuple((source, since) for _, source, since in phone_rows)
        return Lead(query, person, tuple(emails), tuple(phones), missing, origins)

    async def leads(self, account_id: int, queries: Sequence[LeadQuery], concurrency: int = 8) -> list[Lead]:
        """Many leads at once (a bulk job's batch), by the same rules as ``lead``: one query for the store's,
        then the upstream providers for those it lacks something for, then one query again for those."""

        async def look(qs: Sequence[LeadQuery]) -> dict[tuple[str, str], tuple[PersonRow, list[EmailRow]]]:
            found: dict[tuple[str, str], tuple[PersonRow, list[EmailRow]]] = {}
            for kind in ("public", "sales_navigator"):
                keys = [q.ref.key for q in qs if q.ref is not None and q.ref.kind == kind]
                for key, row in (await repository.people_by_linkedin_many(self.db, keys, kind != "public")).items():
                    found[kind, key] = row
            return found

        shield = await self._shield()
        if shield is not None:  # nobody suppressed is looked up, or asked about upstream
            queries = [
                LeadQuery(None, q.id_text, q.name, q.want, q.require)
                if q.ref is not None and shield.hides(Identity("linkedin", linkedin_value(q.ref)))
                else q
                for q in queries
            ]
        found = await look(queries)
        ids = [p.id for p, _ in found.values()]
        wants_phones = any("phone" in q.want for q in queries) or (shield is not None and shield.has("phone"))
        phones = await repository.phone_rows_many(self.db, ids) if wants_phones else {}
        if self.upstream is not None:
            gate = asyncio.Semaphore(concurrency)
            lacking = []
            for q in queries:
                if q.ref is None or not q.want:
                    continue
                row = found.get((q.ref.kind, q.ref.key))
                need = need_of(q, row[1] if row else None, phones.get(row[0].id, []) if row else [])
                if not need.empty:
                    lacking.append((q, need))

            async def ask(q: LeadQuery, need: Need) -> None:
                assert self.upstream is not None
                assert q.ref is not None
                async with gate:
                    await self.upstream.profile(account_id, q.ref, q.name, need)

            if lacking:
                await asyncio.gather(*(ask(q, need) for q, need in lacking))
                again = await look([q for q, _ in lacking])
                found.update(again)
                phones.update(await repository.phone_rows_many(self.db, [p.id for p, _ in again.values()]))
        out = []
        for q in queries:
            row = found.get((q.ref.kind, q.ref.key)) if q.ref is not None and q.want else None
            if row is not None and shield is not None:
                numbers = [e for e, _, _ in phones.get(row[0].id, [])]
                if hidden(shield, row[0], row[1], numbers):
                    row = None
            if row is None:
                out.append(Lead(q))
            else:
                person, emails = row
                out.append(self.lead_of(q, person, emails, phones.get(person.id, []) if "phone" in q.want else []))
        return out

    async def profile(self, caller: Caller, ctx: RequestContext, req: ProfileRequest) -> Charged:
        """``/profile/profile`` (v1): e-mails always, phones only with isPhoneRequired (then required)."""
        ref = normalise_linkedin(req.id)
        if ref is None:
            raise field_error(
                "id",
                "not a LinkedIn profile id or URL (e.g. john-doe or https://www.linkedin.com/in/john-doe/)",
            )
        phone: frozenset[DataKind] = frozenset({"phone"}) if req.isPhoneRequired else frozenset()
        query = LeadQuery(ref, req.id, req.name, EMAIL_ONLY | phone, phone)

        def shape(lead: Lead) -> object:
            if lead.person is None:
                raise coded(NotFound, "profile_not_found", f"no data is known for LinkedIn profile {ref.value!r}")
            if lead.missing:
                raise coded(
                    NotFound,
                    "phone_not_found",
                    "no phone is known for this lead and isPhoneRequired is true: nothing returned or charged",
                )
            payload = profile_payload(lead.person, lead.emails, lead.phones, ctx.started)
            payload["profile"]["sources"] = lead.sources(international)
            return payload

        return await self.lead(caller, ctx, query, shape)

    async def linkedin(self, caller: Caller, ctx: RequestContext, req: LinkedinRequest) -> Charged:
        """``/profile/linkedin`` (Kaspr v2.0): the same look-up and charge as v1, under v2's names."""
        return await self.lead(caller, ctx, v2.query_of(req), v2.profile)

    async def domain_pattern(self, caller: Caller, ctx: RequestContext, req: DomainRequest) -> Charged:
        domain = domain_field(req.domain)

        async def work() -> Work:
            shield = await self._shield()
            if shield is not None and domain_hidden(shield, domain):
                raise coded(NotFound, "domain_not_found", f"nothing is known about the domain {domain!r}")
            ranked = await self.patterns.scores(domain)
            if not ranked.known_pairs and self.upstream is not None:
                if await repository.has_work_addresses(self.db, domain):
                    await self.patterns.refresh([domain])  # kept from upstream but not learned yet
                else:
                    await self.upstream.pattern(caller.account_id, domain)
                ranked = await self.patterns.scores(domain, fresh=True)
            if not ranked.known_pairs and await repository.company_by_domain(self.db, domain) is None:
                raise coded(NotFound, "domain_not_found", f"nothing is known about the domain {domain!r}")
            top = ranked.patterns[: self.settings.patterns_returned]
            out = []
            for p in top:
                item: dict[str, object] = {"pattern": f"{p.key[0]}@{domain}", "score": round(p.score, 4)}
                if p.key[1]:
                    item["maxLength"] = p.key[1]
                out.append(item)
            return Work({"patterns": out})

        return await self.metering.charged(caller, ctx, {"domain": domain}, work)

    async def domain_employees(self, caller: Caller, ctx: RequestContext, req: EmployeesRequest) -> Charged:
        domain = domain_field(req.domain)
        limit = self.settings.employees_default_limit if req.contactsNumberLimit is None else req.contactsNumberLimit
        top = self.settings.employees_max_limit
        if not 1 <= limit <= top:
            raise field_error("contactsNumberLimit", f"must be between 1 and {top}, got {limit}")

        async def work() -> Work:
            shield = await self._shield()
            if shield is not None and domain_hidden(shield, domain):
                raise coded(NotFound, "domain_not_found", f"no company is known at the domain {domain!r}")
            company = await repository.company_by_domain(self.db, domain)
            staff = await self._staff(company.id, limit, req.isPhoneRequired, shield) if company else []
            if len(staff) < limit and self.upstream is not None:
                await self.upstream.employees(caller.account_id, domain, limit)
                company = await repository.company_by_domain(self.db, domain)
                staff = await self._staff(company.id, limit, req.isPhoneRequired, shield) if company else []
            if company is None:
                raise coded(
                    NotFound,
                    "domain_not_found",
                    f"no company is known at the domain {domain!r}",
                )
            emails = {p.id: with_prediction(p, found, self.settings.finder_min_score) for p, found, _ in staff}
            phones = {p.id: numbers for p, _, numbers in staff} if req.isPhoneRequired else {}
            staff_people = [p for p, _, _ in staff]
            items: list[Item] = []
            for p in staff_people:
                items.append(Item(p.id, "employee"))
                if phones.get(p.id):
                    items.append(Item(p.id, "phone"))
            payload = {
                "employees": [employee_payload(p, emails.get(p.id, []), phones.get(p.id, [])) for p in staff_people]
            }
            return Work(payload, tuple(items))

        params = {"domain": domain, "limit": limit, "phones": req.isPhoneRequired}
        return await self.metering.charged(caller, ctx, params, work)

    async def _staff(
        self, company_id: int, limit: int, require_phone: bool, shield: SuppressionList | None
    ) -> list[tuple[PersonRow, list[EmailRow], list[str]]]:
        """A company's first ``limit`` people with their addresses and phones, the suppressed skipped (more
        are read until ``limit`` are left, or the company has no more)."""
        want = limit
        while True:
            staff = await repository.employees(self.db, company_id, want, require_phone)
            ids = [p.id for p in staff]
            emails = await repository.emails_of(self.db, ids)
            read_phones = require_phone or (shield is not None and shield.has("phone"))
            phones = await repository.phones_of(self.db, ids) if read_phones else {}
            out = [
                (p, emails.get(p.id, []), phones.get(p.id, []))
                for p in staff
                if shield is None or not hidden(shield, p, emails.get(p.id, []), phones.get(p.id, []))
            ]
            if len(out) >= limit or len(staff) < want:
                return out[:limit]
            want = want * 2 + (len(staff) - len(out))
