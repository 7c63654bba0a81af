"""The CLI against a store or a Redis it cannot use: one line naming the URL (password hidden), what
failed and what to do, a non-zero exit; the traceback only with --debug."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REDIS_URL, base_env, cli, free_port, start_server, temporary_database

BAD = [
    ("mysql://root:hunter2@127.0.0.1/crm", "unsupported database URL scheme 'mysql'"),
    (f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/x", "cannot reach the database"),
    (
        "postgresql://postgres:hunter2@127.0.0.1:5432/leadsmith_no_such_db",
        'database "leadsmith_no_such_db" does not exist',
    ),
    ("postgresql://nobody:hunter2@127.0.0.1:5432/postgres", 'role "nobody" does not exist'),
    ("oracle://scott:hunter2@db/orcl", "unsupported database URL scheme 'oracle'"),
]


@pytest.mark.parametrize(("url", "said"), BAD, ids=[b[1][:30] for b in BAD])
@pytest.mark.parametrize("command", [["accounts", "list"], ["migrate"], ["import", "x.csv"]])
def test_a_store_it_cannot_use_is_one_clear_line(url: str, said: str, command: list[str], tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("name,email\nAnn,ann@acme.example\n")
    args = [str(tmp_path / a) if a == "x.csv" else a for a in command]
    out = cli(base_env(url), *args, check=False)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "Traceback" not in text and len(out.stderr.strip().splitlines()) <= 2, text
    assert said in text and "hunter2" not in text and "***" in text
    assert "LEADSMITH_DATABASE_URL" in text


def test_debug_shows_the_traceback() -> None:
    out = cli(base_env(f"postgresql://postgres@127.0.0.1:{free_port()}/x"), "--debug", "accounts", "list", check=False)
    assert out.returncode != 0 and "Traceback" in out.stderr and "cannot reach the database" in out.stderr


def test_serve_says_when_redis_does_not_answer(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url, LEADSMITH_REDIS_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
        srv = start_server(env, tmp_path / "server.log")
        srv.stop()
        log = srv.log.read_text()
        assert "warning: the Redis at redis://:***@127.0.0.1" in log and "does not answer" in log
        assert "hunter2" not in log and "Traceback" not in log
    assert REDIS_URL  # the real one answers: no warning there (tests/test_workers.py starts on it)
