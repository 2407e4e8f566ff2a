"""Targeted cycles: a cycle's kind (full or targeted) and the replica that ran it, and
store items found by remote id (an event names the store's own id, not the SKU).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cycle") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="full"))
        batch.add_column(sa.Column("runner", sa.String(255), nullable=True))
    op.create_index("ix_store_item_remote_id", "store_item", ["store", "remote_id"])


def downgrade() -> None:
    op.drop_index("ix_store_item_remote_id", table_name="store_item")
    with op.batch_alter_table("cycle") as batch:
        batch.drop_column("runner")
        batch.drop_column("kind")
