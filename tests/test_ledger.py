"""The ledger: schema from migrations, bulk writes, the cycle lock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event

from syncd.core import InitialPolicy, Observation, Policy, StorePolicy, StorePull, plan_cycle
from syncd.errors import LockNotHeld
from syncd.ledger import Batch, bulk, cycle_lock
from syncd.ledger.tables import metadata
from tests.helpers import assert_conserved

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_migrations_build_exactly_the_models(engine):
    """Alembic's schema and the SQLModel tables do not drift apart."""
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def _pull(store: str, n: int, sold: int = 0) -> StorePull:
    return StorePull(store, tuple(Observation(store, f"SKU{i:05d}", f"{store}{i}", 10 - (sold if i < 100 else 0))
                                  for i in range(n)))


def test_a_big_cycle_is_a_few_statements_and_a_steady_one_writes_only_changes(engine, ledger):
    """5,000 SKUs × 2 stores: bulk inserts, not a round trip per row; 100 sales → 100-ish rows."""
    policy = Policy(stores={"a": StorePolicy(), "b": StorePolicy()}, initial=InitialPolicy.MIN)
    statements: list[tuple[str, int]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, params, context, executemany):
        statements.append((statement.split()[0].upper(), len(params) if executemany else 1))

    snap = ledger.load_snapshot()
    plan = plan_cycle(snap, [_pull("a", 5000), _pull("b", 5000)], policy)
    ledger.record(ledger.start_cycle(NOW), snap, plan, [], NOW)
    assert len(statements) < 40, statements
    assert_conserved(ledger)
    statements.clear()
    snap = ledger.load_snapshot()
    plan = plan_cycle(snap, [_pull("a", 5000, sold=1), _pull("b", 5000)], policy)
    cid = ledger.start_cycle(NOW)
    entries, _ = ledger.record(cid, snap, plan, [Batch("b", f"k{i}", plan.adjustments[i * 50:(i + 1) * 50])
                                                 for i in range(2)], NOW)
    rows = sum(n for verb, n in statements if verb in ("INSERT", "UPDATE", "DELETE"))
    assert len(entries) == 100
    assert rows <= 100 + 100 + 100 + 100 + 5, rows  # journal + sku + store_item + outbox + cycle
    assert len(statements) < 40
    assert_conserved(ledger)


async def test_one_cycle_at_a_time_per_ledger(engine, ledger_url):
    """A second holder waits, then gives up with LockNotHeld; after release it gets the lock."""
    async with cycle_lock(engine, ledger_url, timeout=1):
        with pytest.raises(LockNotHeld):
            async with cycle_lock(engine, ledger_url, timeout=0.3, poll=0.1):
                pass
    async with cycle_lock(engine, ledger_url, timeout=0.3):
        pass


async def test_the_lock_is_handed_over_to_a_waiter(engine, ledger_url):
    """The waiter gets the lock as soon as the holder releases it."""
    order: list[str] = []

    async def holder():
        async with cycle_lock(engine, ledger_url, timeout=1):
            order.append("held")
            await asyncio.sleep(0.3)
            order.append("released")

    async def waiter():
        await asyncio.sleep(0.05)
        async with cycle_lock(engine, ledger_url, timeout=5, poll=0.05):
            order.append("acquired")

    await asyncio.gather(holder(), waiter())
    assert order == ["held", "released", "acquired"]


def test_a_replica_that_lost_the_lock_cannot_write(engine, ledger):
    """Fencing: once another cycle claims a newer epoch, the old holder's writes fail
    with LockNotHeld and change nothing."""
    from syncd.errors import LockNotHeld
    from syncd.ledger import Ledger

    paused = ledger
    paused.claim_epoch()
    cycle_id = paused.start_cycle(NOW)
    newer = Ledger(engine)
    newer.claim_epoch()
    snap = paused.load_snapshot()
    plan = plan_cycle(snap, [_pull("a", 3), _pull("b", 3)],
                      Policy(stores={"a": StorePolicy(), "b": StorePolicy()}, initial=InitialPolicy.MIN))
    with pytest.raises(LockNotHeld, match="stale"):
        paused.record(cycle_id, snap, plan, [], NOW)
    assert newer.load_snapshot().available == {}
    newer.record(newer.start_cycle(NOW), snap, plan, [], NOW)
    assert len(newer.load_snapshot().available) == 3


@pytest.mark.parametrize(
    ("mode", "expected_at_apply", "after"),
    [("relative", 10, 7), ("relative", 9, 6), ("absolute", 10, 7), ("absolute", 9, 7)],
)
def test_a_confirmed_write_moves_expected_by_what_it_applied(engine, ledger, mode, expected_at_apply, after):
    """Relative: expected + delta; absolute: expected = target — in the transaction that
    marks the write applied."""
    from sqlalchemy import update

    from syncd.core import Adjustment, WriteMode
    from syncd.ledger.tables import StoreItemRow

    policy = Policy(stores={"a": StorePolicy()}, initial=InitialPolicy.MIN)
    snap = ledger.load_snapshot()
    cycle_id = ledger.start_cycle(NOW)
    plan = plan_cycle(snap, [StorePull("a", (Observation("a", "X", "a1", 10),))], policy)
    ledger.record(cycle_id, snap, plan, [], NOW)
    item = StoreItemRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(item).values(expected=expected_at_apply))
    adj = Adjustment("a", "X", "a1", 10, 7, WriteMode(mode))
    [entry] = ledger.record(cycle_id, ledger.load_snapshot(), plan_cycle(ledger.load_snapshot(), [], policy),
                            [Batch("a", "k", (adj,))], NOW)[0]
    ledger.mark_in_flight([entry], NOW)
    ledger.mark_applied([entry], NOW)
    assert ledger.load_snapshot().items[("a", "X")].expected == after


def test_bulk_writes_and_reads_go_a_chunk_at_a_time_and_lose_nothing(engine, ledger, monkeypatch):
    """Rows are written and read ``chunk`` at a time, or streamed through one COPY on
    PostgreSQL (memory stays flat at 600,000 rows): a first sync and a steady cycle
    larger than one chunk, with removals, new pairs and changed ones in the same
    transaction, leave exactly the planned state."""
    ledger.chunk = 700
    policy = Policy(stores={"a": StorePolicy(), "b": StorePolicy()}, initial=InitialPolicy.MIN)
    inserts: list[int] = []
    copies: list[int] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO STORE_ITEM"):
            inserts.append(len(params) if executemany else 1)

    monkeypatch.setattr(bulk, "observers", [lambda st, n: copies.append(n) if " store_item " in st else None])
    snap = ledger.load_snapshot()
    plan = plan_cycle(snap, [_pull("a", 2000), _pull("b", 2000)], policy)
    ledger.record(ledger.start_cycle(NOW), snap, plan, [], NOW)
    if engine.dialect.name == "postgresql":
        assert inserts == [] and copies == [4000], (inserts, copies)
    else:
        assert copies == [] and sum(inserts) == 4000 and max(inserts) <= 700 and len(inserts) >= 6, inserts
    first = ledger.load_snapshot()
    assert dict(first.items) == dict(plan.items) and dict(first.available) == dict(plan.available)

    # Steady: 100 sales in "a", the last 900 items gone from "b", 1,000 new SKUs in "b".
    pull_b = StorePull("b", tuple(Observation("b", f"SKU{i:05d}", f"b{i}", 10) for i in range(1100))
                       + tuple(Observation("b", f"NEW{i:05d}", f"bn{i}", 3) for i in range(1000)))
    plan2 = plan_cycle(first, [_pull("a", 2000, sold=1), pull_b], policy)
    assert len(plan2.removed) == 900 and len(plan2.items) == 1100  # 100 sold, 1,000 new
    ledger.record(ledger.start_cycle(NOW), first, plan2, [], NOW)
    second = ledger.load_snapshot()
    expected_items = {k: v for k, v in first.items.items() if k not in plan2.removed} | dict(plan2.items)
    assert dict(second.items) == expected_items
    assert dict(second.available) == dict(first.available) | dict(plan2.available)
    assert_conserved(ledger)


def test_a_cycle_left_running_is_marked_interrupted_by_the_next_lock_holder(ledger):
    """A cycle killed mid-way (SIGKILL) stays `running`; the next one, holding the lock,
    marks it interrupted with when and by whom it was found."""
    from syncd.ledger.tables import CycleRow

    dead = ledger.start_cycle(NOW, runner="host-a:1")
    later = NOW + timedelta(minutes=5)
    ledger.start_cycle(later, runner="host-b:2")
    table = CycleRow.__table__
    with ledger.engine.connect() as conn:
        row = conn.execute(table.select().where(table.c.id == dead)).mappings().one()
    assert row["outcome"] == "interrupted" and row["finished_at"] is not None
    assert row["error"] == f"interrupted: found unfinished by host-b:2 at {later.isoformat()}"
    assert row["runner"] == "host-a:1"
