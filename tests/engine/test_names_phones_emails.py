from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.engine.emails import email_kind, parse_address
from leadsmith.engine.names import ascii_token, parse_name
from leadsmith.engine.patterns import NameParts, matching_patterns, render
from leadsmith.engine.phones import parse_phone, region_hint


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("Casper The Ghost", "Casper", "The Ghost"),
        ("Kathleen Harvey", "Kathleen", "Harvey"),
        ("Dr. Jean-Luc van der Berg Jr.", "Jean-Luc", "van der Berg"),
        ("Smith, John", "John", "Smith"),
        ("  Madonna ", "Madonna", ""),
    ],
)
def test_parse_name(text: str, first: str, last: str) -> None:
    name = parse_name(text)
    assert (name.first, name.last) == (first, last)


@given(st.text(max_size=200))
def test_parse_name_never_raises_and_keeps_a_part(text: str) -> None:
    name = parse_name(text)
    if text.strip():
        assert name.full and (name.first or name.last)


@given(st.text(max_size=100))
def test_ascii_token_is_plain_lowercase_ascii(text: str) -> None:
    token = ascii_token(text)
    assert token == ascii_token(token)
    assert all(c.isascii() and (c.isdigit() or c.islower()) for c in token)


def test_phone_parsing_and_regions() -> None:
    fr = parse_phone("06 12 34 56 78", "FR")
    assert (
        fr is not None and fr.e164 == "+33612345678" and fr.international == "+33 6 12 34 56 78" and fr.type == "mobile"
    )
    assert parse_phone("+1 650-253-0000") is not None
    assert parse_phone("12345") is None
    assert parse_phone("not a phone") is None
    assert region_hint("Lyon, France", None) == "FR"
    assert region_hint("Denver, CO", "acme.de") == "DE"
    assert region_hint(None, "acme.co.uk") == "GB"
    assert region_hint("Somewhere", "acme.com", "US") == "US"


@given(st.text(max_size=80), st.sampled_from([None, "FR", "US", "DE", "xx"]))
def test_parse_phone_never_raises_and_is_idempotent(text: str, region: str | None) -> None:
    phone = parse_phone(text, region)
    if phone is not None:
        assert parse_phone(phone.e164) == phone
        assert parse_phone(phone.international) == phone


def test_addresses_and_kinds() -> None:
    a = parse_address("Casper@Example.COM")
    assert a is not None and a.address == "Casper@example.com" and a.domain == "example.com"
    assert parse_address("mailto:<x@y.org>") is not None
    for bad in ["", "no-at", "a@@b.com", ".a@b.com", "a..b@c.com", "a@-b.com", "a b@c.com"]:
        assert parse_address(bad) is None, bad
    assert email_kind("gmail.com") == "personal"
    assert email_kind("mailinator.com") == "personal"
    assert email_kind("acme.com") == "pro"


@given(st.text(max_size=120))
def test_parse_address_never_raises_and_is_idempotent(text: str) -> None:
    a = parse_address(text)
    if a is not None:
        assert parse_address(a.address) == a


def test_patterns_render_and_match() -> None:
    name = NameParts.of("Jürgen", "Müller")
    assert render("{first}.{last}", name) == "jurgen.muller"
    assert render("{f}{last}", name) == "jmuller"
    assert render("{first}.{last}", NameParts.of("Madonna", "")) is None
    assert "{first}.{last}" in matching_patterns(name, "Jurgen.Muller")
