"""Opt-outs over real HTTP: a suppressed person is served by no endpoint (v1, v2, employees, the finder even
as a guess, bulk jobs), an import does not bring them back (and says so), no provider is asked about them,
and the list names nobody."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.privacy.conftest import World


def employees(world: World, domain: str) -> httpx.Response:
    return world.post("/company/domainEmployees", {"domain": domain, "contactsNumberLimit": 100})


def names_at(world: World, domain: str) -> set[str]:
    r = employees(world, domain)
    assert r.status_code == 200, r.text
    return {e["name"] for e in r.json()["employees"]}


def finder(world: World, name: str, domain: str = "zeta-corp.example") -> list[str]:
    r = world.post("/company/emailFinder", {"name": name, "domain": domain})
    return [e["email"] for e in r.json()["emails"]] if r.status_code == 200 else []


def bulk_statuses(world: World, ids: list[str]) -> list[str]:
    r = world.post("/bulk/profile", {"items": [{"id": i, "name": "x"} for i in ids]})
    assert r.status_code == 202, r.text
    job = r.json()["job"]["id"]
    deadline = time.monotonic() + 30
    while True:
        got = httpx.get(f"{world.server.url}/bulk/jobs/{job}", headers={"Authorization": world.key}).json()["job"]
        if got["status"] == "done":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    lines = httpx.get(f"{world.server.url}/bulk/jobs/{job}/results", headers={"Authorization": world.key}).text
    return [json.loads(line)["status"] for line in lines.splitlines()]


def v2_work_emails(world: World, slug: str) -> list[Any]:
    r = world.post("/profile/linkedin", {"id": slug, "name": "Someone"}, **{"accept-version": "v2.0"})
    assert r.status_code == 200, r.text
    return list(r.json()["profile"]["workEmails"] or [])


def test_a_suppressed_person_is_served_by_no_endpoint(world: World) -> None:
    # Before: everyone is served, Hank (no address) with his predicted one.
    assert world.profile("alice-zeta-4711").status_code == 200
    hank = world.profile("hank-unsure-4716").json()["profile"]
    assert "hank.unsure@zeta-corp.example" in [e["email"] for e in hank["emails"]]
    assert {"Alice Zeta", "Bob Yarrow", "Carol Xeno", "Hank Unsure"} <= names_at(world, "zeta-corp.example")
    assert "hank.unsure@zeta-corp.example" in finder(world, "Hank Unsure")
    assert world.post("/company/domainPattern", {"domain": "hidden-corp.example"}).status_code == 200

    out = world.cli(
        "privacy",
        "suppress",
        "Alice.Zeta@ZETA-corp.example",  # any case
        "https://www.linkedin.com/in/Bob-Yarrow-4712/",  # a URL for a slug
        "+33 (0)6 55 66 77 88",  # a phone as written anywhere
        "@hidden-corp.example",  # a whole domain
        "hank.unsure@zeta-corp.example",  # an address the store only predicted
    ).stdout
    assert "suppressed 5 new" in out
    world.wait_for(lambda: world.profile("alice-zeta-4711").status_code == 404)

    for slug in ("alice-zeta-4711", "bob-yarrow-4712", "carol-xeno-4713", "hank-unsure-4716", "dave-will-4714"):
        r = world.profile(slug)
        assert r.status_code == 404, (slug, r.text)
        assert r.json()["error"]["code"] == "profile_not_found"  # exactly as for a lead never known
        assert v2_work_emails(world, slug) == []
    assert world.profile("frank-wolde-4717").status_code == 200  # a colleague is not touched

    staff = names_at(world, "zeta-corp.example")
    assert staff.isdisjoint({"Alice Zeta", "Bob Yarrow", "Carol Xeno", "Hank Unsure"})
    assert {"Frank Wolde", "Grace Ulm", "Iris Tann"} <= staff
    for path in ("/company/domainEmployees", "/company/domainPattern"):
        r = world.post(path, {"domain": "hidden-corp.example"})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "domain_not_found"
    assert finder(world, "Dave Will", "hidden-corp.example") == []
    assert "alice.zeta@zeta-corp.example" not in finder(world, "Alice Zeta")
    assert "hank.unsure@zeta-corp.example" not in finder(world, "Hank Unsure")  # not even as a guess
    assert "frank.wolde@zeta-corp.example" in finder(world, "Frank Wolde")

    assert bulk_statuses(world, ["alice-zeta-4711", "frank-wolde-4717", "dave-will-4714"]) == [
        "not_found",
        "found",
        "not_found",
    ]


def test_an_import_does_not_bring_them_back_and_counts_them(world: World) -> None:
    world.cli("privacy", "suppress", "quinn-rowe-4730", "@blocked-co.example")
    rows = (
        "name,email,linkedin,company,domain\n"
        "Quinn Rowe,quinn.rowe@zeta-corp.example,quinn-rowe-4730,Zeta Corp,zeta-corp.example\n"
        "Sam Blocked,sam@blocked-co.example,sam-blocked-4731,Blocked Co,blocked-co.example\n"
        "Tess Open,tess.open@zeta-corp.example,tess-open-4732,Zeta Corp,zeta-corp.example\n"
    )
    path = world.tmp / "again.csv"
    path.write_text(rows)
    out = world.cli("import", str(path)).stdout
    summary = {
        p[0]: p[1]
        for p in ([c.strip() for c in line.strip("│ ").split("│")] for line in out.splitlines())
        if len(p) == 2
    }
    assert summary["suppressed"] == "2", out
    assert summary["people created"] == "1", out
    world.wait_for(lambda: world.profile("tess-open-4732").status_code == 200)
    assert world.profile("quinn-rowe-4730").status_code == 404
    assert world.profile("sam-blocked-4731").status_code == 404


def test_no_provider_is_asked_about_a_suppressed_person(world: World) -> None:
    before = world.provider.total()
    assert world.profile("ghost-visible-1").status_code == 200  # the provider is asked, and knows ghosts
    assert world.provider.total() == before + 1

    world.cli("privacy", "suppress", "ghost-hidden-2", "grace-ulm-4718")
    world.wait_for(lambda: world.profile("grace-ulm-4718").status_code == 404)  # the server follows the list
    asked = world.provider.total()
    for _ in range(3):
        assert world.profile("ghost-hidden-2").status_code == 404
    assert world.provider.total() == asked
    assert not any("ghost-hidden-2" in json.dumps(s.body) for s in world.provider.seen)

    # An answer about someone suppressed under another identity is not kept either.
    world.cli("privacy", "suppress", "ghost-other-3@ghost-corp.example", "frank-wolde-4717")
    world.wait_for(lambda: world.profile("frank-wolde-4717").status_code == 404)
    assert world.profile("ghost-other-3").status_code == 404  # asked (the slug is not suppressed), dropped
    assert world.profile("ghost-other-3").status_code == 404


def test_unsuppress_serves_them_again_and_the_list_names_nobody(world: World) -> None:
    world.cli("privacy", "suppress", "iris.tann@zeta-corp.example")
    world.wait_for(lambda: world.profile("iris-tann-4719").status_code == 404)
    listed = world.cli("privacy", "list", "--json").stdout
    assert "iris" not in listed.lower() and "zeta" not in listed.lower()
    doc = json.loads(listed)
    assert doc["total"] >= 1 and all(len(s["hash"]) == 64 for s in doc["suppressions"])

    assert "removed 1" in world.cli("privacy", "unsuppress", "IRIS.TANN@zeta-corp.example").stdout
    world.wait_for(lambda: world.profile("iris-tann-4719").status_code == 200)


def test_bad_identities_are_refused_with_what_each_looks_like(world: World) -> None:
    r = world.cli("privacy", "suppress", "not an identity", check=False)
    assert r.returncode == 2
    assert "e-mail address" in r.stderr and "Traceback" not in r.stderr
