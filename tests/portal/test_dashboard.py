"""What the dashboard says is true: a new account holds no key it was never shown, "last used" keeps up
with the window's count, and an account that made no request shows no peak."""

from __future__ import annotations

import re

import httpx

from tests.portal.test_security import new_key, signed_in
from tests.support import Server


def test_sign_up_makes_no_key_and_every_key_is_shown_once(portal_server: Server) -> None:
    c, csrf = signed_in(portal_server)
    page = c.get("/portal").text
    assert "/revoke" not in page and "lsk_" not in page  # no key made behind the person's back
    key, _ = new_key(c, csrf)
    again = c.get("/portal").text
    assert key not in again and key[:12] in again  # shown once, then only its prefix


def test_last_used_keeps_up_with_the_count_and_no_requests_is_no_peak(portal_server: Server) -> None:
    c, csrf = signed_in(portal_server)
    assert "No requests in the last 7 days" in c.get("/portal").text
    assert "Peak" not in c.get("/portal").text
    key, _ = new_key(c, csrf)
    r = httpx.post(
        f"{portal_server.url}/company/domainPattern",
        headers={"Authorization": key},
        json={"domain": "example.com"},
        timeout=10,
    )
    assert r.status_code == 200
    page = c.get("/portal").text
    row = re.search(rf'<tr data-key-prefix="{key[:12]}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "1 / " in row.group(1) and "never" not in row.group(1), row.group(1)
    assert "Peak 1 request in an hour" in page
