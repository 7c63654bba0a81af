"""The verifier against what real mail servers do to a prober: Debian's Postfix with its default anti-abuse
settings (error counting, the error tarpit), a scripted tarpit, and many single-address calls at once."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from leadsmith.testing.loopback import Zone, fake_dns, fake_smtp
from leadsmith.testing.postfix import Postfix, available, postfix_server
from leadsmith.verification.verifier import Verifier
from tests.verification.test_verifier import make_verifier

REAL = ["jane@known.test", "john@known.test", "info@known.test"]


def verifier(nameserver: str, port: int, **overrides: Any) -> Verifier:
    return make_verifier(nameserver, port, **{"smtp_command_timeout_seconds": 5.0, **overrides})


def zones() -> dict[str, Zone]:
    out = {}
    for name in ("known", "catchall", "grey", "policy", "tarpit", "slow"):
        out[f"{name}.test"] = Zone(mx=[(10, f"mx.{name}.test")])
        out[f"mx.{name}.test"] = Zone(a=["127.0.0.1"])
    out["nullmx.test"] = Zone(mx=[(0, ".")])
    out["nomail.test"] = Zone()
    return out


@pytest.fixture(scope="module")
def nameserver() -> Iterator[str]:
    with fake_dns(zones()) as (ns, _):
        yield ns


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    problem = available()
    if problem is not None:
        if os.environ.get("LEADSMITH_REQUIRE_POSTFIX") == "1":  # CI: never skipped in silence
            pytest.fail(f"needs a real Postfix: {problem}; LEADSMITH_REQUIRE_POSTFIX=1 forbids skipping it")
        pytest.skip(f"needs a real Postfix: {problem}")
    with postfix_server(REAL) as server:
        yield server


def test_postfix_verdicts(postfix: Postfix, nameserver: str) -> None:
    cases = {
        "jane@known.test": "valid",
        "john@known.test": "valid",
        "nobody@known.test": "invalid",
        "someone@catchall.test": "accept_all",
        "jane@grey.test": "unknown",  # 450: asked again later, never undeliverable
        "jane@policy.test": "unknown",  # 554 5.7.1 blocked: says nothing of the mailbox
        "jane@nullmx.test": "invalid",
        "jane@nomail.test": "invalid",
        "not an address": "invalid",
    }
    results = asyncio.run(verifier(nameserver, postfix.port).verify_many(list(cases)))
    assert {r.email: r.status for r in results} == {e.strip(): s for e, s in cases.items()}
    grey = next(r for r in results if r.email == "jane@grey.test")
    assert grey.recheck_at is not None


def test_97_unknown_addresses_never_meet_postfixs_error_tarpit(postfix: Postfix, nameserver: str) -> None:
    """smtpd_soft_error_limit = 10 and smtpd_error_sleep_time = 1s: a session with 10 refused recipients
    gets every further reply a second late. None of the verifier's sessions may get there."""
    before = len(postfix.log_text())
    todo = [*REAL, *(f"nobody{n}@known.test" for n in range(97))]
    v = verifier(nameserver, postfix.port)
    started = time.monotonic()
    results = asyncio.run(v.verify_many(todo))
    took = time.monotonic() - started
    assert [r.status for r in results] == ["valid"] * 3 + ["invalid"] * 97
    # no reply was slowed down (a tarpitted one takes 1 s)
    assert all(r.reasons["smtp"].get("code") for r in results)
    assert took < 5, took
    log = postfix.log_text()[before:]
    assert "too many errors" not in log and "improper command pipelining" not in log, log[-2000:]
    sessions, most = postfix.sessions(before)
    assert most <= 2 and sessions >= 97 // 8  # a fresh session at most every 8 refusals, 2 at a time


def test_single_address_calls_at_once_share_sessions(postfix: Postfix, nameserver: str) -> None:
    before = len(postfix.log_text())
    v = verifier(nameserver, postfix.port)

    async def many() -> list[str]:
        calls = [v.verify(f"nobody-at-once-{n}@known.test") for n in range(40)] + [v.verify("jane@known.test")]
        return [r.status for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(many())
    assert statuses == ["invalid"] * 40 + ["valid"]
    sessions, most = postfix.sessions(before)
    assert most <= 2 and sessions <= 12, sessions  # 41 calls: a handful of sessions, not 41


def _tarpit_rule() -> Any:
    asked: dict[str, int] = {}

    def rule(local: str, domain: str) -> Any:
        if domain == "tarpit.test":
            asked[local] = asked.get(local, 0) + 1
            if local.startswith("slow"):
                return ("sleep", 0.8, "550 5.1.1 user unknown")
            return "550 5.1.1 user unknown"
        return "550 5.1.1 user unknown"

    return rule


def test_a_server_that_slows_its_replies_is_left_alone_not_queued_on(nameserver: str) -> None:
    with fake_smtp(_tarpit_rule()) as (port, log):
        before = log.sessions
        v = verifier(nameserver, port)
        todo = ["slow1@tarpit.test", *(f"u{n}@tarpit.test" for n in range(6))]
        results = asyncio.run(v.verify_many(todo))
        assert all(r.status == "invalid" for r in results)  # a slow reply is still the reply it is
        prober = v.prober
        assert prober is not None
        assert prober._sessions_for("mx.tarpit.test") == 1  # backed off: one session at a time
        assert log.sessions - before >= 2  # the slowed session was ended, the rest asked in a fresh one


def test_a_session_ends_before_the_servers_error_limit(nameserver: str) -> None:
    with fake_smtp(lambda local, domain: "550 5.1.1 user unknown") as (port, log):
        before = log.sessions
        results = asyncio.run(verifier(nameserver, port).verify_many([f"n{i}@known.test" for i in range(30)]))
        assert all(r.status == "invalid" for r in results)
        # 30 refusals and the catch-all probe's (asked once, by one session), at most 8 a session
        assert log.sessions - before >= 4
        assert log.commands["RCPT"] == 31


def test_a_dropped_or_slow_session_is_never_undeliverable(nameserver: str) -> None:
    with fake_smtp(lambda local, domain: ("sleep", 3.0, "250 OK")) as (port, _log):
        results = asyncio.run(verifier(nameserver, port, smtp_command_timeout_seconds=1.0).verify_many(["a@slow.test"]))
    assert results[0].status == "unknown" and results[0].reasons["smtp"]["error"] == "timeout"


def test_a_cancelled_call_does_not_fail_the_calls_that_joined_its_session(nameserver: str) -> None:
    """A client that hangs up cancels its own verification; the calls that joined its batch go on."""
    with fake_smtp(lambda local, domain: "550 5.1.1 user unknown", delay=0.05) as (port, _log):
        v = verifier(nameserver, port, smtp_sessions_per_host=1)

        async def scene() -> list[str]:
            busy = asyncio.ensure_future(v.verify("first@known.test"))  # takes the one session
            await asyncio.sleep(0.01)
            leader = asyncio.ensure_future(v.verify("leader@known.test"))  # gathers behind it
            await asyncio.sleep(0.01)
            followers = [asyncio.ensure_future(v.verify(f"f{n}@known.test")) for n in range(3)]
            await asyncio.sleep(0.01)
            leader.cancel()
            results = await asyncio.gather(busy, *followers)
            return [r.status for r in results]

        assert asyncio.run(scene()) == ["invalid"] * 4


def test_a_server_that_takes_no_recipient_at_all_ends_in_unknown_not_a_loop(nameserver: str) -> None:
    with fake_smtp(lambda local, domain: "452 4.5.3 Too many recipients") as (port, _log):
        started = time.monotonic()
        results = asyncio.run(verifier(nameserver, port).verify_many([f"a{n}@known.test" for n in range(3)]))
    assert [r.status for r in results] == ["unknown"] * 3 and time.monotonic() - started < 5
    assert "452" in results[0].reasons["smtp"]["error"]
