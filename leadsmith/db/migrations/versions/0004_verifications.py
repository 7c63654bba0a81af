"""E-mail verification results, and leases for work only one worker should do at a time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("address_key", sa.String(320), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("verified_at", sa.BigInteger, nullable=False),
        sa.Column("recheck_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("address_key", name=op.f("pk_verifications")),
    )
    op.create_index(op.f("ix_verifications_domain"), "verifications", ["domain"])
    op.create_index(op.f("ix_verifications_verified_at"), "verifications", ["verified_at"])
    op.create_index(op.f("ix_verifications_recheck_at"), "verifications", ["recheck_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index(op.f("ix_verifications_recheck_at"), table_name="verifications")
    op.drop_index(op.f("ix_verifications_verified_at"), table_name="verifications")
    op.drop_index(op.f("ix_verifications_domain"), table_name="verifications")
    op.drop_table("verifications")
