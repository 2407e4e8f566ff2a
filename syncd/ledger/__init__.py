"""The ledger: SQLModel tables, Alembic migrations, bulk repository, cycle lock."""

from __future__ import annotations

from .engine import make_engine, schema_exists, sqlite_path, upgrade
from .lock import cycle_lock
from .repo import Batch, CycleCounts, Ledger, OutboxEntry, as_utc
from .tables import OutboxStatus

__all__ = [
    "Batch",
    "CycleCounts",
    "Ledger",
    "OutboxEntry",
    "OutboxStatus",
    "as_utc",
    "cycle_lock",
    "make_engine",
    "schema_exists",
    "sqlite_path",
    "upgrade",
]
