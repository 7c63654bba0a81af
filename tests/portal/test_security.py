"""The portal's defences, over HTTP: CSRF, one account never reaching another's keys, no account
enumeration, throttled sign-in, cookie flags, closed sign-up."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.support import Server, base_env, cli, start_server, temporary_database

PASSWORD = "a long enough password"


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def signed_in(server: Server, email: str | None = None) -> tuple[httpx.Client, str]:
    """A browser-like client with an account of its own, signed in; returns it and its CSRF token."""
    email = email or f"sec-{uuid.uuid4().hex[:8]}@example.org"
    c = httpx.Client(base_url=server.url, timeout=10)
    token = csrf_of(c.get("/portal/signup"))
    r = c.post("/portal/signup", data={"email": email, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/portal/login?registered=1"
    token = csrf_of(c.get("/portal/login"))
    r = c.post("/portal/login", data={"email": email, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text
    return c, csrf_of(c.get("/portal"))


def new_key(c: httpx.Client, csrf: str, name: str = "k") -> tuple[str, str]:
    page = c.post("/portal/keys", data={"name": name, "csrf": csrf})
    assert page.status_code == 200
    key = re.search(r'data-testid="new-key">(lsk_\w+)<', page.text)
    assert key
    key_id = re.findall(r'action="/portal/keys/(\d+)/revoke"', page.text)[-1]
    return key.group(1), key_id


def verify(server: Server, key: str) -> int:
    return httpx.get(f"{server.url}/keys/verifyKey", headers={"Authorization": key}, timeout=10).status_code


def test_a_form_post_without_the_csrf_token_is_refused(portal_server: Server) -> None:
    c, _csrf = signed_in(portal_server)
    before = c.get("/portal").text.count("/revoke")
    for data in ({"name": "forged"}, {"name": "forged", "csrf": "0" * 64}):
        r = c.post("/portal/keys", data=data)
        assert r.status_code == 403
    assert c.get("/portal").text.count("/revoke") == before
    # A token from another browser is no good either.
    _other, other_csrf = signed_in(portal_server)
    assert c.post("/portal/keys", data={"name": "x", "csrf": other_csrf}).status_code == 403
    # Nor is a sign-in posted from another site (no pre-session cookie, no token).
    fresh = httpx.post(f"{portal_server.url}/portal/login", data={"email": "a@b.c", "password": "x"}, timeout=10)
    assert fresh.status_code == 403


def test_one_account_cannot_see_or_revoke_anothers_keys(portal_server: Server) -> None:
    alice, alice_csrf = signed_in(portal_server)
    bob, bob_csrf = signed_in(portal_server)
    alice_key, alice_key_id = new_key(alice, alice_csrf)
    assert alice_key[:12] not in bob.get("/portal").text
    r = bob.post(f"/portal/keys/{alice_key_id}/revoke", data={"csrf": bob_csrf})
    assert r.status_code == 404
    assert verify(portal_server, alice_key) == 200
    r = alice.post(f"/portal/keys/{alice_key_id}/revoke", data={"csrf": alice_csrf})
    assert r.status_code == 200 and "is revoked" in r.text
    assert verify(portal_server, alice_key) == 401


def test_sign_up_and_sign_in_do_not_tell_which_addresses_have_accounts(portal_server: Server) -> None:
    email = f"known-{uuid.uuid4().hex[:8]}@example.org"
    signed_in(portal_server, email)
    c = httpx.Client(base_url=portal_server.url, timeout=10)
    again = c.post(
        "/portal/signup", data={"email": email, "password": PASSWORD, "csrf": csrf_of(c.get("/portal/signup"))}
    )
    assert again.status_code == 303 and again.headers["location"] == "/portal/login?registered=1"
    wrong_password = c.post(
        "/portal/login", data={"email": email, "password": "not the password", "csrf": csrf_of(c.get("/portal/login"))}
    )
    no_account = c.post(
        "/portal/login",
        data={
            "email": f"nobody-{uuid.uuid4().hex[:6]}@example.org",
            "password": "x" * 12,
            "csrf": csrf_of(c.get("/portal/login")),
        },
    )
    assert wrong_password.status_code == no_account.status_code == 401
    assert "wrong e-mail or password" in wrong_password.text and "wrong e-mail or password" in no_account.text


def test_sign_in_attempts_are_throttled(portal_server: Server) -> None:
    email = f"victim-{uuid.uuid4().hex[:8]}@example.org"
    c = httpx.Client(base_url=portal_server.url, timeout=10)
    codes = []
    for _ in range(7):
        r = c.post(
            "/portal/login", data={"email": email, "password": "guess" * 3, "csrf": csrf_of(c.get("/portal/login"))}
        )
        codes.append(r.status_code)
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429, 429]
    assert "Retry-After" in r.headers


def test_session_cookie_flags_and_sign_out(portal_server: Server) -> None:
    email = f"cookie-{uuid.uuid4().hex[:8]}@example.org"
    c = httpx.Client(base_url=portal_server.url, timeout=10)
    c.post("/portal/signup", data={"email": email, "password": PASSWORD, "csrf": csrf_of(c.get("/portal/signup"))})
    r = c.post("/portal/login", data={"email": email, "password": PASSWORD, "csrf": csrf_of(c.get("/portal/login"))})
    cookie = r.headers["set-cookie"].lower()
    assert "ls_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain HTTP here; behind HTTPS (X-Forwarded-Proto) it is Secure
    csrf = csrf_of(c.get("/portal"))
    assert c.post("/portal/logout", data={"csrf": csrf}).status_code == 303
    assert c.get("/portal").status_code == 303  # back to sign-in


def test_weak_password_is_refused_with_a_reason(portal_server: Server) -> None:
    c = httpx.Client(base_url=portal_server.url, timeout=10)
    r = c.post(
        "/portal/signup",
        data={"email": "short@example.org", "password": "short", "csrf": csrf_of(c.get("/portal/signup"))},
    )
    assert r.status_code == 400 and "at least 10 characters" in r.text


def test_closed_sign_up_is_refused(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("closed")
    with temporary_database(tmp) as url:
        env = base_env(url, LEADSMITH_PORTAL_SIGNUP_OPEN="false")
        cli(env, "migrate")
        server = start_server(env, tmp / "server.log")
        try:
            c = httpx.Client(base_url=server.url, timeout=10)
            page = c.get("/portal/signup")
            assert "Sign-up is closed" in page.text
            r = c.post(
                "/portal/signup",
                data={"email": "x@example.org", "password": PASSWORD, "csrf": csrf_of(c.get("/portal/login"))},
            )
            assert r.status_code == 403
        finally:
            server.stop()
