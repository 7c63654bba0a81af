"""``pdl``: People Data Labs' Person Enrichment API v5 (``GET /v5/person/enrich``, key in ``X-Api-Key``):
a person by LinkedIn profile, or by name and company domain. A match is a 200 with ``likelihood``
(1-10: how sure PDL is that it is the person asked for), mapped onto leadsmith's confidence of the
addresses it returns (likelihood / 10); no match is a 404, free. One unit per match, as PDL bills.
"""

from __future__ import annotations

from typing import Any

from leadsmith.engine.emails import email_kind
from leadsmith.providers.base import Answer, FoundEmail, FoundPerson, Http, ProfileQuery, ProviderError, text, texts


class PdlProvider:
    def __init__(self, name: str, http: Http, api_key: str, min_likelihood: int = 4) -> None:
        self.name = name
        self.http = http
        self.min_likelihood = min_likelihood
        self._headers = {"X-Api-Key": api_key}

    async def profile(self, query: ProfileQuery) -> Answer:
        params: dict[str, Any] = {"profile": query.url, "min_likelihood": self.min_likelihood}
        if query.name:
            params["name"] = query.name
        return await self._enrich(params)

    async def email(self, first: str, last: str, domain: str) -> Answer:
        params = {"first_name": first, "last_name": last, "company": domain, "min_likelihood": self.min_likelihood}
        return await self._enrich(params, domain)

    async def _enrich(self, params: dict[str, Any], domain: str | None = None) -> Answer:
        found = await self.http.request("GET", "/v5/person/enrich", params=params, headers=self._headers)
        if found is None:
            return Answer()
        body = found[0]
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise ProviderError("bad_answer", f"{self.name}: no person in the answer")
        likelihood = body.get("likelihood")
        confidence = min(1.0, float(likelihood) / 10) if isinstance(likelihood, int | float) else None
        d = body["data"]
        addresses = texts(d.get("work_email")) + texts(d.get("personal_emails"))
        addresses += [
            str(e["address"]) for e in d.get("emails") or [] if isinstance(e, dict) and text(e.get("address"))
        ]
        work = [a for a in addresses if email_kind(a.rsplit("@", 1)[-1]) == "pro"]
        emails = tuple(FoundEmail(a, None, confidence if a in work else None) for a in dict.fromkeys(addresses))
        phones = texts(d.get("mobile_phone")) + texts(d.get("phone_numbers"))
        person = FoundPerson(
            linkedin=text(d.get("linkedin_url")) or text(d.get("linkedin_username")),
            full_name=_title(text(d.get("full_name"))),
            first_name=_title(text(d.get("first_name"))),
            last_name=_title(text(d.get("last_name"))),
            title=text(d.get("job_title")),
            company=_title(text(d.get("job_company_name"))),
            domain=text(d.get("job_company_website")) or domain,
            location=text(d.get("location_name")),
            emails=emails,
            phones=tuple(dict.fromkeys(phones)),
        )
        if not person.emails and not person.phones:
            return Answer(units=1.0)
        return Answer((person,), units=1.0)

    async def check(self) -> str:
        # A look-up of nobody: PDL answers 404 (free) to a good key, 401 to a bad one.
        params = {"profile": "linkedin.com/in/leadsmith-provider-check-0"}
        await self.http.request("GET", "/v5/person/enrich", params=params, headers=self._headers)
        return "key accepted (a look-up of nobody: not found, not billed)"

    async def close(self) -> None:
        await self.http.close()


def _title(value: str | None) -> str | None:
    """PDL writes names in lower case."""
    return value.title() if value and value.islower() else value
