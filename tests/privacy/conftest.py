"""A store of people for the privacy tests, served by a real server process with an upstream provider (a
loopback fake that counts its calls), an account's key and an admin token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.providers.fakes import FakeProvider, Reply, Seen, fake_provider, kaspr_profile
from tests.providers.test_waterfall import kaspr, providers_toml
from tests.support import Server, base_env, cli, start_server, temporary_database

PEOPLE = """name,email,linkedin,phone,company,domain,location
Alice Zeta,alice.zeta@zeta-corp.example,alice-zeta-4711,+33 6 11 22 33 44,Zeta Corp,zeta-corp.example,"Paris, France"
Bob Yarrow,bob.yarrow@zeta-corp.example,bob-yarrow-4712,,Zeta Corp,zeta-corp.example,"Paris, France"
Carol Xeno,carol.xeno@zeta-corp.example,carol-xeno-4713,+33 6 55 66 77 88,Zeta Corp,zeta-corp.example,"Paris, France"
Frank Wolde,frank.wolde@zeta-corp.example,frank-wolde-4717,,Zeta Corp,zeta-corp.example,"Paris, France"
Grace Ulm,grace.ulm@zeta-corp.example,grace-ulm-4718,,Zeta Corp,zeta-corp.example,"Paris, France"
Iris Tann,iris.tann@zeta-corp.example,iris-tann-4719,,Zeta Corp,zeta-corp.example,"Paris, France"
Hank Unsure,,hank-unsure-4716,,Zeta Corp,zeta-corp.example,"Paris, France"
Dave Will,dave.will@hidden-corp.example,dave-will-4714,,Hidden Corp,hidden-corp.example,"Lyon, France"
Nora Vint,nora.vint@hidden-corp.example,nora-vint-4720,,Hidden Corp,hidden-corp.example,"Lyon, France"
"""


@dataclass
class World:
    server: Server
    key: str
    admin: str
    provider: FakeProvider
    tmp: Path

    def post(self, path: str, body: dict[str, Any], key: str | None = None, **headers: str) -> httpx.Response:
        return httpx.post(
            self.server.url + path, json=body, headers={"Authorization": f"Bearer {key or self.key}", **headers},
            timeout=60,
        )  # fmt: skip

    def admin_post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(
            self.server.url + path, json=body, headers={"Authorization": f"Bearer {self.admin}"}, timeout=60
        )

    def cli(self, *args: str, check: bool = True) -> Any:
        done = cli(self.server.env, *args, check=False, timeout=180)
        if check:
            assert done.returncode == 0, f"leadsmith {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}"
        return done

    def profile(self, slug: str, **more: Any) -> httpx.Response:
        return self.post("/profile/profile", {"id": slug, "name": "Someone", **more})

    def wait_for(self, check: Any, timeout: float = 5.0) -> None:
        """Until ``check()`` is true: a change made by the CLI reaches a running worker within a second."""
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "the server did not follow the change in time"
            time.sleep(0.1)


def ghost_profiles(seen: Seen) -> Reply:
    """The provider knows anyone it is asked about whose slug starts with ghost-."""
    slug = (seen.body or {}).get("id", "")
    if not str(slug).startswith("ghost-"):
        return Reply(404, {"message": "not found"})
    return Reply(200, kaspr_profile(slug, name="Ghost Person", workEmails=[f"{slug}@ghost-corp.example"]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("privacy")
    with fake_provider() as up, temporary_database(tmp) as url:
        up.on("/profile/linkedin", ghost_profiles)
        (tmp / "providers.toml").write_text(providers_toml([kaspr("up", up)]))
        env = base_env(
            url,
            LEADSMITH_PROVIDERS_FILE=str(tmp / "providers.toml"),
            UP_KEY="the-providers-key",
            LEADSMITH_RATE_LIMIT_PER_HOUR="100000",
            LEADSMITH_AUTH_CACHE_SECONDS="1",
            LEADSMITH_DEFAULT_PHONE_REGION="FR",
        )
        (tmp / "people.csv").write_text(PEOPLE)
        cli(env, "import", str(tmp / "people.csv"))
        key = cli(env, "accounts", "create", "buyer@customer.example", "--credits", "100000").stdout.split()[-1]
        admin = cli(env, "admin", "token", "create", "privacy-officer").stdout.split()[-1]
        server = start_server(env, tmp / "server.log")
        try:
            yield World(server, key, admin, up, tmp)
        finally:
            server.stop()
