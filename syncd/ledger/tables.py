"""The ledger's tables (SQLModel). The schema itself is created by Alembic migrations.

    sku         one row per seeded SKU: the pool's ``available`` (may be negative)
    store_item  one row per (store, SKU): remote id and ``expected`` (NULL = unlimited)
    journal     append-only: every change to ``available``, with store, cycle and reason
    outbox      every planned write, its request key and its life cycle
    conflict    everything the rules could not resolve; standing ones open until cleared
    catalog     per store: what a SKU-less reference (product/variant) maps to
    fence       the fencing epoch of the cycle holding the ledger lock
    store_health  failures in a row per store; the circuit breaker's open-until time
    cycle       one row per cycle: start, end, outcome, counts
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, String, Text, true
from sqlmodel import Field, SQLModel

__all__ = [
    "CatalogRow",
    "ConflictRow",
    "CycleRow",
    "FenceRow",
    "JournalRow",
    "OutboxRow",
    "OutboxStatus",
    "SkuAliasRow",
    "SkuRow",
    "StoreHealthRow",
    "StoreItemRow",
    "metadata",
]

metadata = SQLModel.metadata


def _ts(nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class OutboxStatus(StrEnum):
    """An outbox row's life cycle: pending → in_flight → applied | rejected | unknown.

    ``deferred``: not sent because a fresh read showed the store changed since the pull.
    ``pending`` rows were never sent (each row is marked in_flight, and committed,
    before its request goes out); ``in_flight`` and ``unknown`` rows may have been
    applied and are settled before the store's next pull is recorded. ``superseded``:
    never sent, replaced by a later plan.
    """

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    APPLIED = "applied"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    DEFERRED = "deferred"
    SUPERSEDED = "superseded"


UNRESOLVED = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.UNKNOWN)


class SkuRow(SQLModel, table=True):
    __tablename__ = "sku"

    sku: str = Field(sa_column=Column(String(255), primary_key=True))
    available: int = Field(sa_column=Column(BigInteger, nullable=False))
    seeded_cycle: int = Field(sa_column=Column(Integer, nullable=False))
    updated_cycle: int = Field(sa_column=Column(Integer, nullable=False))


class StoreItemRow(SQLModel, table=True):
    __tablename__ = "store_item"
    __table_args__ = (Index("ix_store_item_remote_id", "store", "remote_id"),)

    store: str = Field(sa_column=Column(String(100), primary_key=True))
    sku: str = Field(sa_column=Column(String(255), primary_key=True))
    remote_id: str = Field(sa_column=Column(String(255), nullable=False))
    expected: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    updated_cycle: int = Field(sa_column=Column(Integer, nullable=False))


class JournalRow(SQLModel, table=True):
    __tablename__ = "journal"
    __table_args__ = (Index("ix_journal_sku", "sku"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    cycle_id: int = Field(sa_column=Column(Integer, nullable=False))
    sku: str = Field(sa_column=Column(String(255), nullable=False))
    store: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    delta: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_store_status", "store", "status"),
        Index("ix_outbox_request_key", "request_key"),
        Index("ix_outbox_sku", "sku"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    cycle_id: int = Field(sa_column=Column(Integer, nullable=False))
    store: str = Field(sa_column=Column(String(100), nullable=False))
    sku: str = Field(sa_column=Column(String(255), nullable=False))
    remote_id: str = Field(sa_column=Column(String(255), nullable=False))
    mode: str = Field(sa_column=Column(String(16), nullable=False))
    before: int = Field(sa_column=Column(BigInteger, nullable=False))
    target: int = Field(sa_column=Column(BigInteger, nullable=False))
    delta: int = Field(sa_column=Column(BigInteger, nullable=False))
    request_key: str = Field(sa_column=Column(String(64), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class ConflictRow(SQLModel, table=True):
    __tablename__ = "conflict"
    __table_args__ = (
        Index("ix_conflict_status_fingerprint", "status", "fingerprint"),
        Index("ix_conflict_sku", "sku"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    cycle_id: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    store: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    sku: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    subject: str = Field(default="", sa_column=Column(String(255), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(700), nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    data: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    closed_cycle_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


class CycleRow(SQLModel, table=True):
    __tablename__ = "cycle"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    started_at: datetime = Field(sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))
    exit_code: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    stores_pulled: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    stores_failed: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    observations: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    journal_rows: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    writes_planned: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    writes_applied: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    writes_rejected: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    writes_unknown: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    conflicts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    kind: str = Field(default="full", sa_column=Column(String(16), nullable=False, server_default="full"))
    runner: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))  # host:pid


class CatalogRow(SQLModel, table=True):
    __tablename__ = "catalog"

    store: str = Field(sa_column=Column(String(100), primary_key=True))
    ref: str = Field(sa_column=Column(String(255), primary_key=True))
    sku: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    tracked: bool = Field(sa_column=Column(Boolean, nullable=False))
    refreshed_at: datetime = Field(sa_column=_ts())


class FenceRow(SQLModel, table=True):
    """One row: the epoch of the cycle that holds the ledger lock."""

    __tablename__ = "fence"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))


class StoreHealthRow(SQLModel, table=True):
    """Per store: failures in a row, and until when the circuit breaker skips it."""

    __tablename__ = "store_health"

    store: str = Field(sa_column=Column(String(100), primary_key=True))
    consecutive_failures: int = Field(sa_column=Column(Integer, nullable=False))
    open_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_success_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class StorePullRow(SQLModel, table=True):
    """Per full cycle and store: when its pull ended (ok) or that it failed (its error)."""

    __tablename__ = "store_pull"
    __table_args__ = (Index("ix_store_pull_at", "at"),)

    cycle_id: int = Field(sa_column=Column(Integer, primary_key=True))
    store: str = Field(sa_column=Column(String(100), primary_key=True))
    at: datetime = Field(sa_column=_ts())
    ok: bool = Field(sa_column=Column(Boolean, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class SkuAliasRow(SQLModel, table=True):
    """A store's own SKU and the canonical SKU it stands for (imported from CSV)."""

    __tablename__ = "sku_alias"

    store: str = Field(sa_column=Column(String(100), primary_key=True))
    store_sku: str = Field(sa_column=Column(String(255), primary_key=True))
    canonical: str = Field(sa_column=Column(String(255), nullable=False))


class StorePaceRow(SQLModel, table=True):
    """Per store: its limiter's state at the end of the last cycle (JSON, wall-clock times)."""

    __tablename__ = "store_pace"

    store: str = Field(sa_column=Column(String(100), primary_key=True))
    state: str = Field(sa_column=Column(Text, nullable=False))
    saved_at: datetime = Field(sa_column=_ts())


class FleetPoolRow(SQLModel, table=True):
    """A fleet's pool: its configuration (a pool TOML: [sync] and [[stores]], tokens as
    references only) and its schedule."""

    __tablename__ = "fleet_pool"
    __table_args__ = (Index("ix_fleet_pool_due", "enabled", "next_run_at"),)

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    config: str = Field(sa_column=Column(Text, nullable=False))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))
    interval_seconds: int = Field(sa_column=Column(Integer, nullable=False))
    next_run_at: datetime = Field(sa_column=_ts())
    last_started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_outcome: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=_ts())


class FleetEventRow(SQLModel, table=True):
    """A store event a fleet worker received: an item id (``kind`` "id") or a reference a
    connector resolves (``kind`` "ref"), waiting for its pool's targeted cycle."""

    __tablename__ = "fleet_event"
    __table_args__ = (Index("ix_fleet_event_pool", "pool"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    pool: str = Field(sa_column=Column(String(64), nullable=False))
    store: str = Field(sa_column=Column(String(100), nullable=False))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    ref: str = Field(sa_column=Column(String(255), nullable=False))
    received_at: datetime = Field(sa_column=_ts())
