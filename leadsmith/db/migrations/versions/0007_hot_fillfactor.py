"""A low fill factor for the tables of hot rows on PostgreSQL (balances, key use, rate windows, usage
counts, leases): see ``HOT_FILLFACTOR`` in db/tables.py. SQLite has no such setting.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Frozen here: the migration must do the same whatever db/tables.py says later.
_TABLES = ("accounts", "api_keys", "rate_windows", "leases", "usage_hourly")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 10)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
