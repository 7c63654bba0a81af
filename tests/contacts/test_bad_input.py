"""Every field of every endpoint, sent wrong: always a 4xx in the one error shape, naming what is wrong; never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ENDPOINTS: dict[str, dict[str, Any]] = {
    "/profile/profile": {"id": "Casper-Linkedin", "name": "Casper The Ghost", "isPhoneRequired": False},
    "/company/domainPattern": {"domain": "example.com"},
    "/company/domainEmployees": {"domain": "example.com", "contactsNumberLimit": 2, "isPhoneRequired": False},
}
REQUIRED = {"id", "name", "domain"}
WRONG_TYPES: list[Any] = [123, 1.5, True, None, [], {}, ["x"], {"a": 1}]
BAD_STRINGS = ["", "   ", "x" * 3000, "\x00", "a\x07b"]


def assert_error(r: httpx.Response, statuses: set[int], field: str | None = None) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert set(error) <= {"code", "message", "status", "details"}
    assert error["status"] == r.status_code and error["code"] and error["message"]
    assert "Traceback" not in r.text
    if field is not None:
        assert field in error["message"], error
    return dict(error)


def cases() -> list[tuple[str, str, Any, set[int]]]:
    out: list[tuple[str, str, Any, set[int]]] = []
    for path, good in ENDPOINTS.items():
        for field in good:
            for value in WRONG_TYPES:
                if (value is None and field not in REQUIRED) or type(value) is type(good[field]):
                    continue
                out.append((path, field, value, {400}))
            if isinstance(good[field], str):
                for value in BAD_STRINGS:
                    out.append((path, field, value, {400}))
            if isinstance(good[field], bool):
                for value in ("true", 1, 0, "yes"):
                    out.append((path, field, value, {400}))
            if isinstance(good[field], int) and not isinstance(good[field], bool):
                for value in ("10", 10.0, -5, 0, 2**70):
                    out.append((path, field, value, {400}))
    return out


@pytest.mark.parametrize(("path", "field", "value", "statuses"), cases())
async def test_wrong_field_values(
    client: httpx.AsyncClient, demo_key: str, path: str, field: str, value: Any, statuses: set[int]
) -> None:
    body = {**ENDPOINTS[path], field: value}
    r = await client.post(path, headers={"Authorization": demo_key}, json=body)
    error = assert_error(r, statuses)
    assert field in error["message"]


@pytest.mark.parametrize(("path", "field"), [(p, f) for p, good in ENDPOINTS.items() for f in good if f in REQUIRED])
async def test_missing_required_fields(client: httpx.AsyncClient, demo_key: str, path: str, field: str) -> None:
    body = {k: v for k, v in ENDPOINTS[path].items() if k != field}
    r = await client.post(path, headers={"Authorization": demo_key}, json=body)
    error = assert_error(r, {400}, field)
    assert error["details"][0]["field"] == field


RAW_BODIES: list[tuple[bytes, str]] = [
    (b"", "empty_body"),
    (b"   \n", "empty_body"),
    (b"{", "invalid_json"),
    (b"not json", "invalid_json"),
    (b"[]", "invalid_json"),
    (b'"a string"', "invalid_json"),
    (b"42", "invalid_json"),
    (b"null", "invalid_json"),
    (b"\xff\xfe\x00", "invalid_json"),
    (b'{"id": "\xc3\x28"}', "invalid_json"),
    (b"{}", "invalid_request"),
]


@pytest.mark.parametrize("path", list(ENDPOINTS))
@pytest.mark.parametrize(("raw", "code"), RAW_BODIES)
async def test_unparseable_bodies(client: httpx.AsyncClient, demo_key: str, path: str, raw: bytes, code: str) -> None:
    r = await client.post(path, headers={"Authorization": demo_key, "Content-Type": "application/json"}, content=raw)
    assert assert_error(r, {400})["code"] == code
    assert "X-RateLimit-Remaining" in r.headers


@pytest.mark.parametrize("path", list(ENDPOINTS))
async def test_huge_bodies_are_413(client: httpx.AsyncClient, demo_key: str, path: str) -> None:
    body = {**ENDPOINTS[path], "padding": "x" * 200_000}
    r = await client.post(path, headers={"Authorization": demo_key}, json=body)
    assert assert_error(r, {413})["code"] == "payload_too_large"

    async def stream() -> Any:
        for _ in range(100):
            yield b"x" * 4096

    r = await client.post(path, headers={"Authorization": demo_key}, content=stream())
    assert assert_error(r, {413})["code"] == "payload_too_large"


@pytest.mark.parametrize("path", list(ENDPOINTS))
async def test_auth_is_checked_before_the_body(client: httpx.AsyncClient, path: str) -> None:
    r = await client.post(path, content=b"{not json")
    assert assert_error(r, {401})["code"] == "missing_api_key"


async def test_unicode_and_extra_fields_are_fine(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.post(
        "/profile/profile", headers={"Authorization": demo_key}, json={"id": "Casper-Linkedin", "name": "☃ 王"}
    )
    assert r.status_code == 200
    r = await client.post(
        "/company/domainPattern", headers={"Authorization": demo_key}, json={"domain": "not a domain!"}
    )
    assert_error(r, {400}, "domain")
    r = await client.post(
        "/profile/profile",
        headers={"Authorization": demo_key},
        json={
            "id": "https://www.linkedin.com/in/j%C3%BCrgen-%E7%8E%8B",
            "name": "Jürgen 王",
            "extra": {"ignored": True},
        },
    )
    assert_error(r, {404})


@pytest.mark.parametrize("value", ["", "x" * 300, "tab\there", "é"])
async def test_bad_idempotency_keys(client: httpx.AsyncClient, demo_key: str, value: str) -> None:
    r = await client.post(
        "/company/domainPattern",
        headers={"Authorization": demo_key, "Idempotency-Key": value.encode("utf-8")},
        json={"domain": "example.com"},
    )
    assert assert_error(r, {400})["code"] == "invalid_idempotency_key"
