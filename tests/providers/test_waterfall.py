"""The waterfall over real HTTP: a leadsmith server whose store lacks an answer asks the providers of its
providers file (loopback fakes, or a second leadsmith), in order, keeps what comes back, never pays
twice, and never lets a provider's fault reach the caller."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.providers.fakes import HUNTER_DOMAIN, HUNTER_FINDER, FakeProvider, Reply, Seen, fake_provider, kaspr_profile
from tests.support import REDIS_URL, Server, backend, base_env, cli, start_server, temporary_database


def providers_toml(providers: list[dict[str, Any]]) -> str:
    out = []
    for p in providers:
        out.append("[[providers]]")
        for k, v in p.items():
            if isinstance(v, bool):
                out.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, int | float):
                out.append(f"{k} = {v}")
            elif isinstance(v, list):
                out.append(f"{k} = [{', '.join(repr(x) for x in v)}]".replace("'", '"'))
            else:
                out.append(f'{k} = "{v}"')
    return "\n".join(out) + "\n"


def kaspr(name: str, fake: FakeProvider | str, **more: Any) -> dict[str, Any]:
    url = fake if isinstance(fake, str) else fake.url
    return {"name": name, "kind": "kaspr", "base_url": url, "api_key_env": "UP_KEY", "timeout_seconds": 2, **more}


@contextmanager
def upstream_server(tmp: Path, providers: list[dict[str, Any]], workers: int = 1, **env: str) -> Iterator[Server]:
    """A server on a fresh store (no demo data) with these providers, and an account's key in env["KEY"]."""
    path = tmp / "providers.toml"
    path.write_text(providers_toml(providers))
    with temporary_database(tmp) as url:
        extra = {"LEADSMITH_PROVIDERS_FILE": str(path), "UP_KEY": env.pop("UP_KEY", "the-providers-key"), **env}
        if workers > 1 and backend() == "postgres":
            extra |= {"LEADSMITH_REDIS_URL": REDIS_URL, "LEADSMITH_REDIS_PREFIX": f"ls-test-{tmp.name}:"}
        server_env = base_env(url, **extra)
        key = cli(server_env, "accounts", "create", "caller@acme.example", "--credits", "1000").stdout.split()[-1]
        server = start_server(server_env, tmp / "server.log", workers=workers)
        server.env["KEY"] = key
        try:
            yield server
        finally:
            server.stop()


def ask(
    server: Server, slug: str, path: str = "/profile/profile", key: str | None = None, **body: Any
) -> httpx.Response:
    return httpx.post(
        server.url + path,
        json={"id": slug, "name": "Jane Upstream", **body},
        headers={"Authorization": key or server.env["KEY"]},
        timeout=30,
    )


def any_slug(seen: Seen) -> Reply:
    """A Kaspr server that knows everyone: a profile for whatever slug it is asked."""
    slug = (seen.body or {}).get("id", "x")
    return Reply(200, kaspr_profile(slug, phones=["+33 6 12 34 56 78"]), {"Decreased-Credits": "2"})


def test_a_lead_the_store_lacks_is_asked_upstream_kept_and_never_paid_for_twice(tmp_path: Path) -> None:
    with fake_provider() as up, upstream_server(tmp_path, [kaspr("up1", up)]) as server:
        up.on("/profile/linkedin", any_slug)
        r = ask(server, "jane-upstream")
        assert r.status_code == 200, r.text
        profile = r.json()["profile"]
        assert profile["currentProEmail"] == "jane-upstream@acme.example"
        assert {s["source"] for s in profile["sources"]} == {"up1"}
        assert r.headers["Decreased-Credits"] == "1"  # the caller pays leadsmith's price, as for any reveal
        assert up.total() == 1
        assert up.seen[0].headers["authorization"] == "Bearer the-providers-key"
        again = ask(server, "jane-upstream")
        assert again.status_code == 200 and again.headers["Decreased-Credits"] == "0"
        other = cli(server.env, "accounts", "create", "other@acme.example").stdout.split()[-1]
        v2 = ask(server, "jane-upstream", "/profile/linkedin", key=other)
        assert v2.json()["profile"]["workEmails"] == ["jane-upstream@acme.example"]
        assert v2.json()["profile"]["phones"] == ["+33 6 12 34 56 78"]
        assert up.total() == 1  # kept: the second ask, and another account's, are served from the store
        deadline = time.monotonic() + 10  # the calls' ledger is written every second
        while "up1" not in (usage := cli(server.env, "providers", "usage").stdout):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert " 1 " in usage
        metrics = httpx.get(server.url + "/metrics").text
        assert 'leadsmith_upstream_calls_total{provider="up1",outcome="hit"' in metrics


def test_an_answer_the_caller_cannot_pay_for_is_kept_and_refused_with_402(tmp_path: Path) -> None:
    """A miss is kept and charged in one transaction; a charge that cannot be made there undoes only
    itself: the paid-for answer is kept, and the caller gets the 402 the usual charge gives."""
    with fake_provider() as up, upstream_server(tmp_path, [kaspr("up1", up)]) as server:
        up.on("/profile/linkedin", any_slug)
        broke = cli(server.env, "accounts", "create", "broke@acme.example", "--credits", "0").stdout.split()[-1]
        r = ask(server, "jane-upstream", key=broke)
        assert r.status_code == 402, r.text
        assert r.json()["error"]["code"] == "insufficient_credits"
        assert r.headers["Decreased-Credits"] == "0"
        assert up.total() == 1
        paying = ask(server, "jane-upstream")
        assert paying.status_code == 200 and paying.headers["Decreased-Credits"] == "1"
        assert paying.json()["profile"]["currentProEmail"] == "jane-upstream@acme.example"
        assert up.total() == 1  # kept although the first caller could not pay
        assert "broke@acme.example: 0 credits" in cli(server.env, "credits", "show", "broke@acme.example").stdout


def test_a_miss_asked_again_with_its_idempotency_key_is_charged_once(tmp_path: Path) -> None:
    with fake_provider() as up, upstream_server(tmp_path, [kaspr("up1", up)]) as server:
        up.on("/profile/linkedin", any_slug)
        headers = {"Authorization": server.env["KEY"], "Idempotency-Key": "miss-1"}
        body = {"id": "jane-upstream", "name": "Jane Upstream"}
        first = httpx.post(server.url + "/profile/profile", json=body, headers=headers, timeout=30)
        assert first.status_code == 200 and first.headers["Decreased-Credits"] == "1"
        again = httpx.post(server.url + "/profile/profile", json=body, headers=headers, timeout=30)
        assert again.status_code == 200 and again.content == first.content
        assert again.headers["Decreased-Credits"] == "0"
        other = httpx.post(
            server.url + "/profile/profile", json={**body, "id": "someone-else"}, headers=headers, timeout=30
        )
        assert other.status_code == 409
        assert up.total() == 1
        assert "caller@acme.example: 999 credits" in cli(server.env, "credits", "show", "caller@acme.example").stdout


def test_what_no_provider_knew_is_remembered(tmp_path: Path) -> None:
    with fake_provider() as up, upstream_server(tmp_path, [kaspr("up1", up)]) as server:
        up.on("/profile/linkedin", Reply(200, kaspr_profile("nobody", workEmails=[])))
        for _ in range(3):
            assert ask(server, "nobody-at-all").status_code == 404
        assert up.total() == 1


def test_providers_are_asked_in_order_until_one_satisfies_the_request(tmp_path: Path) -> None:
    with fake_provider() as a, fake_provider() as b, fake_provider() as c:
        a.on("/profile/linkedin", Reply(200, kaspr_profile("x", workEmails=[])))  # knows nothing
        b.on("/profile/linkedin", Reply(200, kaspr_profile("x", workEmails=["gone@acme.example"], valid=False)))
        c.on("/profile/linkedin", any_slug)
        with upstream_server(tmp_path, [kaspr("a", a), kaspr("b", b), kaspr("c", c)]) as server:
            r = ask(server, "jane-upstream")
            assert r.status_code == 200
            profile = r.json()["profile"]
            # b's address is known to be undeliverable: it satisfied nothing, and c was asked.
            assert profile["currentProEmail"] == "jane-upstream@acme.example"
            assert {"email": "gone@acme.example", "valid": False} in profile["emails"]
            assert (a.total(), b.total(), c.total()) == (1, 1, 1)


def test_a_phone_required_asks_on_when_the_first_answer_has_none(tmp_path: Path) -> None:
    with fake_provider() as a, fake_provider() as b:
        a.on("/profile/linkedin", Reply(200, kaspr_profile("x")))  # an e-mail, no phone
        b.on("/profile/linkedin", any_slug)
        with upstream_server(tmp_path, [kaspr("a", a), kaspr("b", b)]) as server:
            assert ask(server, "jane-upstream").status_code == 200  # e-mails only: a is enough
            assert (a.total(), b.total()) == (1, 0)
            r = ask(server, "jane-upstream", isPhoneRequired=True)
            assert r.status_code == 200 and r.json()["profile"]["phones"] == ["+33 6 12 34 56 78"]
            assert (a.total(), b.total()) == (2, 1)


def test_retry_after_is_honoured_and_the_next_provider_answers(tmp_path: Path) -> None:
    with fake_provider() as a, fake_provider() as b:
        a.on("/profile/linkedin", Reply(429, {"message": "slow down"}, {"Retry-After": "60"}))
        b.on("/profile/linkedin", any_slug)
        with upstream_server(tmp_path, [kaspr("a", a), kaspr("b", b)]) as server:
            for n in range(3):
                assert ask(server, f"lead-{n}").status_code == 200
            assert (a.total(), b.total()) == (1, 3)


def test_a_failing_provider_is_left_alone_for_a_cool_down(tmp_path: Path) -> None:
    with fake_provider() as a, fake_provider() as b:
        a.on("/profile/linkedin", Reply(500, {"message": "oops"}))
        b.on("/profile/linkedin", any_slug)
        with upstream_server(tmp_path, [kaspr("a", a), kaspr("b", b)]) as server:
            statuses = [ask(server, f"lead-{n}").status_code for n in range(6)]
            assert statuses == [200] * 6  # never a 500 for the caller
            assert a.total() == 3 and b.total() == 6  # the circuit opened after three failures


def test_a_spent_monthly_budget_skips_the_provider(tmp_path: Path) -> None:
    with fake_provider() as a, fake_provider() as b:
        a.on("/profile/linkedin", any_slug)  # each call draws 2 units
        b.on("/profile/linkedin", any_slug)
        with upstream_server(tmp_path, [kaspr("a", a, monthly_budget=4), kaspr("b", b)]) as server:
            for n in range(4):
                assert ask(server, f"lead-{n}").status_code == 200
            assert (a.total(), b.total()) == (2, 2)


def test_a_slow_provider_never_holds_a_request_past_its_timeout(tmp_path: Path) -> None:
    with fake_provider() as a, fake_provider() as b:
        a.on("/profile/linkedin", Reply(200, kaspr_profile("x"), delay=5))
        b.on("/profile/linkedin", any_slug)
        with upstream_server(tmp_path, [kaspr("a", a, timeout_seconds=0.5), kaspr("b", b)]) as server:
            started = time.monotonic()
            r = ask(server, "jane-upstream")
            assert r.status_code == 200 and time.monotonic() - started < 2.5
            assert r.json()["profile"]["currentProEmail"] == "jane-upstream@acme.example"


def test_a_refused_key_is_said_once_and_not_on_every_request(tmp_path: Path) -> None:
    with fake_provider() as a, upstream_server(tmp_path, [kaspr("a", a)]) as server:
        a.on("/profile/linkedin", Reply(401, {"message": "bad key"}))
        for n in range(4):
            assert ask(server, f"lead-{n}").status_code == 404
        assert a.total() == 1  # rested after the refusal
        server.stop()
        log = server.log.read_text()
        assert log.count("the key was refused") == 1, log
        assert "the-providers-key" not in log
        check = cli(server.env, "providers", "check", check=False)
        assert check.returncode == 1 and "a: failed" in check.stdout and "refused" in check.stdout


@pytest.mark.parametrize(
    "reply",
    [Reply(200, b"{not json"), Reply(200, {"profile": "nope"}), Reply(200, b""), Reply(418, {"x": 1})],
    ids=["malformed", "wrong-shape", "empty", "teapot"],
)
def test_no_answer_however_broken_becomes_an_error_for_the_caller(tmp_path: Path, reply: Reply) -> None:
    with fake_provider() as a, upstream_server(tmp_path, [kaspr("a", a)]) as server:
        a.on("/profile/linkedin", reply)
        r = ask(server, "jane-upstream")
        assert r.status_code == 404 and r.json()["error"]["code"] == "profile_not_found"
        assert ask(server, "jane-upstream", "/profile/linkedin").status_code == 200


def test_a_hundred_concurrent_asks_for_one_lead_make_one_upstream_call(tmp_path: Path) -> None:
    """Single flight across two workers (on the store: SQLite, or PostgreSQL with Redis counters)."""
    with fake_provider() as a:
        a.on("/profile/linkedin", lambda seen: Reply(200, any_slug(seen).body, delay=0.3))
        with upstream_server(tmp_path, [kaspr("a", a)], workers=2) as server:

            async def burst() -> Counter[int]:
                limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
                async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
                    calls = [
                        client.post(
                            "/profile/profile",
                            json={"id": "one-unknown-lead", "name": "x"},
                            headers={"Authorization": server.env["KEY"]},
                        )
                        for _ in range(100)
                    ]
                    return Counter(r.status_code for r in await asyncio.gather(*calls))

            assert asyncio.run(burst()) == {200: 100}
            assert a.total() == 1


def test_leadsmith_in_front_of_leadsmith(tmp_path: Path) -> None:
    """The kaspr adapter against a real second leadsmith process, in both API versions."""
    with temporary_database(tmp_path) as url_b:
        env_b = base_env(url_b, LEADSMITH_RATE_LIMIT_PER_HOUR="10000")
        cli(env_b, "demo")
        key_b = cli(env_b, "accounts", "create", "front@acme.example", "--credits", "50").stdout.split()[-1]
        back = start_server(env_b, tmp_path / "back.log")
        try:
            for version in ("v2", "v1"):
                sub = tmp_path / version
                sub.mkdir()
                providers = [kaspr("back", back.url, api_version=version)]
                with upstream_server(sub, providers, UP_KEY=key_b) as front:
                    r = ask(front, "Casper-Linkedin")
                    assert r.status_code == 200, r.text
                    profile = r.json()["profile"]
                    assert profile["currentProEmail"] == "Casper@example.com"
                    assert "Casper@gmail.com" in profile["currentPersonalEmails"]
                    assert {s["source"] for s in profile["sources"]} == {"back"}
                    assert ask(front, "Casper-Linkedin").status_code == 200
                    assert ask(front, "nobody-anywhere-xyz").status_code == 404
            # The back server charged its account once for Casper (the second front asked again: v1 is
            # its own store), and never for a lead it did not have.
            shown = cli(env_b, "credits", "show", "front@acme.example").stdout
            assert "front@acme.example: 49 credits" in shown, shown
        finally:
            back.stop()


def test_the_finder_employees_and_patterns_ask_hunter(tmp_path: Path) -> None:
    with fake_provider() as h:
        h.on("/email-finder", Reply(200, HUNTER_FINDER))
        h.on("/domain-search", Reply(200, HUNTER_DOMAIN))
        hunter = {"name": "hunter", "kind": "hunter", "base_url": h.url, "api_key_env": "UP_KEY"}
        with upstream_server(tmp_path, [hunter]) as server:
            headers = {"Authorization": server.env["KEY"]}
            found = httpx.post(
                server.url + "/company/emailFinder",
                json={"domain": "reddit.com", "name": "Alexis Ohanian"},
                headers=headers,
                timeout=30,
            ).json()["emails"]
            assert (
                found[0]["email"] == "alexis@reddit.com" and found[0]["valid"] is True and found[0]["pattern"] is None
            )
            staff = httpx.post(
                server.url + "/company/domainEmployees", json={"domain": "stripe.com"}, headers=headers, timeout=30
            )
            assert staff.status_code == 200
            assert {e["email"] for e in staff.json()["employees"]} == {"patrick@stripe.com", "john@stripe.com"}
            patterns = httpx.post(
                server.url + "/company/domainPattern", json={"domain": "stripe.com"}, headers=headers, timeout=30
            ).json()["patterns"]
            assert patterns[0]["pattern"] == "{first}@stripe.com"
            assert h.calls["/email-finder"] == 1 and h.calls["/domain-search"] == 1


def test_providers_list_shows_the_order_and_what_each_is_asked(tmp_path: Path) -> None:
    with fake_provider() as a:
        a.on("/keys/remainingCredits", Reply(200, {"workEmailCredits": -1, "phoneCredits": 3}))
        providers = [
            kaspr("first", a, lookups=["profile"]),
            {"name": "second", "kind": "hunter", "base_url": a.url, "api_key_env": "NOT_SET_ANYWHERE"},
        ]
        with upstream_server(tmp_path, providers) as server:
            listed = cli(server.env, "providers", "list").stdout
            assert listed.index("first") < listed.index("second")
            assert "NOT_SET_ANYWHERE not set" in listed and "UP_KEY set" in listed
            check = cli(server.env, "providers", "check", check=False)
            assert "first: ok key accepted" in check.stdout and "second: failed" in check.stdout
            assert check.returncode == 1
