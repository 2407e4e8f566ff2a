"""Read models for operators: conflicts, and one SKU's history across stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from .health import load_health
from .tables import ConflictRow, CycleRow, JournalRow, OutboxRow, SkuRow, StoreItemRow, StorePullRow

__all__ = [
    "HistoryEvent",
    "SkuHistory",
    "export_rows",
    "lag_history",
    "list_conflicts",
    "open_conflict_count",
    "page_stores",
    "recent_cycles",
    "sku_history",
    "store_status",
    "writes_per_hour",
]

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


# --- the status page ----------------------------------------------------------------------
# Light at any ledger size: index seeks, limits and aggregates; Python only over the last
# day's pulls (one row per full cycle and store) and a few dozen cycles.

CYCLE = CycleRow.__table__  # type: ignore[attr-defined]
PULL = StorePullRow.__table__  # type: ignore[attr-defined]
UNSETTLED = ("pending", "in_flight", "unknown")


def page_stores(engine: Engine, stores: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Per store: last successful pull and applied write (UTC datetimes), items, writes still
    pending / in flight / of unknown outcome, open conflicts, and the circuit breaker."""
    health = load_health(engine)
    with Session(engine) as s:
        items: dict[str, int] = dict(s.execute(select(ITEM.c.store, func.count())
                                               .where(ITEM.c.store.in_(stores)).group_by(ITEM.c.store)).all())
        unsettled: dict[str, dict[str, int]] = {}
        for store, status, n in s.execute(select(OUTBOX.c.store, OUTBOX.c.status, func.count())
                                          .where(OUTBOX.c.store.in_(stores), OUTBOX.c.status.in_(UNSETTLED))
                                          .group_by(OUTBOX.c.store, OUTBOX.c.status)):
            unsettled.setdefault(store, {})[status] = int(n)
        open_ = select(CONFLICT.c.store, func.count()).where(CONFLICT.c.status == "open").group_by(CONFLICT.c.store)
        conflicts: dict[str, int] = dict(s.execute(open_).all())
        pushed = {store: s.execute(select(OUTBOX.c.updated_at).where(OUTBOX.c.store == store,
                                                                     OUTBOX.c.status == "applied")
                                   .order_by(OUTBOX.c.id.desc()).limit(1)).scalar() for store in stores}
    out: dict[str, dict[str, Any]] = {}
    for store in stores:
        h = health.get(store)
        out[store] = {
            "last_pull": _utc(h.last_success_at) if h else None, "last_push": _utc(pushed[store]),
            "items": int(items.get(store, 0)), "unsettled": unsettled.get(store, {}),
            "open_conflicts": int(conflicts.get(store, 0)),
            "failures_in_a_row": h.consecutive_failures if h else 0, "last_error": h.last_error if h else None,
            "circuit_open_until": _utc(h.open_until) if h and h.open_until and _utc(h.open_until) > now else None,
        }
    return out


def open_conflict_count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(CONFLICT).where(CONFLICT.c.status == "open")).scalar()
                   or 0)


def recent_cycles(engine: Engine, limit: int = 12, kind: str | None = None) -> list[dict[str, Any]]:
    """The newest cycles first (of ``kind`` if given), timestamps as UTC datetimes."""
    q = select(CYCLE).order_by(CYCLE.c.id.desc()).limit(limit)
    if kind is not None:
        q = q.where(CYCLE.c.kind == kind)
    with Session(engine) as s:
        rows = s.execute(q).mappings().all()
    return [{**r, "started_at": _utc(r["started_at"]), "finished_at": _utc(r["finished_at"])} for r in rows]


def lag_history(engine: Engine, stores: list[str], now: datetime,
                window: timedelta = timedelta(days=1)) -> dict[str, list[tuple[datetime, float]]]:
    """Per store, over ``window``: its lag just before each pull (the time since its last
    successful pull before that one), then its lag now. A store never pulled has no points."""
    since = now - window
    health = load_health(engine)
    with Session(engine) as s:
        before: dict[str, datetime] = dict(s.execute(
            select(PULL.c.store, func.max(PULL.c.at))
            .where(PULL.c.ok.is_(True), PULL.c.at < since, PULL.c.at >= since - window, PULL.c.store.in_(stores))
            .group_by(PULL.c.store)).all())
        pulls = s.execute(select(PULL.c.store, PULL.c.at, PULL.c.ok)
                          .where(PULL.c.at >= since, PULL.c.at <= now, PULL.c.store.in_(stores))
                          .order_by(PULL.c.store, PULL.c.at)).all()
    last_ok: dict[str, datetime | None] = {}
    for store in stores:
        h = health.get(store)
        fallback = _utc(h.last_success_at) if h and h.last_success_at else None
        last_ok[store] = _utc(before[store]) if store in before else (
            fallback if fallback is not None and fallback < since else None)
    out: dict[str, list[tuple[datetime, float]]] = {store: [] for store in stores}
    for store, at, ok in pulls:
        at = _utc(at)
        prev = last_ok[store]
        if prev is not None:
            out[store].append((at, (at - prev).total_seconds()))
        if ok:
            last_ok[store] = at
    for store in stores:
        prev = last_ok[store]
        if prev is not None:
            out[store].append((now, max(0.0, (now - prev).total_seconds())))
    return out


def writes_per_hour(engine: Engine, stores: list[str], now: datetime,
                    hours: int = 24) -> dict[str, list[dict[str, int]]]:
    """Per store, for each of the last ``hours`` hours (oldest first): its writes by
    status, by when they last changed. Only the outbox rows of the window are read: the
    first is found by bisecting the primary key (rows are inserted in time order)."""
    since = now - timedelta(hours=hours)
    edges = [since + timedelta(hours=i) for i in range(1, hours)]
    bucket = case(*((OUTBOX.c.updated_at < edge, i) for i, edge in enumerate(edges)), else_=hours - 1)
    out: dict[str, list[dict[str, int]]] = {store: [{} for _ in range(hours)] for store in stores}
    with Session(engine) as s:
        first = _first_id_at_or_after(s, since - timedelta(hours=1))
        if first is None:
            return out
        rows = s.execute(select(OUTBOX.c.store, bucket.label("b"), OUTBOX.c.status, func.count())
                         .where(OUTBOX.c.id >= first, OUTBOX.c.updated_at >= since, OUTBOX.c.updated_at <= now,
                                OUTBOX.c.store.in_(stores))
                         .group_by(OUTBOX.c.store, "b", OUTBOX.c.status)).all()
    for store, b, status, n in rows:
        out[store][int(b)][status] = int(n)
    return out


def _first_id_at_or_after(s: Session, since: datetime) -> int | None:
    """An id such that the outbox rows from it on are those created at or after ``since``
    (None: there are none), in O(log n) primary-key seeks."""
    # Two statements: SQLite answers a lone min() or max() from the key, both at once by a scan.
    lo = s.execute(select(func.min(OUTBOX.c.id))).scalar()
    hi = s.execute(select(func.max(OUTBOX.c.id))).scalar()
    if lo is None or hi is None:
        return None

    def recent(i: int) -> bool:  # the first row from id i on was created at or after since
        at = s.execute(select(OUTBOX.c.created_at).where(OUTBOX.c.id >= i).order_by(OUTBOX.c.id).limit(1)).scalar()
        return at is not None and _utc(at) >= since

    if not recent(hi):
        return None
    while lo < hi:  # recent() is monotone in i: find the first i where it holds
        mid = (lo + hi) // 2
        if recent(mid):
            hi = mid
        else:
            lo = mid + 1
    return int(lo)


@overload
def _utc(ts: datetime) -> datetime: ...
@overload
def _utc(ts: None) -> None: ...
def _utc(ts: datetime | None) -> datetime | None:
    """SQLite returns naive timestamps; they were written in UTC."""
    return None if ts is None else ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
