"""What an upstream provider is to leadsmith: a few typed look-ups, each async, each answering plain records.

A provider declares its look-ups by implementing the small protocols below (``FindsProfiles``,
``FindsEmails``, ``FindsPatterns``, ``FindsEmployees``); ``lookups_of`` tells which. Every provider also
has ``check`` (its cheapest authenticated call) and ``close``. Faults are ``ProviderError``s of one of a
few kinds, which the waterfall turns into skipping, waiting or a circuit breaker, never into a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import orjson

from leadsmith.providers.wire import Pool, WireError

Lookup = Literal["profile", "email", "pattern", "employees"]
LOOKUPS: tuple[Lookup, ...] = ("profile", "email", "pattern", "employees")


@dataclass(frozen=True, slots=True)
class FoundEmail:
    """An address a provider gave, with its verdict (true/false/unknown) and confidence (0-1) if it said."""

    address: str
    valid: bool | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class FoundPerson:
    """A person as a provider describes them, in leadsmith's terms (its import's columns)."""

    linkedin: str | None = None
    full_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company: str | None = None
    domain: str | None = None
    location: str | None = None
    emails: tuple[FoundEmail, ...] = ()
    phones: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        """The person as an import row (what ``contacts.records.parse_row`` reads)."""
        out: dict[str, Any] = {
            "linkedin": self.linkedin,
            "name": self.full_name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "title": self.title,
            "company": self.company,
            "domain": self.domain,
            "location": self.location,
            "emails": [e.address for e in self.emails],
            "phones": list(self.phones),
        }
        return {k: v for k, v in out.items() if v not in (None, "", [])}


@dataclass(frozen=True, slots=True)
class Answer:
    """What one call returned: the people (none for a miss), what it cost in the provider's own units,
    and the e-mail pattern the provider reports for a domain, if any."""

    people: tuple[FoundPerson, ...] = ()
    units: float = 0.0
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileQuery:
    linkedin: str  # the public slug (or Sales Navigator id) as the store keys it
    url: str  # https://www.linkedin.com/in/<slug>
    name: str | None
    want_phone: bool


ErrorKind = Literal["auth", "payment", "rate", "unavailable", "bad_answer"]


class ProviderError(Exception):
    """A call that gave no answer: a refused key (``auth``), no credits left (``payment``), too many calls
    (``rate``, with ``retry_after`` seconds when the provider said), the provider down or slow
    (``unavailable``), or an answer that could not be read (``bad_answer``)."""

    def __init__(self, kind: ErrorKind, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after


@runtime_checkable
class FindsProfiles(Protocol):
    async def profile(self, query: ProfileQuery) -> Answer: ...


@runtime_checkable
class FindsEmails(Protocol):
    async def email(self, first: str, last: str, domain: str) -> Answer: ...


@runtime_checkable
class FindsPatterns(Protocol):
    async def pattern(self, domain: str) -> Answer: ...


@runtime_checkable
class FindsEmployees(Protocol):
    async def employees(self, domain: str, limit: int) -> Answer: ...


class Provider(Protocol):
    name: str

    async def check(self) -> str:
        """The cheapest authenticated call: what works, in a few words (raises ProviderError)."""
        ...

    async def close(self) -> None: ...


_PROTOCOLS: dict[Lookup, type] = {
    "profile": FindsProfiles,
    "email": FindsEmails,
    "pattern": FindsPatterns,
    "employees": FindsEmployees,
}


def lookups_of(provider: object) -> frozenset[Lookup]:
    """The look-ups a provider implements."""
    return frozenset(lookup for lookup, proto in _PROTOCOLS.items() if isinstance(provider, proto))


@dataclass
class Http:
    """The HTTP side every adapter shares: one pool of keep-alive connections (wire.py), the timeout, and
    the documented status codes turned into ``ProviderError`` kinds. An adapter only maps its provider's
    shapes."""

    name: str
    base_url: str
    timeout: float = 10.0
    concurrency: int = 8
    headers: Mapping[str, str] = field(default_factory=dict)
    _pool: Pool | None = None

    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = Pool(self.base_url, limit=self.concurrency)
        return self._pool

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        missing: tuple[int, ...] = (404,),
    ) -> tuple[Any, Mapping[str, str]] | None:
        """The decoded JSON body and the response's headers; None for the statuses in ``missing`` (not found)."""
        query = {k: str(v) for k, v in (params or {}).items()}
        sent = {**self.headers, **(headers or {})}
        body = None
        if json is not None:
            body = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self.pool().request(method, path, query=query, body=body, headers=sent)
        except TimeoutError as exc:
            raise ProviderError("unavailable", f"{self.name}: no answer within {self.timeout:g} s") from exc
        except WireError as exc:
            raise ProviderError("unavailable", f"{self.name}: {exc}") from exc
        status, content, said = reply.status, reply.body, reply.headers
        if status in missing:
            return None
        if status in (401, 403):
            raise ProviderError("auth", f"{self.name}: the key was refused ({status}): {_said(content)}")
        if status == 402:
            raise ProviderError("payment", f"{self.name}: no credits left (402): {_said(content)}")
        if status == 429:
            raise ProviderError("rate", f"{self.name}: too many calls (429)", retry_after=_retry_after(said))
        if status >= 500:
            raise ProviderError("unavailable", f"{self.name}: server error {status}")
        if status >= 400:
            raise ProviderError("bad_answer", f"{self.name}: refused the call ({status}): {_said(content)}")
        if status == 204 or not content.strip():
            return None  # an empty answer: nothing found
        try:
            return orjson.loads(content), said
        except orjson.JSONDecodeError as exc:
            raise ProviderError("bad_answer", f"{self.name}: the answer is not JSON ({status})") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _said(content: bytes) -> str:
    return content.decode("utf-8", "replace").strip().replace("\n", " ")[:200]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def text(value: Any) -> str | None:
    """A provider's value as clean text (None for empty or not text)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def texts(values: Any) -> list[str]:
    if isinstance(values, str):
        return [values] if values.strip() else []
    if not isinstance(values, list):
        return []
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]
