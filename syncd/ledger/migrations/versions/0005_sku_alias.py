"""sku_alias: per-store SKU aliases imported from CSV.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sku_alias",
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("store_sku", sa.String(255), primary_key=True),
        sa.Column("canonical", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sku_alias")
