"""``syncd worker``'s /metrics: bounded whatever the number of pools — totals by outcome,
the pools by state, and only the N most-lagging pools by name."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .. import __version__
from .status import FleetStatus

__all__ = ["FleetMetrics"]

OUTCOMES = ("ok", "failed", "error", "skipped", "skipped_locked")
STATES = ("pools", "enabled", "due", "running", "late", "failing")


class FleetMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Gauge("syncd_build_info", "syncd's version (always 1).", ["version"], registry=r).labels(__version__).set(1)
        self.cycles = Counter("syncd_fleet_cycles_total", "Pool cycles run by this worker, by outcome.", ["outcome"],
                              registry=r)
        self.duration = Histogram("syncd_fleet_cycle_duration_seconds", "Wall time of a pool cycle.", registry=r,
                                  buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
        self.lateness = Histogram("syncd_fleet_cycle_lateness_seconds", "How long after it was due a pool's cycle "
                                  "started.", registry=r, buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
        self.targeted_cycles = Counter("syncd_fleet_targeted_cycles_total", "Pool targeted cycles (store events) "
                                       "run by this worker, by outcome.", ["outcome"], registry=r)
        self.events = Counter("syncd_fleet_events_total", "Store events this worker received, by outcome.",
                              ["outcome"], registry=r)
        self.pools = Gauge("syncd_fleet_pools", "Pools by state (the whole fleet).", ["state"], registry=r)
        self.lag = Gauge("syncd_fleet_pool_lag_seconds", "Seconds since the pool's last finished cycle, for the "
                         "most-lagging pools only.", ["pool"], registry=r)
        self.oldest = Gauge("syncd_fleet_oldest_lag_seconds", "The largest lag of any enabled pool.", registry=r)
        for outcome in OUTCOMES:
            self.cycles.labels(outcome)
        for state in STATES:
            self.pools.labels(state)
        for outcome in ("ok", "failed", "error", "skipped"):
            self.targeted_cycles.labels(outcome)
        for outcome in ("received", "ignored", "invalid", "malformed"):
            self.events.labels(outcome)

    def targeted(self, outcome: str, seconds: float) -> None:
        self.targeted_cycles.labels(outcome).inc()

    def cycle(self, outcome: str, seconds: float, lateness: float) -> None:
        self.cycles.labels(outcome).inc()
        self.duration.observe(seconds)
        self.lateness.observe(max(0.0, lateness))

    def update(self, status: FleetStatus, now: datetime) -> None:
        for state in STATES:
            self.pools.labels(state).set(status.counts.get(state, 0))
        self.lag.clear()
        for name, lag in status.lagging:
            self.lag.labels(name).set(lag)
        self.oldest.set(status.oldest_lag or 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
