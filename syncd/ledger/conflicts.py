"""Recording conflicts: standing conditions are reported once and closed when they
clear; events are recorded every time they happen."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core import STATE_CONFLICTS, Conflict, Plan
from .tables import ConflictRow

__all__ = ["record_conflicts", "sync_state_conflicts"]

OPEN = "open"
CLOSED = "closed"


def _row(cycle_id: int, conflict: Conflict, now: datetime) -> dict[str, object]:
    return {
        "cycle_id": cycle_id,
        "kind": str(conflict.kind),
        "store": conflict.store,
        "sku": conflict.sku,
        "subject": conflict.subject,
        "fingerprint": conflict.fingerprint,
        "message": conflict.message,
        "data": json.dumps(dict(conflict.data), sort_keys=True, default=str),
        "status": OPEN,
        "created_at": now,
    }


def record_conflicts(
    session: Session, cycle_id: int, conflicts: Iterable[Conflict], now: datetime
) -> list[Conflict]:
    """Insert conflicts as they are (events: unexpected_increase, write_rejected, …)."""
    recorded = list(conflicts)
    if recorded:
        session.execute(
            ConflictRow.__table__.insert(),  # type: ignore[attr-defined]
            [_row(cycle_id, c, now) for c in recorded],
        )
    return recorded


def sync_state_conflicts(
    session: Session, cycle_id: int, plan: Plan, now: datetime
) -> list[Conflict]:
    """Open each new standing conflict once; close the open ones this plan re-checked and
    no longer reports. Returns the conflicts newly recorded (events included)."""
    table = ConflictRow.__table__  # type: ignore[attr-defined]
    kinds = [str(k) for k in STATE_CONFLICTS]
    open_rows = session.execute(
        select(table.c.id, table.c.fingerprint, table.c.store, table.c.sku).where(
            table.c.status == OPEN, table.c.kind.in_(kinds)
        )
    ).all()
    open_by_fp = {r.fingerprint: r for r in open_rows}
    emitted = {c.fingerprint for c in plan.conflicts if c.is_state}
    new_state = {c.fingerprint: c for c in plan.conflicts if c.is_state and c.fingerprint not in open_by_fp}
    events = [c for c in plan.conflicts if not c.is_state]
    cleared = [
        r.id
        for fp, r in open_by_fp.items()
        if fp not in emitted and _rechecked(r.store, r.sku, plan)
    ]
    for chunk in _chunks(cleared, 500):
        session.execute(
            update(table)
            .where(table.c.id.in_(chunk))
            .values(status=CLOSED, closed_at=now, closed_cycle_id=cycle_id)
        )
    return record_conflicts(session, cycle_id, [*new_state.values(), *events], now)


def _rechecked(store: str | None, sku: str | None, plan: Plan) -> bool:
    """Did this plan look again at the condition behind an open conflict?"""
    if sku is not None and sku in plan.skipped:
        return False
    if plan.scope is not None and (sku is None or sku not in plan.scope):
        return False  # a targeted cycle looked at its SKUs only
    if store is None:
        return bool(plan.evaluated)
    return store in plan.evaluated


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
