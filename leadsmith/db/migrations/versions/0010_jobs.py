"""Bulk jobs and their items.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("key_id", Id, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, server_default="0", nullable=False),
        sa.Column("found", sa.Integer, server_default="0", nullable=False),
        sa.Column("credits_spent", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("counts", sa.Text, server_default="{}", nullable=False),
        sa.Column("options", sa.Text, server_default="{}", nullable=False),
        sa.Column("callback_url", sa.String(2048), nullable=True),
        sa.Column("error", sa.String(512), nullable=True),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("not_before", sa.BigInteger, nullable=True),
        sa.Column("webhook_state", sa.String(16), nullable=True),
        sa.Column("webhook_attempts", sa.Integer, server_default="0", nullable=False),
        sa.Column("webhook_next_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_jobs_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_jobs_key_id_api_keys"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_account_id_created_at", "jobs", ["account_id", "created_at"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE jobs SET (fillfactor = 10)")
    op.create_table(
        "job_items",
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("status", sa.String(24), nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("charged", sa.Integer, server_default="0", nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_items_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "idx", name=op.f("pk_job_items")),
    )


def downgrade() -> None:
    op.drop_table("job_items")
    op.drop_index("ix_jobs_status", table_name="jobs")
    op.drop_index("ix_jobs_account_id_created_at", table_name="jobs")
    op.drop_table("jobs")
