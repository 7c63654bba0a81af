"""The portal's Remove my data page (the same answer whatever is asked; a mailed link to confirm with a relay,
the operator's approval without one; throttled), the admin API on its own tokens, and the reveal log
(every reveal, concurrently, into the access export)."""

from __future__ import annotations

import asyncio
import email
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.privacy.conftest import World
from tests.support import base_env, cli, free_port, start_server, temporary_database


class Relay:
    """A loopback mail relay that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@contextmanager
def relay() -> Iterator[tuple[int, Relay]]:
    handler = Relay()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def page_text(html: str) -> str:
    """A page's words, without its per-browser CSRF token."""
    return re.sub(r'name="csrf" value="[^"]*"', "", html)


def ask_removal(client: httpx.Client, identity: str) -> httpx.Response:
    form = client.get("/portal/remove-my-data")
    assert form.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return client.post("/portal/remove-my-data", data={"csrf": csrf.group(1), "identity": identity})


def test_without_a_relay_requests_wait_for_the_operator_and_the_page_tells_nothing(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=30) as browser:
        known = ask_removal(browser, "alice.zeta@zeta-corp.example")
        unknown = ask_removal(browser, "nobody-at-all@nowhere-corp.example")
        by_profile = ask_removal(browser, "https://www.linkedin.com/in/bob-yarrow-4712")
        malformed = ask_removal(browser, "definitely not me")
    assert known.status_code == unknown.status_code == by_profile.status_code == 200
    assert page_text(known.text) == page_text(unknown.text) == page_text(by_profile.text)
    assert "Thank you" in known.text
    assert malformed.status_code == 400 and "e-mail address" in malformed.text  # only the format is judged

    listed = world.cli("privacy", "requests").stdout
    assert "alice.zeta@zeta-corp.example" in listed and "nobody-at-all@nowhere-corp.example" in listed
    requests = httpx.get(
        f"{world.server.url}/admin/privacy/requests",
        params={"state": "pending"},
        headers={"Authorization": f"Bearer {world.admin}"},
    ).json()["requests"]
    ids = {r["identity"]: r["id"] for r in requests}
    assert world.profile("alice-zeta-4711").status_code == 200  # nothing happens before the operator acts

    assert (
        '"people": 1' in world.cli("privacy", "requests", "--approve", str(ids["alice.zeta@zeta-corp.example"])).stdout
    )
    assert world.profile("alice-zeta-4711").status_code == 404
    r = world.admin_post(f"/admin/privacy/requests/{ids['nobody-at-all@nowhere-corp.example']}/reject")
    assert r.status_code == 200, r.text
    done = world.cli("privacy", "requests", "--all").stdout
    assert "alice.zeta" not in done and "nobody-at-all" not in done  # closed requests keep no readable identity
    assert "done" in done and "rejected" in done
    assert world.admin_post(f"/admin/privacy/requests/{ids['alice.zeta@zeta-corp.example']}/approve").status_code == 404
    for bad in ("9223372036854775808", "0", "x"):
        r = world.admin_post(f"/admin/privacy/requests/{bad}/approve")
        assert 400 <= r.status_code < 500 and "request_id" in r.text, r.text


def test_with_a_relay_the_person_confirms_by_the_mailed_link(tmp_path: Path) -> None:
    with relay() as (mail_port, mailbox), temporary_database(tmp_path) as url:
        port = free_port()
        env = base_env(
            url,
            LEADSMITH_MAIL_URL=f"smtp://127.0.0.1:{mail_port}",
            LEADSMITH_MAIL_FROM="privacy@leadsmith.example",
            LEADSMITH_PUBLIC_URL="http://public.leadsmith.example",
            LEADSMITH_PRIVACY_REQUESTS_PER_HOUR="4",
        )
        (tmp_path / "p.csv").write_text(
            "name,email,linkedin\nMira Kestrel,mira.kestrel@kestrel.example,mira-kestrel-88\n"
            "Olaf Pine,olaf.pine@pine.example,olaf-pine-89\n"
        )
        cli(env, "import", str(tmp_path / "p.csv"))
        key = cli(env, "accounts", "create", "b@buyer.example", "--credits", "100").stdout.split()[-1]
        env["LEADSMITH_PORT"] = str(port)
        server = start_server(env, tmp_path / "server.log")
        try:
            with httpx.Client(base_url=server.url, timeout=30) as browser:
                assert ask_removal(browser, "Mira.Kestrel@kestrel.example").status_code == 200
                assert ask_removal(browser, "https://www.linkedin.com/in/olaf-pine-89").status_code == 200
                deadline = time.monotonic() + 10
                while len(mailbox.messages) < 2:
                    assert time.monotonic() < deadline, mailbox.messages
                    time.sleep(0.1)
                recipients = sorted(to[0] for to, _ in mailbox.messages)
                # The LinkedIn request's link goes to an address the store holds, never to the asker.
                assert recipients == ["mira.kestrel@kestrel.example", "olaf.pine@pine.example"]
                _to, message = next(m for m in mailbox.messages if m[0] == ["mira.kestrel@kestrel.example"])
                assert message["From"] == "privacy@leadsmith.example"
                body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
                link = re.search(r"http://public\.leadsmith\.example(/portal/remove-my-data/confirm\?token=\S+)", body)
                assert link is not None, body  # the configured public address, never the request's Host
                confirm = browser.get(link.group(1))
                assert confirm.status_code == 200 and "Erase my data" in confirm.text
                profile = httpx.post(
                    server.url + "/profile/profile", json={"id": "mira-kestrel-88", "name": "x"},
                    headers={"Authorization": key},
                )  # fmt: skip
                assert profile.status_code == 200  # opening the link erases nothing (mail scanners open links)
                csrf = re.search(r'name="csrf" value="([^"]+)"', confirm.text)
                token = re.search(r'name="token" value="([^"]+)"', confirm.text)
                assert csrf and token
                done = browser.post(
                    "/portal/remove-my-data/confirm", data={"csrf": csrf.group(1), "token": token.group(1)}
                )
                assert done.status_code == 200 and "is erased" in done.text
                gone = httpx.post(
                    server.url + "/profile/profile", json={"id": "mira-kestrel-88", "name": "x"},
                    headers={"Authorization": key},
                )  # fmt: skip
                assert gone.status_code == 404
                again = browser.get(link.group(1))
                assert again.status_code == 404 and "expired or was already used" in again.text

                # Throttled: four an hour from one address (two made above), then the same 429 for anyone.
                assert ask_removal(browser, "a@x.example").status_code == 200
                assert ask_removal(browser, "b@x.example").status_code == 200
                refused = ask_removal(browser, "c@x.example")
                assert refused.status_code == 429 and "too many removal requests" in refused.text
                assert refused.headers["Retry-After"]
        finally:
            server.stop()


def test_the_admin_api_takes_admin_tokens_only(world: World) -> None:
    url = world.server.url
    for header in ({}, {"Authorization": f"Bearer {world.key}"}, {"Authorization": "Bearer lsa_not-a-real-token"}):
        r = httpx.get(f"{url}/admin/privacy/suppressions", headers=header)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] in ("admin_token_required", "invalid_admin_token")
    # An admin token is no API key either.
    assert world.post("/profile/profile", {"id": "x-y", "name": "x"}, key=world.admin).status_code == 401

    r = world.admin_post("/admin/privacy/suppressions", {"identities": ["grace.ulm@zeta-corp.example", "@api.example"]})
    assert r.status_code == 200 and r.json() == {"added": 2, "identities": 2}, r.text
    assert world.profile("grace-ulm-4718").status_code == 404  # this worker applies it at once
    listed = httpx.get(f"{url}/admin/privacy/suppressions", params={"kind": "domain"},
                       headers={"Authorization": f"Bearer {world.admin}"}).json()  # fmt: skip
    assert listed["total"] >= 1 and "api.example" not in str(listed)
    bad = world.admin_post("/admin/privacy/suppressions", {"identities": ["grace@", "ok@x.example"]})
    assert bad.status_code == 400 and "identities[0]" in bad.json()["message"]
    assert world.admin_post(
        "/admin/privacy/suppressions/remove", {"identities": ["grace.ulm@zeta-corp.example"]}
    ).json() == {"removed": 1}
    assert world.profile("grace-ulm-4718").status_code == 200

    exported = world.admin_post("/admin/privacy/export", {"identity": "grace-ulm-4718"})
    assert exported.status_code == 200
    assert exported.json()["people"][0]["emails"][0]["email"] == "grace.ulm@zeta-corp.example"
    erased = world.admin_post("/admin/privacy/erase", {"identity": "grace-ulm-4718"})
    assert erased.status_code == 200 and erased.json()["people"] == 1, erased.text
    assert world.profile("grace-ulm-4718").status_code == 404

    # A revoked token stops working at once.
    token = world.cli("admin", "token", "create", "short-lived").stdout.split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/admin/privacy/suppressions", headers=headers).status_code == 200
    world.cli("admin", "token", "revoke", token[:12])
    assert httpx.get(f"{url}/admin/privacy/suppressions", headers=headers).status_code == 401
    assert "short-lived" in world.cli("admin", "token", "list").stdout


async def test_every_reveal_is_logged_even_when_many_come_at_once(world: World) -> None:
    key = world.cli("accounts", "create", "many@customer.example", "--credits", "10000").stdout.split()[-1]
    headers = {"Authorization": key}
    async with httpx.AsyncClient(base_url=world.server.url, timeout=30) as c:
        answers = await asyncio.gather(
            *(
                c.post("/profile/profile", json={"id": "iris-tann-4719", "name": "x"}, headers=headers)
                for _ in range(60)
            )
        )
    assert all(a.status_code == 200 for a in answers)  # the first is charged, the rest are free: all revealed
    await asyncio.sleep(1.5)
    doc = world.admin_post("/admin/privacy/export", {"identity": "iris.tann@zeta-corp.example"}).json()
    mine = [r for r in doc["people"][0]["reveals"] if r["account"] == "many@customer.example"]
    assert sum(r["times"] for r in mine) == 60  # one row per second and field set, each reveal counted
    assert {tuple(r["fields"]) for r in mine} == {("work_email",)} and mine[0]["key"].startswith("lsk_")


@pytest.mark.parametrize("identity", [{"identity": ""}, {"identity": 5}, {}, {"identity": "x", "extra": 1}])
def test_bad_admin_bodies_are_400s_naming_the_field(world: World, identity: dict[str, Any]) -> None:
    r = world.admin_post("/admin/privacy/erase", identity)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_request", "invalid_identity")
