"""Schemathesis against the live server: whatever the generated request, never a 500, always our error shape.

Schemathesis's own pytest plugin does not run under pytest 9 here ('Function' has no '_nodeid'), so
the test draws cases from its hypothesis strategies directly, one test per documented operation.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support import Server, cli

OPERATIONS = [
    ("GET", "/keys/verifyKey"),
    ("GET", "/keys/remainingCredits"),
    ("GET", "/keys/rateLimits"),
    ("POST", "/profile/profile"),
    ("POST", "/profile/linkedin"),
    ("POST", "/company/domainPattern"),
    ("POST", "/company/domainEmployees"),
    ("POST", "/company/emailFinder"),
    ("POST", "/email/verify"),
    ("POST", "/bulk/profile"),
    ("POST", "/bulk/emailFinder"),
    ("POST", "/bulk/verify"),
    ("GET", "/bulk/jobs"),
    ("GET", "/bulk/jobs/{job_id}"),
    ("GET", "/bulk/jobs/{job_id}/results"),
    ("DELETE", "/bulk/jobs/{job_id}"),
    ("POST", "/admin/privacy/suppressions"),
    ("POST", "/admin/privacy/suppressions/remove"),
    ("GET", "/admin/privacy/suppressions"),
    ("POST", "/admin/privacy/erase"),
    ("POST", "/admin/privacy/export"),
    ("GET", "/admin/privacy/requests"),
    ("POST", "/admin/privacy/requests/{request_id}/approve"),
    ("POST", "/admin/privacy/requests/{request_id}/reject"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="session")
def api_schema(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


@pytest.fixture(scope="session")
def fuzz_key(server: Server) -> str:
    out = cli(server.env, "accounts", "create", f"fuzz-{uuid.uuid4().hex[:8]}@test.example", "--credits", "1000000")
    return out.stdout.split()[-1]


@pytest.fixture(scope="session")
def admin_token(server: Server) -> str:
    return str(cli(server.env, "admin", "token", "create", "fuzz").stdout.split()[-1])


def test_every_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    documented = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_no_generated_request_gets_a_server_error(
    api_schema: schemathesis.BaseSchema,
    server: Server,
    fuzz_key: str,
    admin_token: str,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = api_schema[path][method]
    # The admin API on its own credentials (an erasure that parses waits seconds for other workers: fewer).
    admin = path.startswith("/admin/")
    token = admin_token if admin else fuzz_key

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=15 if admin else 40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["status"] == response.status_code
            assert error["code"] and error["message"]

    check()
