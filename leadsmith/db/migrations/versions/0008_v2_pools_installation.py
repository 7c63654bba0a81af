"""Kaspr API v2.0: credit pools per kind and more rate-limit windows per account, a pool per ledger
row, reveals per kind of e-mail (work, direct) instead of one "email" kind, and the installation's own
identity (an id that namespaces shared counters, and a secret for keyed hashes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import secrets
import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_POOLS = ("work_email_credits", "direct_email_credits", "phone_credits", "export_credits")
_LIMITS = ("daily_limit", "minutely_limit")


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.bulk_insert(
        installation,
        [{"id": str(uuid.uuid4()), "secret": secrets.token_hex(32), "created_at": int(time.time() * 1000)}],
    )
    with op.batch_alter_table("accounts") as batch:
        for name in _POOLS:
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=True))
        for name in _LIMITS:
            batch.add_column(sa.Column(name, sa.Integer, nullable=True))
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("pool", sa.String(16), nullable=True))
    # A reveal of "email" was of every address the person had: now of their work and direct addresses.
    for kind in ("work_email", "direct_email"):
        op.execute(
            "INSERT INTO reveals (account_id, person_id, kind, revealed_at) "
            f"SELECT account_id, person_id, '{kind}', revealed_at FROM reveals WHERE kind = 'email'"
        )
    op.execute("DELETE FROM reveals WHERE kind = 'email'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO reveals (account_id, person_id, kind, revealed_at) "
        "SELECT account_id, person_id, 'email', max(revealed_at) FROM reveals "
        "WHERE kind IN ('work_email', 'direct_email') GROUP BY account_id, person_id"
    )
    op.execute("DELETE FROM reveals WHERE kind IN ('work_email', 'direct_email')")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("pool")
    with op.batch_alter_table("accounts") as batch:
        for name in (*_POOLS, *_LIMITS):
            batch.drop_column(name)
    op.drop_table("installation")
