"""Upstream providers: the calls made to them, the misses remembered, one flight at a time per ask, and
the confidence of each address a provider gave.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "upstream_calls",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("lookup", sa.String(16), nullable=False),
        sa.Column("account_id", Id, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("units", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("detail", sa.String(255), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_calls")),
    )
    op.create_index("ix_upstream_calls_provider_created_at", "upstream_calls", ["provider", "created_at"])
    op.create_index("ix_upstream_calls_account_id_created_at", "upstream_calls", ["account_id", "created_at"])
    op.create_table(
        "upstream_misses",
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_upstream_misses")),
    )
    op.create_table(
        "upstream_flights",
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_upstream_flights")),
    )
    with op.batch_alter_table("emails") as batch:
        batch.add_column(sa.Column("confidence", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("confidence")
    op.drop_table("upstream_flights")
    op.drop_table("upstream_misses")
    op.drop_index("ix_upstream_calls_account_id_created_at", table_name="upstream_calls")
    op.drop_index("ix_upstream_calls_provider_created_at", table_name="upstream_calls")
    op.drop_table("upstream_calls")
