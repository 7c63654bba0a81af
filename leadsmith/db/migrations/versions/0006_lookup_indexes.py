"""Indexes for lookups that must not scan a whole company at a million people: a company's people in
the order /company/domainEmployees lists them, and people by name for /company/emailFinder.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_people_company_id"), table_name="people")
    op.create_index(
        "ix_people_company_id_updated_at", "people", ["company_id", sa.text("updated_at DESC"), "id"]
    )
    op.create_index("ix_people_name", "people", [sa.text("lower(last_name)"), sa.text("lower(first_name)")])


def downgrade() -> None:
    op.drop_index("ix_people_name", table_name="people")
    op.drop_index("ix_people_company_id_updated_at", table_name="people")
    op.create_index(op.f("ix_people_company_id"), "people", ["company_id"])
