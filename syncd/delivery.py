"""Delivery: carrying the outbox to the stores, and settling what an earlier cycle left
unresolved, per DESIGN's write-strategy table.

Every outbox row is marked in flight, and committed, before its request is sent; every
outcome is committed before the next request; a confirmed write moves ``expected`` by
exactly what it applied.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from .connectors import Applied, Connector, Deferred, NotApplied, Rejected, UnknownOutcome
from .core import Adjustment, Conflict, ConflictKind, ReadVerdict, StoreName, judge_reread
from .http import Clock
from .ledger import Ledger, OutboxEntry, OutboxStatus, as_utc

__all__ = ["Delivery", "DeliveryCounts", "by_key"]

log = structlog.get_logger("syncd.delivery")

RESENDS = 3  # how many times rows that were not applied (through no fault of theirs) are sent again at once


@dataclass
class DeliveryCounts:
    applied: int = 0
    rejected: int = 0
    deferred: int = 0
    unknown: int = 0
    settled: int = 0
    by_store: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


class Delivery:
    """Sends and settles outbox rows for one cycle."""

    def __init__(self, ledger: Ledger, connectors: Mapping[StoreName, Connector], clock: Clock,
                 new_key: Callable[[], str], cycle_id: int, counts: DeliveryCounts,
                 conflicts: list[Conflict], progress: Callable[[StoreName, str, int], None] | None = None) -> None:
        self.ledger = ledger
        self.connectors = connectors
        self.clock = clock
        self.new_key = new_key
        self.cycle_id = cycle_id
        self.counts = counts
        self.conflicts = conflicts
        self.progress = progress

    # --- push -----------------------------------------------------------------------------

    async def push_store(self, store: StoreName, entries: Sequence[OutboxEntry]) -> None:
        with structlog.contextvars.bound_contextvars(store=store):
            for key, group in by_key(entries):
                await self.send(store, group, key)

    async def send(self, store: StoreName, group: Sequence[OutboxEntry], key: str, resends: int = RESENDS) -> None:
        """Send one request; split an atomic batch refused for an unnamed item so the good
        writes still go through (each half is a new request with its own key); send the
        rows an atomic batch did not apply because of another row again, under a new key."""
        self.ledger.mark_in_flight(group, self.clock.wall())
        results = await self.connectors[store].push([e.adjustment for e in group], key)
        if self.progress is not None:
            self.progress(store, "writes", len(group))
        now = self.clock.wall()
        if len(group) > 1 and all(isinstance(r, Rejected) and r.whole_batch for r in results):
            half = len(group) // 2
            for part in (group[:half], group[half:]):
                fresh = self.new_key()
                await self.send(store, self.ledger.rekey(part, fresh, now), fresh)
            return
        pairs = list(zip(group, results, strict=True))
        again = [e for e, r in pairs if isinstance(r, NotApplied)]
        applied = [e for e, r in pairs if isinstance(r, Applied)]
        deferred = [e for e, r in pairs if isinstance(r, Deferred)]
        if again and resends <= 0:
            deferred += again  # nothing applied: the next pull plans them again
            again = []
        stale = [(e, r) for e, r in pairs if isinstance(r, Deferred) and r.refused]
        if stale:
            conflicts = [_conflict(ConflictKind.STALE_WRITE, e.adjustment,
                                   f"compare-and-set refused the write ({r.refused}); re-planned next cycle",
                                   read=r.observed) for e, r in stale]
            self.conflicts.extend(self.ledger.add_conflicts(self.cycle_id, conflicts, now))
        unknown = [(e, r) for e, r in pairs if isinstance(r, UnknownOutcome)]
        rejected = [(e, r) for e, r in pairs if isinstance(r, Rejected)]
        self.ledger.mark_applied(applied, now)
        self.ledger.mark_deferred(deferred, now)
        if rejected:
            conflicts = [_conflict(ConflictKind.WRITE_REJECTED, e.adjustment, f"{r.code}: {r.message}")
                         for e, r in rejected]
            self.ledger.mark_rejected([e for e, _ in rejected], rejected[0][1].message, now, conflicts, self.cycle_id)
            self.conflicts.extend(conflicts)
        if unknown:
            self.ledger.mark_unknown([e for e, _ in unknown], unknown[0][1].message, now)
        self.counts.applied += len(applied)
        self.counts.deferred += len(deferred)
        self.counts.rejected += len(rejected)
        self.counts.unknown += len(unknown)
        tally = self.counts.by_store[store]
        tally.update(applied=len(applied), deferred=len(deferred), rejected=len(rejected), unknown=len(unknown))
        log.info("push.result", key=key, applied=len(applied), deferred=len(deferred),
                 rejected=len(rejected), unknown=len(unknown), again=len(again))
        if again:
            fresh = self.new_key()
            await self.send(store, self.ledger.rekey(again, fresh, now), fresh, resends - 1)

    # --- settle ---------------------------------------------------------------------------

    async def settle(self, store: StoreName) -> None:
        """Unknown outcomes: settle what earlier cycles left unresolved, before this
        store's new pull is recorded — by resending under the same key where the store
        still remembers it, by re-reading otherwise."""
        rows = self.ledger.unresolved(store)
        if not rows:
            return
        now = self.clock.wall()
        self.ledger.mark_superseded([r for r in rows if r.status is OutboxStatus.PENDING], now)
        caps = self.connectors[store].capabilities
        for key, group in by_key(r for r in rows if r.status is not OutboxStatus.PENDING):
            age = now - as_utc(group[0].created_at, now)
            if caps.key_retention and age < caps.key_retention:  # the store still remembers the key
                log.info("settle.resend", key=key, writes=len(group))
                before = self.counts.applied
                await self.send(store, group, key)
                self.counts.settled += self.counts.applied - before
            else:
                await self._settle_by_reading(store, group)

    async def _settle_by_reading(self, store: StoreName, group: Sequence[OutboxEntry]) -> None:
        """Re-read (after an asynchronous platform's apply lag): equal to the target →
        applied; equal to the value before → not applied; else undecidable."""
        caps = self.connectors[store].capabilities
        sent_at = max(as_utc(e.updated_at, self.clock.wall()) for e in group)
        wait = (sent_at + caps.apply_lag - self.clock.wall()).total_seconds()
        if wait > 0:
            await self.clock.sleep(wait)  # a read inside the lag is no evidence either way
        reads = await self.connectors[store].read([e.adjustment.remote_id for e in group])
        now = self.clock.wall()
        verdicts = {e.id: judge_reread(e.adjustment, reads.get(e.adjustment.remote_id)) for e in group}
        applied = [e for e in group if verdicts[e.id] is ReadVerdict.APPLIED]
        not_applied = [e for e in group if verdicts[e.id] is ReadVerdict.NOT_APPLIED]
        self.ledger.mark_applied(applied, now)
        self.ledger.mark_rejected(not_applied, "re-read: not applied", now)
        self.counts.settled += len(applied) + len(not_applied)
        undecided = [e for e in group if verdicts[e.id] is ReadVerdict.UNDECIDABLE]
        self.assume_worst(undecided, {e.id: reads.get(e.adjustment.remote_id) for e in undecided})
        log.info("settle.reread", applied=len(applied), not_applied=len(not_applied), undecidable=len(undecided))

    def assume_worst(self, group: Sequence[OutboxEntry], reads: Mapping[int, object] | None = None) -> None:
        """Undecidable: adopt the reading that gives the lower ``available`` — an increase
        is taken as applied (so it is not counted as a restock), a decrease as not applied
        (so the store's lower count is taken as a sale). syncd never oversells to cover
        its own uncertainty."""
        if not group:
            return
        now = self.clock.wall()
        up = [e for e in group if e.adjustment.delta > 0]
        down = [e for e in group if e.adjustment.delta <= 0]
        self.ledger.mark_applied(up, now)
        self.ledger.mark_rejected(down, "outcome unknown; taken as not applied", now)
        conflicts = [
            _conflict(ConflictKind.UNKNOWN_OUTCOME, e.adjustment,
                      "write outcome could not be decided; "
                      + ("taken as applied" if e in up else "taken as not applied"),
                      read=(reads or {}).get(e.id))
            for e in group
        ]
        self.conflicts.extend(self.ledger.add_conflicts(self.cycle_id, conflicts, now))
        self.counts.settled += len(group)


def by_key(entries: Iterable[OutboxEntry]) -> list[tuple[str, list[OutboxEntry]]]:
    """Outbox rows grouped into their requests, in the order they were planned."""
    groups: dict[str, list[OutboxEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        groups.setdefault(entry.key, []).append(entry)
    return list(groups.items())


def _conflict(kind: ConflictKind, adj: Adjustment, message: str, read: object = None) -> Conflict:
    data: dict[str, object] = {"remote_id": adj.remote_id, "before": adj.before, "target": adj.target,
                               "delta": adj.delta}
    if kind in (ConflictKind.UNKNOWN_OUTCOME, ConflictKind.STALE_WRITE):
        data["read"] = read
    return Conflict(kind=kind, store=adj.store, sku=adj.sku, message=message, data=data, subject=adj.remote_id)
