"""LinkedIn profile references and company domains, in every form users paste them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote, urlsplit

from publicsuffixlist import PublicSuffixList

from leadsmith.engine import PER_PERSON_CACHE

_PSL = PublicSuffixList()
_PSL_KNOWN = PublicSuffixList(accept_unknown=False)

_SALES_NAV = re.compile(r"AC[A-Za-z0-9_-]{20,120}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_SLUG_PUNCT = frozenset("-_.")


ProfileKind = Literal["public", "sales_navigator"]


@dataclass(frozen=True, slots=True)
class ProfileRef:
    kind: ProfileKind
    value: str

    @property
    def key(self) -> str:
        """What the store is indexed by: public slugs are case-insensitive, Sales Navigator ids are not."""
        return self.value.casefold() if self.kind == "public" else self.value


_ASCII_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,99}")


def _valid_slug(slug: str) -> bool:
    if slug.isascii():
        return _ASCII_SLUG.fullmatch(slug) is not None
    if not 2 <= len(slug) <= 100 or slug[0] in _SLUG_PUNCT:
        return False
    for ch in slug:
        if ch in _SLUG_PUNCT:
            continue
        cat = unicodedata.category(ch)
        if not (cat.startswith("L") or cat.startswith("N") or cat == "Mn" or cat == "Mc"):
            return False
    return True


def _from_path(path: str) -> ProfileRef | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0].lower() == "in":
        slug = unicodedata.normalize("NFC", parts[1])
        return ProfileRef("public", slug) if _valid_slug(slug) else None
    if len(parts) >= 3 and parts[0].lower() == "sales" and parts[1].lower() in ("lead", "people", "profile"):
        ident = parts[2].split(",", 1)[0]
        return ProfileRef("sales_navigator", ident) if _SALES_NAV.fullmatch(ident) else None
    return None


# The common case, a plain public profile URL with an ASCII slug: what the general path gives it, at a
# tenth of the cost (an import meets a million of them, each once).
_PLAIN_PROFILE_URL = re.compile(r"(?:https?://)?(?:www\.)?linkedin\.com/in/([A-Za-z0-9][A-Za-z0-9._-]{1,99})/?")


def normalise_linkedin(text: str) -> ProfileRef | None:
    """A profile URL (any country subdomain, ``m.``, locale, query string, percent-encoding) or a bare id."""
    text = text.strip()
    plain = _PLAIN_PROFILE_URL.fullmatch(text)
    if plain is not None:
        return ProfileRef("public", plain.group(1))
    return _normalise_linkedin(text)


@lru_cache(maxsize=PER_PERSON_CACHE)
def _normalise_linkedin(text: str) -> ProfileRef | None:
    if not text or len(text) > 2048:
        return None
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        return None
    lowered = decoded.lower()
    if "linkedin.com" in lowered:
        if "://" not in decoded:
            decoded = "https://" + decoded.lstrip("/")
        try:
            parts = urlsplit(decoded)
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        if host != "linkedin.com" and not host.endswith(".linkedin.com"):
            return None
        return _from_path(parts.path)
    ident = decoded.strip("/")
    if _SALES_NAV.fullmatch(ident):
        return ProfileRef("sales_navigator", ident)
    if "%" in ident:
        return None
    slug = unicodedata.normalize("NFC", ident)
    return ProfileRef("public", slug) if _valid_slug(slug) else None


@lru_cache(maxsize=65536)
def normalise_domain(text: str) -> str | None:
    """A mail domain from ``example.com``, ``a@example.com``, ``@example.com`` or a URL.

    Subdomains are kept (``cn.ibm.com`` and ``us.ibm.com`` are different mail domains with their own
    patterns); ``www.`` is dropped; a bare public suffix (``co.uk``) is refused. A name under a
    top-level domain the public-suffix list does not know (``domain``, ``corp.internal``) is kept
    as written, so private and placeholder domains still work.
    """
    text = text.strip().lower()
    if not text or len(text) > 2048 or any(ch.isspace() for ch in text):
        return None
    if "://" in text:
        try:
            host = urlsplit(text).hostname or ""
        except ValueError:
            return None
    else:
        host = text.rsplit("@", 1)[-1]
        host = re.split(r"[/?#]", host, maxsplit=1)[0]
        host = host.split(":", 1)[0]
    host = host.strip(".")
    if not host:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    if _PSL_KNOWN.publicsuffix(host) is None:
        return host
    return host if _PSL.privatesuffix(host) is not None else None
