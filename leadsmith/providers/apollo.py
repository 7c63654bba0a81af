"""``apollo``: Apollo's People Enrichment (``POST /api/v1/people/match``, key in ``X-Api-Key``): a person
by LinkedIn URL, or by name and domain. ``email_status`` "verified" maps onto valid (and a confidence of
0.9), "guessed" onto unknown (0.5); personal e-mails and phones only when asked to be revealed. A match
is 1 unit (Apollo's credit for an e-mail), 9 when a mobile phone comes with it; ``person: null`` is a miss.
"""

from __future__ import annotations

from typing import Any

from leadsmith.providers.base import Answer, FoundEmail, FoundPerson, Http, ProfileQuery, ProviderError, text, texts

_STATUS: dict[str, tuple[bool | None, float | None]] = {
    "verified": (True, 0.9),
    "guessed": (None, 0.5),
    "extrapolated": (None, 0.4),
    "unavailable": (None, None),
    "bounced": (False, 0.0),
}


class ApolloProvider:
    def __init__(self, name: str, http: Http, api_key: str) -> None:
        self.name = name
        self.http = http
        self._headers = {"X-Api-Key": api_key, "Content-Type": "application/json", "Cache-Control": "no-cache"}

    async def profile(self, query: ProfileQuery) -> Answer:
        body: dict[str, Any] = {"linkedin_url": query.url, "reveal_personal_emails": True}
        if query.name:
            body["name"] = query.name
        if query.want_phone:
            body["reveal_phone_number"] = True
        return await self._match(body)

    async def email(self, first: str, last: str, domain: str) -> Answer:
        return await self._match({"first_name": first, "last_name": last, "domain": domain})

    async def _match(self, body: dict[str, Any]) -> Answer:
        found = await self.http.request("POST", "/api/v1/people/match", json=body, headers=self._headers)
        if found is None:
            return Answer()
        data = found[0]
        if not isinstance(data, dict):
            raise ProviderError("bad_answer", f"{self.name}: the answer is not an object")
        p = data.get("person")
        if p is None:
            return Answer()
        if not isinstance(p, dict):
            raise ProviderError("bad_answer", f"{self.name}: 'person' is not an object")
        valid, confidence = _STATUS.get(str(p.get("email_status")), (None, None))
        emails = [FoundEmail(str(p["email"]).strip(), valid, confidence)] if text(p.get("email")) else []
        emails += [FoundEmail(a) for a in texts(p.get("personal_emails"))]
        phones = [
            text(n.get("sanitized_number")) or text(n.get("raw_number"))
            for n in p.get("phone_numbers") or []
            if isinstance(n, dict)
        ]
        org = p.get("organization") if isinstance(p.get("organization"), dict) else {}
        place = ", ".join(x for x in (text(p.get("city")), text(p.get("state")), text(p.get("country"))) if x)
        person = FoundPerson(
            linkedin=text(p.get("linkedin_url")),
            full_name=text(p.get("name")),
            first_name=text(p.get("first_name")),
            last_name=text(p.get("last_name")),
            title=text(p.get("title")),
            company=text(org.get("name")) if org else None,
            domain=(text(org.get("primary_domain")) or text(org.get("website_url"))) if org else None,
            location=place or None,
            emails=tuple(emails),
            phones=tuple(dict.fromkeys(x for x in phones if x)),
        )
        if not person.emails and not person.phones:
            return Answer()
        return Answer((person,), units=9.0 if person.phones else 1.0)

    async def check(self) -> str:
        found = await self.http.request("GET", "/api/v1/auth/health", headers=self._headers, missing=())
        data = found[0] if found else {}
        if not isinstance(data, dict) or data.get("is_logged_in") is False:
            raise ProviderError("auth", f"{self.name}: the key was not accepted")
        return "key accepted"

    async def close(self) -> None:
        await self.http.close()
