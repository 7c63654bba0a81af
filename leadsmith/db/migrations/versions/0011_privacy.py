"""Privacy: the suppression list (keyed hashes), removal requests, the reveal log, admin tokens, when each
person was last seen, and a version of the suppression list for workers to follow.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("installation") as batch:
        batch.add_column(sa.Column("suppression_version", sa.BigInteger, server_default="0", nullable=False))
    # Not in batch mode: rebuilding people would lose its expression index (ix_people_name).
    op.add_column("people", sa.Column("seen_at", sa.BigInteger, nullable=True))
    op.execute("UPDATE people SET seen_at = updated_at")
    op.create_table(
        "suppressions",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "privacy_requests",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(2048), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("done_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_requests_token_hash")),
    )
    op.create_table(
        "reveal_log",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("key_id", Id, nullable=True),
        sa.Column("person_id", Id, nullable=True),
        sa.Column("fields", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reveal_log")),
    )
    op.create_index(op.f("ix_reveal_log_person_id"), "reveal_log", ["person_id"])
    op.create_index(op.f("ix_reveal_log_created_at"), "reveal_log", ["created_at"])
    op.create_table(
        "admin_tokens",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("admin_tokens")
    op.drop_index(op.f("ix_reveal_log_created_at"), table_name="reveal_log")
    op.drop_index(op.f("ix_reveal_log_person_id"), table_name="reveal_log")
    op.drop_table("reveal_log")
    op.drop_table("privacy_requests")
    op.drop_table("suppressions")
    op.drop_column("people", "seen_at")
    with op.batch_alter_table("installation") as batch:
        batch.drop_column("suppression_version")
