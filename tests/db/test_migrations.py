from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.schema import CreateIndex

from leadsmith.db import migrate
from leadsmith.db.database import normalise_url
from leadsmith.db.tables import HOT_FILLFACTOR, HOT_TABLES, metadata
from tests.support import temporary_database


def _diff(connection: sa.Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata))


def _expression_indexes() -> list[sa.Index]:
    """The indexes on expressions (``lower(last_name)``...), which SQLAlchemy cannot reflect on SQLite, so
    that autogenerate's comparison leaves them out (and says so in a warning)."""
    return [
        index
        for table in metadata.tables.values()
        for index in table.indexes
        if any(not isinstance(e, sa.Column) for e in index.expressions)
    ]


def _sql(text: str) -> str:
    return " ".join(text.replace("(", " ( ").replace(")", " ) ").split()).lower()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_build_exactly_the_tables_and_go_back_down(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        migrate.upgrade(url)
        if url.startswith("sqlite"):
            engine = sa.create_engine(normalise_url(url))
            with engine.connect() as conn:
                assert _diff(conn) == []
                # What the comparison leaves out, compared here: each expression index as declared.
                expected = _expression_indexes()
                assert expected, "no expression index declared: this check has nothing left to do"
                for index in expected:
                    made = conn.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (index.name,)
                    ).scalar()
                    declared = str(CreateIndex(index).compile(dialect=engine.dialect))
                    assert made is not None and _sql(made) == _sql(declared), index.name
            engine.dispose()
        migrate.downgrade(url, "base")
        migrate.upgrade(url)


def test_the_hot_tables_get_their_fill_factor_on_postgresql(tmp_path: Path) -> None:
    """What db/tables.py declares (``postgresql_with``) and what the migrations do agree."""
    for name in HOT_TABLES:
        assert metadata.tables[name].dialect_options["postgresql"]["with"] == {"fillfactor": HOT_FILLFACTOR}
    with temporary_database(tmp_path) as url:
        if not url.startswith("postgresql"):
            return

        def options() -> dict[str, list[str] | None]:
            async def read() -> dict[str, list[str] | None]:
                conn = await asyncpg.connect(url)
                try:
                    rows = await conn.fetch(
                        "SELECT relname, reloptions FROM pg_class WHERE relname = ANY($1::text[])", list(HOT_TABLES)
                    )
                finally:
                    await conn.close()
                return {r["relname"]: r["reloptions"] for r in rows}

            return asyncio.run(read())

        migrate.upgrade(url)
        assert options() == {name: [f"fillfactor={HOT_FILLFACTOR}"] for name in HOT_TABLES}
        migrate.downgrade(url, "0006")
        assert options() == dict.fromkeys(HOT_TABLES)


def test_reveals_keep_their_rows_as_sqlite_makes_them_a_table_without_rowid(tmp_path: Path) -> None:
    """Migration 0013 makes ``reveals`` again on SQLite (WITHOUT ROWID) and back on the way down: the
    reveals are the same rows either way; a reveal whose person is gone is left behind."""
    with temporary_database(tmp_path) as url:
        if not url.startswith("sqlite"):
            return
        migrate.upgrade(url, "0012")
        engine = sa.create_engine(normalise_url(url))
        rows = [(1, 1, "work_email", 10), (1, 1, "phone", 11), (1, 2, "direct_email", 12)]

        def reveals() -> tuple[list[tuple[object, ...]], str]:
            with engine.connect() as conn:
                found = conn.exec_driver_sql("SELECT * FROM reveals ORDER BY account_id, person_id, kind").all()
                made = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'reveals'").scalar()
            return [tuple(r) for r in found], str(made)

        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO accounts (id, email, created_at) VALUES (1, 'a@x.test', 0)")
                conn.exec_driver_sql("INSERT INTO people (id, created_at, updated_at) VALUES (1, 0, 0), (2, 0, 0)")
                conn.exec_driver_sql("INSERT INTO reveals VALUES (?, ?, ?, ?)", rows)
                # This engine's connections leave foreign keys off, as a store written without them would.
                conn.exec_driver_sql("INSERT INTO reveals VALUES (1, 99, 'phone', 13)")
            expected = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
            migrate.upgrade(url)
            found, made = reveals()
            assert found == expected
            assert made.rstrip().upper().endswith("WITHOUT ROWID")
            migrate.downgrade(url, "0012")
            found, made = reveals()
            assert found == expected
            assert "WITHOUT ROWID" not in made.upper()
        finally:
            engine.dispose()
