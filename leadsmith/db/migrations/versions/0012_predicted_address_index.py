"""An index on the predicted addresses: a verdict that one of them bounces finds its domain, whose
people are then predicted again (the next candidate instead of the bounced one).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_predicted_emails_address"), "predicted_emails", ["address"])


def downgrade() -> None:
    op.drop_index(op.f("ix_predicted_emails_address"), table_name="predicted_emails")
