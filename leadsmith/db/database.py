"""One small interface over two backends.

SQLite (the embedded default) runs SQLAlchemy Core statements synchronously on the event-loop
thread: an indexed lookup costs ~15 us that way against ~470 us through aiosqlite's thread hop
(measured on this machine, see CONTRIBUTING.md). It keeps two connections: an autocommit reader
(WAL readers never wait) and a writer whose transactions start with ``BEGIN IMMEDIATE`` behind an
asyncio lock and a lock file shared with other processes, so a transaction is never interleaved with
another coroutine's, never fails on a lock upgrade and never waits for another worker on the event
loop. PostgreSQL runs through SQLAlchemy's AsyncEngine on asyncpg, and its hot prepared reads through
a small raw asyncpg pool. ``Prepared`` statements skip SQLAlchemy's execution path on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import operator
import os
import sqlite3
import time
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable

from leadsmith.db.tables import HOT_TABLES

log = logging.getLogger("leadsmith")

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]


class Executor(Protocol):
    dialect: Dialect

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None: ...
    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]: ...
    async def scalar(self, stmt: Executable, params: Params = None) -> Any: ...
    async def execute(self, stmt: Executable, params: Params = None) -> int: ...
    async def raw_connection(self) -> Any:
        """The driver's connection under this executor (sqlite3 or asyncpg), for ``db.bulk``."""


class Database(Executor, Protocol):
    url: str

    def transaction(self) -> Any: ...  # an async context manager yielding an Executor
    async def grouped(self, work: Callable[[Executor], Awaitable[T]]) -> T:
        """``work`` in a write transaction, alone or with others (a group commit): its changes are
        committed (and it returns) or none of them are (and it raises), as in a transaction of its own.
        ``work`` must not begin a transaction itself."""
        ...

    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    def start_housekeeping(self) -> None:
        """Start the store's own background upkeep (SQLite: WAL checkpoints; PostgreSQL: vacuuming
        the small tables whose rows are updated on every request). Stopped by ``close()``."""

    def checkpoint_soon(self) -> Awaitable[None]:
        """Start copying what was committed back into the store, in a thread (SQLite's WAL; nothing on
        PostgreSQL), and return at once: awaited before the next write transaction of a bulk write."""

    async def scrub(self, tables: Sequence[str], full: bool = False) -> None:
        """After an erasure, leave nothing of the deleted rows readable in the store's files."""


def retrieved(done: asyncio.Future[Any]) -> None:
    """A caller gone away leaves no "exception was never retrieved"."""
    if not done.cancelled():
        done.exception()


def settle(done: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if done.done():
        return
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)


W = TypeVar("W")


class Batches(Generic[W]):
    """A group commit's queue: the pieces of work asked for in one turn of the event loop, and those
    asked while a batch is being written, handed to ``write`` together by one task. ``write`` settles
    each piece's future (``settle``); a piece still waiting when that task is cancelled (shutting down)
    fails with ``stopped``. A piece whose caller went away is still written."""

    def __init__(self, write: Callable[[list[tuple[W, asyncio.Future[Any]]]], Awaitable[None]], stopped: str) -> None:
        self._write = write
        self._stopped = stopped
        self._queue: list[tuple[W, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def ask(self, work: W) -> Any:
        """``work`` written with its batch: what ``write`` settled its future with."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.add_done_callback(retrieved)
        self._queue.append((work, done))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return await asyncio.shield(done)

    async def _run(self) -> None:
        batch: list[tuple[W, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._write(batch)
        finally:
            self._task = None
            for _, done in (*batch, *self._queue):
                settle(done, False, RuntimeError(self._stopped))
            self._queue = []


def _done() -> asyncio.Future[None]:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


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


class Prepared(Executable):
    """A statement on a hot path, compiled once per backend.

    On SQLite it runs on the raw sqlite3 cursor (about 5x less overhead than SQLAlchemy's
    execution path); elsewhere it is executed as the SQLAlchemy statement it wraps. Rows support
    attribute access and unpacking either way. No expanding (``IN``) parameters.
    """

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self.read_only = isinstance(stmt, sa.Select)
        self._sqlite: _Plan | None = None
        self._postgres: _Plan | None = None

    def sqlite_plan(self) -> _Plan:
        if self._sqlite is None:
            self._sqlite = _Plan(self.stmt, sqlite.dialect(paramstyle="qmark"))
        return self._sqlite

    def postgres_plan(self) -> _Plan:
        """For asyncpg, which returns plain Python values for every column type the tables use."""
        if self._postgres is None:
            self._postgres = _Plan(self.stmt, PGDialect_asyncpg(), result_processors=False)  # type: ignore[no-untyped-call]
        return self._postgres


class _Plan:
    """A statement compiled for one driver: its SQL, its parameters in order, and its row type."""

    def __init__(self, stmt: Executable, dialect: sa.Dialect, result_processors: bool = True) -> None:
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        if any(b.expanding for b in compiled.binds.values()):
            raise ValueError("Prepared statements take no expanding IN parameters")
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        defaults = {name: b.value for name, b in compiled.binds.items() if not b.required and b.callable is None}
        self.defaults: dict[str, Any] = defaults
        binds = compiled._bind_processors
        binders = [binds.get(n) for n in self.names]
        # ``args`` on a hot path: the values picked in one C call, then only those that need it processed.
        self._pick: Callable[[Mapping[str, Any]], Any] = operator.itemgetter(*self.names) if self.names else _nothing
        self._single = len(self.names) == 1
        self._processed = [(i, p) for i, p in enumerate(binders) if p is not None]
        columns = compiled._result_columns
        processors = [c.type._cached_result_processor(dialect, None) for c in columns] if result_processors else []
        self.processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        self.row: Any = namedtuple("row", [c.keyname for c in columns], rename=True) if columns else None

    def args(self, params: Mapping[str, Any] | None) -> tuple[Any, ...]:
        values = {**self.defaults, **params} if self.defaults and params else self.defaults or params or {}
        picked = self._pick(values)
        out: tuple[Any, ...] = (picked,) if self._single else picked
        if not self._processed:
            return out
        items = list(out)
        for i, proc in self._processed:
            items[i] = proc(items[i])
        return tuple(items)

    def rows(self, cursor: Any) -> list[Any]:
        return self.make_rows(cursor.fetchall())

    def make_rows(self, records: Sequence[Any]) -> list[Any]:
        assert self.row is not None
        make, procs = self.row._make, self.processors
        if not procs:
            return list(map(make, records))
        out = []
        for r in records:
            values = list(r)
            for i, proc in procs:
                values[i] = proc(values[i])
            out.append(make(values))
        return out


def _nothing(_: Mapping[str, Any]) -> tuple[Any, ...]:
    return ()


# The WAL is started over, holding the write lock, once it holds this many frames (64 MB of 4 KB
# pages; see ``SqliteDatabase._catch_up``), waiting this long at most for readers to leave it.
CATCH_UP_FRAMES = 16_384
CATCH_UP_WAIT_SECONDS = 0.02
# How long a busy cross-process write lock is tried again on the loop before a thread waits for it.
LOCK_SPIN_SECONDS = 0.002

_file_readers: dict[str, sqlite3.Connection] = {}


def read_sqlite_file(path: str, stmt: Prepared, params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows (plain tuples) of a prepared read on this process's own read-only connection to the
    SQLite store at ``path``: for pool workers, which read beside the process that writes (in WAL mode
    a reader never waits for the writer, and sees what was committed when its read began)."""
    conn = _file_readers.get(path)
    if conn is None:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=10.0)
        conn.execute("PRAGMA cache_size = -65536")
        _file_readers[path] = conn
    plan = stmt.sqlite_plan()
    return conn.execute(plan.sql, plan.args(params)).fetchall()


class _SyncExecutor:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._dbapi: Any = conn.connection.dbapi_connection
        self.dialect: Dialect = "sqlite"

    def _raw(self, prepared: Prepared, params: Params) -> tuple[_Plan, Any]:
        assert params is None or isinstance(params, Mapping)
        plan = prepared.sqlite_plan()
        return plan, self._dbapi.execute(plan.sql, plan.args(params))

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        if isinstance(stmt, Prepared):
            plan, cursor = self._raw(stmt, params)
            rows = plan.rows(cursor)
            return rows[0] if rows else None
        return self._conn.execute(stmt, params).first()

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        if isinstance(stmt, Prepared):
            plan, cursor = self._raw(stmt, params)
            return plan.rows(cursor)
        return self._conn.execute(stmt, params).all()

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        if isinstance(stmt, Prepared):
            row = await self.fetch_one(stmt, params)
            return row[0] if row else None
        return self._conn.execute(stmt, params).scalar()

    async def execute(self, stmt: Executable, params: Params = None) -> int:
        if isinstance(stmt, Prepared):
            _, cursor = self._raw(stmt, params)
            return int(cursor.rowcount)
        return self._conn.execute(stmt, params).rowcount

    async def raw_connection(self) -> Any:
        return self._dbapi


class _SqliteTransaction:
    """``SqliteDatabase.transaction()``: this process's write lock, then the store's across processes, then
    ``BEGIN IMMEDIATE``; committed on leaving, rolled back on an exception, both locks released either way.
    A class rather than an ``asynccontextmanager``: several a request, and a generator-based one costs an
    async generator each, which the event loop tracks in a weak set."""

    __slots__ = ("_db",)

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def __aenter__(self) -> _SyncExecutor:
        db = self._db
        await db._write_lock.acquire()
        try:
            await db._lock_file()
        except BaseException:
            db._write_lock.release()
            raise
        try:
            db._writer_raw.execute("BEGIN IMMEDIATE")
        except BaseException:
            db._unlock_file()
            db._write_lock.release()
            raise
        return db._writer_executor

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        db = self._db
        raw = db._writer_raw
        try:
            if kind is None:
                try:
                    raw.execute("COMMIT")
                except BaseException:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                    raise
            elif raw.in_transaction:
                raw.execute("ROLLBACK")
        finally:
            db._unlock_file()
            db._write_lock.release()


class SqliteDatabase(_SyncExecutor):
    def __init__(self, url: str, busy_timeout_ms: int = 10_000, cache_mb: int = 64) -> None:
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
                f"cache_size=-{cache_mb * 1024}",
                "temp_store=MEMORY",
                # What is deleted is overwritten with zeros: an erased person leaves nothing readable.
                "secure_delete=ON",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        self._reader_engine = sa.create_engine(self.url, connect_args=args, poolclass=sa.pool.StaticPool)
        self._writer_engine = sa.create_engine(self.url, connect_args=args, poolclass=sa.pool.StaticPool)
        for eng in (self._reader_engine, self._writer_engine):
            event.listen(eng, "connect", on_connect)

        # Transactions are begun and ended on the driver's connection (``transaction``): SQLAlchemy's
        # begin/commit with its events cost ~0.1 ms a transaction, two of them in a store miss that
        # asks upstream (keep, charge). In AUTOCOMMIT, SQLAlchemy itself never begins or ends one.
        self._writer = self._writer_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._writer_raw: Any = self._writer.connection.dbapi_connection
        self._writer_executor = _SyncExecutor(self._writer)
        super().__init__(self._reader_engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
        self._write_lock = asyncio.Lock()
        self._path = path
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600) if path is not None else None
        self.lock_spin_seconds = LOCK_SPIN_SECONDS
        self.catch_up_frames = CATCH_UP_FRAMES
        self._checkpointer: asyncio.Task[None] | None = None
        self._groups: Batches[Callable[[Executor], Awaitable[Any]]] = Batches(
            self._write_group, "shutting down: the write was not made"
        )

    # Reads go to the writer's connection whenever it has no transaction open (the write lock is free):
    # SQLite empties a connection's page cache when another connection, this process's writer included, has
    # committed since its last read, so a read connection beside a busy writer read every page it needed
    # again from the OS on nearly every statement. Within a transaction of the writer (another task's,
    # across an await), reads keep to the read connection, which sees only what was committed.
    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        if self._write_lock.locked():
            return await super().fetch_one(stmt, params)
        return await self._writer_executor.fetch_one(stmt, params)

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        if self._write_lock.locked():
            return await super().fetch_all(stmt, params)
        return await self._writer_executor.fetch_all(stmt, params)

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        if self._write_lock.locked():
            return await super().scalar(stmt, params)
        return await self._writer_executor.scalar(stmt, params)

    def start_housekeeping(self, every_seconds: float = 1.0) -> None:
        """Checkpoint the WAL from a worker thread on its own connection, so no request waits for it
        (by default the commit that fills the WAL checkpoints it, fsync included, on the event loop)."""
        if self._path is not None and self._checkpointer is None:
            for conn in (self._conn, self._writer):
                raw = conn.connection.driver_connection  # not through SQLAlchemy: no transaction begins
                assert raw is not None
                raw.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(every_seconds))

    async def _checkpoint_loop(self, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            # Without the lock; once the WAL is big, a second time (it copies what came in during the
            # first: a little), then the last few frames holding it.
            big = await asyncio.to_thread(self._checkpoint) > self.catch_up_frames
            if big and await asyncio.to_thread(self._checkpoint) > 0:
                await self._catch_up()

    async def _catch_up(self) -> None:
        """Copy back what was committed while the lock-free checkpoint ran, holding the store's write
        lock (no commit comes in meanwhile), and start the WAL over from its beginning.

        Under a steady stream of commits a passive checkpoint never catches up with the WAL's end (more
        is committed while it copies), and SQLite starts the WAL over only once all of it has been
        copied back: the WAL then grows for as long as the stream lasts (295 MB in the 40 s of
        bench/upstream.py's store misses), every frame written to fresh file blocks the kernel must
        allocate, write back and convert, and every page read looks through a WAL index that keeps
        growing. What is left for this step is what the passive checkpoints before it could not copy:
        a few milliseconds' frames, copied and synced while commits wait (run every second, with two
        workers under that bench's load, it held the lock 6 ms at the median and 25 ms at most), which
        is why it waits for ``catch_up_frames`` (at that load, every 8 s or so)."""
        async with self._write_lock:
            await self._lock_file()
            try:
                await asyncio.to_thread(self._checkpoint, "RESTART", CATCH_UP_WAIT_SECONDS)
            finally:
                self._unlock_file()

    def _checkpoint(self, mode: str = "PASSIVE", wait_seconds: float = 1.0) -> int:
        """A checkpoint on a connection of its own; how many frames the WAL holds (0: it is empty or
        was started over) or -1 when the checkpoint was busy (the next round takes it)."""
        assert self._path is not None
        try:
            conn = sqlite3.connect(self._path, timeout=wait_seconds, check_same_thread=False)
            try:
                busy, log_frames, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
                return -1 if busy else int(log_frames)
            finally:
                conn.close()
        except sqlite3.Error:
            return -1

    async def scrub(self, tables: Sequence[str], full: bool = False) -> None:
        """After an erasure: nothing of the deleted rows left in the store's files. Every connection
        deletes with ``secure_delete`` on (freed cells and pages are zeroed), so what remains is the WAL's
        older frames, which a TRUNCATE checkpoint copies back and cuts away (retried while readers hold
        it); ``full`` rewrites the whole file first (VACUUM: slow on a big store, briefly blocks writes)."""
        del tables  # every table of the file is scrubbed alike
        if self._path is None:
            return
        if full:
            async with self._write_lock:
                await self._lock_file()
                try:
                    raw = self._writer.connection.driver_connection
                    assert raw is not None
                    await asyncio.to_thread(raw.execute, "VACUUM")
                finally:
                    self._unlock_file()
        if not await asyncio.to_thread(self._truncate_wal):
            raise RuntimeError("the WAL could not be cut back (a reader held it for 30 s): run the erasure again")

    def _truncate_wal(self, wait_seconds: float = 30.0) -> bool:
        assert self._path is not None
        deadline = time.monotonic() + wait_seconds
        conn = sqlite3.connect(self._path, timeout=1.0, check_same_thread=False)
        try:
            while True:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    return True
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
        finally:
            conn.close()

    def checkpoint_soon(self) -> Awaitable[None]:
        """Between the transactions of a bulk write: the WAL is only started over from its beginning
        when a transaction begins with all of it copied back, which a background checkpoint once a
        second all but never manages between back-to-back transactions. The WAL then grows for the
        whole import (1.8 GB for a million people), every page written to fresh file blocks the
        kernel has to zero first: 11 s of system time."""
        if self._path is None:
            return _done()
        return asyncio.get_running_loop().run_in_executor(None, self._copy_back)

    def _copy_back(self) -> None:
        self._checkpoint()

    def transaction(self) -> _SqliteTransaction:
        return _SqliteTransaction(self)

    async def grouped(self, work: Callable[[Executor], Awaitable[T]]) -> T:
        """A group commit: the work asked for in one turn of the event loop (and while a group is being
        written) runs in one write transaction, each piece inside a savepoint, so one that raises is
        undone alone and the others are committed together. A short write on every request (a charge)
        then costs its statements, not a transaction each: one commit for the group, and for the other
        workers of the store one change to catch up with instead of many."""
        result: T = await self._groups.ask(work)
        return result

    async def _write_group(self, group: list[tuple[Callable[[Executor], Awaitable[Any]], asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            async with self.transaction() as tx:
                raw = self._writer_raw
                for work, done in group:
                    raw.execute("SAVEPOINT grouped")
                    try:
                        value = await work(tx)
                    except Exception as exc:
                        if not raw.in_transaction:
                            raise  # SQLite undid the whole transaction: the group fails
                        raw.execute("ROLLBACK TO grouped")
                        raw.execute("RELEASE grouped")
                        outcomes.append((done, False, exc))
                    else:
                        raw.execute("RELEASE grouped")
                        outcomes.append((done, True, value))
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
            for _, done in group:
                settle(done, False, exc)
            return
        for done, ok, value in outcomes:
            settle(done, ok, value)

    async def _lock_file(self) -> None:
        """Take the store's write lock across processes (other workers, an import) before ``BEGIN
        IMMEDIATE``, which would otherwise wait for another process's transaction on the event loop,
        in SQLite's sleep-and-retry busy handler: every request of this worker stalled meanwhile.

        Held by another worker, it is nearly always for one short transaction (a keep, a group of
        charges: a fraction of a millisecond), so it is first tried again for up to ``lock_spin_seconds``,
        once every turn of the event loop, which serves this worker's other requests in between (an
        adaptive lock: spin, then sleep). Only then is it waited for in a thread (an import's batch, a long
        transaction). Waited for in a thread at once, a fifth of the transactions of two workers asking
        upstream did so (bench/upstream.py), each paying a thread's wake-up and then holding the lock
        until this worker's loop came back to it, which made the other worker wait longer in turn. Tried
        again in a loop of ``sched_yield`` that held the event loop, every request of the worker waited
        for the other worker's transaction too (bench/upstream.py, 2 workers, four runs each way: added
        p50 +2.2 to +4.3 ms, p99 +10.0 to +13.5 ms; tried once a turn, +1.7 to +3.0 ms and +7.7 to +12.2)."""
        if self._lock_fd is None:
            return
        fd = self._lock_fd
        deadline = time.perf_counter() + self.lock_spin_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0)  # a turn of the loop: this worker's other requests are served meanwhile
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread still takes the lock: give it back as soon as it does.
            waiting.add_done_callback(lambda f: None if f.exception() else fcntl.flock(fd, fcntl.LOCK_UN))
            raise

    def _unlock_file(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    async def ping(self) -> None:
        self._conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        self._conn.close()
        self._writer.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._reader_engine.dispose()
        self._writer_engine.dispose()


def _unwrap(stmt: Executable) -> Any:
    return stmt.stmt if isinstance(stmt, Prepared) else stmt


class _AsyncExecutor:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        return (await self._conn.execute(_unwrap(stmt), params)).first()

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        return (await self._conn.execute(_unwrap(stmt), params)).all()

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        return (await self._conn.execute(_unwrap(stmt), params)).scalar()

    async def execute(self, stmt: Executable, params: Params = None) -> int:
        return (await self._conn.execute(_unwrap(stmt), params)).rowcount

    async def raw_connection(self) -> Any:
        fairy = await self._conn.get_raw_connection()
        if self._conn.in_transaction() and getattr(fairy.dbapi_connection, "_transaction", None) is None:
            # SQLAlchemy sends BEGIN with the transaction's first statement: send it before the raw
            # connection is used, or its statements would run outside the transaction.
            await self._conn.exec_driver_sql("SELECT 1")
        return fairy.driver_connection


class FairGate:
    """First come, first served entry to a pool of ``size`` connections.

    asyncpg's pool and SQLAlchemy's async queue pool wait on an ``asyncio.Queue``, which hands a
    released connection to whichever coroutine asks next: the waiter woken for it often finds it taken
    by a newcomer and queues again at the back. Under load most look-ups waited for nothing and one in
    ten waited over 100 ms (profile repeat look-ups, 64 connections on 2 workers: pool wait p50 0.02 ms,
    p90 118 ms, p99 277 ms). An ``asyncio.Semaphore`` hands a released permit to its oldest waiter, so
    at most ``size`` callers reach the pool, in order of arrival, and the pool itself never makes
    anyone wait (pool wait then p50 19-23 ms, p90 26-28, p99 33-36: the same queue, shared fairly).
    One semaphore per event loop: a store may be used from several loops in turn (tests, the CLI).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem = asyncio.Semaphore(size)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._sem = loop, asyncio.Semaphore(self.size)
        return self._sem

    def __call__(self) -> asyncio.Semaphore:
        return self._semaphore()


async def _keep_session(_: asyncpg.Connection) -> None:
    """The raw pool runs single SELECTs and changes no session state, so a released connection needs
    no reset query (asyncpg's default sends one per release: a round trip per lookup)."""


class PostgresDatabase:
    """PostgreSQL through SQLAlchemy's AsyncEngine on asyncpg; prepared reads outside a transaction
    go straight to a small asyncpg pool of their own (asyncpg prepares and caches each statement per
    connection), without SQLAlchemy's execution path: the hot lookups of every request."""

    dialect: Dialect = "postgresql"
    _housekeeper: asyncio.Task[None] | None

    def start_housekeeping(self, every_seconds: float = 10.0) -> None:
        """Vacuum each of the small tables of hot rows (``HOT_TABLES``) after every 10,000 updates and
        deletes of its rows.

        Every charge writes a new version of its account's row. The tables' low fill factor (see
        ``HOT_FILLFACTOR``) lets PostgreSQL prune old versions as it goes, but versions that did not
        fit on their row's page leave index entries behind that only a vacuum removes, and autovacuum
        looks at a table once a minute at most (it is off altogether on some servers: this machine's).
        ``SKIP_LOCKED`` leaves a table another worker is vacuuming.
        """
        if self._housekeeper is None and every_seconds > 0:
            self._housekeeper = asyncio.create_task(self._vacuum_loop(every_seconds))

    def checkpoint_soon(self) -> Awaitable[None]:
        return _done()  # PostgreSQL checkpoints on its own

    async def scrub(self, tables: Sequence[str], full: bool = False) -> None:
        """After an erasure: VACUUM the tables it deleted from, so their dead rows are no longer kept for
        old snapshots and their space is reused (overwritten) by new rows; ``full`` rewrites each table
        and its indexes into new files and deletes the old ones (VACUUM FULL: an exclusive lock while it
        runs). WAL segments and backups keep old rows until they are recycled (see the privacy docs)."""
        for table in tables:
            await self.execute(sa.text(f'VACUUM {"FULL " if full else ""}"{table}"'))

    async def _vacuum_loop(self, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.vacuum_hot_tables()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("vacuuming the hot tables failed (retried in %s s): %r", every_seconds, exc)

    async def vacuum_hot_tables(self, every_changes: int = 10_000) -> list[str]:
        """Vacuum the hot tables whose rows saw ``every_changes`` updates and deletes since this store
        last did (or since it first looked); the tables vacuumed."""
        pool = await self._pool()
        async with self._raw_gate(), pool.acquire() as conn:
            changed = []
            for r in await conn.fetch(
                "SELECT relname, n_tup_upd + n_tup_del AS changes FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema() AND relname = ANY($1::text[])",
                list(HOT_TABLES),
            ):
                seen = self._changes_seen.setdefault(r["relname"], r["changes"])
                if r["changes"] - seen >= every_changes:
                    changed.append(r["relname"])
                    self._changes_seen[r["relname"]] = r["changes"]
            for table in changed:
                await conn.execute(f'VACUUM (SKIP_LOCKED) "{table}"')
        return changed

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        # At most ``pool_size`` connections for transactions and other statements, and half as many
        # for the raw lookups: 15 per worker with the default of 10.
        self._engine: AsyncEngine = create_async_engine(
            self.url, pool_size=pool_size, max_overflow=0, pool_pre_ping=False
        )
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engine_gate = FairGate(pool_size)
        self._raw_size = max(1, pool_size // 2)
        self._raw_gate = FairGate(self._raw_size)
        self._housekeeper = None
        self._changes_seen: dict[str, int] = {}
        self._raw_pool: asyncpg.Pool | None = None
        self._raw_lock = asyncio.Lock()

    async def _pool(self) -> asyncpg.Pool:
        if self._raw_pool is None:
            async with self._raw_lock:
                if self._raw_pool is None:
                    dsn = sa.engine.make_url(self.url).set(drivername="postgresql")
                    self._raw_pool = await asyncpg.create_pool(
                        dsn.render_as_string(hide_password=False),
                        min_size=1,
                        max_size=self._raw_size,
                        reset=_keep_session,
                    )
        return self._raw_pool

    async def _records(self, prepared: Prepared, params: Params) -> tuple[_Plan, list[Any]]:
        assert params is None or isinstance(params, Mapping)
        plan = prepared.postgres_plan()
        pool = await self._pool()
        async with self._raw_gate(), pool.acquire() as conn:
            return plan, await conn.fetch(plan.sql, *plan.args(params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_AsyncExecutor]:
        async with self._engine_gate(), self._engine.begin() as conn:
            yield _AsyncExecutor(conn)

    async def grouped(self, work: Callable[[Executor], Awaitable[T]]) -> T:
        """A transaction of its own: PostgreSQL's writers run side by side and commit in groups itself."""
        async with self.transaction() as tx:
            return await work(tx)

    async def fetch_one(self, stmt: Executable, params: Params = None) -> Row[Any] | None:
        if isinstance(stmt, Prepared) and stmt.read_only:
            plan, records = await self._records(stmt, params)
            return plan.make_rows(records[:1])[0] if records else None
        async with self._engine_gate(), self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).fetch_one(stmt, params)

    async def fetch_all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        if isinstance(stmt, Prepared) and stmt.read_only:
            plan, records = await self._records(stmt, params)
            return plan.make_rows(records)
        async with self._engine_gate(), self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).fetch_all(stmt, params)

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        if isinstance(stmt, Prepared) and stmt.read_only:
            _, records = await self._records(stmt, params)
            return records[0][0] if records else None
        async with self._engine_gate(), self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).scalar(stmt, params)

    async def execute(self, stmt: Executable, params: Params = None) -> int:
        async with self._engine_gate(), self._autocommit.connect() as conn:
            return await _AsyncExecutor(conn).execute(stmt, params)

    async def raw_connection(self) -> Any:
        raise RuntimeError("on PostgreSQL, bulk statements run inside a transaction()")

    async def ping(self) -> None:
        await self.scalar(sa.text("SELECT 1"))

    async def close(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
            self._housekeeper = None
        if self._raw_pool is not None:
            await self._raw_pool.close()
        await self._engine.dispose()


def shown_url(url: str) -> str:
    """A database or Redis URL as it may be printed: any password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url


def supported_url(url: str) -> None:
    """Refuse, in words, a database URL of a kind leadsmith cannot use."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if not scheme.startswith(("sqlite", "postgres")):
        raise ValueError(
            f"unsupported database URL scheme {scheme or url!r}: leadsmith stores its data in SQLite "
            "(sqlite:///path/to/file.db) or PostgreSQL (postgresql://user@host/db)"
        )


def store_problem(url: str, exc: BaseException) -> str | None:
    """What went wrong when the store at ``url`` could not be used, and what to do, in one sentence; None
    when ``exc`` is no such failure (a bug, to be shown as it is)."""
    where = shown_url(url)
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ValueError) and "unsupported database URL" in str(exc):
        return f"{exc} (LEADSMITH_DATABASE_URL is {where})"
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)) and not isinstance(exc, sqlite3.Error):
        return (
            f"cannot reach the database at {where}: {text}. Is the server running and listening there? "
            "Check LEADSMITH_DATABASE_URL."
        )
    if isinstance(exc, (sa.exc.DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error)):
        hint = "Check LEADSMITH_DATABASE_URL"
        if "does not exist" in text and "database" in text:
            hint = "Create the database first (createdb), or point LEADSMITH_DATABASE_URL at one that exists"
        elif "role" in text or "password" in text or "authentication" in text:
            hint = "Check the user and password in LEADSMITH_DATABASE_URL"
        return f"cannot use the database at {where}: {text}. {hint}."
    if isinstance(exc, sa.exc.ArgumentError):
        return f"LEADSMITH_DATABASE_URL is not a database URL ({where}): {text}."
    return None


def open_database(
    url: str, *, busy_timeout_ms: int = 10_000, pool_size: int = 10, sqlite_cache_mb: int = 64
) -> Database:
    """The store at ``url``. ``sqlite_cache_mb``: SQLite's page cache per connection (a bulk import
    inserting into indexes bigger than the cache reads their pages back from the file again and again)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return SqliteDatabase(url, busy_timeout_ms, sqlite_cache_mb)
    if url.startswith("postgresql+asyncpg"):
        return PostgresDatabase(url, pool_size)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r} (use sqlite:/// or postgresql://)")
