"""What an operator runs and reads: ``leadsmith doctor``, ``--version``, the version on /healthz and /metrics,
and JSON request logs that carry no secret."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from leadsmith import __version__
from leadsmith.db import migrate
from tests.support import REDIS_URL, base_env, cli, start_server, temporary_database


def _lines(output: str) -> dict[str, str]:
    """``doctor``'s output as {check name: status}."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        name = rest.strip().split(":", 1)[0]
        found[name] = status.strip()
    return found


def test_version() -> None:
    result = cli({}, "--version")
    assert result.stdout.strip() == f"leadsmith {__version__}"


def test_doctor_passes_on_a_healthy_setup(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url, LEADSMITH_REDIS_URL=REDIS_URL, LEADSMITH_SECRET_KEY="s" * 32)
        cli(env, "migrate")
        result = cli(env, "doctor", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        checks = _lines(result.stdout)
        # The loopback DNS fake answers the canary's MX, and the fake SMTP server listens on its address.
        assert checks["database"] == "ok" and checks["redis"] == "ok" and checks["secret key"] == "ok"
        assert checks["dns"] == "ok" and checks["smtp"] == "ok", result.stdout
        assert checks["providers"] == "skip" and checks["mail"] == "skip"


def test_doctor_fails_on_what_is_broken_and_says_how_to_fix_it(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(
            url,
            LEADSMITH_REDIS_URL="redis://127.0.0.1:1/0",  # nothing listens there
            LEADSMITH_DNS_CANARY="nomail.test",  # exists, but no mail host
            LEADSMITH_PROVIDERS_FILE=str(tmp_path / "missing.toml"),
        )
        result = cli(env, "doctor", check=False)
        assert result.returncode == 1
        checks = _lines(result.stdout)
        assert checks["database"] == "warn" and "leadsmith migrate" in result.stdout  # an empty store
        assert checks["redis"] == "FAIL" and checks["dns"] == "FAIL" and checks["providers"] == "FAIL"
        assert checks["secret key"] == "warn" and "LEADSMITH_SECRET_KEY" in result.stdout
        assert "LEADSMITH_DNS_NAMESERVERS" in result.stdout
        assert "redis, dns, providers" in result.stderr

    unreachable = base_env("postgresql://postgres@127.0.0.1:1/nothing")
    result = cli(unreachable, "doctor", check=False)
    assert result.returncode == 1 and _lines(result.stdout)["database"] == "FAIL"
    assert "LEADSMITH_DATABASE_URL" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_doctor_tells_a_store_behind_the_code_to_migrate(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url)
        migrate.upgrade(url, "0010")  # the store of the release before privacy
        result = cli(env, "doctor", check=False)
        assert result.returncode == 1 and _lines(result.stdout)["database"] == "FAIL"
        assert "run `leadsmith migrate`" in result.stdout


def test_version_on_healthz_and_metrics_and_json_request_logs(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url, LEADSMITH_LOG_FORMAT="json", LEADSMITH_ACCESS_LOG="true", LEADSMITH_LOG_LEVEL="info")
        key = cli(env, "demo").stdout.strip().splitlines()[-1]
        srv = start_server(env, tmp_path / "server.log")
        try:
            health = httpx.get(srv.url + "/healthz").json()
            assert health == {"status": "ok", "version": __version__}
            assert f'leadsmith_build_info{{version="{__version__}"}} 1' in httpx.get(srv.url + "/metrics").text
            r = httpx.post(
                srv.url + "/profile/profile",
                headers={"Authorization": key, "accept-version": "v1.0.0", "x-request-id": "trace-me-1"},
                json={"id": "kathleen-harvey", "name": "Kathleen Harvey"},
            )
            assert r.status_code == 200
            httpx.get(srv.url + "/keys/verifyKey", headers={"Authorization": "lsk_not_a_real_key"})
        finally:
            srv.stop()
        text = srv.log.read_text()
        records = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
        assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
        requests = [r for r in records if r["logger"] == "leadsmith.access"]
        profile = next(r for r in requests if r.get("request_id") == "trace-me-1")
        assert profile["method"] == "POST" and profile["endpoint"] == "/profile/profile"
        assert profile["status"] == 200 and profile["duration_ms"] >= 0 and isinstance(profile["account_id"], int)
        refused = next(r for r in requests if r["endpoint"] == "/keys/verifyKey")
        assert refused["status"] == 401 and "account_id" not in refused
        assert any(r["logger"].startswith("uvicorn") for r in records)  # the server's own lines too
        # Neither key nor the looked-up identity reaches the log.
        assert key not in text and "lsk_not_a_real_key" not in text and "kathleen" not in text.lower()
