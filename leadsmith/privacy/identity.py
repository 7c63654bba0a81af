"""Who a privacy request is about: an e-mail address, a LinkedIn profile, a phone number or a whole domain,
read from what an operator or a person types, and the keyed hash the suppression list stores of it.

Pure: no I/O. The hash is HMAC-SHA256 under the installation's secret of ``kind:value`` with the value in
the one form the store indexes (an address lower-cased, a public slug case-folded, a number in E.164, a
domain in its ASCII form), so any spelling of the same identity hashes alike and a look-up is one probe
in a set.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from leadsmith.engine.emails import parse_address
from leadsmith.engine.identifiers import ProfileRef, normalise_domain, normalise_linkedin
from leadsmith.engine.phones import parse_phone

IdentityKind = Literal["email", "linkedin", "phone", "domain"]
KINDS: tuple[IdentityKind, ...] = ("email", "linkedin", "phone", "domain")

_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]{6,40}")
_PREFIXED = re.compile(r"(email|linkedin|phone|domain):(.+)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Identity:
    """An identity in its indexed form: ``value`` is what is hashed (and searched for in the store)."""

    kind: IdentityKind
    value: str

    @property
    def label(self) -> str:
        return f"@{self.value}" if self.kind == "domain" else self.value


class NotAnIdentity(ValueError):
    """What was given is none of the four kinds (the message says what each looks like)."""


HELP = (
    "give an e-mail address (jane@example.com), a LinkedIn URL or id (https://www.linkedin.com/in/jane-doe), "
    "a phone number (+33 6 12 34 56 78) or @domain for a whole domain (prefix email:, linkedin:, phone: or "
    "domain: when it could be read two ways)"
)


def linkedin_value(ref: ProfileRef) -> str:
    """A profile's indexed form: a public slug case-folded, a Sales Navigator id as it is (``sn:`` before it)."""
    return ref.key if ref.kind == "public" else f"sn:{ref.key}"


def parse_identity(text: str, default_region: str | None = None) -> Identity:
    """``text`` read as one identity; ``NotAnIdentity`` naming what was wrong otherwise."""
    text = text.strip()
    if not text or len(text) > 2048:
        raise NotAnIdentity(f"empty or longer than 2048 characters: {HELP}")
    prefixed = _PREFIXED.fullmatch(text)
    if prefixed is not None:
        kind = prefixed.group(1).lower()
        found = _as(kind, prefixed.group(2).strip(), default_region)
        if found is None:
            raise NotAnIdentity(f"not a {kind}: {text[:80]!r}")
        return found
    if text.startswith("@"):
        found = _as("domain", text[1:], default_region)
    elif "@" in text and "linkedin.com" not in text.lower():
        found = _as("email", text, default_region)
    elif _PHONE_LIKE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 6:
        found = _as("phone", text, default_region)
    else:
        found = _as("linkedin", text, default_region)
    if found is None:
        raise NotAnIdentity(f"not an identity: {text[:80]!r}: {HELP}")
    return found


def _as(kind: str, text: str, region: str | None) -> Identity | None:
    if kind == "email":
        address = parse_address(text)
        return Identity("email", address.address.lower()) if address is not None else None
    if kind == "domain":
        domain = normalise_domain(text.lstrip("@"))
        return Identity("domain", domain) if domain is not None else None
    if kind == "phone":
        phone = parse_phone(text, region)
        return Identity("phone", phone.e164) if phone is not None else None
    ref = normalise_linkedin(text)
    return Identity("linkedin", linkedin_value(ref)) if ref is not None else None


def digest(secret: bytes, kind: IdentityKind, value: str) -> str:
    """The keyed hash of an identity in its indexed form (64 hex characters)."""
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Traits:
    """Every identity a person (or a row about one) carries, in indexed form: what a suppression of any of
    them hides."""

    linkedin: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def identities(self) -> Iterator[Identity]:
        for kind, values in (
            ("linkedin", self.linkedin),
            ("email", self.emails),
            ("phone", self.phones),
            ("domain", self.domains),
        ):
            for v in values:
                if v:
                    yield Identity(kind, v)  # type: ignore[arg-type]


def traits(
    *,
    linkedin_key: str | None = None,
    sales_nav_id: str | None = None,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    domains: Iterable[str | None] = (),
) -> Traits:
    """A person's traits from the store's columns (addresses in any case; their domains are added)."""
    keys = tuple(e.lower() for e in emails if e)
    refs = tuple(v for v in (linkedin_key, f"sn:{sales_nav_id}" if sales_nav_id else None) if v)
    doms = {d.lower() for d in domains if d} | {k.rsplit("@", 1)[-1] for k in keys if "@" in k}
    return Traits(refs, keys, tuple(p for p in phones if p), tuple(sorted(doms)))
