"""``kaspr``: any server that speaks Kaspr's API, the real Kaspr or another leadsmith.

Kaspr API v2.0 by default (``POST /profile/linkedin`` with ``accept-version: v2.0`` and a ``dataToGet``
list); ``api_version = "v1"`` for a server that speaks only the 2020 reference (``POST /profile/profile``).
A lead not known is v2's empty profile, or v1's 404. Employees come from the reference's
``/company/domainEmployees``. Units are the credits the server says it drew (``Decreased-Credits``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from leadsmith.providers.base import Answer, FoundEmail, FoundPerson, Http, ProfileQuery, ProviderError, text, texts

ApiVersion = Literal["v1", "v2"]


class KasprProvider:
    def __init__(self, name: str, http: Http, api_key: str, api_version: ApiVersion = "v2") -> None:
        self.name = name
        self.http = http
        self.api_version = api_version
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        if api_version == "v2":
            self._headers["accept-version"] = "v2.0"

    async def profile(self, query: ProfileQuery) -> Answer:
        if self.api_version == "v2":
            kinds = ["workEmail", "directEmail"] + (["phone"] if query.want_phone else [])
            body: dict[str, Any] = {"id": query.linkedin, "name": query.name or query.linkedin, "dataToGet": kinds}
            found = await self.http.request("POST", "/profile/linkedin", json=body, headers=self._headers)
        else:
            body = {"id": query.linkedin, "name": query.name or query.linkedin, "isPhoneRequired": query.want_phone}
            found = await self.http.request("POST", "/profile/profile", json=body, headers=self._headers)
        if found is None:
            return Answer()
        data, response = found
        profile = data.get("profile") if isinstance(data, dict) else None
        if not isinstance(profile, dict):
            raise ProviderError("bad_answer", f"{self.name}: no profile in the answer")
        person = _person(profile, query.linkedin)
        if not person.emails and not person.phones:
            return Answer(units=_drawn(response))
        return Answer((person,), units=_drawn(response))

    async def employees(self, domain: str, limit: int) -> Answer:
        body = {"domain": domain, "contactsNumberLimit": min(max(limit, 1), 100)}
        found = await self.http.request("POST", "/company/domainEmployees", json=body, headers=self._headers)
        if found is None:
            return Answer()
        data, response = found
        staff = data.get("employees") if isinstance(data, dict) else None
        if not isinstance(staff, list):
            raise ProviderError("bad_answer", f"{self.name}: no employees in the answer")
        people = []
        for e in staff:
            if not isinstance(e, dict):
                continue
            emails = tuple(_emails(e.get("emails"))) or tuple(FoundEmail(a) for a in texts(e.get("email")))
            people.append(
                FoundPerson(
                    full_name=text(e.get("name")),
                    first_name=text(e.get("firstName")),
                    last_name=text(e.get("lastName")),
                    title=text(e.get("job")),
                    company=text(e.get("company")),
                    domain=domain,
                    location=text(e.get("location")),
                    emails=emails,
                    phones=tuple(texts(e.get("phones"))),
                )
            )
        return Answer(tuple(p for p in people if p.emails or p.phones), units=_drawn(response))

    async def check(self) -> str:
        if self.api_version == "v2":
            found = await self.http.request("GET", "/keys/remainingCredits", headers=self._headers, missing=())
            if found is None or not isinstance(found[0], dict):
                raise ProviderError("bad_answer", f"{self.name}: /keys/remainingCredits gave no credits")
            credits = found[0]
            shown = ", ".join(
                f"{k.removesuffix('Credits')} {v}" for k, v in credits.items() if k != "personalEmailCredits"
            )
            return f"key accepted (v2.0); credits left: {shown}"
        found = await self.http.request("GET", "/keys/verifyKey", headers=self._headers, missing=())
        user = found[0].get("user") if found and isinstance(found[0], dict) else None
        return f"key accepted (v1), account {user}"

    async def close(self) -> None:
        await self.http.close()


def _emails(values: Any) -> list[FoundEmail]:
    out = []
    for e in values if isinstance(values, list) else []:
        if isinstance(e, dict) and text(e.get("email")):
            valid = e.get("valid")
            out.append(FoundEmail(str(e["email"]).strip(), valid if isinstance(valid, bool) else None))
    return out


def _person(p: dict[str, Any], slug: str) -> FoundPerson:
    """A v2 profile (either naming) or a v1 one, as a person."""
    validity = {e.address.lower(): e.valid for e in _emails(p.get("emails"))}
    addresses = (
        texts(p.get("workEmails"))
        + texts(p.get("professionalEmails"))
        + texts(p.get("directEmails"))
        + texts(p.get("personalEmails"))
        + texts(p.get("currentProEmails"))
        + texts(p.get("currentPersonalEmails"))
        + list(validity)
    )
    emails = tuple(FoundEmail(a, validity.get(a.lower())) for a in dict.fromkeys(addresses))
    company = p.get("company") if isinstance(p.get("company"), dict) else {}
    domains = texts(company.get("domains")) if company else []
    return FoundPerson(
        linkedin=text(p.get("id")) or slug,
        full_name=text(p.get("name")),
        first_name=text(p.get("firstName")),
        last_name=text(p.get("lastName")),
        title=text(p.get("title")),
        company=text(p.get("companyName")) or (text(company.get("name")) if company else None),
        domain=domains[0] if domains else None,
        location=text(p.get("location")),
        emails=emails,
        phones=tuple(dict.fromkeys(texts(p.get("phones")))),
    )


def _drawn(headers: Mapping[str, str]) -> float:
    try:
        return float(headers.get("decreased-credits", "0") or 0)
    except ValueError:
        return 0.0
