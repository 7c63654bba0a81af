"""A loopback stand-in for an upstream provider: answers each path as a test scripts it (the provider's
documented example responses and errors), counts the calls, and can be slow. Only ever on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


Script = Callable[[Seen], Reply]


class FakeProvider:
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.calls: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = ""

    def on(self, path: str, reply: Reply | Script) -> None:
        self.scripts[path] = reply if callable(reply) else (lambda _seen, r=reply: r)

    def total(self) -> int:
        return sum(self.calls.values())


@contextmanager
def fake_provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            seen = Seen(
                self.command, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body
            )
            with fake.lock:
                fake.calls[parts.path] += 1
                fake.seen.append(seen)
            script = fake.scripts.get(parts.path)
            reply = script(seen) if script else Reply(404, {"error": "no such path in the fake"})
            if reply.delay:
                time.sleep(reply.delay)
            data = (
                reply.body
                if isinstance(reply.body, bytes)
                else (b"" if reply.body is None else json.dumps(reply.body).encode())
            )
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


# The providers' documented example answers, trimmed to what leadsmith reads.
HUNTER_FINDER = {
    "data": {
        "first_name": "Alexis",
        "last_name": "Ohanian",
        "email": "alexis@reddit.com",
        "score": 97,
        "domain": "reddit.com",
        "accept_all": False,
        "position": "Cofounder",
        "twitter": None,
        "linkedin_url": "https://www.linkedin.com/in/alexisohanian",
        "phone_number": None,
        "company": "Reddit",
        "sources": [{"domain": "redditblog.com", "uri": "http://redditblog.com/", "extracted_on": "2015-09-18"}],
        "verification": {"date": "2019-12-06", "status": "valid"},
    },
    "meta": {"params": {"first_name": "Alexis", "last_name": "Ohanian", "domain": "reddit.com"}},
}
HUNTER_DOMAIN = {
    "data": {
        "domain": "stripe.com",
        "disposable": False,
        "webmail": False,
        "accept_all": True,
        "pattern": "{first}",
        "organization": "Stripe",
        "emails": [
            {
                "value": "patrick@stripe.com",
                "type": "personal",
                "confidence": 92,
                "first_name": "Patrick",
                "last_name": "Collison",
                "position": "CEO",
                "linkedin": "https://www.linkedin.com/in/patrickcollison",
                "phone_number": None,
                "verification": {"date": "2019-12-06", "status": "valid"},
            },
            {"value": "press@stripe.com", "type": "generic", "confidence": 91, "first_name": None, "last_name": None},
            {
                "value": "john@stripe.com",
                "type": "personal",
                "confidence": 90,
                "first_name": "John",
                "last_name": "Collison",
                "position": "President",
                "verification": {"date": None, "status": "accept_all"},
            },
        ],
    },
    "meta": {"results": 3, "limit": 10, "offset": 0},
}
HUNTER_ACCOUNT = {"data": {"email": "ops@acme.example", "requests": {"searches": {"used": 3, "available": 50}}}}
PDL_ENRICH = {
    "status": 200,
    "likelihood": 9,
    "data": {
        "id": "qEnOZ5Oh0poWnQ1luFBfVw_0000",
        "full_name": "sean thorne",
        "first_name": "sean",
        "last_name": "thorne",
        "linkedin_url": "linkedin.com/in/seanthorne",
        "linkedin_username": "seanthorne",
        "work_email": "sean@peopledatalabs.com",
        "personal_emails": ["sthorne@gmail.com"],
        "emails": [{"address": "sean@peopledatalabs.com", "type": "current_professional"}],
        "mobile_phone": "+14155688415",
        "phone_numbers": ["+14155688415"],
        "job_title": "co-founder and chief executive officer",
        "job_company_name": "people data labs",
        "job_company_website": "peopledatalabs.com",
        "location_name": "san francisco, california, united states",
    },
}
PDL_NOT_FOUND = {
    "status": 404,
    "error": {"type": "not_found", "message": "No records were found matching your request"},
}
APOLLO_MATCH = {
    "person": {
        "id": "587cf802f65125cad923a266",
        "first_name": "Tim",
        "last_name": "Zheng",
        "name": "Tim Zheng",
        "linkedin_url": "http://www.linkedin.com/in/tim-zheng-677ba010",
        "title": "Founder & CEO",
        "email_status": "verified",
        "email": "tim@apollo.io",
        "personal_emails": ["tim.zheng@gmail.com"],
        "phone_numbers": [{"raw_number": "+1 415-555-0134", "sanitized_number": "+14155550134", "type": "mobile"}],
        "organization": {"name": "Apollo", "website_url": "http://www.apollo.io", "primary_domain": "apollo.io"},
        "city": "San Francisco",
        "state": "California",
        "country": "United States",
    }
}


def kaspr_profile(slug: str, **fields: Any) -> dict[str, Any]:
    """A Kaspr v2.0 answer for ``slug``, in both namings."""
    work = fields.get("workEmails", [f"{slug}@acme.example"])
    direct = fields.get("directEmails", [])
    phones = fields.get("phones", [])
    return {
        "profile": {
            "id": slug,
            "name": fields.get("name", "Jane Upstream"),
            "firstName": "Jane",
            "lastName": "Upstream",
            "title": "CTO",
            "location": "Paris, France",
            "companyName": "Acme",
            "company": {"name": "Acme", "domains": ["acme.example"]},
            "workEmails": work,
            "starryWorkEmail": work[0] if work else None,
            "directEmails": direct,
            "phones": phones,
            "emails": [{"email": e, "valid": fields.get("valid"), "isCurrent": True} for e in work + direct],
            "professionalEmails": work,
            "personalEmails": direct,
            "fetchedAt": 1700000000000,
        }
    }
