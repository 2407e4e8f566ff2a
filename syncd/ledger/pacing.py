"""Each store's pacing carried from one cycle to the next through the ledger: the state
of its limiter when a cycle's connectors close, read back when the next cycle's open —
on this process, another replica, or another fleet worker."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from .tables import StorePaceRow

__all__ = ["load_pacing", "save_pacing"]

PACE = StorePaceRow.__table__  # type: ignore[attr-defined]


def load_pacing(engine: Engine) -> dict[str, dict[str, Any]]:
    """Store → its limiter's saved state (nothing for a ledger without the table yet)."""
    with Session(engine) as s:
        return {r.store: json.loads(r.state) for r in s.execute(select(PACE.c.store, PACE.c.state))}


def save_pacing(engine: Engine, states: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
    if not states:
        return
    with Session(engine) as s, s.begin():
        s.execute(delete(PACE).where(PACE.c.store.in_(list(states))))
        s.execute(insert(PACE), [{"store": store, "state": json.dumps(dict(state)), "saved_at": now}
                                 for store, state in states.items()])
