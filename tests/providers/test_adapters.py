"""Each adapter against a loopback fake serving its provider's documented answers and errors: what it maps
onto leadsmith's records, and how every documented failure comes out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from leadsmith.providers.apollo import ApolloProvider
from leadsmith.providers.base import Answer, Http, ProfileQuery, ProviderError, lookups_of
from leadsmith.providers.hunter import HunterProvider
from leadsmith.providers.kaspr import KasprProvider
from leadsmith.providers.pdl import PdlProvider
from tests.providers.fakes import (
    APOLLO_MATCH,
    HUNTER_ACCOUNT,
    HUNTER_DOMAIN,
    HUNTER_FINDER,
    PDL_ENRICH,
    PDL_NOT_FOUND,
    FakeProvider,
    Reply,
    fake_provider,
    kaspr_profile,
)

QUERY = ProfileQuery("jane-upstream", "https://www.linkedin.com/in/jane-upstream", "Jane Upstream", True)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with fake_provider() as f:
        yield f


def http(fake: FakeProvider, timeout: float = 2.0) -> Http:
    return Http("test", fake.url, timeout=timeout)


async def test_kaspr_v2_maps_a_profile_and_says_what_it_drew(fake: FakeProvider) -> None:
    body = kaspr_profile("jane-upstream", directEmails=["jane@gmail.com"], phones=["+33 6 12 34 56 78"], valid=True)
    fake.on("/profile/linkedin", Reply(200, body, {"Decreased-Credits": "3"}))
    provider = KasprProvider("k", http(fake), "lsk_key", "v2")
    assert lookups_of(provider) == {"profile", "employees"}
    answer = await provider.profile(QUERY)
    (person,) = answer.people
    assert person.linkedin == "jane-upstream" and (person.first_name, person.last_name) == ("Jane", "Upstream")
    assert [(e.address, e.valid) for e in person.emails] == [
        ("jane-upstream@acme.example", True),
        ("jane@gmail.com", True),
    ]
    assert person.phones == ("+33 6 12 34 56 78",) and person.domain == "acme.example" and answer.units == 3
    sent = fake.seen[-1]
    assert sent.headers["accept-version"] == "v2.0" and sent.headers["authorization"] == "Bearer lsk_key"
    assert sent.body == {
        "id": "jane-upstream",
        "name": "Jane Upstream",
        "dataToGet": ["workEmail", "directEmail", "phone"],
    }
    await provider.close()


async def test_kaspr_v2_empty_profile_and_v1_404_are_misses(fake: FakeProvider) -> None:
    empty = kaspr_profile("nobody", workEmails=[])
    fake.on("/profile/linkedin", Reply(200, empty))
    assert (await KasprProvider("k", http(fake), "k", "v2").profile(QUERY)).people == ()
    fake.on("/profile/profile", Reply(404, {"message": "no data", "error": {"code": "profile_not_found"}}))
    v1 = KasprProvider("k", http(fake), "k", "v1")
    assert (await v1.profile(QUERY)).people == ()
    assert fake.seen[-1].body == {"id": "jane-upstream", "name": "Jane Upstream", "isPhoneRequired": True}


async def test_hunter_email_finder_maps_verification_and_score(fake: FakeProvider) -> None:
    fake.on("/email-finder", Reply(200, HUNTER_FINDER))
    provider = HunterProvider("h", http(fake), "hkey")
    assert lookups_of(provider) == {"email", "employees", "pattern"}
    answer = await provider.email("Alexis", "Ohanian", "reddit.com")
    (person,) = answer.people
    (email,) = person.emails
    assert (email.address, email.valid, email.confidence) == ("alexis@reddit.com", True, 0.97)
    assert person.linkedin == "https://www.linkedin.com/in/alexisohanian" and person.title == "Cofounder"
    assert fake.seen[-1].query["api_key"] == ["hkey"] and fake.seen[-1].query["first_name"] == ["Alexis"]


async def test_hunter_domain_search_gives_people_and_the_pattern(fake: FakeProvider) -> None:
    fake.on("/domain-search", Reply(200, HUNTER_DOMAIN))
    answer = await HunterProvider("h", http(fake), "hkey").employees("stripe.com", 10)
    assert answer.pattern == "{first}"
    assert [(p.first_name, p.emails[0].address, p.emails[0].valid) for p in answer.people] == [
        ("Patrick", "patrick@stripe.com", True),
        ("John", "john@stripe.com", None),  # accept_all: no verdict
    ]  # the generic address is left out


async def test_pdl_maps_likelihood_onto_confidence(fake: FakeProvider) -> None:
    fake.on("/v5/person/enrich", Reply(200, PDL_ENRICH))
    provider = PdlProvider("p", http(fake), "pkey")
    assert lookups_of(provider) == {"profile", "email"}
    (person,) = (await provider.profile(QUERY)).people
    assert person.full_name == "Sean Thorne" and person.domain == "peopledatalabs.com"
    by = {e.address: e for e in person.emails}
    assert by["sean@peopledatalabs.com"].confidence == 0.9 and by["sthorne@gmail.com"].confidence is None
    assert person.phones == ("+14155688415",)
    assert fake.seen[-1].headers["x-api-key"] == "pkey"
    assert fake.seen[-1].query["profile"] == ["https://www.linkedin.com/in/jane-upstream"]
    fake.on("/v5/person/enrich", Reply(404, PDL_NOT_FOUND))
    assert (await provider.profile(QUERY)).people == ()


async def test_apollo_maps_email_status_and_counts_a_phone_as_nine(fake: FakeProvider) -> None:
    fake.on("/api/v1/people/match", Reply(200, APOLLO_MATCH))
    provider = ApolloProvider("a", http(fake), "akey")
    answer = await provider.profile(QUERY)
    (person,) = answer.people
    assert [(e.address, e.valid, e.confidence) for e in person.emails] == [
        ("tim@apollo.io", True, 0.9),
        ("tim.zheng@gmail.com", None, None),
    ]
    assert person.phones == ("+14155550134",) and person.domain == "apollo.io" and answer.units == 9
    assert fake.seen[-1].body["reveal_phone_number"] is True
    fake.on("/api/v1/people/match", Reply(200, {"person": None}))
    assert (await provider.profile(QUERY)).people == ()


@dataclass
class Case:
    name: str
    path: str
    make: Callable[[Http], Any]
    call: Callable[[Any], Awaitable[Answer]]


CASES = [
    Case("kaspr", "/profile/linkedin", lambda h: KasprProvider("k", h, "k"), lambda p: p.profile(QUERY)),
    Case("hunter", "/email-finder", lambda h: HunterProvider("h", h, "k"), lambda p: p.email("A", "B", "x.example")),
    Case("pdl", "/v5/person/enrich", lambda h: PdlProvider("p", h, "k"), lambda p: p.profile(QUERY)),
    Case("apollo", "/api/v1/people/match", lambda h: ApolloProvider("a", h, "k"), lambda p: p.profile(QUERY)),
]
FAULTS = [
    (Reply(401, {"errors": [{"id": "authentication_failed", "code": 401}]}), "auth", None),
    (Reply(403, {"message": "forbidden"}), "auth", None),
    (Reply(402, {"message": "No credits left"}), "payment", None),
    (Reply(429, {"message": "slow down"}, {"Retry-After": "17"}), "rate", 17.0),
    (Reply(429, {"message": "slow down"}), "rate", None),
    (Reply(500, {"message": "oops"}), "unavailable", None),
    (Reply(503, b"<html>down</html>"), "unavailable", None),
    (Reply(200, b"{not json"), "bad_answer", None),
    (Reply(200, {"data": None}, delay=1.5), "unavailable", None),  # slower than the timeout
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize(("reply", "kind", "retry_after"), FAULTS, ids=[f"{r.status}-{k}" for r, k, _ in FAULTS])
async def test_every_documented_failure_is_a_provider_error_of_its_kind(
    fake: FakeProvider, case: Case, reply: Reply, kind: str, retry_after: float | None
) -> None:
    fake.on(case.path, reply)
    provider = case.make(http(fake, timeout=0.5))
    with pytest.raises(ProviderError) as caught:
        await case.call(provider)
    assert caught.value.kind == kind and caught.value.retry_after == retry_after
    await provider.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("reply", [Reply(200, b""), Reply(204, None), Reply(404, {"message": "not found"})])
async def test_an_empty_answer_or_a_404_is_a_miss(fake: FakeProvider, case: Case, reply: Reply) -> None:
    fake.on(case.path, reply)
    provider = case.make(http(fake))
    assert (await case.call(provider)).people == ()
    await provider.close()


async def test_each_check_is_the_cheapest_authenticated_call(fake: FakeProvider) -> None:
    fake.on("/keys/remainingCredits", Reply(200, {"workEmailCredits": -1, "directEmailCredits": 5, "phoneCredits": 2,
                                                  "exportCredits": 1, "personalEmailCredits": 5}))  # fmt: skip
    fake.on("/account", Reply(200, HUNTER_ACCOUNT))
    fake.on("/v5/person/enrich", Reply(404, PDL_NOT_FOUND))
    fake.on("/api/v1/auth/health", Reply(200, {"healthy": True, "is_logged_in": True}))
    assert "workEmail -1" in await KasprProvider("k", http(fake), "k").check()
    assert "searches used 3 of 50" in await HunterProvider("h", http(fake), "k").check()
    assert "key accepted" in await PdlProvider("p", http(fake), "k").check()
    assert "key accepted" in await ApolloProvider("a", http(fake), "k").check()
    fake.on("/account", Reply(401, {"errors": [{"id": "authentication_failed", "code": 401}]}))
    with pytest.raises(ProviderError) as caught:
        await HunterProvider("h", http(fake), "k").check()
    assert caught.value.kind == "auth"
