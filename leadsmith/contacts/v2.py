"""Kaspr API v2.0's view of a lead: its body parsed into the one ``LeadQuery``, and a ``Lead`` mapped
onto v2's names (and the older names of the same fields, which clients without a version read)."""

from __future__ import annotations

from typing import Any

from leadsmith.contacts.lead import ALL_KINDS, DataKind, Lead, LeadQuery
from leadsmith.contacts.repository import EmailRow, PersonRow
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
    if not values:
        return None if values is None else frozenset()
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
    p = lead.person
    if p is None or lead.missing:
        return _empty(lead.query)
    want = lead.query.want
    with_work, with_direct = "work_email" in want, "direct_email" in want
    work: list[str] = []
    direct: list[str] = []
    known_pro: list[EmailRow] = []
    personal: list[EmailRow] = []
    predicted: list[EmailRow] = []
    for e in lead.emails:  # one pass, in the order of the look-up: best first, the prediction last
        if e.kind == "pro":
            if not with_work:
                continue
            (predicted if e.predicted else known_pro).append(e)
            if e.valid is not False:
                work.append(e.address)
        elif with_direct:
            personal.append(e)
            if e.valid is not False:
                direct.append(e.address)
    domain = p.company_domain
    emails = [
        {
            "email": e.address,
            "valid": e.valid,
            # A work address is current unless it is at a domain other than the lead's current company's.
            "isCurrent": e.kind != "pro" or domain is None or e.address.rsplit("@", 1)[-1].lower() == domain,
        }
        for e in (*known_pro, *personal, *predicted)
    ]
    phones = [international(e) for e in lead.phones] if "phone" in want else []
    first_work, first_direct, first_phone = _starry(work), _starry(direct), _starry(phones)
    return {
        "profile": {
            "id": p.linkedin_id or lead.query.id_text,
            "name": p.full_name or join_name(p.first_name or "", p.last_name or ""),
            "firstName": p.first_name or "",
            "lastName": p.last_name or "",
            "title": p.title,
            "location": p.location,
            "companyName": p.company_name,
            "company": _company(p),
            "workEmails": work,
            "starryWorkEmail": first_work,
            "directEmails": direct,
            "starryDirectEmail": first_direct,
            "phones": phones,
            "starryPhone": first_phone,
            "emails": emails,
            "fetchedAt": p.updated_at,
            "professionalEmails": work,
            "professionalEmail": first_work,
            "starryProfessionalEmail": first_work,
            "personalEmails": direct,
            "personalEmail": first_direct,
            "starryPersonalEmail": first_direct,
            "phone": first_phone,
            "sources": lead.sources(international),
        }
    }


def _empty(query: LeadQuery) -> dict[str, Any]:
    return {
        "profile": {
            "id": query.id_text,
            "name": query.name or None,
            "firstName": None,
            "lastName": None,
            "title": None,
            "location": None,
            "companyName": None,
            "company": None,
            "workEmails": [],
            "starryWorkEmail": None,
            "directEmails": [],
            "starryDirectEmail": None,
            "phones": [],
            "starryPhone": None,
            "emails": [],
            "fetchedAt": None,
            "professionalEmails": [],
            "professionalEmail": None,
            "starryProfessionalEmail": None,
            "personalEmails": [],
            "personalEmail": None,
            "starryPersonalEmail": None,
            "phone": None,
            "sources": [],
        }
    }


def _company(p: PersonRow) -> dict[str, Any] | None:
    if not (p.company_name or p.company_domain):
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
