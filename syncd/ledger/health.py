"""The per-store circuit breaker's memory: failures in a row and an open-until time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from .tables import StoreHealthRow, StorePullRow

__all__ = ["Breaker", "StoreHealth", "load_health", "record_pulls", "reset_health", "save_health"]

HEALTH = StoreHealthRow.__table__  # type: ignore[attr-defined]
PULL = StorePullRow.__table__  # type: ignore[attr-defined]
KEEP_PULLS = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class StoreHealth:
    store: str
    consecutive_failures: int = 0
    open_until: datetime | None = None
    last_error: str | None = None
    last_success_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Breaker:
    """After ``failures`` failed cycles in a row a store is skipped (the circuit opens) for
    ``probe``; then one cycle tries it again (half-open): a success closes the circuit, a
    failure opens it again for twice as long, and so on up to ``cooldown``. A store back
    within a minute is synced again within a minute or two, not after the longest wait."""

    failures: int = 5
    cooldown: timedelta = timedelta(minutes=15)
    probe: timedelta = timedelta(seconds=30)

    def is_open(self, health: StoreHealth | None, now: datetime) -> bool:
        if health is None or health.open_until is None:
            return False
        until = health.open_until if health.open_until.tzinfo else health.open_until.replace(tzinfo=now.tzinfo)
        return now < until

    def after(self, previous: StoreHealth | None, store: str, error: str | None, now: datetime) -> StoreHealth:
        """The store's health once this cycle's result is known (error None: it worked)."""
        if error is None:
            return StoreHealth(store, 0, None, None, now)
        failures = (previous.consecutive_failures if previous else 0) + 1
        wait = min(self.cooldown, self.probe * 2 ** min(failures - self.failures, 32))
        open_until = now + wait if failures >= self.failures else None
        return StoreHealth(store, failures, open_until, error[:2000], previous.last_success_at if previous else None)


def load_health(engine: Engine) -> dict[str, StoreHealth]:
    with Session(engine) as s:
        return {r.store: StoreHealth(r.store, r.consecutive_failures, r.open_until, r.last_error, r.last_success_at)
                for r in s.execute(select(HEALTH))}


def save_health(session: Session, health: Mapping[str, StoreHealth]) -> None:
    """Replace these stores' rows (a handful per cycle)."""
    if not health:
        return
    session.execute(delete(HEALTH).where(HEALTH.c.store.in_(list(health))))
    session.execute(insert(HEALTH), [
        {"store": h.store, "consecutive_failures": h.consecutive_failures, "open_until": h.open_until,
         "last_error": h.last_error, "last_success_at": h.last_success_at} for h in health.values()
    ])


def reset_health(engine: Engine, store: str) -> bool:
    """Forget the store's failures (its circuit closes). True if it had any."""
    with Session(engine) as s, s.begin():
        return bool(s.execute(delete(HEALTH).where(HEALTH.c.store == store)).rowcount)  # type: ignore[attr-defined]


def record_pulls(session: Session, cycle_id: int, pulls: Mapping[str, tuple[datetime, str | None]],
                 now: datetime) -> None:
    """Each store's pull in this cycle: when it ended, and its error if it failed; rows
    older than a week go (the status page charts the last day)."""
    if not pulls:
        return
    session.execute(insert(PULL), [{"cycle_id": cycle_id, "store": store, "at": at, "ok": error is None,
                                    "error": None if error is None else error[:500]}
                                   for store, (at, error) in pulls.items()])
    session.execute(delete(PULL).where(PULL.c.at < now - KEEP_PULLS))
