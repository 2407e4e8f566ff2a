"""store_pace: each store's pacing state at the end of a cycle, so the next cycle (on
this process, another replica or another fleet worker) goes on from it instead of with a
full allowance; fleet_pool: the fleet's pools (read in the fleet's own schema only; in a
pool's schema it stays empty). An existing single-pool ledger is kept as it is: it is
the pool ``default``.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_pace",
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fleet_pool",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_fleet_pool_due", "fleet_pool", ["enabled", "next_run_at"])


def downgrade() -> None:
    op.drop_index("ix_fleet_pool_due", table_name="fleet_pool")
    op.drop_table("fleet_pool")
    op.drop_table("store_pace")
