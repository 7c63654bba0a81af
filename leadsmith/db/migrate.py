"""Run Alembic migrations from code (the CLI, the server's start and the tests all come here)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from leadsmith.db import tables
from leadsmith.db.database import normalise_url, sqlite_path

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        restore_deferrables(url)


def restore_deferrables(url: str) -> None:
    """Build the indexes and add the foreign keys an interrupted import into an empty store left out
    (see ``DEFERRABLE_INDEXES`` and ``DEFERRABLE_FOREIGN_KEYS``)."""

    def build(conn: sa.Connection) -> None:
        existing = {r[0] for r in conn.exec_driver_sql(tables.deferrables_sql(conn.dialect.name))}
        for ddl in tables.restore_deferrables(conn.dialect.name, existing):
            conn.execute(ddl)
        conn.commit()

    url = normalise_url(url)
    if url.startswith("postgresql+asyncpg"):

        async def run() -> None:
            engine = create_async_engine(url, poolclass=sa.pool.NullPool)
            async with engine.connect() as conn:
                await conn.run_sync(build)
            await engine.dispose()

        asyncio.run(run())
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        build(conn)
    engine.dispose()


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
