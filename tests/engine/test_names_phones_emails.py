from __future__ import annotations

import csv
import re
import sys

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsmith.engine.emails import email_kind, parse_address
from leadsmith.engine.names import _VOCABULARY, _parsed_name, _plain_name, ascii_token, clean_text, parse_name
from leadsmith.engine.patterns import NameParts, matching_patterns, render
from leadsmith.engine.phones import _TYPES, Phone, _international, number_type, parse_phone, region_hint
from tests.support import shared_file


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


def _train_names() -> list[str]:
    with shared_file("data/people-train.tsv").open(newline="") as f:
        return [row["name"] for row in csv.DictReader(f, delimiter="\t")]


def test_plain_names_are_split_as_nameparser_splits_them_and_most_are_plain() -> None:
    names = [clean_text(n) for n in _train_names() if clean_text(n)]
    plain = [(n, _plain_name(n)) for n in names]
    assert [(n, p) for n, p in plain if p is not None and p != _parsed_name(n)] == []
    assert sum(p is not None for _, p in plain) > 0.6 * len(names)  # 830 of 1,271


_LATIN_WORD = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÄÇÈÉÑÖØÜÝÞ"),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzßàáäçèéñöøüýþÿ"), min_size=1, max_size=8),
)
_NAME_WORD = (
    _LATIN_WORD
    | st.sampled_from(sorted(w.title() for w in _VOCABULARY if w.isalpha()))  # titles, suffixes, particles...
    | st.sampled_from(["Ii", "Iii", "Iv", "Vi", "Vii", "Ix", "X", "Xi", "Mac", "Van", "Jr", "Phd", "Bin", "Abu"])
    | st.sampled_from(["John", "Smith", "Mary", "Lee", "Wei", "Tanaka", "Ana", "Maria", "Dang", "Ben", "Ali"])
)


@given(st.lists(_NAME_WORD, min_size=1, max_size=4).map(" ".join))
def test_a_plain_name_is_split_as_nameparser_splits_it(full: str) -> None:
    plain = _plain_name(full)
    assert plain is None or plain == _parsed_name(full)


@given(st.text(st.sampled_from(" \t\n\xa0\u2003\u3000\x1f\x85ab.-é"), max_size=12) | st.text(max_size=30))
def test_clean_text_is_white_space_collapsed(text: str) -> None:
    assert clean_text(text) == re.sub(r"\s+", " ", text).strip()


def test_printable_text_has_no_white_space_but_the_space() -> None:
    """What clean_text's shortcut for clean text rests on, for every code point."""
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and c.isprintable()] == [" "]


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


_SEPARATOR = st.sampled_from(["", "", "", " ", "-", ".", "(", ")", "  ", " (", ") ", "/", "x", "#", ";", "+"])
_WRITTEN_INTERNATIONAL = st.builds(
    lambda lead, parts: lead + "".join(sep + digits for sep, digits in parts),
    st.sampled_from(["+", "+", "+", "+0", "++", " +", "+(", "00", "+ "]),
    st.lists(st.tuples(_SEPARATOR, st.text("0123456789", min_size=1, max_size=4)), min_size=1, max_size=8),
)


def _parsed(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


@given(_WRITTEN_INTERNATIONAL, st.sampled_from([None, "FR", "US", "GB", "IT"]))
def test_the_international_fast_path_is_what_phonenumbers_parses(text: str, region: str | None) -> None:
    fast = _international(text)
    if fast is not None:  # it only ever answers for text parse reads the same way
        assert fast == _parsed(text, region)
        assert phonenumbers.format_number(fast, phonenumbers.PhoneNumberFormat.E164) == "+" + "".join(
            c for c in text if c.isdigit()
        )


@pytest.mark.parametrize(
    "text",
    [
        "+1 415 555 0134",
        "+1 (415) 555-0134",
        "+33 6 12 34 56 78",
        "+33.6.12.34.56.78",
        "+44 20 7946 0958",
        "+39 06 1234 5678",  # Italy keeps its leading zero
        "+39 000 1234",
        "+800 1234 5678",  # a non-geographic code
        "+971 50 123 4567",
        "+49 30 901820",
    ],
)
def test_the_fast_path_takes_common_international_forms(text: str) -> None:
    assert _international(text) is not None
    assert _international(text) == _parsed(text, None)


@pytest.mark.parametrize(
    "text", ["+44 (0)20 7946 0958", "+1 1415 555 0134", "+0 12 34", "+999 12 34", "+1 415 555 0134 x12", "415 555 0134"]
)
def test_the_fast_path_leaves_the_rest_to_phonenumbers(text: str) -> None:
    assert _international(text) is None  # national prefixes, unknown codes, extensions, national forms
    assert parse_phone(text, "US") == _reference(text, "US")


@given(_WRITTEN_INTERNATIONAL, st.sampled_from([None, "FR", "US"]))
def test_parse_phone_is_what_phonenumbers_says(text: str, region: str | None) -> None:
    assert parse_phone(text, region) == _reference(text, region)


def _reference(text: str, region: str | None) -> Phone | None:
    """parse_phone without its fast path: phonenumbers' parse, type and E.164."""
    number = _parsed(text.strip(), region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164, _TYPES.get(phonenumbers.number_type(number), "unknown"))


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


_SHARED_CODES = sorted(code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1)


def test_number_type_is_phonenumbers_own_on_every_example_number() -> None:
    numbers = [
        example
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in _TYPES
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    assert len(numbers) > 1000
    assert [n for n in numbers if number_type(n) != phonenumbers.number_type(n)] == []


_SHARED_EXAMPLES = [
    example
    for code in _SHARED_CODES
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
    for kind in _TYPES
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
]


_ALL_EXAMPLES = [
    example
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in _TYPES
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
] + [
    example
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    if (example := phonenumbers.example_number_for_non_geo_entity(code)) is not None
]


@settings(max_examples=2000)
@given(st.sampled_from(_ALL_EXAMPLES), st.integers(0, 99999), st.sampled_from([1, 10, 100, 1000, 100000]))
def test_number_type_is_phonenumbers_own_near_every_example(
    example: phonenumbers.PhoneNumber, tail: int, size: int
) -> None:
    """Numbers near each region's examples of each type, and the non-geographic codes' (their last digits
    changed, some a digit longer or shorter): leadsmith's typing, read from descriptions kept per region,
    is phonenumbers' own."""
    national = (example.national_number or 0) // size * size + tail % size
    for candidate in (national, national * 10 + tail % 10, national // 10):
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=candidate)
        assert number_type(number) == phonenumbers.number_type(number)


@given(st.sampled_from(_SHARED_EXAMPLES), st.integers(0, 9999), st.sampled_from([10, 100, 1000, 10000]))
def test_number_type_is_phonenumbers_own_at_calling_codes_of_several_regions(
    example: phonenumbers.PhoneNumber, tail: int, size: int
) -> None:
    """Numbers near each example (its last digits changed) at the calling codes several regions share."""
    national = (example.national_number or 0) // size * size + tail % size
    number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=national)
    assert number_type(number) == phonenumbers.number_type(number)
