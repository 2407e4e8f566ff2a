"""catalog: what SKU-less references (SaaSignal products/variants) map to, per store.

Revision ID: 0002
Revises: 0001
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
        "catalog",
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("ref", sa.String(255), primary_key=True),
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("tracked", sa.Boolean(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog")
