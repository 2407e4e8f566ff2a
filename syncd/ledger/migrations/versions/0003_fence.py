"""fence: the fencing epoch a cycle claims with the ledger lock.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    fence = op.create_table(
        "fence",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(fence, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("fence")
