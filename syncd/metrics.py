"""Prometheus metrics for ``syncd run`` (one registry per daemon, so tests stay isolated).

Every label set a dashboard or an alert may ask for exists from the start, at zero:
cycle outcomes, writes by store and outcome, open conflicts by kind, circuit state.
The process's own collectors (``process_*``, ``python_*``) and ``syncd_build_info``
are there too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from . import __version__
from .core import ConflictKind
from .cycle import CycleReport
from .ledger import StoreHealth, as_utc

__all__ = ["CYCLE_OUTCOMES", "WRITE_OUTCOMES", "Metrics"]

CYCLE_OUTCOMES = ("ok", "failed", "error", "skipped_locked", "skipped_recent")
WRITE_OUTCOMES = ("applied", "deferred", "rejected", "unknown")


class Metrics:
    """Cycles by outcome and duration; per store: items pulled, writes by outcome, retries,
    429s, last successful pull and the lag since, circuit state; open conflicts by kind;
    scheduler events; whether this replica leads (ran the latest full cycle)."""

    def __init__(self, stores: list[str] | None = None) -> None:
        stores = stores or []
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Gauge("syncd_build_info", "syncd's version (always 1).", ["version"], registry=r).labels(__version__).set(1)
        self.cycles = Counter("syncd_cycles_total", "Full cycles by outcome.", ["outcome"], registry=r)
        self.duration = Histogram("syncd_cycle_duration_seconds", "Wall time of a full cycle.", registry=r,
                                  buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
        self.items = Counter("syncd_items_pulled_total", "Items pulled, by store.", ["store"], registry=r)
        self.writes = Counter("syncd_writes_total", "Writes by store and outcome.", ["store", "outcome"], registry=r)
        self.conflicts = Gauge("syncd_open_conflicts", "Open conflicts by kind.", ["kind"], registry=r)
        self.retries = Counter("syncd_http_retries_total", "HTTP retries, by store.", ["store"], registry=r)
        self.throttled = Counter("syncd_http_throttled_total", "HTTP 429 answers, by store.", ["store"], registry=r)
        self.last_pull = Gauge("syncd_last_successful_pull_timestamp_seconds", "Last successful pull, by store.",
                               ["store"], registry=r)
        self.lag = Gauge("syncd_store_lag_seconds", "Seconds since the store's last successful full pull ended "
                         "(since the daemon started, if none yet).", ["store"], registry=r)
        self.circuit = Gauge("syncd_circuit_open", "1 while the store is skipped after failing cycles.", ["store"],
                             registry=r)
        self.leader = Gauge("syncd_leader", "1 if this replica ran the latest full cycle, 0 if it defers to "
                            "another that did.", registry=r)
        self.last_cycle = Gauge("syncd_last_cycle_timestamp_seconds", "When the last full cycle finished.", registry=r)
        self.targeted = Counter("syncd_targeted_cycles_total", "Targeted cycles (store events) by outcome.",
                                ["outcome"], registry=r)
        self.scheduler = Counter("syncd_scheduler_events_total", "Scheduler events (missed, skipped, error).",
                                 ["event"], registry=r)
        started = time.time()
        self._pulled: dict[str, float] = {}
        for outcome in CYCLE_OUTCOMES:
            self.cycles.labels(outcome)
            self.targeted.labels(outcome)
        for event in ("missed", "skipped_running", "error"):
            self.scheduler.labels(event)
        for kind in ConflictKind:
            self.conflicts.labels(str(kind))
        for store in stores:
            for outcome in WRITE_OUTCOMES:
                self.writes.labels(store, outcome)
            for counter in (self.items, self.retries, self.throttled):
                counter.labels(store)
            self.circuit.labels(store).set(0)
            self.lag.labels(store).set_function(self._lag_of(store, started))

    def _lag_of(self, store: str, started: float) -> Callable[[], float]:
        return lambda: time.time() - self._pulled.get(store, started)

    def observe(self, report: CycleReport, seconds: float, now: float) -> None:
        outcome = "ok" if report.exit_code == 0 else "failed"
        full = report.kind == "full"
        if full:
            self.cycles.labels(outcome).inc()
            self.duration.observe(seconds)
            self.last_cycle.set(now)
        else:
            self.targeted.labels(outcome).inc()
        for store, n in report.pulled.items():
            self.items.labels(store).inc(n)
        for store, at in report.pulled_at.items():
            if full:  # a targeted read is not a pull of the whole store
                self._pulled[store] = at.timestamp()
                self.last_pull.labels(store).set(at.timestamp())
        for store, tally in report.delivery.by_store.items():
            for result, n in tally.items():
                self.writes.labels(store, result).inc(n)
        for store, stats in report.http.items():
            self.retries.labels(store).inc(stats.get("retries", 0))
            self.throttled.labels(store).inc(stats.get("throttled", 0))

    def set_open_conflicts(self, by_kind: Mapping[str, int]) -> None:
        for kind in ConflictKind:
            self.conflicts.labels(str(kind)).set(by_kind.get(str(kind), 0))

    def set_circuits(self, health: Mapping[str, StoreHealth], stores: list[str], now: datetime) -> None:
        for store in stores:
            until = health[store].open_until if store in health else None
            self.circuit.labels(store).set(1 if until is not None and as_utc(until, now) > now else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

