"""``hunter``: Hunter API v2 (https://api.hunter.io/v2): the Email Finder (name + domain) and the Domain
Search (a domain's people and its pattern). Hunter's verification status maps onto ``valid`` (valid:
true, invalid: false, others unknown) and its 0-100 score onto leadsmith's 0-1 confidence. A call that
finds something is one unit (one of Hunter's requests); 404 or an empty answer is a miss.
"""

from __future__ import annotations

from typing import Any

from leadsmith.providers.base import Answer, FoundEmail, FoundPerson, Http, ProviderError, text

_VALID = {"valid": True, "invalid": False}


class HunterProvider:
    def __init__(self, name: str, http: Http, api_key: str) -> None:
        self.name = name
        self.http = http
        self._key = api_key

    async def email(self, first: str, last: str, domain: str) -> Answer:
        params = {"domain": domain, "first_name": first, "last_name": last, "api_key": self._key}
        found = await self.http.request("GET", "/email-finder", params=params)
        data = _data(found, self.name)
        if not data or not text(data.get("email")):
            return Answer()
        person = FoundPerson(
            linkedin=text(data.get("linkedin_url")),
            first_name=text(data.get("first_name")) or first,
            last_name=text(data.get("last_name")) or last,
            title=text(data.get("position")),
            company=text(data.get("company")),
            domain=text(data.get("domain")) or domain,
            emails=(_email(str(data["email"]), data.get("verification"), data.get("score")),),
            phones=tuple(p for p in [text(data.get("phone_number"))] if p),
        )
        return Answer((person,), units=1.0)

    async def employees(self, domain: str, limit: int) -> Answer:
        return await self._domain_search(domain, limit)

    async def pattern(self, domain: str) -> Answer:
        return await self._domain_search(domain, 10)

    async def _domain_search(self, domain: str, limit: int) -> Answer:
        params = {"domain": domain, "limit": min(max(limit, 1), 100), "api_key": self._key}
        data = _data(await self.http.request("GET", "/domain-search", params=params), self.name)
        if not data:
            return Answer()
        people = []
        for e in data.get("emails") or []:
            if not isinstance(e, dict) or not text(e.get("value")) or e.get("type") == "generic":
                continue
            people.append(
                FoundPerson(
                    linkedin=text(e.get("linkedin")),
                    first_name=text(e.get("first_name")),
                    last_name=text(e.get("last_name")),
                    title=text(e.get("position")),
                    company=text(data.get("organization")),
                    domain=domain,
                    emails=(_email(str(e["value"]), e.get("verification"), e.get("confidence")),),
                    phones=tuple(p for p in [text(e.get("phone_number"))] if p),
                )
            )
        pattern = text(data.get("pattern"))
        if not people and not pattern:
            return Answer()
        return Answer(tuple(people), units=1.0, pattern=pattern)

    async def check(self) -> str:
        data = _data(await self.http.request("GET", "/account", params={"api_key": self._key}, missing=()), self.name)
        requests = data.get("requests", {}) if data else {}
        searches = requests.get("searches", {}) if isinstance(requests, dict) else {}
        used, available = searches.get("used"), searches.get("available")
        left = f"; searches used {used} of {available}" if used is not None and available is not None else ""
        return f"key accepted, account {data.get('email') if data else '?'}{left}"

    async def close(self) -> None:
        await self.http.close()


def _data(found: tuple[Any, Any] | None, name: str) -> dict[str, Any] | None:
    if found is None:
        return None
    body = found[0]
    if not isinstance(body, dict):
        raise ProviderError("bad_answer", f"{name}: the answer is not an object")
    data = body.get("data")
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ProviderError("bad_answer", f"{name}: 'data' is not an object")
    return data


def _email(address: str, verification: Any, score: Any) -> FoundEmail:
    status = verification.get("status") if isinstance(verification, dict) else None
    confidence = float(score) / 100 if isinstance(score, int | float) and 0 <= score <= 100 else None
    return FoundEmail(address.strip(), _VALID.get(str(status)), confidence)
