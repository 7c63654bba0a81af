"""Phone numbers: parse, validate, E.164 to store, international format to show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumberFormat,
    PhoneNumberType,
)
from phonenumbers.re_util import re_compile

from leadsmith.engine import PER_PERSON_CACHE

# Keep every compiled metadata pattern: without this, phonenumbers calls re.compile (a look-up in
# the re module's own cache) for each of the ~20 patterns a number is checked against.
phonenumbers.enable_pattern_cache()

PhoneType = Literal["mobile", "landline", "voip", "other", "unknown"]

_TYPES: dict[int, PhoneType] = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "other",
    PhoneNumberType.PREMIUM_RATE: "other",
    PhoneNumberType.SHARED_COST: "other",
    PhoneNumberType.PERSONAL_NUMBER: "other",
    PhoneNumberType.PAGER: "other",
    PhoneNumberType.UAN: "other",
}


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    type: PhoneType

    @property
    def international(self) -> str:
        return international(self.e164)


def parse_phone(text: str, region: str | None = None) -> Phone | None:
    """A valid number, or None. ``region`` (ISO 3166 alpha-2) is used when the text has no ``+`` prefix.

    Validity comes from the number's type (UNKNOWN means invalid: the same answer as
    ``is_valid_number``, checked on 35,000 random numbers), so the costly type look-up runs once.
    """
    text = text.strip()
    if not text or len(text) > 64:
        return None
    number = _international(text)
    plain = number is not None  # then its E.164 form is "+" and its digits (tested)
    if number is None:
        try:
            number = phonenumbers.parse(text, (region or "").upper() or None)
        except NumberParseException:
            return None
    kind = number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    e164 = "+" + _NOT_DIGIT.sub("", text) if plain else phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Phone(e164=e164, type=_TYPES.get(kind, "unknown"))


def number_type(number: phonenumbers.PhoneNumber) -> int:
    """``phonenumbers.number_type``, in one pass where a calling code is shared by several regions
    (+1: the United States, Canada and twenty more; +7, +44...). phonenumbers first finds the region by
    typing the number against each region's patterns in turn, then types it again against the region
    found: here the typing that finds the region is the answer (a number at +1: ~17 -> ~9 us; the
    same answer as phonenumbers for every region's example numbers, and tested)."""
    code = number.country_code or 0
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code)
    if regions is None:
        return int(phonenumbers.number_type(number))
    national = phonenumbers.national_significant_number(number)
    if len(regions) == 1:  # phonenumbers' own steps: the region is the code's one
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        return _type_of(national, metadata) if metadata is not None else PhoneNumberType.UNKNOWN
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re_compile(metadata.leading_digits).match(national):
                return _type_of(national, metadata)
        elif (kind := _type_of(national, metadata)) != PhoneNumberType.UNKNOWN:
            return kind
    return PhoneNumberType.UNKNOWN


# A region's number descriptions as (lengths, compiled pattern), or None for one no number matches
# (absent, or without a pattern): what phonenumbers' ``_is_number_matching_desc`` reads on every call.
_Desc = tuple[frozenset[int], "re.Pattern[str]"] | None
_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


@dataclass(frozen=True, slots=True)
class _Typing:
    general: _Desc
    special: tuple[tuple[int, frozenset[int], re.Pattern[str]], ...]  # in phonenumbers' order
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool


# Keyed by the metadata's id, beside the metadata itself (phonenumbers keeps each region's for good).
_TYPINGS: dict[int, tuple[PhoneMetadata, _Typing]] = {}


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re_compile(desc.national_number_pattern)


def _typing(metadata: PhoneMetadata) -> _Typing:
    known = _TYPINGS.get(id(metadata))
    if known is not None and known[0] is metadata:
        return known[1]
    special = []
    for name, kind in _SPECIAL_TYPES:
        if (desc := _desc(getattr(metadata, name))) is not None:
            special.append((int(kind), *desc))
    typing = _Typing(
        _desc(metadata.general_desc),
        tuple(special),
        _desc(metadata.fixed_line),
        _desc(metadata.mobile),
        bool(metadata.same_mobile_and_fixed_line_pattern),
    )
    _TYPINGS[id(metadata)] = (metadata, typing)
    return typing


def _matches(national: str, desc: _Desc) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _type_of(national: str, metadata: PhoneMetadata) -> int:
    """phonenumbers' ``_number_type_helper``, step for step (the general description, then each special
    type in its order, then fixed line and mobile), over descriptions read once per region instead of on
    every call: typing a French mobile took 802 bytecodes through ``phonenumbers.number_type``, 317 here
    (the same answer for every region's example numbers, and for numbers near them: tested)."""
    typing = _typing(metadata)
    if not _matches(national, typing.general):
        return PhoneNumberType.UNKNOWN
    size = len(national)
    for kind, lengths, pattern in typing.special:
        if (not lengths or size in lengths) and pattern.fullmatch(national) is not None:
            return kind
    if _matches(national, typing.fixed_line):
        if typing.same_mobile_and_fixed_line or _matches(national, typing.mobile):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not typing.same_mobile_and_fixed_line and _matches(national, typing.mobile):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


# "+", a digit other than 0, then digits and the separators people write between them.
_PLAIN_INTERNATIONAL = re.compile(r"\+[1-9](?:[ ().-]{0,2}[0-9])+")
_NOT_DIGIT = re.compile(r"[^0-9]")


@cache  # one per country with a national prefix
def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(prefix)


def _international(text: str) -> phonenumbers.PhoneNumber | None:
    """What ``phonenumbers.parse`` makes of a plainly written international number ("+33 6 12 34
    56 78", "+1 (415) 555-0134"), at a sixth of the cost (an import meets a million of them, each
    once); None for anything else, which then goes through ``phonenumbers.parse`` itself.

    These are parse's own steps for such text: no extension, no phone-context, no letters; the
    country code is the first of the leading one to three digits that is one; the rest is the
    national number, kept whole unless the country's national prefix could be stripped from it
    (then parse decides). Tested against ``phonenumbers.parse`` with Hypothesis."""
    if _PLAIN_INTERNATIONAL.fullmatch(text) is None:
        return None
    digits = _NOT_DIGIT.sub("", text)
    for size in (1, 2, 3):
        if (code := int(digits[:size])) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not 2 <= len(national) <= 17:
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None:
        return None
    if (prefix := metadata.national_prefix_for_parsing) and _prefix_pattern(prefix).match(national):
        return None
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    if national[0] == "0":
        zeros = len(national) - len(national.lstrip("0"))
        number.italian_leading_zero = True
        if (zeros := min(zeros, len(national) - 1)) != 1:
            number.number_of_leading_zeros = zeros
    return number


@lru_cache(maxsize=PER_PERSON_CACHE)
def international(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


_COUNTRY_NAMES = {
    "france": "FR",
    "germany": "DE",
    "deutschland": "DE",
    "united kingdom": "GB",
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "ireland": "IE",
    "spain": "ES",
    "espana": "ES",
    "españa": "ES",
    "italy": "IT",
    "italia": "IT",
    "portugal": "PT",
    "netherlands": "NL",
    "the netherlands": "NL",
    "belgium": "BE",
    "belgique": "BE",
    "switzerland": "CH",
    "suisse": "CH",
    "austria": "AT",
    "sweden": "SE",
    "norway": "NO",
    "denmark": "DK",
    "finland": "FI",
    "poland": "PL",
    "czechia": "CZ",
    "czech republic": "CZ",
    "hungary": "HU",
    "romania": "RO",
    "greece": "GR",
    "turkey": "TR",
    "russia": "RU",
    "ukraine": "UA",
    "israel": "IL",
    "india": "IN",
    "china": "CN",
    "japan": "JP",
    "south korea": "KR",
    "korea": "KR",
    "vietnam": "VN",
    "singapore": "SG",
    "australia": "AU",
    "new zealand": "NZ",
    "canada": "CA",
    "united states": "US",
    "usa": "US",
    "united states of america": "US",
    "mexico": "MX",
    "brazil": "BR",
    "brasil": "BR",
    "argentina": "AR",
    "chile": "CL",
    "colombia": "CO",
    "south africa": "ZA",
    "nigeria": "NG",
    "morocco": "MA",
    "maroc": "MA",
    "tunisia": "TN",
    "egypt": "EG",
    "united arab emirates": "AE",
    "uae": "AE",
    "saudi arabia": "SA",
    "luxembourg": "LU",
    "taiwan": "TW",
    "hong kong": "HK",
    "indonesia": "ID",
    "philippines": "PH",
    "thailand": "TH",
    "malaysia": "MY",
    "pakistan": "PK",
}
_TLD_REGIONS = {"uk": "GB"}


@lru_cache(maxsize=65536)  # an import meets the same few locations and domains again and again
def region_hint(location: str | None, domain: str | None, default: str | None = None) -> str | None:
    """The likeliest country for a person's local numbers: their location's country, else a ccTLD.

    Two-letter location parts are not read as countries: "Denver, CO" is not Colombia.
    """
    if location:
        for part in reversed([p.strip().lower() for p in location.split(",")]):
            if part in _COUNTRY_NAMES:
                return _COUNTRY_NAMES[part]
    if domain:
        tld = domain.rsplit(".", 1)[-1]
        if tld in _TLD_REGIONS:
            return _TLD_REGIONS[tld]
        if len(tld) == 2 and tld.upper() in phonenumbers.SUPPORTED_REGIONS:
            return tld.upper()
    return default
