"""One cycle: settle → snapshot → pull → plan → record → push, for every enabled store.

The imperative shell around the pure core. It owns the order of effects that makes the
guarantees hold: unresolved writes are settled (every store's) before the ledger's
snapshot is read and the pulls begin, so the snapshot is the state the plan is made
against, and a pull keeps only what differs from it; a
store whose writes apply asynchronously is not read again until they are visible; the
plan is recorded (outbox rows and their keys included) in one transaction before any
write is sent; delivery (``delivery.py``) commits every step of every write.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from .connectors import Connector
from .core import (
    Adjustment,
    CatalogEntry,
    Conflict,
    ItemIssue,
    Observation,
    Plan,
    Policy,
    Sku,
    Snapshot,
    StoreName,
    StorePull,
    TargetedRead,
    held_unchanged,
    plan_cycle,
    plan_targeted,
    remote_ids_of,
    split_unchanged,
)
from .delivery import Delivery, DeliveryCounts
from .errors import StoreError
from .http import Clock
from .ledger import Batch, Breaker, CycleCounts, Ledger, OutboxEntry, as_utc
from .ledger.scoped import last_applied_for, load_scoped_snapshot, skus_by_remote_id
from .memory import collector_relaxed

__all__ = ["CATALOG_TTL", "REPLICA", "CycleReport", "CycleRunner", "Progress", "collector_relaxed", "new_key"]

log = structlog.get_logger("syncd.cycle")
Progress = Callable[[StoreName, str, int], None]
"""Progress callback: (store, "items" | "writes", how many more)."""
CATALOG_TTL = timedelta(hours=24)  # catalog entries older than this are fetched again
REPLICA = f"{socket.gethostname()}:{os.getpid()}"  # who ran a cycle, in the ledger


def new_key() -> str:
    """A fresh idempotency key: 32 hex characters (Squarespace allows ≤ 64 of [A-Za-z0-9_-])."""
    return uuid.uuid4().hex


@dataclass(repr=False)
class CycleReport:
    """What a cycle did, for the CLI, the daemon and tests."""

    cycle_id: int | None
    dry_run: bool
    pulled: dict[StoreName, int] = field(default_factory=dict)  # store → observations
    failed: dict[StoreName, str] = field(default_factory=dict)
    plan: Plan | None = None
    delivery: DeliveryCounts = field(default_factory=DeliveryCounts)
    new_conflicts: list[Conflict] = field(default_factory=list)
    unresolved_before: list[OutboxEntry] = field(default_factory=list)
    http: dict[StoreName, dict[str, int]] = field(default_factory=dict)  # store → retries, throttled
    kind: str = "full"  # or "targeted": the SKUs store events named
    pulled_at: dict[StoreName, datetime] = field(default_factory=dict)  # when each store's pull ended

    def __repr__(self) -> str:
        # Bounded: asyncio.run() can repr its main task, and with it this result; a
        # first sync's whole plan (600,000 rows at 100,000 SKUs × 4) would be rendered
        # in full only to be cut to a few dozen characters.
        plan = self.plan
        planned = "none" if plan is None else (
            f"{len(plan.journal)} journal, {len(plan.adjustments)} writes, {len(plan.conflicts)} conflicts")
        return (f"CycleReport(cycle_id={self.cycle_id}, dry_run={self.dry_run}, pulled={self.pulled}, "
                f"failed={self.failed}, plan=<{planned}>, delivery={self.delivery})")

    @property
    def applied(self) -> int:
        return self.delivery.applied

    @property
    def rejected(self) -> int:
        return self.delivery.rejected

    @property
    def deferred(self) -> int:
        return self.delivery.deferred

    @property
    def unknown(self) -> int:
        return self.delivery.unknown

    @property
    def settled(self) -> int:
        return self.delivery.settled

    @property
    def exit_code(self) -> int:
        """0: every store pulled and every write reached a known outcome; 1 otherwise."""
        return 1 if self.failed or self.unknown else 0


class CycleRunner:
    """Runs cycles over one ledger and one set of connectors (the caller holds the lock
    and owns the connectors' HTTP clients)."""

    def __init__(
        self,
        ledger: Ledger,
        policy: Policy,
        connectors: Mapping[StoreName, Connector],
        clock: Clock,
        key_factory: Callable[[], str] = new_key,
        breaker: Breaker | None = None,
        progress: Progress | None = None,
        force: Collection[StoreName] = (),
    ) -> None:
        self.force = frozenset(force)  # tried even while their circuit is open
        self.ledger = ledger
        self.policy = policy
        self.connectors = connectors
        self.clock = clock
        self.new_key = key_factory
        self.breaker = breaker or Breaker()
        self.progress = progress
        self.skipped: set[StoreName] = set()

    async def run(self, *, dry_run: bool = False) -> CycleReport:
        with collector_relaxed():
            return await self._run_cycle(dry_run)

    async def run_targeted(self, ids: Mapping[StoreName, Collection[str]],
                           refs: Mapping[StoreName, Collection[str]] | None = None) -> CycleReport:
        """A cycle over the SKUs behind these stores' own ids (the items store events named;
        ``refs``: what a connector resolves into ids, e.g. a Squarespace order): settle as
        ever, read just those items on every store, plan them by the same rules
        (``plan_targeted``), record, push. Requests grow with the items, not the catalogue."""
        return await self._cycle("targeted", lambda report, delivery: self._run_targeted(
            report, delivery, ids, refs or {}))

    async def _run_cycle(self, dry_run: bool) -> CycleReport:
        if dry_run:
            return await self._dry_run()
        return await self._cycle("full", self._run)

    async def _cycle(self, kind: str, body: Callable[[CycleReport, Delivery], Awaitable[None]]) -> CycleReport:
        cycle_id = self.ledger.start_cycle(self.clock.wall(), kind, REPLICA)
        report = CycleReport(cycle_id=cycle_id, dry_run=False, kind=kind)
        delivery = Delivery(self.ledger, self.connectors, self.clock, self.new_key, cycle_id,
                            report.delivery, report.new_conflicts, self.progress)
        with structlog.contextvars.bound_contextvars(cycle_id=cycle_id):
            log.info("cycle.start", kind=kind, stores=sorted(self.connectors))
            try:
                await body(report, delivery)
            except BaseException as exc:
                self._finish(report, error=f"{type(exc).__name__}: {exc}")
                raise
            self._finish(report)
        return report

    async def _run(self, report: CycleReport, delivery: Delivery) -> None:
        settled = await self._settle_all(report, delivery)
        # Every settled write is in the ledger now, and nothing else changes it before the
        # record: the snapshot read here is the one the plan is made against, and the pulls
        # leave out what it already holds exactly (a steady cycle holds one copy, not two).
        snapshot = self.ledger.load_snapshot()
        pulls = await asyncio.gather(*(self._pull_after_lag(n, report, snapshot) for n in settled))
        plan = plan_cycle(snapshot, [p for p in pulls if p is not None], self.policy)
        entries = self._record(report, snapshot, plan)
        del snapshot, pulls  # recorded: not held through the pushes
        await self._push(delivery, entries)

    async def _run_targeted(self, report: CycleReport, delivery: Delivery, ids: Mapping[StoreName, Collection[str]],
                            refs: Mapping[StoreName, Collection[str]]) -> None:
        settled = await self._settle_all(report, delivery)
        wanted = {store: set(found) for store, found in ids.items()}
        for store, named in refs.items():  # e.g. an order's line items: a store's connector knows how
            resolve = getattr(self.connectors.get(store), "resolve_event_refs", None)
            if resolve is not None:
                try:
                    wanted.setdefault(store, set()).update(await resolve(sorted(named)))
                except StoreError as exc:
                    log.warning("event.refs_unresolved", store=store, refs=len(named), error=str(exc))
        found = skus_by_remote_id(self.ledger.engine, wanted)
        snapshot = load_scoped_snapshot(self.ledger.engine, {sku for f in found.values() for sku in f.values()})
        reads = await asyncio.gather(*(self._read(n, report, snapshot) for n in settled))
        plan = plan_targeted(snapshot, [r for r in reads if r is not None], self.policy)
        await self._push(delivery, self._record(report, snapshot, plan))

    async def _read(self, store: StoreName, report: CycleReport, snapshot: Snapshot) -> TargetedRead | None:
        """The store's items of a targeted cycle, read after their own apply lag."""
        ids = remote_ids_of(snapshot, store)
        with structlog.contextvars.bound_contextvars(store=store):
            if ids and self.connectors[store].capabilities.apply_lag:
                await self._wait_for_apply_lag(store, last_applied_for(self.ledger.engine, store,
                                                                       list(snapshot.store(store))))
            try:
                quantities = await self.connectors[store].read(ids) if ids else {}
            except StoreError as exc:
                report.failed[store] = exc.reason if exc.status is None else f"{exc.reason} (HTTP {exc.status})"
                log.error("read.failed", error=str(exc), items=len(ids))
                return None
        report.pulled[store] = len(quantities)
        return TargetedRead(store, quantities)

    async def _settle_all(self, report: CycleReport, delivery: Delivery) -> list[StoreName]:
        """Skip the stores whose circuit is open; settle the others' unresolved writes.
        Returns the stores that may be read."""
        health, now = self.ledger.health(), self.clock.wall()
        for store in self.connectors:
            if store not in self.force and self.breaker.is_open(health.get(store), now):
                h = health[store]
                report.failed[store] = (f"skipped: circuit open until {h.open_until} after "
                                        f"{h.consecutive_failures} failed cycles in a row ({h.last_error})")
                self.skipped.add(store)
                log.warning("store.circuit_open", store=store, until=str(h.open_until))
        settled = await asyncio.gather(*(self._settle(n, report, delivery) for n in self.connectors
                                         if n not in self.skipped))
        return [n for n in settled if n is not None]

    def _record(self, report: CycleReport, snapshot: Snapshot, plan: Plan) -> list[OutboxEntry]:
        """Record the plan in one transaction, outbox rows and their keys included, before
        anything is sent."""
        report.plan = plan
        assert report.cycle_id is not None
        entries, new_conflicts = self.ledger.record(
            report.cycle_id, snapshot, plan, self._batches(plan.adjustments), self.clock.wall())
        report.new_conflicts.extend(new_conflicts)
        for conflict in new_conflicts:
            log.warning("conflict.recorded", kind=str(conflict.kind), store=conflict.store,
                        sku=conflict.sku, message=conflict.message)
        log.info("cycle.recorded", journal=len(plan.journal), writes=len(entries),
                 conflicts=len(plan.conflicts), unseeded=len(plan.unseeded))
        return entries

    @staticmethod
    async def _push(delivery: Delivery, entries: list[OutboxEntry]) -> None:
        by_store: dict[StoreName, list[OutboxEntry]] = defaultdict(list)
        for entry in entries:
            by_store[entry.store].append(entry)
        await asyncio.gather(*(delivery.push_store(s, es) for s, es in by_store.items()))

    def _finish(self, report: CycleReport, error: str | None = None) -> None:
        assert report.cycle_id is not None
        plan = report.plan
        counts = CycleCounts(
            outcome="error" if error else ("ok" if report.exit_code == 0 else "failed"),
            exit_code=1 if error else report.exit_code,
            stores_pulled=len(report.pulled),
            stores_failed=len(report.failed),
            observations=sum(report.pulled.values()),
            journal_rows=len(plan.journal) if plan else 0,
            writes_planned=len(plan.adjustments) if plan else 0,
            writes_applied=report.applied,
            writes_rejected=report.rejected,
            writes_unknown=report.unknown,
            conflicts=len(report.new_conflicts),
            error=error,
        )
        now = self.clock.wall()
        health = self.ledger.health()
        results = {s: report.failed.get(s) for s in self.connectors if s not in self.skipped}
        if error is not None:
            results = {}  # the cycle itself failed: say nothing about the stores
        # A store's last success is when its pull ended (its own time), not the cycle's end.
        updated = {s: self.breaker.after(health.get(s), s, e, now if e else report.pulled_at.get(s, now))
                   for s, e in results.items()}
        for store, h in updated.items():
            if h.open_until is not None and not self.breaker.is_open(health.get(store), now):
                log.error("store.circuit_opened", store=store, failures=h.consecutive_failures,
                          until=h.open_until.isoformat(), error=h.last_error)
        pulls = {s: (report.pulled_at.get(s, now), e) for s, e in results.items()} if report.kind == "full" else {}
        self.ledger.finish_cycle(report.cycle_id, counts, now, updated, pulls)
        log.info("cycle.end", outcome=counts.outcome, exit_code=counts.exit_code,
                 pulled=len(report.pulled), failed=sorted(report.failed), applied=report.applied,
                 deferred=report.deferred, rejected=report.rejected, unknown=report.unknown)

    # --- settle and pull ------------------------------------------------------------------

    async def _settle(self, store: StoreName, report: CycleReport, delivery: Delivery) -> StoreName | None:
        """Resolve the store's earlier writes of unknown outcome; the store, if none is left."""
        with structlog.contextvars.bound_contextvars(store=store):
            try:
                await delivery.settle(store)
            except StoreError as exc:
                report.failed[store] = f"unresolved writes could not be settled: {exc}"
                log.error("settle.failed", error=str(exc))
                return None
            left = self.ledger.unresolved(store)
            if left:
                report.failed[store] = f"{len(left)} earlier write(s) still of unknown outcome"
                log.error("settle.incomplete", writes=len(left))
                return None
            return store

    async def _pull_after_lag(self, store: StoreName, report: CycleReport, snapshot: Snapshot) -> StorePull | None:
        with structlog.contextvars.bound_contextvars(store=store):
            if self.connectors[store].capabilities.apply_lag:
                await self._wait_for_apply_lag(store, self.ledger.last_applied_at(store))
            return await self._pull(store, report, snapshot, save_catalog=True)

    async def _wait_for_apply_lag(self, store: StoreName, last: datetime | None) -> None:
        """A read inside an asynchronous platform's apply lag may not show syncd's last
        write (``last``: when it was confirmed) yet, and would be taken as a change on the
        store: wait it out first."""
        lag = self.connectors[store].capabilities.apply_lag
        if not lag or last is None:
            return
        wait = (as_utc(last, self.clock.wall()) + lag - self.clock.wall()).total_seconds()
        if wait > 0:
            log.info("pull.wait_for_apply_lag", seconds=round(wait, 3))
            await self.clock.sleep(wait)

    async def _pull(self, store: StoreName, report: CycleReport, snapshot: Snapshot, *,
                    save_catalog: bool) -> StorePull | None:
        """The store's pull, observations the snapshot already holds exactly kept as SKUs
        only (not for a store with SKU aliases: its SKUs are renamed in the plan)."""
        observations: list[Observation] = []
        unchanged: list[Sku] = []  # a list until the end, then held as the plan reads it (held_unchanged)
        compact = not self.policy.aliases.get(store)
        issues: list[ItemIssue] = []
        learned: list[CatalogEntry] = []
        pages = seen = 0
        catalog = self.ledger.catalog(store, self.clock.wall() - CATALOG_TTL)
        try:
            async for page in self.connectors[store].pull(catalog):
                pages += 1
                seen += len(page.observations)
                if self.progress is not None:
                    self.progress(store, "items", len(page.observations))
                if compact:
                    kept, same = split_unchanged(page.observations, snapshot)
                    observations.extend(kept)
                    unchanged.extend(same)
                else:
                    observations.extend(page.observations)
                issues.extend(page.issues)
                learned.extend(page.learned)
        except StoreError as exc:
            report.failed[store] = exc.reason if exc.status is None else f"{exc.reason} (HTTP {exc.status})"
            log.error("pull.failed", error=str(exc), pages=pages)
            return None
        finally:
            if save_catalog:
                self.ledger.save_catalog(store, learned, self.clock.wall())
        report.pulled[store] = seen
        report.pulled_at[store] = self.clock.wall()
        held = held_unchanged(unchanged, snapshot.store(store)) if unchanged else frozenset()
        del unchanged
        log.info("pull.done", pages=pages, items=seen, unchanged=len(held), issues=len(issues),
                 learned=len(learned))
        return StorePull(store, tuple(observations), tuple(issues), held)

    async def _dry_run(self) -> CycleReport:
        report = CycleReport(cycle_id=None, dry_run=True)
        snapshot = self.ledger.load_snapshot()
        pulls = await asyncio.gather(*(self._pull(n, report, snapshot, save_catalog=False) for n in self.connectors))
        report.plan = plan_cycle(snapshot, [p for p in pulls if p is not None], self.policy)
        report.unresolved_before = self.ledger.unresolved()
        return report

    def _batches(self, adjustments: Iterable[Adjustment]) -> list[Batch]:
        by_store: dict[StoreName, list[Adjustment]] = defaultdict(list)
        for adj in adjustments:
            by_store[adj.store].append(adj)
        batches = []
        for store, adjs in sorted(by_store.items()):
            size = self.connectors[store].capabilities.max_batch
            for i in range(0, len(adjs), size):
                batches.append(Batch(store, self.new_key(), tuple(adjs[i : i + size])))
        return batches
