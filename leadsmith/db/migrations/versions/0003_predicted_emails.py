"""The likeliest work address of each person who has none, derived on import.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "predicted_emails",
        sa.Column("person_id", Id, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("pattern", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_predicted_emails_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_predicted_emails")),
    )


def downgrade() -> None:
    op.drop_table("predicted_emails")
