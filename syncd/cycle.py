"""One cycle: settle → pull → plan → record → push, for every enabled store.

The imperative shell around the pure core. It owns the order of effects that makes the
guarantees hold: unresolved writes are settled before a store's pull is recorded; the
plan is recorded (outbox rows and their keys included) in one transaction before any
write is sent; each outbox row is marked in flight, and committed, before its request
goes out; a confirmed write moves ``expected`` by what it applied, in one transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from .connectors import Applied, Connector, Rejected, UnknownOutcome
from .core import (
    Adjustment,
    Conflict,
    ConflictKind,
    ItemIssue,
    Observation,
    Plan,
    Policy,
    StoreName,
    StorePull,
    WriteStrategy,
    plan_cycle,
)
from .errors import StoreError
from .http import Clock
from .ledger import Batch, CycleCounts, Ledger, OutboxEntry, OutboxStatus

__all__ = ["CycleReport", "CycleRunner", "new_key"]

log = structlog.get_logger("syncd.cycle")


def new_key() -> str:
    """A fresh idempotency key: 32 hex characters (Squarespace allows ≤ 64 of [A-Za-z0-9_-])."""
    return uuid.uuid4().hex


@dataclass
class CycleReport:
    """What a cycle did, for the CLI, the daemon and tests."""

    cycle_id: int | None
    dry_run: bool
    pulled: dict[StoreName, int] = field(default_factory=dict)  # store → observations
    failed: dict[StoreName, str] = field(default_factory=dict)
    plan: Plan | None = None
    observed: dict[tuple[StoreName, str], int | None] = field(default_factory=dict)
    applied: int = 0
    rejected: int = 0
    unknown: int = 0
    settled: int = 0
    new_conflicts: list[Conflict] = field(default_factory=list)
    unresolved_before: list[OutboxEntry] = field(default_factory=list)

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
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.connectors = connectors
        self.clock = clock
        self.new_key = key_factory

    async def run(self, *, dry_run: bool = False) -> CycleReport:
        if dry_run:
            return await self._dry_run()
        cycle_id = self.ledger.start_cycle(self.clock.wall())
        report = CycleReport(cycle_id=cycle_id, dry_run=False)
        with structlog.contextvars.bound_contextvars(cycle_id=cycle_id):
            log.info("cycle.start", stores=sorted(self.connectors))
            try:
                await self._run(report)
            except BaseException as exc:
                self._finish(report, error=f"{type(exc).__name__}: {exc}")
                raise
            self._finish(report)
        return report

    async def _run(self, report: CycleReport) -> None:
        pulls = await asyncio.gather(*(self._settle_and_pull(n, report) for n in self.connectors))
        ok = [p for p in pulls if p is not None]
        snapshot = self.ledger.load_snapshot()
        plan = plan_cycle(snapshot, ok, self.policy)
        report.plan = plan
        batches = self._batches(plan.adjustments)
        assert report.cycle_id is not None
        entries, new_conflicts = self.ledger.record(report.cycle_id, snapshot, plan, batches, self.clock.wall())
        report.new_conflicts.extend(new_conflicts)
        for conflict in new_conflicts:
            log.warning("conflict.recorded", kind=str(conflict.kind), store=conflict.store,
                        sku=conflict.sku, message=conflict.message)
        log.info("cycle.recorded", journal=len(plan.journal), writes=len(entries),
                 conflicts=len(plan.conflicts), unseeded=len(plan.unseeded))
        by_store: dict[StoreName, list[OutboxEntry]] = defaultdict(list)
        for entry in entries:
            by_store[entry.store].append(entry)
        await asyncio.gather(*(self._push_store(s, es, report) for s, es in by_store.items()))

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
        self.ledger.finish_cycle(report.cycle_id, counts, self.clock.wall())
        log.info("cycle.end", outcome=counts.outcome, exit_code=counts.exit_code,
                 pulled=len(report.pulled), failed=sorted(report.failed),
                 applied=report.applied, rejected=report.rejected, unknown=report.unknown)

    # --- pull -----------------------------------------------------------------------------

    async def _settle_and_pull(self, store: StoreName, report: CycleReport) -> StorePull | None:
        with structlog.contextvars.bound_contextvars(store=store):
            try:
                await self._settle(store, report)
            except StoreError as exc:
                report.failed[store] = f"unresolved writes could not be settled: {exc}"
                log.error("settle.failed", error=str(exc))
                return None
            left = self.ledger.unresolved(store)
            if left:
                report.failed[store] = f"{len(left)} earlier write(s) still of unknown outcome"
                log.error("settle.incomplete", writes=len(left))
                return None
            return await self._pull(store, report)

    async def _pull(self, store: StoreName, report: CycleReport) -> StorePull | None:
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        pages = 0
        try:
            async for page in self.connectors[store].pull():
                pages += 1
                observations.extend(page.observations)
                issues.extend(page.issues)
        except StoreError as exc:
            report.failed[store] = exc.reason if exc.status is None else f"{exc.reason} (HTTP {exc.status})"
            log.error("pull.failed", error=str(exc), pages=pages)
            return None
        report.pulled[store] = len(observations)
        for obs in observations:
            report.observed[(store, obs.sku)] = obs.quantity
        log.info("pull.done", pages=pages, items=len(observations), issues=len(issues))
        return StorePull(store, tuple(observations), tuple(issues))

    async def _dry_run(self) -> CycleReport:
        report = CycleReport(cycle_id=None, dry_run=True)
        pulls = await asyncio.gather(*(self._pull(n, report) for n in self.connectors))
        snapshot = self.ledger.load_snapshot()
        report.plan = plan_cycle(snapshot, [p for p in pulls if p is not None], self.policy)
        report.unresolved_before = self.ledger.unresolved()
        return report

    # --- settle ---------------------------------------------------------------------------

    async def _settle(self, store: StoreName, report: CycleReport) -> None:
        """Unknown outcomes: settle what earlier cycles left unresolved, before this
        store's new pull is recorded."""
        rows = self.ledger.unresolved(store)
        if not rows:
            return
        now = self.clock.wall()
        never_sent = [r for r in rows if r.status is OutboxStatus.PENDING]
        self.ledger.mark_superseded(never_sent, now)  # committed before sending: not sent
        caps = self.connectors[store].capabilities
        for key, group in _by_key(r for r in rows if r.status is not OutboxStatus.PENDING):
            age = now - _aware(group[0].created_at, now)
            if caps.strategy is WriteStrategy.RELATIVE_IDEMPOTENT and caps.key_retention and age < caps.key_retention:
                log.info("settle.resend", key=key, writes=len(group))
                before = report.applied
                await self._send(store, group, key, report)
                report.settled += report.applied - before
            else:
                self._assume_worst(group, report)

    def _assume_worst(self, group: Sequence[OutboxEntry], report: CycleReport) -> None:
        """Undecidable: adopt the reading that gives the lower ``available`` — an increase
        is taken as applied (so it is not counted as a restock), a decrease as not applied
        (so the store's lower count is taken as a sale). syncd never oversells to cover
        its own uncertainty."""
        now = self.clock.wall()
        up = [e for e in group if e.adjustment.delta > 0]
        down = [e for e in group if e.adjustment.delta <= 0]
        self.ledger.mark_applied(up, now)
        self.ledger.mark_rejected(down, "outcome unknown; taken as not applied", now)
        conflicts = [_conflict(ConflictKind.UNKNOWN_OUTCOME, e.adjustment,
                               "write outcome unknown and its key may have expired; "
                               + ("taken as applied" if e in up else "taken as not applied"))
                     for e in group]
        assert report.cycle_id is not None
        report.new_conflicts.extend(self.ledger.add_conflicts(report.cycle_id, conflicts, now))

    # --- push -----------------------------------------------------------------------------

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

    async def _push_store(self, store: StoreName, entries: list[OutboxEntry], report: CycleReport) -> None:
        with structlog.contextvars.bound_contextvars(store=store):
            for key, group in _by_key(entries):
                await self._send(store, group, key, report)

    async def _send(self, store: StoreName, group: Sequence[OutboxEntry], key: str, report: CycleReport) -> None:
        """Send one request; split an atomic batch refused for an unnamed item so the
        good writes still go through (each half is a new request with its own key)."""
        self.ledger.mark_in_flight(group, self.clock.wall())
        results = await self.connectors[store].push([e.adjustment for e in group], key)
        now = self.clock.wall()
        if len(group) > 1 and all(isinstance(r, Rejected) and r.whole_batch for r in results):
            half = len(group) // 2
            for part in (group[:half], group[half:]):
                fresh = self.new_key()
                await self._send(store, self.ledger.rekey(part, fresh, now), fresh, report)
            return
        applied = [e for e, r in zip(group, results, strict=True) if isinstance(r, Applied)]
        unknown = [(e, r) for e, r in zip(group, results, strict=True) if isinstance(r, UnknownOutcome)]
        rejected = [(e, r) for e, r in zip(group, results, strict=True) if isinstance(r, Rejected)]
        self.ledger.mark_applied(applied, now)
        if rejected:
            conflicts = [_conflict(ConflictKind.WRITE_REJECTED, e.adjustment, f"{r.code}: {r.message}")
                         for e, r in rejected]
            self.ledger.mark_rejected([e for e, _ in rejected], rejected[0][1].message, now, conflicts, report.cycle_id)
            report.new_conflicts.extend(conflicts)
        if unknown:
            self.ledger.mark_unknown([e for e, _ in unknown], unknown[0][1].message, now)
        report.applied += len(applied)
        report.rejected += len(rejected)
        report.unknown += len(unknown)
        log.info("push.result", key=key, applied=len(applied), rejected=len(rejected), unknown=len(unknown))


def _by_key(entries: Iterable[OutboxEntry]) -> list[tuple[str, list[OutboxEntry]]]:
    """Outbox rows grouped into their requests, in the order they were planned."""
    groups: dict[str, list[OutboxEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        groups.setdefault(entry.key, []).append(entry)
    return list(groups.items())


def _aware(ts: datetime, like: datetime) -> datetime:
    """SQLite returns naive timestamps; they were written in UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=like.tzinfo)


def _conflict(kind: ConflictKind, adj: Adjustment, message: str) -> Conflict:
    return Conflict(kind=kind, store=adj.store, sku=adj.sku, message=message,
                    data={"remote_id": adj.remote_id, "before": adj.before, "target": adj.target,
                          "delta": adj.delta},
                    subject=adj.remote_id)
