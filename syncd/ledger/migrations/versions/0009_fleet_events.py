"""fleet_event: store events a fleet worker received for a pool, waiting for that pool's
targeted cycle (read in the fleet's own schema only).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("store", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_fleet_event_pool", "fleet_event", ["pool"])


def downgrade() -> None:
    op.drop_index("ix_fleet_event_pool", table_name="fleet_event")
    op.drop_table("fleet_event")
