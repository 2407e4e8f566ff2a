"""``syncd fleet status``: pools due, running, late and failing, and the oldest lag, from
the registry and Procrastinate's jobs (two aggregate queries, whatever the fleet's size)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

__all__ = ["FleetStatus", "fleet_status"]


@dataclass
class FleetStatus:
    counts: dict[str, int] = field(default_factory=dict)  # pools, enabled, due, running, late, failing
    oldest_lag: float | None = None  # seconds since the least recently finished enabled pool's cycle
    lagging: list[tuple[str, float]] = field(default_factory=list)  # the N most-lagging pools
    failing: list[tuple[str, str]] = field(default_factory=list)  # (pool, last error), first 20

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "oldest_lag_seconds": self.oldest_lag,
                "lagging": [{"pool": p, "lag_seconds": round(s, 1)} for p, s in self.lagging],
                "failing": [{"pool": p, "error": e} for p, e in self.failing]}


def fleet_status(engine: Engine, now: datetime, top: int = 10) -> FleetStatus:
    """``late``: due for longer than its interval; ``failing``: its last cycle did not end ok."""
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT count(*) AS pools,
                   count(*) FILTER (WHERE enabled) AS enabled,
                   count(*) FILTER (WHERE enabled AND next_run_at <= :now) AS due,
                   count(*) FILTER (WHERE enabled AND next_run_at
                                    <= :now - make_interval(secs => interval_seconds)) AS late,
                   count(*) FILTER (WHERE enabled AND last_outcome IS NOT NULL AND last_outcome <> 'ok') AS failing,
                   max(EXTRACT(EPOCH FROM (:now - coalesce(last_finished_at, created_at))))
                       FILTER (WHERE enabled) AS oldest
            FROM fleet_pool"""), {"now": now}).mappings().one()
        running = conn.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'syncd.pool_cycle' AND status = 'doing'"
        )).scalar() if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() else 0
        lagging = conn.execute(text("""
            SELECT name, EXTRACT(EPOCH FROM (:now - coalesce(last_finished_at, created_at))) AS lag
            FROM fleet_pool WHERE enabled ORDER BY coalesce(last_finished_at, created_at) LIMIT :top"""),
            {"now": now, "top": top}).all()
        failing = conn.execute(text("""
            SELECT name, coalesce(last_error, last_outcome) FROM fleet_pool
            WHERE enabled AND last_outcome IS NOT NULL AND last_outcome <> 'ok' ORDER BY name LIMIT 20""")).all()
    counts = {k: int(row[k] or 0) for k in ("pools", "enabled", "due", "late", "failing")}
    counts["running"] = int(running or 0)
    return FleetStatus(counts, float(row["oldest"]) if row["oldest"] is not None else None,
                       [(r[0], float(r[1])) for r in lagging], [(r[0], str(r[1])) for r in failing])
