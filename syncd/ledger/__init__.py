"""The ledger: SQLModel tables, Alembic migrations, bulk repository, cycle lock."""

from __future__ import annotations

from .engine import make_engine, schema_exists, sqlite_path, upgrade
from .health import Breaker, StoreHealth
from .lock import cycle_lock
from .repo import Batch, CycleCounts, Ledger, OutboxEntry, as_utc
from .tables import OutboxStatus

__all__ = [
    "Batch",
    "Breaker",
    "CycleCounts",
    "Ledger",
    "OutboxEntry",
    "OutboxStatus",
    "StoreHealth",
    "as_utc",
    "cycle_lock",
    "make_engine",
    "schema_exists",
    "sqlite_path",
    "upgrade",
]
