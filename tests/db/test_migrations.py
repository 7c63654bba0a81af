from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leadsmith.db import migrate
from leadsmith.db.database import normalise_url
from leadsmith.db.tables import HOT_FILLFACTOR, HOT_TABLES, metadata
from tests.support import temporary_database


def _diff(connection: sa.Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata))


def test_migrations_build_exactly_the_tables_and_go_back_down(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        migrate.upgrade(url)
        if url.startswith("sqlite"):
            engine = sa.create_engine(normalise_url(url))
            with engine.connect() as conn:
                assert _diff(conn) == []
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
