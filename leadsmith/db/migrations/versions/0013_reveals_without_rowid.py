"""SQLite: ``reveals`` as a WITHOUT ROWID table, its rows kept in the order of its primary key (account,
person, kind). A rowid table kept them twice, in the table and in the primary key's own index: every
charge that revealed something wrote both pages to the WAL, and the store held both copies.
``bench/miss_cost.py --strace``: 37.9 -> 35.5 ``pwrite64`` calls a store miss asked upstream (two a
WAL frame). Nothing changes on PostgreSQL, whose tables have no rowid.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = """
    account_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    kind VARCHAR(16) NOT NULL,
    revealed_at BIGINT NOT NULL,
    CONSTRAINT pk_reveals PRIMARY KEY (account_id, person_id, kind),
    CONSTRAINT fk_reveals_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id) ON DELETE CASCADE,
    CONSTRAINT fk_reveals_person_id_people FOREIGN KEY(person_id) REFERENCES people (id) ON DELETE CASCADE
"""


def _rebuild(options: str) -> None:
    """The table made again with ``options`` after its definition, its rows copied (a reveal whose account
    or person is gone, which only a store written with foreign keys off could hold, is left behind)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE TABLE _reveals_new ({_COLUMNS}){options}")
    op.execute(
        "INSERT INTO _reveals_new (account_id, person_id, kind, revealed_at) "
        "SELECT r.account_id, r.person_id, r.kind, r.revealed_at FROM reveals AS r "
        "WHERE EXISTS (SELECT 1 FROM accounts AS a WHERE a.id = r.account_id) "
        "AND EXISTS (SELECT 1 FROM people AS p WHERE p.id = r.person_id)"
    )
    op.execute("DROP TABLE reveals")
    op.execute("ALTER TABLE _reveals_new RENAME TO reveals")


def upgrade() -> None:
    _rebuild(" WITHOUT ROWID")


def downgrade() -> None:
    _rebuild("")
