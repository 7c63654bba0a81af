"""The API reference as the portal shows it: one section per endpoint, with examples in shell, Python,
Ruby and JavaScript filled in with this server's address."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Field_:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class EndpointDoc:
    anchor: str
    title: str
    method: str
    path: str
    description: str
    fields: tuple[Field_, ...] = ()
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    response: dict[str, Any] | None = None
    cost: str = ""
    version: str = "v1"


ENDPOINTS: tuple[EndpointDoc, ...] = (
    EndpointDoc(
        "verify-key",
        "Verify Key",
        "GET",
        "/keys/verifyKey",
        "Check that a key works and see which account it belongs to. Free, and not counted against the key's windows.",
        response={"user": "you@company.com"},
        cost="free",
    ),
    EndpointDoc(
        "profile",
        "LinkedIn Profile",
        "POST",
        "/profile/profile",
        "A lead by LinkedIn profile: name, title, company, work and personal e-mails, phones.",
        (
            Field_("id", "string", True, "LinkedIn slug, any profile URL, or a Sales Navigator id"),
            Field_("name", "string", True, "The person's name, as shown on the profile"),
            Field_("isPhoneRequired", "boolean", False, "Return phones (charged); 404 when none is known"),
        ),
        {"id": "https://www.linkedin.com/in/Casper-Linkedin/", "name": "Casper The Ghost"},
        {},
        {"profile": {"name": "Casper The Ghost", "emails": [{"email": "casper@example.com", "valid": True}]}},
        "an e-mail reveal, plus a phone reveal with isPhoneRequired; free again within the reveal window",
    ),
    EndpointDoc(
        "linkedin",
        "LinkedIn Profile (v2.0)",
        "POST",
        "/profile/linkedin",
        "Kaspr API v2.0's look-up of a lead, as today's Kaspr clients send it: the same lead, addresses and phones "
        "as /profile/profile, only the kinds dataToGet asks for, every field under v2's names and the older ones "
        "(professionalEmails, starryPersonalEmail...). A lead not known, or lacking a kind requiredData names, is "
        "a 200 with an empty profile, charged nothing.",
        (
            Field_("id", "string", True, "LinkedIn slug, any profile URL, or a Sales Navigator id"),
            Field_("name", "string", False, "The person's name (optional here)"),
            Field_(
                "dataToGet",
                "array",
                False,
                "Any of workEmail, directEmail (or personalEmail), phone; omitted: all; []: nothing (a free key check)",
            ),
            Field_("requiredData", "array", False, "Kinds without which nothing is returned (also revealed)"),
            Field_("isPhoneRequired", "boolean", False, "v1's flag: phone asked for and required"),
        ),
        {"id": "linkedinId", "name": "Linkedin Name", "dataToGet": ["workEmail", "directEmail", "phone"]},
        {"accept-version": "v2.0"},
        {
            "profile": {
                "id": "linkedinId",
                "name": "Linkedin Name",
                "workEmails": ["linkedin.name@domain"],
                "starryWorkEmail": "linkedin.name@domain",
                "directEmails": ["linkedin.name@gmail.com"],
                "phones": ["+33 1 42 68 53 00"],
                "emails": [{"email": "linkedin.name@domain", "valid": None, "isCurrent": True}],
                "professionalEmails": ["linkedin.name@domain"],
            }
        },
        "one credit of each kind newly revealed (from the account's pool of that kind, or its general balance: "
        "work and direct e-mails then cost one e-mail price together), plus an export credit per call that draws "
        "anything when the account has an export pool; free again within the reveal window",
        version="v2.0",
    ),
    EndpointDoc(
        "remaining-credits",
        "Remaining Credits (v2.0)",
        "GET",
        "/keys/remainingCredits",
        "The credits left of each kind: the account's pool of that kind (-1: unlimited), or, for a kind with no "
        "pool of its own, the general balance it draws on. personalEmailCredits is directEmailCredits again.",
        headers={"accept-version": "v2.0"},
        response={
            "workEmailCredits": -1,
            "directEmailCredits": 200,
            "personalEmailCredits": 200,
            "phoneCredits": 200,
            "exportCredits": 2500,
        },
        cost="free, and not counted against the key's windows",
        version="v2.0",
    ),
    EndpointDoc(
        "rate-limits",
        "Rate Limits (v2.0)",
        "GET",
        "/keys/rateLimits",
        "The key's requests per day, hour and minute (null for a window it does not have): pace to minutelyLimit "
        "and no request is refused. Answers even when a window is spent.",
        headers={"accept-version": "v2.0"},
        response={"dailyLimit": 500, "hourlyLimit": 500, "minutelyLimit": 60},
        cost="free, and not counted against the key's windows",
        version="v2.0",
    ),
    EndpointDoc(
        "domain-pattern",
        "Domain Pattern",
        "POST",
        "/company/domainPattern",
        "A company's e-mail patterns, best first, each with the probability that a new employee's address follows it.",
        (Field_("domain", "string", True, "example.com, a@example.com, @example.com or a URL"),),
        {"domain": "example.com"},
        response={"patterns": [{"pattern": "{first}.{last}@example.com", "score": 0.8}]},
        cost="free",
    ),
    EndpointDoc(
        "domain-employees",
        "Domain Employees",
        "POST",
        "/company/domainEmployees",
        "A company's people, those with a known work address first.",
        (
            Field_("domain", "string", True, "The company's domain"),
            Field_("contactsNumberLimit", "integer", False, "How many, 1 to 100 (default 5)"),
            Field_("isPhoneRequired", "boolean", False, "Only people with a phone, and their phones"),
        ),
        {"domain": "example.com", "contactsNumberLimit": 10, "isPhoneRequired": False},
        cost="per employee returned (plus phones when asked)",
    ),
    EndpointDoc(
        "email-finder",
        "Find E-mail",
        "POST",
        "/company/emailFinder",
        "A person's likely work addresses at a company, best first, at most 5, each with a calibrated score.",
        (
            Field_("domain", "string", True, "The company's domain"),
            Field_("name", "string", False, "Full name (or firstName and lastName)"),
            Field_("firstName", "string", False, "Given name"),
            Field_("lastName", "string", False, "Family name"),
        ),
        {"domain": "example.com", "name": "Ada Lovelace"},
        response={
            "emails": [
                {
                    "email": "ada.lovelace@example.com",
                    "score": 0.71,
                    "pattern": "{first}.{last}@example.com",
                    "valid": None,
                }
            ]
        },
        cost="an e-mail reveal, when something is returned",
    ),
    EndpointDoc(
        "email-verify",
        "Verify E-mail",
        "POST",
        "/email/verify",
        "Whether an address is deliverable: syntax, DNS, disposable and webmail lists, an SMTP probe with "
        "catch-all detection.",
        (Field_("email", "string", True, "The address"),),
        {"email": "jane@example.com"},
        response={
            "email": "jane@example.com",
            "status": "valid",
            "valid": True,
            "score": 95,
            "reasons": {},
            "verified_at": 0,
        },
        cost="one verification per verdict; unknown results are free",
    ),
)

HEADERS = (
    ("Authorization", "request", "Bearer YOUR-KEY (a bare key works too)"),
    ("accept-version", "request", "v2.0, as Kaspr's clients send it; any value or none answers the same"),
    ("Idempotency-Key", "request", "Any unique string: a retry within 24 h gets the first answer, not charged again"),
    (
        "X-RateLimit-Limit / -Remaining / -Reset",
        "response",
        "The limit of the key's window nearest to refusing (the hour's unless it has more), what is left, ms until "
        "reset",
    ),
    (
        "X-Minutely- / X-Hourly- / X-Daily-RateLimit-Limit, -Remaining",
        "response",
        "Each of the key's windows",
    ),
    ("Retry-After", "response", "With a 429: seconds until the key may call again"),
    (
        "Decreased-Credits / Remaining-Credits",
        "response",
        "What this request drew (pools included), and the general balance after it",
    ),
    (
        "Remaining-Work-Email- / -Direct-Email- / -Phone- / -Export-Credits",
        "response",
        "v2.0: each kind's credits left",
    ),
    ("X-Request-Id", "response", "This request's id (yours, if you send one)"),
)


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


def examples(doc: EndpointDoc, base_url: str, key: str = "YOUR-API-KEY") -> dict[str, str]:
    """The call in four languages, as one would paste it."""
    url = base_url.rstrip("/") + doc.path
    headers = {"Authorization": f"Bearer {key}", **doc.headers}
    if doc.body is not None:
        headers["Content-Type"] = "application/json"
    curl = [f"curl -X {doc.method} '{url}'"] + [f"  -H '{k}: {v}'" for k, v in headers.items()]
    if doc.body is not None:
        curl.append(f"  --data '{_json(doc.body)}'")
    shell = " \\\n".join(curl)

    py = ["import requests", "", f'url = "{url}"', f"headers = {_json(headers)}"]
    if doc.body is not None:
        py += [f"payload = {_json(doc.body)}".replace("true", "True").replace("false", "False").replace("null", "None")]
        py += [f"response = requests.{doc.method.lower()}(url, json=payload, headers=headers)"]
    else:
        py += [f"response = requests.{doc.method.lower()}(url, headers=headers)"]
    py += ["print(response.status_code, response.json())"]

    rb = ['require "net/http"', 'require "json"', "", f'uri = URI("{url}")']
    rb += [f"request = Net::HTTP::{doc.method.capitalize()}.new(uri)"]
    rb += [f'request["{k}"] = "{v}"' for k, v in headers.items()]
    if doc.body is not None:
        rb += [f"request.body = {_json(doc.body)}.to_json".replace(": null", ": nil")]
    rb += [
        'response = Net::HTTP.start(uri.hostname, uri.port, use_ssl: uri.scheme == "https") do |http|',
        "  http.request(request)",
        "end",
        "puts response.code, response.body",
    ]

    js = [f'const response = await fetch("{url}", {{', f'  method: "{doc.method}",', f"  headers: {_json(headers)},"]
    if doc.body is not None:
        js += [f"  body: JSON.stringify({_json(doc.body)}),"]
    js += ["});", "console.log(response.status);", "console.log(await response.text());"]
    return {"shell": shell, "python": "\n".join(py), "ruby": "\n".join(rb), "javascript": "\n".join(js)}


def response_example(doc: EndpointDoc) -> str:
    return _json(doc.response, indent=2) if doc.response is not None else ""
