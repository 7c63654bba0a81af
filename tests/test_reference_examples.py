"""Every code example of the Kaspr reference, run as written against a leadsmith server: only host and key change.

The reference's curl examples put the options on following lines without backslashes; they are
run as the single command they describe.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import SHARED, Server, shared_file

REFERENCE = SHARED / "kaspr-api-reference.md"
HOSTS = re.compile(r"https?://developer\.kaspr\.(?:fr|io)")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str]]:
    return [(lang, code) for lang, code in BLOCK.findall(REFERENCE.read_text())]


def documented_shapes() -> dict[str, Any]:
    examples = [json.loads(code) for lang, code in blocks() if lang == "json"]
    return {next(iter(e)): e for e in examples}


def path_of(code: str) -> str:
    match = re.search(r"/(keys/verifyKey|profile/profile|company/domainPattern|company/domainEmployees)", code)
    assert match, code
    return match.group(1)


def examples(lang: str) -> list[Any]:
    if not REFERENCE.exists():  # one case that says where the reference belongs (or fails, in CI)
        return [pytest.param("", id=f"{lang}-reference-missing")]
    return [pytest.param(code, id=f"{lang}-{path_of(code)}") for found, code in blocks() if found == lang]


def adapt(code: str, server: Server, key: str) -> str:
    return HOSTS.sub(server.url, code).replace("YOUR-API-KEY-HERE", key)


def assert_documented_shape(body: Any, path: str) -> None:
    top = {"keys/verifyKey": "user", "profile/profile": "profile", "company/domainPattern": "patterns",
           "company/domainEmployees": "employees"}[path]  # fmt: skip
    expected = documented_shapes()[top]
    _same_keys(expected, body, top)


def _same_keys(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        missing = set(expected) - set(actual)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for k, v in expected.items():
            _same_keys(v, actual[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        if expected and expected[0] is not None and not isinstance(expected[0], str):
            assert actual, f"{where}: expected items, got none"
            _same_keys(expected[0], actual[0], f"{where}[0]")


def test_the_reference_is_there() -> None:
    shared_file("kaspr-api-reference.md")
    langs = [lang for lang, _ in blocks()]
    assert langs.count("shell") == 4 and langs.count("python") == 4 and langs.count("ruby") == 4


@pytest.mark.parametrize("code", examples("shell"))
def test_curl_examples(server: Server, demo_key: str, code: str) -> None:
    shared_file("kaspr-api-reference.md")
    command = " ".join(line.strip() for line in adapt(code, server, demo_key).splitlines() if line.strip())
    out = subprocess.run(["bash", "-c", command + " --silent --show-error"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert_documented_shape(json.loads(out.stdout), path_of(code))


@pytest.mark.parametrize("code", examples("python"))
def test_python_requests_examples(server: Server, demo_key: str, code: str) -> None:
    shared_file("kaspr-api-reference.md")
    scope: dict[str, Any] = {}
    exec(compile(adapt(code, server, demo_key), "reference-example.py", "exec"), scope)
    response = scope["response"]
    assert response.status_code == 200, response.text
    assert_documented_shape(response.json(), path_of(code))


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed (.ci/run installs it)")
@pytest.mark.parametrize("code", examples("ruby"))
def test_ruby_net_http_examples(server: Server, demo_key: str, code: str, tmp_path: Path) -> None:
    shared_file("kaspr-api-reference.md")
    script = tmp_path / "example.rb"
    script.write_text(adapt(code, server, demo_key) + "\nputs response.code\nputs response.body\n")
    out = subprocess.run(["ruby", str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    status, body = out.stdout.split("\n", 1)
    assert status == "200", body
    assert_documented_shape(json.loads(body), path_of(code))


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``request`` package the Node examples require, installed from the npm registry once per run."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    prefix = tmp_path_factory.mktemp("node")
    done = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix), "request@2.88.2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"npm could not install request: {done.stderr[-300:]}")
    return prefix / "node_modules"


@pytest.mark.parametrize("code", examples("javascript"))
def test_node_request_examples(server: Server, demo_key: str, code: str, node_modules: Path, tmp_path: Path) -> None:
    shared_file("kaspr-api-reference.md")
    script = tmp_path / "example.js"
    script.write_text(adapt(code, server, demo_key))
    out = subprocess.run(
        ["node", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip(), "the example prints the body only on a 200"
    assert_documented_shape(json.loads(out.stdout), path_of(code))
