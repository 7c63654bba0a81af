"""A synthetic, reproducible demo set: the reference's own examples plus a few Faker companies."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import phonenumbers
from anyascii import anyascii
from faker import Faker

from leadsmith.contacts.records import Record, RowError, parse_row
from leadsmith.engine.names import ascii_token
from leadsmith.engine.patterns import NameParts, render

DEMO_ACCOUNT = "demo@leadsmith.local"
WEBMAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de", "orange.fr")

REFERENCE_ROWS: list[dict[str, Any]] = [
    {
        "linkedin": "Casper-Linkedin",
        "name": "Casper The Ghost",
        "first_name": "Casper",
        "last_name": "The Ghost",
        "emails": ["Casper@example.com", "Casper@gmail.com"],
        "title": "Ghost",
        "company": "Home",
        "domain": "example.com",
        "location": "Home",
    },
    {
        "linkedin": "kathleen-harvey",
        "name": "Kathleen Harvey",
        "emails": ["Kathleen-Harvey@example.com"],
        "phones": ["+33 6 12 34 56 78"],
        "title": "Kid",
        "company": "Home",
        "domain": "example.com",
        "location": "Home",
    },
    {
        "linkedin": "linkedinId",
        "name": "Linkedin Name",
        "emails": ["linkedin.name@domain", "linkedin.name@gmail.com"],
        "phones": ["+33 1 42 68 53 00"],
        "title": "Head of Examples",
        "company": "Company",
        "domain": "domain",
        "location": "Paris, France",
    },
]

# (name, domain, Faker locale, phone region, e-mail pattern); the first two are the reference's.
COMPANIES: list[tuple[str | None, str | None, str, str, str]] = [
    ("Home", "example.com", "en_US", "US", "{f}{last}"),
    ("Company", "domain", "fr_FR", "FR", "{first}.{last}"),
    (None, None, "fr_FR", "FR", "{first}.{last}"),
    (None, None, "de_DE", "DE", "{first}.{last}"),
    (None, None, "en_GB", "GB", "{f}{last}"),
    (None, None, "en_US", "US", "{first}"),
    (None, None, "es_ES", "ES", "{first}_{last}"),
    (None, None, "en_US", "US", "{first}{last}"),
]
_TLD = {"fr_FR": ".fr", "de_DE": ".de", "en_GB": ".co.uk", "es_ES": ".es", "en_US": ".com"}


def _phone(rng: random.Random, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    digits = str(example.national_number)
    for _ in range(50):
        candidate = digits[:-4] + f"{rng.randrange(10_000):04d}"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def demo_rows(seed: int = 42, people_per_company: int = 40) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    yield from REFERENCE_ROWS
    for index, (name, domain, locale, region, pattern) in enumerate(COMPANIES):
        fake = Faker(locale)
        fake.seed_instance(seed + index)
        if name is None:
            name = fake.company()
            domain = ascii_token(name.split(" ")[0])[:20] + _TLD[locale]
        assert domain is not None
        used: set[str] = set()
        for _ in range(people_per_company):
            first, last = fake.first_name(), fake.last_name()
            local = render(pattern, NameParts.of(first, last))
            if not local or local in used:
                continue
            used.add(local)
            slug = f"{anyascii(first)}-{anyascii(last)}".lower().replace(" ", "-").replace("'", "")
            emails = []
            if rng.random() < 0.85:
                emails.append(f"{local}@{domain}")
            if rng.random() < 0.35 or not emails:
                emails.append(f"{ascii_token(first)}.{ascii_token(last)}{rng.randrange(100)}@{rng.choice(WEBMAIL)}")
            yield {
                "linkedin": f"https://www.linkedin.com/in/{slug}-{rng.randrange(16**6):06x}/",
                "first_name": first,
                "last_name": last,
                "emails": emails,
                "phones": [_phone(rng, region)] if rng.random() < 0.6 else [],
                "title": fake.job()[:120],
                "company": name,
                "domain": domain,
                "location": f"{fake.city()}, {_COUNTRY[region]}",
            }


_COUNTRY = {"FR": "France", "DE": "Germany", "GB": "United Kingdom", "US": "United States", "ES": "Spain"}


def demo_records(seed: int = 42) -> Iterator[Record | RowError]:
    for line, row in enumerate(demo_rows(seed), start=1):
        yield parse_row(row, line)
