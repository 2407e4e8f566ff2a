"""Ledger: the only door to the database. Bulk reads and writes, one transaction per step.

A cycle's record (journal, available, expected, outbox, conflicts) is one transaction;
every outbox status change is committed before the next step of the write it tracks.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from sys import intern
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from ..core import Adjustment, CatalogEntry, Conflict, ItemState, PairMap, Plan, Snapshot, StoreName, WriteMode
from ..errors import LockNotHeld
from .bulk import chunks, insert_rows
from .conflicts import record_conflicts, sync_state_conflicts
from .health import StoreHealth, load_health, record_pulls, save_health
from .tables import (
    UNRESOLVED,
    CatalogRow,
    ConflictRow,
    CycleRow,
    FenceRow,
    JournalRow,
    OutboxRow,
    OutboxStatus,
    SkuRow,
    StoreItemRow,
)

__all__ = ["Batch", "CycleCounts", "Ledger", "OutboxEntry", "as_utc"]


SKU = SkuRow.__table__  # type: ignore[attr-defined]
ITEM = StoreItemRow.__table__  # type: ignore[attr-defined]
JOURNAL = JournalRow.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
CYCLE = CycleRow.__table__  # type: ignore[attr-defined]
CONFLICT = ConflictRow.__table__  # type: ignore[attr-defined]
CATALOG = CatalogRow.__table__  # type: ignore[attr-defined]
FENCE = FenceRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Batch:
    """One request to one store: its exact items and the key it is sent under."""

    store: StoreName
    key: str
    adjustments: tuple[Adjustment, ...]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An outbox row as the cycle sees it."""

    id: int
    cycle_id: int
    store: StoreName
    key: str
    status: OutboxStatus
    attempts: int
    created_at: datetime
    updated_at: datetime
    adjustment: Adjustment


@dataclass(frozen=True, slots=True)
class CycleCounts:
    outcome: str
    exit_code: int
    stores_pulled: int = 0
    stores_failed: int = 0
    observations: int = 0
    journal_rows: int = 0
    writes_planned: int = 0
    writes_applied: int = 0
    writes_rejected: int = 0
    writes_unknown: int = 0
    conflicts: int = 0
    error: str | None = None


class Ledger:
    """Reads and writes the ledger tables. Construct with an engine whose schema is current.

    After ``claim_epoch()`` (done right after taking the cycle lock), every write
    transaction first checks that the fencing epoch is still this ledger's: a replica
    that lost its lock while paused gets ``LockNotHeld`` instead of writing.
    """

    chunk = 5_000
    """Rows per bulk statement and per fetch: a first sync of 100,000 SKUs × 4 stores is
    600,000 rows, and their parameter dicts all at once would cost about 150 MB (20,000
    at a time still added 4–5 MB to that first sync's peak on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.epoch: int | None = None

    def claim_epoch(self) -> int:
        """Take the next fencing epoch: from now on, holders of older epochs cannot write."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(FENCE).where(FENCE.c.id == 1).values(epoch=FENCE.c.epoch + 1))
            self.epoch = int(s.execute(select(FENCE.c.epoch).where(FENCE.c.id == 1)).scalar_one())
        return self.epoch

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction, fenced: on PostgreSQL the fence row is share-locked, so a
        replica claiming a new epoch waits until this transaction is over."""
        with Session(self.engine) as s, s.begin():
            if self.epoch is not None:
                q = select(FENCE.c.epoch).where(FENCE.c.id == 1)
                if self.engine.dialect.name == "postgresql":
                    q = q.with_for_update(read=True)
                current = s.execute(q).scalar_one()
                if current != self.epoch:
                    raise LockNotHeld(f"this cycle's fencing epoch {self.epoch} is stale (now {current}): "
                                      "another syncd took over the ledger")
            yield s

    # --- reads --------------------------------------------------------------------------

    def load_snapshot(self) -> Snapshot:
        """Every seeded SKU's available and every pair's state, in two queries."""
        # The driver's own cursor: at 100,000 SKUs × 4 stores, SQLAlchemy's Row objects
        # cost more than the query. Plain column types only, so nothing to convert.
        dialect = self.engine.dialect
        sku_q = str(select(SKU.c.sku, SKU.c.available).compile(dialect=dialect))
        item_q = str(select(ITEM.c.store, ITEM.c.sku, ITEM.c.remote_id, ITEM.c.expected).compile(dialect=dialect))
        # Read a chunk at a time: on PostgreSQL through a server-side cursor, since a
        # client-side one holds the whole result in the driver (about 120 MB here).
        server_side = dialect.name == "postgresql"
        with self.engine.connect() as conn:
            dbapi = conn.connection
            with contextlib.closing(dbapi.cursor(name="syncd_skus") if server_side else dbapi.cursor()) as cursor:
                cursor.execute(sku_q)
                available = {intern(sku): n for sku, n in self._rows(cursor)}
            with contextlib.closing(dbapi.cursor(name="syncd_items") if server_side else dbapi.cursor()) as cursor:
                cursor.execute(item_q)
                # Interned: one string per SKU and per store name, shared with the pulls;
                # one dict per store (a PairMap), no key tuple per pair.
                stores: dict[str, dict[str, ItemState]] = {}
                for store, sku, rid, expected in self._rows(cursor):
                    items = stores.get(store)
                    if items is None:
                        items = stores[intern(store)] = {}
                    items[intern(sku)] = ItemState(rid, expected)
        return Snapshot(available=available, items=PairMap(stores))

    def _rows(self, cursor: Any) -> Iterator[Any]:
        """A result a chunk at a time: ``fetchall()`` would hold every row's tuple and
        strings at once (about 100 MB at 100,000 SKUs × 4 stores) beside what is built."""
        while rows := cursor.fetchmany(self.chunk):
            yield from rows

    def unresolved(self, store: StoreName | None = None) -> list[OutboxEntry]:
        """Outbox rows whose outcome is not final, oldest first."""
        q = select(OUTBOX).where(OUTBOX.c.status.in_([str(s) for s in UNRESOLVED]))
        if store is not None:
            q = q.where(OUTBOX.c.store == store)
        with Session(self.engine) as s:
            return [_entry(r) for r in s.execute(q.order_by(OUTBOX.c.id))]

    def journal_totals(self) -> dict[str, int]:
        """Σ journal delta per SKU (for the conservation check)."""
        q = select(JOURNAL.c.sku, func.sum(JOURNAL.c.delta)).group_by(JOURNAL.c.sku)
        with Session(self.engine) as s:
            return {sku: int(total) for sku, total in s.execute(q)}

    def last_applied_at(self, store: StoreName) -> datetime | None:
        """When the store's most recent write was confirmed (for asynchronous platforms)."""
        q = select(func.max(OUTBOX.c.updated_at)).where(
            OUTBOX.c.store == store, OUTBOX.c.status == str(OutboxStatus.APPLIED))
        with Session(self.engine) as s:
            return s.execute(q).scalar()

    def catalog(self, store: StoreName, fresh_since: datetime) -> dict[str, CatalogEntry]:
        """What the store's SKU-less references map to, refreshed since ``fresh_since``."""
        q = select(CATALOG.c.ref, CATALOG.c.sku, CATALOG.c.tracked, CATALOG.c.refreshed_at).where(
            CATALOG.c.store == store)
        with Session(self.engine) as s:
            rows = s.execute(q).all()
        return {r.ref: CatalogEntry(r.ref, r.sku, r.tracked) for r in rows
                if as_utc(r.refreshed_at, fresh_since) >= fresh_since}

    def save_catalog(self, store: StoreName, entries: Sequence[CatalogEntry], now: datetime) -> None:
        """Remember (or refresh) catalog entries, in bulk."""
        if not entries:
            return
        refs = [e.ref for e in entries]
        with self._tx() as s:
            for i in range(0, len(refs), 500):
                s.execute(delete(CATALOG).where(CATALOG.c.store == store, CATALOG.c.ref.in_(refs[i:i + 500])))
            insert_rows(s, CATALOG, ("store", "ref", "sku", "tracked", "refreshed_at"),
                        ((store, e.ref, e.sku, e.tracked, now) for e in entries), self.chunk)

    def open_conflicts(self) -> list[ConflictRow]:
        with Session(self.engine) as s:
            rows = s.execute(select(ConflictRow).where(ConflictRow.status == "open").order_by(ConflictRow.id))  # type: ignore[arg-type]
            return list(rows.scalars())

    def cycles(self) -> list[CycleRow]:
        with Session(self.engine) as s:
            return list(s.execute(select(CycleRow).order_by(CycleRow.id)).scalars())  # type: ignore[arg-type]

    # --- cycle bookkeeping --------------------------------------------------------------

    def start_cycle(self, now: datetime, kind: str = "full", runner: str | None = None) -> int:
        """A new ``running`` cycle row (``kind`` full or targeted; ``runner`` host:pid). The
        caller holds the cycle lock, so a cycle still ``running`` died mid-way (SIGKILL):
        it is marked ``interrupted``, with when and by whom it was found."""
        with self._tx() as s:
            s.execute(update(CYCLE).where(CYCLE.c.outcome == "running").values(
                outcome="interrupted", finished_at=now,
                error=f"interrupted: found unfinished by {runner or 'another cycle'} at {now.isoformat()}"))
            zero = dict.fromkeys(("stores_pulled", "stores_failed", "observations", "journal_rows",
                                  "writes_planned", "writes_applied", "writes_rejected",
                                  "writes_unknown", "conflicts"), 0)
            result = s.execute(insert(CYCLE).values(started_at=now, outcome="running", kind=kind, runner=runner,
                                                     **zero))
            key = cast(CursorResult[Any], result).inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_cycle(self, cycle_id: int, counts: CycleCounts, now: datetime,
                     health: Mapping[str, StoreHealth] | None = None,
                     pulls: Mapping[str, tuple[datetime, str | None]] | None = None) -> None:
        """Close the cycle's row, record each store's health and pull, in one transaction."""
        values = {k: getattr(counts, k) for k in CycleCounts.__dataclass_fields__}
        with self._tx() as s:
            s.execute(update(CYCLE).where(CYCLE.c.id == cycle_id).values(finished_at=now, **values))
            save_health(s, health or {})
            record_pulls(s, cycle_id, pulls or {}, now)

    def health(self) -> dict[str, StoreHealth]:
        return load_health(self.engine)

    # --- the record transaction ---------------------------------------------------------

    def record(
        self, cycle_id: int, snapshot: Snapshot, plan: Plan, batches: Sequence[Batch], now: datetime
    ) -> tuple[list[OutboxEntry], list[Conflict]]:
        """Record a plan in one transaction: journal, available, expected, removed pairs,
        the outbox (each batch with its key, before anything is sent) and conflicts.
        Only what changed is written. Returns the outbox entries and new conflicts."""
        with self._tx() as s:
            insert_rows(s, JOURNAL, ("cycle_id", "sku", "store", "delta", "reason", "created_at"),
                        ((cycle_id, e.sku, e.store, e.delta, e.reason, now) for e in plan.journal), self.chunk)
            self._write_available(s, cycle_id, snapshot, plan)
            self._write_items(s, cycle_id, snapshot, plan)
            ids = self._write_outbox(s, cycle_id, batches, now)
            new_conflicts = sync_state_conflicts(s, cycle_id, plan, now)
        entries = self._entries(ids)
        return entries, new_conflicts

    def _many(self, s: Session, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
        """One executemany per ``chunk`` rows (none for no rows)."""
        for chunk in chunks(rows, self.chunk):
            s.execute(statement, chunk)

    def _write_available(self, s: Session, cycle_id: int, snapshot: Snapshot, plan: Plan) -> None:
        known = snapshot.available
        insert_rows(s, SKU, ("sku", "available", "seeded_cycle", "updated_cycle"),
                    ((k, v, cycle_id, cycle_id) for k, v in plan.available.items() if k not in known), self.chunk)
        self._many(s, update(SKU).where(SKU.c.sku == bindparam("b_sku")),
                     ({"b_sku": k, "available": v, "updated_cycle": cycle_id}
                      for k, v in plan.available.items() if k in known))

    def _write_items(self, s: Session, cycle_id: int, snapshot: Snapshot, plan: Plan) -> None:
        def stays(store: str, sku: str) -> bool:
            return sku in snapshot.store(store) and (store, sku) not in plan.removed

        planned = PairMap.of(plan.items).triples

        by_store: dict[str, list[str]] = defaultdict(list)
        for store, sku in plan.removed:
            by_store[store].append(sku)
        for store, skus in by_store.items():
            for i in range(0, len(skus), 500):
                s.execute(delete(ITEM).where(ITEM.c.store == store, ITEM.c.sku.in_(skus[i:i + 500])))
        insert_rows(s, ITEM, ("store", "sku", "remote_id", "expected", "updated_cycle"),
                    ((store, sku, state.remote_id, state.expected, cycle_id)
                     for store, sku, state in planned() if not stays(store, sku)), self.chunk)
        self._many(s, update(ITEM).where(ITEM.c.store == bindparam("b_store"), ITEM.c.sku == bindparam("b_sku")),
                     ({"b_store": store, "b_sku": sku, "remote_id": state.remote_id,
                       "expected": state.expected, "updated_cycle": cycle_id}
                      for store, sku, state in planned() if stays(store, sku)))

    def _write_outbox(self, s: Session, cycle_id: int, batches: Sequence[Batch], now: datetime) -> list[int]:
        if not any(b.adjustments for b in batches):
            return []
        self._many(s, insert(OUTBOX), (
            {"cycle_id": cycle_id, "store": b.store, "sku": a.sku, "remote_id": a.remote_id,
             "mode": str(a.mode), "before": a.before, "target": a.target, "delta": a.delta,
             "request_key": b.key, "status": str(OutboxStatus.PENDING), "attempts": 0,
             "created_at": now, "updated_at": now}
            for b in batches for a in b.adjustments))
        q = select(OUTBOX.c.id).where(OUTBOX.c.cycle_id == cycle_id).order_by(OUTBOX.c.id)
        return [r.id for r in s.execute(q)]

    def _entries(self, ids: list[int]) -> list[OutboxEntry]:
        if not ids:
            return []
        with Session(self.engine) as s:
            rows: list[Row[Any]] = []
            for i in range(0, len(ids), 500):
                q = select(OUTBOX).where(OUTBOX.c.id.in_(ids[i:i + 500]))
                rows.extend(s.execute(q))
        return [_entry(r) for r in sorted(rows, key=lambda r: r.id)]

    # --- the outbox life cycle ----------------------------------------------------------

    def mark_in_flight(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Committed before the request is sent: a crash from here on is an unknown outcome."""
        self._set(entries, OutboxStatus.IN_FLIGHT, now, attempt=True)

    def mark_applied(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """A confirmed write: status applied and ``expected`` moved by exactly what it applied,
        in one transaction."""
        if not entries:
            return
        relative = [{"b_store": e.store, "b_sku": e.adjustment.sku, "b_delta": e.adjustment.delta}
                    for e in entries if e.adjustment.mode is WriteMode.RELATIVE]
        absolute = [{"b_store": e.store, "b_sku": e.adjustment.sku, "b_target": e.adjustment.target}
                    for e in entries if e.adjustment.mode is WriteMode.ABSOLUTE]
        where = (ITEM.c.store == bindparam("b_store"), ITEM.c.sku == bindparam("b_sku"),
                 ITEM.c.expected.is_not(None))
        with self._tx() as s:
            if relative:
                s.execute(update(ITEM).where(*where).values(expected=ITEM.c.expected + bindparam("b_delta")), relative)
            if absolute:
                s.execute(update(ITEM).where(*where).values(expected=bindparam("b_target")), absolute)
            self._status(s, entries, OutboxStatus.APPLIED, now)

    def mark_rejected(self, entries: Sequence[OutboxEntry], error: str, now: datetime,
                      conflicts: Iterable[Conflict] = (), cycle_id: int | None = None) -> None:
        """The store refused the write: nothing applied; ``expected`` stays as pulled."""
        with self._tx() as s:
            self._status(s, entries, OutboxStatus.REJECTED, now, error=error)
            if cycle_id is not None:
                record_conflicts(s, cycle_id, conflicts, now)

    def mark_unknown(self, entries: Sequence[OutboxEntry], error: str, now: datetime) -> None:
        self._set(entries, OutboxStatus.UNKNOWN, now, error=error)

    def mark_deferred(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        self._set(entries, OutboxStatus.DEFERRED, now)

    def mark_superseded(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        self._set(entries, OutboxStatus.SUPERSEDED, now)

    def rekey(self, entries: Sequence[OutboxEntry], key: str, now: datetime) -> list[OutboxEntry]:
        """Give never-applied rows a new request key (a split batch is a new request)."""
        with self._tx() as s:
            s.execute(update(OUTBOX).where(OUTBOX.c.id.in_([e.id for e in entries]))
                      .values(request_key=key, status=str(OutboxStatus.PENDING), updated_at=now))
        return self._entries([e.id for e in entries])

    def _set(self, entries: Sequence[OutboxEntry], status: OutboxStatus, now: datetime,
             error: str | None = None, attempt: bool = False) -> None:
        with self._tx() as s:
            self._status(s, entries, status, now, error=error, attempt=attempt)

    @staticmethod
    def _status(s: Session, entries: Sequence[OutboxEntry], status: OutboxStatus, now: datetime,
                error: str | None = None, attempt: bool = False) -> None:
        values: dict[str, object] = {"status": str(status), "updated_at": now}
        if error is not None:
            values["last_error"] = error[:2000]
        if attempt:
            values["attempts"] = OUTBOX.c.attempts + 1
        ids = [e.id for e in entries]
        for i in range(0, len(ids), 500):
            s.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids[i:i + 500])).values(**values))

    def add_conflicts(self, cycle_id: int, conflicts: Iterable[Conflict], now: datetime) -> list[Conflict]:
        with self._tx() as s:
            return record_conflicts(s, cycle_id, conflicts, now)


def as_utc(ts: datetime, like: datetime) -> datetime:
    """SQLite returns naive timestamps; they were written in UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=like.tzinfo)


def _entry(r: object) -> OutboxEntry:
    row = r._mapping  # type: ignore[attr-defined]
    adj = Adjustment(row["store"], row["sku"], row["remote_id"], row["before"], row["target"],
                     WriteMode(row["mode"]))
    return OutboxEntry(row["id"], row["cycle_id"], row["store"], row["request_key"],
                       OutboxStatus(row["status"]), row["attempts"], row["created_at"], row["updated_at"], adj)
