"""Initial ledger schema: sku, store_item, journal, outbox, conflict, cycle.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sku",
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("seeded_cycle", sa.Integer(), nullable=False),
        sa.Column("updated_cycle", sa.Integer(), nullable=False),
    )
    op.create_table(
        "store_item",
        sa.Column("store", sa.String(100), primary_key=True),
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=True),
        sa.Column("updated_cycle", sa.Integer(), nullable=False),
    )
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(255), nullable=False),
        sa.Column("store", sa.String(100), nullable=True),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_journal_sku", "journal", ["sku"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(100), nullable=False),
        sa.Column("sku", sa.String(255), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("before", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("request_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_outbox_store_status", "outbox", ["store", "status"])
    op.create_index("ix_outbox_request_key", "outbox", ["request_key"])
    op.create_index("ix_outbox_sku", "outbox", ["sku"])
    op.create_table(
        "conflict",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("store", sa.String(100), nullable=True),
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(700), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("closed_at", nullable=True),
        sa.Column("closed_cycle_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_conflict_status_fingerprint", "conflict", ["status", "fingerprint"])
    op.create_index("ix_conflict_sku", "conflict", ["sku"])
    op.create_table(
        "cycle",
        sa.Column("id", sa.Integer(), primary_key=True),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("stores_pulled", sa.Integer(), nullable=False),
        sa.Column("stores_failed", sa.Integer(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("journal_rows", sa.Integer(), nullable=False),
        sa.Column("writes_planned", sa.Integer(), nullable=False),
        sa.Column("writes_applied", sa.Integer(), nullable=False),
        sa.Column("writes_rejected", sa.Integer(), nullable=False),
        sa.Column("writes_unknown", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    for table in ("cycle", "conflict", "outbox", "journal", "store_item", "sku"):
        op.drop_table(table)
