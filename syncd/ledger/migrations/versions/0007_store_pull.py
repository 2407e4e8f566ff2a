"""store_pull: each full cycle's outcome per store (when its pull ended, or its error),
for the status page's lag history.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_pull",
        sa.Column("cycle_id", sa.Integer(), primary_key=True),
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_store_pull_at", "store_pull", ["at"])


def downgrade() -> None:
    op.drop_index("ix_store_pull_at", table_name="store_pull")
    op.drop_table("store_pull")
