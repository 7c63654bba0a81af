"""Kaspr API v2.0's view of a lead: its body parsed into the one ``LeadQuery``, and a ``Lead`` mapped
onto v2's names (and the older names of the same fields, which clients without a version read)."""

from __future__ import annotations

from typing import Any

from leadsmith.contacts.lead import ALL_KINDS, DataKind, Lead, LeadQuery
from leadsmith.contacts.schemas import LinkedinRequest
from leadsmith.engine.identifiers import normalise_linkedin
from leadsmith.engine.names import join_name
from leadsmith.engine.phones import international
from leadsmith.errors import field_error

KINDS: dict[str, DataKind] = {
    "workEmail": "work_email",
    "directEmail": "direct_email",
    "personalEmail": "direct_email",
    "phone": "phone",
}
_ALLOWED = "workEmail, directEmail (or personalEmail), phone"


def _kinds(field: str, values: list[str] | None) -> frozenset[DataKind] | None:
    if values is None:
        return None
    unknown = [v for v in values if v not in KINDS]
    if unknown:
        names = ", ".join(repr(v) for v in unknown)
        raise field_error(field, f"unknown value {names}: the allowed values are {_ALLOWED}")
    return frozenset(KINDS[v] for v in values)


def query_of(req: LinkedinRequest) -> LeadQuery:
    """The lead asked for. An id that is no LinkedIn profile is a lead nobody knows (an empty profile)."""
    want = _kinds("dataToGet", req.dataToGet)
    require = _kinds("requiredData", req.requiredData) or frozenset()
    if req.isPhoneRequired:
        require |= {"phone"}
    wanted = ALL_KINDS if want is None else want
    return LeadQuery(normalise_linkedin(req.id), req.id, req.name or "", wanted | require, require)


def _starry(values: list[str]) -> str | None:
    return values[0] if values else None


def profile(lead: Lead) -> dict[str, Any]:
    """``{"profile": {...}}`` with both namings; only the kinds asked for filled; an empty profile (the id
    and name sent, empty lists, null fields) for a lead not known or lacking what was required."""
    q, p = lead.query, lead.person
    work, direct = lead.usable("work_email"), lead.usable("direct_email")
    phones = [international(e) for e in lead.shown_phones()]
    emails = [
        {"email": e.address, "valid": e.valid, "isCurrent": _current(e.kind, e.address, lead)}
        for e in lead.shown_emails()
    ]
    found = lead.found and p is not None
    first = (p.first_name or "") if found and p else None
    last = (p.last_name or "") if found and p else None
    name = (p.full_name or join_name(p.first_name or "", p.last_name or "")) if found and p else q.name or None
    body: dict[str, Any] = {
        "id": p.linkedin_id if found and p and p.linkedin_id else q.id_text,
        "name": name,
        "firstName": first,
        "lastName": last,
        "title": p.title if found and p else None,
        "location": p.location if found and p else None,
        "companyName": p.company_name if found and p else None,
        "company": _company(lead),
        "workEmails": work,
        "starryWorkEmail": _starry(work),
        "directEmails": direct,
        "starryDirectEmail": _starry(direct),
        "phones": phones,
        "starryPhone": _starry(phones),
        "emails": emails,
        "fetchedAt": p.updated_at if found and p else None,
        "professionalEmails": work,
        "professionalEmail": _starry(work),
        "starryProfessionalEmail": _starry(work),
        "personalEmails": direct,
        "personalEmail": _starry(direct),
        "starryPersonalEmail": _starry(direct),
        "phone": _starry(phones),
    }
    return {"profile": body}


def _current(kind: str, address: str, lead: Lead) -> bool:
    """A work address is current unless it is at a domain other than the lead's current company's."""
    domain = lead.person.company_domain if lead.person else None
    return kind != "pro" or domain is None or address.rsplit("@", 1)[-1].lower() == domain


def _company(lead: Lead) -> dict[str, Any] | None:
    p = lead.person
    if not lead.found or p is None or not (p.company_name or p.company_domain):
        return None
    return {
        "name": p.company_name,
        "domains": [p.company_domain] if p.company_domain else [],
        "companyPageUrl": None,
        "industryName": None,
        "industries": [],
        "staffCount": None,
        "universalName": None,
        "mainAddress": {"line1": None, "city": None, "postalCode": None, "country": None},
    }
