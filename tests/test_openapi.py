from __future__ import annotations

import httpx

from tests.support import Server

KASPR = [
    "/keys/verifyKey",
    "/keys/remainingCredits",
    "/keys/rateLimits",
    "/profile/profile",
    "/profile/linkedin",
    "/company/domainPattern",
    "/company/domainEmployees",
]


def test_openapi_documents_every_field_header_and_error(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    for path in KASPR:
        ((method, op),) = spec["paths"][path].items()
        responses = op["responses"]
        # The /keys/* calls are not counted against the windows: never a 429.
        counted = not path.startswith("/keys/")
        assert {"200", "401", "500"} | ({"429"} if counted else set()) <= set(responses), path
        assert counted or "429" not in responses
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(responses["200"]["headers"])
        for status in ("401", "429") if counted else ("401",):
            assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
        if method == "post":
            assert {"400", "402", "404", "413"} <= set(responses)
            assert {"Decreased-Credits", "Remaining-Credits"} <= set(responses["200"]["headers"])
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            assert schema["properties"] and schema["required"]
        assert op["security"] == [{"ApiKey": []}]
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    profile = spec["components"]["schemas"]["Profile"]["properties"]
    assert {"currentProEmail", "processingTime", "fetchedAt", "currentEmail"} <= set(profile)
    v2 = spec["components"]["schemas"]["V2Profile"]["properties"]
    assert {"workEmails", "starryWorkEmail", "professionalEmails", "starryPersonalEmail", "company"} <= set(v2)
    linkedin = spec["paths"]["/profile/linkedin"]["post"]
    assert "Remaining-Phone-Credits" in linkedin["responses"]["200"]["headers"]
    assert "accept-version" in {p["name"] for p in linkedin["parameters"]}
    assert spec["components"]["schemas"]["ErrorResponse"]["required"] == ["message", "error"]


def test_interactive_docs_are_served(server: Server) -> None:
    r = httpx.get(server.url + "/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


def test_ready_reports_the_database_and_the_counters(server: Server) -> None:
    r = httpx.get(server.url + "/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "counters": "ok", "counters_backend": "memory"}
