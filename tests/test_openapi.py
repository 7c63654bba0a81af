from __future__ import annotations

import httpx

from tests.support import Server

KASPR = ["/keys/verifyKey", "/profile/profile", "/company/domainPattern", "/company/domainEmployees"]


def test_openapi_documents_every_field_header_and_error(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    for path in KASPR:
        ((method, op),) = spec["paths"][path].items()
        responses = op["responses"]
        assert {"200", "401", "429", "500"} <= set(responses), path
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(responses["200"]["headers"])
        for status in ("401", "429"):
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


def test_interactive_docs_are_served(server: Server) -> None:
    r = httpx.get(server.url + "/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


def test_ready_reports_the_database_and_the_counters(server: Server) -> None:
    r = httpx.get(server.url + "/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "counters": "ok", "counters_backend": "memory"}
