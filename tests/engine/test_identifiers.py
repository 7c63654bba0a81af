from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.engine.identifiers import ProfileRef, _normalise_linkedin, normalise_domain, normalise_linkedin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john-doe", ProfileRef("public", "john-doe")),
        ("https://www.linkedin.com/in/john-doe/", ProfileRef("public", "john-doe")),
        ("http://fr.linkedin.com/in/John-Doe", ProfileRef("public", "John-Doe")),
        ("linkedin.com/in/john-doe", ProfileRef("public", "john-doe")),
        ("https://m.linkedin.com/in/john-doe?trk=public_profile", ProfileRef("public", "john-doe")),
        ("https://www.linkedin.com/in/john-doe/fr/", ProfileRef("public", "john-doe")),
        ("https://www.linkedin.com/in/john-doe/?locale=de_DE", ProfileRef("public", "john-doe")),
        ("https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller-4a1b2c", ProfileRef("public", "jürgen-müller-4a1b2c")),
        ("  https://ca.linkedin.com/in/jane_smith#about  ", ProfileRef("public", "jane_smith")),
        (
            "https://www.linkedin.com/sales/lead/ACwAAAB1N2sBxyz123456789012,NAME_SEARCH,abc",
            ProfileRef("sales_navigator", "ACwAAAB1N2sBxyz123456789012"),
        ),
        ("ACwAAAB1N2sBxyz123456789012", ProfileRef("sales_navigator", "ACwAAAB1N2sBxyz123456789012")),
        ("linkedinId", ProfileRef("public", "linkedinId")),
    ],
)
def test_linkedin_forms(text: str, expected: ProfileRef) -> None:
    assert normalise_linkedin(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "https://example.com/in/john",
        "https://www.linkedin.com/company/acme",
        "john doe",
        "a",
        "%ff%fe",
        "in/../x/",
    ],
)
def test_linkedin_refusals(text: str) -> None:
    assert normalise_linkedin(text) is None


def test_public_key_is_case_insensitive_and_sales_nav_is_not() -> None:
    a, b = normalise_linkedin("John-Doe"), normalise_linkedin("https://linkedin.com/in/john-doe")
    assert a is not None and b is not None and a.key == b.key
    sn = normalise_linkedin("ACwAAAB1N2sBxyz123456789012")
    assert sn is not None and sn.key == "ACwAAAB1N2sBxyz123456789012"


@given(st.text(max_size=300))
def test_linkedin_never_raises_and_is_idempotent(text: str) -> None:
    ref = normalise_linkedin(text)
    if ref is not None:
        assert normalise_linkedin(ref.value) == ref


@given(
    st.builds(
        lambda a, b: f"https://www.linkedin.com/in/{a}/{b}",
        st.from_regex(r"[a-z0-9-]{3,40}", fullmatch=True),
        st.text(max_size=10),
    )
)
def test_profile_urls_keep_their_slug(url: str) -> None:
    ref = normalise_linkedin(url)
    slug = url.split("/in/", 1)[1].split("/", 1)[0]
    if not slug.startswith("-"):
        assert ref == ProfileRef("public", slug)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("company@example.com", "example.com"),
        ("@example.com", "example.com"),
        ("https://www.example.com/about", "example.com"),
        ("www.example.com/about?x=1", "example.com"),
        ("http://shop.example.co.uk:8080/", "shop.example.co.uk"),
        ("jane@cn.ibm.com", "cn.ibm.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("company@domain", "domain"),
        ("corp.internal", "corp.internal"),
    ],
)
def test_domain_forms(text: str, expected: str) -> None:
    assert normalise_domain(text) == expected


@pytest.mark.parametrize("text", ["", "co.uk", "com", "ex ample.com", "-bad-.com", "http://", "a@", "x" * 300 + ".com"])
def test_domain_refusals(text: str) -> None:
    assert normalise_domain(text) is None


@given(st.text(max_size=300))
def test_domain_never_raises_and_is_idempotent(text: str) -> None:
    domain = normalise_domain(text)
    if domain is not None:
        assert normalise_domain(domain) == domain


@given(
    prefix=st.sampled_from(["", "http://", "https://", "https://www.", "www.", "HTTPS://WWW."]),
    slug=st.text(alphabet=st.sampled_from(list("aZ09._-é%/")), min_size=0, max_size=12),
    tail=st.sampled_from(["", "/", "//", "/?x=1"]),
)
def test_plain_profile_urls_take_a_short_cut_to_the_same_answer(prefix: str, slug: str, tail: str) -> None:
    text = f"{prefix}linkedin.com/in/{slug}{tail}"
    assert normalise_linkedin(text) == _normalise_linkedin(text)
