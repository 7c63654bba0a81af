"""The verifier against a loopback DNS server and a scripted loopback SMTP server: every classification."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.config import Settings
from leadsmith.testing.loopback import ServerLog, fake_dns, fake_smtp, scripted_rule, scripted_zones
from leadsmith.verification.rules import Lists, Reply, classify_reply, parse_address
from leadsmith.verification.verifier import Verifier


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[str, int, ServerLog]]:
    with fake_dns(scripted_zones()) as (nameserver, _), fake_smtp(scripted_rule(), max_rcpts=0) as (port, log):
        yield nameserver, port, log


def make_verifier(nameserver: str, port: int, **overrides: Any) -> Verifier:
    values: dict[str, Any] = {
        "dns_nameservers": nameserver,
        "dns_timeout_seconds": 1.0,
        "smtp_port": port,
        "smtp_ehlo_name": "verifier.leadsmith.test",
        "smtp_mail_from": "probe@leadsmith.test",
        "smtp_connect_timeout_seconds": 2.0,
        "smtp_command_timeout_seconds": 1.0,
        "verify_test_domains": True,
        "verify_private_networks": True,  # the fakes listen on loopback
        "dns_canary": "known.test",
        **overrides,
    }
    return Verifier.from_settings(Settings(**values))


@pytest.fixture
def verifier(loopback: tuple[str, int, ServerLog]) -> Verifier:
    return make_verifier(loopback[0], loopback[1])


async def test_a_known_mailbox_is_valid_and_says_why(verifier: Verifier, loopback: tuple[str, int, ServerLog]) -> None:
    r = await verifier.verify("Jane@KNOWN.test")
    assert (r.status, r.valid) == ("valid", True)
    assert r.email == "Jane@known.test"
    assert r.score >= 90
    assert r.reasons["mx"] == ["mx.known.test"]
    assert r.reasons["smtp"]["code"] == 250
    assert r.reasons["catch_all"] is False
    assert r.verified_at > 0
    log = loopback[2]
    assert "verifier.leadsmith.test" in log.ehlo_names  # our own name, never a borrowed one
    assert "probe@leadsmith.test" in log.mail_from
    assert log.commands["DATA"] == 0


async def test_an_unknown_mailbox_is_invalid(verifier: Verifier) -> None:
    r = await verifier.verify("nobody@known.test")
    assert (r.status, r.valid, r.score) == ("invalid", False, 0)
    assert r.reasons["smtp"]["code"] == 550


async def test_a_catch_all_domain_gives_accept_all(verifier: Verifier) -> None:
    r = await verifier.verify("anyone@catchall.test")
    assert (r.status, r.valid) == ("accept_all", None)
    assert r.reasons["catch_all"] is True


async def test_the_catch_all_answer_is_cached_per_domain(loopback: tuple[str, int, ServerLog]) -> None:
    v = make_verifier(loopback[0], loopback[1])
    log = loopback[2]
    await v.verify("a@catchall.test")
    before = len([r for r in log.rcpts if r.endswith("@catchall.test")])
    await v.verify("b@catchall.test")
    after = len([r for r in log.rcpts if r.endswith("@catchall.test")])
    assert after - before == 1  # only the real address: the random one is not asked again


async def test_greylisting_is_unknown_with_a_recheck_scheduled(verifier: Verifier) -> None:
    r = await verifier.verify("jane@grey.test")
    assert r.status == "unknown" and r.valid is None
    assert r.reasons["smtp"]["code"] == 451
    assert r.recheck_at is not None and r.recheck_at > r.verified_at
    again = await verifier.verify("jane@grey.test")  # the later re-check gets through
    assert again.status == "valid"


async def test_a_full_mailbox_is_risky_not_invalid(verifier: Verifier) -> None:
    r = await verifier.verify("jane@full.test")
    assert r.status == "unknown" and r.reasons["smtp"]["full"] is True
    assert 30 < r.score < 60


async def test_a_policy_block_is_unknown_not_invalid(verifier: Verifier) -> None:
    r = await verifier.verify("jane@policy.test")
    assert r.status == "unknown"
    assert r.reasons["smtp"]["reply"] == "policy"


async def test_a_slow_server_times_out_as_unknown(verifier: Verifier) -> None:
    r = await verifier.verify("jane@slow.test")
    assert r.status == "unknown"
    assert r.reasons["smtp"]["error"] == "timeout"


async def test_a_dropped_connection_is_unknown_and_the_rest_still_answered(verifier: Verifier) -> None:
    results = await verifier.verify_many(["jane@drop.test", "bob@drop.test"])
    assert results[0].status == "unknown" and results[0].reasons["smtp"]["error"] == "connection dropped"
    assert results[1].status == "invalid"


async def test_too_many_recipients_resets_the_envelope_in_the_same_session(
    loopback: tuple[str, int, ServerLog],
) -> None:
    with fake_smtp(scripted_rule(), max_rcpts=2) as (port, log):
        before = log.sessions  # the fake's own readiness check
        v = make_verifier(loopback[0], port)
        emails = [f"ok{i}@limit.test" for i in range(7)] + ["nope@limit.test"]
        results = await v.verify_many(emails)
    assert [r.status for r in results] == ["valid"] * 7 + ["invalid"]
    # each 452 was answered by RSET and a new MAIL FROM: one session did it all
    assert log.sessions - before == 1 and log.commands["MAIL"] >= 4


async def test_null_mx_nxdomain_and_no_mail_are_invalid(verifier: Verifier) -> None:
    null, nx, nomail = await verifier.verify_many(["a@nullmx.test", "a@nosuchdomain.test", "a@nomail.test"])
    assert null.status == "invalid" and null.reasons["dns"].startswith("null_mx")
    assert nx.status == "invalid" and nx.reasons["dns"].startswith("nxdomain")
    assert nomail.status == "invalid" and nomail.reasons["dns"].startswith("no_mail")


async def test_no_mx_falls_back_to_the_a_record(verifier: Verifier) -> None:
    r = await verifier.verify("whoever@amail.test")
    assert r.reasons["dns"].startswith("a")
    assert r.reasons["smtp"]["code"] == 550  # the scripted server answered on the A record's address


async def test_dns_timeout_and_servfail_are_unknown_never_invalid(verifier: Verifier) -> None:
    slow, fail = await verifier.verify_many(["a@timeout.test", "a@servfail.test"])
    assert slow.status == "unknown" and "Timeout" in slow.reasons["dns"]
    assert fail.status == "unknown"


async def test_a_refusing_mx_is_skipped_for_the_next_by_preference(verifier: Verifier) -> None:
    r = await verifier.verify("anyone@backup.test")
    assert r.status == "invalid"
    assert r.reasons["smtp"]["host"] == "mx2.backup.test"


async def test_syntax_disposable_webmail_and_role(verifier: Verifier) -> None:
    bad, disposable, webmail, role = await verifier.verify_many(
        ["not an address", "x@mailinator.com", "someone@gmail.com", "info@known.test"]
    )
    assert bad.status == "invalid" and bad.reasons["syntax"] != "ok"
    assert disposable.status == "disposable" and disposable.reasons["disposable"] is True
    assert webmail.status == "webmail" and webmail.reasons["webmail"] is True
    assert role.status == "valid" and role.reasons["role"] is True
    assert role.score < 95


async def test_probing_disabled_stops_at_dns_and_says_so(loopback: tuple[str, int, ServerLog]) -> None:
    v = make_verifier(loopback[0], loopback[1], smtp_probe=False)
    r = await v.verify("jane@known.test")
    assert r.status == "unknown"
    assert r.reasons["smtp"] is None and "disabled" in r.reasons["smtp_skipped"]
    assert r.reasons["mx"] == ["mx.known.test"]


def test_operator_lists_override_the_packaged_ones() -> None:
    lists = Lists.from_text(
        disposable_allow="mailinator.com",
        disposable_deny="burner.example",
        webmail_allow="gmail.com",
        webmail_deny="corpmail.example",
        role_allow="info",
        role_deny="ceo",
    )
    assert not lists.is_disposable("mailinator.com")
    assert lists.is_disposable("x.burner.example")  # parents walked
    assert Lists().is_disposable("sub.mailinator.com")
    assert not lists.is_webmail("gmail.com") and lists.is_webmail("corpmail.example")
    assert not lists.is_role("info") and lists.is_role("CEO")


@pytest.mark.parametrize(
    ("code", "message", "reply"),
    [
        (250, "2.1.5 OK", Reply.DELIVERABLE),
        (251, "User not local; will forward", Reply.DELIVERABLE),
        (550, "5.1.1 <a@b>: Recipient address rejected: User unknown", Reply.UNDELIVERABLE),
        (550, "No such user here", Reply.UNDELIVERABLE),
        (553, "mailbox name not allowed", Reply.UNDELIVERABLE),
        (550, "5.7.1 Client host rejected: blocked using Spamhaus", Reply.POLICY),
        (554, "5.7.1 Access denied", Reply.POLICY),
        (550, "Message rejected due to local policy", Reply.POLICY),
        (452, "4.2.2 Mailbox full", Reply.FULL),
        (552, "5.2.2 Quota exceeded", Reply.FULL),
        (452, "4.5.3 Too many recipients", Reply.TOO_MANY),
        (450, "4.2.0 Greylisted", Reply.GREYLISTED),
        (451, "Temporary local problem", Reply.GREYLISTED),
        (421, "Service not available", Reply.GREYLISTED),
        (554, "Transaction failed", Reply.UNKNOWN),
    ],
)
def test_rcpt_replies_are_classified(code: int, message: str, reply: Reply) -> None:
    assert classify_reply(code, message) is reply


@given(st.integers(min_value=200, max_value=599), st.text(max_size=200))
def test_classify_never_raises(code: int, message: str) -> None:
    assert isinstance(classify_reply(code, message), Reply)


@given(st.text(max_size=100))
def test_parse_address_never_raises_and_is_idempotent(text: str) -> None:
    parsed = parse_address(text)
    if not isinstance(parsed, str):
        again = parse_address(parsed.email)
        assert not isinstance(again, str) and again.email == parsed.email
        assert parsed.domain == parsed.domain.lower()


async def test_sessions_per_mx_host_never_exceed_the_limit(loopback: tuple[str, int, ServerLog]) -> None:
    """Counted on the server side: 60 addresses at one domain open a handful of sessions, 2 at a time."""
    with fake_smtp(scripted_rule(), delay=0.01) as (port, log):
        v = make_verifier(loopback[0], port, smtp_sessions_per_host=2, smtp_recipients_per_session=10)
        results = await v.verify_many([f"ok{i}@limit.test" for i in range(60)])
    assert all(r.status == "valid" for r in results)
    assert log.most_open == 2
    assert log.sessions <= 8
