"""Reading the identities privacy requests name, and their keyed hashes: every spelling of one identity
hashes alike, anything else is refused with a message, never an exception of another kind."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.privacy.identity import Identity, NotAnIdentity, digest, parse_identity, traits


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Jane.Doe@Example.COM", "email", "jane.doe@example.com"),
        ("  jane.doe@example.com ", "email", "jane.doe@example.com"),
        ("email:jane.doe@example.com", "email", "jane.doe@example.com"),
        ("https://www.linkedin.com/in/Jane-Doe/", "linkedin", "jane-doe"),
        ("https://fr.linkedin.com/in/jane-doe?locale=fr_FR", "linkedin", "jane-doe"),
        ("linkedin.com/in/jane-doe", "linkedin", "jane-doe"),
        ("jane-doe", "linkedin", "jane-doe"),
        ("linkedin:12345678", "linkedin", "12345678"),
        ("https://www.linkedin.com/sales/lead/ACwAAAB1234567890abcdefghij,NAME", "linkedin",
         "sn:ACwAAAB1234567890abcdefghij"),
        ("+33 6 12 34 56 78", "phone", "+33612345678"),
        ("+33 (0)6-12-34-56-78", "phone", "+33612345678"),
        ("(415) 555-2671", "phone", "+14155552671"),
        ("phone:415.555.2671", "phone", "+14155552671"),
        ("@Example.com", "domain", "example.com"),
        ("domain:www.example.com", "domain", "example.com"),
    ],
)  # fmt: skip
def test_each_spelling_reads_as_the_indexed_form(text: str, kind: str, value: str) -> None:
    assert parse_identity(text, "US") == Identity(kind, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "   ", "@", "not an address@", "@co.uk", "phone:12", "x" * 3000, "a b c"])
def test_what_is_none_is_refused_with_what_each_looks_like(text: str) -> None:
    with pytest.raises(NotAnIdentity, match=r"e-mail address|not a"):
        parse_identity(text, "US")


@given(st.text(max_size=300))
def test_any_text_is_an_identity_or_refused_plainly(text: str) -> None:
    try:
        found = parse_identity(text, "FR")
    except NotAnIdentity as exc:
        message = str(exc)
        found = None
    if found is None:
        assert message
        return
    assert found.kind in ("email", "linkedin", "phone", "domain")
    # Its indexed form, given again, is the same identity: the form is a fixed point.
    again = {"email": found.value, "phone": found.value, "domain": "@" + found.value}.get(
        found.kind, "linkedin:" + found.value.removeprefix("sn:")
    )
    assert parse_identity(again, "FR") == found


@given(st.from_regex(r"[a-z]{1,10}\.[a-z]{1,10}@[a-z]{2,10}\.(com|fr|io)", fullmatch=True))
def test_an_address_hashes_alike_in_any_case(address: str) -> None:
    secret = b"s3cret"
    a, b = parse_identity(address), parse_identity(address.upper())
    assert digest(secret, a.kind, a.value) == digest(secret, b.kind, b.value)
    assert digest(b"other", a.kind, a.value) != digest(secret, a.kind, a.value)  # keyed: another store differs
    assert address not in digest(secret, a.kind, a.value)


def test_a_persons_traits_carry_their_addresses_domains_and_profiles() -> None:
    t = traits(
        linkedin_key="jane-doe",
        sales_nav_id="ACwAAAB1234567890abcdefghij",
        emails=["Jane@Acme.example"],
        phones=["+33612345678"],
        domains=("corp.example", None),
    )
    assert set(t.identities()) == {
        Identity("linkedin", "jane-doe"),
        Identity("linkedin", "sn:ACwAAAB1234567890abcdefghij"),
        Identity("email", "jane@acme.example"),
        Identity("phone", "+33612345678"),
        Identity("domain", "acme.example"),
        Identity("domain", "corp.example"),
    }
