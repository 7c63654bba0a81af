"""Turning one imported row (CSV or JSON Lines) into a clean Record, or a reason it was refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from leadsmith.engine.emails import EmailKind, email_kind, parse_address
from leadsmith.engine.identifiers import ProfileKind, normalise_domain, normalise_linkedin
from leadsmith.engine.names import clean_text, join_name, parse_name
from leadsmith.engine.phones import PhoneType, parse_phone, region_hint

_ALIASES: dict[str, str] = {}
for canonical, names in {
    "name": ["name", "fullname", "displayname"],
    "first_name": ["firstname", "first", "givenname", "forename"],
    "last_name": ["lastname", "last", "surname", "familyname"],
    "linkedin": [
        "linkedin",
        "linkedinid",
        "linkedinurl",
        "linkedinprofile",
        "linkedinprofileurl",
        "profileurl",
        "linkedinslug",
    ],
    "emails": ["email", "emails", "emailaddress", "emailaddresses", "mail", "workemail", "personalemail", "proemail"],
    "phones": ["phone", "phones", "phonenumber", "phonenumbers", "mobile", "mobilephone", "telephone", "tel"],
    "title": ["title", "jobtitle", "job", "position", "headline", "role"],
    "company": ["company", "companyname", "organization", "organisation", "employer", "account"],
    "domain": ["domain", "companydomain", "website", "companywebsite", "emaildomain"],
    "location": ["location", "city", "address"],
}.items():
    for n in names:
        _ALIASES[n] = canonical

_SPLIT = re.compile(r"[;,|\s]+")
_PHONE_SPLIT = re.compile(r"[;|]+|,(?=\s*\+)")
_MAX = {"name": 512, "first_name": 255, "last_name": 255, "title": 512, "company": 255, "location": 512}


def recognised_columns() -> dict[str, list[str]]:
    """Each column the import reads, with the spellings it accepts (case, spaces, ``_`` and ``-`` aside)."""
    out: dict[str, list[str]] = {}
    for spelling, canonical in _ALIASES.items():
        out.setdefault(canonical, []).append(spelling)
    return out


@lru_cache(maxsize=1024)
def canonical_column(header: str) -> str | None:
    return _ALIASES.get(re.sub(r"[^a-z0-9]", "", header.lower()))


class Record(NamedTuple):
    """One clean row. Flat, of plain values, so a list of them crosses between processes fast (as
    plain tuples, ``tuple(record)`` there and ``Record._make`` back: ten times faster to unpickle than
    objects)."""

    line: int
    linkedin_kind: ProfileKind | None
    linkedin_id: str | None  # as given (a public slug's case kept)
    linkedin_key: str | None  # as the store indexes it (ProfileRef.key)
    full_name: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    location: str | None
    company_name: str | None
    domain: str | None
    emails: tuple[tuple[str, str, str, EmailKind], ...]  # (address, lower-cased key, domain, kind)
    phones: tuple[tuple[str, PhoneType], ...]  # (E.164, type)
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


def _text(value: Any, column: str) -> str | None:
    if type(value) is str:  # the common case first: every CSV value
        text = clean_text(value)
    elif value is None:
        return None
    elif isinstance(value, (bool, dict, list)):
        raise ValueError(f"{column}: expected text, got {type(value).__name__}")
    else:
        text = clean_text(str(value))
    limit = _MAX.get(column)
    if limit and len(text) > limit:
        raise ValueError(f"{column}: longer than {limit} characters")
    return text or None


def _many(value: Any, column: str, splitter: re.Pattern[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, (dict, list, bool)):
                raise ValueError(f"{column}: expected a list of text")
            out.extend(_many(v, column, splitter))
        return out
    if isinstance(value, (dict, bool)):
        raise ValueError(f"{column}: expected text or a list, got {type(value).__name__}")
    return [p.strip() for p in splitter.split(str(value)) if p.strip()]


def parse_row(raw: Mapping[str, Any], line: int, default_region: str | None = None) -> Record | RowError:
    row: dict[str, Any] = {}
    for key, value in raw.items():
        canonical = canonical_column(str(key))
        if canonical is not None and value not in (None, "") and canonical not in row:
            row[canonical] = value
    try:
        return _parse(row, line, default_region)
    except ValueError as exc:
        return RowError(line, str(exc))


def _parse(row: dict[str, Any], line: int, default_region: str | None) -> Record | RowError:
    warnings: list[str] = []
    linkedin = None
    if (raw_li := _text(row.get("linkedin"), "linkedin")) is not None:
        linkedin = normalise_linkedin(raw_li)
        if linkedin is None:
            return RowError(line, f"linkedin: not a LinkedIn profile id or URL: {raw_li[:80]!r}")

    full, first, last = (
        _text(row.get("name"), "name"),
        _text(row.get("first_name"), "first_name"),
        _text(row.get("last_name"), "last_name"),
    )
    if full and not (first or last):
        parsed = parse_name(full)
        first, last = parsed.first or None, parsed.last or None
    elif not full and (first or last):
        full = join_name(first or "", last or "")

    emails: list[tuple[str, str, str, EmailKind]] = []
    for text in _many(row.get("emails"), "email", _SPLIT):
        address = parse_address(text)
        if address is None:
            warnings.append(f"email: not an address, skipped: {text[:80]!r}")
        elif (key := address.address.lower()) not in {known for _, known, _, _ in emails}:
            emails.append((address.address, key, address.domain, email_kind(address.domain)))

    domain = None
    if (raw_domain := _text(row.get("domain"), "domain")) is not None:
        domain = normalise_domain(raw_domain)
        if domain is None:
            return RowError(line, f"domain: not a company domain: {raw_domain[:80]!r}")
    if domain is None:
        domain = next((normalise_domain(d) for _, _, d, kind in emails if kind == "pro"), None)

    location = _text(row.get("location"), "location")
    region = region_hint(location, domain, default_region)
    phones: list[tuple[str, PhoneType]] = []
    for text in _many(row.get("phones"), "phone", _PHONE_SPLIT):
        phone = parse_phone(text, region)
        if phone is None:
            warnings.append(f"phone: not a valid number, not stored: {text[:40]!r}")
        elif all(e164 != phone.e164 for e164, _ in phones):
            phones.append((phone.e164, phone.type))

    if linkedin is None and not emails:
        return RowError(
            line,
            "needs a LinkedIn id or an e-mail address to identify the person"
            + (f" ({warnings[0]})" if warnings else ""),
        )
    return Record(
        line=line,
        linkedin_kind=linkedin.kind if linkedin else None,
        linkedin_id=linkedin.value if linkedin else None,
        linkedin_key=linkedin.key if linkedin else None,
        full_name=full,
        first_name=first,
        last_name=last,
        title=_text(row.get("title"), "title"),
        location=location,
        company_name=_text(row.get("company"), "company"),
        domain=domain,
        emails=tuple(emails),
        phones=tuple(phones),
        warnings=tuple(warnings),
    )
