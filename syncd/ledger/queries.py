"""Read models for operators: conflicts, and one SKU's history across stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from .health import load_health
from .tables import ConflictRow, CycleRow, JournalRow, OutboxRow, SkuRow, StoreItemRow

__all__ = ["HistoryEvent", "SkuHistory", "export_rows", "list_conflicts", "sku_history", "store_status"]

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


def export_rows(engine: Engine) -> list[dict[str, Any]]:
    """One row per SKU: available, and per store its expected count and remote id."""
    with Session(engine) as s:
        available: dict[str, int] = dict(s.execute(select(SKU.c.sku, SKU.c.available)).all())
        items = s.execute(select(ITEM.c.store, ITEM.c.sku, ITEM.c.remote_id, ITEM.c.expected)).all()
    stores: dict[str, dict[str, dict[str, Any]]] = {}
    for store, sku, remote_id, expected in items:
        stores.setdefault(sku, {})[store] = {"expected": expected, "remote_id": remote_id}
    return [{"sku": sku, "available": available.get(sku), "stores": stores.get(sku, {})}
            for sku in sorted(set(available) | set(stores))]


def store_status(engine: Engine, stores: list[str], now: datetime) -> dict[str, Any]:
    """Per store: last successful pull and push, items, writes by outcome, open conflicts,
    lag, circuit breaker; overall: the last cycle."""
    cycle = CycleRow.__table__  # type: ignore[attr-defined]
    health = load_health(engine)
    with Session(engine) as s:
        per_store = select(ITEM.c.store, func.count()).group_by(ITEM.c.store)
        items: dict[str, int] = dict(s.execute(per_store).all())
        writes: dict[str, dict[str, int]] = {}
        for store, status, n in s.execute(select(OUTBOX.c.store, OUTBOX.c.status, func.count())
                                          .group_by(OUTBOX.c.store, OUTBOX.c.status)):
            writes.setdefault(store, {})[status] = int(n)
        pushed: dict[str, datetime] = dict(s.execute(select(OUTBOX.c.store, func.max(OUTBOX.c.updated_at))
                                .where(OUTBOX.c.status == "applied").group_by(OUTBOX.c.store)).all())
        open_ = select(CONFLICT.c.store, func.count()).where(CONFLICT.c.status == "open").group_by(CONFLICT.c.store)
        conflicts: dict[str, int] = dict(s.execute(open_).all())
        last = s.execute(select(cycle).order_by(cycle.c.id.desc()).limit(1)).mappings().first()
    out: dict[str, Any] = {"stores": {}, "last_cycle": None}
    for store in stores:
        h = health.get(store)
        last_ok = _aware(h.last_success_at, now) if h and h.last_success_at else None
        out["stores"][store] = {
            "last_pull": _iso(last_ok), "last_push": _iso(_aware(pushed[store], now)) if pushed.get(store) else None,
            "lag_seconds": round((now - last_ok).total_seconds()) if last_ok else None,
            "items": int(items.get(store, 0)), "writes": writes.get(store, {}),
            "open_conflicts": int(conflicts.get(store, 0)),
            "failures_in_a_row": h.consecutive_failures if h else 0,
            "circuit_open_until": _iso(h.open_until) if h and h.open_until else None,
            "last_error": h.last_error if h else None,
        }
    if last is not None:
        out["last_cycle"] = {"id": last["id"], "started_at": _iso(_aware(last["started_at"], now)),
                             "finished_at": _iso(_aware(last["finished_at"], now)) if last["finished_at"] else None,
                             "outcome": last["outcome"],
                             "exit_code": last["exit_code"]}
    return out


def _aware(ts: datetime, like: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=like.tzinfo)
