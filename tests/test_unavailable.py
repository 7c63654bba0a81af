"""A database that cannot serve (locked past the busy timeout, out of connections, gone) answers 503
with Retry-After, not 500: the request was fine, the client should retry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import httpx
import sqlalchemy as sa

from leadsmith.errors import database_unavailable
from tests.support import base_env, cli, start_server


def test_locked_sqlite_store_answers_503_then_serves(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    env = base_env(f"sqlite:///{path}", LEADSMITH_SQLITE_BUSY_TIMEOUT_MS="200")
    key = cli(env, "demo").stdout.strip().splitlines()[-1]
    server = start_server(env, tmp_path / "server.log")
    body = {"domain": "example.com", "name": "Ada Lovelace"}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
        try:
            locked = httpx.post(server.url + "/company/emailFinder", json=body, headers=headers, timeout=30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert locked.status_code == 503, locked.text
        assert locked.json()["error"]["code"] == "database_unavailable"
        assert locked.headers["retry-after"] == "1"
        again = httpx.post(server.url + "/company/emailFinder", json=body, headers=headers, timeout=30)
        assert again.status_code == 200, again.text
        assert "Traceback" not in (tmp_path / "server.log").read_text()
    finally:
        server.stop()


def test_connection_troubles_are_told_from_bad_statements() -> None:
    too_many = asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")
    wrapped = sa.exc.DBAPIError("SELECT 1", None, Exception("adapter"))
    wrapped.__cause__ = too_many
    assert database_unavailable(too_many)
    assert database_unavailable(wrapped)
    assert database_unavailable(ConnectionRefusedError(111, "Connection refused"))
    assert database_unavailable(sqlite3.OperationalError("database is locked"))  # raised by the driver itself
    assert database_unavailable(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"))
    assert not database_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not database_unavailable(
        sa.exc.OperationalError("SELECT x", None, sqlite3.OperationalError("no such column"))
    )
    assert not database_unavailable(ValueError("bad"))
