"""Bulk reads and writes of plain tuples inside a transaction, on each backend's fastest path.

The importer moves a million rows through these, so they skip SQLAlchemy's per-statement compiling
and per-row parameter dictionaries:

- ``select_in``: rows whose key is one of many values, in one statement: ``= ANY($1)`` with an
  array on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` with a JSON array on SQLite (one
  statement text whatever the number of values, so both backends prepare it once).
- ``insert_rows``: PostgreSQL's ``COPY`` (binary, through asyncpg), straight into the table, or
  into a temporary staging table merged by one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
  when rows may already be there; on SQLite one ``executemany`` on the raw cursor.
- ``update_rows``: ``COPY`` into staging and one ``UPDATE ... FROM`` on PostgreSQL; ``executemany``
  on SQLite.

Table and column names come from our own ``Table`` objects, never from input.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from functools import cache
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa

from leadsmith.db.database import Executor


class KeyTaken(Exception):
    """``insert_rows`` without ``conflict`` met a row already there on a unique key."""


def _names(columns: Sequence[str]) -> str:
    return _quoted(tuple(columns))


@cache  # a few dozen column lists in all, named on every request that reads or writes through here
def _quoted(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


@cache
def _select_sql(table: str, columns: tuple[str, ...], key: str, condition: str) -> str:
    return f'SELECT {_quoted(columns)} FROM "{table}" WHERE "{key}" {condition}'


@cache
def _sqlite_insert_sql(table: str, columns: tuple[str, ...], conflict: tuple[str, ...]) -> str:
    on_conflict = f" ON CONFLICT ({_quoted(conflict)}) DO NOTHING" if conflict else ""
    return f'INSERT INTO "{table}" ({_quoted(columns)}) VALUES ({", ".join("?" * len(columns))}){on_conflict}'


def _array_type(column: sa.Column[Any]) -> str:
    return "bigint[]" if isinstance(column.type, sa.Integer) else "text[]"


async def select_in(
    tx: Executor, table: sa.Table, columns: Sequence[str], key: str, values: Collection[Any]
) -> list[tuple[Any, ...]]:
    """``columns`` of the rows of ``table`` whose ``key`` is one of ``values``."""
    if not values:
        return []
    raw = await tx.raw_connection()
    if tx.dialect == "postgresql":
        condition, args = one_of(tx, table.c[key], values)
        return [tuple(r) for r in await raw.fetch(_select_sql(table.name, tuple(columns), key, condition), *args)]
    sql = _select_sql(table.name, tuple(columns), key, _JSON_IN)
    return list(raw.execute(sql, _json_array(values)).fetchall())


def one_of(tx: Executor, column: sa.Column[Any], values: Collection[Any]) -> tuple[str, tuple[Any, ...]]:
    """A condition that ``column`` is one of ``values``, and its argument: ``= ANY($1)`` with an array on
    PostgreSQL, ``IN (SELECT value FROM json_each(?))`` with a JSON array on SQLite (its placeholder is
    the statement's first)."""
    if tx.dialect == "postgresql":
        return f"= ANY($1::{_array_type(column)})", (list(values),)
    return _JSON_IN, _json_array(values)


_JSON_IN = "IN (SELECT value FROM json_each(?))"


def _json_array(values: Collection[Any]) -> tuple[str]:
    """``_JSON_IN``'s one argument: the values as a JSON array."""
    return (orjson.dumps(list(values)).decode(),)


async def delete_in(tx: Executor, table: sa.Table, key: str, values: Collection[Any]) -> None:
    """Delete the rows of ``table`` whose ``key`` is one of ``values``."""
    if values:
        condition, args = one_of(tx, table.c[key], values)
        await execute(tx, f'DELETE FROM "{table.name}" WHERE "{key}" {condition}', args)


async def execute(tx: Executor, sql: str, args: Sequence[Any]) -> None:
    """One statement with positional arguments on the raw connection."""
    raw = await tx.raw_connection()
    if tx.dialect == "postgresql":
        await raw.execute(sql, *args)
    else:
        raw.execute(sql, tuple(args))


def savepoint(tx: Executor, name: str) -> AbstractAsyncContextManager[None]:
    """A savepoint in ``tx``'s transaction: what runs inside is undone alone if it raises (and the error
    raised again), the rest of the transaction kept. ``name`` is ours, never input."""
    return _Savepoint(tx, name)


class _Savepoint:
    """``savepoint``'s context manager (a class: one on every charge, and a generator-based one costs an
    async generator the event loop tracks)."""

    __slots__ = ("_name", "_tx")

    def __init__(self, tx: Executor, name: str) -> None:
        self._tx, self._name = tx, name

    async def __aenter__(self) -> None:
        await execute(self._tx, f"SAVEPOINT {self._name}", ())

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is not None:
            await execute(self._tx, f"ROLLBACK TO SAVEPOINT {self._name}", ())
        await execute(self._tx, f"RELEASE SAVEPOINT {self._name}", ())


async def insert_rows(
    tx: Executor,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in the order of ``columns``); with ``conflict`` (the columns of a unique
    index), rows that would clash with one already there are left out; without, such a row raises
    ``KeyTaken`` (and the transaction can only be rolled back)."""
    if not rows:
        return
    raw = await tx.raw_connection()
    if tx.dialect == "postgresql":
        names = _names(columns)
        if not conflict:
            try:
                await raw.copy_records_to_table(table.name, records=rows, columns=list(columns))
            except asyncpg.UniqueViolationError as exc:
                raise KeyTaken(str(exc)) from exc
            return
        # The importer has already left out what it found there, so straight in almost always works;
        # only a row another transaction wrote since then sends the batch the long way, by staging.
        try:
            async with savepoint(tx, "bulk_insert"):
                await raw.copy_records_to_table(table.name, records=rows, columns=list(columns))
            return
        except asyncpg.UniqueViolationError:
            pass
        stage = await _stage(raw, table, columns, rows)
        await raw.execute(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {stage} '
            f"ON CONFLICT ({_names(conflict)}) DO NOTHING"
        )
        return
    try:
        raw.executemany(_sqlite_insert_sql(table.name, tuple(columns), tuple(conflict)), rows)
    except sqlite3.IntegrityError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
            raise KeyTaken(str(exc)) from exc
        raise


async def update_rows(
    tx: Executor, table: sa.Table, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Set ``columns`` of the rows whose ``key`` is each row's first value (the others follow, in the
    order of ``columns``)."""
    if not rows:
        return
    raw = await tx.raw_connection()
    if tx.dialect == "postgresql":
        stage = await _stage(raw, table, [key, *columns], rows)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in columns)
        await raw.execute(f'UPDATE "{table.name}" t SET {sets} FROM {stage} s WHERE t."{key}" = s."{key}"')
        return
    sets = ", ".join(f'"{c}" = ?' for c in columns)
    raw.executemany(f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = ?', [(*row[1:], row[0]) for row in rows])


async def _stage(raw: Any, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A temporary table of these ``columns`` of ``table`` (dropped at the commit) holding ``rows``, by COPY."""
    stage = f"stage_{table.name}_{zlib.crc32(','.join(columns).encode()):08x}"
    await raw.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
        f'SELECT {_names(columns)} FROM "{table.name}" WITH NO DATA; TRUNCATE {stage}'
    )
    await raw.copy_records_to_table(stage, records=rows, columns=list(columns))
    return stage
