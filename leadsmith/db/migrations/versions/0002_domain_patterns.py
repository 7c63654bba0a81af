"""Per-domain pattern statistics (and the prior across domains, under the domain "*").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_patterns",
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("cap", sa.Integer, nullable=False),
        sa.Column("support", sa.Float, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("domain", "template", "cap", name=op.f("pk_domain_patterns")),
    )


def downgrade() -> None:
    op.drop_table("domain_patterns")
