"""One small interface over two backends.

SQLite (the embedded default) runs SQLAlchemy Core statements synchronously on the event-loop
thread: an indexed lookup costs ~15 us that way against ~470 us through aiosqlite's thread hop
(measured on this machine, see CONTRIBUTING.md). It keeps two connections: an autocommit reader
(WAL readers never wait) and a writer whose transactions start with ``BEGIN IMMEDIATE`` behind an
asyncio lock, so a transaction is never interleaved with another coroutine's and never fails on a
lock upgrade. PostgreSQL runs through SQLAlchemy's AsyncEngine on asyncpg.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Dialect = Literal["sqlite", "postgresql"]


class Executor(Protocol):
    dialect: Dialect

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None: ...
    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]: ...
    async def scalar(self, stmt: Executable, params: Params = None) -> Any: ...
    async def execute(self, stmt: Executable, params: Params = None) -> int: ...


class Database(Executor, Protocol):
    url: str

    def transaction(self) -> Any: ...  # an async context manager yielding an Executor
    async def close(self) -> None: ...
    async def ping(self) -> None: ...


def upsert(dialect: Dialect, table: sa.Table) -> Any:
    """``INSERT`` with ``on_conflict_do_*`` for the backend in use (both dialects share the API)."""
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)


def normalise_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path | None:
    u = sa.make_url(url)
    if u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


class _SyncExecutor:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self.dialect: Dialect = "sqlite"

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        return self._conn.execute(stmt, params).first()

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        return self._conn.execute(stmt, params).all()

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        return self._conn.execute(stmt, params).scalar()

    async def execute(self, stmt: Executable, params: Params = None) -> int:
        return self._conn.execute(stmt, params).rowcount


class SqliteDatabase(_SyncExecutor):
    def __init__(self, url: str, busy_timeout_ms: int = 10_000) -> None:
        self.url = normalise_url(url)
        path = sqlite_path(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}

        def on_connect(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                f"busy_timeout={busy_timeout_ms}",
                "foreign_keys=ON",
                "cache_size=-65536",
                "temp_store=MEMORY",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        self._reader_engine = sa.create_engine(self.url, connect_args=args, poolclass=sa.pool.StaticPool)
        self._writer_engine = sa.create_engine(self.url, connect_args=args, poolclass=sa.pool.StaticPool)
        for eng in (self._reader_engine, self._writer_engine):
            event.listen(eng, "connect", on_connect)

        @event.listens_for(self._writer_engine, "begin")
        def _begin_immediate(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        self._writer = self._writer_engine.connect()
        super().__init__(self._reader_engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SyncExecutor]:
        async with self._write_lock:
            trans = self._writer.begin()
            try:
                yield _SyncExecutor(self._writer)
            except BaseException:
                trans.rollback()
                raise
            trans.commit()

    async def ping(self) -> None:
        self._conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        self._conn.close()
        self._writer.close()
        self._reader_engine.dispose()
        self._writer_engine.dispose()


class _AsyncExecutor:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        return (await self._conn.execute(stmt, params)).first()

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        return (await self._conn.execute(stmt, params)).all()

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        return (await self._conn.execute(stmt, params)).scalar()

    async def execute(self, stmt: Executable, params: Params = None) -> int:
        return (await self._conn.execute(stmt, params)).rowcount


class PostgresDatabase:
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self._engine: AsyncEngine = create_async_engine(
            self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
        )
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_AsyncExecutor]:
        async with self._engine.begin() as conn:
            yield _AsyncExecutor(conn)

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        async with self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).fetch_one(stmt, params)

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        async with self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).fetch_all(stmt, params)

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        async with self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).scalar(stmt, params)

    async def execute(self, stmt: Executable, params: Params = None) -> int:
        async with self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).execute(stmt, params)

    async def ping(self) -> None:
        await self.scalar(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self._engine.dispose()


def open_database(url: str, *, busy_timeout_ms: int = 10_000, pool_size: int = 10) -> Database:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return SqliteDatabase(url, busy_timeout_ms)
    if url.startswith("postgresql+asyncpg"):
        return PostgresDatabase(url, pool_size)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r} (use sqlite:/// or postgresql://)")
