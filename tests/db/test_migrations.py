from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leadsmith.db import migrate
from leadsmith.db.database import normalise_url
from leadsmith.db.tables import metadata
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
