"""Prometheus metrics for ``syncd run`` (one registry per daemon, so tests stay isolated)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .cycle import CycleReport

__all__ = ["Metrics"]


class Metrics:
    """Cycles by outcome and duration; per store: items pulled, writes by outcome, retries,
    429s, last successful pull; open conflicts by kind; scheduler events."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.cycles = Counter("syncd_cycles_total", "Cycles by outcome.", ["outcome"], registry=r)
        self.duration = Histogram("syncd_cycle_duration_seconds", "Wall time of a cycle.", registry=r,
                                  buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
        self.items = Counter("syncd_items_pulled_total", "Items pulled, by store.", ["store"], registry=r)
        self.writes = Counter("syncd_writes_total", "Writes by store and outcome.", ["store", "outcome"], registry=r)
        self.conflicts = Gauge("syncd_open_conflicts", "Open conflicts by kind.", ["kind"], registry=r)
        self.retries = Counter("syncd_http_retries_total", "HTTP retries, by store.", ["store"], registry=r)
        self.throttled = Counter("syncd_http_throttled_total", "HTTP 429 answers, by store.", ["store"], registry=r)
        self.last_pull = Gauge("syncd_last_successful_pull_timestamp_seconds", "Last successful pull, by store.",
                               ["store"], registry=r)
        self.last_cycle = Gauge("syncd_last_cycle_timestamp_seconds", "When the last cycle finished.", registry=r)
        self.targeted = Counter("syncd_targeted_cycles_total", "Targeted cycles (store events) by outcome.",
                                ["outcome"], registry=r)
        self.scheduler = Counter("syncd_scheduler_events_total", "Scheduler events (missed, skipped, error).",
                                 ["event"], registry=r)

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
            if full:  # a targeted read is not a pull of the whole store
                self.last_pull.labels(store).set(now)
        for store, tally in report.delivery.by_store.items():
            for result, n in tally.items():
                self.writes.labels(store, result).inc(n)
        for store, stats in report.http.items():
            self.retries.labels(store).inc(stats.get("retries", 0))
            self.throttled.labels(store).inc(stats.get("throttled", 0))

    def set_open_conflicts(self, by_kind: Mapping[str, int]) -> None:
        self.conflicts.clear()
        for kind, n in by_kind.items():
            self.conflicts.labels(kind).set(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
