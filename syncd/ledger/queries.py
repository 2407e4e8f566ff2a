"""Read models for operators: conflicts, and one SKU's history across stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .tables import ConflictRow, JournalRow, OutboxRow, SkuRow, StoreItemRow

__all__ = ["HistoryEvent", "SkuHistory", "list_conflicts", "sku_history"]

CONFLICT = ConflictRow.__table__  # type: ignore[attr-defined]
JOURNAL = JournalRow.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
SKU = SkuRow.__table__  # type: ignore[attr-defined]
ITEM = StoreItemRow.__table__  # type: ignore[attr-defined]


def list_conflicts(engine: Engine, *, open_only: bool = False, limit: int = 500) -> list[dict[str, Any]]:
    """Newest first: kind, store, SKU, message, values, cycle, status."""
    q = select(CONFLICT).order_by(CONFLICT.c.id.desc()).limit(limit)
    if open_only:
        q = q.where(CONFLICT.c.status == "open")
    with Session(engine) as s:
        rows = s.execute(q).mappings().all()
    return [{"id": r["id"], "kind": r["kind"], "store": r["store"], "sku": r["sku"], "message": r["message"],
             "data": json.loads(r["data"]), "cycle": r["cycle_id"], "status": r["status"],
             "created_at": _iso(r["created_at"]), "closed_at": _iso(r["closed_at"])} for r in rows]


@dataclass(frozen=True)
class HistoryEvent:
    at: str | None
    cycle: int
    store: str | None
    what: str  # "journal" or "write"
    detail: dict[str, Any]


@dataclass(frozen=True)
class SkuHistory:
    sku: str
    available: int | None
    stores: dict[str, dict[str, Any]]  # store → {remote_id, expected}
    events: list[HistoryEvent]


def sku_history(engine: Engine, sku: str) -> SkuHistory:
    """Every change to the SKU's ``available`` and every write to any store, in time order."""
    with Session(engine) as s:
        available = s.execute(select(SKU.c.available).where(SKU.c.sku == sku)).scalar()
        stores = {r.store: {"remote_id": r.remote_id, "expected": r.expected}
                  for r in s.execute(select(ITEM).where(ITEM.c.sku == sku))}
        journal = s.execute(select(JOURNAL).where(JOURNAL.c.sku == sku)).mappings().all()
        writes = s.execute(select(OUTBOX).where(OUTBOX.c.sku == sku)).mappings().all()
    events = [HistoryEvent(_iso(r["created_at"]), r["cycle_id"], r["store"], "journal",
                           {"delta": r["delta"], "reason": r["reason"]}) for r in journal]
    events += [HistoryEvent(_iso(r["updated_at"]), r["cycle_id"], r["store"], "write",
                            {"before": r["before"], "target": r["target"], "change": r["delta"], "mode": r["mode"],
                             "status": r["status"], "attempts": r["attempts"], "error": r["last_error"]})
               for r in writes]
    events.sort(key=lambda e: (e.cycle, e.what != "journal", e.at or ""))
    return SkuHistory(sku, available, stores, events)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None
